package tax

import (
	"errors"
	"math/rand/v2"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"
)

// Every step of the form round(a × r% − q) or round(a − b) gives the value
// it shows from the numbers it shows: a breakdown can be redone by hand.
func TestBreakdownsRedoByHand(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rnd := rand.New(rand.NewPCG(seed, 5))
	money := func(max int) string { return decimal.New(int64(rnd.IntN(max*100)), -2).StringFixed(2) }
	rate := regexp.MustCompile(`^round\(([0-9.]+) × ([0-9.]+)% − ([0-9.]+)\)$`)
	minus := regexp.MustCompile(`^round\(([0-9.]+) − ([0-9.]+)\)$`)
	for range 3000 {
		var js string
		switch rnd.IntN(4) {
		case 0:
			js = `{"method":"labor_per_payment","year":2026,"income":"` + money(100_000) + `"}`
		case 1:
			js = `{"method":"labor_nonresident","year":2026,"income":"` + money(200_000) + `","same_project_earlier_in_month":"` + money(50_000) + `"}`
		case 2:
			js = `{"method":"labor_cumulative","year":2026,"months":[{"month":1,"income":"` + money(20_000) + `"},{"month":2,"income":"` + money(60_000) + `"}]}`
		default:
			js = `{"method":"business_income","year":2026,"individual_business":true,"annual_taxable":"` + money(3_000_000) + `"}`
		}
		q := quoteJSON(t, js)
		for _, sec := range q.Breakdown.Sections {
			for _, st := range sec.Steps {
				var want decimal.Decimal
				if m := rate.FindStringSubmatch(st.Formula); m != nil {
					want = d(m[1]).Mul(d(m[2])).Div(hundred).Sub(d(m[3])).Round(2)
				} else if m := minus.FindStringSubmatch(st.Formula); m != nil {
					want = d(m[1]).Sub(d(m[2])).Round(2)
				} else {
					continue
				}
				if want.StringFixed(2) != st.Value {
					t.Fatalf("seed %d: %s: %s = %s shows %s\n%s", seed, js, st.Name, st.Formula, st.Value, q.Text)
				}
			}
		}
	}
	q := quoteJSON(t, `{"method":"labor_per_payment","income":"25000.02"}`)
	if !strings.Contains(q.Text, "20000.016") || q.IIT != "4000.00" {
		t.Fatalf("25,000.02:\n%s", q.Text)
	}
}

// What an outside review of the 2026 rules found, each now refused or fixed.
func TestReviewFindings(t *testing.T) {
	refused := map[string]string{
		// A field the method does not take is refused, not ignored.
		`{"method":"labor_per_payment","income":"10","filing":"bogus"}`:                                                         "filing",
		`{"method":"labor_per_payment","income":"10","gap_policy":"bogus"}`:                                                     "gap_policy",
		`{"method":"labor_per_payment","income":"10","other_sales":"abc"}`:                                                      "other_sales",
		`{"method":"labor_per_payment","income":"10","month":99}`:                                                               "month",
		`{"method":"labor_cumulative","year":2026,"income":"1","months":[{"month":1,"income":"1"}]}`:                            "income",
		`{"method":"vat_agent","month_income":"1","same_project_earlier_in_month":"1","location":"city","year":2026,"month":1}`: "same_project_earlier_in_month",
		`{"method":"business_income","annual_taxable":"1","year":2026,"months":[{"month":1,"income":"1"}]}`:                     "months",
		// Keys named twice, or in another case, are refused.
		`{"method":"labor_per_payment","income":"3000","income":"100000"}`:                                                  "income",
		`{"method":"labor_per_payment","income":"3000","Income":"100000"}`:                                                  "Income",
		`{"method":"labor_per_payment","INCOME":"3000"}`:                                                                    "INCOME",
		`{"method":"labor_cumulative","year":2026,"months":[{"month":1,"income":"1"}],"months":[{"month":5,"income":"1"}]}`: "months",
		`{"method":"labor_cumulative","year":2026,"months":[{"month":1,"income":"1","Month":5}]}`:                           "months[0].Month",
		// A pinned old version does not take what later versions added.
		`{"method":"labor_per_payment","income":"3000","same_project_earlier_in_month":"3000","rule_set":"cn-2025.1"}`:         "same_project_earlier_in_month",
		`{"method":"labor_cumulative","rule_set":"cn-2025.1","gap_policy":"restart_all","months":[{"month":10,"income":"1"}]}`: "gap_policy",
		// Smaller gaps.
		`{"method":"vat_agent","filing":"per_time","income":"1","province":"99","location":"city","year":2025,"month":1}`:   "province",
		`{"method":"vat_agent","filing":"per_time","income":"1","province":"10","location":"city","year":2025,"month":1}`:   "province",
		`{"method":"vat_agent","filing":"per_time","income":"1","other_sales":"0","location":"city","year":2026,"month":1}`: "other_sales",
	}
	for js, field := range refused {
		req, err := DecodeRequest(strings.NewReader(js))
		if err == nil {
			_, err = rules.Quote(req, time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC))
		}
		var fe *FieldError
		if !errors.As(err, &fe) || fe.Field != field {
			t.Errorf("%s: got %v, want an error naming %q", js, err, field)
		}
	}
	for js, msg := range map[string]string{
		`{"method":"labor_per_payment"}`: "is required",
		`{"method":"vat_agent","filing":"per_time","income":"1","province":44,"location":"city","year":2025,"month":1}`: "a JSON string",
	} {
		req, err := DecodeRequest(strings.NewReader(js))
		if err == nil {
			_, err = rules.Quote(req, time.Now())
		}
		if err == nil || !strings.Contains(err.Error(), msg) || strings.Contains(msg, "JSON") && strings.Contains(err.Error(), "3000") {
			t.Errorf("%s: %v, want %q", js, err, msg)
		}
	}
	// A pinned version computes again what it computed: cn-2026.1 counted a
	// listed zero month as a month of income and withheld 0.00 in March.
	q := quoteJSON(t, `{"method":"labor_cumulative","rule_set":"cn-2026.1","months":[{"month":1,"income":"10000"},{"month":2,"income":"0"},{"month":3,"income":"10000"}]}`)
	if q.Months[2].IIT != "0.00" || q.RuleSet != "cn-2026.1" {
		t.Fatalf("cn-2026.1 pinned: %+v", q.Months)
	}
}
