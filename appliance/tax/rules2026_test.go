package tax

import (
	"encoding/json"
	"errors"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"
)

// The worked examples of the 2026 rules, as quotes.
func TestRules2026Examples(t *testing.T) {
	cases := []struct {
		name, request string
		want          map[string]string // quote field → value
	}{
		// 个人所得税法 art. 6 and 11: 10,000 → 8,000 × 10% − 210 = 590.00.
		{"non-resident, 10,000", `{"method":"labor_nonresident","income":"10000","year":2026}`,
			map[string]string{"iit": "590.00", "rule_set": "cn-2026.2"}},
		{"non-resident, top bracket", `{"method":"labor_nonresident","income":"200000","year":2026}`,
			map[string]string{"iit": "56840.00"}}, // 160,000 × 45% − 15,160
		// One project's month is one time: 3,000 then 3,000 → 440.00 then 520.00 (960.00 on 6,000).
		{"same project, first payment", `{"method":"labor_per_payment","income":"3000","year":2026}`,
			map[string]string{"iit": "440.00"}},
		{"same project, second payment", `{"method":"labor_per_payment","income":"3000","same_project_earlier_in_month":"3000","year":2026}`,
			map[string]string{"iit": "520.00"}},
		// The VAT Law: exactly 100,000.00 of sales (101,000.00 with VAT) is taxed in 2026 ...
		{"2026, sales of exactly 100,000", `{"method":"vat_agent","month_income":"101000","location":"city","year":2026,"month":3}`,
			map[string]string{"sales": "100000.00", "vat": "1000.00", "city_maintenance": "35.00", "education": "0.00", "local_education": "0.00", "total": "1035.00"}},
		// ... where in 2025 it was exempt.
		{"2025, sales of exactly 100,000", `{"method":"vat_agent","month_income":"101000","location":"city","year":2025,"month":11}`,
			map[string]string{"sales": "100000.00", "vat": "0.00", "total": "0.00", "rule_set": "cn-2025.2"}},
		// Above 100,000 the education surcharges are due again (halved).
		{"2026, sales of 100,000.01", `{"method":"vat_agent","month_income":"101000.01","location":"city","year":2026,"month":3}`,
			map[string]string{"vat": "1000.00", "city_maintenance": "35.00", "education": "15.00", "local_education": "10.00", "total": "1060.00"}},
		// Per time: 1,000.00 reaches the threshold; per-time filers get no education exemption.
		{"2026, per time 1,000", `{"method":"vat_agent","filing":"per_time","income":"1010","location":"city","year":2026,"month":3}`,
			map[string]string{"sales": "1000.00", "vat": "10.00", "city_maintenance": "0.35", "education": "0.15", "local_education": "0.10", "total": "10.60"}},
		// Other sales count towards the monthly threshold; only this platform's sales are taxed here.
		{"2026, other sales reach the threshold", `{"method":"vat_agent","month_income":"50500","other_sales":"50000","location":"county","year":2026,"month":4}`,
			map[string]string{"sales": "50000.00", "vat": "500.00"}},
		{"2026, other sales stay under it", `{"method":"vat_agent","month_income":"50500","other_sales":"49999.99","location":"county","year":2026,"month":4}`,
			map[string]string{"vat": "0.00", "total": "0.00"}},
		// A zero month is not a month of continuous income: January 10,000,
		// February 0, March 10,000 withholds 90.00 in March (restart_all), never 0.00.
		{"a listed zero month is a gap", `{"method":"labor_cumulative","year":2026,"months":[{"month":1,"income":"10000"},{"month":2,"income":"0"},{"month":3,"income":"10000"}]}`,
			map[string]string{"total_iit": "180.00"}},
		{"the other reading of a gap", `{"method":"labor_cumulative","year":2026,"gap_policy":"restart_months","months":[{"month":1,"income":"10000"},{"month":2,"income":"0"},{"month":3,"income":"10000"}]}`,
			map[string]string{"total_iit": "330.00"}},
		// A pinned version computes as it did: cn-2026.1 exempted 100,000 in 2026.
		{"a superseded version, pinned", `{"method":"vat_agent","month_income":"101000","location":"city","year":2026,"month":3,"rule_set":"cn-2026.1"}`,
			map[string]string{"vat": "0.00", "rule_set": "cn-2026.1"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			q := quoteJSON(t, c.request)
			var got map[string]any
			b, _ := json.Marshal(q)
			json.Unmarshal(b, &got)
			for k, v := range c.want {
				if got[k] != v {
					t.Errorf("%s = %v, want %s\n%s", k, got[k], v, q.Text)
				}
			}
		})
	}
}

