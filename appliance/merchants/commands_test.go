package merchants

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"cxt/appliance/identity"
	"cxt/appliance/notify"
	"cxt/appliance/subjects"
	"cxt/gateway/feed"
	"cxt/policy"
	"cxt/storage/state"
	"cxt/storage/state/statetest"
)

type world struct{ *statetest.Machine }

func newWorld(t *testing.T) *world {
	return &world{statetest.New(t, func(reg *state.Registry) {
		identity.Register(reg)
		notify.Register(reg)
		subjects.Register(reg, nil)
		feed.Register(reg)
		policy.Register(reg, nil, nil)
		Register(reg)
	})}
}

func (w *world) applyFor(id, uscc, applicant string) (uint32, state.Result) {
	k, fresh, err := subjects.NewKey(w.Keys, id)
	if err != nil {
		w.TB.Fatal(err)
	}
	priv, _ := subjects.Seal(k, PrivateAAD(id), Private{USCC: uscc, LegalRep: Person{Name: "王五"}})
	return k.ID(), w.Send(CmdApply, Application{ID: id, Name: "某某科技有限公司", Model: Intermediary, USCCIndex: "idx-" + uscc,
		Private: priv, Key: fresh, Applicant: applicant})
}

func (w *world) merchant(id string) Merchant {
	var m Merchant
	w.State.View(func(r *state.ReadTx) error {
		b, _ := r.Get(Bucket, []byte(id))
		return json.Unmarshal(b, &m)
	})
	return m
}

// decided is a qualification decision made by rule (none: allow).
func decided(outcome, rule string) *policy.Decided {
	d := &policy.Decided{Concern: policy.RiskMerchant, Policy: "embedded", InputSM3: "ab", Input: []byte(`{}`)}
	d.Outcome = outcome
	if rule != "" {
		d.Rule, d.Code, d.Reason = rule, "risk_x", "because"
		d.Hits = []policy.Hit{{Rule: rule, Outcome: outcome, Code: "risk_x", Reason: "because"}}
	}
	return d
}

func TestAMerchantIsAppliedForReviewedAndClosed(t *testing.T) {
	w := newWorld(t)
	keyID, res := w.applyFor("m_1", "91350100M000100Y43", "acct-1")
	if res.Err != nil {
		t.Fatalf("apply: %v", res.Err)
	}
	if _, res := w.applyFor("m_2", "91350100M000100Y43", "acct-2"); statetest.Code(res.Err) != "merchant_duplicate" {
		t.Fatalf("a second application with the same USCC: %v", res.Err)
	}
	if _, res := w.applyFor("m_3", "other", "acct-1"); statetest.Code(res.Err) != "merchant_duplicate" {
		t.Fatalf("a second application by the same account: %v", res.Err)
	}
	steps := []struct {
		cmd    string
		review Review
		code   string
		status Status
	}{
		{CmdReview, Review{ID: "m_1", Action: ActApprove, By: "reviewer"}, "invalid_request", Applied}, // no decision
		{CmdReview, Review{ID: "m_1", Action: ActApprove, By: "reviewer", Risk: decided(policy.Reject, "documents.missing")}, "risk_qualification", Applied},
		{CmdReview, Review{ID: "m_1", Action: ActApprove, By: "reviewer", Risk: decided(policy.Hold, "officers.missing")}, "risk_acknowledge_required", Applied},
		{CmdReview, Review{ID: "m_1", Action: ActApprove, By: "reviewer", Risk: decided(policy.Hold, "officers.missing"), Acknowledged: []string{"documents.expiring"}}, "risk_acknowledge_required", Applied},
		{CmdReview, Review{ID: "m_1", Action: ActApprove, By: "reviewer", Risk: decided(policy.Hold, "officers.missing"), Acknowledged: []string{"officers.missing"}}, "", Approved},
		{CmdReview, Review{ID: "m_1", Action: ActApprove, By: "reviewer", Risk: decided(policy.Allow, "")}, "merchant_status", Approved},
		{CmdReview, Review{ID: "m_1", Action: ActReject, By: "reviewer"}, "invalid_request", Approved}, // no reason
		{CmdReview, Review{ID: "m_1", Action: ActClose, By: "ops", Reason: "done"}, "invalid_request", Approved},
		{CmdClose, Review{ID: "m_1", Action: ActApprove, By: "ops"}, "invalid_request", Approved},
		{CmdClose, Review{ID: "m_1", Action: ActClose, By: "ops", Reason: "contract ended"}, "", Closed},
		{CmdReview, Review{ID: "m_nobody", Action: ActApprove, By: "reviewer"}, "not_found", ""},
	}
	for i, s := range steps {
		res := w.Send(s.cmd, s.review)
		if statetest.Code(res.Err) != s.code {
			t.Fatalf("step %d %s %s: %v, want %q", i, s.cmd, s.review.Action, res.Err, s.code)
		}
		if s.status != "" && w.merchant("m_1").Status != s.status {
			t.Fatalf("step %d: status %s, want %s", i, w.merchant("m_1").Status, s.status)
		}
	}
	m := w.merchant("m_1")
	if len(m.History) != 3 || m.History[2].Reason != "contract ended" || m.Approved.IsZero() {
		t.Fatalf("history %+v", m.History)
	}
	if e := m.History[1]; e.Risk == nil || e.Risk.Rule != "officers.missing" || e.Risk.InputSM3 != "ab" || fmt.Sprint(e.Acknowledged) != "[officers.missing]" {
		t.Fatalf("the approval's event keeps its decision: %+v", e)
	}
	if res := w.Send(CmdDocument, Filed{ID: "m_1", KeyID: keyID, Doc: DocRef{ID: "d1", Kind: DocBusinessLicence}}); statetest.Code(res.Err) != "merchant_status" {
		t.Fatalf("a closed merchant filed a document: %v", res.Err)
	}
}

