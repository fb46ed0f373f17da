package api_test

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"cxt/appliance/payouts"
	"cxt/crypto/sm"
	"cxt/policy"
)

// Through a real node: the rows of a batch are decided by the payout rules
// of the bundle the leader stored; each payment shows the decision, and
// platform staff have it explained — the canonical input, whose SM3 is the
// one shown, and a replay by the bundle in force that agrees. A merchant
// sees the decision, never the input; a hold that is not a risk rule's is
// not a reviewer's to clear.
func TestAPaymentsRiskDecisionIsRecordedAndExplained(t *testing.T) {
	w := payoutWorld(t)
	e := w.e
	up := e.uploadBatch(w.idA, w.clerkA, payFile("risk-1",
		payRow(w.wA, w.taskA, `"3000.00"`),
		payRow(w.wA, w.taskA, `"30000.00"`), // beyond what A holds: held for the balance
	))
	if up.status != 201 {
		t.Fatalf("upload: %d %v", up.status, up.body)
	}
	batch := up.body["batch"].(string)
	e.stepUp(w.bossA, "boss-a")
	if r := e.confirmed("POST", "/api/v1/payout-batches/"+batch+"/confirm", w.bossA, "", "risk-1"); r.status != 202 {
		t.Fatalf("confirm: %d %v", r.status, r.body)
	}
	e.settled(w.bossA, batch)
	paid, held := payouts.PaymentID(batch, 1), payouts.PaymentID(batch, 2)

	p := e.call("GET", "/api/v1/payments/"+paid, w.bossA, "")
	risk, _ := p.body["risk"].(map[string]any)
	if p.status != 200 || risk["outcome"] != "allow" || risk["rule"] != "" || risk["bundle"] != "embedded" || len(risk["bundle_sm3"].(string)) != 64 {
		t.Fatalf("the paid payment's decision: %d %v", p.status, p.body)
	}
	if _, ok := p.body["input"]; ok {
		t.Fatal("a merchant sees the decision's input")
	}
	if r := e.call("GET", "/api/v1/payments/"+paid+"/risk", w.bossA, ""); r.status != 403 {
		t.Fatalf("a merchant asking for the explanation: %d %v", r.status, r.body)
	}

	x := e.call("GET", "/api/v1/payments/"+paid+"/risk", w.reviewer, "")
	if x.status != 200 || x.body["outcome"] != "allow" || x.body["input_sm3"] != risk["input_sm3"] {
		t.Fatalf("the explanation: %d %v", x.status, x.body)
	}
	input := x.body["input"].(map[string]any)
	canonical, err := json.Marshal(input) // sorted keys, no spaces: the canonical form
	if err != nil {
		t.Fatal(err)
	}
	if sum := sm.Sum(canonical); hex.EncodeToString(sum[:]) != x.body["input_sm3"] {
		t.Fatalf("the input's SM3 is not the one shown: %s", canonical)
	}
	worker := input["worker"].(map[string]any)
	if input["amount_fen"] != 300000.0 || worker["id"] != w.wA || worker["verified"] != true || worker["signed"] != true {
		t.Fatalf("the input: %s", canonical)
	}
	replay := x.body["replay"].(map[string]any)
	if replay["same"] != true || replay["bundle_sm3"] != risk["bundle_sm3"] {
		t.Fatalf("the replay: %v", replay)
	}

	// A policy that puts merchant A on the black list: its preview counts
	// the payout decisions of the last 30 days it would change — the paid
	// 3,000.00 and the 30,000.00 held for the balance (which the rules
	// allowed) would be refused — and names no payment.
	lower := signedPolicy(t, e, w.sec, "black-a", func(f policy.Files) {
		f["risk/data.json"] = strings.Replace(f["risk/data.json"], `"merchants": []`, fmt.Sprintf(`"merchants": [%q]`, w.idA), 1)
	})
	e.stepUp(w.sec, "secadmin")
	pv := e.call("PUT", "/api/v1/policy", w.sec, lower, "Idempotency-Key", "lower-limit")
	preview, _ := pv.body["preview"].(map[string]any)
	advice, _ := preview["advice"].(map[string]any)
	decisions, _ := advice["payout_decisions"].(map[string]any)
	if pv.status != 200 || decisions["replayed"] != 2.0 || decisions["changed"] != 2.0 || fmt.Sprint(decisions["by_change"]) != "map[allow→reject:2]" || decisions["examples"] != nil {
		t.Fatalf("the policy preview's payout decisions: %d %v", pv.status, pv.body)
	}

	if r := e.call("POST", "/api/v1/payments/"+held+"/risk/clear", w.reviewer, `{"note":"looked"}`); r.status != 409 || r.code() != "payment_not_risk_held" {
		t.Fatalf("clearing a balance hold: %d %v", r.status, r.body)
	}
	if r := e.call("POST", "/api/v1/payments/"+held+"/risk/clear", w.bossA, `{"note":"mine"}`); r.status != 403 {
		t.Fatalf("a merchant clearing its own hold: %d %v", r.status, r.body)
	}
}