// Both sides of every new boundary, in 2025 and 2026.
func TestVATThresholdBoundaries(t *testing.T) {
	cases := []struct {
		year           int
		filing         Filing
		income, sales  string
		exempt         bool
		vat            string
		thresholdWords string
	}{
		{2025, FilingMonthly, "100999.99", "99999.99", true, "0.00", "at or below"},
		{2025, FilingMonthly, "101000", "100000.00", true, "0.00", "at or below"},
		{2025, FilingMonthly, "101000.01", "100000.01", false, "1000.00", "at or below"},
		{2026, FilingMonthly, "100999.99", "99999.99", true, "0.00", "below"},
		{2026, FilingMonthly, "101000", "100000.00", false, "1000.00", "below"},
		{2027, FilingMonthly, "101000", "100000.00", false, "1000.00", "below"},
		{2026, FilingPerTime, "1009.99", "999.99", true, "0.00", "below"},
		{2026, FilingPerTime, "1010", "1000.00", false, "10.00", "below"},
		{2025, FilingPerTime, "504.99", "499.99", true, "0.00", "below"},
		{2025, FilingPerTime, "505", "500.00", false, "5.00", "below"},
	}
	for _, c := range cases {
		res, b, err := rs(t, c.year).AgentVAT(VATInput{Income: d(c.income), Location: "county", Filing: c.filing})
		if err != nil {
			t.Fatal(err)
		}
		if res.Sales.StringFixed(2) != c.sales || res.Exempt != c.exempt || res.VAT.StringFixed(2) != c.vat {
			t.Errorf("%d %s %s: sales %s exempt %v VAT %s", c.year, c.filing, c.income, res.Sales.StringFixed(2), res.Exempt, res.VAT.StringFixed(2))
		}
		if !strings.Contains(b.Text(), c.thresholdWords) || !strings.Contains(b.Text(), "threshold") {
			t.Errorf("%d %s %s: the breakdown does not say which threshold decided:\n%s", c.year, c.filing, c.income, b.Text())
		}
	}
}

func TestPerTimeThresholdOfAProvince(t *testing.T) {
	data := strings.Replace(string(embedded), `"by_province": {}`, `"by_province": {"44": "300"}`, 1)
	r, err := Parse([]byte(data))
	if err != nil {
		t.Fatal(err)
	}
	y2025, _ := r.For(2025)
	// Sales of 300.00 (303.00 with VAT) reach Guangdong's 300 but not the default 500.
	gd, b, err := y2025.AgentVAT(VATInput{Income: d("303"), Location: "city", Filing: FilingPerTime, Province: "44"})
	if err != nil || gd.Exempt || gd.VAT.StringFixed(2) != "3.00" || !strings.Contains(b.Text(), "province 44's figure") {
		t.Fatalf("province 44: %+v %v\n%s", gd, err, b.Text())
	}
	other, b, _ := y2025.AgentVAT(VATInput{Income: d("303"), Location: "city", Filing: FilingPerTime, Province: "11"})
	if !other.Exempt || !strings.Contains(b.Text(), "sets none of its own") {
		t.Fatalf("province 11 takes the default 500:\n%s", b.Text())
	}
}

// The official 解读's shape: income in June and July, none in August and
// September, then October to December.
func TestGapAfterTwoEmptyMonths(t *testing.T) {
	months := []MonthIncome{{6, d("10000")}, {7, d("10000")}, {8, d("0")}, {10, d("10000")}, {11, d("10000")}, {12, d("10000")}}
	want := map[GapPolicy][]string{
		// October starts afresh: 90, then (20,000 − 4,000 − 10,000) × 3% − 90 = 90, and so on.
		GapRestartAll: {"90.00", "90.00", "0.00", "90.00", "90.00", "90.00"},
		// October: (30,000 − 6,000 − 5,000) × 3% − 180 = 390; November: (40,000 − 8,000 − 10,000) × 3% − 570 = 90.
		GapRestartMonths: {"90.00", "90.00", "0.00", "390.00", "90.00", "90.00"},
	}
	for gap, iits := range want {
		got, _, err := rs(t, 2026).WithholdCumulative(months, gap)
		if err != nil {
			t.Fatal(err)
		}
		for i, m := range got {
			if m.IIT.StringFixed(2) != iits[i] {
				t.Errorf("%s month %d: %s, want %s", gap, m.Month, m.IIT.StringFixed(2), iits[i])
			}
		}
	}
	if rs(t, 2026).LaborCumulative.GapPolicy != GapRestartAll || rs(t, 2025).LaborCumulative.GapPolicy != GapRestartAll {
		t.Fatal("the default gap policy is not restart_all")
	}
}

