package filing_test

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"cxt/appliance/errs"
	"cxt/appliance/filing"
	"cxt/appliance/ledger"
	"cxt/appliance/payouts"
	"cxt/gateway/feed"
	"cxt/storage/state"
)

func raw(t *testing.T, w *world, period string, version int) []byte {
	t.Helper()
	var v []byte
	w.view(func(r *state.ReadTx) error {
		b, err := r.Get(filing.DeclBucket, []byte(period2key(period, version)))
		v = append([]byte(nil), b...)
		return err
	})
	return v
}

func period2key(period string, v int) string {
	return filing.Platform + "/" + period + "/" + strings.Repeat("0", 4-len(itoa(v))) + itoa(v)
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }

// TestACorrectionIsANewVersionAndTheOldStaysAsFiled: the same figures again
// are refused; a payment returned after the filing makes a correction,
// which needs a reason, supersedes v1 and leaves v1's stored bytes alone.
func TestACorrectionIsANewVersionAndTheOldStaysAsFiled(t *testing.T) {
	w := goldenWorld(t)
	v1 := raw(t, w, "2026-02", 1)
	if len(v1) == 0 {
		t.Fatal("no v1")
	}
	d1 := w.declaration("2026-02", 0)
	if d1.Version != 1 || d1.Due != "2026-03-15" || d1.Late || d1.Supersedes != 0 {
		t.Fatalf("v1: %+v", d1.Summary())
	}
	w.refused(filing.CodeUnchanged.String(), filing.CmdDeclare, filing.Declare{Agent: filing.Platform, Period: "2026-02", By: "acct-op", Reason: "again"})

	// w3's February payment comes back on 20 March, after the due date.
	w.Now = time.Date(2026, 3, 20, 10, 0, 0, 0, payouts.China)
	var w3 string
	w.view(func(r *state.ReadTx) error {
		return payouts.Payments(r, func(p *payouts.Payment) error {
			if p.Worker == "w3" {
				w3 = p.ID
			}
			return nil
		})
	})
	w.result(payouts.Returned, w3)
	w.refused(filing.CodeCorrectionNote.String(), filing.CmdDeclare, filing.Declare{Agent: filing.Platform, Period: "2026-02", By: "acct-op"})
	s := w.declare("2026-02", "w3's payment was returned by the bank on 2026-03-20")
	if s.Version != 2 || s.Supersedes != 1 || !s.Late || s.Lines != 2 {
		t.Fatalf("the correction: %+v", s)
	}
	if got := raw(t, w, "2026-02", 1); !bytes.Equal(got, v1) {
		t.Fatal("v1 changed when v2 was filed")
	}
	if d := w.declaration("2026-02", 1); len(d.IIT.Lines) != 3 {
		t.Fatalf("v1 now has %d lines", len(d.IIT.Lines))
	}
	if d := w.declaration("2026-02", 0); d.Version != 2 || len(d.IIT.Lines) != 2 || d.IIT.Totals.Income != "119311.88" {
		t.Fatalf("current: v%d, %d lines, income %s", d.Version, len(d.IIT.Lines), d.IIT.Totals.Income)
	}
	if got, d := w.ledgerIIT("2026-02"), w.declaration("2026-02", 0); got != d.IITFen {
		t.Fatalf("ledger %d, declared %d", got, d.IITFen)
	}
	w.refused(filing.CodeUnchanged.String(), filing.CmdDeclare, filing.Declare{Agent: filing.Platform, Period: "2026-02", By: "acct-op", Reason: "again"})

	// The bureaus' feed has both versions, in the platform's chain, naming
	// no worker; the refused declares left nothing.
	var got []string
	w.view(func(r *state.ReadTx) error {
		_, es, err := feed.Read(r, feed.Platform, 0, 1000, nil)
		for _, e := range es {
			if strings.HasPrefix(e.Type, "filing.") {
				got = append(got, e.Type+" "+e.Payload)
				if strings.Contains(e.Payload, `"w1"`) {
					t.Errorf("a feed entry names a worker: %s", e.Payload)
				}
			}
		}
		return err
	})
	if len(got) != 2 || !strings.Contains(got[0], `"version":1`) || !strings.Contains(got[1], `"supersedes":1`) || !strings.Contains(got[1], `"iit":"6694.95"`) {
		t.Fatalf("the feed: %v", got)
	}
}

