package api_test

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"cxt/appliance/callbacks"
	"cxt/appliance/node"
	"cxt/crypto/sm"
	"cxt/crypto/sm/reqsig"
	"cxt/storage/auditlog"
)

// machine is a merchant's machine client as its system holds it.
type machine struct {
	e   *env
	id  string
	key *sm.PrivateKey
}

// signed builds a request signed at the API's clock moved by skew.
func (m machine) signed(method, path, body string, skew time.Duration) *http.Request {
	m.e.t.Helper()
	req, _ := http.NewRequest(method, m.e.base+path, strings.NewReader(body))
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if err := reqsig.Sign(req, []byte(body), m.id, m.key, m.e.clock.Now().Add(skew)); err != nil {
		m.e.t.Fatal(err)
	}
	return req
}

// again is req once more: the same headers, method, path and the body given.
func (m machine) again(req *http.Request, body string) *http.Request {
	out, _ := http.NewRequest(req.Method, req.URL.String(), strings.NewReader(body))
	out.Header = req.Header.Clone()
	return out
}

func (m machine) do(req *http.Request) answer {
	m.e.t.Helper()
	resp, err := m.e.client.Do(req)
	if err != nil {
		m.e.t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	raw, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(raw, &out); err != nil {
		m.e.t.Fatalf("%s %s: answer is not JSON (%d): %s", req.Method, req.URL.Path, resp.StatusCode, raw)
	}
	return answer{reply{resp.StatusCode, out}, resp.Header}
}

func (m machine) call(method, path, body string) answer {
	m.e.t.Helper()
	return m.do(m.signed(method, path, body, 0))
}

// clientRegistration is the body that registers a client.
func clientRegistration(name string, pub []byte, actions []string, extra map[string]any) string {
	in := map[string]any{"name": name, "public_key": string(pub), "actions": actions}
	for k, v := range extra {
		in[k] = v
	}
	b, _ := json.Marshal(in)
	return string(b)
}

// newClient has admin register a client of merchant with a fresh key.
func (e *env) newClient(admin, user, merchant string, actions []string, extra map[string]any) machine {
	e.t.Helper()
	key, _ := sm.GenerateKey()
	pub, _ := key.Public().MarshalPEM()
	e.stepUp(admin, user)
	r := e.confirmed("POST", "/api/v1/merchants/"+merchant+"/clients", admin, clientRegistration("ERP", pub, actions, extra), "client-"+api16())
	c, _ := r.body["client"].(map[string]any)
	if r.status != 201 || c["status"] != "live" {
		e.t.Fatalf("register a client: %d %v", r.status, r.body)
	}
	return machine{e, c["id"].(string), key}
}

var keyCount struct {
	sync.Mutex
	n int
}

// api16 is a fresh idempotency key suffix.
func api16() string {
	keyCount.Lock()
	defer keyCount.Unlock()
	keyCount.n++
	return fmt.Sprint(keyCount.n)
}

// The attacks on machine clients, each refused with its code and audited:
// a replayed signature, a timestamp six minutes off either way, a body
// changed after signing, a client of merchant A on merchant B's records, an
// action outside its scope, a revoked client, a source outside the
// allow-list — and registration refusing what a client may never do.
func TestMachineClientsActOnlyAsSignedForTheirMerchantAndScope(t *testing.T) {
	e := start(t)
	sec, _ := e.signInMFA("secadmin")
	reviewer := e.staff(sec, "platform_reviewer", "reviewer-1")
	idA, adminA := e.approvedMerchant(reviewer, "福州某某科技有限公司", usccA, "boss-a", "13800001111")
	idB, adminB := e.approvedMerchant(reviewer, "太原某某服务有限公司", usccB, "boss-b", "13800002222")

	// Registration refuses what a client may never be registered for.
	key, _ := sm.GenerateKey()
	pub, _ := key.Public().MarshalPEM()
	e.stepUp(adminA, "boss-a")
	for _, c := range []struct {
		body, code, field string
	}{
		{clientRegistration("ERP", pub, []string{"merchants.close"}, nil), "client_action", "actions"}, // important
		{clientRegistration("ERP", pub, []string{"accounts.create"}, nil), "client_action", "actions"}, // not a merchant's
		{clientRegistration("ERP", pub, []string{"clients.read"}, nil), "client_action", "actions"},    // no client role
		{clientRegistration("ERP", pub, []string{"payouts.fly"}, nil), "client_action", "actions"},     // no such route
		{clientRegistration("ERP", pub, []string{}, nil), "invalid_request", "actions"},                // none
		{clientRegistration("ERP", []byte("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"), []string{"merchants.read"}, nil), "invalid_request", "public_key"},
		{clientRegistration("ERP", pub, []string{"merchants.read"}, map[string]any{"callback_url": "http://erp.example.cn/cb"}), "invalid_request", "callback_url"},
		{clientRegistration("ERP", pub, []string{"merchants.read"}, map[string]any{"callback_url": "https://127.0.0.1/cb"}), "invalid_request", "callback_url"},
		{clientRegistration("ERP", pub, []string{"merchants.read"}, map[string]any{"allow_ips": []string{"not an address"}}), "invalid_request", "allow_ips"},
	} {
		r := e.call("POST", "/api/v1/merchants/"+idA+"/clients", adminA, c.body, "Idempotency-Key", "bad-"+api16())
		if eb, _ := r.body["error"].(map[string]any); r.code() != c.code || eb["field"] != c.field {
			t.Errorf("%s…: %d %v, want %s on %s", c.body[:60], r.status, r.body, c.code, c.field)
		}
	}
	if r := e.call("POST", "/api/v1/merchants/"+idA+"/clients", adminB, clientRegistration("ERP", pub, []string{"merchants.read"}, nil), "Idempotency-Key", "b-on-a"); r.status != 404 {
		t.Errorf("merchant B's administrator registered a client of A: %d %v", r.status, r.body)
	}

	m := e.newClient(adminA, "boss-a", idA, []string{"merchants.read", "workers.list", "payouts.list"}, nil)

	// Its merchant, in scope: served, and audited under the client.
	first := m.signed("GET", "/api/v1/merchants/"+idA, "", 0)
	ok := m.do(first)
	if ok.status != 200 || ok.body["id"] != idA {
		t.Fatalf("a signed read of its merchant: %d %v", ok.status, ok.body)
	}
	recs := e.recordsOf(ok.header.Get("X-Request-Id"))
	if !slices.ContainsFunc(recs, func(r auditlog.Entry) bool { return r.Type == "request" && r.Subject == m.id && r.Result == "ok" }) ||
		!slices.ContainsFunc(recs, func(r auditlog.Entry) bool { return r.Type == "client.nonce" && r.Subject == m.id }) {
		t.Fatalf("the request's records: %+v", recs)
	}
	if r := m.call("GET", "/api/v1/workers", ""); r.status != 200 {
		t.Fatalf("workers.list in scope: %d %v", r.status, r.body)
	}
	if r := m.call("GET", "/api/v1/merchants/"+idA+"/payout-batches", ""); r.status != 200 {
		t.Fatalf("payouts.list in scope: %d %v", r.status, r.body)
	}

	refused := func(what string, a answer, status int, code string) {
		t.Helper()
		if a.status != status || a.code() != code {
			t.Errorf("%s: %d %v, want %d %s", what, a.status, a.body, status, code)
		}
	}
	refused("the same signed request again", m.do(m.again(first, "")), 401, "request_replayed")
	refused("a timestamp 6 minutes behind", m.do(m.signed("GET", "/api/v1/merchants/"+idA, "", -6*time.Minute)), 401, "request_expired")
	refused("a timestamp 6 minutes ahead", m.do(m.signed("GET", "/api/v1/merchants/"+idA, "", 6*time.Minute)), 401, "request_expired")
	post := m.signed("POST", "/api/v1/merchants/"+idA+"/callbacks/test", `{}`, 0)
	changed := m.again(post, `{"x":1}`)
	refused("a body changed after signing", m.do(changed), 401, "request_signature_invalid")
	other := m.signed("GET", "/api/v1/merchants/"+idA, "", 0)
	other.URL.Path = "/api/v1/merchants/" + idB
	refused("a path changed after signing", m.do(other), 401, "request_signature_invalid")
	refused("merchant B's record", m.call("GET", "/api/v1/merchants/"+idB, ""), 404, "not_found")
	refused("merchant B's batches", m.call("GET", "/api/v1/merchants/"+idB+"/payout-batches", ""), 404, "not_found")
	refused("an action outside its scope", m.call("GET", "/api/v1/agreements", ""), 403, "client_scope")
	refused("a client's own registrations", m.call("GET", "/api/v1/merchants/"+idA+"/clients", ""), 403, "client_scope")
	impostor := machine{e, m.id, key} // the client's ID, another key
	refused("another key", impostor.call("GET", "/api/v1/merchants/"+idA, ""), 401, "request_signature_invalid")
	both := m.signed("GET", "/api/v1/merchants/"+idA, "", 0)
	both.Header.Set("Authorization", "Bearer "+adminA)
	refused("a session and a signature", m.do(both), 401, "unauthenticated")

	// Two racing requests with one nonce: one is served.
	race := m.signed("GET", "/api/v1/merchants/"+idA, "", 0)
	var wg sync.WaitGroup
	answers := make([]answer, 4)
	for i := range answers {
		wg.Add(1)
		go func() { defer wg.Done(); answers[i] = m.do(m.again(race, "")) }()
	}
	wg.Wait()
	served := 0
	for _, a := range answers {
		switch {
		case a.status == 200:
			served++
		case a.code() != "request_replayed":
			t.Errorf("a racing replay: %d %v", a.status, a.body)
		}
	}
	if served != 1 {
		t.Fatalf("%d of 4 racing requests with one nonce were served", served)
	}

	// Source addresses: tests come from 127.0.0.1.
	far := e.newClient(adminA, "boss-a", idA, []string{"merchants.read"}, map[string]any{"allow_ips": []string{"203.0.113.0/24"}})
	refused("a source outside the allow-list", far.call("GET", "/api/v1/merchants/"+idA, ""), 403, "client_ip_refused")
	near := e.newClient(adminA, "boss-a", idA, []string{"merchants.read"}, map[string]any{"allow_ips": []string{"127.0.0.0/8", "2001:db8::/32"}})
	refused("a source inside the allow-list", near.call("GET", "/api/v1/merchants/"+idA, ""), 200, "")

	// The same key twice is refused; an operator may not register.
	pubM, _ := m.key.Public().MarshalPEM()
	e.stepUp(adminA, "boss-a")
	if r := e.confirmed("POST", "/api/v1/merchants/"+idA+"/clients", adminA, clientRegistration("again", pubM, []string{"merchants.read"}, nil), "same-key"); r.code() != "client_key_taken" {
		t.Errorf("a key registered twice: %d %v", r.status, r.body)
	}

	// Listed, then revoked: refused from the next request on.
	if r := e.call("GET", "/api/v1/merchants/"+idA+"/clients", adminA, ""); r.status != 200 || len(r.body["clients"].([]any)) != 3 {
		t.Fatalf("list: %d %v", r.status, r.body)
	}
	if r := e.call("GET", "/api/v1/merchants/"+idB+"/clients/"+m.id, adminB, ""); r.status != 404 {
		t.Fatalf("B read A's client: %d %v", r.status, r.body)
	}
	e.stepUp(adminA, "boss-a")
	if r := e.confirmed("POST", "/api/v1/merchants/"+idA+"/clients/"+m.id+"/revoke", adminA, `{"reason":"the key left with a contractor"}`, "revoke-1"); r.status != 200 || r.body["client"].(map[string]any)["status"] != "revoked" {
		t.Fatalf("revoke: %d %v", r.status, r.body)
	}
	refused("a revoked client", m.call("GET", "/api/v1/merchants/"+idA, ""), 401, "request_signature_invalid")
	if r := e.call("GET", "/api/v1/merchants/"+idA+"/clients/"+m.id, adminA, ""); r.body["client"].(map[string]any)["revoke_reason"] != "the key left with a contractor" {
		t.Fatalf("the revoked client: %v", r.body)
	}
}

// docScript is the shell block after marker in docs/payouts.md.
func docScript(t *testing.T, marker string) string {
	t.Helper()
	_, here, _, _ := runtime.Caller(0)
	doc, err := os.ReadFile(filepath.Join(filepath.Dir(here), "../../docs/payouts.md"))
	if err != nil {
		t.Fatal(err)
	}
	i := bytes.Index(doc, []byte(marker))
	if i < 0 {
		t.Fatalf("docs/payouts.md has no %q", marker)
	}
	rest := doc[i:]
	start := bytes.Index(rest, []byte("```sh\n"))
	end := bytes.Index(rest[start+6:], []byte("```\n"))
	if start < 0 || end < 0 {
		t.Fatalf("no shell block after %q", marker)
	}
	return string(rest[start+6 : start+6+end])
}

// runScript runs a documented script with bash in dir with env.
func runScript(t *testing.T, script, dir string, env ...string) string {
	t.Helper()
	cmd := exec.Command("bash", "-c", "set -e\n"+script)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("the documented script failed: %v\n%s\n--- script\n%s", err, out, script)
	}
	return string(out)
}

