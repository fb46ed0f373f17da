package api_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"cxt/appliance/api"
	"cxt/appliance/identity"
	"cxt/appliance/node"
	"cxt/appliance/notify"
	"cxt/crypto/sm"
	"cxt/policy"
	"cxt/storage/auditlog"
	"cxt/storage/cluster/loopback"
	"cxt/storage/state"
)

type env struct {
	t       *testing.T
	dir     string
	opts    node.Options
	clock   *clock
	n       *node.Node
	client  *http.Client
	base    string
	admins  map[string]string         // username -> password
	secrets map[string]string         // username -> TOTP secret
	signing map[string]*sm.PrivateKey // account ID -> the SM2 key it signs policy bundles with
}

func start(t *testing.T) *env { return startWith(t, nil) }

func startWith(t *testing.T, nc *notify.Config) *env { return startOpts(t, nc, nil) }

// startOpts starts a node whose options adjust may change first.
func startOpts(t *testing.T, nc *notify.Config, adjust func(*node.Options)) *env {
	t.Helper()
	return startInit(t, node.InitOptions{}, nc, adjust)
}

// startInit starts a node initialised with init (its addresses and
// password iterations filled in), whose options adjust may change first.
func startInit(t *testing.T, init node.InitOptions, nc *notify.Config, adjust func(*node.Options)) *env {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "data")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	init.API, init.Cluster, init.PasswordIterations = loopback.FreeAddr(), loopback.FreeAddr(), testIterations
	res, err := node.Init(ctx, dir, init)
	if err != nil {
		t.Fatal(err)
	}
	clk := &clock{now: time.Now()}
	opts := node.Options{Dir: dir, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Now: clk.Now,
		Notify: nc, NotifyInterval: 50 * time.Millisecond, Limits: &unlimited, PasswordIterations: testIterations}
	if adjust != nil {
		adjust(&opts)
	}
	n, err := node.Open(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	pemCert, _ := os.ReadFile(filepath.Join(dir, "api.pem"))
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pemCert)
	e := &env{t: t, dir: dir, opts: opts, clock: clk, n: n, base: "https://" + n.APIAddr(), admins: map[string]string{}, secrets: map[string]string{},
		client: &http.Client{Timeout: 30 * time.Second, Transport: &validating{
			t: t, router: openAPIRouter(t), next: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}},
		}}}
	for _, a := range res.Admins {
		e.admins[a.Username] = a.Password
	}
	for n.Status().Leader == "" {
		time.Sleep(10 * time.Millisecond)
	}
	return e
}

// unlimited lifts the per-source limits of anonymous requests: every test
// client comes from 127.0.0.1. The rate-limit tests set their own.
var unlimited = api.Limits{Anonymous: 1e6, AnonymousBurst: 1e6, Logins: 1e6, LoginBurst: 1e6}

type reply struct {
	status int
	body   map[string]any
}

func (r reply) code() string {
	e, _ := r.body["error"].(map[string]any)
	c, _ := e["code"].(string)
	return c
}

func (r reply) message() string {
	e, _ := r.body["error"].(map[string]any)
	m, _ := e["message"].(string)
	return m
}

func (e *env) call(method, path, token, body string, headers ...string) reply {
	e.t.Helper()
	req, _ := http.NewRequest(method, e.base+path, strings.NewReader(body))
	if body != "" {
		req.Header.Set("Content-Type", "application/json") // unless headers say otherwise
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := e.client.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		e.t.Fatalf("%s %s: answer is not JSON (%d)", method, path, resp.StatusCode)
	}
	return reply{resp.StatusCode, out}
}

func (e *env) login(user, password string) reply {
	return e.call("POST", "/api/v1/sessions", "", fmt.Sprintf(`{"username":%q,"password":%q}`, user, password))
}

// clock is the API's clock in tests: one-time codes are single-use per 30 s
// step, so tests move time on instead of waiting.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) set(t time.Time) {
	c.mu.Lock()
	c.now = t
	c.mu.Unlock()
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// code returns a fresh one-time code: it moves the clock to the next step.
func (e *env) code(secret string) string {
	e.clock.advance(30 * time.Second)
	return identity.TOTPCode(secret, e.clock.Now())
}

// signIn logs an administrator in, replaces the one-time password and
// enrolls a second factor; it returns the session token and TOTP secret.
func (e *env) signIn(user string) string {
	token, _ := e.signInMFA(user)
	return token
}

func (e *env) signInMFA(user string) (string, string) {
	e.t.Helper()
	r := e.login(user, e.admins[user])
	if r.status != 201 || r.body["password_change_required"] != true || r.body["mfa_enrollment_required"] != true {
		e.t.Fatalf("first login of %s: %d %v", user, r.status, r.body)
	}
	token := r.body["token"].(string)
	newPW := "Changed-Secret-2026!" // a password may not contain the username
	if r := e.call("POST", "/api/v1/me/password", token, fmt.Sprintf(`{"current_password":%q,"new_password":%q}`, e.admins[user], newPW)); r.status != 200 {
		e.t.Fatalf("password change: %d %v", r.status, r.body)
	}
	e.admins[user] = newPW
	if r := e.call("GET", "/api/v1/sessions", token, ""); r.status != 401 || r.code() != "mfa_required" {
		e.t.Fatalf("a staff session without a second factor: %d %v", r.status, r.body)
	}
	r = e.call("POST", "/api/v1/me/mfa/totp", token, "")
	secret, _ := r.body["secret"].(string)
	if r.status != 201 || secret == "" {
		e.t.Fatalf("enroll: %d %v", r.status, r.body)
	}
	if r := e.call("POST", "/api/v1/me/mfa/totp/confirm", token, fmt.Sprintf(`{"code":%q}`, e.code(secret))); r.status != 200 {
		e.t.Fatalf("confirm: %d %v", r.status, r.body)
	}
	e.secrets[user] = secret
	// Enrolling is not a step-up: re-authenticate with the new factor, as a
	// user about to run important operations would.
	if r := e.call("POST", "/api/v1/me/step-up", token, fmt.Sprintf(`{"totp":%q}`, e.code(secret))); r.status != 200 {
		e.t.Fatalf("step-up after enrolling: %d %v", r.status, r.body)
	}
	return token, secret
}

func (e *env) loginMFA(user string) reply {
	return e.call("POST", "/api/v1/sessions", "", fmt.Sprintf(`{"username":%q,"password":%q,"totp":%q}`, user, e.admins[user], e.code(e.secrets[user])))
}

