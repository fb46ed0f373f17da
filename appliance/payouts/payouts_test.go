package payouts_test

import (
	"encoding/json"
	"testing"
	"time"

	"cxt/appliance/callbacks"
	"cxt/appliance/ledger"
	"cxt/appliance/payouts"
	"cxt/storage/state"
	"cxt/storage/state/statetest"
)

func TestABatchPaysVerifiedSignedWorkersAndHoldsOrRejectsTheRest(t *testing.T) {
	w := newWorld(t, nil)
	w.ok(cmdSeed, seed{Merchants: []string{"m1"}, Workers: workerIDs("w", 3), Unverified: []string{"u1"}, Unsigned: []string{"s1"}})
	w.ok(cmdTopUp, topUp{Merchant: "m1", Fen: 1_000_000, Ref: "t1"})
	w.ok(payouts.CmdBlock, payouts.Block{Worker: "w0002", Reason: "fraud report 17"})
	rows := []payouts.Row{
		{Worker: "w0000", Task: "task-1", Amount: "3000.00"},
		{Worker: "w0001", Task: "task-1", Amount: "800.00"},
		{Worker: "w0002", Task: "task-1", Amount: "100.00"},
		{Worker: "u1", Task: "task-1", Amount: "100.00"},
		{Worker: "s1", Task: "task-1", Amount: "100.00"},
		{Worker: "nobody", Task: "task-1", Amount: "100.00"},
		{Worker: "w0000", Task: "task-1", Amount: "9000.00"}, // over what is left: held
	}
	b := w.run(w.upload("m1", "march-1", rows))
	if b.Status != payouts.Executed || b.Counts[payouts.Accepted] != 2 || b.Counts[payouts.OnHold] != 3 || b.Counts[payouts.Rejected] != 2 {
		t.Fatalf("batch: %+v", b)
	}
	want := map[int]struct {
		status payouts.Status
		code   string
	}{
		1: {payouts.Accepted, ""}, 2: {payouts.Accepted, ""}, 3: {payouts.Rejected, payouts.ReasonBlacklisted},
		4: {payouts.OnHold, payouts.ReasonWorkerUnverified}, 5: {payouts.OnHold, payouts.ReasonAgreement},
		6: {payouts.Rejected, payouts.ReasonWorkerUnknown}, 7: {payouts.OnHold, payouts.ReasonBalance},
	}
	for row, wt := range want {
		p := w.payment(payouts.PaymentID(b.ID, row))
		if p.Status != wt.status || p.Code != wt.code {
			t.Errorf("row %d: %s %s (%s), want %s %s", row, p.Status, p.Code, p.Reason, wt.status, wt.code)
		}
	}
	// 3,000.00 in March as the first month: cumulative base 3000×0.8−5000 < 0, no IIT;
	// 800.00: no IIT either.
	p1 := w.payment(payouts.PaymentID(b.ID, 1))
	if p1.IITFen != 0 || p1.NetFen != 300_000 || p1.Agreement != "agr-m1-w0000" || p1.Month != 202603 || p1.RuleSet == "" {
		t.Fatalf("row 1: %+v", p1)
	}
	if got := w.balance(ledger.Merchant("m1")); got != 1_000_000-380_000 {
		t.Fatalf("merchant holds %d", got)
	}
	// A top-up, and the held rows run again: the balance hold passes; the
	// unverified and unsigned workers stay held.
	w.ok(cmdTopUp, topUp{Merchant: "m1", Fen: 1_000_000, Ref: "t2"})
	w.ok(payouts.CmdRelease, payouts.Release{Batch: b.ID})
	p7 := w.payment(payouts.PaymentID(b.ID, 7))
	if p7.Status != payouts.Accepted {
		t.Fatalf("row 7 after the top-up: %+v", p7)
	}
	// Second payment to w0000 in March: cumulative 12,000 → base 12000×0.8−5000 = 4600 → 138.00.
	if p7.IITFen != 13_800 {
		t.Fatalf("row 7 withheld %d fen, want 13800", p7.IITFen)
	}
	res := w.Send(payouts.CmdCancel, payouts.Cancel{Payment: payouts.PaymentID(b.ID, 1), Reason: "oops"})
	if statetest.Code(res.Err) != "payment_status" {
		t.Fatalf("cancel of an accepted payment: %+v", res)
	}
	w.ok(payouts.CmdCancel, payouts.Cancel{Payment: payouts.PaymentID(b.ID, 4), Reason: "worker left"})
	audit(t, w.State, w.rules)
}

