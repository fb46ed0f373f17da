package api_test

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"cxt/appliance/payouts"
	"cxt/appliance/reconcile"
)

// Reconciliation over the API: a platform operator imports a channel's
// statement (refused whole when a line repeats; once only), its
// differences become cases; an operator proposes an adjustment and only a
// reviewer, never the maker, approves it; each merchant downloads its own
// reconciliation file and no other's.
func TestAStatementIsReconciledAndAnAdjustmentTakesTwoPeople(t *testing.T) {
	e := start(t)
	sec, _ := e.signInMFA("secadmin")
	reviewer := e.staff(sec, "platform_reviewer", "reviewer-1")
	op1 := e.staff(sec, "platform_operator", "operator-1")
	idA, bossA := e.approvedMerchant(reviewer, "福州某某科技有限公司", usccA, "boss-a", "13800001111")
	idB, _ := e.approvedMerchant(reviewer, "太原某某服务有限公司", usccB, "boss-b", "13800002222")

	lines := []reconcile.Line{
		{Ref: "pb-nobody-000001", BankRef: "BK1", Fen: 100_00, Status: "paid", Date: 20260310},
		{Ref: "pb-nobody-000002", BankRef: "BK2", Fen: 250_50, Status: "failed", Date: 20260310},
	}
	file := string(reconcile.WriteStatement(lines))
	post := func(token, body string) reply {
		return e.call("POST", "/api/v1/reconcile/statements?channel=sandbox&day=2026-03-10", token, body, "Content-Type", "text/csv")
	}
	// A day not over in China has no statement yet.
	today := e.clock.Now().In(payouts.China).Format("2006-01-02")
	if r := e.call("POST", "/api/v1/reconcile/statements?channel=sandbox&day="+today, op1, file, "Content-Type", "text/csv"); r.status != 409 || r.code() != "recon_day_open" {
		t.Fatalf("today's statement: %d %v", r.status, r.body)
	}
	rows := strings.SplitAfter(file, "\n")
	if r := post(op1, rows[0]+rows[1]+rows[1]+rows[2]+rows[3]); r.status != 400 || r.code() != "recon_line_duplicate" || !strings.Contains(r.message(), "line 3") {
		t.Fatalf("a line twice: %d %v", r.status, r.body)
	}
	if r := post(reviewer, file); r.status != 403 {
		t.Fatalf("a reviewer importing: %d %v", r.status, r.body)
	}
	r := post(op1, file)
	if r.status != 201 || len(r.body["differences"].([]any)) != 2 {
		t.Fatalf("import: %d %v", r.status, r.body)
	}
	d := r.body["differences"].([]any)[0].(map[string]any)
	caseID := d["case"].(string)
	if d["class"] != "missing_platform" || d["line"] != float64(2) {
		t.Fatalf("first difference: %v", d)
	}
	if r := post(op1, file); r.status != 409 || r.code() != "recon_statement_imported" {
		t.Fatalf("the same file again: %d %v", r.status, r.body)
	}
	if r := e.call("GET", "/api/v1/reconcile/cases", reviewer, ""); r.status != 200 || len(r.body["cases"].([]any)) != 2 {
		t.Fatalf("cases: %d %v", r.status, r.body)
	}
	if r := e.call("POST", "/api/v1/reconcile/cases/"+caseID+"/steps", op1, `{"action":"investigate","note":"asked the bank"}`); r.status != 200 || r.body["status"] != "investigating" {
		t.Fatalf("investigate: %d %v", r.status, r.body)
	}

	// B's transfer of 300.00 came in with A's remittance code: credited to
	// A, and 100.00 of it was B's.
	codeA := e.call("POST", "/api/v1/merchants/"+idA+"/funding", op1, "").body["remittance_code"].(string)
	if r := e.importStatement(op1, "", statementRow("R001", "300.00", "", "货款 "+codeA)); r.status != 201 || lineStatuses(r) != "matched/"+idA {
		t.Fatalf("the top-up: %d %v", r.status, r.body)
	}
	// The adjustment: balanced, on accounts the auditor can account for.
	adjust := func(lines string) reply {
		return e.call("POST", "/api/v1/reconcile/adjustments", op1, `{"case":"`+caseID+`","reason":"100.00 of A's top-up R001 was B's","lines":`+lines+`}`)
	}
	mA, mB := `"merchant/`+idA+`/available"`, `"merchant/`+idB+`/available"`
	if r := adjust(`[{"account":` + mA + `,"side":"debit","amount":"100.00"},{"account":` + mB + `,"side":"credit","amount":"99.00"}]`); r.status != 400 || r.code() != "recon_adjustment_unbalanced" {
		t.Fatalf("unbalanced: %d %v", r.status, r.body)
	}
	for _, acct := range []string{"worker-payable", "suspense"} {
		if r := adjust(`[{"account":` + mA + `,"side":"debit","amount":"100.00"},{"account":"` + acct + `","side":"credit","amount":"100.00"}]`); r.status != 400 || r.code() != "recon_adjustment_account" {
			t.Fatalf("%s: %d %v", acct, r.status, r.body)
		}
	}
	if r := adjust(`[{"account":"bank","side":"debit","amount":"100.00"},{"account":` + mB + `,"side":"credit","amount":"100.00"}]`); r.status != 400 || r.code() != "recon_adjustment_account" {
		t.Fatalf("the bank debited: %d %v", r.status, r.body)
	}
	r = adjust(`[{"account":` + mA + `,"side":"debit","amount":"100.00"},{"account":` + mB + `,"side":"credit","amount":"100.00"}]`)
	if r.status != 201 || r.body["status"] != "proposed" {
		t.Fatalf("propose: %d %v", r.status, r.body)
	}
	adj := r.body["id"].(string)
	decision := `{"decision":"approve"}`
	e.stepUp(op1, "operator-1")
	if r := e.call("POST", "/api/v1/reconcile/adjustments/"+adj+"/decision", op1, decision, "Idempotency-Key", "op"); r.status != 403 {
		t.Fatalf("the maker approving: %d %v", r.status, r.body)
	}
	e.stepUp(reviewer, "reviewer-1")
	if r := e.confirmed("POST", "/api/v1/reconcile/adjustments/"+adj+"/decision", reviewer, decision, "rev"); r.status != 200 || r.body["status"] != "approved" {
		t.Fatalf("approve: %d %v", r.status, r.body)
	}
	if r := e.call("GET", "/api/v1/reconcile/cases/"+caseID, reviewer, ""); r.body["status"] != "resolved" || r.body["adjustment"] != adj {
		t.Fatalf("the case after the adjustment: %v", r.body)
	}
	if b := e.balanceOf(bossA, idA); b != "200.00" {
		t.Fatalf("A holds %s", b)
	}
	e.verifyLedger()

	// Each merchant's file: its own only.
	get := func(token, merchant string) (int, string) {
		period := e.clock.Now().In(payouts.China).Format("2006-01")
		req, _ := http.NewRequest("GET", e.base+"/api/v1/merchants/"+merchant+"/reconciliation?period="+period+"&format=csv", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := e.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	status, body := get(bossA, idA)
	if status != 200 || !strings.HasPrefix(body, reconcile.MerchantHeader+"\n") || !strings.Contains(body, ",adjustment,"+adj+",") ||
		!strings.HasSuffix(body, "#TOTAL,2,,,,,,100.00,300.00,200.00,\n") {
		t.Fatalf("A's file: %d\n%s", status, body)
	}
	if status, _ := get(bossA, idB); status == 200 {
		t.Fatal("A read B's reconciliation")
	}
}