func TestFirstLoginMustChangeTheOneTimePassword(t *testing.T) {
	e := start(t)
	if r := e.call("GET", "/healthz", "", ""); r.status != 200 || r.body["role"] != "leader" {
		t.Fatalf("healthz: %d %v", r.status, r.body)
	}
	r := e.login("auditadmin", e.admins["auditadmin"])
	if r.status != 201 || r.body["password_change_required"] != true {
		t.Fatalf("first login: %d %v", r.status, r.body)
	}
	token := r.body["token"].(string)
	if r := e.call("GET", "/api/v1/audit", token, ""); r.status != 403 || r.code() != "password_change_required" {
		t.Fatalf("before the change: %d %v", r.status, r.body)
	}
	if r := e.call("POST", "/api/v1/me/mfa/totp", token, ""); r.status != 403 || r.code() != "password_change_required" {
		t.Fatalf("enrolling before the change: %d %v", r.status, r.body)
	}
	for pw, rule := range map[string]string{
		"Short1!":        "at least 10",
		"alllower123!!":  "upper-case",
		"ALLUPPER123!!":  "lower-case",
		"NoDigitsHere!!": "digit",
		"NoSymbols12345": "symbol",
	} {
		body := fmt.Sprintf(`{"current_password":%q,"new_password":%q}`, e.admins["auditadmin"], pw)
		r := e.call("POST", "/api/v1/me/password", token, body)
		msg, _ := r.body["error"].(map[string]any)["message"].(string)
		if r.status != 400 || r.code() != "weak_password" || !strings.Contains(msg, rule) {
			t.Errorf("password %q: %d %v (want the %s rule)", pw, r.status, r.body, rule)
		}
	}
	body := fmt.Sprintf(`{"current_password":%q,"new_password":"Strong-Enough-2026!"}`, e.admins["auditadmin"])
	if r := e.call("POST", "/api/v1/me/password", token, body); r.status != 200 {
		t.Fatalf("strong password: %d %v", r.status, r.body)
	}
	if r := e.call("GET", "/api/v1/audit", token, ""); r.status != 401 || r.code() != "mfa_required" {
		t.Fatalf("after the change, without a second factor: %d %v", r.status, r.body)
	}
	if r := e.login("auditadmin", e.admins["auditadmin"]); r.status != 401 || r.code() != "invalid_credentials" {
		t.Fatalf("the one-time password still works: %d %v", r.status, r.body)
	}
}

func TestUnknownUsersAndWrongPasswordsLookAlike(t *testing.T) {
	e := start(t)
	a := e.login("sysadmin", "Wrong-Password-1!")
	b := e.login("no-such-user", "Wrong-Password-1!")
	if a.status != b.status || a.code() != b.code() || a.body["error"].(map[string]any)["message"] != b.body["error"].(map[string]any)["message"] {
		t.Fatalf("answers differ: %v vs %v", a.body, b.body)
	}
	// Both count toward a lock: the unknown name locks like a real one.
	for range 6 {
		e.login("no-such-user", "Wrong-Password-1!")
	}
	if r := e.login("no-such-user", "Wrong-Password-1!"); r.code() != "captcha_required" && r.code() != "account_locked" {
		t.Fatalf("an unknown user is never throttled: %v", r.body)
	}
}

func (e *env) captchaDigits(id string) string {
	e.t.Helper()
	var c *identity.Captcha
	e.n.Cluster().ReadBarrier(context.Background())
	e.n.Cluster().State().View(func(r *state.ReadTx) error {
		b, err := r.Get(identity.CaptchasBucket, []byte(id))
		if b != nil {
			c = &identity.Captcha{}
			json.Unmarshal(b, c)
		}
		return err
	})
	if c == nil {
		e.t.Fatalf("captcha %s not stored", id)
	}
	out := ""
	for _, d := range c.Digits {
		out += fmt.Sprint(d)
	}
	return out
}

func TestCaptchaAfterTwoFailuresThenLockAfterFive(t *testing.T) {
	e := start(t)
	wrong := func(extra string) reply {
		return e.call("POST", "/api/v1/sessions", "", `{"username":"sysadmin","password":"Wrong-Password-1!"`+extra+`}`)
	}
	for i := 1; i <= 3; i++ {
		if r := wrong(""); r.code() != "invalid_credentials" {
			t.Fatalf("failure %d: %v", i, r.body)
		}
	}
	if r := wrong(""); r.status != 401 || r.code() != "captcha_required" {
		t.Fatalf("after three failures: %d %v", r.status, r.body)
	}
	cap := e.call("GET", "/api/v1/captcha", "", "")
	if cap.status != 201 || cap.body["image_png_base64"] == "" {
		t.Fatalf("captcha: %v", cap.body)
	}
	id := cap.body["captcha_id"].(string)
	answer := e.captchaDigits(id)
	withCaptcha := fmt.Sprintf(`,"captcha_id":%q,"captcha_answer":%q`, id, answer)
	if r := wrong(withCaptcha); r.code() != "invalid_credentials" {
		t.Fatalf("fourth failure with a captcha: %v", r.body)
	}
	if r := wrong(withCaptcha); r.code() != "captcha_required" {
		t.Fatalf("a captcha was accepted twice: %v", r.body)
	}
	cap = e.call("GET", "/api/v1/captcha", "", "")
	id = cap.body["captcha_id"].(string)
	if r := wrong(fmt.Sprintf(`,"captcha_id":%q,"captcha_answer":"000000x"`, id)); r.status != 400 {
		t.Fatalf("a malformed captcha answer: %v", r.body)
	}
	wrongDigits := "000000"
	if e.captchaDigits(id) == wrongDigits {
		wrongDigits = "111111"
	}
	if r := wrong(fmt.Sprintf(`,"captcha_id":%q,"captcha_answer":%q`, id, wrongDigits)); r.code() != "captcha_required" {
		t.Fatalf("a wrong captcha answer: %v", r.body)
	}
	cap = e.call("GET", "/api/v1/captcha", "", "")
	id = cap.body["captcha_id"].(string)
	if r := wrong(fmt.Sprintf(`,"captcha_id":%q,"captcha_answer":%q`, id, e.captchaDigits(id))); r.status != 403 || r.code() != "account_locked" {
		t.Fatalf("fifth failure: %d %v", r.status, r.body)
	}
	if r := e.login("sysadmin", e.admins["sysadmin"]); r.code() != "account_locked" {
		t.Fatalf("the right password opened a locked account: %v", r.body)
	}
	var locks []auditlog.Entry
	e.n.Cluster().ReadBarrier(context.Background())
	e.n.Cluster().State().View(func(tx *state.ReadTx) error {
		locks, _ = auditlog.Search(tx, auditlog.Query{Type: "account.locked"})
		return nil
	})
	if len(locks) != 1 || locks[0].Object != "acct-sysadmin" {
		t.Fatalf("the lock is not in the audit log: %+v", locks)
	}
}

func TestConcurrentFailuresNeverLoseACountOrFail500(t *testing.T) {
	e := start(t)
	var wg sync.WaitGroup
	codes := make(chan int, 20)
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			codes <- e.login("secadmin", "Wrong-Password-1!").status
		}()
	}
	wg.Wait()
	close(codes)
	for c := range codes {
		if c >= 500 {
			t.Fatalf("a racing login got %d", c)
		}
	}
	if r := e.login("secadmin", e.admins["secadmin"]); r.code() != "account_locked" && r.code() != "captcha_required" {
		t.Fatalf("after 20 racing failures: %v", r.body)
	}
}

func TestSessionsEndOnLogoutAndOnPasswordChange(t *testing.T) {
	e := start(t)
	token := e.signIn("auditadmin")
	second := e.loginMFA("auditadmin").body["token"].(string)
	if r := e.call("GET", "/api/v1/sessions", token, ""); r.status != 200 || len(r.body["sessions"].([]any)) != 2 {
		t.Fatalf("sessions: %v", r.body)
	}
	body := fmt.Sprintf(`{"current_password":%q,"new_password":"Another-Strong-2026!"}`, e.admins["auditadmin"])
	if r := e.call("POST", "/api/v1/me/password", token, body); r.status != 200 {
		t.Fatal(r.body)
	}
	if r := e.call("GET", "/api/v1/me", second, ""); r.status != 401 {
		t.Fatalf("another session survived a password change: %v", r.body)
	}
	if r := e.call("GET", "/api/v1/me", token, ""); r.status != 200 {
		t.Fatalf("the changing session ended: %v", r.body)
	}
	if r := e.call("DELETE", "/api/v1/sessions/current", token, ""); r.status != 200 {
		t.Fatal(r.body)
	}
	if r := e.call("GET", "/api/v1/me", token, ""); r.status != 401 || r.code() != "unauthenticated" {
		t.Fatalf("a logged-out token still works: %v", r.body)
	}
	if r := e.call("GET", "/api/v1/me", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", ""); r.status != 401 {
		t.Fatalf("a forged token: %v", r.body)
	}
}

