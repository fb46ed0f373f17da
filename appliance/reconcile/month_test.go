package reconcile_test

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"strings"
	"testing"
	"time"

	"cxt/appliance/billing"
	"cxt/appliance/channel"
	"cxt/appliance/ledger"
	"cxt/appliance/payouts"
	"cxt/appliance/payouts/payoutstest"
	"cxt/appliance/reconcile"
	"cxt/storage/state"
)

// A month of payouts through the sandbox bank (paid, failed, returned days
// later, held and released), then the month's reconciliation: a channel
// statement of one day with a difference of every class seeded, each
// found and classified exactly once; the fee check finds exactly the
// payments whose fee was booked wrong; cases are worked; adjustments keep
// the independent auditor green, and a bad one would not.
func TestAMonthReconciled(t *testing.T) {
	seedN := time.Now().UnixNano()
	t.Logf("seed %d", seedN)
	rng := rand.New(rand.NewPCG(uint64(seedN), 13))
	// The billing rules computed wrong for amounts ending in 37 fen: one
	// fen too much, the slip a fee check is for.
	w := newWorld(t, func(_ string, fen int64, cfg *billing.Config) int64 {
		f, _ := cfg.Fee(ledger.Decimal(fen))
		if fen%100 == 37 {
			return f.Shift(2).IntPart() + 1
		}
		return f.Shift(2).IntPart()
	})
	ws := make([]string, 60)
	for i := range ws {
		ws[i] = fmt.Sprintf("w%03d", i)
	}
	w.ok(payoutstest.CmdSeed, payoutstest.Seed{Merchants: []string{"m1", "m2"}, Workers: ws, Unverified: []string{"u1"}})
	start := w.Now
	setFee(w, "m1", 1, "2026-12-01", "0.0100")
	setFee(w, "m1", 2, "2026-12-15", "0.0200") // a new version from the 15th
	bank, err := channel.NewSandbox("", seedN)
	if err != nil {
		t.Fatal(err)
	}
	bank.FailRate, bank.ReturnRate, bank.Latency, bank.ReturnDelay = 0.03, 0.03, time.Hour, 3*24*time.Hour
	bank.Now = func() time.Time { return w.Now }
	d := &payouts.Driver{Node: &proposer{w: w}, Leading: func() bool { return true }, Channel: bank, Page: 200,
		Payee: func(*state.ReadTx, string) (channel.Payee, error) {
			return channel.Payee{Name: "n", Card: "6222000011112222"}, nil
		},
		Now: func() time.Time { return w.Now }, Log: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))}
	round := func() {
		t.Helper()
		if err := d.Round(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	for day := range 31 {
		w.Now = start.Add(time.Duration(day) * 24 * time.Hour)
		m := []string{"m1", "m2"}[day%2]
		if day%5 != 4 { // every fifth day's batch waits for balance until the next top-up
			w.ok(payoutstest.CmdTopUp, payoutstest.TopUp{Merchant: m, Fen: int64(20_000_000 + rng.IntN(5_000_000)), Ref: fmt.Sprintf("d%d", day)})
		}
		rows := make([]payouts.Row, 60+rng.IntN(60))
		for i := range rows {
			wk := ws[rng.IntN(len(ws))]
			if rng.IntN(50) == 0 {
				wk = "u1" // held
			}
			rows[i] = payouts.Row{No: i + 1, Worker: wk, Task: "task-1", Amount: fmt.Sprintf("%d.%02d", 50+rng.IntN(1500), rng.IntN(100))}
		}
		id := w.upload(m, rows)
		w.ok(payouts.CmdConfirm, payouts.Confirm{Batch: id, By: "acct-admin"})
		for range 4 {
			w.Now = w.Now.Add(2 * time.Hour)
			round()
		}
	}
	for _, m := range []string{"m1", "m2"} {
		w.ok(payoutstest.CmdTopUp, payoutstest.TopUp{Merchant: m, Fen: 5_000_000_00, Ref: "end-" + m})
	}
	w.Now = start.Add(35 * 24 * time.Hour)
	for range 3 {
		round()
	}
	w.green()

	// What the platform has with the channel.
	var all []reconcile.Payment
	var booked []*payouts.Payment
	w.view(func(r *state.ReadTx) (err error) {
		if all, err = reconcile.ChannelPayments(r, "sandbox"); err != nil {
			return err
		}
		return payouts.Payments(r, func(p *payouts.Payment) error { booked = append(booked, p); return nil })
	})
	const day = reconcile.Day(20261210)
	byDay := map[reconcile.Day][]reconcile.Payment{}
	statuses := map[string]int{}
	for _, p := range all {
		if p.Settled() {
			byDay[p.Date] = append(byDay[p.Date], p)
			statuses[p.Status]++
		}
	}
	t.Logf("%d payments with the channel; settled: %v; on %s: %d", len(all), statuses, day, len(byDay[day]))
	if statuses["failed"] == 0 || statuses["returned"] == 0 || len(byDay[day]) < 20 {
		t.Fatalf("the month should show failures, returns and a busy %s", day)
	}

	// The channel's statement of the day: what it settled, as the
	// platform has it, with one difference of every class seeded.
	var lines []reconcile.Line
	for _, p := range byDay[day] {
		lines = append(lines, reconcile.Line{Ref: p.Ref, BankRef: "BK-" + p.Ref, Fen: p.Fen, Status: p.Status, Date: p.Date})
	}
	want := map[string]reconcile.Class{}
	pick := func(ok func(*reconcile.Line) bool) *reconcile.Line {
		for i := range lines {
			if _, taken := want[lines[i].Ref]; !taken && ok(&lines[i]) {
				return &lines[i]
			}
		}
		t.Fatal("no line to seed a difference on")
		return nil
	}
	paid := func(l *reconcile.Line) bool { return l.Status == channel.Paid }
	l := pick(paid)
	l.Fen += 100 // the channel moved one yuan more
	want[l.Ref] = reconcile.Amount
	l = pick(paid)
	l.Status = channel.Failed // the channel says it failed; the platform has it paid
	want[l.Ref] = reconcile.Status
	l = pick(paid)
	l.Fen, l.Date = l.Fen-1, day+1 // amount and date: classified once, as amount
	want[l.Ref] = reconcile.Amount
	gone := pick(func(*reconcile.Line) bool { return true }) // missing on the channel's side
	want[gone.Ref] = reconcile.MissingChannel
	var kept []reconcile.Line
	for _, x := range lines {
		if x.Ref != gone.Ref {
			kept = append(kept, x)
		}
	}
	lines = kept
	// Paid the day before on the platform's books, the 10th on the
	// channel's: a date difference.
	var before reconcile.Payment
	for _, p := range byDay[day-1] {
		if p.Status == channel.Paid {
			before = p
			break
		}
	}
	lines = append(lines, reconcile.Line{Ref: before.Ref, Fen: before.Fen, Status: channel.Paid, Date: day})
	want[before.Ref] = reconcile.Date
	// A reference the platform never handed to the channel, and one it
	// handed to another: both unknown.
	lines = append(lines, reconcile.Line{Ref: "pb-ghost-000001", BankRef: "BK-X", Fen: 12345, Status: channel.Paid, Date: day})
	want["pb-ghost-000001"] = reconcile.MissingPlatform
	var rejected string
	for _, p := range booked {
		if p.Status == payouts.OnHold || p.Status == payouts.Rejected || p.Status == payouts.Cancelled {
			rejected = p.ID
			break
		}
	}
	if rejected != "" {
		lines = append(lines, reconcile.Line{Ref: rejected, Fen: 100, Status: channel.Paid, Date: day})
		want[rejected] = reconcile.MissingPlatform
	}
	// Paid on the 10th and returned since: the statement of the 10th is
	// right to say paid, and is no difference.
	for _, p := range all {
		if p.Status == channel.Returned && p.Date > day {
			lines = append(lines, reconcile.Line{Ref: p.Ref, Fen: p.Fen, Status: channel.Paid, Date: day})
			break
		}
	}
	rng.Shuffle(len(lines), func(i, j int) { lines[i], lines[j] = lines[j], lines[i] })
	file := reconcile.WriteStatement(lines)

	// Refused whole, nothing recorded: a duplicated line, a malformed line.
	rows := strings.SplitAfter(string(file), "\n")
	dup := strings.Join(append(append(append([]string{}, rows[:3]...), rows[2]), rows[3:len(rows)-2]...), "")
	dup = string(reconcile.WriteStatement(parseLines(t, dup)))
	for name, c := range map[string]struct {
		data      string
		code      string
		line      int
		substring string
	}{
		"a duplicated line":  {dup, reconcile.CodeLineDuplicate, 4, "line 3 already"},
		"a malformed amount": {strings.Replace(string(file), rows[5], badAmount(rows[5]), 1), reconcile.CodeLineInvalid, 6, "amount"},
		"a changed byte":     {strings.Replace(string(file), rows[7], strings.Replace(rows[7], "pb-", "pc-", 1), 1), reconcile.CodeTrailer, len(rows) - 1, "SM3"},
	} {
		_, _, err := w.importFile("sandbox", day, []byte(c.data))
		fe, ok := err.(*reconcile.FileError)
		if !ok || fe.Code != c.code || fe.Line != c.line || !strings.Contains(fe.Msg, c.substring) {
			t.Errorf("%s: %v, want %s on line %d", name, err, c.code, c.line)
		}
	}
	if n := len(w.cases()); n != 0 {
		t.Fatalf("refused files opened %d cases", n)
	}

	// The day before, the channel left off the payment it then listed on
	// the 10th: missing that day, a date difference the next, one case
	// in the end.
	var prev []reconcile.Line
	for _, p := range byDay[day-1] {
		if p.Ref != before.Ref {
			prev = append(prev, reconcile.Line{Ref: p.Ref, Fen: p.Fen, Status: p.Status, Date: p.Date})
		}
	}
	st9, rej, err := w.importFile("sandbox", day-1, reconcile.WriteStatement(prev))
	if err != nil || rej != nil || len(st9.Cases) != 1 || st9.Classes[reconcile.MissingChannel] != 1 {
		t.Fatalf("the 9th: %v %v %+v", err, rej, st9)
	}

	st, rej, err := w.importFile("sandbox", day, file)
	if err != nil || rej != nil {
		t.Fatalf("import: %v %v", err, rej)
	}
	var cases []*reconcile.Case
	for _, c := range w.cases() {
		if c.Statement == st.ID {
			cases = append(cases, c)
		}
	}
	var missed *reconcile.Case
	w.view(func(r *state.ReadTx) (err error) { missed, err = reconcile.GetCase(r, st9.Cases[0]); return })
	if missed.Ref != before.Ref || missed.Status != reconcile.Closed || !strings.Contains(missed.Explanation, "(date)") {
		t.Fatalf("the 9th's missing payment, listed on the 10th: %+v", missed)
	}
	found := map[string]int{}
	for _, c := range cases {
		found[c.Ref]++
		if want[c.Ref] != c.Class {
			t.Errorf("%s (line %d) classified %s, want %s", c.Ref, c.Line, c.Class, want[c.Ref])
		}
	}
	for ref := range want {
		if found[ref] != 1 {
			t.Errorf("%s: found %d times, want once", ref, found[ref])
		}
	}
	if len(cases) != len(want) || len(st.Cases) != len(want) || st.Matched != len(lines)-len(want)+1 {
		t.Fatalf("%d cases, statement %+v; seeded %d differences", len(cases), st, len(want))
	}
	t.Logf("statement %s: %d lines, %d matched, classes %v", st.ID, st.Lines, st.Matched, st.Classes)
	// The same file again, and another file of the same day: refused.
	if _, rej, _ := w.importFile("sandbox", day, file); rej == nil || rej.Code != reconcile.CodeStatementImported.String() {
		t.Fatalf("the same file twice: %v", rej)
	}
	if _, rej, _ := w.importFile("sandbox", day, reconcile.WriteStatement(lines[1:])); rej == nil || rej.Code != reconcile.CodeDayImported.String() {
		t.Fatalf("a second statement of the day: %v", rej)
	}
	if len(w.cases()) != len(cases)+1 {
		t.Fatal("a refused import opened cases")
	}

	// The fee check: exactly the payments booked with the slip.
	wrong := map[string]bool{}
	for _, p := range booked {
		if p.Live() && p.Merchant == "m1" && p.AmountFen%100 == 37 && p.FeeFen > 0 {
			wrong[p.ID] = true
		}
	}
	var fees []reconcile.FeeDifference
	var checked int
	w.view(func(r *state.ReadTx) (err error) {
		fees, checked, err = reconcile.FeeDifferences(r, "", 202612)
		return
	})
	if len(wrong) == 0 || len(fees) != len(wrong) {
		t.Fatalf("the fee check found %d differences in %d payments; %d were booked wrong", len(fees), checked, len(wrong))
	}
	for _, f := range fees {
		if !wrong[f.Payment] || f.BookedFen != f.ExpectedFen+1 {
			t.Errorf("fee difference %+v", f)
		}
	}
	var fc reconcile.FeeCheckResult
	unmarshal(t, w.ok(reconcile.CmdFeeCheck, reconcile.FeeCheck{Period: "2026-12", Checked: checked, Differences: fees, By: "op-1"}), &fc)
	again := reconcile.FeeCheckResult{}
	unmarshal(t, w.ok(reconcile.CmdFeeCheck, reconcile.FeeCheck{Period: "2026-12", Checked: checked, Differences: fees, By: "op-1"}), &again)
	if len(fc.Opened) != len(wrong) || len(again.Opened) != 0 || len(again.Already) != len(wrong) {
		t.Fatalf("fee checks: %+v then %+v", fc, again)
	}

	// Cases worked: taken up, closed with an explanation, never twice.
	caseOf := map[reconcile.Class]*reconcile.Case{}
	for _, c := range w.cases() {
		caseOf[c.Class] = c
	}
	unknown := caseOf[reconcile.MissingPlatform].ID
	w.ok(reconcile.CmdCase, reconcile.CaseMove{Case: unknown, Action: reconcile.ActInvestigate, By: "op-1"})
	w.refused(reconcile.CodeCaseStatus.String(), reconcile.CmdCase, reconcile.CaseMove{Case: unknown, Action: reconcile.ActInvestigate, By: "op-1"})
	w.refused(state.InvalidRequest.String(), reconcile.CmdCase, reconcile.CaseMove{Case: unknown, Action: reconcile.ActClose, By: "op-1"})
	w.ok(reconcile.CmdCase, reconcile.CaseMove{Case: unknown, Action: reconcile.ActClose, Note: "another platform's payment: the bank corrected its statement", By: "op-1"})
	w.refused(reconcile.CodeCaseStatus.String(), reconcile.CmdCase, reconcile.CaseMove{Case: unknown, Action: reconcile.ActResolve, Note: "x", By: "op-1"})

	// Adjustments: a fee case refunded to the merchant by two people.
	fee := caseOf[reconcile.FeeClass]
	refund := []ledger.Line{
		{Account: ledger.FeeIncome, Debit: true, Fen: 1, Cause: ledger.CauseAdjustment},
		{Account: ledger.Merchant("m1"), Fen: 1, Cause: ledger.CauseAdjustment},
	}
	w.refused(reconcile.CodeUnbalanced.String(), reconcile.CmdAdjustPropose, reconcile.Proposal{Case: fee.ID, Reason: "refund",
		Lines: []ledger.Line{refund[0], {Account: ledger.Merchant("m1"), Fen: 2, Cause: ledger.CauseAdjustment}}, By: "op-1"})
	for _, acct := range []string{ledger.WorkerPayable, ledger.IIT, ledger.Clearing("sandbox")} {
		w.refused(reconcile.CodeAccount.String(), reconcile.CmdAdjustPropose, reconcile.Proposal{Case: fee.ID, Reason: "x",
			Lines: []ledger.Line{{Account: ledger.Bank, Debit: true, Fen: 5, Cause: ledger.CauseAdjustment}, {Account: acct, Fen: 5, Cause: ledger.CauseAdjustment}}, By: "op-1"})
	}
	bal := balance(w, ledger.Merchant("m1"))
	var a reconcile.Adjustment
	unmarshal(t, w.ok(reconcile.CmdAdjustPropose, reconcile.Proposal{Case: fee.ID, Lines: refund, Reason: "fee over-charged by one fen", By: "op-1"}), &a)
	w.refused(reconcile.CodeCaseStatus.String(), reconcile.CmdAdjustPropose, reconcile.Proposal{Case: fee.ID, Lines: refund, Reason: "again", By: "op-1"})
	w.refused(reconcile.CodeCaseStatus.String(), reconcile.CmdCase, reconcile.CaseMove{Case: fee.ID, Action: reconcile.ActResolve, Note: "by hand", By: "op-1"})
	w.refused(reconcile.CodeMakerChecker.String(), reconcile.CmdAdjustDecide, reconcile.Decision{Adjustment: a.ID, Approve: true, By: "op-1"})
	w.refused(state.InvalidRequest.String(), reconcile.CmdAdjustDecide, reconcile.Decision{Adjustment: a.ID, By: "rev-1"})
	w.ok(reconcile.CmdAdjustDecide, reconcile.Decision{Adjustment: a.ID, Note: "name the payment in the reason", By: "rev-1"})
	unmarshal(t, w.ok(reconcile.CmdAdjustPropose, reconcile.Proposal{Case: fee.ID, Lines: refund, Reason: "fee of " + fee.Ref + " over-charged by one fen", By: "op-1"}), &a)
	unmarshal(t, w.ok(reconcile.CmdAdjustDecide, reconcile.Decision{Adjustment: a.ID, Approve: true, By: "rev-1"}), &a)
	w.refused(reconcile.CodeAdjustmentStatus.String(), reconcile.CmdAdjustDecide, reconcile.Decision{Adjustment: a.ID, Approve: true, By: "rev-2"})
	if got := balance(w, ledger.Merchant("m1")); got != bal+1 || a.Posting == 0 {
		t.Fatalf("after the refund m1 holds %d (was %d), posting %d", got, bal, a.Posting)
	}
	var resolved *reconcile.Case
	w.view(func(r *state.ReadTx) (err error) { resolved, err = reconcile.GetCase(r, fee.ID); return })
	if resolved.Status != reconcile.Resolved || resolved.Adjustment != a.ID || len(resolved.History) != 5 {
		t.Fatalf("the fee case: %+v", resolved)
	}
	var posting *ledger.Posting
	w.view(func(r *state.ReadTx) (err error) { posting, err = ledger.Get(r, a.Posting); return })
	if posting.Event != reconcile.EventAdjust || posting.Ref != a.ID || posting.Lines[0].Cause != ledger.CauseAdjustment {
		t.Fatalf("the adjustment's posting: %+v", posting)
	}
	w.green()

	// The merchants' files hold to the ledger: December's closing is
	// January's opening, January's closing the balance now; every
	// movement explained.
	for _, m := range []string{"m1", "m2"} {
		var dec, jan *reconcile.MerchantFile
		w.view(func(r *state.ReadTx) (err error) {
			if dec, err = reconcile.MerchantReconciliation(r, m, "2026-12"); err != nil {
				return err
			}
			jan, err = reconcile.MerchantReconciliation(r, m, "2027-01")
			return err
		})
		if dec.Opening != 0 || jan.Opening != dec.Closing || jan.Closing != balance(w, ledger.Merchant(m)) {
			t.Fatalf("%s: December %d → %d, January %d → %d, balance %d", m, dec.Opening, dec.Closing, jan.Opening, jan.Closing, balance(w, ledger.Merchant(m)))
		}
		kinds := map[string]int{}
		for _, l := range append(dec.Lines, jan.Lines...) {
			kinds[l.Kind]++
		}
		if kinds[reconcile.KindOther] != 0 || kinds[reconcile.KindPayment] == 0 || kinds[reconcile.KindReversal] == 0 || kinds[reconcile.KindTopUp] == 0 {
			t.Fatalf("%s's lines by kind: %v", m, kinds)
		}
		t.Logf("%s: %v", m, kinds)
	}

	// A bad adjustment — one that moved worker payable, as no command
	// lets it — is what the auditor catches.
	w.ok(cmdPost, ledger.Posting{Event: reconcile.EventAdjust, Ref: "adj-forged", Lines: []ledger.Line{
		{Account: ledger.Bank, Debit: true, Fen: 500, Cause: ledger.CauseAdjustment},
		{Account: ledger.WorkerPayable, Fen: 500, Cause: ledger.CauseAdjustment}}})
	rep := w.verify()
	if rep.OK || !strings.Contains(strings.Join(rep.Problems, "\n"), "adjusts worker-payable, whose detail is the payments") {
		t.Fatalf("the auditor missed a forged adjustment: %v", rep.Problems)
	}
}

func setFee(w *world, merchant string, version int, effective, rate string) {
	w.t.Helper()
	w.ok(billing.CmdSet, billing.Config{Merchant: merchant, Version: version, Effective: billing.Date(effective), Timing: billing.During,
		Rules: []billing.Rule{{Name: "服务费", Kind: billing.Percentage, Rate: billing.MustRate(rate)}}, By: "op-1"})
}

func balance(w *world, account string) int64 {
	w.t.Helper()
	var b int64
	w.view(func(r *state.ReadTx) (err error) { b, err = ledger.Balance(r, account); return })
	return b
}

// parseLines reads a statement's lines back, trailer or not.
func parseLines(t *testing.T, s string) []reconcile.Line {
	t.Helper()
	var out []reconcile.Line
	for _, row := range strings.Split(s, "\n")[1:] {
		f := strings.Split(row, ",")
		if len(f) != 5 {
			continue
		}
		fen, _ := payouts.ParseAmount(f[2])
		d, _ := reconcile.ParseDay(f[4])
		out = append(out, reconcile.Line{Ref: f[0], BankRef: f[1], Fen: fen, Status: f[3], Date: d})
	}
	return out
}

// badAmount writes a statement row's amount with one decimal.
func badAmount(row string) string {
	f := strings.Split(row, ",")
	f[2] = strings.TrimSuffix(f[2], "0")[:len(f[2])-1]
	return strings.Join(f, ",")
}
