package api_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"cxt/appliance/node"
	"cxt/crypto/sm"
	"cxt/crypto/sm/reqsig"
	"cxt/gateway/feed"
	"cxt/gateway/pull"
	"cxt/storage/cluster/loopback"
)

// Offices of the tests: the platform's own (it sees the whole feed), and
// two district offices.
const (
	platformOffice = "14403000000"
	futianOffice   = "14403040000"
	huangpuOffice  = "13101050000"
)

// startGateway starts a node that serves the gateway listener too.
func startGateway(t *testing.T) *env {
	return startOpts(t, nil, func(o *node.Options) {
		o.GatewayAddr = loopback.FreeAddr()
		o.GatewayKeyInterval = 20 * time.Millisecond
	})
}

// gwConn is a connection to the gateway listener, with or without a TLS
// client certificate; its answers are checked against docs/openapi.yaml.
func (e *env) gwConn(cert *tls.Certificate) *http.Client {
	e.t.Helper()
	pemCert, err := os.ReadFile(filepath.Join(e.dir, "gateway.pem"))
	if err != nil {
		e.t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pemCert)
	cfg := &tls.Config{RootCAs: pool}
	if cert != nil {
		cfg.Certificates = []tls.Certificate{*cert}
	}
	return &http.Client{Timeout: 30 * time.Second, Transport: &validating{t: e.t, router: openAPIRouter(e.t), next: &http.Transport{TLSClientConfig: cfg}}}
}

// bureau is a tax bureau's gateway client as its system holds it.
type bureau struct {
	e    *env
	id   string
	key  *sm.PrivateKey
	conn *http.Client
}

func (b *bureau) signed(method, path, body string, skew time.Duration) *http.Request {
	b.e.t.Helper()
	req, _ := http.NewRequest(method, "https://"+b.e.n.GatewayAddr()+path, strings.NewReader(body))
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if err := reqsig.Sign(req, []byte(body), b.id, b.key, b.e.clock.Now().Add(skew)); err != nil {
		b.e.t.Fatal(err)
	}
	return req
}

func (b *bureau) do(req *http.Request) answer {
	b.e.t.Helper()
	return doOn(b.e.t, b.conn, req)
}

func doOn(t *testing.T, c *http.Client, req *http.Request) answer {
	t.Helper()
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out map[string]any
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatalf("%s %s: answer is not JSON (%d): %s", req.Method, req.URL.Path, resp.StatusCode, raw)
	}
	return answer{reply{resp.StatusCode, out}, resp.Header}
}

func (b *bureau) call(method, path, body string) answer {
	b.e.t.Helper()
	return b.do(b.signed(method, path, body, 0))
}

// registerBureau has the security administrator register a gateway client
// of offices with a fresh key, and extra fields.
func (e *env) registerBureau(sec string, offices []string, extra map[string]any) *bureau {
	e.t.Helper()
	key, _ := sm.GenerateKey()
	pub, _ := key.Public().MarshalPEM()
	in := map[string]any{"name": "国家税务总局 gateway", "offices": offices, "public_key": string(pub)}
	for k, v := range extra {
		in[k] = v
	}
	body, _ := json.Marshal(in)
	e.stepUp(sec, "secadmin")
	r := e.confirmed("POST", "/api/v1/gateway/clients", sec, string(body), "bureau-"+api16())
	c, _ := r.body["client"].(map[string]any)
	if r.status != 201 || c["status"] != "live" {
		e.t.Fatalf("register a gateway client: %d %v", r.status, r.body)
	}
	return &bureau{e: e, id: c["id"].(string), key: key, conn: e.gwConn(nil)}
}

// setProfile has the system administrator set the platform's profile.
func (e *env) setProfile(sys, office string) {
	e.t.Helper()
	body := fmt.Sprintf(`{"office":%q,"legal_name":"诚薪通科技有限公司","uscc":"91350100M000100Y43","domain":"cxt.example.cn","business_type":"灵活用工","operating_entities":[{"name":"诚薪通科技有限公司","uscc":"91350100M000100Y43"}]}`, office)
	e.stepUp(sys, "sysadmin")
	if r := e.confirmed("PUT", "/api/v1/gateway/platform", sys, body, "profile-"+api16()); r.status != 200 {
		e.t.Fatalf("set the platform profile: %d %v", r.status, r.body)
	}
}

