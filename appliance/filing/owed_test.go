package filing_test

import (
	"testing"
	"time"

	"cxt/appliance/filing"
	"cxt/appliance/ledger"
	"cxt/appliance/payouts"
	"cxt/appliance/payouts/payoutstest"
)

// TestAReturnAfterTheMonthsTaxWasPaidLeavesTheAuthorityOwing: a payment
// returned (退汇) after its month was declared and its tax paid gives its
// tax back to the merchant out of money already with the authority: the
// income-tax payable goes below zero — the authority owes the platform —
// and the books still hold. (Before, the return was refused
// insufficient_balance and the channel's results stuck.) An adjustment
// may never do the same; the correction shows the month overpaid.
func TestAReturnAfterTheMonthsTaxWasPaidLeavesTheAuthorityOwing(t *testing.T) {
	w := newWorld(t)
	w.ok(payoutstest.CmdSeed, payoutstest.Seed{Merchants: []string{"m1"}, Workers: []string{"w1", "w2"}})
	w.ok(payoutstest.CmdTopUp, payoutstest.TopUp{Merchant: "m1", Fen: 1_000_000_00, Ref: "t0"})
	w.Now = time.Date(2026, 3, 10, 9, 0, 0, 0, payouts.China)
	ids := w.pay("w1", "20000.00", "w2", "3000.00")
	w.result(payouts.Paid, ids...)
	iit := w.payment(ids[0]).IITFen
	if iit == 0 {
		t.Fatal("the 20,000.00 payment withheld no income tax")
	}
	w.Now = time.Date(2026, 4, 2, 9, 0, 0, 0, payouts.China)
	v1 := w.declare("2026-03", "")
	w.ok(filing.CmdPay, filing.Pay{Agent: filing.Platform, Period: "2026-03", Source: "entered", By: "acct-op",
		Items: []filing.PayItem{{Kind: filing.KindIIT, Fen: fen(t, v1.IIT), Date: "2026-04-02", Receipt: "TAX-2026-03-1"}}})
	if b := w.balance(ledger.IIT); b != 0 {
		t.Fatalf("tax/iit holds %s after March's tax was paid", ledger.Yuan(b))
	}
	w.audit()

	w.Now = time.Date(2026, 4, 6, 9, 0, 0, 0, payouts.China)
	w.result(payouts.Returned, ids[0])
	if p := w.payment(ids[0]); p.Status != payouts.Returned {
		t.Fatalf("the return: %s", p.Status)
	}
	if b := w.balance(ledger.IIT); b != -iit {
		t.Fatalf("tax/iit holds %s, want −%s: the authority owes what the return took back", ledger.Yuan(b), ledger.Yuan(iit))
	}
	w.audit()
	if got := w.ledgerIIT("2026-03"); got != 0 {
		t.Fatalf("March's IIT payable by the ledger: %s, want 0.00 after the return", ledger.Yuan(got))
	}
	v2 := w.declare("2026-03", "w1's payment came back (退汇) after March was paid")
	if v2.Version != 2 || fen(t, v2.IIT) != 0 {
		t.Fatalf("the correction: %+v", v2)
	}
	// Nothing but a return or a tax payment takes a tax payable below
	// zero: an adjustment of it is refused.
	w.refused(ledger.CodeInsufficient.String(), cmdPost, ledger.Posting{Event: "x.adjust", Ref: "x", Lines: []ledger.Line{
		{Account: ledger.IIT, Debit: true, Fen: 1, Cause: ledger.CauseAdjustment}, {Account: ledger.Merchant("m1"), Fen: 1, Cause: ledger.CauseAdjustment}}})
	w.audit()
}