func TestTaxQuotesThroughTheAPI(t *testing.T) {
	e := start(t)
	token := e.signIn("auditadmin")
	r := e.call("POST", "/api/v1/tax/quotes", token, `{"method":"vat_agent","month_income":"120000","location":"city","year":2026,"month":3}`)
	if r.status != 200 || r.body["vat"] != "1188.12" || r.body["total"] != "1259.40" {
		t.Fatalf("quote: %d %v", r.status, r.body)
	}
	r = e.call("POST", "/api/v1/tax/quotes", token, `{"method":"labor_cumulative","year":2026,"months":[{"month":1,"income":"5000000.01"}]}`)
	if r.status != 200 || r.body["rule_set"] != "cn-2026.2" || !strings.Contains(fmt.Sprint(r.body["notice"]), "guide the worker") {
		t.Fatalf("the guidance notice: %d %v", r.status, r.body)
	}
	r = e.call("POST", "/api/v1/tax/quotes", token, `{"method":"vat_agent","filing":"weekly","month_income":"1","location":"city","year":2026,"month":1}`)
	if r.status != 400 || r.code() != "invalid_request" || r.body["error"].(map[string]any)["field"] != "filing" {
		t.Fatalf("an unknown filing mode: %d %v", r.status, r.body)
	}
	r = e.call("POST", "/api/v1/tax/quotes", token, `{"method":"labor_per_payment","income":"-1"}`)
	if r.status != 400 || r.code() != "invalid_request" || r.body["error"].(map[string]any)["field"] != "income" {
		t.Fatalf("bad quote: %d %v", r.status, r.body)
	}
	sys := e.signIn("sysadmin")
	if r := e.call("POST", "/api/v1/tax/quotes", sys, `{"method":"labor_per_payment","income":"3000"}`); r.status != 403 || r.code() != "forbidden" {
		t.Fatalf("a system admin quoting tax: %d %v", r.status, r.body)
	}
}

func TestBadRequestsGetStableCodes(t *testing.T) {
	e := start(t)
	cases := []struct {
		name, body, ctype string
		status            int
		code              string
	}{
		{"malformed JSON", `{"username":`, "application/json", 400, "invalid_request"},
		{"unknown field", `{"username":"a","password":"b","x":1}`, "application/json", 400, "invalid_request"},
		{"two values", `{"username":"a","password":"b"}{}`, "application/json", 400, "invalid_request"},
		{"wrong content type", `{"username":"a","password":"b"}`, "text/plain", 415, "unsupported_media_type"},
		{"oversized", `{"username":"` + strings.Repeat("a", 2<<20) + `","password":"b"}`, "application/json", 413, "too_large"},
	}
	for _, c := range cases {
		req, _ := http.NewRequest("POST", e.base+"/api/v1/sessions", strings.NewReader(c.body))
		req.Header.Set("Content-Type", c.ctype)
		resp, err := e.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var out map[string]any
		json.NewDecoder(resp.Body).Decode(&out)
		resp.Body.Close()
		got := reply{resp.StatusCode, out}
		if got.status != c.status || got.code() != c.code {
			t.Errorf("%s: %d %v, want %d %s", c.name, got.status, got.body, c.status, c.code)
		}
	}
}

func TestEveryRequestIsAudited(t *testing.T) {
	e := start(t)
	e.login("sysadmin", "Wrong-Password-1!")
	sec := e.signIn("secadmin") // an audit admin reads every trail but its own
	e.call("GET", "/api/v1/me", sec, "")
	token := e.signIn("auditadmin")
	r := e.call("GET", "/api/v1/audit?subject=acct-secadmin", token, "")
	if r.status != 200 {
		t.Fatal(r.body)
	}
	entries := r.body["entries"].([]any)
	types := map[string]bool{}
	for _, x := range entries {
		types[x.(map[string]any)["type"].(string)] = true
	}
	for _, want := range []string{identity.CmdLoginOK, identity.CmdSetPassword, "request"} {
		if !types[want] {
			t.Errorf("no %s entry for the security admin: %v", want, types)
		}
	}
	all := e.call("GET", "/api/v1/audit?type="+identity.CmdSettle, token, "")
	if len(all.body["entries"].([]any)) == 0 {
		t.Fatal("the failed login was not audited")
	}
	entry := all.body["entries"].([]any)[0].(map[string]any)
	if entry["result"] != "ok" || entry["source"] != "127.0.0.1" || !strings.HasPrefix(entry["subject"].(string), "login:") {
		t.Fatalf("failed login entry: %v", entry)
	}
	var rep auditlog.Report
	e.n.Cluster().State().View(func(r *state.ReadTx) error { rep, _ = auditlog.Verify(r); return nil })
	if !rep.OK || rep.Size < 5 {
		t.Fatalf("audit log: %+v", rep)
	}
}

