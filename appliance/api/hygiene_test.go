package api_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"
)

func (e *env) changePassword(token, current, next string) reply {
	e.t.Helper()
	body, _ := json.Marshal(map[string]string{"current_password": current, "new_password": next})
	return e.call("POST", "/api/v1/me/password", token, string(body))
}

func errMessage(r reply) string {
	m, _ := r.body["error"].(map[string]any)["message"].(string)
	return m
}

func TestNewPasswordsAreNotCommonNamedInvisibleOrRecent(t *testing.T) {
	e := start(t)
	token := e.signIn("auditadmin")
	current := e.admins["auditadmin"]
	for pw, rule := range map[string]string{
		"Password1!":               "too common",
		"Qwerty123!":               "too common",
		"P@ssw0rd2026!":            "too common",
		"Woaini1314!!":             "too common",
		"My-AuditAdmin-Key-2026!":  "username",
		"Tea-Kettle\a-Orbit-7!":    "control",
		"Tea-Kettle\u202e-Orbit7!": "control",
	} {
		r := e.changePassword(token, current, pw)
		if r.status != 400 || r.code() != "weak_password" || !strings.Contains(errMessage(r), rule) {
			t.Errorf("%q: %d %v, want the %s rule", pw, r.status, r.body, rule)
		}
	}
	// The last five passwords (the current one and four before it) are refused.
	first := current
	for i, pw := range []string{"Orbit-Kettle-2026!a", "Orbit-Kettle-2026!b", "Orbit-Kettle-2026!c", "Orbit-Kettle-2026!d"} {
		if r := e.changePassword(token, current, pw); r.status != 200 {
			t.Fatalf("change %d: %d %v", i, r.status, r.body)
		}
		current = pw
	}
	if r := e.changePassword(token, current, first); r.status != 400 || r.code() != "weak_password" || !strings.Contains(errMessage(r), "last 5") {
		t.Fatalf("reusing the password of four changes ago: %d %v", r.status, r.body)
	}
	if r := e.changePassword(token, current, "Orbit-Kettle-2026!e"); r.status != 200 {
		t.Fatal(r.body)
	}
	if r := e.changePassword(token, "Orbit-Kettle-2026!e", first); r.status != 200 {
		t.Fatalf("a password six back may return: %d %v", r.status, r.body)
	}
}

func TestAnExpiredPasswordOpensASessionThatMayOnlyChangeIt(t *testing.T) {
	e := start(t)
	e.signInMFA("auditadmin")
	e.clock.advance(89 * 24 * time.Hour)
	r := e.loginMFA("auditadmin")
	if r.status != 201 || r.body["password_expired"] != false || r.body["password_change_required"] != false {
		t.Fatalf("89 days after the change: %d %v", r.status, r.body)
	}
	e.clock.advance(2 * 24 * time.Hour)
	r = e.loginMFA("auditadmin")
	if r.status != 201 || r.body["password_expired"] != true || r.body["password_change_required"] != true ||
		r.body["session"].(map[string]any)["restricted"] != true {
		t.Fatalf("91 days after the change: %d %v", r.status, r.body)
	}
	token := r.body["token"].(string)
	if r := e.call("GET", "/api/v1/audit", token, ""); r.status != 403 || r.code() != "password_change_required" {
		t.Fatalf("an expired password's session searching the audit log: %d %v", r.status, r.body)
	}
	if r := e.changePassword(token, e.admins["auditadmin"], "Fresh-Orbit-Kettle-2026!"); r.status != 200 {
		t.Fatalf("change: %d %v", r.status, r.body)
	}
	e.admins["auditadmin"] = "Fresh-Orbit-Kettle-2026!"
	if r := e.call("GET", "/api/v1/audit", token, ""); r.status != 200 {
		t.Fatalf("after the change: %d %v", r.status, r.body)
	}
	if r := e.loginMFA("auditadmin"); r.status != 201 || r.body["password_expired"] != false {
		t.Fatalf("the next login: %d %v", r.status, r.body)
	}
}

