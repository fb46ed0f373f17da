package api_test

import (
	"context"
	"cxt/storage/cluster/loopback"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"cxt/appliance/billing"
	"cxt/appliance/channel"
	"cxt/appliance/ledger"
	"cxt/appliance/notify"
	"cxt/appliance/payouts"
	"cxt/appliance/workers/workerstest"
	"cxt/storage/state"
)

// payWorld is the world a payout needs, built through the API: two approved
// merchants with a cooperation agreement each, topped up from a bank
// statement; a worker of each, verified, with a tripartite agreement signed
// and work accepted on the merchant's task; a merchant operator of each;
// platform staff. The node pays through a sandbox bank that fails and
// returns nothing, so every payment it takes ends paid.
type payWorld struct {
	e                      *env
	bank                   *channel.Sandbox
	sec, sys               string // the security and system administrators' sessions
	reviewer, operator     string
	idA, idB               string  // merchants
	bossA, bossB           string  // their administrators' sessions
	clerkA, clerkB         string  // their operators' sessions
	wA, wB                 string  // workers
	workerA, workerB       string  // their sessions
	taskA, taskB           string  // the tasks their work was accepted on
	agreementA, agreementB string  // the workers' tripartite agreements
	box                    *smsBox // the SMS sent: workers sign in with a code
}

// payoutWorld builds the world: A is topped up with 20,000.00 and pays a
// fee of 6% with each payment (timing during, 实时); B is topped up with
// 5,000.00 and pays no fee.
//
// step, when given, is called as the world is built — "start" before the
// first fact, then after each stage — for a test that follows the feed.
func payoutWorld(t *testing.T, step ...func(w *payWorld, stage string)) *payWorld {
	t.Helper()
	box, hook := startSMS(t)
	e := startWith(t, &notify.Config{SMSWebhook: hook})
	bank, err := channel.NewSandbox("", 1)
	if err != nil {
		t.Fatal(err)
	}
	bank.Latency, bank.FailRate, bank.ReturnRate = 0, 0, 0
	e.opts.Channel, e.opts.PayoutInterval = bank, 20*time.Millisecond
	e.opts.GatewayAddr, e.opts.GatewayKeyInterval = loopback.FreeAddr(), 20*time.Millisecond
	e.restart()
	// Connections the client dialled for racing requests and never used
	// would hold the node's shutdown for five seconds.
	t.Cleanup(e.client.Transport.(*validating).next.(*http.Transport).CloseIdleConnections)
	e.awayFromMidnight()
	w := &payWorld{e: e, bank: bank, box: box}
	stage := func(name string) {
		for _, f := range step {
			f(w, name)
		}
	}

	sec, _ := e.signInMFA("secadmin")
	sys := e.signIn("sysadmin")
	w.sec, w.sys = sec, sys
	stage("start")
	w.reviewer = e.staff(sec, "platform_reviewer", "reviewer-1")
	w.operator = e.staff(sec, "platform_operator", "operator-1")
	e.esignAuthority(sys)
	w.idA, w.bossA = e.approvedMerchant(w.reviewer, "福州某某物流有限公司", usccA, "boss-a", "13800001111")
	w.clerkA = e.merchantOperator(w.idA, w.bossA, "clerk-a")
	w.idB, w.bossB = e.approvedMerchant(w.reviewer, "太原某某服务有限公司", usccB, "boss-b", "13800002222")
	w.clerkB = e.merchantOperator(w.idB, w.bossB, "clerk-b")
	stage("merchants")

	// Cooperation agreements: the merchant signs by SMS, the platform's
	// operator with their authenticator.
	for _, m := range []struct{ id, boss, phone string }{{w.idA, w.bossA, "13800001111"}, {w.idB, w.bossB, "13800002222"}} {
		a := e.call("POST", "/api/v1/merchants/"+m.id+"/agreements", w.operator,
			`{"service_fee_rate":"6.00%","billing_timing":"realtime","start_date":"2026-03-01","end_date":"2029-02-28"}`)
		if a.status != 201 {
			t.Fatalf("cooperation agreement of %s: %d %v", m.id, a.status, a.body)
		}
		e.signBySMS(box, a.body, m.boss, m.phone)
		e.signByTOTP(a.body, w.operator, "operator-1", "complete")
	}
	stage("cooperation")

	// The workers: registered, linked, verified, each with a tripartite
	// agreement and accepted work on their merchant's task.
	w.wA, w.workerA = e.registeredWorker(box, 501, "worker-a")
	w.wB, w.workerB = e.registeredWorker(box, 502, "worker-b")
	stage("workers")
	for _, p := range []struct {
		merchant, boss, bossPhone string
		n                         int
		worker, token             string
		agreement, task           *string
	}{
		{w.idA, w.bossA, "13800001111", 501, w.wA, w.workerA, &w.agreementA, &w.taskA},
		{w.idB, w.bossB, "13800002222", 502, w.wB, w.workerB, &w.agreementB, &w.taskB},
	} {
		e.linkWorker(p.merchant, p.boss, p.n, p.worker, p.token, true)
		if r := e.call("POST", "/api/v1/workers/"+p.worker+"/consents", p.token, `{"purpose":"real_name","notice":"实名核验告知","notice_version":"1","channel":"app"}`); r.status != 201 {
			t.Fatalf("consent of %s: %d %v", p.worker, r.status, r.body)
		}
		if r := e.call("POST", "/api/v1/workers/"+p.worker+"/real-name", p.token, ""); r.status != 200 || r.body["status"] != "verified" {
			t.Fatalf("real name of %s: %d %v", p.worker, r.status, r.body)
		}
		a := e.call("POST", "/api/v1/merchants/"+p.merchant+"/workers/"+p.worker+"/agreements", p.boss,
			`{"service_description":"仓库搬运（按单结算）","start_date":"2026-03-01","end_date":"2027-02-28"}`)
		if a.status != 201 || a.body["kind"] != "tripartite" {
			t.Fatalf("tripartite agreement of %s: %d %v", p.worker, a.status, a.body)
		}
		e.signBySMS(box, a.body, p.token, workerstest.Phone(p.n))
		e.signBySMS(box, a.body, p.boss, p.bossPhone)
		e.signByTOTP(a.body, w.operator, "operator-1", "complete")
		*p.agreement = a.body["id"].(string)
		*p.task = e.acceptedWork(w.reviewer, p.boss, p.worker, p.token)
		stage("work of " + p.worker)
	}

	// Top-ups from the bank's statement, recognised by remittance code.
	codeA := e.call("POST", "/api/v1/merchants/"+w.idA+"/funding", w.bossA, "").body["remittance_code"].(string)
	codeB := e.call("POST", "/api/v1/merchants/"+w.idB+"/funding", w.bossB, "").body["remittance_code"].(string)
	imp := e.importStatement(w.operator, "", statementRow("P001", "20000.00", "", "服务费预付 "+codeA), statementRow("P002", "5000.00", "", "充值 "+codeB))
	if imp.status != 201 || lineStatuses(imp) != "matched/"+w.idA+" matched/"+w.idB {
		t.Fatalf("top-ups: %d %v", imp.status, imp.body)
	}
	stage("top-ups")
	// A pays the platform 6% of each payment, with the payment.
	e.stepUp(w.operator, "operator-1")
	rules := `[{"name":"服务费","kind":"percentage","rate":"0.0600"}]`
	if r := e.confirmed("POST", "/api/v1/merchants/"+w.idA+"/billing", w.operator, fees(billing.Day(e.clock.Now()), "during", rules), "fees-a"); r.status != 201 {
		t.Fatalf("A's fees: %d %v", r.status, r.body)
	}
	return w
}