// expected is the one table of who may do what; every route's action must be
// in it, and the policy must agree with every cell.
var expected = map[string][]string{
	"sys.health":             {"anonymous", "system_admin", "security_admin", "audit_admin", "platform_operator", "platform_reviewer", "merchant_admin", "merchant_operator", "worker"},
	"sys.unseal":             {"anonymous"},
	"captcha.create":         {"anonymous"},
	"sessions.create":        {"anonymous"},
	"sessions.sms_code":      {"anonymous"},
	"sessions.challenge":     {"anonymous", "system_admin", "security_admin", "audit_admin", "platform_operator", "platform_reviewer", "merchant_admin", "merchant_operator", "worker"},
	"sessions.list_own":      {"system_admin", "security_admin", "audit_admin", "platform_operator", "platform_reviewer", "merchant_admin", "merchant_operator", "worker"},
	"sessions.delete_own":    {"system_admin", "security_admin", "audit_admin", "platform_operator", "platform_reviewer", "merchant_admin", "merchant_operator", "worker"},
	"sessions.current":       {"system_admin", "security_admin", "audit_admin", "platform_operator", "platform_reviewer", "merchant_admin", "merchant_operator", "worker"},
	"accounts.password":      {"system_admin", "security_admin", "audit_admin", "platform_operator", "platform_reviewer", "merchant_admin", "merchant_operator", "worker"},
	"accounts.mfa_enroll":    {"system_admin", "security_admin", "audit_admin", "platform_operator", "platform_reviewer", "merchant_admin", "merchant_operator", "worker"},
	"sessions.step_up":       {"system_admin", "security_admin", "audit_admin", "platform_operator", "platform_reviewer", "merchant_admin", "merchant_operator", "worker"},
	"accounts.create":        {"security_admin"},
	"notifications.list_own": {"system_admin", "security_admin", "audit_admin", "platform_operator", "platform_reviewer", "merchant_admin", "merchant_operator", "worker"},
	"accounts.unlock":        {"security_admin"},
	"accounts.roles":         {"security_admin"},
	"accounts.unmask":        {"security_admin"},
	"keys.rotate":            {"system_admin"},
	"accounts.close":         {"security_admin"},
	"accounts.mfa_reset":     {"security_admin"},
	"policy.read":            {"security_admin", "audit_admin"},
	"policy.change":          {"security_admin"},
	"audit.export":           {"audit_admin"},
	"sessions.delete_any":    {"security_admin"},
	"audit.search":           {"audit_admin"},
	"audit.verify":           {"audit_admin"},
	"tax.quote":              {"audit_admin", "platform_operator", "platform_reviewer", "merchant_admin", "merchant_operator", "merchant_client", "worker"},
	"approvals.list":         {"system_admin", "security_admin", "audit_admin"},
	"approvals.decide":       {"system_admin", "security_admin", "audit_admin"},
	// e-signing and agreements
	"esign.authority_read":   {"anonymous", "system_admin", "security_admin", "audit_admin", "platform_operator", "platform_reviewer", "merchant_admin", "merchant_operator", "worker"},
	"esign.authority":        {"system_admin"},
	"agreements.cooperation": {"platform_operator"},
	"agreements.tripartite":  {"merchant_admin", "merchant_operator"},
	"agreements.list":        {"platform_operator", "platform_reviewer", "merchant_admin", "merchant_operator", "merchant_client", "worker"},
	"agreements.read":        {"platform_operator", "platform_reviewer", "merchant_admin", "merchant_operator", "merchant_client", "worker"},
	"agreements.sign":        {"platform_operator", "merchant_admin", "worker"},
	"agreements.countersign": {"platform_operator"},
	// invoices
	"invoices.request": {"platform_operator", "merchant_admin", "merchant_operator"},
	"invoices.list":    {"platform_operator", "platform_reviewer", "merchant_admin", "merchant_operator"},
	"invoices.read":    {"platform_operator", "platform_reviewer", "merchant_admin", "merchant_operator"},
	"invoices.export":  {"platform_operator", "platform_reviewer"},
	"invoices.issue":   {"platform_operator"},
	"invoices.deliver": {"platform_operator"},
	"invoices.reverse": {"platform_operator"},
	// payouts and the ledger
	"payouts.upload":      {"merchant_admin", "merchant_operator", "merchant_client"},
	"payouts.list":        {"platform_operator", "platform_reviewer", "merchant_admin", "merchant_operator", "merchant_client"},
	"payouts.read":        {"platform_operator", "platform_reviewer", "merchant_admin", "merchant_operator", "merchant_client"},
	"payouts.confirm":     {"merchant_admin"},
	"payouts.release":     {"merchant_admin", "merchant_operator"},
	"payouts.statement":   {"platform_operator"},
	"payouts.discard":     {"merchant_admin", "merchant_operator"},
	"payments.list":       {"platform_operator", "platform_reviewer", "merchant_admin", "merchant_operator", "merchant_client", "worker"},
	"payments.read":       {"platform_operator", "platform_reviewer", "merchant_admin", "merchant_operator", "merchant_client", "worker"},
	"payments.risk":       {"platform_operator", "platform_reviewer"},
	"payments.risk_clear": {"platform_reviewer"},
	"payments.cancel":     {"merchant_admin", "merchant_operator"},
	"risk.blacklist":      {"platform_operator"},
	"risk.read":           {"platform_operator", "platform_reviewer"},
	"risk.inspect":        {"platform_operator", "platform_reviewer"},
	"risk.case_assign":    {"platform_operator", "platform_reviewer"},
	"risk.case_evidence":  {"platform_operator", "platform_reviewer"},
	"risk.case_close":     {"platform_reviewer"},
	"risk.sample":         {"platform_operator", "platform_reviewer"},
	"risk.sample_review":  {"platform_reviewer"},
	"ledger.read":         {"platform_operator", "audit_admin"},
	"merchants.apply":     {"anonymous", "platform_operator"},
	"merchants.list":      {"platform_operator", "platform_reviewer", "merchant_admin", "merchant_operator", "merchant_client"},
	"merchants.read":      {"platform_operator", "platform_reviewer", "merchant_admin", "merchant_operator", "merchant_client"},
	"merchants.review":    {"platform_reviewer"},
	"merchants.resubmit":  {"merchant_admin"},
	"merchants.close":     {"platform_operator", "merchant_admin"},
	"merchants.unmask":    {"platform_reviewer", "merchant_admin"},
	"merchants.operators": {"merchant_admin"},
	"merchants.documents": {"platform_operator", "merchant_admin", "merchant_operator"},
	"merchants.officers":  {"platform_operator", "platform_reviewer", "merchant_admin"},
	"billing.read":        {"platform_operator", "platform_reviewer", "merchant_admin", "merchant_operator"},
	"billing.preview":     {"platform_operator", "platform_reviewer", "merchant_admin", "merchant_operator"},
	"billing.set":         {"platform_operator"},
	"workers.register":    {"anonymous", "platform_operator"},
	"workers.list":        {"platform_operator", "platform_reviewer", "merchant_admin", "merchant_operator", "merchant_client", "worker"},
	"workers.read":        {"platform_operator", "platform_reviewer", "merchant_admin", "merchant_operator", "merchant_client", "worker"},
	"workers.unmask":      {"platform_reviewer", "merchant_admin", "worker"},
	"workers.invite":      {"merchant_admin", "merchant_operator", "merchant_client"},
	"workers.accept":      {"worker"},
	"workers.verify":      {"platform_operator", "merchant_admin", "merchant_operator", "worker"},
	"workers.consent":     {"platform_operator", "worker"},
	"workers.tax_file":    {"platform_operator", "merchant_admin", "merchant_operator", "worker"},
	"workers.tax_result":  {"platform_operator"},
	"privacy.export":      {"worker"},
	"privacy.file":        {"worker"},
	"privacy.read":        {"platform_operator", "platform_reviewer", "worker"},
	"privacy.list":        {"platform_operator", "platform_reviewer"},
	"privacy.decide":      {"platform_operator"},
	"privacy.cancel":      {"worker"},
	// tasks
	"tasks.create":   {"merchant_admin", "merchant_operator"},
	"tasks.publish":  {"merchant_admin", "merchant_operator"},
	"tasks.list":     {"platform_operator", "platform_reviewer", "merchant_admin", "merchant_operator", "merchant_client", "worker"},
	"tasks.read":     {"platform_operator", "platform_reviewer", "merchant_admin", "merchant_operator", "merchant_client", "worker"},
	"tasks.review":   {"platform_operator", "platform_reviewer"},
	"tasks.cancel":   {"merchant_admin", "merchant_operator"},
	"tasks.apply":    {"worker"},
	"tasks.assign":   {"merchant_admin", "merchant_operator"},
	"tasks.submit":   {"worker"},
	"tasks.inspect":  {"merchant_admin", "merchant_operator"},
	"tasks.evaluate": {"merchant_admin", "merchant_operator", "worker"},
	// top-ups and incoming-payment recognition
	"topups.read":             {"platform_operator", "platform_reviewer", "merchant_admin", "merchant_operator", "merchant_client"},
	"topups.funding":          {"platform_operator", "merchant_admin"},
	"topups.payer_review":     {"platform_operator"},
	"topups.import":           {"platform_operator"},
	"topups.statements":       {"platform_operator", "platform_reviewer"},
	"topups.suspense":         {"platform_operator", "platform_reviewer"},
	"topups.suspense_propose": {"platform_operator"},
	"topups.suspense_decide":  {"platform_operator", "platform_reviewer"},
	// withholding declarations and tax payments
	"filing.read":           {"platform_operator", "platform_reviewer", "audit_admin"},
	"tax_certificates.read": {"platform_operator", "platform_reviewer", "merchant_admin", "merchant_operator", "worker"},
	"filing.export":         {"platform_operator", "platform_reviewer", "audit_admin"},
	"filing.declare":        {"platform_operator"},
	"filing.pay":            {"platform_operator"},
	// reconciliation, discrepancy cases and adjustments
	"reconcile.import":         {"platform_operator"},
	"reconcile.read":           {"platform_operator", "platform_reviewer", "audit_admin"},
	"reconcile.case":           {"platform_operator", "platform_reviewer"},
	"reconcile.fee_check":      {"platform_operator"},
	"reconcile.adjust_propose": {"platform_operator"},
	"reconcile.adjust_decide":  {"platform_reviewer"},
	"reconcile.merchant_read":  {"platform_operator", "platform_reviewer", "merchant_admin", "merchant_operator"},
	"archives.read":            {"platform_operator", "platform_reviewer", "audit_admin"},
	"archives.certificate":     {"platform_operator", "platform_reviewer", "audit_admin"},
	"archives.hold":            {"platform_operator", "platform_reviewer"},
	"archives.hold_release":    {"platform_operator", "platform_reviewer"},
	"archives.use_request":     {"platform_operator", "platform_reviewer"},
	"archives.use":             {"platform_operator", "platform_reviewer"},
	"archives.use_decide":      {"platform_operator", "platform_reviewer"},
	"archives.destroy_propose": {"platform_operator", "platform_reviewer"},
	"archives.destroy_decide":  {"platform_operator", "platform_reviewer"},
	"training.manage":          {"platform_operator"},
	"training.read":            {"platform_operator", "platform_reviewer", "merchant_admin", "merchant_operator", "worker"},
	"training.enrol":           {"merchant_admin", "merchant_operator", "worker"},
	"training.records":         {"platform_operator", "platform_reviewer", "merchant_admin", "merchant_operator", "worker"},
	"training.result":          {"platform_operator", "merchant_admin", "merchant_operator"},
	"insurance.manage":         {"platform_operator"},
	"insurance.read":           {"platform_operator", "platform_reviewer", "merchant_admin", "merchant_operator", "worker"},
	"insurance.recommend":      {"platform_operator", "platform_reviewer", "merchant_admin", "merchant_operator", "worker"},
	"insurance.records":        {"platform_operator", "platform_reviewer", "merchant_admin", "merchant_operator", "worker"},
	"insurance.enrol":          {"merchant_admin", "merchant_operator", "worker"},
	"insurance.social":         {"platform_operator"},
	// machine clients and callbacks
	"clients.register": {"merchant_admin"},
	"clients.read":     {"platform_operator", "merchant_admin", "merchant_operator"},
	"clients.revoke":   {"platform_operator", "merchant_admin"},
	"callbacks.key":    {"anonymous", "system_admin", "security_admin", "audit_admin", "platform_operator", "platform_reviewer", "merchant_admin", "merchant_operator", "merchant_client", "worker"},
	"callbacks.read":   {"platform_operator", "merchant_admin", "merchant_operator", "merchant_client"},
	"callbacks.send":   {"merchant_admin", "merchant_operator", "merchant_client"},
	// the tax bureaus' gateway: its clients, the platform's profile and key, receipts, reports
	"gateway.clients.register": {"security_admin"},
	"gateway.clients.read":     {"system_admin", "security_admin", "platform_operator"},
	"gateway.clients.suspend":  {"security_admin"},
	"gateway.clients.resume":   {"security_admin"},
	"gateway.clients.rotate":   {"security_admin"},
	"gateway.clients.revoke":   {"security_admin"},
	"gateway.platform.read":    {"system_admin", "security_admin", "platform_operator", "platform_reviewer"},
	"gateway.platform.set":     {"system_admin"},
	"gateway.key.read":         {"system_admin", "security_admin", "audit_admin", "platform_operator", "platform_reviewer"},
	"gateway.receipts.read":    {"system_admin", "security_admin", "audit_admin", "platform_operator"},
	"gateway.reports.issue":    {"platform_operator"},
	"gateway.reports.void":     {"platform_operator"},
	"gateway.reports.read":     {"platform_operator", "platform_reviewer"},
	"gateway.reports.download": {"platform_operator"},
	// the gateway listener's own routes (node.GatewayRoutes)
	"gateway.key":             {"anonymous", "tax_officer"},
	"gateway.feed":            {"tax_officer"},
	"gateway.receipts.create": {"tax_officer"},
	"gateway.reports":         {"tax_officer"},
	"gateway.workers":         {"tax_officer"},
	"gateway.merchants":       {"tax_officer"},
	"gateway.documents":       {"tax_officer"},
}