func TestADuplicateUploadAndAReplayedConfirmChangeNothing(t *testing.T) {
	w := newWorld(t, nil)
	w.ok(cmdSeed, seed{Merchants: []string{"m1"}, Workers: workerIDs("w", 2)})
	w.ok(cmdTopUp, topUp{Merchant: "m1", Fen: 1_000_000, Ref: "t1"})
	rows := rowsFor(workerIDs("w", 2), 10_000)
	id := w.upload("m1", "april", rows)
	cmds, err := payouts.UploadCommands("pb-other", "m1", "april", "acct-op", rowsFor(workerIDs("w", 2), 10_000), w.Now)
	if err != nil {
		t.Fatal(err)
	}
	if res := w.Apply(cmds[0]); statetest.Code(res.Err) != "batch_duplicate" {
		t.Fatalf("second upload of ref april: %+v", res)
	}
	w.run(id)
	res := w.Send(payouts.CmdConfirm, payouts.Confirm{Batch: id, By: "acct-admin"})
	if statetest.Code(res.Err) != "batch_status" {
		t.Fatalf("replayed confirm: %+v", res)
	}
	res = w.Send(payouts.CmdExecute, payouts.Chunk{Batch: id, Chunk: 0})
	if statetest.Code(res.Err) != "batch_status" {
		t.Fatalf("replayed chunk: %+v", res)
	}
	if got := w.balance(ledger.Merchant("m1")); got != 1_000_000-20_000 {
		t.Fatalf("merchant holds %d after replays", got)
	}
	audit(t, w.State, w.rules)
}

func TestTheChannelMovesPaymentsAndAReturnReversesTheWithholding(t *testing.T) {
	w := newWorld(t, nil)
	w.ok(cmdSeed, seed{Merchants: []string{"m1"}, Workers: workerIDs("w", 2)})
	w.ok(cmdTopUp, topUp{Merchant: "m1", Fen: 10_000_000, Ref: "t1"})
	b := w.run(w.upload("m1", "may", rowsFor(workerIDs("w", 2), 2_000_000))) // 20,000.00 each
	p0, p1 := w.payment(payouts.PaymentID(b.ID, 1)), w.payment(payouts.PaymentID(b.ID, 2))
	// 20,000 in the first month: base 20000×0.8−5000 = 11000 → 11000×3% = 330.00.
	if p0.IITFen != 33_000 || p0.NetFen != 2_000_000-33_000 {
		t.Fatalf("withheld %+v", p0)
	}
	var outbox []payouts.SentItem
	w.view(func(r *state.ReadTx) error {
		items, err := payouts.Outbox(r, 0, 10)
		outbox = items
		return err
	})
	if len(outbox) != 2 {
		t.Fatalf("outbox: %+v", outbox)
	}
	for i := range outbox {
		outbox[i].ChannelRef = "ch-" + outbox[i].Payment
	}
	w.ok(payouts.CmdSent, payouts.Sent{Channel: "sandbox", Items: outbox})
	w.ok(payouts.CmdSent, payouts.Sent{Channel: "sandbox", Items: outbox}) // a second hand-over changes nothing
	if got := w.balance(ledger.Clearing("sandbox")); got != p0.NetFen+p1.NetFen {
		t.Fatalf("clearing holds %d", got)
	}
	out := w.ok(payouts.CmdResults, payouts.Results{Channel: "sandbox", Cursor: "c1", Items: []payouts.Result{
		{Payment: p0.ID, Status: payouts.Paid, At: w.Now}, {Payment: p1.ID, Status: payouts.Failed, Reason: "card closed", At: w.Now},
		{Payment: "pb-nope-000001", Status: payouts.Paid, At: w.Now},
	}})
	if string(out) != `{"applied":2,"unknown":["pb-nope-000001"]}` {
		t.Fatalf("results: %s", out)
	}
	// The same results again: nothing moves twice.
	out = w.ok(payouts.CmdResults, payouts.Results{Channel: "sandbox", Cursor: "c1", Items: []payouts.Result{{Payment: p0.ID, Status: payouts.Paid, At: w.Now}}})
	if string(out) != `{"applied":0,"ignored":{"`+p0.ID+`":"`+p0.ID+` is paid; paid does not apply"}}` {
		t.Fatalf("replayed results: %s", out)
	}
	if got := w.balance(ledger.Merchant("m1")); got != 10_000_000-2_000_000 {
		t.Fatalf("merchant holds %d after one paid and one failed", got)
	}
	if got := w.balance(ledger.IIT); got != p0.IITFen {
		t.Fatalf("IIT payable %d after the failure", got)
	}
	audit(t, w.State, w.rules)
	// 退汇 days later: the money comes back, the withholding with it; the
	// worker's next payment is taxed as if the returned one never was.
	w.ok(payouts.CmdResults, payouts.Results{Channel: "sandbox", Cursor: "c2", Items: []payouts.Result{{Payment: p0.ID, Status: payouts.Returned, Reason: "account frozen", At: w.Now}}})
	if got := w.balance(ledger.Merchant("m1")); got != 10_000_000 || w.balance(ledger.IIT) != 0 || w.balance(ledger.Bank) != 10_000_000 {
		t.Fatalf("after the return: merchant %d, IIT %d, bank %d", got, w.balance(ledger.IIT), w.balance(ledger.Bank))
	}
	b2 := w.run(w.upload("m1", "may-2", rowsFor(workerIDs("w", 1), 2_000_000)))
	if p := w.payment(payouts.PaymentID(b2.ID, 1)); p.IITFen != 33_000 {
		t.Fatalf("after the return the next 20,000.00 withheld %d, want 33000", p.IITFen)
	}
	audit(t, w.State, w.rules)
}

