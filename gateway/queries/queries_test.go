package queries_test

import (
	"encoding/json"
	"os"
	"regexp"
	"slices"
	"strconv"
	"testing"

	"cxt/appliance/errs"
	"cxt/appliance/ledger"
	"cxt/appliance/payouts"
	"cxt/appliance/workers/workerstest"
	"cxt/gateway/queries"
	"cxt/storage/state"
)

var (
	platform = queries.Scope{Platform: true}
	bureauA  = queries.Scope{Offices: []string{officeA}}
	bureauB  = queries.Scope{Offices: []string{officeB}}
)

func (w *world) worker(scope queries.Scope, by string) (*queries.WorkerAnswer, error) {
	var a *queries.WorkerAnswer
	err := w.State.View(func(r *state.ReadTx) (err error) {
		a, err = queries.Worker(r, w.Keys, scope, queries.Identifier(by))
		return err
	})
	return a, err
}

func (w *world) merchant(scope queries.Scope, by string) (*queries.MerchantAnswer, error) {
	var a *queries.MerchantAnswer
	err := w.State.View(func(r *state.ReadTx) (err error) {
		a, err = queries.Merchant(r, w.Keys, scope, queries.Identifier(by))
		return err
	})
	return a, err
}

func mustWorker(t *testing.T, w *world, scope queries.Scope, by string) *queries.WorkerAnswer {
	t.Helper()
	a, err := w.worker(scope, by)
	if err != nil {
		t.Fatalf("worker %s: %v", by, err)
	}
	return a
}

// code is an error's API code and status, as the API would answer it.
func code(err error) (string, int) {
	if err == nil {
		return "", 200
	}
	e := errs.Of(err)
	return e.Code, e.Kind.Status()
}

func paymentIDs(ps []queries.Payment) []string {
	var out []string
	for _, p := range ps {
		out = append(out, p.ID)
	}
	slices.Sort(out)
	return out
}

func sorted(s []string) []string { s = slices.Clone(s); slices.Sort(s); return s }

// A bureau of office A sees a worker paid by merchants of A and of B, by
// their ID number: who they are, and their dealings with A's merchant only
// — links, agreements, payments and the withholding summed from them. The
// platform's office sees all of it.
func TestABureauSeesOfAWorkerTheirDealingsWithItsOfficesMerchantsOnly(t *testing.T) {
	w := newWorld(t)
	a := mustWorker(t, w, bureauA, w.idNumber[w.wAB])
	if a.ID != w.wAB || a.Identity == nil || a.Identity.IDNumber != w.idNumber[w.wAB] || a.Identity.Name == "" || a.Identity.IDType != "resident_id_card" || a.Destroyed != nil {
		t.Fatalf("identity: %+v %+v", a.ID, a.Identity)
	}
	if len(a.Merchants) != 1 || a.Merchants[0].Merchant != w.mA || a.Merchants[0].TaxOffice != officeA {
		t.Fatalf("office A sees links %+v", a.Merchants)
	}
	var wantA []string
	for _, id := range w.paid[w.mA] {
		if w.payment(id).Worker == w.wAB {
			wantA = append(wantA, id)
		}
	}
	if got := paymentIDs(a.Payments); !slices.Equal(got, sorted(wantA)) || len(got) != 1 {
		t.Fatalf("office A sees payments %v, want %v", got, wantA)
	}
	if len(a.Works) != 1 || a.Works[0].Task != "task-a" || a.Works[0].Merchant != w.mA {
		t.Fatalf("office A sees works %+v", a.Works)
	}
	if len(a.Agreements) != 1 || a.Agreements[0].Merchant != w.mA || a.Agreements[0].Worker != w.wAB || a.Agreements[0].Signed == nil {
		t.Fatalf("office A sees agreements %+v", a.Agreements)
	}
	p := w.payment(wantA[0])
	if len(a.Withholding) != 1 || a.Withholding[0].Year != 2026 || a.Withholding[0].IIT != ledger.Yuan(p.IITFen) ||
		a.Withholding[0].Amount != ledger.Yuan(p.AmountFen) || a.Withholding[0].Payments != 1 {
		t.Fatalf("office A's withholding %+v, payment %+v", a.Withholding, p)
	}
	if p.IITFen+p.VATFen == 0 {
		t.Fatal("the world's payments withheld nothing: the totals prove nothing")
	}

	all := mustWorker(t, w, platform, w.wAB)
	var wantAll []string
	var iit, amount int64
	for _, mer := range []string{w.mA, w.mB} {
		for _, id := range w.paid[mer] {
			if p := w.payment(id); p.Worker == w.wAB {
				wantAll = append(wantAll, id)
				iit += p.IITFen
				amount += p.AmountFen
			}
		}
	}
	if got := paymentIDs(all.Payments); !slices.Equal(got, sorted(wantAll)) || len(got) != 2 {
		t.Fatalf("the platform sees payments %v, want %v", got, wantAll)
	}
	if len(all.Merchants) != 2 || len(all.Agreements) != 2 || len(all.Works) != 2 {
		t.Fatalf("the platform sees %d links, %d agreements, %d works", len(all.Merchants), len(all.Agreements), len(all.Works))
	}
	if y := all.Withholding[0]; y.IIT != ledger.Yuan(iit) || y.Amount != ledger.Yuan(amount) || y.Payments != 2 {
		t.Fatalf("the platform's withholding %+v, want IIT %d amount %d", y, iit, amount)
	}
	for _, pay := range all.Payments {
		if pay.Status != string(payouts.Accepted) || pay.Agreement == "" || pay.Amount == "0.00" || pay.Net == "" {
			t.Fatalf("payment %+v", pay)
		}
	}
}