// merchantOperator has a merchant's administrator add an operator, who
// signs in; it returns the operator's session.
func (e *env) merchantOperator(merchant, boss, username string) string {
	e.t.Helper()
	r := e.confirmed("POST", "/api/v1/merchants/"+merchant+"/operators", boss, fmt.Sprintf(`{"username":%q}`, username), "op-"+username)
	if r.status != 201 {
		e.t.Fatalf("operator %s: %d %v", username, r.status, r.body)
	}
	return e.tenantSignIn(username, r.body["one_time_password"].(string))
}

// signBySMS has a party sign an agreement (as started: its id and
// document_sm3) with a signing code sent to phone.
func (e *env) signBySMS(box *smsBox, a map[string]any, token, phone string) {
	e.t.Helper()
	id := a["id"].(string)
	sent := box.count(phone, "签署验证码")
	c := e.call("POST", "/api/v1/agreements/"+id+"/code", token, `{}`)
	if c.status != 201 {
		e.t.Fatalf("signing code for %s: %d %v", id, c.status, c.body)
	}
	code := box.code(e.t, phone, "签署验证码", sent)
	if r := e.call("POST", "/api/v1/agreements/"+id+"/sign", token, fmt.Sprintf(`{"document_sm3":%q,"code_id":%q,"code":%q}`, a["document_sm3"], c.body["code_id"], code)); r.status != 200 {
		e.t.Fatalf("sign %s: %d %v", id, r.status, r.body)
	}
}

// signByTOTP has a platform operator sign an agreement with their
// authenticator; the agreement must then be in status want.
func (e *env) signByTOTP(a map[string]any, token, user, want string) {
	e.t.Helper()
	id := a["id"].(string)
	r := e.call("POST", "/api/v1/agreements/"+id+"/sign", token, fmt.Sprintf(`{"document_sm3":%q,"totp":%q}`, a["document_sm3"], e.code(e.secrets[user])))
	if r.status != 200 || r.body["status"] != want {
		e.t.Fatalf("the platform signs %s: %d %v", id, r.status, r.body)
	}
}

// acceptedWork has boss publish a task (a reviewer opens it if the risk
// rule sends it to a person), assign worker, the worker file proof, and
// boss accept the work; it returns the task's ID.
func (e *env) acceptedWork(reviewer, boss, worker, token string) string {
	e.t.Helper()
	task := e.newTask(boss, "仓库搬运", "logistics", `"50000.00"`, 1, true)
	id := task["id"].(string)
	if task["status"] == "pending_review" {
		if r := e.call("POST", "/api/v1/tasks/"+id+"/review", reviewer, `{"decision":"approve","reason":"搬运任务，预算合理"}`); r.status != 200 || r.body["status"] != "open" {
			e.t.Fatalf("review %s: %d %v", id, r.status, r.body)
		}
	}
	if r := e.call("POST", "/api/v1/tasks/"+id+"/assign", boss, fmt.Sprintf(`{"worker":%q}`, worker)); r.status != 200 {
		e.t.Fatalf("assign %s: %d %v", id, r.status, r.body)
	}
	work := "/api/v1/tasks/" + id + "/works/" + worker
	if r := e.upload(work+"/proof", token, []byte("%PDF-1.4\n1 0 obj <<>> endobj\n签收单 仓库搬运\n%%EOF\n")); r.status != 201 {
		e.t.Fatalf("proof on %s: %d %v", id, r.status, r.body)
	}
	if r := e.call("POST", work+"/accept", boss, ""); r.status != 200 || r.body["status"] != "accepted" {
		e.t.Fatalf("accept work on %s: %d %v", id, r.status, r.body)
	}
	return id
}

