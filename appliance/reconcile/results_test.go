package reconcile_test

import (
	"testing"

	"cxt/appliance/payouts"
	"cxt/appliance/payouts/payoutstest"
	"cxt/storage/state"
)

// The bad input "a result file with unknown references": from
// command set 8 the channel's page of results that names a payment it was
// never handed is refused whole with result_unknown_ref — the known
// results before it are not applied, and the cursor stays where it was,
// so the driver reads the corrected file from the same place.
func TestResultsNamingAnUnknownReferenceAreRefusedWhole(t *testing.T) {
	w := newWorld(t, nil)
	w.ok(payoutstest.CmdSeed, payoutstest.Seed{Merchants: []string{"m1"}, Workers: []string{"w1", "w2"}})
	w.ok(payoutstest.CmdTopUp, payoutstest.TopUp{Merchant: "m1", Fen: 10_000_000, Ref: "t1"})
	id := w.upload("m1", []payouts.Row{{No: 1, Worker: "w1", Task: "task-1", Fen: 100_000}, {No: 2, Worker: "w2", Task: "task-1", Fen: 100_000}})
	w.ok(payouts.CmdConfirm, payouts.Confirm{Batch: id, By: "acct-admin"})
	w.ok(payouts.CmdExecute, payouts.Chunk{Batch: id})
	var items []payouts.SentItem
	w.view(func(r *state.ReadTx) (err error) { items, err = payouts.Outbox(r, 0, 10); return })
	w.ok(payouts.CmdSent, payouts.Sent{Channel: "sandbox", Items: items})
	p1, p2 := payouts.PaymentID(id, 1), payouts.PaymentID(id, 2)
	page := payouts.Results{Channel: "sandbox", Cursor: "RES-0001.csv:4", Items: []payouts.Result{
		{Payment: p1, Status: payouts.Paid, At: w.Now},
		{Payment: "pb-nobody-000001", Status: payouts.Paid, At: w.Now},
		{Payment: p2, Status: payouts.Paid, At: w.Now},
	}}
	msg := w.refused(payouts.CodeUnknownRef.String(), payouts.CmdResults, page)
	t.Log(msg)
	var cursor string
	w.view(func(r *state.ReadTx) (err error) { cursor, err = payouts.Cursor(r, "sandbox"); return })
	for _, ref := range []string{p1, p2} {
		var p *payouts.Payment
		w.view(func(r *state.ReadTx) (err error) { p, err = payouts.GetPayment(r, ref); return })
		if p.Status != payouts.Submitted {
			t.Fatalf("%s is %s after a refused page", ref, p.Status)
		}
	}
	if cursor != "" {
		t.Fatalf("the cursor moved to %q", cursor)
	}
	// Another channel's payment is as unknown to this one.
	page.Items = []payouts.Result{{Payment: p1, Status: payouts.Paid, At: w.Now}}
	page.Channel = "bank-fz"
	w.refused(payouts.CodeUnknownRef.String(), payouts.CmdResults, page)
	// The corrected page applies.
	page.Channel, page.Items = "sandbox", []payouts.Result{{Payment: p1, Status: payouts.Paid, At: w.Now}, {Payment: p2, Status: payouts.Paid, At: w.Now}}
	if out := string(w.ok(payouts.CmdResults, page)); out != `{"applied":2}` {
		t.Fatalf("the corrected page: %s", out)
	}
	w.green()
}