func TestThePreviewIsWhatExecutionDoes(t *testing.T) {
	w := newWorld(t, nil)
	ws := workerIDs("w", 30)
	w.ok(cmdSeed, seed{Merchants: []string{"m1"}, Workers: ws, Unsigned: []string{"s1"}})
	w.ok(cmdTopUp, topUp{Merchant: "m1", Fen: 30_000_000, Ref: "t1"})
	rows := rowsFor(append(ws, "s1", "ghost"), 1_500_000)
	rows = append(rows, rowsFor(ws[:5], 4_000_000)...) // runs out of money part-way
	id := w.upload("m1", "june", rows)
	res, err := w.State.DryRun(state.NewCommand(payouts.CmdPreview, mustJSON(payouts.PreviewAsk{Batch: id, Limit: 5, Status: payouts.OnHold}), w.Now))
	if err != nil || res.Err != nil {
		t.Fatal(err, res.Err)
	}
	var pv payouts.Preview
	if err := json.Unmarshal(res.Value, &pv); err != nil {
		t.Fatal(err)
	}
	if got := w.balance(ledger.Merchant("m1")); got != 30_000_000 {
		t.Fatalf("the preview moved the balance to %d", got)
	}
	if w.batch(id).Status != payouts.Uploaded {
		t.Fatal("the preview changed the batch")
	}
	b := w.run(id)
	for _, s := range []payouts.Status{payouts.Accepted, payouts.OnHold, payouts.Rejected} {
		if pv.Counts[s] != b.Counts[s] {
			t.Errorf("%s: the preview said %d, execution did %d", s, pv.Counts[s], b.Counts[s])
		}
	}
	if pv.Counts[payouts.OnHold] < 2 || len(pv.Page) == 0 || pv.Page[0].Status != payouts.OnHold {
		t.Fatalf("preview: %+v", pv)
	}
	spent := 30_000_000 - w.balance(ledger.Merchant("m1"))
	if pv.Needs != ledger.Yuan(spent) {
		t.Fatalf("the preview said it needs %s; execution took %s", pv.Needs, ledger.Yuan(spent))
	}
	// The first accepted row's working: 15,000 in the first month.
	res, _ = w.State.DryRun(state.NewCommand(payouts.CmdPreview, mustJSON(payouts.PreviewAsk{Batch: id}), w.Now))
	if statetest.Code(res.Err) != "batch_status" {
		t.Fatalf("a preview of an executed batch: %+v", res)
	}
	if res := w.Send(payouts.CmdPreview, payouts.PreviewAsk{Batch: id}); statetest.Code(res.Err) != "invalid_request" {
		t.Fatalf("a proposed preview: %+v", res)
	}
}