// payRow is one row of a JSON batch; amount is the JSON value as sent.
func payRow(worker, task, amount string) string {
	return fmt.Sprintf(`{"worker":%q,"task":%q,"amount":%s,"memo":"十一月第二周"}`, worker, task, amount)
}

func payFile(ref string, rows ...string) string {
	return fmt.Sprintf(`{"ref":%q,"rows":[%s]}`, ref, strings.Join(rows, ","))
}

func (e *env) uploadBatch(merchant, token, body string) reply {
	e.t.Helper()
	return e.call("POST", "/api/v1/merchants/"+merchant+"/payout-batches", token, body)
}

func (e *env) uploadCSV(merchant, token, ref, file string) reply {
	e.t.Helper()
	return e.call("POST", "/api/v1/merchants/"+merchant+"/payout-batches?ref="+ref, token, file, "Content-Type", "text/csv")
}

// settled waits until the batch ran every chunk and the channel answered
// for every payment it took; it returns the batch.
func (e *env) settled(token, batch string) map[string]any {
	e.t.Helper()
	var b reply
	eventually(e.t, "batch "+batch+" executed and settled", func() bool {
		b = e.call("GET", "/api/v1/payout-batches/"+batch, token, "")
		c, _ := b.body["counts"].(map[string]any)
		return b.status == 200 && b.body["status"] == "executed" && c["accepted"] == nil && c["submitted"] == nil
	})
	return b.body
}

// batchRefs lists a merchant's batches by reference.
func (e *env) batchRefs(merchant, token string) []string {
	e.t.Helper()
	r := e.call("GET", "/api/v1/merchants/"+merchant+"/payout-batches", token, "")
	if r.status != 200 {
		e.t.Fatalf("batches of %s: %d %v", merchant, r.status, r.body)
	}
	var out []string
	for _, b := range r.body["batches"].([]any) {
		out = append(out, b.(map[string]any)["ref"].(string))
	}
	slices.Sort(out)
	return out
}

// payments lists the payments a query answers: their IDs, and each
// payment by ID.
func (e *env) payments(token, query string) ([]string, map[string]map[string]any) {
	e.t.Helper()
	r := e.call("GET", "/api/v1/payments?"+query, token, "")
	if r.status != 200 {
		e.t.Fatalf("payments?%s: %d %v", query, r.status, r.body)
	}
	var ids []string
	byID := map[string]map[string]any{}
	for _, x := range r.body["payments"].([]any) {
		p := x.(map[string]any)
		ids = append(ids, p["id"].(string))
		byID[p["id"].(string)] = p
	}
	return ids, byID
}

// executions counts the ledger's postings of a batch's chunk executions.
func (e *env) executions(token, batch string) int {
	e.t.Helper()
	r := e.call("GET", "/api/v1/ledger/postings?limit=1000", token, "")
	if r.status != 200 {
		e.t.Fatalf("postings: %d %v", r.status, r.body)
	}
	n := 0
	for _, x := range r.body["postings"].([]any) {
		p := x.(map[string]any)
		if p["event"] == payouts.CmdExecute && strings.HasPrefix(p["ref"].(string), batch+"/") {
			n++
		}
	}
	return n
}

// verifyPayouts runs the auditor's check of the node's state: the ledger
// rebuilt from its postings, and the payments held against it.
func (e *env) verifyPayouts() {
	e.t.Helper()
	if err := e.n.Cluster().ReadBarrier(context.Background()); err != nil {
		e.t.Fatal(err)
	}
	var rep *payouts.Report
	if err := e.n.Cluster().State().View(func(r *state.ReadTx) (err error) { rep, err = payouts.Verify(r); return }); err != nil {
		e.t.Fatal(err)
	}
	if len(rep.Problems) != 0 || rep.Payments == 0 {
		e.t.Fatalf("the auditor's check: %+v", rep)
	}
}

func balances(t *testing.T, r reply) map[string]string {
	t.Helper()
	if r.status != 200 {
		t.Fatalf("ledger balances: %d %v", r.status, r.body)
	}
	out := map[string]string{}
	for k, v := range r.body["balances"].(map[string]any) {
		out[k] = v.(string)
	}
	return out
}

// zero reads an account that may never have moved as 0.00.
func zero(s string) string {
	if s == "" {
		return "0.00"
	}
	return s
}