// allRoutes are the business listener's routes and the gateway listener's.
func allRoutes() []api.Route { return append(node.Routes(), node.GatewayRoutes()...) }

func TestEveryRouteHasAPolicyAndEveryRoleTheExpectedDecision(t *testing.T) {
	b, err := policy.Embedded()
	if err != nil {
		t.Fatal(err)
	}
	authz, err := policy.New(context.Background(), b)
	if err != nil {
		t.Fatal(err)
	}
	roles := []string{"anonymous", "system_admin", "security_admin", "audit_admin", "platform_operator", "platform_reviewer", "merchant_admin", "merchant_operator", "merchant_client", "worker", "tax_officer"}
	for _, rt := range allRoutes() {
		allowed, ok := expected[rt.Action]
		if !ok {
			t.Errorf("%s %s: action %q has no row in the expected table", rt.Method, rt.Path, rt.Action)
			continue
		}
		for _, role := range roles {
			// A machine client is decided as one registered for the action.
			d, err := authz.Decide(context.Background(), policy.Input{
				Subject: policy.Subject{ID: "u", Roles: []string{role}, Clearance: 4, MFA: true, Scope: []string{rt.Action}}, Action: rt.Action,
				Resource: policy.Resource{Owner: "other", Label: 1},
			})
			if err != nil {
				t.Fatal(err)
			}
			want := false
			for _, a := range allowed {
				want = want || a == role
			}
			if d.Allow != want {
				t.Errorf("%s %s (%s) for %s: allow=%v, want %v", rt.Method, rt.Path, rt.Action, role, d.Allow, want)
			}
		}
	}
}

func TestStaffNeedTheirSecondFactorAndCodesAreSingleUse(t *testing.T) {
	e := start(t)
	e.signIn("secadmin")
	if r := e.login("secadmin", e.admins["secadmin"]); r.status != 401 || r.code() != "mfa_required" {
		t.Fatalf("password alone: %d %v", r.status, r.body)
	}
	code := e.code(e.secrets["secadmin"])
	body := fmt.Sprintf(`{"username":"secadmin","password":%q,"totp":%q}`, e.admins["secadmin"], code)
	r := e.call("POST", "/api/v1/sessions", "", body)
	if r.status != 201 || r.body["session"].(map[string]any)["mfa"] != true {
		t.Fatalf("password and code: %d %v", r.status, r.body)
	}
	if r := e.call("POST", "/api/v1/sessions", "", body); r.status != 401 || r.code() != "invalid_credentials" {
		t.Fatalf("a replayed code: %d %v", r.status, r.body)
	}
	bad := fmt.Sprintf(`{"username":"secadmin","password":%q,"totp":"000000"}`, e.admins["secadmin"])
	if r := e.call("POST", "/api/v1/sessions", "", bad); r.status != 401 || r.code() != "invalid_credentials" {
		t.Fatalf("a wrong code: %d %v", r.status, r.body)
	}
}

