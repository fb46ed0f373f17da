package payouts_test

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"testing"
	"time"

	"cxt/appliance/payouts"
	"cxt/crypto/sm"
	"cxt/policy"
	"cxt/storage/state"
	"cxt/storage/state/statetest"
)

// signerKey signs the bundles a risk world activates, as the account
// "acct-sec" of a security administrator.
var signerKey, _ = sm.GenerateKey()

func signer(_ policy.Getter, account string) (string, error) {
	pem, err := signerKey.Public().MarshalPEM()
	if account != "acct-sec" {
		return "", state.Reject(policy.CodeSignatureInvalid, "not a security administrator")
	}
	return string(pem), err
}

// riskWorld is a world whose state holds a policy bundle: the embedded
// one, or b.
func riskWorld(t *testing.T, b *policy.Bundle) (*world, *policy.PayoutRules) {
	w := newWorldWith(t, func(reg *state.Registry) { policy.Register(reg, nil, signer) })
	if b == nil {
		var err error
		if b, err = policy.Embedded(); err != nil {
			t.Fatal(err)
		}
	}
	cmd, err := policy.DefaultCommand(b, w.Now)
	if err != nil {
		t.Fatal(err)
	}
	if res := w.Apply(cmd); res.Err != nil {
		t.Fatal(res.Err)
	}
	rules, err := policy.PayoutRulesOf(context.Background(), b)
	if err != nil {
		t.Fatal(err)
	}
	return w, rules
}

// executeUnder runs a confirmed batch's chunks proposed under limits.
func (w *world) executeUnder(batch string, limits *policy.PayoutLimits) *payouts.Batch {
	w.t.Helper()
	w.ok(payouts.CmdConfirm, payouts.Confirm{Batch: batch, By: "acct-admin"})
	for {
		b := w.batch(batch)
		if b.Status != payouts.Executing {
			return b
		}
		w.ok(payouts.CmdExecute, payouts.Chunk{Batch: batch, Chunk: b.Done, Limits: limits})
	}
}

func (w *world) outcome(batch string, row int) (payouts.Status, string, *payouts.Risk) {
	p := w.payment(payouts.PaymentID(batch, row))
	return p.Status, p.Code, p.Risk
}