// gatewayKey waits for the leader's gateway key and fetches it from the
// gateway listener, anonymously.
func (e *env) gatewayKey() *sm.PublicKey {
	e.t.Helper()
	conn := e.gwConn(nil)
	var raw []byte
	eventually(e.t, "the gateway key", func() bool {
		var status int
		status, raw = e.gwKeyPEM(conn)
		return status == 200
	})
	pub, err := sm.ParsePublicKeyPEM(raw)
	if err != nil {
		e.t.Fatal(err)
	}
	return pub
}

// gwKeyPEM fetches the gateway key from the gateway listener, anonymously:
// a PEM file.
func (e *env) gwKeyPEM(conn *http.Client) (int, []byte) {
	e.t.Helper()
	resp, err := conn.Get("https://" + e.n.GatewayAddr() + "/gateway/v1/key")
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, raw
}

// requestResults maps each request ID to the results its audit entries
// record.
func (e *env) requestResults() map[string][]string {
	e.t.Helper()
	out := map[string][]string{}
	for _, x := range e.audited("") {
		if x.Request != "" {
			out[x.Request] = append(out[x.Request], x.Type+":"+x.Result)
		}
	}
	return out
}

func TestEachListenerAnswersOnlyItsOwnRoutes(t *testing.T) {
	e := startGateway(t)
	e.gatewayKey()
	gw := e.gwConn(nil)
	for _, c := range []struct{ on, method, path string }{
		{"gateway", "GET", "/healthz"},
		{"gateway", "GET", "/api/v1/sys/status"},
		{"gateway", "GET", "/api/v1/gateway/key"},
		{"gateway", "GET", "/api/v1/gateway/clients"},
		{"business", "GET", "/gateway/v1/key"},
		{"business", "GET", "/gateway/v1/feed"},
		{"business", "POST", "/gateway/v1/receipts"},
	} {
		base, conn := e.base, e.client
		if c.on == "gateway" {
			base, conn = "https://"+e.n.GatewayAddr(), gw
		}
		req, _ := http.NewRequest(c.method, base+c.path, nil)
		a := doOn(t, conn, req)
		if a.status != 404 || a.code() != "not_found" {
			t.Errorf("%s %s on the %s listener: %d %v", c.method, c.path, c.on, a.status, a.body)
		}
		// Unknown to the listener, and still audited.
		if got := e.requestResults()[a.header.Get("X-Request-Id")]; len(got) != 1 || got[0] != "request:not_found" {
			t.Errorf("%s %s on the %s listener is audited as %v", c.method, c.path, c.on, got)
		}
	}
	// The same routes answer on their own listeners.
	if status, raw := e.gwKeyPEM(gw); status != 200 || !strings.HasPrefix(string(raw), "-----BEGIN PUBLIC KEY-----") {
		t.Fatalf("the key on the gateway listener: %d %s", status, raw)
	}
	sec, _ := e.signInMFA("secadmin")
	if r := e.call("GET", "/api/v1/gateway/key", sec, ""); r.status != 200 {
		t.Fatalf("the key on the business listener: %d %v", r.status, r.body)
	}
	// A session's token opens nothing on the gateway listener.
	req, _ := http.NewRequest("GET", "https://"+e.n.GatewayAddr()+"/gateway/v1/feed", nil)
	req.Header.Set("Authorization", "Bearer "+sec)
	if a := doOn(t, gw, req); a.status != 401 {
		t.Fatalf("a session token on the gateway: %d %v", a.status, a.body)
	}
}

