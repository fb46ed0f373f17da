package api_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"cxt/appliance/billing"
	"cxt/appliance/ledger"
	"cxt/storage/state"
)

const statementHeader = "txn_id,value_date,amount,currency,payer_account,payer_name,payer_bank,memo\n"

// importStatement posts a statement file.
func (e *env) importStatement(token, query string, rows ...string) reply {
	e.t.Helper()
	return e.call("POST", "/api/v1/topups/statements"+query, token, statementHeader+strings.Join(rows, "\n")+"\n", "Content-Type", "text/csv")
}

func statementRow(txn, amount, account, memo string) string {
	return fmt.Sprintf("%s,2026-03-01,%s,CNY,%s,某某有限公司,工商银行,%s", txn, amount, account, memo)
}

// lineStatuses lists an import's lines as status[/merchant].
func lineStatuses(r reply) string {
	var out []string
	for _, x := range r.body["lines"].([]any) {
		l := x.(map[string]any)
		s := l["status"].(string)
		if m, ok := l["merchant"].(string); ok {
			s += "/" + m
		}
		out = append(out, s)
	}
	return strings.Join(out, " ")
}

func (e *env) balanceOf(token, merchant string) string {
	e.t.Helper()
	r := e.call("GET", "/api/v1/merchants/"+merchant+"/balance", token, "")
	if r.status != 200 {
		e.t.Fatalf("balance of %s: %d %v", merchant, r.status, r.body)
	}
	return r.body["available"].(string)
}

// verifyLedger checks the node's ledger rebuilds from its postings.
func (e *env) verifyLedger() {
	e.t.Helper()
	if err := e.n.Cluster().ReadBarrier(context.Background()); err != nil {
		e.t.Fatal(err)
	}
	var rep *ledger.Report
	if err := e.n.Cluster().State().View(func(r *state.ReadTx) (err error) { rep, err = ledger.Verify(r); return }); err != nil {
		e.t.Fatal(err)
	}
	if len(rep.Problems) != 0 || rep.Postings == 0 {
		e.t.Fatalf("the ledger: %+v", rep)
	}
}