// TestTwoDeclaresAtOnceMakeOneVersion: two operators' declares in one log
// entry — the second finds v1 saying the same and is refused.
func TestTwoDeclaresAtOnceMakeOneVersion(t *testing.T) {
	w := newWorld(t)
	w.ok("test.seed", map[string]any{"merchants": []string{"m1"}, "workers": []string{"w1"}})
	w.ok("test.top_up", map[string]any{"merchant": "m1", "fen": 100_000_00, "ref": "t"})
	w.Now = time.Date(2026, 4, 3, 10, 0, 0, 0, payouts.China)
	w.pay("w1", "1000.00")
	w.Now = time.Date(2026, 5, 1, 0, 0, 0, 0, payouts.China)
	body, _ := json.Marshal(filing.Declare{Agent: filing.Platform, Period: "2026-04", By: "a"})
	body2, _ := json.Marshal(filing.Declare{Agent: filing.Platform, Period: "2026-04", By: "b"})
	res := w.ApplyEntry(state.NewCommand(filing.CmdDeclare, body, w.Now), state.NewCommand(filing.CmdDeclare, body2, w.Now))
	if res[0].Err != nil || res[1].Err == nil || res[1].Err.Code != filing.CodeUnchanged.String() {
		t.Fatalf("two declares: %+v %+v", res[0].Err, res[1].Err)
	}
	var n int
	w.view(func(r *state.ReadTx) (err error) {
		n, err = filing.CurrentVersion(r, filing.Platform, "2026-04")
		return
	})
	if n != 1 {
		t.Fatalf("%d versions", n)
	}
}