// The payout rules of the stored bundle decide each row inside the state
// machine, with counters that carry across commands and batches of the
// same day: structuring, the day limit and many merchants in a day. Each
// payment records the rule, the bundle and an input whose SM3 anyone can
// recompute and replay.
func TestThePayoutRulesDecideRowsByTheStoredBundle(t *testing.T) {
	w, rules := riskWorld(t, nil)
	under := &policy.PayoutLimits{Version: "2", Rules: rules.Digest}
	ms := []string{"m1", "m2", "m3", "m4"}
	w.ok(cmdSeed, seed{Merchants: ms, Workers: workerIDs("w", 5), Unverified: []string{"u1"}, Unsigned: []string{"s1"},
		Officers: map[string][]string{"m1": {"w0004"}}})
	for _, m := range ms {
		w.ok(cmdTopUp, topUp{Merchant: m, Fen: 100_000_000, Ref: "t-" + m})
	}
	b := w.executeUnder(w.upload("m1", "day-1", []payouts.Row{
		{Worker: "w0000", Task: "task-1", Amount: "45000.00"}, // just under the 50,000.00 limit: allowed, counted
		{Worker: "w0000", Task: "task-1", Amount: "41000.00"}, // a second one the same day: structuring
		{Worker: "w0001", Task: "task-1", Amount: "60000.00"}, // over the per-payment limit
		{Worker: "u1", Task: "task-1", Amount: "100.00"},      // not verified: a person looks
		{Worker: "s1", Task: "task-1", Amount: "100.00"},      // no agreement: a person looks
		{Worker: "w0002", Task: "task-1", Amount: "3000.00"},
		{Worker: "w0004", Task: "task-1", Amount: "8000.00"}, // m1's own director
	}), under)
	want := []struct {
		status payouts.Status
		code   string
		rule   string
	}{
		{payouts.Accepted, "", ""}, {payouts.OnHold, "risk_structuring", "velocity.structuring"},
		{payouts.Rejected, "risk_payment_limit", "limits.payment"}, {payouts.OnHold, payouts.ReasonWorkerUnverified, "identity.unverified"},
		{payouts.OnHold, payouts.ReasonAgreement, "identity.unsigned"}, {payouts.Accepted, "", ""},
		{payouts.Rejected, "risk_officer", "identity.officer"},
	}
	for i, wt := range want {
		st, code, risk := w.outcome(b.ID, i+1)
		if st != wt.status || code != wt.code || risk == nil || risk.Rule != wt.rule || risk.Bundle != "embedded" || risk.Digest != rules.Digest {
			t.Errorf("row %d: %s %s %+v, want %s %s by %s", i+1, st, code, risk, wt.status, wt.code, wt.rule)
		}
	}
	// The recorded input replays: its SM3 is recomputable, and deciding it
	// again gives the recorded rule.
	p := w.payment(payouts.PaymentID(b.ID, 2))
	var row policy.PayoutRow
	if err := json.Unmarshal(p.Risk.Input, &row); err != nil {
		t.Fatal(err)
	}
	if row.Worker.DayNear != 1 || row.Worker.DayFen != 4_500_000 || row.AmountFen != 4_100_000 || row.Merchant.Grade == "" {
		t.Fatalf("the structuring row's input: %+v", row)
	}
	if sum := sm.Sum(row.AppendJSON(nil)); row.InputSM3() != hex.EncodeToString(sum[:]) || string(row.AppendJSON(nil)) != string(p.Risk.Input) {
		t.Fatalf("the input does not round-trip: %s", p.Risk.Input)
	}
	if d, err := rules.DecideEach(context.Background(), []policy.PayoutRow{row}); err != nil || d[0].Rule != "velocity.structuring" {
		t.Fatalf("replayed: %+v %v", d, err)
	}

	// A reviewer lets the structuring hold pass for this payment; the
	// batch's holds run again and it is paid. A hold that waits for a fact
	// (verification) and a reject are not a reviewer's to clear.
	for _, row := range []int{3, 4} {
		res := w.Send(payouts.CmdRiskClear, payouts.RiskClear{Payment: payouts.PaymentID(b.ID, row), By: "acct-reviewer", Note: "looked"})
		if statetest.Code(res.Err) != "payment_not_risk_held" {
			t.Fatalf("clearing row %d: %+v", row, res)
		}
	}
	if res := w.Send(payouts.CmdRiskClear, payouts.RiskClear{Payment: payouts.PaymentID(b.ID, 2), By: "acct-reviewer"}); statetest.Code(res.Err) != "invalid_request" {
		t.Fatalf("a clearance without a note: %+v", res)
	}
	w.ok(payouts.CmdRiskClear, payouts.RiskClear{Payment: payouts.PaymentID(b.ID, 2), By: "acct-reviewer", Note: "two invoices of one job, checked"})
	w.ok(payouts.CmdRelease, payouts.Release{Batch: b.ID, Limits: under})
	if st, _, risk := w.outcome(b.ID, 2); st != payouts.Accepted || risk.Outcome != policy.Allow || risk.ClearedBy != "acct-reviewer" || len(risk.Cleared) != 1 {
		t.Fatalf("the cleared row: %s %+v", st, risk)
	}
	if st, code, _ := w.outcome(b.ID, 4); st != payouts.OnHold || code != payouts.ReasonWorkerUnverified {
		t.Fatalf("the unverified row after the release: %s %s", st, code)
	}

	// The day goes on in other commands: w0002 had 3,000.00; 39,000.00
	// twice makes 81,000.00, and 10,000.00 more passes the 90,000.00 day.
	b = w.executeUnder(w.upload("m1", "day-1b", []payouts.Row{
		{Worker: "w0002", Task: "task-1", Amount: "39000.00"},
		{Worker: "w0002", Task: "task-1", Amount: "39000.00"},
		{Worker: "w0002", Task: "task-1", Amount: "10000.00"},
	}), under)
	if st, code, _ := w.outcome(b.ID, 3); st != payouts.Rejected || code != "risk_daily_limit" {
		t.Fatalf("the day's limit: %s %s", st, code)
	}
	// A fourth merchant paying w0003 the same day is one too many.
	for i, m := range ms {
		b = w.executeUnder(w.upload(m, "many-"+m, []payouts.Row{{Worker: "w0003", Task: "task-1", Amount: "100.00"}}), under)
		st, code, _ := w.outcome(b.ID, 1)
		if (i < 3 && st != payouts.Accepted) || (i == 3 && (st != payouts.OnHold || code != "risk_many_merchants")) {
			t.Fatalf("merchant %d of the day: %s %s", i+1, st, code)
		}
	}
	// The next day starts afresh: what the day's limit refused yesterday
	// is paid today (the month, 91,000.00, within its limit).
	w.Now = w.Now.Add(24 * time.Hour)
	b = w.executeUnder(w.upload("m1", "day-2", []payouts.Row{{Worker: "w0002", Task: "task-1", Amount: "10000.00"}}), under)
	if st, _, risk := w.outcome(b.ID, 1); st != payouts.Accepted || risk.Outcome != policy.Allow {
		t.Fatalf("the next day: %s %+v", st, risk)
	}
	audit(t, w.State, w.rules)
}

