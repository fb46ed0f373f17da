package invoices_test

import (
	"encoding/json"
	"strings"
	"testing"

	"cxt/appliance/invoices"
	"cxt/appliance/merchants"
	"cxt/appliance/payouts"
	"cxt/storage/state"
)

var (
	operating    = map[string]merchants.OperatingModel{"m1": merchants.Operating}
	intermediary = map[string]merchants.OperatingModel{"m2": merchants.Intermediary}
	both         = map[string]merchants.OperatingModel{"m1": merchants.Operating, "m2": merchants.Intermediary}
)

// An operating merchant is invoiced what it paid for the payments — their
// amounts and the platform's fees — to the fen, 6 % VAT included.
func TestAnOperatingMerchantIsInvoicedTheAmountsPlusTheFeesToTheFen(t *testing.T) {
	w := newWorld(t)
	w.setup(operating, 3, nil)
	ps := w.pay("m1", payouts.Row{Worker: "w0000", Fen: 123_457}, payouts.Row{Worker: "w0001", Fen: 99_999}, payouts.Row{Worker: "w0002", Fen: 1})
	var want int64
	for _, id := range ps {
		p := w.payment(id)
		if p.Status != payouts.Accepted || p.FeeFen == 0 && p.AmountFen > 100 {
			t.Fatalf("payment %s: %+v", id, p)
		}
		want += p.AmountFen + p.FeeFen
	}
	// 1,234.57 + 80.25 fee, 999.99 + 65.00, 0.01 + 0.00 = 2,379.82.
	if want != 237_982 {
		t.Fatalf("the payments and fees come to %d fen", want)
	}
	w.refused("invoice_amount_mismatch", invoices.CmdRequest, invoices.Request{Merchant: "m1", Kind: invoices.Full, Payments: ps,
		TotalFen: fen(want + 1), Seller: "p", Buyer: "b"})
	w.refused("invoice_kind", invoices.CmdRequest, invoices.Request{Merchant: "m1", Kind: invoices.Fee, Payments: ps, Seller: "p", Buyer: "b"})
	w.refused("invoice_kind", invoices.CmdRequest, invoices.Request{Merchant: "m1", Kind: invoices.Worker, Worker: "w0000", Payments: ps[:1], Seller: "p", Buyer: "b"})
	inv := w.request(invoices.Request{Merchant: "m1", Kind: invoices.Full, Payments: ps, TotalFen: fen(want), By: "acct-op"})
	// 2,379.82 / 1.06 × 0.06 = 134.706… → 134.71; 2,245.11 before tax.
	if inv.TotalFen != want || inv.TaxFen != 13_471 || inv.AmountFen != 224_511 || inv.Rate() != "6%" || inv.Status != invoices.Requested ||
		inv.Model != "operating" || inv.Item != "*现代服务*服务费" || inv.ID != "inv-00000001" {
		t.Fatalf("invoice: %+v", inv)
	}
	// A request without a stated total takes the computed one; asking
	// for any payment again is refused.
	w.refused("invoice_payment_covered", invoices.CmdRequest, invoices.Request{Merchant: "m1", Kind: invoices.Full, Payments: ps[2:], Seller: "p", Buyer: "b"})
}

