package merchants

import (
	"fmt"
	"testing"
	"time"
)

func TestARatingCanBeRedoneFromItsInputs(t *testing.T) {
	cases := []struct {
		name  string
		f     Facts
		score string
		grade string
	}{
		{"a new application with a licence", Facts{Status: Applied, DocumentKinds: []string{DocBusinessLicence}}, "32.00", "D"},
		{"approved, licence and bank permit, signed, 3 months", Facts{Status: Approved, DocumentKinds: []string{DocBusinessLicence, DocBankPermit}, AgreementSigned: true, MonthsApproved: 3}, "82.00", "B"},
		{"everything, a year on", Facts{Status: Approved, DocumentKinds: []string{DocBusinessLicence, DocBankPermit, DocLegalRepID, DocOther}, AgreementSigned: true, MonthsApproved: 12}, "100.00", "A"},
		{"rejected", Facts{Status: Rejected}, "0.00", "D"},
		{"duplicate kinds count once", Facts{Status: MoreInfo, DocumentKinds: []string{DocOther, DocOther}}, "14.00", "D"},
	}
	for _, c := range cases {
		r := Rate(c.f)
		if r.Score != c.score || r.Grade != c.grade {
			t.Errorf("%s: %s %s, want %s %s (%+v)", c.name, r.Score, r.Grade, c.score, c.grade, r.Inputs)
		}
		total := int64(0)
		sum := int64(0)
		for _, in := range r.Inputs {
			total += in.Weight
			sum += in.Value * in.Weight
			if in.Value < 0 || in.Value > 100 || in.Why == "" {
				t.Errorf("%s: input %+v", c.name, in)
			}
		}
		if total != 100 || formatHundredths(sum) != r.Score {
			t.Errorf("%s: weights add to %d; Σ value×weight/100 = %s, score %s", c.name, total, formatHundredths(sum), r.Score)
		}
	}
}

func formatHundredths(n int64) string { return fmt.Sprintf("%d.%02d", n/100, n%100) }

func TestTransitionsAreTheOnlyWayToMove(t *testing.T) {
	for _, s := range []Status{Applied, MoreInfo, Approved, Rejected, Closed} {
		for _, a := range []Action{ActApprove, ActReject, ActAskMore, ActResubmit, ActClose} {
			to, err := Next(s, a)
			want, ok := Transitions[s][a]
			if ok != (err == nil) || ok && to != want {
				t.Errorf("%s %s: %s %v", s, a, to, err)
			}
		}
	}
	if _, err := Next(Rejected, ActApprove); err == nil {
		t.Error("a rejected merchant was approved")
	}
	if _, err := Next(Closed, ActResubmit); err == nil {
		t.Error("a closed merchant came back")
	}
}

func TestTenureCountsCalendarMonthsSinceApproval(t *testing.T) {
	m := Merchant{Status: Approved, Approved: time.Date(2026, 1, 31, 0, 0, 0, 0, time.UTC)}
	if f := m.Facts(time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC)); f.MonthsApproved != 3 {
		t.Fatalf("months %d", f.MonthsApproved)
	}
	m.Status = Closed
	if f := m.Facts(time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC)); f.MonthsApproved != 0 {
		t.Fatal("a closed merchant keeps tenure")
	}
}