// A worker whom only B's merchant linked and paid is out of A's scope, by
// either identifier; B's bureau sees them.
func TestAWorkerPaidOnlyByAnotherOfficesMerchantIsOutOfScope(t *testing.T) {
	w := newWorld(t)
	for _, by := range []string{w.wB, w.idNumber[w.wB]} {
		if _, err := w.worker(bureauA, by); !isOutOfScope(err) {
			t.Fatalf("office A asking for %s: %v", by, err)
		}
		a := mustWorker(t, w, bureauB, by)
		if a.ID != w.wB || len(a.Payments) != 1 {
			t.Fatalf("office B: %+v", a)
		}
	}
	// A worker linked to nobody is the platform office's only.
	if _, err := w.worker(bureauA, w.wNone); !isOutOfScope(err) {
		t.Fatalf("office A asking for an unlinked worker: %v", err)
	}
	if a := mustWorker(t, w, platform, w.idNumber[w.wNone]); a.ID != w.wNone || len(a.Payments) != 0 {
		t.Fatalf("platform: %+v", a)
	}
}

func isOutOfScope(err error) bool {
	c, status := code(err)
	return c == queries.CodeOutOfScope && status == 404
}

// A bureau learns nothing from a refusal about who is on record: a worker
// or merchant outside its scope answers exactly as one that does not exist,
// by every identifier, and so does a document request about them.
func TestOutOfScopeAndAbsentAnswerAlike(t *testing.T) {
	w := newWorld(t)
	render := func(err error) string {
		e := errs.Of(err)
		b, _ := json.Marshal(map[string]any{"status": e.Kind.Status(), "code": e.Code, "message": e.Error()})
		return string(b)
	}
	probe := func(name string, existing, absent error) {
		t.Helper()
		if existing == nil || absent == nil {
			t.Fatalf("%s: answered: %v / %v", name, existing, absent)
		}
		if render(existing) != render(absent) {
			t.Fatalf("%s: a bureau tells them apart:\n  on record: %s\n  absent:    %s", name, render(existing), render(absent))
		}
	}
	_, e1 := w.worker(bureauA, w.wB)
	_, e2 := w.worker(bureauA, "w_0000000000000000000000ff")
	probe("worker by ID", e1, e2)
	_, e1 = w.worker(bureauA, w.idNumber[w.wB])
	_, e2 = w.worker(bureauA, workerstest.ID(999))
	probe("worker by ID number", e1, e2)
	_, e1 = w.merchant(bureauA, w.mB)
	_, e2 = w.merchant(bureauA, "m_00000000000000ff")
	probe("merchant by ID", e1, e2)
	_, e1 = w.merchant(bureauA, w.uscc[w.mB])
	_, e2 = w.merchant(bureauA, usccOf(t, "120101"))
	probe("merchant by credit code", e1, e2)
	_, e1 = w.document(bureauA, "worker", w.wB, "agreement:agr_"+w.mB+"_"+w.wB+":pdf")
	_, e2 = w.document(bureauA, "worker", "w_0000000000000000000000ff", "agreement:agr_"+w.mB+"_"+w.wB+":pdf")
	probe("a document of a worker", e1, e2)
	if !isOutOfScope(e1) {
		t.Fatalf("the probes answered %v", e1)
	}
}