func TestImportantOperationsNeedAFreshStepUp(t *testing.T) {
	e := start(t)
	sec, secret := e.signInMFA("secadmin")
	// Lock the system administrator.
	for range 3 {
		e.login("sysadmin", "Wrong-Password-1!")
	}
	for range 2 {
		id := e.call("GET", "/api/v1/captcha", "", "").body["captcha_id"].(string)
		e.call("POST", "/api/v1/sessions", "", fmt.Sprintf(`{"username":"sysadmin","password":"Wrong-Password-1!","captcha_id":%q,"captcha_answer":%q}`, id, e.captchaDigits(id)))
	}
	if r := e.login("sysadmin", e.admins["sysadmin"]); r.code() != "account_locked" {
		t.Fatalf("sysadmin not locked: %v", r.body)
	}
	e.clock.advance(10 * time.Minute) // the enrollment no longer counts as a fresh re-authentication
	if r := e.call("POST", "/api/v1/accounts/acct-sysadmin/unlock", sec, ""); r.status != 401 || r.code() != "step_up_required" {
		t.Fatalf("unlock without a step-up: %d %v", r.status, r.body)
	}
	if r := e.call("POST", "/api/v1/me/step-up", sec, fmt.Sprintf(`{"totp":%q}`, e.code(secret))); r.status != 200 {
		t.Fatalf("step-up: %d %v", r.status, r.body)
	}
	if r := e.call("POST", "/api/v1/accounts/acct-secadmin/unlock", sec, "", "Idempotency-Key", "k0"); r.status != 403 {
		t.Fatalf("a security admin unlocking themself: %d %v", r.status, r.body)
	}
	if r := e.confirmed("POST", "/api/v1/accounts/acct-sysadmin/unlock", sec, "", "unlock-1"); r.status != 200 {
		t.Fatalf("unlock after a step-up: %d %v", r.status, r.body)
	}
	if r := e.login("sysadmin", e.admins["sysadmin"]); r.status != 201 {
		t.Fatalf("login after unlock: %d %v", r.status, r.body)
	}
	e.clock.advance(6 * time.Minute)
	if r := e.call("POST", "/api/v1/accounts", sec, `{"username":"op1","roles":["platform_operator"]}`, "Idempotency-Key", "k1"); r.code() != "step_up_required" {
		t.Fatalf("a step-up older than five minutes still counted: %v", r.body)
	}
}

// confirmed runs an important operation: preview, then confirm with the
// token, under one idempotency key.
func (e *env) confirmed(method, path, token, body, key string) reply {
	e.t.Helper()
	p := e.call(method, path, token, body, "Idempotency-Key", key)
	tok, _ := p.body["confirm_token"].(string)
	if p.status != 200 || tok == "" {
		return p
	}
	return e.call(method, path, token, body, "Idempotency-Key", key, "X-Confirm-Token", tok)
}

func TestImportantOperationsPreviewConfirmAndRunOnce(t *testing.T) {
	e := start(t)
	sec, _ := e.signInMFA("secadmin") // signing in with the code counts as a step-up
	body := `{"username":"operator-1","roles":["platform_operator"]}`
	if r := e.call("POST", "/api/v1/accounts", sec, body); r.status != 400 || r.code() != "invalid_request" {
		t.Fatalf("no idempotency key: %d %v", r.status, r.body)
	}
	p := e.call("POST", "/api/v1/accounts", sec, body, "Idempotency-Key", "create-op-1")
	preview, _ := p.body["preview"].(map[string]any)
	if p.status != 200 || preview["impact"].(map[string]any)["username"] != "operator-1" || len(preview["risks"].([]any)) == 0 {
		t.Fatalf("preview: %d %v", p.status, p.body)
	}
	token := p.body["confirm_token"].(string)
	// The token is bound to exactly this request.
	other := `{"username":"operator-2","roles":["platform_operator"]}`
	if r := e.call("POST", "/api/v1/accounts", sec, other, "Idempotency-Key", "create-op-2", "X-Confirm-Token", token); r.status != 409 || r.code() != "confirm_mismatch" {
		t.Fatalf("confirming another request: %d %v", r.status, r.body)
	}
	first := e.call("POST", "/api/v1/accounts", sec, body, "Idempotency-Key", "create-op-1", "X-Confirm-Token", token)
	if first.status != 201 || first.body["one_time_password"] == nil {
		t.Fatalf("confirm: %d %v", first.status, first.body)
	}
	// A repeat returns the first answer, its password withheld, and creates nothing.
	again := e.call("POST", "/api/v1/accounts", sec, body, "Idempotency-Key", "create-op-1", "X-Confirm-Token", token)
	if again.status != 201 || again.body["one_time_password"] != nil || again.body["account"].(map[string]any)["id"] != first.body["account"].(map[string]any)["id"] {
		t.Fatalf("repeat: %d %v", again.status, again.body)
	}
	if r := e.call("POST", "/api/v1/accounts", sec, other, "Idempotency-Key", "create-op-1"); r.status != 409 || r.code() != "idempotency_conflict" {
		t.Fatalf("the same key with another body: %d %v", r.status, r.body)
	}
	// The token was used: a new key cannot reuse it.
	if r := e.call("POST", "/api/v1/accounts", sec, body, "Idempotency-Key", "create-op-3", "X-Confirm-Token", token); r.code() != "confirm_mismatch" {
		t.Fatalf("a used token: %d %v", r.status, r.body)
	}
	// Exactly one account was created: the new operator can log in.
	pw := first.body["one_time_password"].(string)
	if r := e.login("operator-1", pw); r.status != 201 || r.body["password_change_required"] != true {
		t.Fatalf("the new account: %d %v", r.status, r.body)
	}
	if r := e.confirmed("POST", "/api/v1/accounts", sec, body, "create-op-4"); r.status != 409 || r.code() != "conflict" {
		t.Fatalf("the same username twice: %d %v", r.status, r.body)
	}
}

func TestSignedAuditHeadsAndProofs(t *testing.T) {
	e := start(t)
	token := e.signIn("auditadmin")
	h1 := e.call("GET", "/api/v1/audit/head", token, "")
	if h1.status != 200 {
		t.Fatalf("head: %d %v", h1.status, h1.body)
	}
	cert, err := sm.ParseCertificatePEM([]byte(h1.body["signer_certificate"].(string)))
	if err != nil {
		t.Fatal(err)
	}
	size1 := uint64(h1.body["size"].(float64))
	root1 := hexHash(t, h1.body["root"].(string))
	at, _ := time.Parse(time.RFC3339Nano, h1.body["time"].(string))
	sig, _ := base64.StdEncoding.DecodeString(h1.body["signature"].(string))
	if !cert.PublicKey().Verify(identity.HeadMessage(size1, root1, at), sig) {
		t.Fatal("the signed head does not verify with the node's certificate")
	}
	for range 3 {
		e.call("GET", "/api/v1/me", token, "")
	}
	p := e.call("GET", fmt.Sprintf("/api/v1/audit/proof?from=%d", size1), token, "")
	if p.status != 200 {
		t.Fatalf("proof: %d %v", p.status, p.body)
	}
	var proof []auditlog.Hash
	for _, x := range p.body["consistency"].([]any) {
		proof = append(proof, hexHash(t, x.(string)))
	}
	size2 := int(p.body["size"].(float64))
	root2 := hexHash(t, p.body["root"].(string))
	if uint64(size2) <= size1 || !auditlog.VerifyConsistency(int(size1), size2, root1, root2, proof) {
		t.Fatalf("the log grew from %d to %d but the proof does not hold", size1, size2)
	}
	inc := e.call("GET", "/api/v1/audit/proof?entry=2", token, "")
	var path []auditlog.Hash
	for _, x := range inc.body["inclusion"].([]any) {
		path = append(path, hexHash(t, x.(string)))
	}
	if !auditlog.VerifyInclusion(hexHash(t, inc.body["leaf"].(string)), 1, int(inc.body["size"].(float64)), path, hexHash(t, inc.body["root"].(string))) {
		t.Fatal("inclusion proof does not verify")
	}
	if r := e.call("GET", "/api/v1/audit/proof?from=0", token, ""); r.status != 400 {
		t.Fatalf("a bad proof request: %d", r.status)
	}
}