func TestThePreviewShowsTheTaxWorking(t *testing.T) {
	w := newWorld(t, nil)
	w.ok(cmdSeed, seed{Merchants: []string{"m1"}, Workers: workerIDs("w", 1)})
	w.ok(cmdTopUp, topUp{Merchant: "m1", Fen: 10_000_000, Ref: "t1"})
	id := w.upload("m1", "july", rowsFor(workerIDs("w", 1), 2_000_000))
	res, err := w.State.DryRun(state.NewCommand(payouts.CmdPreview, mustJSON(payouts.PreviewAsk{Batch: id}), w.Now))
	if err != nil || res.Err != nil {
		t.Fatal(err, res.Err)
	}
	var pv payouts.Preview
	json.Unmarshal(res.Value, &pv)
	tx := pv.Page[0].Tax
	if pv.Page[0].IIT != "330.00" || tx == nil || tx.Base != "11000.00" || tx.Cost != "4000.00" || tx.Deduction != "5000.00" || tx.Months != 1 {
		t.Fatalf("row: %+v tax %+v", pv.Page[0], tx)
	}
	if pv.Totals.Amount != "20000.00" || pv.Totals.Net != "19670.00" {
		t.Fatalf("totals: %+v", pv.Totals)
	}
}

func TestTheMerchantPaysTheFeeOnTopAndGetsItBackOnAFailure(t *testing.T) {
	rules := defaultRules()
	rules.Fee = func(payouts.Getter, string, time.Time) (func(int64) int64, string, error) {
		return func(fen int64) int64 { return (fen*6 + 50) / 100 }, "m1/v1", nil
	}
	w := newWorld(t, rules)
	w.ok(cmdSeed, seed{Merchants: []string{"m1"}, Workers: workerIDs("w", 2)})
	w.ok(cmdTopUp, topUp{Merchant: "m1", Fen: 215_000, Ref: "t1"})
	b := w.run(w.upload("m1", "fees", rowsFor(workerIDs("w", 2), 100_000)))
	p1, p2 := w.payment(payouts.PaymentID(b.ID, 1)), w.payment(payouts.PaymentID(b.ID, 2))
	if p1.FeeFen != 6_000 || p1.FeeRule != "m1/v1" || p2.FeeFen != 6_000 {
		t.Fatalf("fees: %+v %+v", p1, p2)
	}
	if got := w.balance(ledger.Merchant("m1")); got != 215_000-212_000 || w.balance(ledger.FeeIncome) != 12_000 {
		t.Fatalf("merchant %d, fee income %d", got, w.balance(ledger.FeeIncome))
	}
	w.ok(payouts.CmdSent, payouts.Sent{Channel: "sandbox", Items: []payouts.SentItem{{Outbox: 1, Payment: p1.ID, ChannelRef: "x1"}}})
	w.ok(payouts.CmdResults, payouts.Results{Channel: "sandbox", Cursor: "1", Items: []payouts.Result{{Payment: p1.ID, Status: payouts.Failed, At: w.Now}}})
	if got := w.balance(ledger.Merchant("m1")); got != 3_000+106_000 || w.balance(ledger.FeeIncome) != 6_000 {
		t.Fatalf("after the failure: merchant %d, fee income %d", got, w.balance(ledger.FeeIncome))
	}
	audit(t, w.State, w.rules)
}