// A chunk proposed under rules that are no longer stored is refused, and
// decided by the new ones when proposed again; a chunk proposed without
// rules is decided as before command set 6, with no decision recorded.
func TestAChunkIsDecidedByTheBundleStoredAtItsIndex(t *testing.T) {
	w, old := riskWorld(t, nil)
	w.ok(cmdSeed, seed{Merchants: []string{"m1"}, Workers: workerIDs("w", 2)})
	w.ok(cmdTopUp, topUp{Merchant: "m1", Fen: 10_000_000, Ref: "t1"})

	// A signed bundle whose payment limit is 1,000.00 (without the rego
	// tests that pin the default limits).
	files := policy.DefaultFiles()
	files["manifest.json"] = `{"version": "strict"}`
	var data map[string]any
	if err := json.Unmarshal([]byte(files["risk/data.json"]), &data); err != nil {
		t.Fatal(err)
	}
	data["cxt"].(map[string]any)["risk_settings"].(map[string]any)["payout"].(map[string]any)["payment_fen"] = 100000
	raw, _ := json.Marshal(data)
	files["risk/data.json"] = string(raw)
	for p := range files {
		if policy.IsTest(p) {
			delete(files, p)
		}
	}
	strict, err := files.Bundle()
	if err != nil {
		t.Fatal(err)
	}
	sig, _ := policy.Sign(signerKey, files)
	cmd, err := policy.ActivateCommand(policy.Activate{Files: files, Signature: sig, Signer: "acct-sec"}, w.Now)
	if err != nil {
		t.Fatal(err)
	}
	if res := w.Apply(cmd); res.Err != nil {
		t.Fatal(res.Err)
	}
	batch := w.upload("m1", "b1", []payouts.Row{{Worker: "w0000", Task: "task-1", Amount: "2000.00"}})
	w.ok(payouts.CmdConfirm, payouts.Confirm{Batch: batch, By: "acct-admin"})
	res := w.Send(payouts.CmdExecute, payouts.Chunk{Batch: batch, Chunk: 0, Limits: &policy.PayoutLimits{Rules: old.Digest}})
	if statetest.Code(res.Err) != "risk_rules_changed" {
		t.Fatalf("a chunk under the old rules: %+v", res)
	}
	now, err := policy.PayoutRulesOf(context.Background(), strict)
	if err != nil {
		t.Fatal(err)
	}
	w.ok(payouts.CmdExecute, payouts.Chunk{Batch: batch, Chunk: 0, Limits: &policy.PayoutLimits{Rules: now.Digest}})
	if st, code, risk := w.outcome(batch, 1); st != payouts.Rejected || code != "risk_payment_limit" || risk.Bundle != "strict" {
		t.Fatalf("under the strict bundle: %s %s %+v", st, code, risk)
	}
	// A preview of going back to the embedded bundle: the row the strict one
	// refused would be allowed; under the strict one itself nothing changes.
	var back, same *payouts.RiskReplay
	w.view(func(r *state.ReadTx) (err error) {
		if back, err = payouts.ReplayRisk(context.Background(), r, old, w.Now.Add(-30*24*time.Hour), 1000); err != nil {
			return err
		}
		same, err = payouts.ReplayRisk(context.Background(), r, now, w.Now.Add(-30*24*time.Hour), 1000)
		return err
	})
	if back.Replayed != 1 || back.Changed != 1 || back.ByChange["reject→allow"] != 1 || back.Examples[0] != payouts.PaymentID(batch, 1) {
		t.Fatalf("the replay under the embedded rules: %+v", back)
	}
	if same.Replayed != 1 || same.Changed != 0 {
		t.Fatalf("the replay under the rules that decided: %+v", same)
	}
	// Without rules in the command: the monthly limit in Go, no decision.
	b := w.run(w.upload("m1", "b2", []payouts.Row{{Worker: "w0001", Task: "task-1", Amount: "2000.00"}}))
	if st, _, risk := w.outcome(b.ID, 1); st != payouts.Accepted || risk != nil {
		t.Fatalf("a chunk without rules: %s %+v", st, risk)
	}
}