func hexHash(t *testing.T, s string) auditlog.Hash {
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != 32 {
		t.Fatalf("not a hash: %q", s)
	}
	return auditlog.Hash(b)
}

func TestRoleChangesEndSessionsAndKeepDutiesApart(t *testing.T) {
	e := start(t)
	sec, _ := e.signInMFA("secadmin")
	audit := e.signIn("auditadmin")
	// Two administrator duties on one account are refused.
	if r := e.call("POST", "/api/v1/accounts/acct-auditadmin/roles", sec, `{"roles":["audit_admin","system_admin"]}`, "Idempotency-Key", "r0"); r.status != 400 {
		t.Fatalf("two admin roles: %d %v", r.status, r.body)
	}
	// Nobody changes their own roles.
	if r := e.call("POST", "/api/v1/accounts/acct-secadmin/roles", sec, `{"roles":["worker"]}`, "Idempotency-Key", "r1"); r.status != 403 {
		t.Fatalf("own roles: %d %v", r.status, r.body)
	}
	id := e.proposed("POST", "/api/v1/accounts/acct-auditadmin/roles", sec, `{"roles":["platform_reviewer"]}`, "r2")
	sys := e.signIn("sysadmin") // demoting an administrator needs a second one
	if r := e.approve(sys, id, "r2-ok"); r.status != 200 {
		t.Fatalf("role change: %d %v", r.status, r.body)
	}
	if r := e.call("GET", "/api/v1/me", audit, ""); r.status != 401 {
		t.Fatalf("a session survived its role change: %d %v", r.status, r.body)
	}
	// A security admin ends every session of another account.
	w := e.loginMFA("auditadmin")
	token := w.body["token"].(string)
	if r := e.call("DELETE", "/api/v1/accounts/acct-auditadmin/sessions", sec, ""); r.status != 200 || r.body["ended"].(float64) < 1 {
		t.Fatalf("end sessions: %d %v", r.status, r.body)
	}
	if r := e.call("GET", "/api/v1/me", token, ""); r.status != 401 {
		t.Fatalf("a session survived: %d %v", r.status, r.body)
	}
	if r := e.call("DELETE", "/api/v1/accounts/acct-secadmin/sessions", audit, ""); r.status != 401 {
		t.Fatalf("an ended session still acts: %d", r.status)
	}
}

func TestAnSM2KeyIsASecondFactor(t *testing.T) {
	e := start(t)
	r := e.login("secadmin", e.admins["secadmin"])
	token := r.body["token"].(string)
	newPW := "Changed-Secret-2026!"
	e.call("POST", "/api/v1/me/password", token, fmt.Sprintf(`{"current_password":%q,"new_password":%q}`, e.admins["secadmin"], newPW))
	e.admins["secadmin"] = newPW

	key, _ := sm.GenerateKey()
	pub, _ := key.Public().MarshalPEM()
	answer := func(purpose, who string, k *sm.PrivateKey) (string, string) {
		c := e.call("POST", "/api/v1/sessions/challenge", "", "")
		if c.status != 201 {
			t.Fatalf("challenge: %d %v", c.status, c.body)
		}
		nonce, _ := base64.StdEncoding.DecodeString(c.body["nonce"].(string))
		sig, _ := k.Sign(identity.SM2Message(purpose, nonce, who))
		return c.body["challenge_id"].(string), base64.StdEncoding.EncodeToString(sig)
	}
	id, sig := answer("enroll", "acct-secadmin", key)
	enroll := fmt.Sprintf(`{"public_key":%q,"challenge_id":%q,"signature":%q}`, pub, id, sig)
	if r := e.call("POST", "/api/v1/me/mfa/sm2", token, enroll); r.status != 200 {
		t.Fatalf("enroll: %d %v", r.status, r.body)
	}
	if r := e.login("secadmin", newPW); r.code() != "mfa_required" {
		t.Fatalf("password alone: %v", r.body)
	}
	id, sig = answer("login", "secadmin", key)
	login := fmt.Sprintf(`{"username":"secadmin","password":%q,"sm2_challenge_id":%q,"sm2_signature":%q}`, newPW, id, sig)
	r = e.call("POST", "/api/v1/sessions", "", login)
	if r.status != 201 || r.body["session"].(map[string]any)["mfa"] != true {
		t.Fatalf("SM2 login: %d %v", r.status, r.body)
	}
	if r := e.call("POST", "/api/v1/sessions", "", login); r.code() != "invalid_credentials" {
		t.Fatalf("a replayed challenge: %v", r.body)
	}
	other, _ := sm.GenerateKey()
	id, sig = answer("login", "secadmin", other)
	if r := e.call("POST", "/api/v1/sessions", "", fmt.Sprintf(`{"username":"secadmin","password":%q,"sm2_challenge_id":%q,"sm2_signature":%q}`, newPW, id, sig)); r.code() != "invalid_credentials" {
		t.Fatalf("another key: %v", r.body)
	}
	// An answer made for one purpose does not serve another.
	id, sig = answer("step-up", "acct-secadmin", key)
	if r := e.call("POST", "/api/v1/sessions", "", fmt.Sprintf(`{"username":"secadmin","password":%q,"sm2_challenge_id":%q,"sm2_signature":%q}`, newPW, id, sig)); r.code() != "invalid_credentials" {
		t.Fatalf("a step-up answer used to log in: %v", r.body)
	}
	id, sig = answer("step-up", "acct-secadmin", key)
	if r := e.call("POST", "/api/v1/me/step-up", token, fmt.Sprintf(`{"sm2_challenge_id":%q,"sm2_signature":%q}`, id, sig)); r.status != 200 {
		t.Fatalf("SM2 step-up: %d %v", r.status, r.body)
	}
}