// Top-ups over the API: merchants open their funding and register payer
// accounts, a platform operator imports the bank's statement, lines are
// recognised by account or code and credited once, the rest waits in
// suspense until a second person approves an operator's match; every
// merchant sees only its own funding, top-ups and balance.
func TestTopUpsAreRecognisedCreditedOnceAndStayInTheirTenant(t *testing.T) {
	e := start(t)
	sec, _ := e.signInMFA("secadmin")
	reviewer := e.staff(sec, "platform_reviewer", "reviewer-1")
	op1 := e.staff(sec, "platform_operator", "operator-1")
	op2 := e.staff(sec, "platform_operator", "operator-2")
	idA, bossA := e.approvedMerchant(reviewer, "福州某某科技有限公司", usccA, "boss-a", "13800001111")
	idB, bossB := e.approvedMerchant(reviewer, "太原某某服务有限公司", usccB, "boss-b", "13800002222")

	// Funding: a remittance code each, shown to the merchant's users.
	if r := e.call("GET", "/api/v1/merchants/"+idA+"/funding", bossA, ""); r.status != 200 || r.body["opened"] != false {
		t.Fatalf("funding before it is opened: %d %v", r.status, r.body)
	}
	codeA := e.call("POST", "/api/v1/merchants/"+idA+"/funding", bossA, "").body["remittance_code"].(string)
	codeB := e.call("POST", "/api/v1/merchants/"+idB+"/funding", op1, "").body["remittance_code"].(string)
	if r := e.call("POST", "/api/v1/merchants/"+idA+"/funding", bossA, ""); r.body["remittance_code"] != codeA || codeA == codeB {
		t.Fatalf("codes %s, %s; opening again: %v", codeA, codeB, r.body)
	}

	// Payer accounts: the merchant registers, a platform operator confirms.
	names := map[string]string{idA: "福州某某科技有限公司", idB: "太原某某服务有限公司"}
	payer := func(token, merchant, account string) reply {
		return e.call("POST", "/api/v1/merchants/"+merchant+"/payer-accounts", token,
			fmt.Sprintf(`{"account":%q,"bank":"工商银行福州分行","name":%q}`, account, names[merchant]))
	}
	// A payer account is the merchant's own (同名账户): A cannot claim B's
	// settlement account, in B's name, as its own.
	if r := e.call("POST", "/api/v1/merchants/"+idA+"/payer-accounts", bossA,
		`{"account":"9558800000000000002","bank":"招商银行太原分行","name":"太原某某服务有限公司"}`); r.status != 400 || r.code() != "payer_name_mismatch" {
		t.Fatalf("A registering B's account: %d %v", r.status, r.body)
	}
	pa := payer(bossA, idA, "6222 0200 1111 2222")
	if pa.status != 201 || pa.body["status"] != "pending" || pa.body["account"] != "****2222" {
		t.Fatalf("register: %d %v", pa.status, pa.body)
	}
	paA := pa.body["id"].(string)
	review := func(token, merchant, id, body string) reply {
		return e.call("POST", "/api/v1/merchants/"+merchant+"/payer-accounts/"+id+"/review", token, body)
	}
	if r := review(bossA, idA, paA, `{"decision":"confirm"}`); r.status != 403 || r.code() != "forbidden" {
		t.Fatalf("a merchant confirming its own account: %d %v", r.status, r.body)
	}
	if r := review(op1, idA, paA, `{"decision":"confirm"}`); r.status != 200 || r.body["status"] != "active" {
		t.Fatalf("confirm: %d %v", r.status, r.body)
	}
	// Two merchants racing to register one account: one wins.
	var wg sync.WaitGroup
	race := make([]reply, 2)
	for i, who := range []struct{ token, merchant string }{{bossA, idA}, {bossB, idB}} {
		wg.Add(1)
		go func() { defer wg.Done(); race[i] = payer(who.token, who.merchant, "6222020077778888") }()
	}
	wg.Wait()
	if race[0].status+race[1].status != 201+409 || race[0].code()+race[1].code() != "payer_account_taken" {
		t.Fatalf("racing registrations: %d %v / %d %v", race[0].status, race[0].body, race[1].status, race[1].body)
	}
	paB := payer(bossB, idB, "6222020033334444").body["id"].(string)
	if r := payer(bossA, idA, "12345"); r.status != 400 || r.body["error"].(map[string]any)["field"] != "account" {
		t.Fatalf("a short account number: %d %v", r.status, r.body)
	}

	// The bank's statement: recognised by account, by code, or not at all.
	file := []string{
		statementRow("B001", "1000.00", "6222020011112222", "三月充值"),
		statementRow("B002", "2500.50", "", "货款 "+codeB),
		statementRow("B003", "300.00", "6222020099990000", "无附言"),
		statementRow("B004", "-20.00", "", "手续费"),
		statementRow("B001", "1000.00", "6222020011112222", "三月充值"),
		statementRow("B005", "88.00", "6222020011112222", codeB),
	}
	if r := e.importStatement(bossA, "", file...); r.status != 403 {
		t.Fatalf("a merchant importing a statement: %d %v", r.status, r.body)
	}
	imp := e.importStatement(op1, "?name=icbc-2026-03-01.csv", file...)
	if imp.status != 201 {
		t.Fatalf("import: %d %v", imp.status, imp.body)
	}
	if got, want := lineStatuses(imp), "matched/"+idA+" matched/"+idB+" suspense skipped duplicate suspense"; got != want {
		t.Fatalf("lines: %s, want %s", got, want)
	}
	st := imp.body["statement"].(map[string]any)
	stID := st["id"].(string)
	if st["status"] != "done" || st["progress"] != "6 of 6 lines" || st["matched"].(map[string]any)["amount"] != "3500.50" ||
		st["suspense"].(map[string]any)["lines"] != 2.0 || st["duplicate"].(map[string]any)["amount"] != "1000.00" {
		t.Fatalf("statement: %v", st)
	}
	if l := imp.body["lines"].([]any)[5].(map[string]any); l["reason"] != "ambiguous" {
		t.Fatalf("an account of A with B's code: %v", l)
	}
	if a, b := e.balanceOf(bossA, idA), e.balanceOf(bossB, idB); a != "1000.00" || b != "2500.50" {
		t.Fatalf("balances %s, %s", a, b)
	}
	// The same statement again moves nothing.
	again := e.importStatement(op2, "", file...)
	if got := lineStatuses(again); again.status != 201 || got != "duplicate duplicate duplicate skipped duplicate duplicate" {
		t.Fatalf("the statement again: %d %s", again.status, got)
	}
	// One new statement imported by two operators at once: each line once.
	var both [2]reply
	fresh := []string{statementRow("C001", "10.00", "6222020011112222", ""), statementRow("C002", "20.00", "", codeB), statementRow("C003", "30.00", "", codeA)}
	for i, token := range []string{op1, op2} {
		wg.Add(1)
		go func() { defer wg.Done(); both[i] = e.importStatement(token, "", fresh...) }()
	}
	wg.Wait()
	for i := range 3 {
		a, b := both[0].body["lines"].([]any)[i].(map[string]any)["status"], both[1].body["lines"].([]any)[i].(map[string]any)["status"]
		if !(a == "matched" && b == "duplicate" || a == "duplicate" && b == "matched") {
			t.Fatalf("line %d imported at once by two: %v and %v", i, a, b)
		}
	}
	if a, b := e.balanceOf(bossA, idA), e.balanceOf(op1, idB); a != "1040.00" || b != "2520.50" {
		t.Fatalf("after the racing imports: %s, %s", a, b)
	}

	// A merchant's top-ups, newest first, paged.
	page := e.call("GET", "/api/v1/merchants/"+idA+"/topups?limit=2", bossA, "")
	tops := page.body["topups"].([]any)
	if page.status != 200 || len(tops) != 2 || tops[0].(map[string]any)["txn_id"] != "C003" || tops[0].(map[string]any)["matched_by"] != "code" || page.body["next"] == nil {
		t.Fatalf("top-ups: %d %v", page.status, page.body)
	}
	rest := e.call("GET", "/api/v1/merchants/"+idA+"/topups?limit=2&after="+page.body["next"].(string), bossA, "")
	if tops := rest.body["topups"].([]any); len(tops) != 1 || tops[0].(map[string]any)["txn_id"] != "B001" || tops[0].(map[string]any)["payer_account"] != "****2222" || rest.body["next"] != nil {
		t.Fatalf("the next page: %v", rest.body)
	}

	// Tenancy: B's funding, balance, top-ups and payer accounts do not
	// exist for A's users, whether the IDs are guessed or taken from B's
	// answers.
	for _, c := range []struct{ method, path, body string }{
		{"GET", "/api/v1/merchants/" + idB + "/funding", ""},
		{"GET", "/api/v1/merchants/" + idB + "/balance", ""},
		{"GET", "/api/v1/merchants/" + idB + "/topups", ""},
		{"POST", "/api/v1/merchants/" + idB + "/funding", ""},
		{"POST", "/api/v1/merchants/" + idB + "/payer-accounts", `{"account":"6222020055556666","bank":"x","name":"y"}`},
		{"GET", "/api/v1/merchants/m_0000000000000000/balance", ""},
	} {
		if r := e.call(c.method, c.path, bossA, c.body); r.status != 404 || r.code() != "not_found" {
			t.Errorf("A's admin %s %s: %d %v", c.method, c.path, r.status, r.body)
		}
	}
	if r := review(op1, idA, paB, `{"decision":"confirm"}`); r.status != 404 {
		t.Errorf("B's payer account under A: %d %v", r.status, r.body)
	}
	own := 1 // paB, and the raced account if B won it
	if race[1].status == 201 {
		own = 2
	}
	if r := e.call("GET", "/api/v1/merchants/"+idB+"/funding", bossB, ""); len(r.body["payer_accounts"].([]any)) != own || r.body["remittance_code"] != codeB {
		t.Fatalf("B's own funding: %v", r.body)
	}
	for _, path := range []string{"/api/v1/topups/statements", "/api/v1/topups/statements/" + stID, "/api/v1/topups/suspense", "/api/v1/ledger/balances"} {
		if r := e.call("GET", path, bossA, ""); r.status != 403 {
			t.Errorf("A's admin GET %s: %d %v", path, r.status, r.body)
		}
	}

	// Suspense: an operator proposes, another person approves, once.
	sus := e.call("GET", "/api/v1/topups/suspense", reviewer, "")
	if sus.status != 200 || len(sus.body["suspense"].([]any)) != 2 || sus.body["total"] != "388.00" {
		t.Fatalf("suspense: %d %v", sus.status, sus.body)
	}
	item := imp.body["lines"].([]any)[2].(map[string]any)["suspense"].(string)
	for _, path := range []string{"/api/v1/topups/suspense/sus-0000000000000000", "/api/v1/topups/statements/st-none", "/api/v1/topups/statements/st-none/lines"} {
		if r := e.call("GET", path, op1, ""); r.status != 404 || r.code() != "not_found" {
			t.Errorf("GET %s: %d %v", path, r.status, r.body)
		}
	}
	if r := e.call("GET", "/api/v1/topups/suspense/"+item, op1, ""); r.body["line"].(map[string]any)["payer_account"] != "****0000" || r.body["reason"] != "unmatched" {
		t.Fatalf("the item: %v", r.body)
	}
	proposal := func(amount string) string {
		return fmt.Sprintf(`{"action":"match","merchant":%q,"amount":%s,"reason":"the payer called: B's second account"}`, idB, amount)
	}
	for amount, code := range map[string]string{`300`: "money_format", `300.0`: "money_format", `"300.001"`: "money_format", `"-300"`: "money_format", `"299.99"`: "amount_mismatch"} {
		if r := e.call("POST", "/api/v1/topups/suspense/"+item+"/proposal", op1, proposal(amount)); r.code() != code {
			t.Errorf("amount %s: %d %v, want %s", amount, r.status, r.body, code)
		}
	}
	if r := e.call("POST", "/api/v1/topups/suspense/"+item+"/proposal", reviewer, proposal(`"300.00"`)); r.status != 403 {
		t.Fatalf("a reviewer proposing: %d %v", r.status, r.body)
	}
	if r := e.call("POST", "/api/v1/topups/suspense/"+item+"/proposal", op1, proposal(`"300.00"`)); r.status != 200 || r.body["status"] != "proposed" {
		t.Fatalf("propose: %d %v", r.status, r.body)
	}
	decision := `{"decision":"approve"}`
	e.stepUp(op1, "operator-1")
	if r := e.call("POST", "/api/v1/topups/suspense/"+item+"/decision", op1, decision, "Idempotency-Key", "self"); r.status != 403 || r.code() != "maker_checker" {
		t.Fatalf("the maker approving: %d %v", r.status, r.body)
	}
	// Two checkers race: both previewed, both confirm; one posts.
	e.stepUp(reviewer, "reviewer-1")
	e.stepUp(op2, "operator-2")
	var tokens [2]string
	checkers := []string{reviewer, op2}
	for i, token := range checkers {
		p := e.call("POST", "/api/v1/topups/suspense/"+item+"/decision", token, decision, "Idempotency-Key", fmt.Sprint("race-", i))
		if p.status != 200 || p.body["preview"].(map[string]any)["impact"].(map[string]any)["merchant"] != idB {
			t.Fatalf("preview: %d %v", p.status, p.body)
		}
		tokens[i] = p.body["confirm_token"].(string)
	}
	var decided [2]reply
	for i, token := range checkers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			decided[i] = e.call("POST", "/api/v1/topups/suspense/"+item+"/decision", token, decision, "Idempotency-Key", fmt.Sprint("race-", i), "X-Confirm-Token", tokens[i])
		}()
	}
	wg.Wait()
	if decided[0].status+decided[1].status != 200+409 || decided[0].code()+decided[1].code() != "suspense_status" {
		t.Fatalf("racing approvals: %d %v / %d %v", decided[0].status, decided[0].body, decided[1].status, decided[1].body)
	}
	if b := e.balanceOf(bossB, idB); b != "2820.50" {
		t.Fatalf("B after the match: %s", b)
	}
	if tops := e.call("GET", "/api/v1/merchants/"+idB+"/topups", bossB, "").body["topups"].([]any); tops[0].(map[string]any)["matched_by"] != "hand" {
		t.Fatalf("B's newest top-up: %v", tops[0])
	}

	// Bad files are refused whole, naming the row; nothing is imported.
	for _, c := range []struct {
		rows      []string
		code, row string
	}{
		{[]string{statementRow("D001", "1.00", "", ""), statementRow("D002", "1.005", "", "")}, "statement_format", "row 3"},
		{[]string{statementRow("D001", "1.00", "", ""), "D002,2026-03-01,1.00,USD,,,,"}, "statement_format", "row 3"},
		{[]string{"D001,2026-13-01,1.00,CNY,,,,"}, "statement_format", "row 2"},
	} {
		r := e.importStatement(op1, "", c.rows...)
		if msg, _ := r.body["error"].(map[string]any)["message"].(string); r.status != 400 || r.code() != c.code || !strings.Contains(msg, c.row) {
			t.Errorf("%v: %d %v", c.rows, r.status, r.body)
		}
	}
	if r := e.call("POST", "/api/v1/topups/statements", op1, statementHeader+statementRow("D001", "1.00", "", "")); r.status != 415 {
		t.Fatalf("a statement sent as JSON: %d %v", r.status, r.body)
	}
	if r := e.call("GET", "/api/v1/topups/statements", op1, ""); len(r.body["statements"].([]any)) != 4 {
		t.Fatalf("a refused file left a statement: %v", r.body)
	}
	lines := e.call("GET", "/api/v1/topups/statements/"+stID+"/lines?limit=4", reviewer, "")
	if lines.status != 200 || len(lines.body["lines"].([]any)) != 4 || lines.body["next"] != "5" {
		t.Fatalf("statement lines: %d %v", lines.status, lines.body)
	}
	if r := e.call("GET", "/api/v1/topups/statements/"+stID+"/lines?after=5", reviewer, ""); len(r.body["lines"].([]any)) != 2 || r.body["next"] != nil {
		t.Fatalf("the last page of lines: %v", r.body)
	}
	if r := e.call("GET", "/api/v1/ledger/balances", op1, ""); r.status != 200 || r.body["balances"].(map[string]any)["suspense"] != "88.00" ||
		r.body["balances"].(map[string]any)["bank"] != "3948.50" {
		t.Fatalf("balances: %d %v", r.status, r.body)
	}
	e.verifyLedger()
}