// The attacks on gateway clients, each refused with its code and audited:
// a replay, a timestamp six minutes off, a forged or malformed signature, a
// body on a GET, an office outside the client's scope, a malformed office,
// an oversized page, a page beyond the end, a receipt for what was never
// served; a suspended, a rotated-away and a revoked key.
func TestGatewayClientsAreServedOnlyAsSignedWithinTheirScopeAndStatus(t *testing.T) {
	e := startGateway(t)
	pub := e.gatewayKey()
	sec, _ := e.signInMFA("secadmin")
	sys, _ := e.signInMFA("sysadmin")
	e.setProfile(sys, platformOffice)
	b := e.registerBureau(sec, []string{futianOffice}, nil)
	top := e.registerBureau(sec, []string{platformOffice}, nil)

	type want struct {
		status int
		code   string
	}
	var asked []struct {
		id   string
		want want
	}
	check := func(what string, a answer, w want) {
		t.Helper()
		if a.status != w.status || (w.code != "" && a.code() != w.code) {
			t.Errorf("%s: %d %v, want %d %s", what, a.status, a.body, w.status, w.code)
		}
		asked = append(asked, struct {
			id   string
			want want
		}{a.header.Get("X-Request-Id"), w})
	}

	// A page of its office: empty, and its head signed by the gateway key.
	first := b.signed("GET", "/gateway/v1/feed?after=0&limit=10", "", 0)
	a := b.do(first)
	check("the first page", a, want{200, ""})
	raw, _ := json.Marshal(a.body)
	var page feed.Page
	json.Unmarshal(raw, &page)
	if _, h, err := feed.Verify(&page, pub, feed.Start(futianOffice)); err != nil || h.Scope != futianOffice {
		t.Fatalf("the page does not verify: %v %+v", err, h)
	}
	other, _ := sm.GenerateKey()
	if _, _, err := feed.Verify(&page, other.Public(), feed.Start(futianOffice)); err == nil {
		t.Fatal("a page verified with another key")
	}

	check("the same signed request again", b.do(retry(first)), want{401, "request_replayed"})
	check("a timestamp six minutes old", b.do(b.signed("GET", "/gateway/v1/feed", "", -6*time.Minute)), want{401, "request_expired"})
	check("a timestamp six minutes ahead", b.do(b.signed("GET", "/gateway/v1/feed", "", 6*time.Minute)), want{401, "request_expired"})
	forged := b.signed("GET", "/gateway/v1/feed", "", 0)
	forged.URL.RawQuery = "office=" + platformOffice // after signing
	check("a query changed after signing", b.do(forged), want{401, "request_signature_invalid"})
	garbled := b.signed("GET", "/gateway/v1/feed", "", 0)
	garbled.Header.Set(reqsig.HeaderSignature, "not base64!")
	check("a malformed signature", b.do(garbled), want{401, "request_signature_invalid"})
	sig, _ := base64.StdEncoding.DecodeString(first.Header.Get(reqsig.HeaderSignature))
	sig[len(sig)-1] ^= 1
	flipped := b.signed("GET", "/gateway/v1/feed", "", 0)
	flipped.Header.Set(reqsig.HeaderSignature, base64.StdEncoding.EncodeToString(sig))
	check("another request's signature, one bit flipped", b.do(flipped), want{401, "request_signature_invalid"})
	impostor := &bureau{e: e, id: b.id, key: other, conn: b.conn}
	check("the client's ID signed with another key", impostor.call("GET", "/gateway/v1/feed", ""), want{401, "request_signature_invalid"})
	withBody := b.signed("GET", "/gateway/v1/feed", `{"x":1}`, 0)
	check("a GET with a body", b.do(withBody), want{400, "body_not_allowed"})

	check("an office outside its scope", b.call("GET", "/gateway/v1/feed?office="+huangpuOffice, ""), want{403, "out_of_scope"})
	check("the platform's office, not its own", b.call("GET", "/gateway/v1/feed?office="+platformOffice, ""), want{403, "out_of_scope"})
	check("a malformed office", b.call("GET", "/gateway/v1/feed?office=1440304", ""), want{400, "tax_office_format"})
	check("an office outside the tax system", b.call("GET", "/gateway/v1/feed?office=24403040000", ""), want{400, "tax_office_format"})
	check("an office of no area", b.call("GET", "/gateway/v1/feed?office=19999990000", ""), want{400, "tax_office_region"})
	check("a page too large", b.call("GET", "/gateway/v1/feed?limit=10001", ""), want{400, "limit_too_large"})
	check("a page beyond the end", b.call("GET", "/gateway/v1/feed?after=5", ""), want{400, "feed_after_beyond_end"})
	check("an unknown parameter", b.call("GET", "/gateway/v1/feed?afterr=5", ""), want{400, "invalid_request"})
	zero := strings.Repeat("0", 64)
	check("a receipt for an entry never served", b.call("POST", "/gateway/v1/receipts", fmt.Sprintf(`{"scope":%q,"seq":1,"chain_hash":%q}`, futianOffice, zero)), want{400, "receipt_beyond_served"})
	check("a receipt for the whole feed, not its own", b.call("POST", "/gateway/v1/receipts", fmt.Sprintf(`{"scope":"platform","seq":1,"chain_hash":%q}`, zero)), want{403, "out_of_scope"})

	// The platform's office reads the whole feed.
	a = top.call("GET", "/gateway/v1/feed", "")
	check("the platform's office's page", a, want{200, ""})
	raw, _ = json.Marshal(a.body)
	json.Unmarshal(raw, &page)
	if _, h, err := feed.Verify(&page, pub, feed.Start(feed.ScopePlatform)); err != nil || h.Scope != feed.ScopePlatform {
		t.Fatalf("the whole feed's page: %v %+v", err, h)
	}

	// A client may name itself by its key alone, as the reference client
	// does by default (pull.KeyClient): the gateway finds the client
	// holding that key.
	byKey := &bureau{e: e, id: pull.KeyClient(b.key.Public()), key: b.key, conn: b.conn}
	check("the client named by its key", byKey.call("GET", "/gateway/v1/feed", ""), want{200, ""})
	check("another key's name with the client's key", (&bureau{e: e, id: pull.KeyClient(other.Public()), key: b.key, conn: b.conn}).call("GET", "/gateway/v1/feed", ""), want{401, "request_signature_invalid"})

	// Suspended: refused with its code until resumed.
	e.stepUp(sec, "secadmin")
	if r := e.confirmed("POST", "/api/v1/gateway/clients/"+b.id+"/suspend", sec, `{"reason":"an investigation"}`, "s-"+api16()); r.status != 200 {
		t.Fatalf("suspend: %d %v", r.status, r.body)
	}
	check("a suspended client", b.call("GET", "/gateway/v1/feed", ""), want{403, "client_suspended"})
	e.stepUp(sec, "secadmin")
	if r := e.confirmed("POST", "/api/v1/gateway/clients/"+b.id+"/resume", sec, `{"reason":"investigation closed"}`, "r-"+api16()); r.status != 200 {
		t.Fatalf("resume: %d %v", r.status, r.body)
	}
	check("a resumed client", b.call("GET", "/gateway/v1/feed", ""), want{200, ""})

	// Rotated: the old key is refused, the new one served.
	fresh, _ := sm.GenerateKey()
	freshPub, _ := fresh.Public().MarshalPEM()
	body, _ := json.Marshal(map[string]string{"public_key": string(freshPub), "reason": "yearly rotation"})
	e.stepUp(sec, "secadmin")
	if r := e.confirmed("POST", "/api/v1/gateway/clients/"+b.id+"/rotate", sec, string(body), "k-"+api16()); r.status != 200 {
		t.Fatalf("rotate: %d %v", r.status, r.body)
	}
	check("the old key after the rotation", b.call("GET", "/gateway/v1/feed", ""), want{401, "request_signature_invalid"})
	check("the old key by its name after the rotation", byKey.call("GET", "/gateway/v1/feed", ""), want{401, "request_signature_invalid"})
	b.key = fresh
	check("the new key", b.call("GET", "/gateway/v1/feed", ""), want{200, ""})
	byKey.id, byKey.key = pull.KeyClient(fresh.Public()), fresh
	check("the new key by its name", byKey.call("GET", "/gateway/v1/feed", ""), want{200, ""})

	// Revoked: refused for good.
	e.stepUp(sec, "secadmin")
	if r := e.confirmed("POST", "/api/v1/gateway/clients/"+b.id+"/revoke", sec, `{"reason":"the bureau moved systems"}`, "v-"+api16()); r.status != 200 {
		t.Fatalf("revoke: %d %v", r.status, r.body)
	}
	check("a revoked client", b.call("GET", "/gateway/v1/feed", ""), want{401, "client_revoked"})
	e.stepUp(sec, "secadmin")
	if r := e.confirmed("POST", "/api/v1/gateway/clients/"+b.id+"/resume", sec, `{"reason":"bring it back"}`, "r-"+api16()); r.status != 409 || r.code() != "client_status" {
		t.Fatalf("a revoked client resumed: %d %v", r.status, r.body)
	}

	// Every call, allowed or refused, is in the audit log with its outcome.
	results := e.requestResults()
	for _, c := range asked {
		got := results[c.id]
		wantResult := c.want.code
		if wantResult == "" {
			wantResult = "ok"
		}
		found := false
		for _, g := range got {
			found = found || strings.HasSuffix(g, ":"+wantResult)
		}
		if !found {
			t.Errorf("request %s (want %s) is audited as %v", c.id, wantResult, got)
		}
	}
	if r := e.call("GET", "/api/v1/gateway/clients/"+b.id, sec, ""); r.status != 200 || r.body["client"].(map[string]any)["status"] != "revoked" {
		t.Fatalf("the client as operators see it: %d %v", r.status, r.body)
	}
	if r := e.call("GET", "/api/v1/gateway/receipts", sec, ""); r.status != 200 {
		t.Fatalf("receipts: %d %v", r.status, r.body)
	}
}

