package merchants

import (
	"context"
	"fmt"
	"testing"
	"time"

	"cxt/policy"
)

// The rating is the policy's (policy/risk/rating.rego): from Go, each case's
// facts give the score and grade, and the explanation redoes the score.
func TestARatingCanBeRedoneFromItsExplanation(t *testing.T) {
	b, err := policy.Embedded()
	if err != nil {
		t.Fatal(err)
	}
	rules := policy.RiskRulesOf(b)
	cases := []struct {
		name  string
		f     RatingFacts
		score string
		grade string
	}{
		{"a new application with a licence", RatingFacts{Status: Applied, DocumentKinds: []string{DocBusinessLicence}}, "37.00", "D"},
		{"approved, licence and bank permit, signed, 3 months", RatingFacts{Status: Approved, DocumentKinds: []string{DocBusinessLicence, DocBankPermit}, AgreementSigned: true, MonthsApproved: 3}, "79.00", "B"},
		{"everything, a year on, 500 payments none returned", RatingFacts{Status: Approved, DocumentKinds: []string{DocBusinessLicence, DocBankPermit, DocLegalRepID, DocOther},
			AgreementSigned: true, MonthsApproved: 12, Payments: 500}, "100.00", "A"},
		{"the same with 2% returned and a complaint", RatingFacts{Status: Approved, DocumentKinds: []string{DocBusinessLicence, DocBankPermit, DocLegalRepID, DocOther},
			AgreementSigned: true, MonthsApproved: 12, Payments: 500, Returns: 10, Complaints: 1}, "96.00", "A"},
		{"rejected", RatingFacts{Status: Rejected}, "10.00", "D"},
		{"rejected, with findings", RatingFacts{Status: Rejected, Findings: 5}, "0.00", "D"},
		{"duplicate kinds count once", RatingFacts{Status: MoreInfo, DocumentKinds: []string{DocOther, DocOther}}, "21.50", "D"},
	}
	for _, c := range cases {
		r, err := rules.Rate(context.Background(), c.f)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if r.Score != c.score || r.Grade != c.grade {
			t.Errorf("%s: %s %s, want %s %s (%+v)", c.name, r.Score, r.Grade, c.score, c.grade, r.Explain)
		}
		total, sum := int64(0), int64(0)
		for _, in := range r.Explain {
			total += in.Weight
			sum += in.Value * in.Weight
			if in.Value < 0 || in.Value > 100 || in.Why == "" {
				t.Errorf("%s: input %+v", c.name, in)
			}
		}
		if total != 100 || fmt.Sprintf("%d.%02d", sum/100, sum%100) != r.Score {
			t.Errorf("%s: weights add to %d; Σ value×weight/100 = %d, score %s", c.name, total, sum, r.Score)
		}
	}
}

func TestTenureCountsCalendarMonthsSinceApproval(t *testing.T) {
	m := Merchant{Status: Approved, Approved: time.Date(2026, 1, 31, 0, 0, 0, 0, time.UTC)}
	if f := m.Facts(time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC), History{}); f.MonthsApproved != 3 {
		t.Fatalf("months %d", f.MonthsApproved)
	}
	m.Status = Closed
	if f := m.Facts(time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC), History{}); f.MonthsApproved != 0 {
		t.Fatal("a closed merchant keeps tenure")
	}
}

// A document counts while it is in force, through its last day in China.
func TestExpiredDocumentsDoNotCount(t *testing.T) {
	m := Merchant{Status: Approved, Documents: []DocRef{
		{Kind: DocBusinessLicence, Expires: "2026-03-01"}, {Kind: DocBankPermit, Expires: "2026-02-28"}, {Kind: DocOther},
	}}
	// 2026-02-28 16:30 UTC is 2026-03-01 00:30 in China.
	f := m.Facts(time.Date(2026, 2, 28, 16, 30, 0, 0, time.UTC), History{Payments: 3, Returns: 1})
	if fmt.Sprint(f.DocumentKinds) != "[business_licence other]" || f.Payments != 3 || f.Returns != 1 {
		t.Fatalf("%+v", f)
	}
}