// A merchant's operator uploads a payout batch, its administrator previews
// it and confirms it (step-up, Idempotency-Key, preview, confirm), the
// leader executes it and the sandbox bank pays; the merchant's balance and
// the platform's ledger hold what the payments took, once, however often
// the confirm is sent. Rows that cannot be paid are rejected or held with
// their code. The other merchant, its operator and its worker, with IDs
// taken from A's answers, reach nothing of A's; bad files are refused whole
// with their code, storing nothing.
func TestAPayoutBatchIsPaidOnceAndStaysInItsTenant(t *testing.T) {
	w := payoutWorld(t)
	e := w.e
	const ref = "2026-11-week-2"
	unknown := "w_0000000000000000"

	up := e.uploadBatch(w.idA, w.clerkA, payFile(ref,
		payRow(w.wA, w.taskA, `"3000.00"`),
		payRow(w.wA, w.taskA, `"9000.00"`),
		payRow(w.wB, w.taskB, `"100.00"`),    // B's worker, who never joined A
		payRow(unknown, w.taskA, `"100.00"`), // nobody
		payRow(w.wA, w.taskB, `"100.00"`),    // B's task
		payRow(w.wA, w.taskA, `"30000.00"`),  // beyond what A holds
		payRow(w.wA, w.taskA, `"40000.00"`),  // beyond what A accepted the work for (50,000.00)
	))
	if up.status != 201 || up.body["rows"] != 7.0 || up.body["chunks"] != 1.0 || up.body["total"] != "82300.00" || up.body["status"] != "uploaded" || up.body["ref"] != ref {
		t.Fatalf("upload: %d %v", up.status, up.body)
	}
	batch := up.body["batch"].(string)
	pay := func(row int) string { return payouts.PaymentID(batch, row) }
	// Each row's outcome, the paid rows being so.
	outcomes := func(paid string) []string {
		return []string{paid + ":", paid + ":", "rejected:worker_not_linked", "rejected:worker_unknown", "rejected:task_not_found",
			"on_hold:insufficient_balance", "rejected:task_amount_exceeded"}
	}

	// The preview: a dry run of the whole batch, which changes nothing.
	pv := e.call("GET", "/api/v1/payout-batches/"+batch+"/preview", w.bossA, "")
	if pv.status != 200 || fmt.Sprint(pv.body["counts"]) != "map[accepted:2 on_hold:1 rejected:4]" ||
		fmt.Sprint(pv.body["reasons"]) != "map[insufficient_balance:1 task_amount_exceeded:1 task_not_found:1 worker_not_linked:1 worker_unknown:1]" ||
		fmt.Sprint(pv.body["totals"]) != "map[amount:12000.00 fee:720.00 iit:138.00 net:11862.00 surcharges:0.00 vat:0.00]" ||
		pv.body["balance"] != "20000.00" || pv.body["needs"] != "12720.00" || len(pv.body["page"].([]any)) != 7 {
		t.Fatalf("preview: %d %v", pv.status, pv.body)
	}
	row := func(r reply, i int) map[string]any { return r.body["page"].([]any)[i].(map[string]any) }
	for i, want := range outcomes("accepted") {
		if got := fmt.Sprintf("%s:%v", row(pv, i)["status"], or(row(pv, i)["code"])); got != want {
			t.Errorf("preview row %d: %s, want %s (%v)", i+1, got, want, row(pv, i))
		}
	}
	// The worker's first month: 3,000.00 withholds nothing; with 9,000.00
	// more the month's 12,000.00 is taxed (12,000 × 0.8 − 5,000) × 3%.
	if r := row(pv, 0); r["fee"] != "180.00" || r["iit"] != "0.00" || r["net"] != "3000.00" {
		t.Errorf("row 1: %v", r)
	}
	r2 := row(pv, 1)
	working, _ := r2["tax"].(map[string]any)
	if r2["fee"] != "540.00" || r2["iit"] != "138.00" || r2["net"] != "8862.00" || r2["fee_rule"] == nil || working["method"] != "labor_cumulative" ||
		working["taxable"] != "4600.00" || working["withheld_before"] != "0.00" || !strings.HasSuffix(fmt.Sprint(working["formula"]), "= 138.00") {
		t.Errorf("row 2 and its tax working: %v", r2)
	}
	if r := e.call("GET", "/api/v1/payout-batches/"+batch+"/preview?status=on_hold", w.clerkA, ""); r.status != 200 || len(r.body["page"].([]any)) != 1 || row(r, 0)["row"] != 6.0 {
		t.Errorf("the held rows: %d %v", r.status, r.body)
	}
	if r := e.call("GET", "/api/v1/payout-batches/"+batch+"/preview?limit=2&after=2", w.bossA, ""); r.status != 200 || len(r.body["page"].([]any)) != 2 || row(r, 0)["row"] != 3.0 || r.body["next"] != 4.0 {
		t.Errorf("a page of the preview: %d %v", r.status, r.body)
	}
	if b := e.balanceOf(w.bossA, w.idA); b != "20000.00" {
		t.Fatalf("A's balance after a preview: %s", b)
	}
	if r := e.call("GET", "/api/v1/payout-batches/"+batch, w.bossA, ""); r.body["status"] != "uploaded" || len(r.body["counts"].(map[string]any)) != 0 {
		t.Fatalf("the batch after a preview: %v", r.body)
	}
	if ids, _ := e.payments(w.bossA, "batch="+batch); len(ids) != 0 {
		t.Fatalf("a preview left payments: %v", ids)
	}
	// Nothing of an unconfirmed batch is released.
	if r := e.call("POST", "/api/v1/payout-batches/"+batch+"/release", w.clerkA, ""); r.status != 409 || r.code() != "batch_status" {
		t.Fatalf("a release before the batch ran: %d %v", r.status, r.body)
	}

	// Who confirms: A's administrator, through an important operation.
	confirm := "/api/v1/payout-batches/" + batch + "/confirm"
	for who, token := range map[string]string{"A's operator": w.clerkA, "A's worker": w.workerA} {
		if r := e.call("POST", confirm, token, "", "Idempotency-Key", "not-mine"); r.status != 403 || r.code() != "forbidden" {
			t.Errorf("%s confirming: %d %v", who, r.status, r.body)
		}
	}
	if r := e.uploadBatch(w.idA, w.workerA, payFile("by-a-worker", payRow(w.wA, w.taskA, `"1.00"`))); r.status != 403 {
		t.Errorf("a worker uploading a batch: %d %v", r.status, r.body)
	}
	e.stepUp(w.bossA, "boss-a")
	if r := e.call("POST", confirm, w.bossA, ""); r.status != 400 || r.code() != "invalid_request" {
		t.Fatalf("a confirm without an Idempotency-Key: %d %v", r.status, r.body)
	}
	p := e.call("POST", confirm, w.bossA, "", "Idempotency-Key", "pay-week-2")
	impact, _ := p.body["preview"].(map[string]any)["impact"].(map[string]any)
	if p.status != 200 || impact["paid_now"] != 2.0 || impact["held"] != 1.0 || impact["rejected"] != 4.0 || impact["takes"] != "12720.00" || impact["balance"] != "20000.00" {
		t.Fatalf("the confirm's preview: %d %v", p.status, p.body)
	}
	token := p.body["confirm_token"].(string)
	done := e.call("POST", confirm, w.bossA, "", "Idempotency-Key", "pay-week-2", "X-Confirm-Token", token)
	if done.status != 202 || done.body["batch"] != batch || done.body["status"] != "executing" {
		t.Fatalf("confirm: %d %v", done.status, done.body)
	}
	bt := e.settled(w.bossA, batch)
	if fmt.Sprint(bt["counts"]) != "map[on_hold:1 paid:2 rejected:4]" || bt["sums"].(map[string]any)["paid"] != "12000.00" || bt["chunks_done"] != 1.0 || bt["confirmed_by"] == nil {
		t.Fatalf("the batch settled: %v", bt)
	}
	// The same confirm again answers as the first did; a new key finds the
	// batch confirmed. Either way it ran once.
	again, replayed := e.callHeader("POST", confirm, w.bossA, "", "Idempotency-Key", "pay-week-2", "X-Confirm-Token", token)
	if again.status != 202 || replayed != "true" || fmt.Sprint(again.body) != fmt.Sprint(done.body) {
		t.Fatalf("the confirm replayed: %d %q %v", again.status, replayed, again.body)
	}
	if r := e.confirmed("POST", confirm, w.bossA, "", "pay-week-2-again"); r.status != 409 || r.code() != "batch_status" {
		t.Fatalf("a second confirm: %d %v", r.status, r.body)
	}
	if r := e.call("GET", "/api/v1/payout-batches/"+batch+"/preview", w.bossA, ""); r.status != 409 || r.code() != "batch_status" {
		t.Fatalf("a preview of an executed batch: %d %v", r.status, r.body)
	}
	if n := e.executions(w.operator, batch); n != 1 {
		t.Fatalf("the batch's chunk was booked %d times", n)
	}
	if a, b := e.balanceOf(w.bossA, w.idA), e.balanceOf(w.bossB, w.idB); a != "7280.00" || b != "5000.00" {
		t.Fatalf("balances after the batch: A %s (want 20000.00 − 12000.00 − 720.00 in fees), B %s", a, b)
	}

	// The payments, as A sees them: each row's outcome; the paid ones name
	// their task, agreement, fee, tax and the bank's reference.
	ids, byID := e.payments(w.bossA, "batch="+batch)
	if fmt.Sprint(ids) != fmt.Sprint([]string{pay(1), pay(2), pay(3), pay(4), pay(5), pay(6), pay(7)}) {
		t.Fatalf("A's payments of the batch: %v", ids)
	}
	for i, want := range outcomes("paid") {
		if got := fmt.Sprintf("%s:%v", byID[pay(i+1)]["status"], or(byID[pay(i+1)]["code"])); got != want {
			t.Errorf("payment %d: %s, want %s", i+1, got, want)
		}
	}
	if p := byID[pay(2)]; p["task"] != w.taskA || p["agreement"] != w.agreementA || p["fee"] != "540.00" || p["iit"] != "138.00" || p["net"] != "8862.00" ||
		p["channel"] != "sandbox" || p["channel_ref"] == nil || p["posting"] == nil {
		t.Errorf("payment 2: %v", p)
	}
	if w.bank.Orders() != 2 || w.bank.Payouts(pay(1)) != 1 || w.bank.Payouts(pay(2)) != 1 {
		t.Fatalf("the bank took %d orders, paid %d and %d times", w.bank.Orders(), w.bank.Payouts(pay(1)), w.bank.Payouts(pay(2)))
	}
	first := e.call("GET", "/api/v1/payments?batch="+batch+"&limit=4", w.clerkA, "")
	rest := e.call("GET", "/api/v1/payments?batch="+batch+"&limit=4&after="+fmt.Sprint(first.body["next"]), w.clerkA, "")
	if len(first.body["payments"].([]any)) != 4 || first.body["next"] != pay(4) || len(rest.body["payments"].([]any)) != 3 || rest.body["next"] != nil {
		t.Fatalf("pages of the batch's payments: %v / %v", first.body, rest.body)
	}
	if got, _ := e.payments(w.bossA, ""); !sameSet(got, ids...) {
		t.Fatalf("A's payments: %v", got)
	}
	if got, _ := e.payments(w.reviewer, "merchant="+w.idA); !sameSet(got, ids...) {
		t.Fatalf("A's payments as the platform sees them: %v", got)
	}
	// A's worker sees their own payments, whatever they ask for.
	own := []string{pay(1), pay(2), pay(5), pay(6), pay(7)}
	for q, want := range map[string][]string{
		"": own, "worker=" + w.wA: own, "batch=" + batch: own, "merchant=" + w.idA: own,
		"task=" + w.taskA: {pay(1), pay(2), pay(6), pay(7)}, "task=" + w.taskB: {pay(5)}, "status=paid": {pay(1), pay(2)},
	} {
		if got, _ := e.payments(w.workerA, q); !sameSet(got, want...) {
			t.Errorf("A's worker lists ?%s: %v, want %v", q, got, want)
		}
	}
	if r := e.call("GET", "/api/v1/payments/"+pay(1), w.workerA, ""); r.status != 200 || r.body["status"] != "paid" || r.body["worker"] != w.wA {
		t.Fatalf("A's worker reads their payment: %d %v", r.status, r.body)
	}
	if r := e.call("GET", "/api/v1/payments/"+pay(4), w.workerA, ""); r.status != 404 {
		t.Fatalf("A's worker reads a payment to someone else: %d %v", r.status, r.body)
	}

	// The ledger: every fen where the payments put it.
	bal := balances(t, e.call("GET", "/api/v1/ledger/balances", w.operator, ""))
	for account, want := range map[string]string{
		ledger.Bank: "13138.00", ledger.Merchant(w.idA): "7280.00", ledger.Merchant(w.idB): "5000.00", ledger.IIT: "138.00",
		ledger.FeeIncome: "720.00", ledger.WorkerPayable: "0.00", ledger.Clearing("sandbox"): "0.00", ledger.VAT: "0.00", ledger.Surcharges: "0.00",
	} {
		if got := zero(bal[account]); got != want {
			t.Errorf("ledger %s: %s, want %s", account, got, want)
		}
	}

	// Tenancy: B's administrator and operator, and B's worker, get for A's
	// batch and payments what they get for IDs that do not exist — not
	// found where their role may use the route, forbidden where it may not.
	e.stepUp(w.bossB, "boss-b") // so that B's confirm gets past the step-up
	guess := "pb-0000000000000000"
	for _, rt := range []struct{ action, method, path, body string }{
		{"payouts.read", "GET", "/api/v1/payout-batches/%s", ""},
		{"payouts.read", "GET", "/api/v1/payout-batches/%s/preview", ""},
		{"payouts.confirm", "POST", "/api/v1/payout-batches/%s/confirm", ""},
		{"payouts.release", "POST", "/api/v1/payout-batches/%s/release", ""},
		{"payments.read", "GET", "/api/v1/payments/%s-000001", ""},
		{"payments.read", "GET", "/api/v1/payments/%s-000006", ""},
		{"payments.cancel", "POST", "/api/v1/payments/%s-000006/cancel", `{"reason":"不付了"}`},
	} {
		for _, who := range []struct{ name, role, token string }{
			{"B's admin", "merchant_admin", w.bossB}, {"B's operator", "merchant_operator", w.clerkB}, {"B's worker", "worker", w.workerB},
		} {
			want, code := 403, "forbidden"
			if slices.Contains(expected[rt.action], who.role) {
				want, code = 404, "not_found"
			}
			onA := e.call(rt.method, fmt.Sprintf(rt.path, batch), who.token, rt.body, "Idempotency-Key", "peek-"+who.role)
			guessed := e.call(rt.method, fmt.Sprintf(rt.path, guess), who.token, rt.body, "Idempotency-Key", "guess-"+who.role)
			// The message too: another tenant's batch reads as one that
			// does not exist, never naming whose it is.
			if onA.status != want || onA.code() != code || guessed.status != onA.status || guessed.code() != onA.code() ||
				strings.ReplaceAll(onA.message(), batch, guess) != guessed.message() {
				t.Errorf("%s %s %s: %d %v (a guessed ID: %d %v), want %d %s", who.name, rt.method, rt.path, onA.status, onA.body, guessed.status, guessed.body, want, code)
			}
		}
	}
	for _, who := range []struct{ name, token string }{{"B's admin", w.bossB}, {"B's operator", w.clerkB}} {
		if r := e.call("GET", "/api/v1/merchants/"+w.idA+"/payout-batches", who.token, ""); r.status != 404 {
			t.Errorf("%s lists A's batches: %d %v", who.name, r.status, r.body)
		}
		if r := e.uploadBatch(w.idA, who.token, payFile("planted", payRow(w.wB, w.taskB, `"1.00"`))); r.status != 404 {
			t.Errorf("%s uploads a batch for A: %d %v", who.name, r.status, r.body)
		}
		for _, q := range []string{"batch=" + batch, "merchant=" + w.idA, "worker=" + w.wA, "task=" + w.taskA, ""} {
			if got, _ := e.payments(who.token, q); len(got) != 0 {
				t.Errorf("%s lists ?%s: %v", who.name, q, got)
			}
		}
	}
	for _, q := range []string{"worker=" + w.wA, "task=" + w.taskA, "worker=" + w.wA + "&batch=" + batch} {
		if got, _ := e.payments(w.workerB, q); len(got) != 0 {
			t.Errorf("B's worker lists ?%s: %v", q, got)
		}
	}
	// The one row of A's batch that names B's worker (refused: they never
	// joined A) is theirs to see, and nothing else of A's.
	for _, q := range []string{"batch=" + batch, "merchant=" + w.idA, "task=" + w.taskB} {
		if got, _ := e.payments(w.workerB, q); fmt.Sprint(got) != fmt.Sprint([]string{pay(3)}) {
			t.Errorf("B's worker lists ?%s: %v", q, got)
		}
	}
	// The ledger is the platform's.
	for who, token := range map[string]string{"A's admin": w.bossA, "A's operator": w.clerkA, "A's worker": w.workerA, "B's admin": w.bossB} {
		for _, path := range []string{"/api/v1/ledger/balances", "/api/v1/ledger/postings"} {
			if r := e.call("GET", path, token, ""); r.status != 403 || r.code() != "forbidden" {
				t.Errorf("%s GET %s: %d %v", who, path, r.status, r.body)
			}
		}
	}

	// A held payment is cancelled, once; nothing else is.
	cancel := func(row int, body string) reply {
		return e.call("POST", "/api/v1/payments/"+pay(row)+"/cancel", w.clerkA, body)
	}
	for _, row := range []int{1, 3, 7} {
		if r := cancel(row, `{"reason":"多付了"}`); r.status != 409 || r.code() != "payment_status" {
			t.Errorf("cancelling payment %d: %d %v", row, r.status, r.body)
		}
	}
	if r := cancel(6, `{"reason":" "}`); r.status != 400 || r.code() != "invalid_request" {
		t.Errorf("a cancel without a reason: %d %v", r.status, r.body)
	}
	if r := cancel(6, `{"reason":"余额不足，改下周支付"}`); r.status != 200 || r.body["status"] != "cancelled" {
		t.Fatalf("cancel the held payment: %d %v", r.status, r.body)
	}
	if r := cancel(6, `{"reason":"再取消一次"}`); r.status != 409 || r.code() != "payment_status" {
		t.Fatalf("cancelling twice: %d %v", r.status, r.body)
	}
	if r := e.call("GET", "/api/v1/payout-batches/"+batch, w.bossA, ""); fmt.Sprint(r.body["counts"]) != "map[cancelled:1 paid:2 rejected:4]" {
		t.Fatalf("the batch after the cancel: %v", r.body)
	}
	if r := e.call("POST", "/api/v1/payout-batches/"+batch+"/release", w.bossA, ""); r.status != 200 || r.body["held"] != 0.0 || r.body["released"] != 0.0 {
		t.Fatalf("release with nothing held: %d %v", r.status, r.body)
	}

	// Bad files are refused whole with their code, naming the row; nothing
	// is stored.
	good := payRow(w.wA, w.taskA, `"1.00"`)
	before := e.batchRefs(w.idA, w.bossA)
	for _, c := range []struct {
		name, body string
		status     int
		code, says string
	}{
		{"an amount as a JSON number", payFile("bad", good, payRow(w.wA, w.taskA, `1200`)), 400, "batch_row_invalid", "row 2: amount"},
		{"an amount as a JSON number with decimals", payFile("bad", payRow(w.wA, w.taskA, `1200.00`)), 400, "batch_row_invalid", "row 1: amount"},
		{"a negative amount", payFile("bad", payRow(w.wA, w.taskA, `"-5.00"`)), 400, "batch_row_invalid", "row 1: amount"},
		{"a zero amount", payFile("bad", payRow(w.wA, w.taskA, `"0.00"`)), 400, "batch_row_invalid", "row 1: amount"},
		{"three decimals", payFile("bad", good, good, payRow(w.wA, w.taskA, `"1.005"`)), 400, "batch_row_invalid", "row 3: amount"},
		{"no amount", payFile("bad", fmt.Sprintf(`{"worker":%q,"task":%q}`, w.wA, w.taskA)), 400, "batch_row_invalid", "row 1: amount"},
		{"no worker", payFile("bad", payRow("", w.taskA, `"1.00"`)), 400, "batch_row_invalid", "row 1: worker"},
		{"no task", payFile("bad", good, payRow(w.wA, " ", `"1.00"`)), 400, "batch_row_invalid", "row 2: task"},
		{"a memo of 201 bytes", payFile("bad", good, fmt.Sprintf(`{"worker":%q,"task":%q,"amount":"1.00","memo":%q}`, w.wA, w.taskA, strings.Repeat("x", 201))), 400, "batch_row_invalid", "row 2: memo"},
		{"no rows", payFile("bad"), 400, "batch_row_invalid", "at least one row"},
		{"no reference", payFile("", good), 400, "invalid_request", "ref"},
		{"not a batch", `{"ref":"bad","rows":{}}`, 400, "batch_row_invalid", "not a batch"},
		{"a reference used before", payFile(ref, good), 409, "batch_duplicate", ref},
	} {
		r := e.uploadBatch(w.idA, w.bossA, c.body)
		if r.status != c.status || r.code() != c.code || !strings.Contains(errMessage(r), c.says) {
			t.Errorf("%s: %d %v, want %d %s saying %q", c.name, r.status, r.body, c.status, c.code, c.says)
		}
	}
	csv := "worker,task,amount,memo\n" + w.wA + "," + w.taskA + ",1.00,ok\n"
	for _, c := range []struct {
		name, ref, file string
		code, says      string
	}{
		{"a bad amount in row 2", "bad-csv", csv + w.wA + "," + w.taskA + ",1.005,x\n", "batch_row_invalid", "row 2: amount"},
		{"a row of three fields", "bad-csv", csv + w.wA + "," + w.taskA + ",1.00\n", "batch_row_invalid", "row 2"},
		{"another header", "bad-csv", "name,task,amount,memo\n" + w.wA + "," + w.taskA + ",1.00,x\n", "batch_row_invalid", "header"},
		{"no reference", "", csv, "invalid_request", "ref"},
	} {
		r := e.uploadCSV(w.idA, w.bossA, c.ref, c.file)
		if r.status != 400 || r.code() != c.code || !strings.Contains(errMessage(r), c.says) {
			t.Errorf("CSV, %s: %d %v, want %s saying %q", c.name, r.status, r.body, c.code, c.says)
		}
	}
	if r := e.call("POST", "/api/v1/merchants/"+w.idA+"/payout-batches?ref=bad", w.bossA, csv, "Content-Type", "text/plain"); r.status != 415 {
		t.Errorf("a batch as text/plain: %d %v", r.status, r.body)
	}
	// One row past the most a batch holds, as JSON and as CSV.
	var js, cs strings.Builder
	js.WriteString(`{"ref":"too-large","rows":[`)
	cs.WriteString("worker,task,amount,memo\n")
	for i := range payouts.MaxRows + 1 {
		if i > 0 {
			js.WriteByte(',')
		}
		js.WriteString(`{"worker":"w","task":"t","amount":"1.00"}`)
		cs.WriteString("w,t,1.00,\n")
	}
	js.WriteString("]}")
	if r := e.uploadBatch(w.idA, w.bossA, js.String()); r.status != 400 || r.code() != "batch_too_large" {
		t.Errorf("%d rows as JSON: %d %v", payouts.MaxRows+1, r.status, r.body)
	}
	if r := e.uploadCSV(w.idA, w.bossA, "too-large", cs.String()); r.status != 400 || r.code() != "batch_too_large" {
		t.Errorf("%d rows as CSV: %d %v", payouts.MaxRows+1, r.status, r.body)
	}
	if after := e.batchRefs(w.idA, w.bossA); fmt.Sprint(after) != fmt.Sprint(before) || fmt.Sprint(after) != "["+ref+"]" {
		t.Fatalf("refused uploads left batches: %v", after)
	}
	e.verifyPayouts()
}