// retry is req once more: the same method, URL and headers.
func retry(req *http.Request) *http.Request {
	out, _ := http.NewRequest(req.Method, req.URL.String(), nil)
	out.Header = req.Header.Clone()
	return out
}

// clientCert makes an ECDSA certificate for TLS client authentication.
func clientCert(t *testing.T) (tls.Certificate, string) {
	t.Helper()
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: "bureau system"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		KeyUsage: x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: k}, string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
}

func TestAClientThatPinnedACertificateIsServedOnlyOverItsMutualTLS(t *testing.T) {
	e := startGateway(t)
	e.gatewayKey()
	sec, _ := e.signInMFA("secadmin")
	mine, minePEM := clientCert(t)
	theirs, _ := clientCert(t)
	b := e.registerBureau(sec, []string{futianOffice}, map[string]any{"tls_certificate": minePEM})
	if a := b.call("GET", "/gateway/v1/feed", ""); a.status != 401 || a.code() != "client_certificate_required" {
		t.Fatalf("without a client certificate: %d %v", a.status, a.body)
	}
	b.conn = e.gwConn(&theirs)
	if a := b.call("GET", "/gateway/v1/feed", ""); a.status != 401 || a.code() != "client_certificate_mismatch" {
		t.Fatalf("with another certificate: %d %v", a.status, a.body)
	}
	b.conn = e.gwConn(&mine)
	if a := b.call("GET", "/gateway/v1/feed", ""); a.status != 200 {
		t.Fatalf("with its certificate: %d %v", a.status, a.body)
	}
	// An SM2 certificate names the signing key instead of a public key.
	caKey, _ := sm.GenerateKey()
	ca, _ := sm.NewCA(caKey, "bureau CA", time.Now().Add(-time.Hour), time.Now().Add(time.Hour))
	key, _ := sm.GenerateKey()
	cert, _ := sm.Issue(ca, caKey, key.Public(), "bureau", time.Now().Add(-time.Hour), time.Now().Add(time.Hour))
	body, _ := json.Marshal(map[string]any{"name": "by certificate", "offices": []string{huangpuOffice}, "certificate": string(cert.PEM())})
	e.stepUp(sec, "secadmin")
	r := e.confirmed("POST", "/api/v1/gateway/clients", sec, string(body), "cert-"+api16())
	if r.status != 201 {
		t.Fatalf("register by certificate: %d %v", r.status, r.body)
	}
	byCert := &bureau{e: e, id: r.body["client"].(map[string]any)["id"].(string), key: key, conn: e.gwConn(nil)}
	if a := byCert.call("GET", "/gateway/v1/feed", ""); a.status != 200 {
		t.Fatalf("a client registered by its SM2 certificate: %d %v", a.status, a.body)
	}
}

