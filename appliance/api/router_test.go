package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"testing"

	"cxt/storage/auditlog"
	"cxt/storage/state"
)

// answer is a reply with its headers.
type answer struct {
	reply
	header http.Header
}

// send makes a request and returns the answer with its headers. Paths the
// API does not document (unknown paths, wrong methods, redirects) are sent
// unchecked; every other answer is checked against docs/openapi.yaml.
func (e *env) send(method, path, token, body string, documented bool) answer {
	e.t.Helper()
	req, _ := http.NewRequest(method, e.base+path, strings.NewReader(body))
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	c := &http.Client{Transport: e.client.Transport, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	if !documented {
		c.Transport = e.client.Transport.(*validating).next
	}
	resp, err := c.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out map[string]any
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &out); err != nil {
			e.t.Fatalf("%s %s: answer is not JSON (%d): %s", method, path, resp.StatusCode, raw)
		}
	}
	return answer{reply{resp.StatusCode, out}, resp.Header}
}

// recordsOf returns the audit entries of one request, by the request ID its
// answer carried.
func (e *env) recordsOf(id string) []auditlog.Entry {
	e.t.Helper()
	if id == "" {
		e.t.Fatal("the answer carries no X-Request-Id")
	}
	c := e.n.Cluster()
	if err := c.ReadBarrier(context.Background()); err != nil {
		e.t.Fatal(err)
	}
	var out []auditlog.Entry
	c.State().View(func(tx *state.ReadTx) error {
		all, err := auditlog.Search(tx, auditlog.Query{})
		for _, en := range all {
			if en.Request == id {
				out = append(out, en)
			}
		}
		return err
	})
	return out
}

func TestEveryRequestGetsExactlyOneAuditRecordAtTheRouter(t *testing.T) {
	e := start(t)
	audit := e.signIn("auditadmin")
	cases := []struct {
		name, method, path, token, body string
		documented                      bool
		status                          int
		action, object, result, subject string
		header, value                   string
	}{
		{"an unknown path", "GET", "/api/v1/nothing-here", "", "", false, 404, "", "GET /api/v1/nothing-here", "not_found", "anonymous", "", ""},
		{"an unknown path with a session", "GET", "/api/v1/nothing-here", audit, "", false, 404, "", "GET /api/v1/nothing-here", "not_found", "acct-auditadmin", "", ""},
		{"a wrong method", "DELETE", "/api/v1/audit", audit, "", false, 405, "", "DELETE /api/v1/audit", "method_not_allowed", "acct-auditadmin", "Allow", "GET"},
		{"HEAD on a GET route", "HEAD", "/api/v1/me", "", "", false, 405, "", "HEAD /api/v1/me", "method_not_allowed", "anonymous", "Allow", "GET"},
		{"a path with two methods", "PUT", "/api/v1/sessions", "", "", false, 405, "", "PUT /api/v1/sessions", "method_not_allowed", "anonymous", "Allow", "GET, POST"},
		{"a path that needs cleaning", "GET", "/api//v1/./me?x=1", "", "", false, 301, "", "GET /api//v1/./me", "redirect", "anonymous", "Location", "/api/v1/me?x=1"},
		{"health", "GET", "/healthz", "", "", true, 200, "sys.health", "", "ok", "anonymous", "", ""},
		{"readiness", "GET", "/readyz", "", "", true, 200, "sys.health", "", "ok", "anonymous", "", ""},
		{"status", "GET", "/api/v1/sys/status", "", "", true, 200, "sys.health", "", "ok", "anonymous", "", ""},
		{"the full status", "GET", "/healthz", audit, "", true, 200, "sys.health", "full status", "ok", "acct-auditadmin", "", ""},
		{"a share given to a key-file node", "POST", "/api/v1/sys/unseal", "", `{"share":"00"}`, true, 400, "sys.unseal", "", "invalid_request", "anonymous", "", ""},
		{"a malformed unseal", "POST", "/api/v1/sys/unseal", "", `{"share":`, true, 400, "sys.unseal", "", "invalid_request", "anonymous", "", ""},
		{"a read", "GET", "/api/v1/me", audit, "", true, 200, "sessions.current", "", "ok", "acct-auditadmin", "", ""},
		{"a read refused for bad input", "GET", "/api/v1/audit?limit=0", audit, "", true, 400, "audit.search", "", "invalid_request", "acct-auditadmin", "", ""},
		{"a denial", "GET", "/api/v1/policy", "", "", true, 401, "policy.read", "", "unauthenticated", "anonymous", "", ""},
	}
	for _, c := range cases {
		a := e.send(c.method, c.path, c.token, c.body, c.documented)
		if a.status != c.status {
			t.Errorf("%s: %d %v, want %d", c.name, a.status, a.body, c.status)
			continue
		}
		if c.header != "" && a.header.Get(c.header) != c.value {
			t.Errorf("%s: %s is %q, want %q", c.name, c.header, a.header.Get(c.header), c.value)
		}
		if c.status == 405 && c.method != "HEAD" && a.code() != "method_not_allowed" {
			t.Errorf("%s: %v", c.name, a.body)
		}
		recs := e.recordsOf(a.header.Get("X-Request-Id"))
		if len(recs) != 1 {
			t.Errorf("%s: %d audit records, want exactly one: %+v", c.name, len(recs), recs)
			continue
		}
		r := recs[0]
		if r.Type != "request" || r.Action != c.action || r.Result != c.result || r.Subject != c.subject ||
			r.Source != "127.0.0.1" || (c.object != "" && r.Object != c.object) {
			t.Errorf("%s: record %+v, want action %q object %q result %q subject %q", c.name, r, c.action, c.object, c.result, c.subject)
		}
	}
}

