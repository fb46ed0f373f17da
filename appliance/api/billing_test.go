package api_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"cxt/appliance/billing"
)

// awayFromMidnight moves the test's clock, before anyone signs in, to a
// time of day in China that leaves hours before midnight: fee versions take
// effect by China's day, and a preview and its confirm must fall on one.
func (e *env) awayFromMidnight() {
	if h := e.clock.Now().In(billing.China).Hour(); h >= 18 {
		e.clock.advance(time.Duration(24-h+9) * time.Hour)
	}
}

func fees(effective billing.Date, timing, rules string) string {
	return fmt.Sprintf(`{"effective":%q,"timing":%q,"rules":%s}`, effective, timing, rules)
}

func errField(r reply) string {
	e, _ := r.body["error"].(map[string]any)
	f, _ := e["field"].(string)
	return f
}

// A platform operator sets a merchant's fees through preview and confirm;
// the merchant's users and platform staff read every version and preview
// what an amount would be charged, each fee with the rule that produced
// it; another merchant's users see neither, and bad money is refused
// before anything is recorded.
func TestMerchantFeesAreSetReadAndPreviewedInTheirTenant(t *testing.T) {
	e := start(t)
	e.awayFromMidnight()
	sec, _ := e.signInMFA("secadmin")
	reviewer := e.staff(sec, "platform_reviewer", "reviewer-1")
	operator := e.staff(sec, "platform_operator", "operator-1")
	idA, bossA := e.approvedMerchant(reviewer, "福州某某科技有限公司", usccA, "boss-a", "13800001111")
	idB, bossB := e.approvedMerchant(reviewer, "太原某某服务有限公司", usccB, "boss-b", "13800002222")
	clerk := func(boss, merchant, username, phone string) string {
		op := e.confirmed("POST", "/api/v1/merchants/"+merchant+"/operators", boss, fmt.Sprintf(`{"username":%q,"phone":%q}`, username, phone), "op-"+username)
		if op.status != 201 {
			t.Fatalf("add operator %s: %d %v", username, op.status, op.body)
		}
		return e.tenantSignIn(username, op.body["one_time_password"].(string))
	}
	clerkA := clerk(bossA, idA, "clerk-a", "13900004444")
	clerkB := clerk(bossB, idB, "clerk-b", "13900005555")
	e.stepUp(operator, "operator-1")

	today := billing.Day(e.clock.Now())
	tomorrow := billing.Day(e.clock.Now().Add(24 * time.Hour))
	yesterday := billing.Day(e.clock.Now().Add(-24 * time.Hour))
	path := "/api/v1/merchants/" + idA + "/billing"
	v1 := fees(today, "during", `[{"name":"服务费","kind":"percentage","rate":"0.0060","min":"2.00","max":"50.00"},{"name":"通道费","kind":"fixed","amount":"1.50"}]`)

	// Bad money and nonsense are refused before a preview, with their field
	// where the model names one.
	for _, c := range []struct {
		name, body, code, field, says string
		status                        int
	}{
		{"a rate as a JSON number", fees(today, "during", `[{"name":"x","kind":"percentage","rate":0.06}]`), "invalid_request", "", "never a JSON number", 400},
		{"an amount as a JSON number", fees(today, "during", `[{"name":"x","kind":"fixed","amount":2}]`), "invalid_request", "", "never a JSON number", 400},
		{"a negative rate", fees(today, "during", `[{"name":"x","kind":"percentage","rate":"-0.06"}]`), "invalid_request", "", "is negative", 400},
		{"a fee to the tenth of a fen", fees(today, "during", `[{"name":"x","kind":"fixed","amount":"1.005"}]`), "invalid_request", "", "has 3 decimals", 400},
		{"a rate to five places", fees(today, "during", `[{"name":"x","kind":"percentage","rate":"0.06001"}]`), "invalid_request", "", "has 5 decimals", 400},
		{"a minimum above the maximum", fees(today, "during", `[{"name":"x","kind":"percentage","rate":"0.06","min":"9","max":"5"}]`), "invalid_request", "rules[0].max", "below the minimum", 400},
		{"tiers that fall", fees(today, "during", `[{"name":"x","kind":"tiered","mode":"marginal","tiers":[{"up_to":"500","rate":"0.05"},{"up_to":"100","rate":"0.03"},{"rate":"0.01"}]}]`), "invalid_request", "rules[0].tiers[1].up_to", "tiers rise", 400},
		{"an unknown timing", fees(today, "monthly", `[]`), "invalid_request", "timing", "", 400},
		{"a key in another case", strings.Replace(v1, `"timing"`, `"Timing"`, 1), "invalid_request", "", "", 400},
		{"a version from yesterday", fees(yesterday, "during", `[]`), "billing_backdated", "effective", "never re-priced", 400},
	} {
		r := e.call("POST", path, operator, c.body, "Idempotency-Key", "bad-"+c.name)
		if r.status != c.status || r.code() != c.code || errField(r) != c.field || !strings.Contains(errMessage(r), c.says) {
			t.Errorf("%s: %d %v", c.name, r.status, r.body)
		}
	}

	// Only a platform operator sets fees.
	for who, token := range map[string]string{"the merchant's administrator": bossA, "a reviewer": reviewer, "the merchant's operator": clerkA} {
		if r := e.call("POST", path, token, v1, "Idempotency-Key", "not-"+who); r.status != 403 || r.code() != "forbidden" {
			t.Errorf("%s setting fees: %d %v", who, r.status, r.body)
		}
	}

	// The preview says what the version is and what it charges.
	p := e.call("POST", path, operator, v1, "Idempotency-Key", "fees-a-1")
	preview, _ := p.body["preview"].(map[string]any)
	impact, _ := preview["impact"].(map[string]any)
	if p.status != 200 || impact["version"] != 1.0 || impact["effective"] != string(today) || impact["replaces"] != nil || len(preview["risks"].([]any)) < 2 {
		t.Fatalf("preview: %d %v", p.status, p.body)
	}
	examples := impact["examples"].(map[string]any)
	if examples["total"] != "62.50" { // 2.00 + 1.50, 6.00 + 1.50, 50.00 (60.00 capped) + 1.50
		t.Fatalf("the preview's examples: %v", examples)
	}
	capped := examples["payments"].([]any)[2].(map[string]any)["charges"].([]any)[0].(map[string]any)
	if capped["amount"] != "50.00" || capped["explain"] != "0.60% of 10000.00 = 60, capped at the maximum 50.00 = 50.00" {
		t.Fatalf("the 10,000 example: %v", capped)
	}
	r := e.call("POST", path, operator, v1, "Idempotency-Key", "fees-a-1", "X-Confirm-Token", p.body["confirm_token"].(string))
	cfg, _ := r.body["config"].(map[string]any)
	if r.status != 201 || cfg["version"] != 1.0 || cfg["by"] == nil || cfg["effective"] != string(today) {
		t.Fatalf("confirm: %d %v", r.status, r.body)
	}
	if again := e.call("POST", path, operator, v1, "Idempotency-Key", "fees-a-1", "X-Confirm-Token", p.body["confirm_token"].(string)); again.status != 201 || again.body["config"].(map[string]any)["version"] != 1.0 {
		t.Fatalf("a repeat of the confirm: %d %v", again.status, again.body)
	}

	// A second version from tomorrow, charged on the period's statement
	// with tiers of the period's volume; a third on the same day is refused.
	v2 := fees(tomorrow, "after", `[{"name":"阶梯服务费","kind":"tiered","mode":"marginal","tiers":[{"up_to":"10000","rate":"0.05"},{"rate":"0.03"}],"min":"100"}]`)
	if r := e.confirmed("POST", path, operator, v2, "fees-a-2"); r.status != 201 || r.body["config"].(map[string]any)["version"] != 2.0 {
		t.Fatalf("version 2: %d %v", r.status, r.body)
	}
	if r := e.call("POST", path, operator, fees(tomorrow, "during", `[]`), "Idempotency-Key", "fees-a-3"); r.status != 409 || r.code() != "billing_version" || errField(r) != "effective" {
		t.Fatalf("a third version on the second's day: %d %v", r.status, r.body)
	}

	// The merchant's users and platform staff read every version.
	for who, token := range map[string]string{"its administrator": bossA, "its operator": clerkA, "a reviewer": reviewer, "the operator": operator} {
		r := e.call("GET", path, token, "")
		versions, _ := r.body["versions"].([]any)
		if r.status != 200 || len(versions) != 2 || r.body["current"] != 1.0 || r.body["today"] != string(today) {
			t.Fatalf("%s reading the fees: %d %v", who, r.status, r.body)
		}
		first := versions[0].(map[string]any)
		if rules := first["rules"].([]any); rules[0].(map[string]any)["rate"] != "0.0060" || rules[1].(map[string]any)["amount"] != "1.50" || first["created"] == nil {
			t.Fatalf("version 1 as read: %v", first)
		}
	}

	// A preview prices amounts under the version in force on the day.
	q := e.call("POST", path+"/preview", clerkA, `{"amount":"1000.00"}`)
	pay, _ := q.body["payments"].([]any)
	if q.status != 200 || q.body["total"] != "7.50" || len(pay) != 1 || q.body["date"] != string(today) || q.body["config"].(map[string]any)["version"] != 1.0 {
		t.Fatalf("preview of 1000.00: %d %v", q.status, q.body)
	}
	charges := pay[0].(map[string]any)["charges"].([]any)
	if c := charges[0].(map[string]any); c["rule"] != "服务费" || c["amount"] != "6.00" || c["explain"] != "0.60% of 1000.00 = 6.00" {
		t.Fatalf("the percentage charge: %v", c)
	}
	if c := charges[1].(map[string]any); c["rule"] != "通道费" || c["kind"] != "fixed" || c["amount"] != "1.50" {
		t.Fatalf("the fixed charge: %v", c)
	}
	if q := e.call("POST", path+"/preview", bossA, `{"amounts":["100","0.01","99999.99"]}`); q.status != 200 || q.body["total"] != "58.50" { // 3.50 + 3.50 + 51.50 — fixed fees on top, never capped at the amount
		t.Fatalf("preview of a list: %d %v", q.status, q.body)
	}
	s := e.call("POST", path+"/preview", reviewer, fmt.Sprintf(`{"amounts":["6000.00","6000.00","3000.00"],"date":%q}`, tomorrow))
	st, _ := s.body["statement"].(map[string]any)
	if s.status != 200 || s.body["total"] != "650.00" || st["base"] != "15000.00" || st["payments"] != 3.0 || s.body["payments"] != nil {
		t.Fatalf("tomorrow's statement: %d %v", s.status, s.body) // 5% of 10000.00 + 3% of 5000.00
	}

	// Bad amounts in a preview.
	for _, c := range []struct{ name, body, says string }{
		{"a JSON number", `{"amount":1000}`, "never a JSON number"},
		{"a negative amount", `{"amount":"-1.00"}`, "is negative"},
		{"a tenth of a fen", `{"amounts":["1.001"]}`, "has 3 decimals"},
		{"both an amount and a list", `{"amount":"1","amounts":["2"]}`, "either amount"},
		{"nothing to price", `{}`, "either amount"},
		{"an empty list", `{"amounts":[]}`, "1 to 1000"},
		{"a day that does not exist", `{"amount":"1","date":"2026-02-30"}`, "not a date"},
	} {
		if r := e.call("POST", path+"/preview", clerkA, c.body); r.status != 400 || r.code() != "invalid_request" || !strings.Contains(errMessage(r), c.says) {
			t.Errorf("preview with %s: %d %v", c.name, r.status, r.body)
		}
	}

	// Another merchant's users: A's fees are not there for them.
	for who, token := range map[string]string{"B's administrator": bossB, "B's operator": clerkB} {
		if r := e.call("GET", path, token, ""); r.status != 404 || r.code() != "not_found" {
			t.Errorf("%s reading A's fees: %d %v", who, r.status, r.body)
		}
		if r := e.call("POST", path+"/preview", token, `{"amount":"1000.00"}`); r.status != 404 || r.code() != "not_found" {
			t.Errorf("%s previewing under A's fees: %d %v", who, r.status, r.body)
		}
	}
	// B has no fees: nothing is charged, and the answer says why.
	if r := e.call("POST", "/api/v1/merchants/"+idB+"/billing/preview", clerkB, `{"amount":"1000.00"}`); r.status != 200 || r.body["total"] != "0.00" || r.body["config"] != nil || r.body["note"] == nil {
		t.Fatalf("B's preview without fees: %d %v", r.status, r.body)
	}

	// No fees for a merchant that is not there, or closed.
	if r := e.call("POST", "/api/v1/merchants/m_0000000000000000/billing", operator, v1, "Idempotency-Key", "fees-none"); r.status != 404 || r.code() != "not_found" {
		t.Errorf("fees for no merchant: %d %v", r.status, r.body)
	}
	e.stepUp(bossB, "boss-b")
	if r := e.confirmed("POST", "/api/v1/merchants/"+idB+"/close", bossB, `{"reason":"we stop outsourcing"}`, "close-b"); r.status != 200 {
		t.Fatalf("close B: %d %v", r.status, r.body)
	}
	if r := e.call("POST", "/api/v1/merchants/"+idB+"/billing", operator, v1, "Idempotency-Key", "fees-b"); r.status != 409 || r.code() != "merchant_status" {
		t.Errorf("fees for a closed merchant: %d %v", r.status, r.body)
	}

	// Each version set is in the audit log as the change it made, with
	// the route's action and the merchant.
	runs := 0
	for _, x := range e.audited(billing.CmdSet) {
		if x.Action == "billing.set" && x.Object == idA && x.Result == "ok" {
			runs++
		}
	}
	if runs != 2 {
		t.Fatalf("%d audited versions set, want 2", runs)
	}
}