func TestTheMerchantsSystemsAreCalledBackOncePerCommandAndEvent(t *testing.T) {
	w := newWorld(t, nil)
	w.ok(cmdSeed, seed{Merchants: []string{"m1"}, Workers: workerIDs("w", 3), Unsigned: []string{"s1"},
		Endpoints: map[string]string{"m1": "https://erp.example.com/cxt"}})
	w.ok(cmdTopUp, topUp{Merchant: "m1", Fen: 1_000_000, Ref: "t1"})
	b := w.run(w.upload("m1", "cb", rowsFor(append(workerIDs("w", 3), "s1"), 10_000)))
	p1 := w.payment(payouts.PaymentID(b.ID, 1))
	w.ok(payouts.CmdResults, payouts.Results{Channel: "sandbox", Cursor: "1", Items: []payouts.Result{
		{Payment: p1.ID, Status: payouts.Paid, At: w.Now}, {Payment: payouts.PaymentID(b.ID, 2), Status: payouts.Paid, At: w.Now}}})
	events := map[string]int{}
	var paid struct {
		Data struct {
			Payments []map[string]any `json:"payments"`
		} `json:"data"`
	}
	w.view(func(r *state.ReadTx) error {
		return r.Scan(callbacks.Bucket, func(k, v []byte, openErr error) error {
			var d callbacks.Delivery
			if err := json.Unmarshal(v, &d); err != nil {
				return err
			}
			events[d.Event]++
			if d.Event == callbacks.EventPaymentPaid {
				return json.Unmarshal(d.Body, &paid)
			}
			return nil
		})
	})
	want := map[string]int{callbacks.EventPaymentOnHold: 1, "batch.executed": 1, callbacks.EventPaymentPaid: 1}
	for e, n := range want {
		if events[e] != n {
			t.Errorf("%s: %d deliveries, want %d (all: %v)", e, events[e], n, events)
		}
	}
	if len(paid.Data.Payments) != 2 || paid.Data.Payments[0]["status"] != "paid" || paid.Data.Payments[0]["net"] != "100.00" {
		t.Fatalf("the paid callback: %+v", paid)
	}
}

func TestTheWorkIsNeverPaidMoreThanItWasAcceptedFor(t *testing.T) {
	rules := defaultRules()
	rules.Task = func(payouts.Getter, string, string, string) (int64, error) { return 100_000, nil } // 1,000.00 accepted
	w := newWorld(t, rules)
	w.ok(cmdSeed, seed{Merchants: []string{"m1"}, Workers: workerIDs("w", 1)})
	w.ok(cmdTopUp, topUp{Merchant: "m1", Fen: 1_000_000, Ref: "t1"})
	b := w.run(w.upload("m1", "a", rowsFor([]string{"w0000", "w0000"}, 60_000)))
	p1, p2 := w.payment(payouts.PaymentID(b.ID, 1)), w.payment(payouts.PaymentID(b.ID, 2))
	if p1.Status != payouts.Accepted || p2.Status != payouts.Rejected || p2.Code != payouts.ReasonOverAccepted {
		t.Fatalf("%s, then %s %s (%s)", p1.Status, p2.Status, p2.Code, p2.Reason)
	}
	// The first fails at the bank: the work may be paid again.
	w.ok(payouts.CmdSent, payouts.Sent{Channel: "sandbox", Items: []payouts.SentItem{{Outbox: 1, Payment: p1.ID, ChannelRef: "x"}}})
	w.ok(payouts.CmdResults, payouts.Results{Channel: "sandbox", Cursor: "1", Items: []payouts.Result{{Payment: p1.ID, Status: payouts.Failed, At: w.Now}}})
	b2 := w.run(w.upload("m1", "b", rowsFor([]string{"w0000"}, 100_000)))
	if p := w.payment(payouts.PaymentID(b2.ID, 1)); p.Status != payouts.Accepted {
		t.Fatalf("after the failure: %s %s", p.Status, p.Reason)
	}
	audit(t, w.State, w.rules)
}