// A merchant of another office, or of none, is out of a bureau's scope by
// its ID and by its credit code; its own office's bureau and the
// platform's see it.
func TestAMerchantOfAnotherOfficeIsOutOfScope(t *testing.T) {
	w := newWorld(t)
	for _, by := range []string{w.mB, w.uscc[w.mB]} {
		if _, err := w.merchant(bureauA, by); !isOutOfScope(err) {
			t.Fatalf("office A asking for B's merchant by %s: %v", by, err)
		}
		if a, err := w.merchant(bureauB, by); err != nil || a.ID != w.mB || a.TaxOffice != officeB {
			t.Fatalf("office B asking for its merchant by %s: %+v %v", by, a, err)
		}
	}
	if _, err := w.merchant(queries.Scope{Offices: []string{officeA, officeB}}, w.mNone); !isOutOfScope(err) {
		t.Fatalf("a merchant of no office, asked by two offices' bureau: %v", err)
	}
	if a, err := w.merchant(platform, w.mNone); err != nil || a.ID != w.mNone {
		t.Fatalf("the platform's office asking for a merchant of no office: %v", err)
	}
}

// A merchant's answer: its record opened, operating model, tax office,
// qualification documents, agreements, tasks with their works, and its
// payments summed by month.
func TestAMerchantAnswerHasItsRecordAgreementsTasksAndMonthlyTotals(t *testing.T) {
	w := newWorld(t)
	a, err := w.merchant(bureauA, w.uscc[w.mA])
	if err != nil {
		t.Fatal(err)
	}
	if a.ID != w.mA || a.OperatingModel != "intermediary" || a.TaxOffice != officeA || a.Status != "approved" || a.Approved == nil {
		t.Fatalf("record: %+v", a)
	}
	if a.Identity == nil || a.Identity.USCC != w.uscc[w.mA] || a.Identity.LegalRep.IDNumber == "" || len(a.Identity.Contacts) != 1 || a.Destroyed != nil {
		t.Fatalf("identity: %+v", a.Identity)
	}
	if len(a.Documents) != 1 || a.Documents[0].Kind != "business_licence" || w.docs[a.Documents[0].Ref] == nil {
		t.Fatalf("documents: %+v", a.Documents)
	}
	var agr []string
	for _, g := range a.Agreements {
		agr = append(agr, g.ID)
		if g.Merchant != w.mA || len(g.Documents) == 0 || w.docs[g.Documents[0].Ref] == nil {
			t.Fatalf("agreement %+v", g)
		}
	}
	want := sorted([]string{"agr_coop_" + w.mA, "agr_" + w.mA + "_" + w.wA, "agr_" + w.mA + "_" + w.wAB, "agr_" + w.mA + "_" + w.wShred})
	if !slices.Equal(agr, want) {
		t.Fatalf("agreements %v, want %v", agr, want)
	}
	if len(a.Tasks) != 1 || a.Tasks[0].ID != "task-a" || len(a.Tasks[0].Works) != 3 {
		t.Fatalf("tasks: %+v", a.Tasks)
	}
	var n int
	var amount, fee, iit int64
	for _, id := range w.paid[w.mA] {
		if id == w.failed {
			continue
		}
		p := w.payment(id)
		n++
		amount += p.AmountFen
		fee += p.FeeFen
		iit += p.IITFen
	}
	if len(a.Payments) != 1 {
		t.Fatalf("months: %+v", a.Payments)
	}
	failed := w.payment(w.failed)
	if m := a.Payments[0]; m.Month != 202603 || m.Payments != n || m.Amount != ledger.Yuan(amount) || m.Fee != ledger.Yuan(fee) || m.IIT != ledger.Yuan(iit) ||
		m.Reversed != 1 || m.ReversedAmount != ledger.Yuan(failed.AmountFen) {
		t.Fatalf("March: %+v; want %d payments, amount %d, fee %d, IIT %d, one reversed of %d", m, n, amount, fee, iit, failed.AmountFen)
	}
}

