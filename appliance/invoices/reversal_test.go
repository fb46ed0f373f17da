package invoices_test

import (
	"context"
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"cxt/appliance/invoices"
	"cxt/appliance/payouts"
	"cxt/gateway/feed"
	"cxt/storage/state"
	"cxt/storage/state/statetest"
)

func driverOf(w *world, sb *invoices.Sandbox) (*invoices.Driver, *proposer) {
	p := &proposer{w: w}
	return &invoices.Driver{Node: p, Leading: func() bool { return true }, Issuer: sb, Now: func() time.Time { return w.Now }}, p
}

// Issuing is exactly once across a leader that stops between the issue and
// the command recording it: the next round asks the Issuer again under the
// same ID, gets the same number, and the state records it once.
func TestALeaderThatStopsAfterIssuingLeavesOneNumber(t *testing.T) {
	w := newWorld(t)
	w.setup(operating, 2, nil)
	ps := w.pay("m1", payouts.Row{Worker: "w0000", Fen: 10_000}, payouts.Row{Worker: "w0001", Fen: 20_000})
	a := w.request(invoices.Request{Merchant: "m1", Kind: invoices.Full, Payments: ps[:1]})
	b := w.request(invoices.Request{Merchant: "m1", Kind: invoices.Full, Payments: ps[1:]})
	sb := &invoices.Sandbox{}
	d, p := driverOf(w, sb)
	// Requested, not let through: the driver issues nothing.
	if err := d.Round(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n, _ := sb.Issued(); n != 0 {
		t.Fatalf("issued %d invoices no one let through", n)
	}
	w.ok(invoices.CmdIssue, invoices.Issue{Invoice: a.ID, By: "op"})
	w.ok(invoices.CmdIssue, invoices.Issue{Invoice: b.ID, By: "op"})
	w.refused("invoice_status", invoices.CmdIssue, invoices.Issue{Invoice: b.ID, By: "op"})
	p.drop = func(cmd *state.Command) bool { return cmd.Type == invoices.CmdIssued }
	if err := d.Round(context.Background()); err == nil {
		t.Fatal("the lost command went unnoticed")
	}
	if got := w.invoice(a.ID); got.Status != invoices.Issuing || got.Number != "" {
		t.Fatalf("after the stop: %+v", got)
	}
	p.drop = nil
	if err := d.Round(context.Background()); err != nil {
		t.Fatal(err)
	}
	issued, asked := sb.Issued()
	if issued != 2 || asked != 4 {
		t.Fatalf("sandbox issued %d, asked %d times: want 2 issued, each asked twice", issued, asked)
	}
	ga, gb := w.invoice(a.ID), w.invoice(b.ID)
	if ga.Status != invoices.Issued || ga.Number != "26990000000000000001" || gb.Number != "26990000000000000002" {
		t.Fatalf("issued: %+v %+v", ga, gb)
	}
	// A repeat of the recording command changes nothing.
	var out map[string]int
	json.Unmarshal(w.ok(invoices.CmdIssued, invoices.Results{Items: []invoices.IssuedItem{{Invoice: a.ID, Outbox: 1, Number: "26990000000000000099"}}}), &out)
	if out["issued"] != 0 || w.invoice(a.ID).Number != ga.Number {
		t.Fatalf("a repeated result recorded again: %v %+v", out, w.invoice(a.ID))
	}
}

// A return (退汇) of a payment after it was invoiced reverses the invoice
// in the same command — a new red-letter record with the negated amounts,
// the original marked, never edited otherwise — once, however often the
// channel reports it; the driver issues the red letter after the blue,
// naming its number; a replay of the log from the start builds the same.
func TestAReturnAfterInvoicingReversesTheInvoiceOnceAndAReplayAgrees(t *testing.T) {
	const office = "14403000000"
	w := newWorld(t)
	w.setup(intermediary, 3, map[string]string{"m2": office})
	ps := w.pay("m2", payouts.Row{Worker: "w0000", Fen: 10_000}, payouts.Row{Worker: "w0001", Fen: 20_000}, payouts.Row{Worker: "w0002", Fen: 30_000})
	w.settle()
	fee := w.request(invoices.Request{Merchant: "m2", Kind: invoices.Fee, Payments: ps})
	wk := w.request(invoices.Request{Merchant: "m2", Kind: invoices.Worker, Worker: "w0001", Payments: ps[1:2], Seller: "w0001"})
	w.ok(invoices.CmdIssue, invoices.Issue{Invoice: fee.ID, By: "op"})
	w.ok(invoices.CmdIssue, invoices.Issue{Invoice: wk.ID, Number: "26440000000000000777", By: "op"})
	sb := &invoices.Sandbox{}
	d, _ := driverOf(w, sb)
	if err := d.Round(context.Background()); err != nil {
		t.Fatal(err)
	}
	original := w.invoice(fee.ID)
	if original.Status != invoices.Issued {
		t.Fatalf("fee invoice: %+v", original)
	}

	// w0001's payment comes back: both invoices covering it are reversed.
	if out := w.returned("r1", ps[1]); out.Applied != 1 {
		t.Fatalf("return: %+v", out)
	}
	if out := w.returned("r2", ps[1]); out.Applied != 0 || len(out.Ignored) != 1 {
		t.Fatalf("the repeat: %+v", out)
	}
	reversals := func() []*invoices.Invoice {
		var out []*invoices.Invoice
		w.view(func(r *state.ReadTx) error {
			return r.ForEach(invoices.Bucket, func(_, v []byte) error {
				var inv invoices.Invoice
				if err := json.Unmarshal(v, &inv); err != nil {
					return err
				}
				if inv.Reverses != "" {
					out = append(out, &inv)
				}
				return nil
			})
		})
		return out
	}
	revs := reversals()
	if len(revs) != 2 {
		t.Fatalf("%d reversals, want one per invoice", len(revs))
	}
	byOriginal := map[string]*invoices.Invoice{}
	for _, r := range revs {
		byOriginal[r.Reverses] = r
	}
	red, wred := byOriginal[fee.ID], byOriginal[wk.ID]
	if red == nil || wred == nil || red.TotalFen != -original.TotalFen || red.TaxFen != -original.TaxFen || red.AmountFen != -original.AmountFen ||
		red.Status != invoices.Issuing || red.By != "system" || wred.Status != invoices.Requested {
		t.Fatalf("reversals: %+v / %+v", red, wred)
	}
	after := w.invoice(fee.ID)
	if after.Status != invoices.Reversed || after.ReversedBy != red.ID || after.Number != original.Number || after.TotalFen != original.TotalFen {
		t.Fatalf("the original after: %+v", after)
	}
	// The payments still live are free for a new fee invoice; the returned
	// one is not.
	w.refused("invoice_payment_not_live", invoices.CmdRequest, invoices.Request{Merchant: "m2", Kind: invoices.Fee, Payments: ps, Seller: "p", Buyer: "b"})
	again := w.request(invoices.Request{Merchant: "m2", Kind: invoices.Fee, Payments: []string{ps[0], ps[2]}})
	p0, p2 := w.payment(ps[0]), w.payment(ps[2])
	if again.TotalFen != p0.FeeFen+p2.FeeFen {
		t.Fatalf("re-invoiced %d", again.TotalFen)
	}
	// The red letter is issued naming the blue one's number.
	var asked invoices.IssueRequest
	sb.Fail = func(r invoices.IssueRequest) error {
		if r.ID == red.ID {
			asked = r
		}
		return nil
	}
	if err := d.Round(context.Background()); err != nil {
		t.Fatal(err)
	}
	if asked.OriginalNumber != original.Number || asked.TotalFen != -original.TotalFen || w.invoice(red.ID).Status != invoices.Issued {
		t.Fatalf("red letter asked %+v; now %+v", asked, w.invoice(red.ID))
	}
	// The 代开 reversal's number is the tax office's.
	w.ok(invoices.CmdIssue, invoices.Issue{Invoice: wred.ID, Number: "26440000000000000778", By: "op"})
	w.refused("invoice_status", invoices.CmdReverse, invoices.Reverse{Invoice: wk.ID, Reason: "again", By: "op"})
	w.refused("invoice_status", invoices.CmdReverse, invoices.Reverse{Invoice: wred.ID, Reason: "a reversal's reversal", By: "op"})

	// The feed: the blue fee invoice, the 代开 one, then their reversals.
	var types []string
	w.view(func(r *state.ReadTx) error {
		_, es, err := feed.Read(r, office, 0, 100, func(string, string, []byte) ([]byte, error) { return nil, nil })
		for _, e := range es {
			if len(e.Type) > 8 && e.Type[:8] == "invoices" {
				types = append(types, e.Type)
			}
		}
		return err
	})
	if want := []string{invoices.FactIssued, invoices.FactIssued, invoices.FactReversed, invoices.FactReversed}; !reflect.DeepEqual(types, want) {
		t.Fatalf("feed: %v", types)
	}

	// Replay: the same commands on a fresh state build the same invoices.
	replay := statetest.New(t, register)
	for _, cmd := range w.log {
		replay.Apply(cmd)
	}
	dump := func(st *state.State) map[string]string {
		out := map[string]string{}
		st.View(func(r *state.ReadTx) error {
			for _, b := range []string{invoices.Bucket, invoices.CoverBucket} {
				r.ForEach(b, func(k, v []byte) error { out[b+"/"+string(k)] = string(v); return nil })
			}
			return nil
		})
		return out
	}
	if a, b := dump(w.State), dump(replay.State); !reflect.DeepEqual(a, b) || len(a) < 6 {
		t.Fatalf("the replay differs (%d vs %d records)", len(a), len(b))
	}
}

// A payment returned while its invoice is still being issued: the red
// letter waits for the blue one's number; one merely requested is
// cancelled — the tax system never saw it.
func TestAReturnBeforeTheNumberWaitsForItAndBeforeTheIssueCancels(t *testing.T) {
	w := newWorld(t)
	w.setup(operating, 2, nil)
	ps := w.pay("m1", payouts.Row{Worker: "w0000", Fen: 10_000}, payouts.Row{Worker: "w0001", Fen: 20_000})
	w.settle()
	a := w.request(invoices.Request{Merchant: "m1", Kind: invoices.Full, Payments: ps[:1]})
	b := w.request(invoices.Request{Merchant: "m1", Kind: invoices.Full, Payments: ps[1:]})
	w.ok(invoices.CmdIssue, invoices.Issue{Invoice: a.ID, By: "op"})
	w.returned("r1", ps...)
	if got := w.invoice(b.ID); got.Status != invoices.Cancelled || got.ReversedBy != "" {
		t.Fatalf("requested, then returned: %+v", got)
	}
	ga := w.invoice(a.ID)
	if ga.Status != invoices.Issuing || ga.ReversedBy == "" {
		t.Fatalf("issuing, then returned: %+v", ga)
	}
	// Reversed while issuing: not reversed a second time.
	w.refused("invoice_status", invoices.CmdReverse, invoices.Reverse{Invoice: a.ID, Reason: "again", By: "op"})
	sb := &invoices.Sandbox{}
	d, _ := driverOf(w, sb)
	d.Page = 1 // the blue one and its red one in separate pages
	if err := d.Round(context.Background()); err != nil {
		t.Fatal(err)
	}
	ga, red := w.invoice(a.ID), w.invoice(w.invoice(a.ID).ReversedBy)
	if ga.Status != invoices.Reversed || ga.Number == "" || red.Status != invoices.Issued || red.Number == ga.Number {
		t.Fatalf("blue %+v, red %+v", ga, red)
	}
	if n, _ := sb.Issued(); n != 2 {
		t.Fatalf("sandbox issued %d", n)
	}
}
