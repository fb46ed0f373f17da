package payouts_test

import (
	"encoding/json"
	"slices"
	"testing"

	"cxt/appliance/ledger"
	"cxt/appliance/payouts"
	"cxt/appliance/payouts/payoutstest"
	"cxt/gateway/feed"
	"cxt/storage/state"
)

// The bureaus' feed lists every payment that moved money, once per move,
// with the amounts and withholding the ledger booked, in its merchant's
// office; holds and rejections, which move none, are not there.
func TestEveryPaymentThatMovedMoneyIsInTheFeedOncePerMove(t *testing.T) {
	const office = "11101050000"
	w := newWorldWith(t, payoutstest.RegisterGateway)
	ws := workerIDs("w", 5)
	w.ok(cmdSeed, seed{Merchants: []string{"m1"}, Workers: ws, Unsigned: []string{"s1"}, Offices: map[string]string{"m1": office}})
	w.ok(cmdTopUp, topUp{Merchant: "m1", Fen: 3_000_000, Ref: "t1"})
	rows := rowsFor(append(ws, "s1"), 500_000)                                          // 5 × 5,000.00 booked, s1 held (no agreement)
	rows = append(rows, payouts.Row{No: 7, Worker: "nobody", Task: "task-1", Fen: 100}) // rejected
	b := w.run(w.upload("m1", "nov", rows))
	var outbox []payouts.SentItem
	w.view(func(r *state.ReadTx) (err error) { outbox, err = payouts.Outbox(r, 0, 10); return })
	w.ok(payouts.CmdSent, payouts.Sent{Channel: "sandbox", Items: outbox})
	p := func(i int) string { return payouts.PaymentID(b.ID, i) }
	w.ok(payouts.CmdResults, payouts.Results{Channel: "sandbox", Cursor: "c1", Items: []payouts.Result{
		{Payment: p(1), Status: payouts.Paid, At: w.Now}, {Payment: p(2), Status: payouts.Paid, At: w.Now},
		{Payment: p(3), Status: payouts.Failed, Reason: "card closed", At: w.Now},
	}})
	w.ok(payouts.CmdResults, payouts.Results{Channel: "sandbox", Cursor: "c2", Items: []payouts.Result{
		{Payment: p(2), Status: payouts.Returned, Reason: "account frozen", At: w.Now},
		{Payment: p(2), Status: payouts.Returned, Reason: "again", At: w.Now}, // a repeat moves nothing
	}})

	type listed struct {
		Merchant string `json:"merchant"`
		Payments []struct {
			Payment, Worker, Amount, IIT, VAT, Surcharges, Net, Fee string
			Status                                                  payouts.Status
		} `json:"payments"`
	}
	seen := map[string][]string{} // payment -> its entry types, in order
	var platform, inOffice []feed.WireEntry
	w.view(func(r *state.ReadTx) error {
		none := func(string, string, []byte) ([]byte, error) { return nil, nil }
		_, all, err := feed.Read(r, feed.Platform, 0, 100, none)
		platform = all
		if err != nil {
			return err
		}
		_, inOffice, err = feed.Read(r, office, 0, 100, none)
		return err
	})
	if len(platform) != 4 || len(inOffice) != 4 {
		t.Fatalf("%d entries in the feed, %d in the office's: want booked, paid, failed, returned", len(platform), len(inOffice))
	}
	for _, e := range platform {
		var l listed
		if err := json.Unmarshal([]byte(e.Payload), &l); err != nil || l.Merchant != "m1" || e.Office != office {
			t.Fatalf("entry %d: %v %+v", e.Seq, err, e)
		}
		for _, lp := range l.Payments {
			seen[lp.Payment] = append(seen[lp.Payment], e.Type)
			rec := w.payment(lp.Payment)
			if lp.Amount != ledger.Yuan(rec.AmountFen) || lp.IIT != ledger.Yuan(rec.IITFen) || lp.Net != ledger.Yuan(rec.NetFen) ||
				lp.VAT != ledger.Yuan(rec.VATFen) || lp.Surcharges != ledger.Yuan(rec.SurFen) || lp.Fee != ledger.Yuan(rec.FeeFen) {
				t.Errorf("%s in %s: %+v, the record says %+v", lp.Payment, e.Type, lp, rec)
			}
		}
	}
	want := map[string][]string{
		p(1): {payouts.FactBooked, payouts.FactPaid},
		p(2): {payouts.FactBooked, payouts.FactPaid, payouts.FactReturned},
		p(3): {payouts.FactBooked, payouts.FactFailed},
		p(4): {payouts.FactBooked}, p(5): {payouts.FactBooked},
	}
	if len(seen) != len(want) {
		t.Fatalf("the feed lists %v", seen)
	}
	for id, types := range want {
		if got := seen[id]; !slices.Equal(got, types) {
			t.Errorf("%s: %v, want %v", id, got, types)
		}
	}
	audit(t, w.State, w.rules)
}