func TestAWorkersStateNeverCountsAZeroMonth(t *testing.T) {
	r := rs(t, 2026)
	_, st, _ := r.NextMonth(CumulativeState{}, 1, d("10000"), GapRestartMonths)
	m, after, err := r.NextMonth(st, 2, decimal.Zero, GapRestartMonths)
	if err != nil || !m.NoIncome || !m.IIT.IsZero() || after != st {
		t.Fatalf("a zero month changed the state: %+v → %+v (%v)", st, after, err)
	}
	if _, _, err := r.NextMonth(st, 3, d("-0.01"), GapRestartMonths); err == nil {
		t.Fatal("a negative income was accepted")
	}
	if _, _, err := r.NextMonth(st, 1, d("1"), GapRestartMonths); err == nil {
		t.Fatal("a month before the last one was accepted")
	}
}

// Listing a month with zero income is the same as leaving it out, under
// every policy; the seed is printed so a failure repeats.
func TestZeroMonthsAreAbsentMonths(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rnd := rand.New(rand.NewPCG(seed, 2))
	r := rs(t, 2026)
	for range 500 {
		var listed, present []MonthIncome
		for m := 1; m <= 12; m++ {
			switch rnd.IntN(3) {
			case 0:
				listed = append(listed, MonthIncome{m, decimal.Zero})
			case 1:
				in := MonthIncome{m, decimal.New(int64(rnd.IntN(8_000_000)), -2)}
				listed, present = append(listed, in), append(present, in)
			}
		}
		for _, gap := range []GapPolicy{GapRestartAll, GapRestartMonths, GapIncomeMonths} {
			a, _, err := r.WithholdCumulative(listed, gap)
			if err != nil {
				t.Fatal(err)
			}
			b, _, _ := r.WithholdCumulative(present, gap)
			var ta, tb []string
			for _, m := range a {
				if !m.NoIncome {
					ta = append(ta, m.IIT.StringFixed(2))
				}
			}
			for _, m := range b {
				tb = append(tb, m.IIT.StringFixed(2))
			}
			if strings.Join(ta, ",") != strings.Join(tb, ",") {
				t.Fatalf("seed %d %s: zero months listed %v, left out %v", seed, gap, ta, tb)
			}
		}
	}
}

// A month's tax for one project never depends on how it is split into
// payments, for residents paid by others and for non-residents.
func TestPerPaymentAggregationProperty(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rnd := rand.New(rand.NewPCG(seed, 3))
	r := rs(t, 2026)
	for range 2000 {
		parts := make([]decimal.Decimal, 1+rnd.IntN(6))
		total := decimal.Zero
		for i := range parts {
			scale := []int{1_000, 5_000, 30_000, 200_000}[rnd.IntN(4)]
			parts[i] = decimal.New(int64(rnd.IntN(scale*100)), -2)
			total = total.Add(parts[i])
		}
		for _, withhold := range []func(a, b decimal.Decimal) (decimal.Decimal, *Breakdown, error){r.WithholdPerPayment, r.WithholdNonresident} {
			whole, _, _ := withhold(total, decimal.Zero)
			sum, earlier := decimal.Zero, decimal.Zero
			for _, p := range parts {
				iit, _, err := withhold(p, earlier)
				if err != nil {
					t.Fatal(err)
				}
				if iit.IsNegative() {
					t.Fatalf("seed %d: a payment of %s after %s withholds %s", seed, p, earlier, iit)
				}
				sum, earlier = sum.Add(iit), earlier.Add(p)
			}
			if !sum.Equal(whole) {
				t.Fatalf("seed %d: parts %v withhold %s, the month as one time %s", seed, parts, sum, whole)
			}
		}
	}
}

