package archives

import (
	"testing"
	"time"
)

func day(s string) time.Time {
	t, err := time.ParseInLocation(time.DateOnly, s, China)
	if err != nil {
		panic(err)
	}
	return t
}

// The accounting records' retention follows the rule in force on their
// date: 15 years for a voucher of 2015, 30 for one of 2016 (会计档案管理办法,
// 1998 and 2016) — a later rule does not reach back.
func TestRetentionFollowsTheRuleInForceOnItsDate(t *testing.T) {
	closed := day("2026-01-10")
	f := Facts{Closed: &closed, Transacted: true, PaidYear: 2016}
	for _, c := range []struct {
		created, want string
	}{
		{"2015-12-31", "2030-12-31"},
		{"2016-01-01", "2046-01-01"},
		{"1998-06-01", ""}, // before any rule: nothing keeps it
	} {
		rt := Default.Compute("transactions", f, day(c.created))
		got := ""
		if !rt.Until.IsZero() {
			got = rt.Until.In(China).Format(time.DateOnly)
		}
		if got != c.want {
			t.Errorf("a voucher of %s is kept until %q, want %q (%v)", c.created, got, c.want, rt.Basis)
		}
	}
}

// A worker's identity: kept while their account is open; once it is
// cancelled, at once if they were never paid (PIPL art. 47), ten years after
// the end of the last year they were paid in if they were (征管法实施细则
// 第二十九条).
func TestIdentityRetentionRunsFromCancellationAndTheLastPaidYear(t *testing.T) {
	closed := day("2026-05-20")
	now := day("2026-06-01")
	open := Default.Compute("identity", Facts{}, time.Time{})
	if !open.Open || open.Due(now.AddDate(100, 0, 0)) {
		t.Fatalf("an open subject's identity is due: %+v", open)
	}
	never := Default.Compute("identity", Facts{Closed: &closed}, time.Time{})
	if !never.Due(closed) || !never.Until.Equal(closed) {
		t.Fatalf("never paid, cancelled %v: %+v", closed, never)
	}
	paid := Default.Compute("identity", Facts{Closed: &closed, PaidYear: 2025, Transacted: true}, time.Time{})
	if want := time.Date(2035, 12, 31, 23, 59, 59, 0, China); !paid.Until.Equal(want) || paid.Due(day("2035-12-31")) || !paid.Due(want) {
		t.Fatalf("paid in 2025: until %v, want %v (%v)", paid.Until, want, paid.Basis)
	}
	if len(paid.Basis) != 3 {
		t.Fatalf("the basis names each rule that applied: %v", paid.Basis)
	}
	// A cancellation before PIPL took effect falls under no deletion rule.
	early := day("2021-10-31")
	if rt := Default.Compute("identity", Facts{Closed: &early}, time.Time{}); !rt.Until.IsZero() || len(rt.Basis) != 0 {
		t.Fatalf("cancelled before 2021-11-01: %+v", rt)
	}
}

func TestBadRulesAreRefused(t *testing.T) {
	for _, bad := range []string{
		`{"classes":{"a":{}},"rules":[{"class":"b","trigger":"closed","years":1,"from":"2020-01-01","basis":"x"}]}`,
		`{"classes":{"a":{}},"rules":[{"class":"a","trigger":"whenever","years":1,"from":"2020-01-01","basis":"x"}]}`,
		`{"classes":{"a":{}},"rules":[{"class":"a","trigger":"closed","years":1,"from":"2020-01-01"}]}`,
		`{"classes":{"a":{}},"rules":[{"class":"a","trigger":"closed","years":1,"from":"2020-01-01","until":"2019-01-01","basis":"x"}]}`,
	} {
		if _, err := ParseRules([]byte(bad)); err == nil {
			t.Errorf("accepted %s", bad)
		}
	}
}

func TestAgeBuckets(t *testing.T) {
	now := day("2026-11-28")
	for _, c := range []struct{ date, want string }{
		{"2026-01-01", "under_1y"}, {"2025-11-28", "1y_3y"}, {"2020-01-01", "3y_10y"}, {"2010-01-01", "10y_30y"}, {"1990-01-01", "over_30y"},
	} {
		if got := AgeOf(day(c.date), now); got != c.want {
			t.Errorf("%s: %s, want %s", c.date, got, c.want)
		}
	}
	if AgeOf(time.Time{}, now) != "undated" {
		t.Error("a zero date is undated")
	}
}