// Racing requests change nothing twice: the same file uploaded at once by
// several users of the merchant is stored once; two confirms of one batch,
// each previewed under its own Idempotency-Key, execute it once; a confirm
// sent several times at once under one key runs once and answers each the
// same.
func TestRacingUploadsAndConfirmsPayOnce(t *testing.T) {
	w := payoutWorld(t)
	e := w.e

	file := payFile("2026-11-b", payRow(w.wB, w.taskB, `"800.00"`))
	created := 0
	for _, r := range parallel(6, func(i int) reply { return e.uploadBatch(w.idB, []string{w.bossB, w.clerkB}[i%2], file) }) {
		switch {
		case r.status == 201:
			created++
		case r.status == 409 && r.code() == "batch_duplicate":
		default:
			t.Errorf("a racing upload: %d %v", r.status, r.body)
		}
	}
	if refs := e.batchRefs(w.idB, w.bossB); created != 1 || fmt.Sprint(refs) != "[2026-11-b]" {
		t.Fatalf("%d racing uploads answered 201; B's batches: %v", created, refs)
	}

	// Two confirms, two keys, at once.
	up := e.uploadCSV(w.idA, w.clerkA, "2026-11-overtime", "worker,task,amount,memo\n"+w.wA+","+w.taskA+",1000.00,加班费\n")
	if up.status != 201 || up.body["total"] != "1000.00" {
		t.Fatalf("CSV upload: %d %v", up.status, up.body)
	}
	batch := up.body["batch"].(string)
	confirm := "/api/v1/payout-batches/" + batch + "/confirm"
	e.stepUp(w.bossA, "boss-a")
	var tokens [2]string
	for i := range tokens {
		p := e.call("POST", confirm, w.bossA, "", "Idempotency-Key", fmt.Sprint("race-", i))
		if p.status != 200 {
			t.Fatalf("preview %d: %d %v", i, p.status, p.body)
		}
		tokens[i] = p.body["confirm_token"].(string)
	}
	both := parallel(2, func(i int) reply {
		return e.call("POST", confirm, w.bossA, "", "Idempotency-Key", fmt.Sprint("race-", i), "X-Confirm-Token", tokens[i])
	})
	if both[0].status+both[1].status != 202+409 || both[0].code()+both[1].code() != "batch_status" {
		t.Fatalf("racing confirms: %d %v / %d %v", both[0].status, both[0].body, both[1].status, both[1].body)
	}
	if c := e.settled(w.bossA, batch)["counts"]; fmt.Sprint(c) != "map[paid:1]" {
		t.Fatalf("the batch: %v", c)
	}
	if n := e.executions(w.operator, batch); n != 1 {
		t.Fatalf("booked %d times", n)
	}
	if b := e.balanceOf(w.bossA, w.idA); b != "18940.00" {
		t.Fatalf("A's balance after 1,000.00 and its 60.00 fee: %s", b)
	}

	// One confirm, one key, sent many times at once — a client retrying a
	// confirm it got no answer to: each is answered as the first, which ran
	// once. The twins leave 0.3 ms apart so that some are on their way (the
	// key looked up and found unused) when the first one runs. That
	// interleaving is caught in about one round in four, so twelve batches
	// are confirmed so (before the pipeline answered it, 6 runs in 8 failed
	// with five rounds).
	var bonus []string
	for round := range 12 {
		up := e.uploadBatch(w.idA, w.bossA, payFile(fmt.Sprint("2026-11-bonus-", round), payRow(w.wA, w.taskA, `"100.00"`)))
		if up.status != 201 {
			t.Fatalf("upload: %d %v", up.status, up.body)
		}
		bonus = append(bonus, up.body["batch"].(string))
	}
	for round, batch := range bonus {
		confirm := "/api/v1/payout-batches/" + batch + "/confirm"
		key := fmt.Sprint("twin-", round)
		p := e.call("POST", confirm, w.bossA, "", "Idempotency-Key", key)
		token, _ := p.body["confirm_token"].(string)
		twins := parallel(40, func(i int) reply {
			time.Sleep(time.Duration(i) * 300 * time.Microsecond)
			return e.call("POST", confirm, w.bossA, "", "Idempotency-Key", key, "X-Confirm-Token", token)
		})
		for _, r := range twins {
			if r.status != 202 || fmt.Sprint(r.body) != fmt.Sprint(twins[0].body) {
				t.Fatalf("round %d, twin confirms: %d %v / %v", round, r.status, r.body, twins[0].body)
			}
		}
	}
	// A key used for one batch's confirm confirms no other.
	if r := e.call("POST", "/api/v1/payout-batches/"+bonus[1]+"/confirm", w.bossA, "", "Idempotency-Key", "twin-0"); r.status != 409 || r.code() != "idempotency_conflict" {
		t.Fatalf("a used key on another batch: %d %v", r.status, r.body)
	}
	for _, batch := range bonus {
		if c := e.settled(w.bossA, batch)["counts"]; fmt.Sprint(c) != "map[paid:1]" {
			t.Fatalf("a twin-confirmed batch: %v", c)
		}
		if n := e.executions(w.operator, batch); n != 1 {
			t.Fatalf("booked %d times", n)
		}
	}
	if b := e.balanceOf(w.bossA, w.idA); b != "17668.00" {
		t.Fatalf("A's balance after twelve times 100.00 and its 6.00 fee: %s", b)
	}
	if w.bank.Orders() != 13 {
		t.Fatalf("the bank took %d orders", w.bank.Orders())
	}
	e.verifyPayouts()
}