// An intermediary merchant is invoiced the platform's fee; the tax
// office's invoice on a worker's behalf (代开) covers that worker's
// payments, with the VAT withheld on them as its tax.
func TestAnIntermediaryMerchantIsInvoicedTheFeeAndWorkersInvoicesCoverTheirPayments(t *testing.T) {
	w := newWorld(t)
	w.setup(intermediary, 2, nil)
	// 120,000.00 in one month is over the VAT exemption: VAT is withheld.
	ps := w.pay("m2", payouts.Row{Worker: "w0000", Fen: 12_000_000}, payouts.Row{Worker: "w0000", Fen: 3_333}, payouts.Row{Worker: "w0001", Fen: 50_000})
	var fees, w0, vat int64
	for _, id := range ps {
		p := w.payment(id)
		fees += p.FeeFen
		if p.Worker == "w0000" {
			w0 += p.AmountFen
			vat += p.VATFen
		}
	}
	if vat == 0 {
		t.Fatal("no VAT withheld on 120,033.33 in a month: the test does not test the tax column")
	}
	w.refused("invoice_kind", invoices.CmdRequest, invoices.Request{Merchant: "m2", Kind: invoices.Full, Payments: ps, Seller: "p", Buyer: "b"})
	feeInv := w.request(invoices.Request{Merchant: "m2", Kind: invoices.Fee, Payments: ps, TotalFen: fen(fees)})
	if feeInv.TotalFen != fees || feeInv.AmountFen+feeInv.TaxFen != fees || feeInv.TaxFen != (fees*600*2+10_600)/21_200 || feeInv.Item != "*经纪代理服务*经纪代理服务费" {
		t.Fatalf("fee invoice: %+v, fees %d", feeInv, fees)
	}
	// The worker's invoice: not another worker's payment, and not more than
	// the worker's payments.
	w.refused("invoice_payment_not_live", invoices.CmdRequest, invoices.Request{Merchant: "m2", Kind: invoices.Worker, Worker: "w0000", Payments: ps, Seller: "w0000", Buyer: "b"})
	w.refused("invoice_amount_mismatch", invoices.CmdRequest, invoices.Request{Merchant: "m2", Kind: invoices.Worker, Worker: "w0000", Payments: ps[:2],
		TotalFen: fen(w0 + 100), Seller: "w0000", Buyer: "b"})
	wi := w.request(invoices.Request{Merchant: "m2", Kind: invoices.Worker, Worker: "w0000", Payments: ps[:2], TotalFen: fen(w0), Seller: "w0000"})
	if wi.TotalFen != 12_003_333 || wi.TaxFen != vat || wi.AmountFen != w0-vat || wi.Rate() != "1%" {
		t.Fatalf("worker invoice: %+v (VAT withheld %d)", wi, vat)
	}
	// w0001's 500.00 is exempt: its invoice shows 免税 and no tax.
	wi1 := w.request(invoices.Request{Merchant: "m2", Kind: invoices.Worker, Worker: "w0001", Payments: ps[2:], Seller: "w0001"})
	if wi1.TaxFen != 0 || wi1.Rate() != "免税" || wi1.TotalFen != 50_000 {
		t.Fatalf("exempt worker invoice: %+v", wi1)
	}
	// A 代开 invoice is recorded with the tax office's number, not issued
	// by the platform's system.
	w.refused("invalid_request", invoices.CmdIssue, invoices.Issue{Invoice: wi.ID, By: "op"})
	w.ok(invoices.CmdIssue, invoices.Issue{Invoice: wi.ID, Number: "26442000000012345678", By: "op"})
	if got := w.invoice(wi.ID); got.Status != invoices.Issued || got.Number != "26442000000012345678" {
		t.Fatalf("recorded: %+v", got)
	}
	w.ok(invoices.CmdDeliver, invoices.Deliver{Invoice: wi.ID, To: "finance@m2.example", By: "op"})
	w.refused("invoice_status", invoices.CmdDeliver, invoices.Deliver{Invoice: wi.ID, By: "op"})
	// A number is borne by one invoice: not typed in again for another,
	// nor for the red letter of the one that bears it.
	w.refused("invoice_number_used", invoices.CmdIssue, invoices.Issue{Invoice: wi1.ID, Number: "26442000000012345678", By: "op"})
	if got := w.invoice(wi1.ID); got.Status != invoices.Requested || got.Number != "" {
		t.Fatalf("refused, yet: %+v", got)
	}
	w.ok(invoices.CmdReverse, invoices.Reverse{Invoice: wi.ID, Reason: "金额有误", By: "op"})
	red := w.invoice(w.invoice(wi.ID).ReversedBy)
	w.refused("invoice_number_used", invoices.CmdIssue, invoices.Issue{Invoice: red.ID, Number: "26442000000012345678", By: "op"})
	w.ok(invoices.CmdIssue, invoices.Issue{Invoice: red.ID, Number: "26442000000012345679", By: "op"})
	w.ok(invoices.CmdIssue, invoices.Issue{Invoice: wi1.ID, Number: "26442000000012345680", By: "op"})
}

// Payments not live, unknown, or another merchant's are refused, and a
// refused request covers nothing.
func TestAnInvoiceCoversOnlyTheMerchantsLivePayments(t *testing.T) {
	w := newWorld(t)
	w.setup(both, 2, nil)
	m1 := w.pay("m1", payouts.Row{Worker: "w0000", Fen: 10_000}, payouts.Row{Worker: "nobody", Fen: 10_000})
	if w.payment(m1[1]).Status != payouts.Rejected {
		t.Fatal("the second row was not rejected")
	}
	m2 := w.pay("m2", payouts.Row{Worker: "w0001", Fen: 10_000})
	for name, ps := range map[string][]string{"rejected": m1, "another merchant's": {m1[0], m2[0]}, "unknown": {m1[0], "pb-x-000001"}} {
		w.refused("invoice_payment_not_live", invoices.CmdRequest, invoices.Request{Merchant: "m1", Kind: invoices.Full, Payments: ps, Seller: "p", Buyer: "b"})
		_ = name
	}
	w.refused("invalid_request", invoices.CmdRequest, invoices.Request{Merchant: "m1", Kind: invoices.Full, Payments: []string{m1[0], m1[0]}, Seller: "p", Buyer: "b"})
	// Nothing was covered by the refusals: the live payment is invoiced.
	w.request(invoices.Request{Merchant: "m1", Kind: invoices.Full, Payments: m1[:1]})
}