func openssl(t *testing.T, dir string, args ...string) {
	t.Helper()
	cmd := exec.Command("openssl", args...)
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("openssl %v: %v\n%s", args, err, out)
	}
}

// TestTheDocumentedShellClientReadsItsMerchant runs the client of
// docs/payouts.md exactly as printed — bash, OpenSSL 3 and curl, with a key
// OpenSSL made — against a node, so the documentation cannot rot.
func TestTheDocumentedShellClientReadsItsMerchant(t *testing.T) {
	e := start(t)
	sec, _ := e.signInMFA("secadmin")
	reviewer := e.staff(sec, "platform_reviewer", "reviewer-1")
	id, admin := e.approvedMerchant(reviewer, "福州某某科技有限公司", usccA, "boss-a", "13800001111")
	dir := t.TempDir()
	openssl(t, dir, "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:SM2", "-out", "client.key")
	openssl(t, dir, "pkey", "-in", "client.key", "-pubout", "-out", "client.pub")
	pub, _ := os.ReadFile(filepath.Join(dir, "client.pub"))
	e.stepUp(admin, "boss-a")
	r := e.confirmed("POST", "/api/v1/merchants/"+id+"/clients", admin, clientRegistration("shell", pub, []string{"merchants.read"}, nil), "shell-client")
	if r.status != 201 {
		t.Fatalf("register: %d %v", r.status, r.body)
	}
	client := r.body["client"].(map[string]any)["id"].(string)
	// The shell signs with date +%s: the API's clock, which the sign-ins
	// moved on, is the wall clock again.
	e.clock.set(time.Now())
	out := runScript(t, docScript(t, "<!-- client-script"), dir,
		"CXT="+e.base, "CA="+filepath.Join(e.dir, "api.pem"), "CLIENT="+client, "KEY=client.key", "M="+id)
	var m map[string]any
	if err := json.Unmarshal([]byte(out), &m); err != nil || m["id"] != id || m["status"] != "approved" {
		t.Fatalf("the shell client got %s", out)
	}
	// Run again, it signs anew (a fresh nonce) and is served again.
	if out := runScript(t, docScript(t, "<!-- client-script"), dir,
		"CXT="+e.base, "CA="+filepath.Join(e.dir, "api.pem"), "CLIENT="+client, "KEY=client.key", "M="+id); !strings.Contains(out, id) {
		t.Fatalf("the second run got %s", out)
	}
}