// cn-2025.2 only adds to cn-2025.1: a 2025 without gaps computes the same.
func TestThe2025CasesAreUnchanged(t *testing.T) {
	v1, err := rules.Version("cn-2025.1")
	if err != nil {
		t.Fatal(err)
	}
	v2 := rs(t, 2025)
	if v2.Version != "cn-2025.2" {
		t.Fatalf("2025 is governed by %s", v2.Version)
	}
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rnd := rand.New(rand.NewPCG(seed, 4))
	money := func(max int) decimal.Decimal { return decimal.New(int64(rnd.IntN(max*100)), -2) }
	for range 1000 {
		months := []MonthIncome{{10, money(100_000)}, {11, money(100_000)}, {12, money(100_000)}}
		a, _, _ := v1.WithholdCumulative(months, "")
		b, _, _ := v2.WithholdCumulative(months, "")
		for i := range a {
			if !a[i].IIT.Equal(b[i].IIT) {
				t.Fatalf("seed %d: month %d: %s under cn-2025.1, %s under cn-2025.2", seed, a[i].Month, a[i].IIT, b[i].IIT)
			}
		}
		x := money(300_000)
		p1, _, _ := v1.WithholdPerPayment(x, decimal.Zero)
		p2, _, _ := v2.WithholdPerPayment(x, decimal.Zero)
		c1, _, _ := v1.AgentVAT(VATInput{Income: x, Location: "city"})
		c2, _, _ := v2.AgentVAT(VATInput{Income: x, Location: "city"})
		if !p1.Equal(p2) || !c1.Total.Equal(c2.Total) || c1.Exempt != c2.Exempt {
			t.Fatalf("seed %d: %s computes differently under cn-2025.2", seed, x)
		}
	}
}

func TestTheGuidanceLine(t *testing.T) {
	// Within a year: 5,000,000.00 is not over the line; a fen more is.
	q := quoteJSON(t, `{"method":"labor_cumulative","year":2026,"months":[{"month":1,"income":"3000000"},{"month":2,"income":"2000000"},{"month":4,"income":"0.01"}]}`)
	if !strings.Contains(q.Notice, "2026-04") || !strings.Contains(q.Notice, "5000000.01") {
		t.Fatalf("notice %q", q.Notice)
	}
	q = quoteJSON(t, `{"method":"labor_cumulative","year":2026,"months":[{"month":1,"income":"3000000"},{"month":2,"income":"2000000"}]}`)
	if q.Notice != "" {
		t.Fatalf("exactly 5,000,000 raised %q", q.Notice)
	}
	// Across years: the window is the 12 months ending with the month.
	r := rs(t, 2026)
	hist := []PeriodIncome{{Period{2025, 6}, d("3000000")}, {Period{2026, 5}, d("2000000.01")}}
	if n := r.Guidance(hist); n == nil || n.Period != (Period{2026, 5}) {
		t.Fatalf("2025-06 and 2026-05 are within 12 months: %+v", n)
	}
	hist[1].Period = Period{2026, 6}
	if n := r.Guidance(hist); n != nil {
		t.Fatalf("2025-06 is outside the 12 months to 2026-06: %+v", n)
	}
	// Over, back under, over again: the latest crossing is the one to raise.
	hist = []PeriodIncome{{Period{2025, 1}, d("6000000")}, {Period{2026, 3}, d("1")}, {Period{2026, 4}, d("5000001")}}
	if n := r.Guidance(hist); n == nil || n.Period != (Period{2026, 4}) {
		t.Fatalf("second crossing: %+v", n)
	}
}