// A statement of 50,000 lines imports through the API, in chunks, well
// within a request's time; the time it took is logged (docs/payouts.md).
func TestAFiftyThousandLineStatementImports(t *testing.T) {
	e := start(t)
	sec, _ := e.signInMFA("secadmin")
	reviewer := e.staff(sec, "platform_reviewer", "reviewer-1")
	op := e.staff(sec, "platform_operator", "operator-1")
	id, boss := e.approvedMerchant(reviewer, "福州某某科技有限公司", usccA, "boss-a", "13800001111")
	code := e.call("POST", "/api/v1/merchants/"+id+"/funding", boss, "").body["remittance_code"].(string)
	var b strings.Builder
	want := int64(0)
	for i := range 50_000 {
		memo := "无"
		if i%2 == 0 {
			memo = "货款" + code
			want += int64(100 + i%1000)
		}
		fmt.Fprintf(&b, "%s\n", statementRow(fmt.Sprintf("N%06d", i), fmt.Sprintf("%d.00", 100+i%1000), "", memo))
	}
	// Under the race detector the import takes longer than the client's
	// usual patience; the speed is the benchmark's business, not this test's.
	e.client.Timeout = 5 * time.Minute
	began := time.Now()
	r := e.call("POST", "/api/v1/topups/statements?report=summary", op, statementHeader+b.String(), "Content-Type", "text/csv")
	took := time.Since(began)
	if r.status != 201 || r.body["lines"] != nil {
		t.Fatalf("import: %d %v", r.status, r.body)
	}
	st := r.body["statement"].(map[string]any)
	if st["status"] != "done" || st["matched"].(map[string]any)["lines"] != 25_000.0 || st["suspense"].(map[string]any)["lines"] != 25_000.0 {
		t.Fatalf("statement %v", st)
	}
	if got := e.balanceOf(boss, id); got != ledger.Yuan(want*100) {
		t.Fatalf("balance %s, want %s", got, ledger.Yuan(want*100))
	}
	t.Logf("50,000 lines imported through the API in %v (%.0f lines/s)", took.Round(time.Millisecond), 50_000/took.Seconds())
}