// TestBadInputIsRefusedWithItsCodeAndNothingHalfApplied.
func TestBadInputIsRefusedWithItsCodeAndNothingHalfApplied(t *testing.T) {
	w := goldenWorld(t)
	decl := func(agent, period string) filing.Declare {
		return filing.Declare{Agent: agent, Period: period, By: "acct-op"}
	}
	w.refused("agent_unknown", filing.CmdDeclare, decl("m1", "2026-02"))
	for _, p := range []string{"2026-2", "2026-13", "2026-00", "26-02", "2026-02-01", "", "1999-12", "２０２６-02", "2000-01", "2024-12"} {
		w.refused("period_invalid", filing.CmdDeclare, decl(filing.Platform, p))
	}
	// March is not over on its last evening in China, though it is over
	// in UTC... the other way round: 31 March 23:59 CST is 15:59 UTC.
	w.Now = time.Date(2026, 3, 31, 23, 59, 59, 0, payouts.China)
	w.refused("period_not_over", filing.CmdDeclare, decl(filing.Platform, "2026-03"))
	w.refused("period_not_over", filing.CmdDeclare, decl(filing.Platform, "2026-04"))
	w.Now = time.Date(2026, 4, 1, 0, 0, 0, 0, payouts.China)
	w.declare("2026-03", "") // a month without payments declares no line
	if d := w.declaration("2026-03", 0); len(d.IIT.Lines) != 0 || d.IIT.Totals.Withheld != "0.00" {
		t.Fatalf("an empty month: %+v", d.IIT)
	}

	d := w.declaration("2026-02", 0)
	pay := func(items ...filing.PayItem) filing.Pay {
		return filing.Pay{Agent: filing.Platform, Period: "2026-02", Source: "imported", Items: items, By: "acct-op"}
	}
	iit := func(fen int64, receipt string) filing.PayItem {
		return filing.PayItem{Kind: filing.KindIIT, Fen: fen, Date: "2026-03-12", Receipt: receipt}
	}
	before := map[string]int64{}
	for _, a := range []string{ledger.IIT, ledger.VAT, ledger.Bank} {
		before[a] = w.balance(a)
	}
	w.refused("declaration_not_found", filing.CmdPay, filing.Pay{Agent: filing.Platform, Period: "2025-12", Source: "entered", Items: []filing.PayItem{iit(1, "R0001")}})
	w.refused("agent_unknown", filing.CmdPay, filing.Pay{Agent: "m1", Period: "2026-02", Source: "entered", Items: []filing.PayItem{iit(1, "R0001")}})
	w.refused("payment_exceeds_unpaid", filing.CmdPay, pay(iit(d.IITFen+1, "R0001")))
	// Together over: the first line fits, the second does not; neither is recorded.
	w.refused("payment_exceeds_unpaid", filing.CmdPay, pay(iit(d.IITFen-100, "R0001"), iit(101, "R0002")))
	w.refused("import_line_duplicate", filing.CmdPay, pay(iit(100, "R0001"), iit(100, "R0001")))
	w.refused("receipt_duplicate", filing.CmdPay, pay(iit(100, "R0001"), iit(200, "R0001")))
	w.refused("receipt_duplicate", filing.CmdPay, pay(iit(100, "AB-0001"), iit(200, "ab-0001"))) // one receipt, whatever the case
	w.refused("tax_payment_invalid", filing.CmdPay, pay(filing.PayItem{Kind: "stamp", Fen: 1, Date: "2026-03-12", Receipt: "R0009"}))
	w.refused("tax_payment_invalid", filing.CmdPay, pay(filing.PayItem{Kind: filing.KindIIT, Fen: 1, Date: "2026-02-27", Receipt: "R0009"})) // before the month ended
	w.refused("tax_payment_invalid", filing.CmdPay, pay(filing.PayItem{Kind: filing.KindIIT, Fen: 1, Date: "2026-05-01", Receipt: "R0009"})) // in the future
	w.refused("tax_payment_invalid", filing.CmdPay, pay(filing.PayItem{Kind: filing.KindIIT, Fen: 1, Date: "2026-03-12", Receipt: "R 9"}))
	w.refused("declaration_superseded", filing.CmdPay, filing.Pay{Agent: filing.Platform, Period: "2026-02", Version: 7, Source: "entered", Items: []filing.PayItem{iit(1, "R0001")}})
	for a, fen := range before {
		if got := w.balance(a); got != fen {
			t.Fatalf("%s moved from %d to %d with every payment refused", a, fen, got)
		}
	}
	var ps []*filing.TaxPayment
	w.view(func(r *state.ReadTx) (err error) { ps, err = filing.TaxPayments(r, filing.Platform, "2026-02"); return })
	if len(ps) != 0 {
		t.Fatalf("refused payments recorded: %+v", ps)
	}

	// The whole IIT in two receipts, the VAT in one: recorded, posted, the
	// auditor green; the same receipt again is refused.
	w.ok(filing.CmdPay, pay(iit(d.IITFen-100, "R0001"), iit(100, "R0002"), filing.PayItem{Kind: filing.KindVAT, Fen: d.VATFen, Date: "2026-03-12", Receipt: "R0003"}))
	w.refused("receipt_duplicate", filing.CmdPay, pay(filing.PayItem{Kind: filing.KindSurcharges, Fen: 1, Date: "2026-03-13", Receipt: "R0002"}))
	w.refused("payment_exceeds_unpaid", filing.CmdPay, pay(iit(1, "R0004")))
	if got := w.balance(ledger.IIT); got != before[ledger.IIT]-d.IITFen {
		t.Fatalf("tax/iit %d after paying %d of %d", got, d.IITFen, before[ledger.IIT])
	}
	if got := w.balance(ledger.Bank); got != before[ledger.Bank]-d.IITFen-d.VATFen {
		t.Fatalf("bank %d", got)
	}
	w.audit()

	// The certificates' read: w1 is paid, with both receipts; a worker
	// without a line is not found.
	var wt *filing.WorkerTax
	w.view(func(r *state.ReadTx) (err error) {
		wt, err = filing.WorkerPeriod(r, filing.Platform, "2026-02", "w1")
		return
	})
	if !wt.Paid || strings.Join(wt.Receipts, ",") != "R0001,R0002" || wt.Line.Withheld != "6694.95" || wt.Version != 1 {
		t.Fatalf("w1's February: %+v", wt)
	}
	w.view(func(r *state.ReadTx) error {
		if _, err := filing.WorkerPeriod(r, filing.Platform, "2026-02", "w9"); !state.NotFound.Is(err) {
			t.Errorf("a worker without a line: %v", err)
		}
		if _, err := filing.WorkerPeriod(r, "m1", "2026-02", "w1"); !filing.CodeAgentUnknown.Is(err) {
			t.Errorf("another agent: %v", err)
		}
		return nil
	})
}