func TestUnmaskingAndExportAreImportantAndAuditedWithTheirReason(t *testing.T) {
	e := start(t)
	sec, _ := e.signInMFA("secadmin")
	created := e.confirmed("POST", "/api/v1/accounts", sec, `{"username":"w2","roles":["worker"],"phone":"13900001111"}`, "c1")
	id := created.body["account"].(map[string]any)["id"].(string)
	if r := e.confirmed("POST", "/api/v1/accounts/"+id+"/unmask", sec, `{"reason":"no"}`, "u0"); r.status != 400 {
		t.Fatalf("a missing reason: %d %v", r.status, r.body)
	}
	r := e.confirmed("POST", "/api/v1/accounts/"+id+"/unmask", sec, `{"reason":"complaint #42 callback"}`, "u1")
	if r.status != 200 || r.body["phone"] != "13900001111" {
		t.Fatalf("unmask: %d %v", r.status, r.body)
	}
	audit, _ := e.signInMFA("auditadmin")
	ex := e.confirmed("POST", "/api/v1/audit/export", audit, `{"type":"account.unmask","reason":"quarterly review"}`, "x1")
	if ex.status != 200 {
		t.Fatalf("export: %d %v", ex.status, ex.body)
	}
	found := false
	for _, x := range ex.body["entries"].([]any) {
		en := x.(map[string]any)
		if en["action"] == "accounts.unmask" && en["reason"] == "complaint #42 callback" && en["object"] == id {
			found = true
		}
	}
	if !found {
		t.Fatalf("the unmasking is not in the exported audit log with its reason: %v", ex.body["entries"])
	}
	if h := ex.body["head"].(map[string]any); h["signature"] == "" || h["size"].(float64) < 1 {
		t.Fatalf("export head: %v", h)
	}
}

func TestSessionsEndWhenIdleOrOld(t *testing.T) {
	e := start(t)
	token := e.signIn("auditadmin")
	e.clock.advance(14 * time.Minute)
	if r := e.call("GET", "/api/v1/me", token, ""); r.status != 200 {
		t.Fatalf("14 minutes idle: %d %v", r.status, r.body)
	}
	e.clock.advance(16 * time.Minute)
	if r := e.call("GET", "/api/v1/me", token, ""); r.status != 401 || r.code() != "unauthenticated" {
		t.Fatalf("16 minutes idle: %d %v", r.status, r.body)
	}
	second := e.loginMFA("auditadmin").body["token"].(string)
	for range 40 { // active every 14 minutes for over 8 hours
		e.clock.advance(14 * time.Minute)
		e.call("GET", "/api/v1/me", second, "")
	}
	if r := e.call("GET", "/api/v1/me", second, ""); r.status != 401 {
		t.Fatalf("a session older than 8 hours: %d %v", r.status, r.body)
	}
	third := e.loginMFA("auditadmin").body["token"].(string)
	future := e.clock.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	if r := e.call("GET", "/api/v1/audit?from="+future, third, ""); r.status != 200 || r.body["entries"] != nil {
		t.Fatalf("entries from the future: %v", r.body["entries"])
	}
	// (the other two administrators init created: the audit admin's own
	// account, subject or object, is not in its answers)
	if r := e.call("GET", "/api/v1/audit?to="+future+"&type=account.create", third, ""); len(r.body["entries"].([]any)) != 2 {
		t.Fatalf("entries before now: %v", r.body["entries"])
	}
	if r := e.call("GET", "/api/v1/audit?from=yesterday", third, ""); r.status != 400 {
		t.Fatalf("a malformed time: %d", r.status)
	}
}

func TestKeyRotationIsAnImportantOperationAndKeepsOldDataReadable(t *testing.T) {
	e := start(t)
	sys := e.signIn("sysadmin")
	before := e.n.Status().Cluster.KeyTerm
	r := e.confirmed("POST", "/api/v1/keys/rotate", sys, "", "rot-1")
	if r.status != 200 || r.body["active_term"].(float64) != float64(before+1) {
		t.Fatalf("rotate: %d %v", r.status, r.body)
	}
	if got := e.n.Status().Cluster.KeyTerm; got != before+1 {
		t.Fatalf("active term %d after rotation, want %d", got, before+1)
	}
	// Everything written before still opens: logins, sessions, the audit log.
	if r := e.call("GET", "/api/v1/me", sys, ""); r.status != 200 {
		t.Fatalf("old session after rotation: %d %v", r.status, r.body)
	}
	audit := e.signIn("auditadmin")
	var rep auditlog.Report
	e.n.Cluster().State().View(func(tx *state.ReadTx) error { rep, _ = auditlog.Verify(tx); return nil })
	if !rep.OK {
		t.Fatalf("audit log after rotation: %+v", rep)
	}
	if r := e.confirmed("POST", "/api/v1/keys/rotate", audit, "", "rot-2"); r.status != 403 {
		t.Fatalf("an audit admin rotating keys: %d %v", r.status, r.body)
	}
}

func TestNobodyActsOnAnAccountClearedAboveThem(t *testing.T) {
	e, box := startWithMail(t)
	sec, _ := e.signInMFA("secadmin")
	// A new administrator needs a second one, and gets its password by e-mail.
	apr := e.proposed("POST", "/api/v1/accounts", sec, `{"username":"sec2","roles":["security_admin"],"clearance":2,"email":"sec2@example.cn"}`, "s2")
	if created := e.approve(e.signIn("sysadmin"), apr, "s2-ok"); created.status != 200 {
		t.Fatalf("create: %d %v", created.status, created.body)
	}
	e.admins["sec2"] = box.mailedPassword(t, "sec2@example.cn")
	sec2, _ := e.signInMFA("sec2")
	// sysadmin is cleared 4; sec2 only 2.
	// Refused as if it did not exist, so the answer does not tell it is there.
	if r := e.call("POST", "/api/v1/accounts/acct-sysadmin/unmask", sec2, `{"reason":"looking around"}`, "Idempotency-Key", "m1"); r.status != 404 || r.code() != "not_found" {
		t.Fatalf("unmasking an account cleared above the caller: %d %v", r.status, r.body)
	}
	worker := e.confirmed("POST", "/api/v1/accounts", sec2, `{"username":"w9","roles":["worker"],"phone":"13700000000"}`, "w9")
	id := worker.body["account"].(map[string]any)["id"].(string)
	if r := e.confirmed("POST", "/api/v1/accounts/"+id+"/unmask", sec2, `{"reason":"support ticket 7"}`, "m2"); r.status != 200 {
		t.Fatalf("unmasking an account at or below the caller: %d %v", r.status, r.body)
	}
}

func TestAClosedAccountNeverLogsInAgain(t *testing.T) {
	e := start(t)
	sec, _ := e.signInMFA("secadmin")
	// A merchant user: a password alone signs them in (a worker also needs an SMS code).
	created := e.confirmed("POST", "/api/v1/accounts", sec, `{"username":"leaver","roles":["merchant_operator"]}`, "c1")
	id := created.body["account"].(map[string]any)["id"].(string)
	pw := created.body["one_time_password"].(string)
	tok := e.login("leaver", pw).body["token"].(string)
	if r := e.confirmed("POST", "/api/v1/accounts/"+id+"/close", sec, "", "close-1"); r.status != 200 {
		t.Fatalf("close: %d %v", r.status, r.body)
	}
	if r := e.call("GET", "/api/v1/me", tok, ""); r.status != 401 {
		t.Fatalf("a closed account's session: %d %v", r.status, r.body)
	}
	a, b := e.login("leaver", pw), e.login("nobody-at-all", pw)
	if a.status != 401 || a.code() != "invalid_credentials" || a.code() != b.code() {
		t.Fatalf("a closed account logs in or answers differently: %v vs %v", a.body, b.body)
	}
	if r := e.confirmed("POST", "/api/v1/accounts/"+id+"/close", sec, "", "close-2"); r.status != 409 {
		t.Fatalf("closing twice: %d %v", r.status, r.body)
	}
}
