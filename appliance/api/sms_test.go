package api_test

import (
	"fmt"
	"testing"
	"time"

	"cxt/appliance/identity"
	"cxt/appliance/notify"
)

// workerAccount has a security administrator open a worker's account with
// a phone; it returns the one-time password.
func (e *env) workerAccount(sec, username, phone string) string {
	e.t.Helper()
	r := e.confirmed("POST", "/api/v1/accounts", sec, fmt.Sprintf(`{"username":%q,"roles":["worker"],"phone":%q}`, username, phone), "create-"+username)
	if r.status != 201 {
		e.t.Fatalf("create %s: %d %v", username, r.status, r.body)
	}
	return r.body["one_time_password"].(string)
}

func (e *env) smsLogin(username, password, loginID, code string) reply {
	return e.call("POST", "/api/v1/sessions", "", fmt.Sprintf(`{"username":%q,"password":%q,"sms_login_id":%q,"sms_code":%q}`, username, password, loginID, code))
}

func (e *env) askSMS(username, password string) reply {
	return e.call("POST", "/api/v1/sessions/sms", "", fmt.Sprintf(`{"username":%q,"password":%q}`, username, password))
}

// Workers sign in with their password and an SMS code (§9). The code goes
// by SMS to the account's phone only after a right password, opens one
// session of that account, within its five minutes; a wrong, expired,
// reused or someone else's code is refused as a failed login and counts
// toward the captcha and the lock.
func TestWorkersSignInWithAPasswordAndAnSMSCode(t *testing.T) {
	box, hook := startSMS(t)
	e := startWith(t, &notify.Config{SMSWebhook: hook})
	sec, _ := e.signInMFA("secadmin")
	pw1 := e.workerAccount(sec, "worker-li", "13900001111")
	pw2 := e.workerAccount(sec, "worker-wang", "13900002222")
	const marker = "登录验证码"

	// The password alone does not open a worker's session, and does not count.
	if r := e.login("worker-li", pw1); r.status != 401 || r.code() != "sms_code_required" {
		t.Fatalf("a worker's password alone: %d %v", r.status, r.body)
	}
	// A wrong password sends nothing.
	if r := e.askSMS("worker-li", "Wrong-Password-1!"); r.status != 401 || r.code() != "invalid_credentials" {
		t.Fatalf("a code for a wrong password: %d %v", r.status, r.body)
	}
	// The right one sends a code to the account's phone, one a minute.
	asked := e.askSMS("worker-li", pw1)
	if asked.status != 201 || asked.body["sent_to"] != "139****1111" {
		t.Fatalf("ask: %d %v", asked.status, asked.body)
	}
	code1 := box.code(t, "13900001111", marker, 0)
	if r := e.askSMS("worker-li", pw1); r.status != 429 || r.code() != "rate_limited" {
		t.Fatalf("a second code within a minute: %d %v", r.status, r.body)
	}
	if box.count("13900001111", marker) != 1 || box.count("13900002222", marker) != 0 {
		t.Fatal("a code went where it should not")
	}
	id1 := asked.body["sms_login_id"].(string)

	// Wrong: a wrong code, and the right code with the other worker's name
	// and password. Each counts.
	wrong := "000000"
	if code1 == wrong {
		wrong = "111111"
	}
	if r := e.smsLogin("worker-li", pw1, id1, wrong); r.status != 401 || r.code() != "invalid_credentials" {
		t.Fatalf("a wrong code: %d %v", r.status, r.body)
	}
	if r := e.smsLogin("worker-wang", pw2, id1, code1); r.status != 401 || r.code() != "invalid_credentials" {
		t.Fatalf("one account's code for another: %d %v", r.status, r.body)
	}

	// Right: a session with the second factor, restricted to the password
	// change a one-time password needs.
	r := e.smsLogin("worker-li", pw1, id1, code1)
	if r.status != 201 || r.body["session"].(map[string]any)["mfa"] != true || r.body["password_change_required"] != true {
		t.Fatalf("password and code: %d %v", r.status, r.body)
	}
	if su := r.body["session"].(map[string]any)["step_up_until"]; su != nil && su != "0001-01-01T00:00:00Z" {
		t.Fatalf("an SMS login counts as a step-up: %v", r.body["session"])
	}
	// Reused: the code opened its session and is gone.
	if r := e.smsLogin("worker-li", pw1, id1, code1); r.status != 401 || r.code() != "invalid_credentials" {
		t.Fatalf("a reused code: %d %v", r.status, r.body)
	}

	// Expired: five minutes after it was sent.
	asked = e.askSMS("worker-wang", pw2)
	if asked.status != 201 {
		t.Fatalf("ask: %d %v", asked.status, asked.body)
	}
	code2 := box.code(t, "13900002222", marker, 0)
	e.clock.advance(identity.SMSCodeLifetime + time.Second)
	if r := e.smsLogin("worker-wang", pw2, asked.body["sms_login_id"].(string), code2); r.status != 401 || r.code() != "invalid_credentials" {
		t.Fatalf("an expired code: %d %v", r.status, r.body)
	}
	// Failures count toward the captcha and the lock like wrong passwords:
	// worker-wang has two (the other's code, the expired one); a third —
	// a right code under another login — and a captcha is due.
	if r := e.smsLogin("worker-wang", pw2, "0123456789abcdef", code2); r.status != 401 || r.code() != "invalid_credentials" {
		t.Fatalf("the code under another login: %d %v", r.status, r.body)
	}
	if r := e.askSMS("worker-wang", pw2); r.status != 401 || r.code() != "captcha_required" {
		t.Fatalf("after three failed codes, a code without a captcha: %d %v", r.status, r.body)
	}
	id := e.call("GET", "/api/v1/captcha", "", "").body["captcha_id"].(string)
	r = e.call("POST", "/api/v1/sessions/sms", "", fmt.Sprintf(`{"username":"worker-wang","password":%q,"captcha_id":%q,"captcha_answer":%q}`, pw2, id, e.captchaDigits(id)))
	if r.status != 201 {
		t.Fatalf("a code with a captcha: %d %v", r.status, r.body)
	}

	// Staff never sign in with an SMS code.
	if r := e.askSMS("secadmin", e.admins["secadmin"]); r.status != 403 || r.code() != "sms_not_allowed" {
		t.Fatalf("a staff SMS login: %d %v", r.status, r.body)
	}
	if r := e.smsLogin("secadmin", e.admins["secadmin"], id1, code1); r.status != 401 || r.code() != "invalid_credentials" {
		t.Fatalf("a staff login with an SMS code: %d %v", r.status, r.body)
	}
	// The codes are nowhere in the state once sent.
	eventually(t, "the SMS secrets forgotten after delivery", func() bool {
		return !e.stored(code1, notify.SecretsBucket, identity.SMSLoginsBucket) && !e.stored(code2, notify.SecretsBucket, identity.SMSLoginsBucket)
	})
}
