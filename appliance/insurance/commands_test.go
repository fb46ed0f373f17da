package insurance

import (
	"encoding/json"
	"strings"
	"testing"

	"cxt/appliance/workers/partiestest"
)

type world struct{ *partiestest.World }

func newWorld(t *testing.T) *world { return &world{partiestest.NewWorld(t, Register)} }

func pay(worker, month string, base int64) SocialPayment {
	return SocialPayment{Worker: worker, Month: month, Place: "350100", BaseFen: base, PensionFen: base * 16 / 100, MedicalFen: base * 8 / 100}
}

// A merchant insures only its own workers, a product that needs a real
// name refuses a worker without one, one product is not taken twice for
// overlapping periods, and the premium is the product's times the terms,
// in fen.
func TestAMerchantInsuresOnlyItsOwnWorkersOnceAPeriod(t *testing.T) {
	w := newWorld(t)
	w.Merchant("m_a")
	w.Merchant("m_b")
	wa, wb := w.Worker(1, "m_a"), w.Worker(2, "m_b")
	w.Must(w.Send(CmdProduct, Product{ID: "p_acc", Insurer: "某保险", Name: "灵活用工意外险", Kind: Accident, PremiumFen: 1_99, Term: Day, Coverage: "意外身故、伤残、医疗", By: "ops"}))
	w.Must(w.Send(CmdProduct, Product{ID: "p_inj", Insurer: "某保险", Name: "职业伤害保障", Kind: OccupationalInjury, PremiumFen: 30_00, Term: Month, Coverage: "职业伤害", RealNameRequired: true, By: "ops"}))

	w.Refused(CmdEnrol, EnrolIn{ID: "e1", Product: "p_acc", Worker: wb, Merchant: "m_a", Start: "2026-03-01", Units: 30, By: "acct-m_a"}, "insurance_worker_not_yours")
	w.Refused(CmdEnrol, EnrolIn{ID: "e1", Product: "p_acc", Worker: "w_404", Merchant: "m_a", Start: "2026-03-01", Units: 30, By: "acct-m_a"}, "insurance_worker_not_yours")
	w.Refused(CmdEnrol, EnrolIn{ID: "e1", Product: "p_inj", Worker: wa, Merchant: "m_a", Start: "2026-03-01", Units: 1, By: "acct-m_a"}, "insurance_ineligible")
	w.Refused(CmdEnrol, EnrolIn{ID: "e1", Product: "p_acc", Worker: wa, Merchant: "m_a", Start: "2026-03-01", Units: 367, By: "acct-m_a"}, "invalid_request")

	var e Enrolment
	json.Unmarshal(w.Must(w.Send(CmdEnrol, EnrolIn{ID: "e1", Product: "p_acc", Worker: wa, Merchant: "m_a", Start: "2026-03-01", Units: 31, By: "acct-m_a"})), &e)
	if e.End != "2026-03-31" || e.PremiumFen != 31*1_99 {
		t.Fatalf("31 days from 1 March at 1.99: %+v", e)
	}
	w.Refused(CmdEnrol, EnrolIn{ID: "e2", Product: "p_acc", Worker: wa, Start: "2026-03-31", Units: 1, By: "acct-" + wa}, "insurance_enrolled")
	w.Must(w.Send(CmdEnrol, EnrolIn{ID: "e3", Product: "p_acc", Worker: wa, Start: "2026-04-01", Units: 1, By: "acct-" + wa}))
	// A cancelled worker is insured by nothing new, and no payment of
	// theirs is recorded any more.
	partiestest.Cancel(t, w.Machine, wb)
	w.Refused(CmdEnrol, EnrolIn{ID: "e5", Product: "p_acc", Worker: wb, Merchant: "m_b", Start: "2026-04-01", Units: 1, By: "acct-m_b"}, "worker_restricted")
	w.Refused(CmdSocial, SocialIn{Batch: "b9", By: "ops", Payments: []SocialPayment{pay(wb, "2026-04", 400000)}}, "worker_restricted")

	w.Must(w.Send(CmdRetire, RetireIn{Product: "p_acc", By: "ops"}))
	w.Refused(CmdEnrol, EnrolIn{ID: "e4", Product: "p_acc", Worker: wa, Start: "2026-05-01", Units: 1, By: "acct-" + wa}, "insurance_product_retired")
	rec, err := ForWorker(w.Getter(), wa)
	if err != nil || len(rec.Enrolments) != 2 || rec.Enrolments[0].Enrolled.IsZero() || rec.Enrolments[1].Start != "2026-04-01" {
		t.Fatalf("ForWorker: %+v %v", rec, err)
	}
}

// Social-insurance payments are recorded whole or not at all: an unknown
// worker, a month recorded already or the same month twice in one batch
// refuses the batch, and nothing of it is written.
func TestSocialInsurancePaymentsAreRecordedWholeOrNotAtAll(t *testing.T) {
	w := newWorld(t)
	w.Merchant("m_a")
	wa, wb := w.Worker(1, "m_a"), w.Worker(2, "m_a")
	var out map[string]any
	json.Unmarshal(w.Must(w.Send(CmdSocial, SocialIn{Batch: "b1", By: "ops", Payments: []SocialPayment{pay(wa, "2026-01", 500000)}})), &out)
	if out["total_fen"] != float64(120000) || out["total"] != "1200.00" {
		t.Fatalf("one payment: %v", out)
	}
	for name, batch := range map[string][]SocialPayment{
		"an unknown worker":       {pay(wb, "2026-01", 400000), pay("w_404", "2026-01", 400000)},
		"a month recorded":        {pay(wb, "2026-01", 400000), pay(wa, "2026-01", 400000)},
		"a month twice in a file": {pay(wb, "2026-02", 400000), pay(wb, "2026-02", 400000)},
		"an amount below zero":    {pay(wb, "2026-03", 400000), {Worker: wb, Month: "2026-04", Place: "350100", BaseFen: 1, PensionFen: -5, MedicalFen: 10}},
	} {
		res := w.Send(CmdSocial, SocialIn{Batch: "b2", By: "ops", Payments: batch, Lines: []int{2, 3}})
		if res.Err == nil {
			t.Errorf("%s: accepted", name)
			continue
		}
		if msg := res.Err.Error(); !strings.Contains(msg, "line 3") {
			t.Errorf("%s: %v does not name line 3", name, msg)
		}
		rec, _ := ForWorker(w.Getter(), wb)
		if len(rec.Social) != 0 {
			t.Fatalf("%s: a refused batch left %+v", name, rec.Social)
		}
	}
	rec, _ := ForWorker(w.Getter(), wa)
	if len(rec.Social) != 1 || rec.Social[0].TotalFen != 120000 || rec.Social[0].Recorded.IsZero() || rec.Social[0].Month != "2026-01" {
		t.Fatalf("ForWorker: %+v", rec.Social)
	}
}
