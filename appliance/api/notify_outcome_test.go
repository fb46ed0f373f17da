package api_test

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"cxt/appliance/notify"
)

func TestDeliveryOutcomesAreAuditedAndAMissingChannelIsSettled(t *testing.T) {
	down := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "down", http.StatusBadGateway)
	}))
	defer down.Close()
	// SMS goes to a provider that is down; e-mail has no provider at all.
	e := startWith(t, &notify.Config{SMSWebhook: down.URL})
	sec, _ := e.signInMFA("secadmin")
	created := e.confirmed("POST", "/api/v1/accounts", sec,
		`{"username":"worker-li","roles":["merchant_operator"],"email":"li@example.cn","phone":"13912345678"}`, "create-li")
	if created.status != 201 {
		t.Fatalf("create: %d %v", created.status, created.body)
	}
	otp := created.body["one_time_password"].(string)
	worker := e.login("worker-li", otp).body["token"].(string)
	if r := e.changePassword(worker, otp, "Worker-Orbit-2026!"); r.status != 200 {
		t.Fatalf("worker password: %d %v", r.status, r.body)
	}
	delivery := func(channel string) map[string]any {
		list := e.call("GET", "/api/v1/me/notifications", worker, "")
		for _, x := range list.body["notifications"].([]any) {
			if n := x.(map[string]any); n["event"] == "login.new_address" {
				return n["deliveries"].(map[string]any)[channel].(map[string]any)
			}
		}
		t.Fatalf("no new-address notification: %v", list.body)
		return nil
	}
	eventually(t, "the e-mail delivery settled as not_configured", func() bool {
		d := delivery("email")
		return d["status"] == "not_configured" && d["attempts"].(float64) == 1
	})
	eventually(t, "a failed SMS attempt", func() bool { return delivery("sms")["attempts"].(float64) >= 1 })
	// Time passes well beyond every backoff: the unconfigured channel is
	// never tried again.
	for range 3 {
		e.clock.advance(10 * time.Minute)
		e.call("GET", "/api/v1/me", worker, "")
		time.Sleep(150 * time.Millisecond)
	}
	if d := delivery("email"); d["status"] != "not_configured" || d["attempts"].(float64) != 1 {
		t.Fatalf("the unconfigured channel was retried: %v", d)
	}
	audit := e.signIn("auditadmin")
	results := map[string]int{}
	for _, x := range e.call("GET", "/api/v1/audit?type=notify.result", audit, "").body["entries"].([]any) {
		results[x.(map[string]any)["result"].(string)]++
	}
	if results["delivery_failed"] == 0 || results["not_configured"] == 0 {
		t.Fatalf("delivery outcomes in the audit log: %v (want delivery_failed and not_configured)", results)
	}
	if results["ok"] != 0 {
		t.Fatalf("a delivery that never happened is audited ok: %v", results)
	}
}