// TestAnImportedFileIsReadWholeOrRefusedNamingTheLine.
func TestAnImportedFileIsReadWholeOrRefusedNamingTheLine(t *testing.T) {
	p, _ := filing.ParsePeriod("2026-02")
	today := "2026-03-20"
	items, err := filing.ParsePayments([]byte("\ufeffkind,amount,date,receipt\niit,6694.95,2026-03-12,3326000000001\nvat,1188.12,2026-03-12,3326000000002\n"), p, today)
	if err != nil || len(items) != 2 || items[0].Fen != 669495 || items[1].Line != 3 {
		t.Fatalf("%+v %v", items, err)
	}
	for _, c := range []struct{ name, file, code string }{
		{"a header that is not ours", "kind,amount,receipt,date\n", "tax_payment_invalid"},
		{"no payment", "kind,amount,date,receipt\n", "tax_payment_invalid"},
		{"a line repeated", "kind,amount,date,receipt\niit,1.00,2026-03-12,R0001\niit,1.00,2026-03-12,R0001\n", "import_line_duplicate"},
		{"a receipt on two lines", "kind,amount,date,receipt\niit,1.00,2026-03-12,R0001\nvat,2.00,2026-03-12,R0001\n", "receipt_duplicate"},
		{"a float amount", "kind,amount,date,receipt\niit,1.005,2026-03-12,R0001\n", "tax_payment_invalid"},
		{"a negative amount", "kind,amount,date,receipt\niit,-1.00,2026-03-12,R0001\n", "tax_payment_invalid"},
		{"a short line", "kind,amount,date,receipt\niit,1.00,2026-03-12\n", "tax_payment_invalid"},
		{"a date not a day", "kind,amount,date,receipt\niit,1.00,2026-02-30,R0001\n", "tax_payment_invalid"},
	} {
		_, err := filing.ParsePayments([]byte(c.file), p, today)
		if e := errs.Of(err); err == nil || e.Code != c.code {
			t.Errorf("%s: %v, want %s", c.name, err, c.code)
		}
	}
}

// TestTheAuditorCatchesTaxMovedOtherwiseThanByATaxPayment: the auditor
// counts only filing.pay postings of the right shape as tax paid out; tax
// taken out any other way, or a tax payment that credits anything but the
// bank, is a problem.
func TestTheAuditorCatchesTaxMovedOtherwiseThanByATaxPayment(t *testing.T) {
	for name, p := range map[string]ledger.Posting{
		"a tax payment to a merchant": {Event: filing.CmdPay, Ref: "x", Lines: []ledger.Line{
			{Account: ledger.IIT, Debit: true, Fen: 100, Cause: ledger.CauseTax}, {Account: ledger.Merchant("m1"), Fen: 100, Cause: ledger.CauseTax}}},
		"a tax payment for another cause": {Event: filing.CmdPay, Ref: "x", Lines: []ledger.Line{
			{Account: ledger.IIT, Debit: true, Fen: 100, Cause: ledger.CauseAdjustment}, {Account: ledger.Bank, Fen: 100, Cause: ledger.CauseAdjustment}}},
		"tax paid out by another event": {Event: "x.adjust", Ref: "x", Lines: []ledger.Line{
			{Account: ledger.IIT, Debit: true, Fen: 100, Cause: ledger.CauseTax}, {Account: ledger.Bank, Fen: 100, Cause: ledger.CauseTax}}},
	} {
		t.Run(name, func(t *testing.T) {
			w := goldenWorld(t)
			w.audit()
			w.ok(cmdPost, p)
			var rep *payouts.Report
			w.view(func(r *state.ReadTx) (err error) { rep, err = payouts.Verify(r); return })
			if rep.OK {
				t.Fatal("the auditor is green")
			}
			t.Log(rep.Problems)
		})
	}
}

// TestATaxPaymentPostingWithoutItsRecordIsAProblem: filing.Audit finds a
// filing.pay posting no tax payment names.
func TestATaxPaymentPostingWithoutItsRecordIsAProblem(t *testing.T) {
	w := goldenWorld(t)
	w.Now = time.Date(2026, 3, 12, 10, 0, 0, 0, payouts.China)
	w.ok(filing.CmdPay, filing.Pay{Agent: filing.Platform, Period: "2026-02", Source: "entered", By: "acct-op",
		Items: []filing.PayItem{{Kind: filing.KindIIT, Fen: 100, Date: "2026-03-12", Receipt: "R0001"}}})
	w.audit()
	w.ok(cmdPost, ledger.Posting{Event: filing.CmdPay, Ref: "by hand", Lines: []ledger.Line{
		{Account: ledger.IIT, Debit: true, Fen: 100, Cause: ledger.CauseTax}, {Account: ledger.Bank, Fen: 100, Cause: ledger.CauseTax}}})
	var problems []string
	w.view(func(r *state.ReadTx) (err error) { problems, err = filing.Audit(r); return })
	if len(problems) != 1 || !strings.Contains(problems[0], "no tax payment names it") {
		t.Fatalf("problems: %v", problems)
	}
}