// A merchant whose fees are charged before the work is paid (预收) pays
// them at each top-up, in the command that credits it: by an import and by
// a match by hand; a fixed fee above what it holds takes what it holds.
func TestAFeeChargedBeforeIsTakenAtEachTopUp(t *testing.T) {
	e := start(t)
	e.awayFromMidnight()
	sec, _ := e.signInMFA("secadmin")
	reviewer := e.staff(sec, "platform_reviewer", "reviewer-1")
	op1 := e.staff(sec, "platform_operator", "operator-1")
	op2 := e.staff(sec, "platform_operator", "operator-2")
	id, boss := e.approvedMerchant(reviewer, "福州某某科技有限公司", usccA, "boss-a", "13800001111")
	code := e.call("POST", "/api/v1/merchants/"+id+"/funding", boss, "").body["remittance_code"].(string)
	e.stepUp(op1, "operator-1")
	rules := `[{"name":"服务费","kind":"percentage","rate":"0.0100"},{"name":"到账费","kind":"fixed","amount":"2.00"}]`
	if r := e.confirmed("POST", "/api/v1/merchants/"+id+"/billing", op1, fees(billing.Day(e.clock.Now()), "before", rules), "fees-before"); r.status != 201 {
		t.Fatalf("fees: %d %v", r.status, r.body)
	}
	imp := e.importStatement(op1, "", statementRow("F000", "1.00", "", code), statementRow("F001", "1000.00", "", code), statementRow("F002", "500.00", "", "unknown"))
	if imp.status != 201 || lineStatuses(imp) != "matched/"+id+" matched/"+id+" suspense" {
		t.Fatalf("import: %d %v", imp.status, imp.body)
	}
	// 1.00 in, its 2.01 in fees capped at the 1.00 held; 1000.00 in, 10.00 + 2.00 in fees.
	if b := e.balanceOf(boss, id); b != "988.00" {
		t.Fatalf("after a top-up of 1000.00: %s", b)
	}
	item := imp.body["lines"].([]any)[2].(map[string]any)["suspense"].(string)
	if r := e.call("POST", "/api/v1/topups/suspense/"+item+"/proposal", op1, fmt.Sprintf(`{"action":"match","merchant":%q,"amount":"500.00","reason":"the merchant sent the bank slip"}`, id)); r.status != 200 {
		t.Fatalf("propose: %d %v", r.status, r.body)
	}
	e.stepUp(op2, "operator-2")
	if r := e.confirmed("POST", "/api/v1/topups/suspense/"+item+"/decision", op2, `{"decision":"approve"}`, "approve-f002"); r.status != 200 || r.body["status"] != "matched" {
		t.Fatalf("approve: %d %v", r.status, r.body)
	}
	// 500.00 matched by hand, 5.00 + 2.00 in fees.
	if b := e.balanceOf(boss, id); b != "1481.00" {
		t.Fatalf("after the match by hand: %s", b)
	}
	bal := e.call("GET", "/api/v1/ledger/balances", op1, "").body["balances"].(map[string]any)
	if bal["fee-income"] != "20.00" || bal["bank"] != "1501.00" {
		t.Fatalf("the ledger: %v", bal)
	}
	e.verifyLedger()
}