func TestHealthWithoutASessionShowsOnlyWhatProbesNeed(t *testing.T) {
	e := start(t)
	keys := func(body map[string]any) string {
		var ks []string
		for k := range body {
			ks = append(ks, k)
		}
		sort.Strings(ks)
		return strings.Join(ks, " ")
	}
	const probe = "applied_index leader node role sealed"
	for _, path := range []string{"/healthz", "/readyz", "/api/v1/sys/status"} {
		r := e.call("GET", path, "", "")
		if r.status != 200 || keys(r.body) != probe {
			t.Fatalf("%s without a session: %d %v, want only %s", path, r.status, r.body, probe)
		}
		if r.body["leader"] != r.body["node"] || r.body["role"] != "leader" || r.body["sealed"] != false {
			t.Fatalf("%s: the leader is named by its node ID: %v", path, r.body)
		}
	}
	// Administrators see the detail; other roles what probes see.
	tokens := map[string]string{}
	for _, admin := range []string{"sysadmin", "secadmin", "auditadmin"} {
		tokens[admin] = e.signIn(admin)
		r := e.call("GET", "/healthz", tokens[admin], "")
		if r.status != 200 || r.body["cluster"] == nil || r.body["policy"] != "embedded" {
			t.Fatalf("%s: %d %v", admin, r.status, r.body)
		}
	}
	sec := e.steppedUp("secadmin", tokens["secadmin"])
	created := e.confirmed("POST", "/api/v1/accounts", sec, `{"username":"probe-worker","roles":["merchant_operator"]}`, "w1")
	otp, _ := created.body["one_time_password"].(string)
	if created.status != 201 || otp == "" {
		t.Fatalf("create a worker: %d %v", created.status, created.body)
	}
	login := e.login("probe-worker", otp)
	token, _ := login.body["token"].(string)
	const pw = "Tide-Marble-4821!"
	if r := e.call("POST", "/api/v1/me/password", token, fmt.Sprintf(`{"current_password":%q,"new_password":%q}`, otp, pw)); r.status != 200 {
		t.Fatalf("worker password: %d %v", r.status, r.body)
	}
	if r := e.call("GET", "/healthz", token, ""); r.status != 200 || keys(r.body) != probe {
		t.Fatalf("a worker's health: %d %v, want only %s", r.status, r.body, probe)
	}
}

// steppedUp re-authenticates a session with a fresh one-time code, as an
// important operation needs.
func (e *env) steppedUp(user, token string) string {
	e.t.Helper()
	if r := e.call("POST", "/api/v1/me/step-up", token, fmt.Sprintf(`{"totp":%q}`, e.code(e.secrets[user]))); r.status != 200 {
		e.t.Fatalf("step-up of %s: %d %v", user, r.status, r.body)
	}
	return token
}