func TestAMonthsFeesChargedAfterAreBookedOnceWhenTheMonthIsOver(t *testing.T) {
	rules := defaultRules()
	rules.Statement = func(payouts.Getter, string, time.Time) (func([]int64) int64, string, error) {
		return func(fens []int64) int64 { // 1% of the month, at least 5.00
			var sum int64
			for _, f := range fens {
				sum += f
			}
			return max(sum/100, 500)
		}, "m1/v3", nil
	}
	w := newWorld(t, rules)
	w.ok(cmdSeed, seed{Merchants: []string{"m1"}, Workers: workerIDs("w", 2)})
	w.ok(cmdTopUp, topUp{Merchant: "m1", Fen: 1_000_000, Ref: "t1"})
	b := w.run(w.upload("m1", "march", rowsFor(workerIDs("w", 2), 200_000))) // 4,000.00 in March
	_ = b
	res := w.Send(payouts.CmdStatement, payouts.StatementAsk{Merchant: "m1", Period: "2026-03", By: "acct-ops"})
	if statetest.Code(res.Err) != "statement_status" {
		t.Fatalf("a statement before the month is over: %+v", res)
	}
	w.Now = time.Date(2026, 4, 1, 0, 0, 0, 0, payouts.China)
	var st payouts.Statement
	if err := json.Unmarshal(w.ok(payouts.CmdStatement, payouts.StatementAsk{Merchant: "m1", Period: "2026-03", By: "acct-ops"}), &st); err != nil {
		t.Fatal(err)
	}
	if st.Payments != 2 || st.Total != "4000.00" || st.Fee != "40.00" || st.Rule != "m1/v3" || st.Posting == 0 {
		t.Fatalf("statement: %+v", st)
	}
	if got := w.balance(ledger.Merchant("m1")); got != 1_000_000-400_000-4_000 {
		t.Fatalf("merchant holds %d", got)
	}
	if res := w.Send(payouts.CmdStatement, payouts.StatementAsk{Merchant: "m1", Period: "2026-03", By: "acct-ops"}); statetest.Code(res.Err) != "statement_status" {
		t.Fatalf("a second statement of March: %+v", res)
	}
	if res := w.Send(payouts.CmdStatement, payouts.StatementAsk{Merchant: "m1", Period: "2026-3", By: "acct-ops"}); statetest.Code(res.Err) != "invalid_request" {
		t.Fatalf("a period written wrong: %+v", res)
	}
	audit(t, w.State, w.rules)
}

func TestTheSameFileTwiceIsNamedAndABatchNotConfirmedCanBeDiscarded(t *testing.T) {
	w := newWorld(t, nil)
	w.ok(cmdSeed, seed{Merchants: []string{"m1"}, Workers: workerIDs("w", 2)})
	w.ok(cmdTopUp, topUp{Merchant: "m1", Fen: 1_000_000, Ref: "t1"})
	first := w.upload("m1", "june-a", rowsFor(workerIDs("w", 2), 10_000))
	second := w.upload("m1", "june-b", rowsFor(workerIDs("w", 2), 10_000))
	if b := w.batch(second); b.DuplicateOf != first || w.batch(first).DuplicateOf != "" {
		t.Fatalf("the same rows under another reference: %+v", b)
	}
	res, _ := w.State.DryRun(state.NewCommand(payouts.CmdPreview, mustJSON(payouts.PreviewAsk{Batch: second}), w.Now))
	var pv payouts.Preview
	json.Unmarshal(res.Value, &pv)
	if pv.DuplicateOf != first {
		t.Fatalf("the preview does not name the earlier batch: %+v", pv)
	}
	// An upload cut off part way: the header and no rows. Discarded, its
	// reference takes the file again.
	cmds, err := payouts.UploadCommands("pb-cut", "m1", "june-c", "acct-op", rowsFor(workerIDs("w", 1), 5_000), w.Now)
	if err != nil {
		t.Fatal(err)
	}
	w.Apply(cmds[0])
	if b := w.batch("pb-cut"); b.Status != payouts.Uploading {
		t.Fatalf("cut off: %+v", b)
	}
	w.ok(payouts.CmdDiscard, payouts.Discard{Batch: "pb-cut", By: "acct-op"})
	if b := w.batch("pb-cut"); b.Status != payouts.Discarded {
		t.Fatalf("discarded: %+v", b)
	}
	again := w.upload("m1", "june-c", rowsFor(workerIDs("w", 1), 5_000))
	w.run(again)
	if res := w.Send(payouts.CmdDiscard, payouts.Discard{Batch: again, By: "acct-op"}); statetest.Code(res.Err) != "batch_status" {
		t.Fatalf("discarding an executed batch: %+v", res)
	}
	audit(t, w.State, w.rules)
}