// Requests racing for one payment — proposed together, one log entry —
// are decided by the state machine: one wins, the other is refused and
// covers nothing, not even its payments no one else asked for.
func TestRacingRequestsForOnePaymentInvoiceItOnce(t *testing.T) {
	w := newWorld(t)
	w.setup(intermediary, 3, nil)
	ps := w.pay("m2", payouts.Row{Worker: "w0000", Fen: 10_000}, payouts.Row{Worker: "w0001", Fen: 20_000}, payouts.Row{Worker: "w0002", Fen: 30_000})
	body := func(pays ...string) *state.Command {
		b, _ := json.Marshal(invoices.Request{Merchant: "m2", Kind: invoices.Fee, Payments: pays, Seller: "p", Buyer: "b"})
		return state.NewCommand(invoices.CmdRequest, b, w.Now)
	}
	res := w.ApplyEntry(body(ps[0], ps[1]), body(ps[1], ps[2]), body(ps[1]))
	if res[0].Err != nil || res[1].Err == nil || res[1].Err.Code != "invoice_payment_covered" || res[2].Err == nil {
		t.Fatalf("results: %v / %v / %v", res[0].Err, res[1].Err, res[2].Err)
	}
	var by string
	w.view(func(r *state.ReadTx) (err error) { by, err = invoices.CoveredBy(r, invoices.Fee, ps[2]); return })
	if by != "" {
		t.Fatalf("the refused request covered %s with %s", ps[2], by)
	}
	// A payment is on one live invoice of each kind: the worker's own
	// invoice may cover a payment the fee invoice covers.
	w.request(invoices.Request{Merchant: "m2", Kind: invoices.Worker, Worker: "w0001", Payments: ps[1:2], Seller: "w0001"})
	w.request(invoices.Request{Merchant: "m2", Kind: invoices.Fee, Payments: ps[2:]})
}

// The tax-control system answering one number for two requests does not
// stop invoicing: the first bears it, the second goes back to requested
// saying why, and is issued with a number of its own when let through
// again. A number in the sandbox's province is never typed in.
func TestANumberAnsweredTwiceSendsTheSecondInvoiceBack(t *testing.T) {
	w := newWorld(t)
	w.setup(both, 2, nil)
	ps := w.pay("m1", payouts.Row{Worker: "w0000", Fen: 10_000}, payouts.Row{Worker: "w0001", Fen: 20_000})
	a := w.request(invoices.Request{Merchant: "m1", Kind: invoices.Full, Payments: ps[:1], By: "acct-op"})
	b := w.request(invoices.Request{Merchant: "m1", Kind: invoices.Full, Payments: ps[1:], By: "acct-op"})
	for _, id := range []string{a.ID, b.ID} {
		w.ok(invoices.CmdIssue, invoices.Issue{Invoice: id, By: "op"})
	}
	a, b = w.invoice(a.ID), w.invoice(b.ID)
	const n = "26440000000000000001"
	w.ok(invoices.CmdIssued, invoices.Results{Items: []invoices.IssuedItem{{Invoice: a.ID, Outbox: a.Outbox, Number: n}, {Invoice: b.ID, Outbox: b.Outbox, Number: n}}})
	if got := w.invoice(a.ID); got.Status != invoices.Issued || got.Number != n {
		t.Fatalf("the first: %+v", got)
	}
	got := w.invoice(b.ID)
	if got.Status != invoices.Requested || got.Number != "" || got.Outbox != 0 || !strings.Contains(got.Reason, a.ID) {
		t.Fatalf("the second: %+v", got)
	}
	w.ok(invoices.CmdIssue, invoices.Issue{Invoice: b.ID, By: "op"})
	b = w.invoice(b.ID)
	w.ok(invoices.CmdIssued, invoices.Results{Items: []invoices.IssuedItem{{Invoice: b.ID, Outbox: b.Outbox, Number: "26440000000000000002"}}})
	if got := w.invoice(b.ID); got.Status != invoices.Issued || got.Number != "26440000000000000002" {
		t.Fatalf("let through again: %+v", got)
	}
	ws := w.pay("m2", payouts.Row{Worker: "w0000", Fen: 10_000})
	wi := w.request(invoices.Request{Merchant: "m2", Kind: invoices.Worker, Worker: "w0000", Payments: ws, By: "acct-op"})
	w.refused("invalid_request", invoices.CmdIssue, invoices.Issue{Invoice: wi.ID, Number: "26" + invoices.SandboxProvince + "0000000000000007", By: "op"})
}