func TestRuleSetVersions(t *testing.T) {
	for year, want := range map[int]string{2025: "cn-2025.2", 2026: "cn-2026.2", 2027: "cn-2027.2"} {
		if got := rs(t, year).Version; got != want {
			t.Errorf("%d is governed by %s, want %s", year, got, want)
		}
	}
	for _, v := range []string{"cn-2025.1", "cn-2026.1", "cn-2027.1"} {
		if _, err := rules.Version(v); err != nil {
			t.Errorf("superseded %s is gone: %v", v, err)
		}
	}
	if _, err := Parse([]byte(`{"rule_sets":[{"version":"x.2","year":2026,"based_on":"x.1"}]}`)); err == nil {
		t.Error("a rule set based on an unknown version parsed")
	}
	// A merge patch's null removes: cn-2026.2 must not keep the old monthly_threshold.
	if r := rs(t, 2026); r.VATAgent.MonthlyThreshold != nil || r.VATAgent.Monthly.Exempt != ExemptBelow {
		t.Errorf("cn-2026.2 VAT threshold: %+v", r.VATAgent.Monthly)
	}
	// Every method of every version in force names its source.
	for _, year := range []int{2025, 2026, 2027} {
		r := rs(t, year)
		for name, src := range map[string]string{
			"labor_cumulative": r.LaborCumulative.Source, "gap": r.LaborCumulative.GapSource, "guidance": r.LaborCumulative.GuidanceSource,
			"labor_per_payment": r.LaborPerPayment.Source, "labor_nonresident": r.LaborNonresident.Source,
			"business_income": r.BusinessIncome.Source, "vat_agent": r.VATAgent.Source, "monthly": r.VATAgent.Monthly.Source,
			"per_time": r.VATAgent.PerTime.Source, "education": r.VATAgent.EducationExemption.Source,
		} {
			if src == "" {
				t.Errorf("%s: %s has no source", r.Version, name)
			}
		}
	}
}

func TestBadNewFieldsNameTheField(t *testing.T) {
	cases := map[string]string{
		`{"method":"vat_agent","filing":"weekly","month_income":"1","location":"city","year":2026,"month":1}`:                             "filing",
		`{"method":"vat_agent","month_income":"1","other_sales":"-1","location":"city","year":2026,"month":1}`:                            "other_sales",
		`{"method":"vat_agent","month_income":"1","other_sales":"1.001","location":"city","year":2026,"month":1}`:                         "other_sales",
		`{"method":"vat_agent","filing":"per_time","income":"1","other_sales":"1","location":"city","year":2026,"month":1}`:               "other_sales",
		`{"method":"vat_agent","filing":"per_time","month_income":"1","location":"city","year":2026,"month":1}`:                           "month_income",
		`{"method":"vat_agent","income":"1","location":"city","year":2026,"month":1}`:                                                     "income",
		`{"method":"vat_agent","filing":"per_time","income":"1","province":"Guangdong","location":"city","year":2025,"month":1}`:          "province",
		`{"method":"vat_agent","month_income":"1","province":"44","location":"city","year":2025,"month":1}`:                               "province",
		`{"method":"vat_agent","filing":"per_time","income":"1","location":"city","year":2025,"month":1,"rule_set":"cn-2025.1"}`:          "filing",
		`{"method":"labor_per_payment","income":"1","same_project_earlier_in_month":"-1"}`:                                                "same_project_earlier_in_month",
		`{"method":"labor_nonresident","income":"1","same_project_earlier_in_month":"0.001","year":2026}`:                                 "same_project_earlier_in_month",
		`{"method":"labor_nonresident","income":"1"}`:                                                                                     "year",
		`{"method":"labor_nonresident","income":"1","year":2024}`:                                                                         "year",
		`{"method":"labor_nonresident","income":"1","year":2026,"rule_set":"cn-2026.1"}`:                                                  "method",
		`{"method":"labor_nonresident","income":"1","year":2026,"rule_set":"cn-2025.2"}`:                                                  "rule_set",
		`{"method":"labor_nonresident","income":"1","rule_set":"cn-2031.1"}`:                                                              "rule_set",
		`{"method":"labor_cumulative","year":2026,"gap_policy":"forget","months":[{"month":1,"income":"1"}]}`:                             "gap_policy",
		`{"method":"labor_cumulative","year":2026,"months":[{"month":1,"income":"-1"}]}`:                                                  "months[0].income",
		`{"method":"labor_cumulative","year":2026,"months":[{"month":1,"income":"1"},{"month":2,"income":"0"},{"month":2,"income":"0"}]}`: "months[2].month",
	}
	for js, field := range cases {
		req, err := DecodeRequest(strings.NewReader(js))
		if err == nil {
			_, err = rules.Quote(req, time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC))
		}
		var fe *FieldError
		if !errors.As(err, &fe) || fe.Field != field {
			t.Errorf("%s: got %v, want an error naming %q", js, err, field)
		}
	}
}