func TestEachClientIsLimitedToItsRateAndTheRefusalsAreAudited(t *testing.T) {
	e := startOpts(t, nil, func(o *node.Options) {
		o.GatewayAddr = loopback.FreeAddr()
		o.GatewayKeyInterval = 20 * time.Millisecond
		path := filepath.Join(o.Dir, "node.json")
		var cfg map[string]any
		raw, _ := os.ReadFile(path)
		json.Unmarshal(raw, &cfg)
		cfg["gateway"] = map[string]any{"rate_per_second": 0.001, "burst": 3}
		raw, _ = json.Marshal(cfg)
		if err := os.WriteFile(path, raw, 0o600); err != nil {
			t.Fatal(err)
		}
	})
	e.gatewayKey()
	sec, _ := e.signInMFA("secadmin")
	b := e.registerBureau(sec, []string{futianOffice}, nil)
	other := e.registerBureau(sec, []string{futianOffice}, nil)
	for i := range 3 {
		if a := b.call("GET", "/gateway/v1/feed", ""); a.status != 200 {
			t.Fatalf("request %d within the burst: %d %v", i+1, a.status, a.body)
		}
	}
	a := b.call("GET", "/gateway/v1/feed", "")
	if a.status != 429 || a.code() != "rate_limited" {
		t.Fatalf("beyond the burst: %d %v", a.status, a.body)
	}
	if got := e.requestResults()[a.header.Get("X-Request-Id")]; len(got) != 1 || got[0] != "request:rate_limited" {
		t.Fatalf("the refusal is audited as %v", got)
	}
	// The limit is the client's, not the address's.
	if a := other.call("GET", "/gateway/v1/feed", ""); a.status != 200 {
		t.Fatalf("another client from the same address: %d %v", a.status, a.body)
	}
}