func TestAccountCreationRefusesHiddenCharactersAndMalformedContacts(t *testing.T) {
	e := start(t)
	sec, _ := e.signInMFA("secadmin")
	roles10k, _ := json.Marshal(map[string]any{"username": "many", "roles": func() []string {
		r := make([]string, 10_000)
		for i := range r {
			r[i] = "worker"
		}
		return r
	}()})
	for i, body := range []string{
		`{"username":"evil\nadmin","roles":["worker"]}`,
		`{"username":"admin\u202etxt.exe","roles":["worker"]}`,
		`{"username":"sec\u200badmin","roles":["worker"]}`,
		`{"username":"two words","roles":["worker"]}`,
		`{"username":"w1","roles":["worker","worker"]}`,
		string(roles10k),
		`{"username":"w1","roles":["worker"],"email":"@"}`,
		`{"username":"w1","roles":["worker"],"email":"a@b"}`,
		`{"username":"w1","roles":["worker"],"phone":"+"}`,
		`{"username":"w1","roles":["worker"],"phone":"138 1234 5678"}`,
	} {
		r := e.call("POST", "/api/v1/accounts", sec, body, "Idempotency-Key", fmt.Sprintf("bad-%d", i))
		if r.status != 400 || r.code() != "invalid_request" {
			t.Errorf("%.60s: %d %v", body, r.status, r.body)
		}
	}
	before := e.clock.Now()
	r := e.confirmed("POST", "/api/v1/accounts", sec, `{"username":"ｏｐｓ１","roles":["worker"],"email":"ops1@example.cn","phone":"13812345678"}`, "good")
	if r.status != 201 {
		t.Fatalf("create: %d %v", r.status, r.body)
	}
	acct := r.body["account"].(map[string]any)
	created, err := time.Parse(time.RFC3339Nano, acct["created"].(string))
	if err != nil || created.Before(before.Add(-time.Second)) || created.After(e.clock.Now().Add(time.Second)) {
		t.Fatalf("created %v (%v), want about %v", acct["created"], err, before)
	}
	if acct["username"] != "ops1" {
		t.Fatalf("a full-width username was stored as %q", acct["username"])
	}
	if r := e.confirmed("POST", "/api/v1/accounts", sec, `{"username":"OPS1","roles":["worker"]}`, "twin"); r.status != 409 {
		t.Fatalf("the ASCII twin of a full-width name: %d %v", r.status, r.body)
	}
}

func TestAnAccountClearedAboveTheCallerAnswersAsIfAbsent(t *testing.T) {
	e, box := startWithMail(t)
	sec, _ := e.signInMFA("secadmin")
	apr := e.proposed("POST", "/api/v1/accounts", sec, `{"username":"sec2","roles":["security_admin"],"clearance":2,"email":"sec2@example.cn"}`, "s2")
	if created := e.approve(e.signIn("sysadmin"), apr, "s2-ok"); created.status != 200 {
		t.Fatalf("create: %d %v", created.status, created.body)
	}
	e.admins["sec2"] = box.mailedPassword(t, "sec2@example.cn")
	sec2, _ := e.signInMFA("sec2")
	// A merchant operator: a worker would need an SMS code to log in.
	worker := e.confirmed("POST", "/api/v1/accounts", sec, `{"username":"w5","roles":["merchant_operator"]}`, "w5")
	w := e.login("w5", worker.body["one_time_password"].(string)).body["token"].(string)
	w = func() string {
		e.changePassword(w, worker.body["one_time_password"].(string), "Worker-Orbit-2026!")
		return w
	}()

	type probe struct{ method, path, body, key string }
	probes := []probe{
		{"POST", "/api/v1/accounts/%s/unmask", `{"reason":"looking around"}`, "k1"},
		{"POST", "/api/v1/accounts/%s/unmask", `{"reason":"looking around"}`, ""},
		{"POST", "/api/v1/accounts/%s/unlock", "", "k2"},
		{"POST", "/api/v1/accounts/%s/roles", `{"roles":["worker"]}`, "k3"},
		{"POST", "/api/v1/accounts/%s/close", "", "k4"},
		{"DELETE", "/api/v1/accounts/%s/sessions", "", ""},
	}
	ask := func(token string, p probe, id string) (int, string, string) {
		var r reply
		if p.key != "" {
			r = e.call(p.method, fmt.Sprintf(p.path, id), token, p.body, "Idempotency-Key", p.key+id)
		} else {
			r = e.call(p.method, fmt.Sprintf(p.path, id), token, p.body)
		}
		return r.status, r.code(), strings.ReplaceAll(errMessage(r), id, "<id>")
	}
	compare := func(who, token string) {
		for _, p := range probes {
			hs, hc, hm := ask(token, p, "acct-sysadmin") // cleared 4
			as, ac, am := ask(token, p, "acct-0123456789abcdef")
			if hs != as || hc != ac || hm != am || hs < 400 {
				t.Errorf("%s, %s %s: cleared above %d %s %q; absent %d %s %q", who, p.method, p.path, hs, hc, hm, as, ac, am)
			}
			if strings.Contains(hm, "label") || strings.Contains(hm, "clearance") {
				t.Errorf("%s, %s %s: the answer names the label: %q", who, p.method, p.path, hm)
			}
		}
	}
	compare("a security admin cleared 2", sec2)
	compare("a worker", w)
	e.clock.advance(6 * time.Minute) // no fresh step-up: the same answer either way
	compare("a security admin cleared 2 without a step-up", sec2)
	// The audit record keeps the truth.
	audit := e.signIn("auditadmin")
	r := e.call("GET", "/api/v1/audit?result=not_found", audit, "")
	found := false
	for _, x := range r.body["entries"].([]any) {
		en := x.(map[string]any)
		if en["object"] == "acct-sysadmin" && strings.Contains(fmt.Sprint(en["reason"]), "label") {
			found = true
		}
	}
	if !found {
		t.Fatalf("no audit record says the refusal was the label: %v", r.body["entries"])
	}
}
