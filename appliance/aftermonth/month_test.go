package aftermonth_test

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"cxt/appliance/agreements"
	"cxt/appliance/billing"
	"cxt/appliance/certificates"
	"cxt/appliance/channel"
	"cxt/appliance/filing"
	"cxt/appliance/invoices"
	"cxt/appliance/ledger"
	"cxt/appliance/merchants"
	"cxt/appliance/payouts"
	"cxt/appliance/payouts/payoutstest"
	"cxt/appliance/reconcile"
	"cxt/storage/state"
)

// made is a payment as this test made it: its row, not the platform's
// record of it.
type made struct {
	merchant, worker string
	fen              int64
}

// TestTheMonthAfterThePayout continues the payouts' whole month past the
// payout. Two merchants — m1 参与经营型 (operating), m2 中间介绍型
// (intermediary) — pay December through the Driver and the sandbox bank,
// which fails some payments and returns others three days later, some in
// January. Then:
//
//   - December is declared; its IIT, VAT and surcharge totals equal, to the
//     fen, what this test sums over the payments it made that are still
//     live, the ledger's tax payables, and filing.LedgerIIT; each worker's
//     line carries the amounts of their rows. The tax is paid (payables to
//     zero). A return after the payment takes the payable below zero by the
//     returned payment's tax; the correction (v2) reconciles again, and
//     nothing more can be paid against it.
//   - The worker's tax-payment certificate and a merchant's part of it
//     state what the payments withheld; OpenSSL verifies their SM2
//     signatures, and refuses a changed byte; none is made before the
//     tax is paid.
//   - Invoices under both models — full for m1; fee and a worker's 代开 for
//     m2 — total exactly what their payments make; the return reverses each
//     invoice covering it exactly once, however often it is reported.
//   - A channel statement of 10 December, written from the bank's own
//     records with a difference of every class seeded, is imported: each
//     difference is found and classified exactly once, and nothing else;
//     the fee check finds exactly the payments booked with a slip; the same
//     file, another of the same day and a file with a duplicated line are
//     refused.
//   - Adjustments proposed by one person and approved by another resolve
//     cases; the independent auditor and the tax payments' audit stay green
//     after everything, and a forged adjustment and a forged tax payment are
//     caught.
func TestTheMonthAfterThePayout(t *testing.T) {
	seedN := time.Now().UnixNano()
	if s := os.Getenv("CXT_SEED"); s != "" { // a seed printed by a run that failed
		seedN, _ = strconv.ParseInt(s, 10, 64)
	}
	t.Logf("seed %d", seedN)
	rng := rand.New(rand.NewPCG(uint64(seedN), 13))
	w := newWorld(t)
	ws := make([]string, 60)
	for i := range ws {
		ws[i] = fmt.Sprintf("w%03d", i)
	}
	w.ok(payoutstest.CmdSeed, payoutstest.Seed{Merchants: []string{"m1", "m2"}, Workers: ws, Unverified: []string{"u1"}})
	w.ok(cmdModel, map[string]merchants.OperatingModel{"m1": merchants.Operating, "m2": merchants.Intermediary})
	for m, rate := range map[string]string{"m1": "0.0100", "m2": "0.0200"} {
		w.ok(billing.CmdSet, billing.Config{Merchant: m, Version: 1, Effective: "2026-12-01", Timing: billing.During,
			Rules: []billing.Rule{{Name: "服务费", Kind: billing.Percentage, Rate: billing.MustRate(rate)}}, By: "op-1"})
	}

	w.giveIdentity("w000", "王小明", "110101199003071234")
	auth, err := agreements.NewAuthority(w.Keys, "灵活用工平台有限公司", "91110000MA01ABCD2X", w.Now)
	if err != nil {
		t.Fatal(err)
	}
	w.ok(agreements.CmdAuthority, auth)

	// December through the Driver and the sandbox bank.
	start := w.Now
	sandbox, err := channel.NewSandbox("", seedN)
	if err != nil {
		t.Fatal(err)
	}
	sandbox.FailRate, sandbox.ReturnRate, sandbox.Latency, sandbox.ReturnDelay = 0.03, 0.04, time.Hour, 3*24*time.Hour
	sandbox.Now = func() time.Time { return w.Now }
	bank := &recorder{Channel: sandbox, orders: map[string]order{}, seen: map[string]bool{}}
	d := &payouts.Driver{Node: &proposer{w: w}, Leading: func() bool { return true }, Channel: bank, Page: 500,
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
	rows := map[string]made{} // payment ID -> the row that made it
	batchOf := map[string]int{}
	for day := range 31 {
		w.Now = start.Add(time.Duration(day) * 24 * time.Hour)
		m := []string{"m1", "m2"}[day%2]
		w.ok(payoutstest.CmdTopUp, payoutstest.TopUp{Merchant: m, Fen: 30_000_000_00, Ref: fmt.Sprintf("d%d", day)})
		var rs []payouts.Row
		add := func(worker string, fen int64) {
			rs = append(rs, payouts.Row{No: len(rs) + 1, Worker: worker, Task: "task-1", Amount: fmt.Sprintf("%d.%02d", fen/100, fen%100)})
		}
		for range 50 + rng.IntN(50) {
			add(ws[rng.IntN(len(ws))], int64(50_00+rng.IntN(1500_00)))
		}
		add("w000", int64(6000_00+rng.IntN(1000_00))) // w000's month passes 100,000.00: VAT is withheld
		add("w001", int64(100_37+100*rng.IntN(500)))  // an m1 fee slip every other day
		if day == 0 {
			add("ghost", 100_00) // rejected: no such worker
			add("u1", 100_00)    // held: not verified
		}
		id := fmt.Sprintf("pb-%s-%02d", m, day+1)
		cmds, err := payouts.UploadCommands(id, m, id, "acct-op", rs, w.Now)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range cmds {
			if res := w.Apply(c); res.Err != nil {
				t.Fatalf("upload: %v", res.Err)
			}
		}
		for i, r := range rs {
			pid := payouts.PaymentID(id, i+1)
			fen, _ := payouts.ParseAmount(r.Amount)
			rows[pid], batchOf[pid] = made{merchant: m, worker: r.Worker, fen: fen}, day+1
		}
		w.ok(payouts.CmdConfirm, payouts.Confirm{Batch: id, By: "acct-admin"})
		for range 4 {
			w.Now = w.Now.Add(2 * time.Hour)
			round()
		}
	}
	// 5 January: the last returns of December arrive.
	w.Now = time.Date(2027, 1, 5, 9, 0, 0, 0, payouts.China)
	round()
	round()
	pays := w.payments()
	count := map[payouts.Status]int{}
	lateReturns := 0
	for id, p := range pays {
		if r := rows[id]; r.fen != p.AmountFen || r.merchant != p.Merchant || r.worker != p.Worker || (p.Month != 202612 && p.Status != payouts.Rejected && p.Status != payouts.OnHold) {
			t.Fatalf("%s: the platform has %+v; the row was %+v", id, p, r)
		}
		count[p.Status]++
		if p.Status == payouts.Returned && p.Updated.In(payouts.China).Year() == 2027 {
			lateReturns++
		}
	}
	t.Logf("%d payments: %v; %d returned in January", len(pays), count, lateReturns)
	// Besides the seeded hold, a row held because its tax exceeds it: the
	// month's VAT falls due in full with the payment that reaches the line
	// (sales of 100,000.00, 101,000.00 with the VAT), so its worker's month
	// with it reaches 101,000.00 — counting every payment booked in it, as
	// the month stood when the row was decided (some came back since).
	live := map[string]int64{} // worker -> December's booked amounts
	for _, p := range pays {
		if p.Status != payouts.Rejected && p.Status != payouts.OnHold && p.Status != payouts.Cancelled {
			live[p.Worker] += p.AmountFen
		}
	}
	taxHolds := 0
	for id, p := range pays {
		if p.Status == payouts.OnHold && p.Code == payouts.ReasonTaxExceeds {
			taxHolds++
			if live[p.Worker]+p.AmountFen < 101_000_00 {
				t.Fatalf("%s held for its tax, yet its worker's month with it is %d fen", id, live[p.Worker]+p.AmountFen)
			}
		}
	}
	if len(pays) != len(rows) || count[payouts.Failed] == 0 || count[payouts.Returned] == 0 || lateReturns == 0 ||
		count[payouts.Rejected] != 1 || count[payouts.OnHold] != 1+taxHolds || count[payouts.Accepted]+count[payouts.Submitted] != 0 {
		t.Fatalf("the month should end with every payment final and show failures, returns (some in January), a rejection and a hold: %v", count)
	}
	if probs := w.auditors(); len(probs) != 0 {
		t.Fatalf("the auditors after the month: %v", probs)
	}

	// What December owes, from the payments made: per worker the rows'
	// amounts, and the taxes withheld with them, over the live ones.
	type owed struct{ fen, iit, vat, sur int64 }
	expect := func() (map[string]owed, owed) {
		per := map[string]owed{}
		var all owed
		for id, p := range w.payments() {
			if p.Status != payouts.Paid {
				continue // every live payment is paid by now
			}
			o := per[p.Worker]
			o.fen += rows[id].fen
			o.iit += p.IITFen
			o.vat += p.VATFen
			o.sur += p.SurFen
			per[p.Worker] = o
			all.fen += rows[id].fen
			all.iit += p.IITFen
			all.vat += p.VATFen
			all.sur += p.SurFen
		}
		return per, all
	}
	checkDeclared := func(dec *filing.Declaration) {
		t.Helper()
		per, all := expect()
		if dec.IITFen != all.iit || dec.VATFen != all.vat || dec.SurFen != all.sur {
			t.Fatalf("v%d declares IIT %s, VAT %s, surcharges %s; the live payments withheld %s, %s, %s", dec.Version,
				ledger.Yuan(dec.IITFen), ledger.Yuan(dec.VATFen), ledger.Yuan(dec.SurFen), ledger.Yuan(all.iit), ledger.Yuan(all.vat), ledger.Yuan(all.sur))
		}
		if got := w.ledgerIIT(); got != all.iit {
			t.Fatalf("v%d: the ledger's postings make December's IIT %s; the live payments withheld %s", dec.Version, ledger.Yuan(got), ledger.Yuan(all.iit))
		}
		if dec.VAT.Totals.Income != ledger.Yuan(all.fen) || dec.IIT.Totals.Withheld != ledger.Yuan(all.iit) ||
			len(dec.IIT.Lines) != len(per) || len(dec.VAT.Lines) != len(per) || dec.IIT.Totals.Lines != len(per) {
			t.Fatalf("v%d totals %+v / %+v over %d lines; the rows paid %s to %d workers", dec.Version, dec.IIT.Totals, dec.VAT.Totals, len(dec.IIT.Lines), ledger.Yuan(all.fen), len(per))
		}
		var income int64
		for i, l := range dec.VAT.Lines {
			o, ok := per[l.Worker]
			il := dec.IIT.Lines[i]
			if !ok || l.Income != ledger.Yuan(o.fen) || l.VAT != ledger.Yuan(o.vat) || l.Surcharges != ledger.Yuan(o.sur) ||
				il.Worker != l.Worker || il.Withheld != ledger.Yuan(o.iit) || il.Income != ledger.Yuan(o.fen-o.vat) {
				t.Fatalf("v%d: %s's lines %+v / %+v; their rows paid %s, withheld IIT %s, VAT %s, surcharges %s", dec.Version, l.Worker, il, l,
					ledger.Yuan(o.fen), ledger.Yuan(o.iit), ledger.Yuan(o.vat), ledger.Yuan(o.sur))
			}
			f, err := ledger.Fen(decimal.RequireFromString(il.Income))
			if err != nil {
				t.Fatal(err)
			}
			income += f
		}
		if ledger.Yuan(income) != dec.IIT.Totals.Income || income != all.fen-all.vat {
			t.Fatalf("v%d: the IIT lines' income adds up to %s; the totals say %s", dec.Version, ledger.Yuan(income), dec.IIT.Totals.Income)
		}
	}

	// 1. December declared: the totals equal the ledger's payables.
	w.Now = time.Date(2027, 1, 5, 10, 0, 0, 0, payouts.China)
	w.ok(filing.CmdDeclare, filing.Declare{Agent: filing.Platform, Period: "2026-12", By: "op-1"})
	v1 := w.declaration(0)
	checkDeclared(v1)
	_, all := expect()
	if w.balance(ledger.IIT) != all.iit || w.balance(ledger.VAT) != all.vat || w.balance(ledger.Surcharges) != all.sur || all.vat == 0 || all.iit == 0 {
		t.Fatalf("the tax payables hold IIT %d, VAT %d, surcharges %d; December withheld %+v (VAT must show)",
			w.balance(ledger.IIT), w.balance(ledger.VAT), w.balance(ledger.Surcharges), all)
	}
	t.Logf("v1: %d workers, income %s, IIT %s, VAT %s, surcharges %s", len(v1.IIT.Lines), v1.IIT.Totals.Income, ledger.Yuan(v1.IITFen), ledger.Yuan(v1.VATFen), ledger.Yuan(v1.SurFen))
	w.refused(filing.CodeUnchanged.String(), filing.CmdDeclare, filing.Declare{Agent: filing.Platform, Period: "2026-12", Reason: "again", By: "op-1"})
	// No certificate for tax not yet paid.
	if _, _, err := w.certificate("w000", ""); !certificates.CodeUnpaid.Is(err) {
		t.Fatalf("a certificate of an unpaid month: %v", err)
	}
	// The tax paid: the payables are settled to zero.
	bank0 := w.balance(ledger.Bank)
	w.ok(filing.CmdPay, filing.Pay{Agent: filing.Platform, Period: "2026-12", Source: "imported", By: "op-1", Items: []filing.PayItem{
		{Kind: filing.KindIIT, Fen: all.iit, Date: "2027-01-05", Receipt: "332601050000001"},
		{Kind: filing.KindVAT, Fen: all.vat, Date: "2027-01-05", Receipt: "332601050000002"},
		{Kind: filing.KindSurcharges, Fen: all.sur, Date: "2027-01-05", Receipt: "332601050000003"}}})
	if w.balance(ledger.IIT) != 0 || w.balance(ledger.VAT) != 0 || w.balance(ledger.Surcharges) != 0 || w.balance(ledger.Bank) != bank0-all.iit-all.vat-all.sur {
		t.Fatal("paying the declared tax leaves the payables or the bank off")
	}
	w.refused(filing.CodeOverUnpaid.String(), filing.CmdPay, filing.Pay{Agent: filing.Platform, Period: "2026-12", Source: "entered", By: "op-1",
		Items: []filing.PayItem{{Kind: filing.KindIIT, Fen: 1, Date: "2027-01-05", Receipt: "332601050000004"}}})

	// Tax-payment certificates (完税证明) of w000, who was paid by both
	// merchants: the whole month, and m2's part; OpenSSL verifies each.
	per, _ := expect()
	var m2Income, m2IIT int64
	m2n, alln := 0, 0
	for id, p := range w.payments() {
		if p.Worker == "w000" && p.Status == payouts.Paid {
			alln++
			if p.Merchant == "m2" {
				m2n++
				m2Income += rows[id].fen - p.VATFen
				m2IIT += p.IITFen
			}
		}
	}
	whole, zipWhole, err := w.certificate("w000", "")
	if err != nil || whole.IncomeFen != per["w000"].fen-per["w000"].vat || whole.WithheldFen != per["w000"].iit || whole.Payments != alln ||
		whole.Name != "王**" || whole.IDNumber != "1101**********1234" || whole.WithheldFen == 0 {
		t.Fatalf("w000's certificate %+v (%v); their rows: %+v over %d payments", whole, err, per["w000"], alln)
	}
	part, zipPart, err := w.certificate("w000", "m2")
	if err != nil || part.IncomeFen != m2Income || part.WithheldFen != m2IIT || part.Payments != m2n || part.ID() == whole.ID() {
		t.Fatalf("m2's certificate of w000 %+v (%v); m2 paid %d of income, %d withheld, in %d payments", part, err, m2Income, m2IIT, m2n)
	}
	for _, z := range [][]byte{zipWhole, zipPart} {
		openssl(t, z, w.Now, false)
		openssl(t, z, w.Now, true)
	}

	// 2. Invoices under both models, over late-month paid payments (with
	// IIT withheld, so that a return after the tax was paid shows).
	w.Now = time.Date(2027, 1, 6, 10, 0, 0, 0, payouts.China)
	paidOf := func(m string, ok func(string, *payouts.Payment) bool) []string {
		var out []string
		for id, p := range w.payments() {
			if p.Merchant == m && p.Status == payouts.Paid && batchOf[id] >= 20 && ok(id, p) {
				out = append(out, id)
			}
		}
		slices.Sort(out)
		return out
	}
	every := func(string, *payouts.Payment) bool { return true }
	full := paidOf("m1", every)[:40]
	var p1 string // m1's payment that comes back after invoicing and the tax
	for _, id := range full {
		if w.payment(id).IITFen > 0 {
			p1 = id
			break
		}
	}
	var p2, wk string // m2's, of worker wk
	for _, id := range paidOf("m2", every) {
		if p := w.payment(id); p.IITFen > 0 && p.Worker != "w000" {
			p2, wk = id, p.Worker
			break
		}
	}
	feeIDs := paidOf("m2", every)[:40]
	if !slices.Contains(feeIDs, p2) {
		feeIDs = append(feeIDs, p2)
	}
	ofWorker := paidOf("m2", func(_ string, p *payouts.Payment) bool { return p.Worker == wk })
	if p1 == "" || p2 == "" || len(ofWorker) == 0 {
		t.Fatal("no paid payment with IIT withheld to return")
	}
	sumOf := func(ids []string, f func(made) int64) int64 {
		var s int64
		for _, id := range ids {
			s += f(rows[id])
		}
		return s
	}
	bookedFee := func(r made) int64 {
		fee := feeOf(r.merchant, r.fen)
		if slip(r.merchant, r.fen) {
			fee++
		}
		return fee
	}
	request := func(in invoices.Request) *invoices.Invoice {
		t.Helper()
		in.Seller, in.SellerTaxID, in.Buyer, in.BuyerTaxID = "灵活用工平台有限公司", "91110000MA01ABCD2X", "商户 "+in.Merchant, "91310000MA1FL0000K"
		if in.Kind == invoices.Worker {
			in.Seller = in.Worker
		}
		var inv invoices.Invoice
		w.into(w.ok(invoices.CmdRequest, in), &inv)
		return &inv
	}
	// platformTax is the tax in a 6 % tax-inclusive total, half up.
	platformTax := func(total int64) int64 { return (total*600*2 + 10_600) / (2 * 10_600) }
	wantFull := sumOf(full, func(r made) int64 { return r.fen + bookedFee(r) })
	wantFee := sumOf(feeIDs, bookedFee)
	wantWorker := sumOf(ofWorker, func(r made) int64 { return r.fen })
	// The wrong kind for the model, and a stated total the payments do not
	// make (one fen more), are refused.
	w.refused(invoices.CodeKind.String(), invoices.CmdRequest, invoices.Request{Merchant: "m1", Kind: invoices.Fee, Payments: full, Seller: "p", Buyer: "b"})
	w.refused(invoices.CodeKind.String(), invoices.CmdRequest, invoices.Request{Merchant: "m2", Kind: invoices.Full, Payments: feeIDs, Seller: "p", Buyer: "b"})
	over := wantFull + 1
	w.refused(invoices.CodeAmount.String(), invoices.CmdRequest, invoices.Request{Merchant: "m1", Kind: invoices.Full, Payments: full, TotalFen: &over, Seller: "p", Buyer: "b"})
	invFull := request(invoices.Request{Merchant: "m1", Kind: invoices.Full, Payments: full, TotalFen: &wantFull})
	invFee := request(invoices.Request{Merchant: "m2", Kind: invoices.Fee, Payments: feeIDs})
	invWk := request(invoices.Request{Merchant: "m2", Kind: invoices.Worker, Worker: wk, Payments: ofWorker})
	var wkVAT int64
	for _, id := range ofWorker {
		wkVAT += w.payment(id).VATFen
	}
	for _, c := range []struct {
		inv        *invoices.Invoice
		total, tax int64
	}{{invFull, wantFull, platformTax(wantFull)}, {invFee, wantFee, platformTax(wantFee)}, {invWk, wantWorker, wkVAT}} {
		if c.inv.TotalFen != c.total || c.inv.TaxFen != c.tax || c.inv.AmountFen+c.inv.TaxFen != c.inv.TotalFen {
			t.Fatalf("%s invoice %s: total %d, tax %d, amount %d; its payments make %d, tax %d", c.inv.Kind, c.inv.ID, c.inv.TotalFen, c.inv.TaxFen, c.inv.AmountFen, c.total, c.tax)
		}
	}
	w.refused(invoices.CodeCovered.String(), invoices.CmdRequest, invoices.Request{Merchant: "m1", Kind: invoices.Full, Payments: full[:1], Seller: "p", Buyer: "b"})
	w.ok(invoices.CmdIssue, invoices.Issue{Invoice: invFull.ID, By: "op-1"})
	w.ok(invoices.CmdIssue, invoices.Issue{Invoice: invFee.ID, By: "op-1"})
	w.ok(invoices.CmdIssue, invoices.Issue{Invoice: invWk.ID, Number: "26440000000000000777", By: "op-1"})
	issuer := &invoices.Sandbox{}
	issuing := &invoices.Driver{Node: &proposer{w: w}, Leading: func() bool { return true }, Issuer: issuer, Now: func() time.Time { return w.Now }}
	if err := issuing.Round(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, inv := range []*invoices.Invoice{invFull, invFee, invWk} {
		if got := w.invoice(inv.ID); got.Status != invoices.Issued || !invoices.ValidNumber(got.Number) {
			t.Fatalf("invoice %s after issuing: %+v", inv.ID, got)
		}
	}

	// 3. p1 and p2 come back (退汇) after the tax was paid and the invoices
	// issued; the bank reports it twice.
	w.Now = time.Date(2027, 1, 7, 10, 0, 0, 0, payouts.China)
	before := len(w.allInvoices())
	r1, r2 := w.payment(p1), w.payment(p2)
	if out := w.results(payouts.Returned, p1, p2); out.Applied != 2 {
		t.Fatalf("the return: %+v", out)
	}
	if out := w.results(payouts.Returned, p1, p2); out.Applied != 0 || len(out.Ignored) != 2 {
		t.Fatalf("the return reported again: %+v", out)
	}
	// The payables go below zero by exactly what came back.
	if got := w.balance(ledger.IIT); got != -(r1.IITFen + r2.IITFen) {
		t.Fatalf("tax/iit after the return: %d, want %d", got, -(r1.IITFen + r2.IITFen))
	}
	if w.balance(ledger.VAT) != -(r1.VATFen+r2.VATFen) || w.balance(ledger.Surcharges) != -(r1.SurFen+r2.SurFen) {
		t.Fatal("the VAT and surcharge payables after the return")
	}
	// Each invoice covering a returned payment reversed once: a red-letter
	// record with the negated amounts naming it.
	reversals := map[string]*invoices.Invoice{}
	for _, inv := range w.allInvoices() {
		if inv.Reverses != "" {
			if reversals[inv.Reverses] != nil {
				t.Fatalf("invoice %s reversed twice", inv.Reverses)
			}
			reversals[inv.Reverses] = inv
		}
	}
	if n := len(w.allInvoices()); n != before+3 || len(reversals) != 3 {
		t.Fatalf("%d invoices after the return (were %d), %d reversals: want one per invoice covering p1 or p2", n, before, len(reversals))
	}
	for _, orig := range []*invoices.Invoice{invFull, invFee, invWk} {
		red, now := reversals[orig.ID], w.invoice(orig.ID)
		if red == nil || red.TotalFen != -orig.TotalFen || red.TaxFen != -orig.TaxFen || red.AmountFen != -orig.AmountFen ||
			now.Status != invoices.Reversed || now.ReversedBy != red.ID || now.TotalFen != orig.TotalFen {
			t.Fatalf("invoice %s after the return: %+v; its reversal %+v", orig.ID, now, red)
		}
	}
	if err := issuing.Round(context.Background()); err != nil { // the platform's red letters
		t.Fatal(err)
	}
	if red := w.invoice(reversals[invFull.ID].ID); red.Status != invoices.Issued || !invoices.ValidNumber(red.Number) {
		t.Fatalf("the red letter of %s: %+v", invFull.ID, red)
	}
	// What is still live is invoiced again, for exactly what it makes.
	rest := slices.DeleteFunc(slices.Clone(full), func(s string) bool { return s == p1 })
	wantRest := wantFull - rows[p1].fen - bookedFee(rows[p1])
	if again := request(invoices.Request{Merchant: "m1", Kind: invoices.Full, Payments: rest}); again.TotalFen != wantRest {
		t.Fatalf("m1 re-invoiced %d; the live payments make %d", again.TotalFen, wantRest)
	}
	w.refused(invoices.CodeNotLive.String(), invoices.CmdRequest, invoices.Request{Merchant: "m1", Kind: invoices.Full, Payments: []string{p1}, Seller: "p", Buyer: "b"})

	// 4. The correction: v2 supersedes v1 and reconciles again; nothing more
	// is paid against it, and v1 is no longer paid against.
	w.Now = time.Date(2027, 1, 8, 10, 0, 0, 0, payouts.China)
	w.refused(filing.CodeCorrectionNote.String(), filing.CmdDeclare, filing.Declare{Agent: filing.Platform, Period: "2026-12", By: "op-1"})
	w.ok(filing.CmdDeclare, filing.Declare{Agent: filing.Platform, Period: "2026-12", Reason: "two payments returned after filing", By: "op-1"})
	v2 := w.declaration(0)
	checkDeclared(v2)
	if v2.Version != 2 || v2.Supersedes != 1 || v2.IITFen != v1.IITFen-r1.IITFen-r2.IITFen || w.declaration(1).IITFen != v1.IITFen {
		t.Fatalf("v2 %d (supersedes %d) declares %d; v1 %d less the returns' %d", v2.Version, v2.Supersedes, v2.IITFen, v1.IITFen, r1.IITFen+r2.IITFen)
	}
	if got := w.balance(ledger.IIT); got != v2.IITFen-v1.IITFen {
		t.Fatalf("tax/iit %d: v2 declares %d and %d was paid", got, v2.IITFen, v1.IITFen)
	}
	w.refused(filing.CodeOverUnpaid.String(), filing.CmdPay, filing.Pay{Agent: filing.Platform, Period: "2026-12", Source: "entered", By: "op-1",
		Items: []filing.PayItem{{Kind: filing.KindIIT, Fen: 1, Date: "2027-01-08", Receipt: "332601080000001"}}})
	w.refused(filing.CodeSuperseded.String(), filing.CmdPay, filing.Pay{Agent: filing.Platform, Period: "2026-12", Version: 1, Source: "entered", By: "op-1",
		Items: []filing.PayItem{{Kind: filing.KindIIT, Fen: 1, Date: "2027-01-08", Receipt: "332601080000002"}}})
	if probs := w.auditors(); len(probs) != 0 {
		t.Fatalf("the auditors after the correction: %v", probs)
	}

	// 5. The channel's statement of 10 December, from the bank's records:
	// every event it reported that day, at the amount it was handed.
	const day = reconcile.Day(20261210)
	var lines []reconcile.Line
	var paidBefore []reconcile.Line // paid the day before
	for _, e := range bank.events {
		o, ok := bank.orders[e.Ref]
		if !ok {
			t.Fatalf("the bank reported %s, which it never took", e.Ref)
		}
		l := reconcile.Line{Ref: e.Ref, BankRef: o.bank, Fen: o.fen, Status: e.Status, Date: reconcile.DayOf(e.At)}
		switch l.Date {
		case day:
			lines = append(lines, l)
		case day - 1:
			if e.Status == channel.Paid {
				paidBefore = append(paidBefore, l)
			}
		}
	}
	slices.SortFunc(lines, func(a, b reconcile.Line) int { return strings.Compare(a.Ref, b.Ref) })
	want := map[string]reconcile.Class{}
	pick := func(status string) *reconcile.Line { // a line of a payment the platform still has as status
		for i := range lines {
			l := &lines[i]
			if _, taken := want[l.Ref]; !taken && l.Status == status && string(w.payment(l.Ref).Status) == status && l.Ref != p1 && l.Ref != p2 {
				return l
			}
		}
		t.Fatalf("no %s line left to seed a difference on", status)
		return nil
	}
	statuses := map[string]int{}
	for _, l := range lines {
		statuses[l.Status]++
	}
	if statuses[channel.Paid] < 10 || statuses[channel.Returned]+statuses[channel.Failed] == 0 {
		t.Fatalf("10 December at the bank: %v", statuses)
	}
	l := pick(channel.Paid)
	l.Fen += 100 // the bank moved one yuan more
	want[l.Ref] = reconcile.Amount
	overpaid := l.Ref
	l = pick(channel.Paid)
	l.Status = channel.Failed // the bank says it failed
	want[l.Ref] = reconcile.Status
	l = pick(channel.Paid)
	l.Fen, l.Date = l.Fen-1, day+1 // two differences, one case: amount comes first
	want[l.Ref] = reconcile.Amount
	gone := *pick(channel.Paid) // a payment the bank leaves off
	want[gone.Ref] = reconcile.MissingChannel
	lines = slices.DeleteFunc(lines, func(x reconcile.Line) bool { return x.Ref == gone.Ref })
	for _, b := range paidBefore { // paid on the 9th, listed on the 10th
		if w.payment(b.Ref).Status == payouts.Paid {
			b.Date = day
			lines = append(lines, b)
			want[b.Ref] = reconcile.Date
			break
		}
	}
	var rejected string
	for id, p := range pays {
		if p.Status == payouts.Rejected {
			rejected = id
		}
	}
	// Unknown to the platform: a reference it never had, and a payment it
	// rejected (never handed to a channel).
	lines = append(lines, reconcile.Line{Ref: "pb-ghost-000001", BankRef: "SBX-X", Fen: 123_45, Status: channel.Paid, Date: day},
		reconcile.Line{Ref: rejected, BankRef: "SBX-Y", Fen: 100_00, Status: channel.Paid, Date: day})
	want["pb-ghost-000001"], want[rejected] = reconcile.MissingPlatform, reconcile.MissingPlatform
	classes := map[reconcile.Class]bool{}
	for _, c := range want {
		classes[c] = true
	}
	if len(classes) != len(reconcile.Classes) || len(want) != 7 {
		t.Fatalf("seeded %v: not every class", want)
	}
	rng.Shuffle(len(lines), func(i, j int) { lines[i], lines[j] = lines[j], lines[i] })
	file := reconcile.WriteStatement(lines)

	// Bad input first: a line twice is refused whole, nothing recorded.
	_, _, err = w.importFile(day, reconcile.WriteStatement(append(slices.Clone(lines), lines[3])))
	if fe, ok := err.(*reconcile.FileError); !ok || fe.Code != reconcile.CodeLineDuplicate || fe.Line != len(lines)+2 {
		t.Fatalf("a duplicated line: %v", err)
	}
	if len(w.cases()) != 0 {
		t.Fatal("a refused statement opened cases")
	}
	w.Now = time.Date(2027, 1, 9, 10, 0, 0, 0, payouts.China)
	st, rej, err := w.importFile(day, file)
	if err != nil || rej != nil {
		t.Fatalf("import: %v %v", err, rej)
	}
	cases := w.cases()
	got := map[string]reconcile.Class{}
	for _, id := range st.Cases {
		c := cases[id]
		if _, twice := got[c.Ref]; twice {
			t.Fatalf("%s found twice", c.Ref)
		}
		got[c.Ref] = c.Class
	}
	if !maps.Equal(got, want) || len(cases) != len(want) || len(st.Cases) != len(want) {
		t.Fatalf("the statement's cases %v (%d in all); seeded %v", got, len(cases), want)
	}
	if st.Lines != len(lines) || st.Matched != len(lines)-6 { // six lines differ: two amount, status, date, two unknown
		t.Fatalf("statement %s: %d lines, %d matched; %d written, 6 differing", st.ID, st.Lines, st.Matched, len(lines))
	}
	t.Logf("statement %s: %d lines, %d matched, classes %v", st.ID, st.Lines, st.Matched, st.Classes)
	// The same file again, and another statement of the same day: refused.
	if _, rej, _ := w.importFile(day, file); rej == nil || rej.Code != reconcile.CodeStatementImported.String() {
		t.Fatalf("the same file twice: %v", rej)
	}
	if _, rej, _ := w.importFile(day, reconcile.WriteStatement(lines[1:])); rej == nil || rej.Code != reconcile.CodeDayImported.String() {
		t.Fatalf("a second statement of the day: %v", rej)
	}
	if len(w.cases()) != len(want) {
		t.Fatal("a refused import opened cases")
	}

	// The fee check: exactly m1's live payments whose amount ends in 37 fen.
	slipped := map[string]bool{}
	for id, p := range w.payments() {
		if p.Live() && slip(rows[id].merchant, rows[id].fen) {
			slipped[id] = true
		}
	}
	var fees []reconcile.FeeDifference
	var checked int
	w.view(func(r *state.ReadTx) (err error) {
		fees, checked, err = reconcile.FeeDifferences(r, "", 202612)
		return
	})
	if len(slipped) == 0 || len(fees) != len(slipped) {
		t.Fatalf("the fee check found %d differences in %d payments; %d were booked with the slip", len(fees), checked, len(slipped))
	}
	for _, f := range fees {
		if !slipped[f.Payment] || f.ExpectedFen != feeOf("m1", rows[f.Payment].fen) || f.BookedFen != f.ExpectedFen+1 {
			t.Fatalf("fee difference %+v", f)
		}
	}
	var fc, again reconcile.FeeCheckResult
	w.into(w.ok(reconcile.CmdFeeCheck, reconcile.FeeCheck{Period: "2026-12", Checked: checked, Differences: fees, By: "op-1"}), &fc)
	w.into(w.ok(reconcile.CmdFeeCheck, reconcile.FeeCheck{Period: "2026-12", Checked: checked, Differences: fees, By: "op-1"}), &again)
	if len(fc.Opened) != len(slipped) || len(again.Opened) != 0 || len(again.Already) != len(slipped) {
		t.Fatalf("fee checks: %+v, then %+v", fc, again)
	}

	// 6. Adjustments, maker and checker two people: the fee slip refunded to
	// m1, and the yuan the bank paid over borne by the platform's fees.
	caseOf := func(kind, ref string) *reconcile.Case {
		for _, c := range w.cases() {
			if c.Kind == kind && c.Ref == ref {
				return c
			}
		}
		t.Fatalf("no case of %s", ref)
		return nil
	}
	adjust := func(caseID string, lines []ledger.Line, reason string) *reconcile.Adjustment {
		t.Helper()
		var a reconcile.Adjustment
		w.into(w.ok(reconcile.CmdAdjustPropose, reconcile.Proposal{Case: caseID, Lines: lines, Reason: reason, By: "op-1"}), &a)
		w.refused(reconcile.CodeMakerChecker.String(), reconcile.CmdAdjustDecide, reconcile.Decision{Adjustment: a.ID, Approve: true, By: "op-1"})
		w.into(w.ok(reconcile.CmdAdjustDecide, reconcile.Decision{Adjustment: a.ID, Approve: true, By: "rev-1"}), &a)
		w.refused(reconcile.CodeAdjustmentStatus.String(), reconcile.CmdAdjustDecide, reconcile.Decision{Adjustment: a.ID, Approve: true, By: "rev-2"})
		if c := w.cases()[caseID]; c.Status != reconcile.Resolved || c.Adjustment != a.ID || a.Status != reconcile.Approved || a.Posting == 0 {
			t.Fatalf("adjustment %+v left case %+v", a, c)
		}
		return &a
	}
	line := func(account string, debit bool, fen int64) ledger.Line {
		return ledger.Line{Account: account, Debit: debit, Fen: fen, Cause: ledger.CauseAdjustment}
	}
	feeCase := caseOf(reconcile.KindFee, fees[0].Payment)
	// Refused: unbalanced, and an account whose detail is the payments.
	w.refused(reconcile.CodeUnbalanced.String(), reconcile.CmdAdjustPropose, reconcile.Proposal{Case: feeCase.ID, Reason: "refund", By: "op-1",
		Lines: []ledger.Line{line(ledger.FeeIncome, true, 1), line(ledger.Merchant("m1"), false, 2)}})
	w.refused(reconcile.CodeAccount.String(), reconcile.CmdAdjustPropose, reconcile.Proposal{Case: feeCase.ID, Reason: "the tax of the return", By: "op-1",
		Lines: []ledger.Line{line(ledger.IIT, true, 5), line(ledger.Merchant("m1"), false, 5)}})
	m1, fees0, bank1 := w.balance(ledger.Merchant("m1")), w.balance(ledger.FeeIncome), w.balance(ledger.Bank)
	adjust(feeCase.ID, []ledger.Line{line(ledger.FeeIncome, true, 1), line(ledger.Merchant("m1"), false, 1)}, "fee of "+fees[0].Payment+" booked one fen high")
	adjust(caseOf(reconcile.KindChannel, overpaid).ID, []ledger.Line{line(ledger.FeeIncome, true, 100), line(ledger.Bank, false, 100)}, "the bank paid "+overpaid+" one yuan over: the platform bears it")
	if w.balance(ledger.Merchant("m1")) != m1+1 || w.balance(ledger.FeeIncome) != fees0-101 || w.balance(ledger.Bank) != bank1-100 {
		t.Fatal("the adjustments moved other amounts than approved")
	}
	// The other cases worked to an end with explanations.
	for _, c := range w.cases() {
		if !c.Final() {
			w.ok(reconcile.CmdCase, reconcile.CaseMove{Case: c.ID, Action: reconcile.ActInvestigate, By: "op-1"})
			w.ok(reconcile.CmdCase, reconcile.CaseMove{Case: c.ID, Action: reconcile.ActClose, Note: "the bank corrected its statement", By: "op-1"})
		}
	}
	w.refused(reconcile.CodeCaseStatus.String(), reconcile.CmdCase, reconcile.CaseMove{Case: feeCase.ID, Action: reconcile.ActClose, Note: "x", By: "op-1"})
	if probs := w.auditors(); len(probs) != 0 {
		t.Fatalf("the auditors after everything: %v", probs)
	}
	// The declaration still reconciles after the adjustments (they name no
	// payment and move no tax payable).
	checkDeclared(w.declaration(0))

	// 7. What no command does, the auditors catch: an "adjustment" moving
	// worker payable, and a tax payment posted without its record.
	w.ok(cmdPost, ledger.Posting{Event: reconcile.EventAdjust, Ref: "adj-forged", Lines: []ledger.Line{
		line(ledger.Bank, true, 500), line(ledger.WorkerPayable, false, 500)}})
	if probs := strings.Join(w.auditors(), "\n"); !strings.Contains(probs, "adjusts worker-payable, whose detail is the payments") {
		t.Fatalf("the auditor missed a forged adjustment: %s", probs)
	}
	w.ok(cmdPost, ledger.Posting{Event: filing.CmdPay, Ref: "forged", Lines: []ledger.Line{
		{Account: ledger.IIT, Debit: true, Fen: 700, Cause: ledger.CauseTax}, {Account: ledger.Bank, Fen: 700, Cause: ledger.CauseTax}}})
	if probs := strings.Join(w.auditors(), "\n"); !strings.Contains(probs, "no tax payment names it") {
		t.Fatalf("the audit missed a forged tax payment: %s", probs)
	}
}