func TestDocumentsAreFiledUnderTheMerchantsKey(t *testing.T) {
	w := newWorld(t)
	keyID, _ := w.applyFor("m_1", "A", "acct-1")
	cases := []struct {
		f    Filed
		code string
	}{
		{Filed{ID: "m_1", KeyID: keyID, Doc: DocRef{ID: "d1", Kind: DocBusinessLicence}}, ""},
		{Filed{ID: "m_1", KeyID: keyID, Doc: DocRef{ID: "d1", Kind: DocBusinessLicence}}, "conflict"},
		{Filed{ID: "m_1", KeyID: keyID + 1, Doc: DocRef{ID: "d2", Kind: DocBankPermit}}, "subject_key_mismatch"},
		{Filed{ID: "m_1", KeyID: keyID, Doc: DocRef{ID: "d3", Kind: "selfie"}}, "invalid_request"},
		{Filed{ID: "m_9", KeyID: keyID, Doc: DocRef{ID: "d4", Kind: DocOther}}, "not_found"},
	}
	for i, c := range cases {
		if res := w.Send(CmdDocument, c.f); statetest.Code(res.Err) != c.code {
			t.Fatalf("case %d: %v, want %q", i, res.Err, c.code)
		}
	}
	if m := w.merchant("m_1"); len(m.Documents) != 1 || m.Documents[0].Uploaded.IsZero() {
		t.Fatalf("documents %+v", m.Documents)
	}
	m := w.merchant("m_1")
	var grade string
	var rating policy.Rating
	if err := w.State.View(func(tx *state.ReadTx) error {
		var err error
		if grade, err = GradeOf(tx, "m_1", time.Now()); err != nil {
			return err
		}
		rules, err := policy.StoredRiskRules(tx)
		if err != nil {
			return err
		}
		rating, err = Rate(context.Background(), rules, tx, &m, time.Now())
		return err
	}); err != nil {
		t.Fatal(err)
	}
	// Waiting for review, a licence on file: 50×0.3 + 60×0.2 + findings 100×0.1.
	if rating.Score != "37.00" || grade != "D" || rating.Policy != "embedded" {
		t.Fatalf("rating %+v, grade %s", rating, grade)
	}
}

// A merchant's officers are kept sealed under its key with a blind index
// of each ID number, by which the payouts ask whether a worker is one.
func TestOfficersAreSealedAndFoundByTheirIndex(t *testing.T) {
	w := newWorld(t)
	keyID, _ := w.applyFor("m_1", "A", "acct-1")
	k, err := w.Keys.IndexKey()
	if err != nil {
		t.Fatal(err)
	}
	director, stranger := PersonIndex(k, "11010519491231002X"), PersonIndex(k, "110105194912310029")
	sealed := subjects.Sealed(`opaque`)
	for i, c := range []struct {
		o    Officers
		code string
	}{
		{Officers{ID: "m_1", KeyID: keyID, Sealed: sealed, Index: []string{"beef"}, By: "acct-1"}, "invalid_request"},
		{Officers{ID: "m_1", KeyID: keyID + 1, Sealed: sealed, Index: []string{director}, By: "acct-1"}, "subject_key_mismatch"},
		{Officers{ID: "m_9", KeyID: keyID, Sealed: sealed, Index: []string{director}, By: "acct-1"}, "not_found"},
		{Officers{ID: "m_1", KeyID: keyID, Sealed: sealed, Index: []string{director, director}, By: "acct-1"}, ""},
	} {
		if res := w.Send(CmdOfficers, c.o); statetest.Code(res.Err) != c.code {
			t.Fatalf("case %d: %v, want %q", i, res.Err, c.code)
		}
	}
	if m := w.merchant("m_1"); len(m.OfficerIndex) != 1 || string(m.Officers) != "opaque" {
		t.Fatalf("officers on record: %v %q", m.OfficerIndex, m.Officers)
	}
	w.State.View(func(tx *state.ReadTx) error {
		for _, c := range []struct {
			idx  string
			want bool
		}{{director, true}, {stranger, false}, {"", false}} {
			if got, err := IsOfficer(tx, "m_1", c.idx); err != nil || got != c.want {
				t.Errorf("IsOfficer(%.8s): %v %v", c.idx, got, err)
			}
		}
		if _, err := IsOfficer(tx, "m_9", director); err == nil {
			t.Errorf("an unknown merchant: %v", err)
		}
		return nil
	})
	// The merchant drops its director from the list: the director stays
	// one for the payouts' rule (red team: a merchant edited its list, then
	// paid its own officer).
	if res := w.Send(CmdOfficers, Officers{ID: "m_1", KeyID: keyID, Sealed: sealed, Index: []string{stranger}, By: "acct-1"}); res.Err != nil {
		t.Fatal(res.Err)
	}
	if m := w.merchant("m_1"); !m.HasOfficer(director) || !m.HasOfficer(stranger) || len(m.OfficerIndex) != 1 || len(m.FormerOfficerIndex) != 1 {
		t.Fatalf("after the director was dropped: %v former %v", m.OfficerIndex, m.FormerOfficerIndex)
	}
}
