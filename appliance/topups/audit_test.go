package topups

import (
	"encoding/json"
	"strings"
	"testing"

	"cxt/appliance/ledger"
	"cxt/storage/state"
	"cxt/storage/state/statetest"
)

// cmdForge books any posting: what no command of the product does, to
// show that the auditor sees it.
const cmdForge = "test.forge"

func (w *world) audit() []string {
	w.t.Helper()
	var problems []string
	if err := w.State.View(func(r *state.ReadTx) (err error) { problems, err = Audit(r); return }); err != nil {
		w.t.Fatal(err)
	}
	return problems
}

// TestSuspenseHoldsExactlyItsOpenItems is the red team's double credit: a
// bank transfer of 888.00 waits in suspense; a posting beside its item
// (Dr suspense, Cr a merchant — the shape of an adjustment) credits one
// merchant, and the item's own match would credit another for the same
// transfer. ledger.Verify stays green (the posting balances); the
// auditor holds suspense against its items and is not. (Audit is new: on
// the old code nothing looked.)
func TestSuspenseHoldsExactlyItsOpenItems(t *testing.T) {
	w := &world{statetest.New(t, func(reg *state.Registry) {
		registerWorld(reg, nil)
		reg.HandleFrom(state.MoneySet, cmdForge, func(tx *state.Tx, cmd *state.Command) ([]byte, error) {
			var p ledger.Posting
			if err := json.Unmarshal(cmd.Body, &p); err != nil {
				return nil, err
			}
			return nil, ledger.Post(tx, &p)
		})
	}), t, 0}
	w.merchant("m_a")
	w.merchant("m_b")
	res, err := w.statement("st-1", row("T1", "888.00", "6222000011112222", "货款"), row("T2", "888.00", "6222000011113333", "货款"),
		row("T3", "30.00", "", ""))
	if err != nil {
		t.Fatal(err)
	}
	item, other := res.Lines[0].Suspense, res.Lines[2].Suspense
	if p := w.audit(); len(p) != 0 {
		t.Fatalf("three items in suspense: %v", p)
	}
	// Returned and matched by two people: still green.
	w.ok(CmdSuspensePropose, SuspenseProposal{Item: other, Action: ActReturn, Fen: 3000, Reason: "nobody knows the payer", By: "op-1"}, nil)
	w.ok(CmdSuspenseDecide, SuspenseDecision{Item: other, Proposal: 1, Approve: true, By: "op-2"}, nil)
	if p := w.audit(); len(p) != 0 {
		t.Fatalf("an item returned: %v", p)
	}

	// Dr suspense 888.00, Cr m_a: the adjustment the red team had
	// approved, beside the item.
	w.ok(cmdForge, ledger.Posting{Event: "reconcile.adjust", Ref: "adj-000001", Lines: []ledger.Line{
		{Account: ledger.Suspense, Debit: true, Fen: 88800, Cause: ledger.CauseAdjustment},
		{Account: ledger.Merchant("m_a"), Fen: 88800, Cause: ledger.CauseAdjustment}}}, nil)
	p := strings.Join(w.audit(), "\n")
	if !strings.Contains(p, "moves -888.00 of suspense and no suspense item accounts for it") ||
		!strings.Contains(p, "suspense holds 888.00; its open suspense items add up to 1776.00") {
		t.Fatalf("the auditor missed suspense moved beside its items: %s", p)
	}
	// Then the item matched by hand to m_b: one transfer, two merchants
	// credited. The ledger alone balances; the auditor does not.
	w.ok(CmdSuspensePropose, SuspenseProposal{Item: item, Action: ActMatch, Merchant: "m_b", Fen: 88800, Reason: "the payer called", By: "op-1"}, nil)
	w.ok(CmdSuspenseDecide, SuspenseDecision{Item: item, Proposal: 1, Approve: true, By: "op-2"}, nil)
	if a, b := w.balance(ledger.Merchant("m_a")), w.balance(ledger.Merchant("m_b")); a != "888.00" || b != "888.00" {
		t.Fatalf("the double credit: m_a %s, m_b %s", a, b)
	}
	w.verified()
	if p := strings.Join(w.audit(), "\n"); !strings.Contains(p, "suspense holds 0.00; its open suspense items add up to 888.00") {
		t.Fatalf("the auditor missed the double credit: %s", p)
	}
}