func TestThePlatformProfileIsTheSystemAdministratorsCheckedAndVersioned(t *testing.T) {
	e := startGateway(t)
	sys, _ := e.signInMFA("sysadmin")
	sec, _ := e.signInMFA("secadmin")
	if r := e.call("GET", "/api/v1/gateway/platform", sys, ""); r.status != 404 {
		t.Fatalf("a profile before any was set: %d %v", r.status, r.body)
	}
	good := map[string]any{"office": platformOffice, "legal_name": "诚薪通科技有限公司", "uscc": "91350100M000100Y43", "domain": "CXT.example.cn",
		"business_type": "灵活用工", "operating_entities": []map[string]string{{"name": "诚薪通科技有限公司", "uscc": "91350100M000100Y43"}}}
	with := func(k string, v any) string {
		m := map[string]any{}
		for a, b := range good {
			m[a] = b
		}
		m[k] = v
		b, _ := json.Marshal(m)
		return string(b)
	}
	for _, c := range []struct {
		body, field, code string
	}{
		{with("office", "24403000000"), "office", "tax_office_format"},
		{with("office", "19999990000"), "office", "tax_office_region"},
		{with("uscc", "91350100M000100Y44"), "uscc", "uscc_check_character"},
		{with("domain", "not a domain"), "domain", "invalid_request"},
		{with("operating_entities", []map[string]string{}), "operating_entities", "invalid_request"},
		{with("operating_entities", []map[string]string{{"name": "x", "uscc": "123"}}), "operating_entities", "uscc_format"},
	} {
		e.stepUp(sys, "sysadmin")
		r := e.call("PUT", "/api/v1/gateway/platform", sys, c.body, "Idempotency-Key", "bad-"+api16())
		f, _ := r.body["error"].(map[string]any)["field"].(string)
		if r.status != 400 || r.code() != c.code || f != c.field {
			t.Errorf("%s: %d %v, want 400 %s on %s", c.body, r.status, r.body, c.code, c.field)
		}
	}
	e.stepUp(sec, "secadmin")
	if r := e.call("PUT", "/api/v1/gateway/platform", sec, with("office", platformOffice), "Idempotency-Key", "sec-"+api16()); r.status != 403 {
		t.Fatalf("the security administrator set the profile: %d %v", r.status, r.body)
	}
	e.setProfile(sys, platformOffice)
	e.setProfile(sys, futianOffice)
	r := e.call("GET", "/api/v1/gateway/platform", sec, "")
	p, _ := r.body["profile"].(map[string]any)
	if r.status != 200 || p["office"] != futianOffice || p["version"] != 2.0 || p["domain"] != "cxt.example.cn" || p["updated_by"] != "acct-sysadmin" {
		t.Fatalf("the profile in force: %d %v", r.status, r.body)
	}
}