// An identifier of no known form is refused from its text, with a code.
func TestMalformedIdentifiersAreRefusedWithACode(t *testing.T) {
	w := newWorld(t)
	badID := workerstest.ID(1)[:17] + "0"
	if badID == workerstest.ID(1) {
		badID = workerstest.ID(1)[:17] + "1"
	}
	badUSCC := w.uscc[w.mA][:17] + "0"
	if badUSCC == w.uscc[w.mA] {
		badUSCC = w.uscc[w.mA][:17] + "1"
	}
	for _, c := range []struct{ name, by, code string }{
		{"empty", "", queries.CodeIdentifierFormat},
		{"a word", "zhang san", queries.CodeIdentifierFormat},
		{"a short worker ID", "w_1234", queries.CodeIdentifierFormat},
		{"an upper-case worker ID", "w_00000000000000000000000A", queries.CodeIdentifierFormat},
		{"a merchant ID", w.mA, queries.CodeIdentifierFormat},
		{"an ID number with a wrong check digit", badID, "id_check_digit"},
		{"a fifteen-digit ID number", "110105900101123", "id_format"},
	} {
		_, err := w.worker(platform, c.by)
		if got, status := code(err); got != c.code || status != 400 {
			t.Errorf("worker %s (%q): %s %d, want %s 400", c.name, c.by, got, status, c.code)
		}
	}
	for _, c := range []struct{ name, by, code string }{
		{"a worker ID", w.wA, queries.CodeIdentifierFormat},
		{"a short merchant ID", "m_12", queries.CodeIdentifierFormat},
		{"a lower-case credit code", "91110105m000100y4x", queries.CodeIdentifierFormat},
		{"a credit code with a wrong check character", badUSCC, "uscc_check_character"},
	} {
		_, err := w.merchant(platform, c.by)
		if got, status := code(err); got != c.code || status != 400 {
			t.Errorf("merchant %s (%q): %s %d, want %s 400", c.name, c.by, got, status, c.code)
		}
	}
}

// A shredded worker's identity answers as destroyed; what the platform
// keeps by law of them — payments, agreements — stands.
func TestAShreddedWorkerAnswersDestroyed(t *testing.T) {
	w := newWorld(t)
	a := mustWorker(t, w, bureauA, w.wShred)
	if a.Identity != nil || a.Destroyed == nil || a.Destroyed.At.IsZero() {
		t.Fatalf("identity %+v, destroyed %+v", a.Identity, a.Destroyed)
	}
	if len(a.Payments) != 1 || len(a.Agreements) != 1 {
		t.Fatalf("records: %d payments, %d agreements", len(a.Payments), len(a.Agreements))
	}
}

// A payment the bank failed is listed as failed, and its year counts it
// as reversed: neither its amount nor its tax stands.
func TestAFailedPaymentCountsAsReversed(t *testing.T) {
	w := newWorld(t)
	a := mustWorker(t, w, bureauA, w.wA)
	failed := w.payment(w.failed)
	var statuses []string
	for _, p := range a.Payments {
		statuses = append(statuses, p.ID+"="+p.Status)
	}
	if len(a.Payments) != 2 || !slices.Contains(statuses, w.failed+"=failed") {
		t.Fatalf("payments %v", statuses)
	}
	var kept *payouts.Payment
	for _, id := range w.paid[w.mA] {
		if p := w.payment(id); p.Worker == w.wA && id != w.failed {
			kept = p
		}
	}
	y := a.Withholding[0]
	if y.Payments != 1 || y.Amount != ledger.Yuan(kept.AmountFen) || y.IIT != ledger.Yuan(kept.IITFen) ||
		y.Reversed != 1 || y.ReversedAmount != ledger.Yuan(failed.AmountFen) {
		t.Fatalf("2026: %+v; kept %d (IIT %d), failed %d", y, kept.AmountFen, kept.IITFen, failed.AmountFen)
	}
}

// Every code this package answers with has its row in docs/errors.md, with
// its kind's status.
func TestEveryCodeIsDocumented(t *testing.T) {
	doc, err := os.ReadFile("../../docs/errors.md")
	if err != nil {
		t.Fatal(err)
	}
	for c, kind := range queries.Codes {
		row := regexp.MustCompile("(?m)^\\| `" + c + "` \\| " + strconv.Itoa(kind.Status()) + " \\|")
		if !row.Match(doc) {
			t.Errorf("docs/errors.md has no row for %s with status %d", c, kind.Status())
		}
	}
}