// callbackEndpoint is a merchant's HTTPS endpoint that answers 503 to the
// first tries and keeps what it got.
type callbackEndpoint struct {
	*httptest.Server
	mu   sync.Mutex
	got  []received
	fail int
}

type received struct {
	header http.Header
	body   []byte
}

func (c *callbackEndpoint) received() []received {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.got)
}

// Callbacks over the real HTTPS path: a test event queued by the merchant's
// own client reaches its endpoint after two failures, signed so that the
// documented OpenSSL commands verify it; the merchant reads the log (paged)
// and replays the delivery; another merchant sees none of it.
func TestCallbacksReachTheMerchantSignedAndTheirLogIsReadAndReplayed(t *testing.T) {
	ep := &callbackEndpoint{fail: 2}
	ep.Server = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		ep.mu.Lock()
		ep.got = append(ep.got, received{r.Header.Clone(), body})
		n := len(ep.got)
		ep.mu.Unlock()
		if n <= ep.fail {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	defer ep.Close()
	pool := x509.NewCertPool()
	pool.AddCert(ep.Certificate())
	e := startOpts(t, nil, func(o *node.Options) {
		o.CallbackTLS, o.AllowPrivateCallbacks = &tls.Config{RootCAs: pool}, true
		o.CallbackInterval, o.CallbackBackoff = 50*time.Millisecond, callbacks.Backoff{Base: 10 * time.Millisecond, Cap: 10 * time.Millisecond, MaxAttempts: 5}
	})
	sec, _ := e.signInMFA("secadmin")
	reviewer := e.staff(sec, "platform_reviewer", "reviewer-1")
	idA, adminA := e.approvedMerchant(reviewer, "福州某某科技有限公司", usccA, "boss-a", "13800001111")
	idB, adminB := e.approvedMerchant(reviewer, "太原某某服务有限公司", usccB, "boss-b", "13800002222")

	// No callback URL yet: a test has nowhere to go.
	if r := e.call("POST", "/api/v1/merchants/"+idA+"/callbacks/test", adminA, ""); r.status != 409 || r.code() != "callback_no_endpoint" {
		t.Fatalf("a test without an endpoint: %d %v", r.status, r.body)
	}
	m := e.newClient(adminA, "boss-a", idA, []string{"callbacks.read", "callbacks.send"}, map[string]any{"callback_url": ep.URL + "/cxt/callback"})

	// The platform's key, for anyone.
	var keyJSON reply
	eventually(t, "the platform's callback key", func() bool {
		keyJSON = e.call("GET", "/api/v1/callbacks/key", "", "")
		return keyJSON.status == 200
	})
	resp, err := e.client.Get(e.base + "/api/v1/callbacks/key.pem")
	if err != nil {
		t.Fatal(err)
	}
	pemKey, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/x-pem-file" || string(pemKey) != keyJSON.body["public_key"] {
		t.Fatalf("key.pem: %d %s %q", resp.StatusCode, resp.Header.Get("Content-Type"), pemKey)
	}

	sent := m.call("POST", "/api/v1/merchants/"+idA+"/callbacks/test", "")
	if sent.status != 201 || len(sent.body["deliveries"].([]any)) != 1 {
		t.Fatalf("test callback: %d %v", sent.status, sent.body)
	}
	id := sent.body["deliveries"].([]any)[0].(map[string]any)["id"].(string)
	var one reply
	// The API's clock stands still unless moved: the retries come due as
	// it moves.
	eventually(t, "the third try to succeed", func() bool {
		e.clock.advance(time.Second)
		one = e.call("GET", "/api/v1/merchants/"+idA+"/callbacks/"+id, adminA, "")
		return one.body["status"] == "delivered"
	})
	got := ep.received()
	if len(got) != 3 || one.body["tries"] != 3.0 || len(one.body["attempts"].([]any)) != 3 {
		t.Fatalf("the endpoint got %d tries; the log: %v", len(got), one.body)
	}
	last := got[2]
	if string(last.body) != one.body["body"] || last.header.Get("X-Cxt-Delivery") != id || last.header.Get("X-Cxt-Event") != "callback.test" ||
		last.header.Get("X-Cxt-Attempt") != "1.3" || last.header.Get("X-Cxt-Key") != keyJSON.body["fingerprint_sm3"] {
		t.Fatalf("the delivered callback: %v %s", last.header, last.body)
	}
	if a := one.body["attempts"].([]any)[0].(map[string]any); a["status"] != 503.0 || a["error"] == "" {
		t.Fatalf("the first try in the log: %v", a)
	}

	// The documented verification, exactly as printed, on the bytes received.
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "body.json"), last.body, 0o600)
	out := runScript(t, docScript(t, "<!-- callback-verify-script"), dir,
		"CXT="+e.base, "CA="+filepath.Join(e.dir, "api.pem"), "SIG="+last.header.Get("X-Cxt-Signature"))
	if !strings.Contains(out, "Verified OK") {
		t.Fatalf("openssl: %s", out)
	}
	os.WriteFile(filepath.Join(dir, "body.json"), bytes.Replace(last.body, []byte("test"), []byte("tost"), 1), 0o600)
	cmd := exec.Command("bash", "-c", docScript(t, "<!-- callback-verify-script"))
	cmd.Dir, cmd.Env = dir, append(os.Environ(), "CXT="+e.base, "CA="+filepath.Join(e.dir, "api.pem"), "SIG="+last.header.Get("X-Cxt-Signature"))
	if out, err := cmd.CombinedOutput(); err == nil || strings.Contains(string(out), "Verified OK") {
		t.Fatalf("a changed body verified: %s", out)
	}

	// A second delivery, so the log has pages; the client reads it too.
	if r := e.call("POST", "/api/v1/merchants/"+idA+"/callbacks/test", adminA, ""); r.status != 201 {
		t.Fatalf("second test: %d %v", r.status, r.body)
	}
	page := m.call("GET", "/api/v1/merchants/"+idA+"/callbacks?limit=1", "")
	cursor, _ := page.body["next_cursor"].(string)
	if page.status != 200 || len(page.body["deliveries"].([]any)) != 1 || cursor == "" || page.body["deliveries"].([]any)[0].(map[string]any)["id"] == id {
		t.Fatalf("page 1 (newest first): %d %v", page.status, page.body)
	}
	page = m.call("GET", "/api/v1/merchants/"+idA+"/callbacks?limit=1&cursor="+cursor, "")
	if ds := page.body["deliveries"].([]any); len(ds) != 1 || ds[0].(map[string]any)["id"] != id {
		t.Fatalf("page 2: %v", page.body)
	}
	if r := e.call("GET", "/api/v1/merchants/"+idA+"/callbacks?status=dead", adminA, ""); len(r.body["deliveries"].([]any)) != 0 {
		t.Fatalf("dead ones: %v", r.body)
	}

	// Replayed: a new round, the same body and ID.
	if r := e.call("POST", "/api/v1/merchants/"+idA+"/callbacks/"+id+"/replay", adminA, ""); r.status != 200 || r.body["round"] != 2.0 {
		t.Fatalf("replay: %d %v", r.status, r.body)
	}
	eventually(t, "the replay to arrive", func() bool {
		return slices.ContainsFunc(ep.received(), func(r received) bool { return r.header.Get("X-Cxt-Attempt") == "2.1" })
	})
	for _, r := range ep.received() {
		if r.header.Get("X-Cxt-Delivery") == id && string(r.body) != string(last.body) {
			t.Fatalf("a try of %s carried another body: %s", id, r.body)
		}
	}

	// Merchant B sees none of A's log.
	for _, path := range []string{"/api/v1/merchants/" + idA + "/callbacks", "/api/v1/merchants/" + idA + "/callbacks/" + id} {
		if r := e.call("GET", path, adminB, ""); r.status != 404 {
			t.Errorf("B read %s: %d %v", path, r.status, r.body)
		}
	}
	if r := e.call("POST", "/api/v1/merchants/"+idB+"/callbacks/"+id+"/replay", adminB, ""); r.status != 404 {
		t.Errorf("B replayed A's delivery through its own merchant: %d %v", r.status, r.body)
	}
}
