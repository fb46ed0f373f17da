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

var rules = Default()

func quoteJSON(t *testing.T, js string) *Quote {
	t.Helper()
	req, err := DecodeRequest(strings.NewReader(js))
	if err != nil {
		t.Fatalf("%s: %v", js, err)
	}
	q, err := rules.Quote(req, time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC))
	if err != nil {
		t.Fatalf("%s: %v", js, err)
	}
	return q
}

func d(s string) decimal.Decimal { return decimal.RequireFromString(s) }

func rs(t *testing.T, year int) *RuleSet {
	t.Helper()
	r, err := rules.For(year)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// Published worked examples.
func TestPublishedExamples(t *testing.T) {
	cases := []struct {
		name, request string
		check         func(q *Quote) bool
	}{
		// 国家税务总局公告2018年第61号解读: 劳务报酬2000元, (2000−800)×20% = 240.
		{"per payment, 2,000 (61号解读)", `{"method":"labor_per_payment","income":"2000","year":2026}`,
			func(q *Quote) bool { return q.IIT == "240.00" }},
		// SPEC §5 and the issue: 3,000 → 440.00.
		{"per payment, 3,000", `{"method":"labor_per_payment","income":"3000"}`,
			func(q *Quote) bool { return q.IIT == "440.00" }},
		// SPEC §5 (公告2025年第16号 method): first month 10,000 → 90.00; then 20,000 → 330.00.
		{"cumulative, two months", `{"method":"labor_cumulative","year":2026,"months":[{"month":1,"income":"10000"},{"month":2,"income":"20000"}]}`,
			func(q *Quote) bool {
				return q.Months[0].IIT == "90.00" && q.Months[1].IIT == "330.00" && q.TotalIIT == "420.00"
			}},
		// SPEC §5 (公告2023年第12号 halving): 2,400,000 → 774,500 − 634,500 × 50% = 457,250.00.
		{"individual business, 2.4M", `{"method":"business_income","annual_taxable":"2400000","individual_business":true,"year":2026}`,
			func(q *Quote) bool { return q.IIT == "457250.00" }},
		// The issue: 150,000 → (150,000 × 20% − 10,500) × 50% = 9,750.00.
		{"individual business, 150k", `{"method":"business_income","annual_taxable":"150000","individual_business":true,"year":2026}`,
			func(q *Quote) bool { return q.IIT == "9750.00" }},
		{"business, no relief", `{"method":"business_income","annual_taxable":"150000","year":2026}`,
			func(q *Quote) bool { return q.IIT == "19500.00" }},
		// SPEC §5: 120,000 tax-inclusive → VAT 1,188.12, city 83.17 − 41.59 = 41.58.
		{"agent VAT, 120k in a city", `{"method":"vat_agent","month_income":"120000","location":"city","year":2026,"month":3}`,
			func(q *Quote) bool {
				return q.VAT == "1188.12" && q.CityMaintenance == "41.58" && q.Education == "17.82" &&
					q.LocalEducation == "11.88" && q.Total == "1259.40" && !*q.Exempt
			}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			q := quoteJSON(t, c.request)
			if !c.check(q) {
				b, _ := json.Marshal(q)
				t.Fatalf("got %s", b)
			}
			if q.RuleSet == "" || q.Breakdown == nil || q.Text == "" {
				t.Fatal("result lacks its rule set or breakdown")
			}
		})
	}
}

// Every bracket boundary, on both sides: the row changes exactly there.
func TestBracketBoundaries(t *testing.T) {
	r := rs(t, 2026)
	perPayment := []struct {
		income, iit string
		row         int
	}{
		{"799.99", "0.00", 1}, {"800", "0.00", 1},
		{"4000", "640.00", 1}, {"4000.01", "640.00", 1}, // 3,200 vs 3,200.008 taxable
		{"25000", "4000.00", 1}, {"25000.01", "4000.00", 2}, // taxable 20,000 vs 20,000.008
		{"62500", "13000.00", 2}, {"62500.01", "13000.00", 3}, // taxable 50,000 vs 50,000.008
	}
	for _, c := range perPayment {
		iit, b, _ := r.WithholdPerPayment(d(c.income), decimal.Zero)
		if iit.StringFixed(2) != c.iit || b.Sections[0].Row.Number != c.row {
			t.Errorf("per payment %s: %s row %d, want %s row %d", c.income, iit.StringFixed(2), b.Sections[0].Row.Number, c.iit, c.row)
		}
	}
	branch := func(income string) string {
		_, b, _ := r.WithholdPerPayment(d(income), decimal.Zero)
		return b.Sections[0].Steps[0].Formula
	}
	if !strings.Contains(branch("4000"), "fixed") || strings.Contains(branch("4000.01"), "fixed") {
		t.Error("the 800 / 20% cost switches anywhere but above 4,000")
	}

	// One month of income X gives a cumulative base of 0.8X − 5,000.
	for i, row := range r.LaborCumulative.Table[:len(r.LaborCumulative.Table)-1] {
		at := row.Upto.Add(d("5000")).Div(d("0.8")) // base exactly at the bracket's top
		above := at.Add(d("0.02"))
		m, _, _ := r.NextMonth(CumulativeState{}, 1, at, GapRestartAll)
		n, _, _ := r.NextMonth(CumulativeState{}, 1, above, GapRestartAll)
		if m.RowNo != i+1 || n.RowNo != i+2 {
			t.Errorf("cumulative bracket %d: base %s in row %d, base %s in row %d", i+1, m.Base, m.RowNo, n.Base, n.RowNo)
		}
		if n.IIT.LessThan(m.IIT) {
			t.Errorf("cumulative bracket %d: tax falls across the boundary", i+1)
		}
	}

	for i, row := range r.BusinessIncome.Table[:len(r.BusinessIncome.Table)-1] {
		_, b1 := r.BusinessTax(*row.Upto, false)
		_, b2 := r.BusinessTax(row.Upto.Add(d("0.01")), false)
		if b1.Sections[0].Row.Number != i+1 || b2.Sections[0].Row.Number != i+2 {
			t.Errorf("business bracket %d misplaced", i+1)
		}
	}

	// The VAT threshold is on monthly sales excluding VAT, and it is a cliff
	// (2025: sales up to and including 100,000 exempt).
	vat := []struct {
		income, sales, vat string
		exempt             bool
	}{
		{"100000", "99009.90", "0.00", true},
		{"100000.01", "99009.91", "0.00", true},
		{"101000", "100000.00", "0.00", true},
		{"101000.01", "100000.01", "1000.00", false},
	}
	for _, c := range vat {
		res, _, err := rs(t, 2025).AgentVAT(VATInput{Income: d(c.income), Location: "county"})
		if err != nil {
			t.Fatal(err)
		}
		if res.Sales.StringFixed(2) != c.sales || res.VAT.StringFixed(2) != c.vat || res.Exempt != c.exempt {
			t.Errorf("VAT on %s: sales %s VAT %s exempt %v", c.income, res.Sales.StringFixed(2), res.VAT.StringFixed(2), res.Exempt)
		}
	}
}

func TestGapMonthPolicies(t *testing.T) {
	months := []MonthIncome{{1, d("10000")}, {3, d("10000")}}
	r := rs(t, 2026)
	cases := []struct {
		gap    GapPolicy
		months int
		iit    string
	}{
		// Restart all: month 3 is a first month again: (10,000 − 2,000 − 5,000) × 3% = 90.
		{GapRestartAll, 1, "90.00"},
		// Restart months: 1 month of deduction: (20,000 − 4,000 − 5,000) × 3% − 90 = 240.
		{GapRestartMonths, 1, "240.00"},
		// Income months: 2 months of deduction: (20,000 − 4,000 − 10,000) × 3% − 90 = 90.
		{GapIncomeMonths, 2, "90.00"},
	}
	for _, c := range cases {
		got, _, err := r.WithholdCumulative(months, c.gap)
		if err != nil {
			t.Fatal(err)
		}
		if got[1].Months != c.months || got[1].IIT.StringFixed(2) != c.iit {
			t.Errorf("%s: months %d, iit %s; want %d, %s", c.gap, got[1].Months, got[1].IIT, c.months, c.iit)
		}
	}
}

func TestCumulativeMethodStartsOctober2025(t *testing.T) {
	_, _, err := rs(t, 2025).WithholdCumulative([]MonthIncome{{9, d("1000")}}, "")
	var fe *FieldError
	if !errors.As(err, &fe) || fe.Field != "months[0].month" {
		t.Fatalf("September 2025: %v", err)
	}
	if _, _, err := rs(t, 2025).WithholdCumulative([]MonthIncome{{10, d("1000")}}, ""); err != nil {
		t.Fatalf("October 2025: %v", err)
	}
}

func TestBadRequestsNameTheField(t *testing.T) {
	cases := map[string]string{
		`{"method":"labor_per_payment","income":"-1"}`:                                                           "income",
		`{"method":"labor_per_payment","income":"abc"}`:                                                          "income",
		`{"method":"labor_per_payment","income":"10.001"}`:                                                       "income",
		`{"method":"labor_per_payment","income":"1e5"}`:                                                          "income",
		`{"method":"labor_per_payment","income":3000}`:                                                           "income",
		`{"method":"labor_per_payment"}`:                                                                         "income",
		`{"method":"payroll","income":"1"}`:                                                                      "method",
		`{"income":"1"}`:                                                                                         "method",
		`{"method":"labor_cumulative","months":[{"month":1,"income":"1"}]}`:                                      "year",
		`{"method":"labor_cumulative","year":2024,"months":[{"month":1,"income":"1"}]}`:                          "year",
		`{"method":"labor_cumulative","year":2026,"months":[]}`:                                                  "months",
		`{"method":"labor_cumulative","year":2026,"months":[{"month":13,"income":"1"}]}`:                         "months[0].month",
		`{"method":"labor_cumulative","year":2026,"months":[{"month":2,"income":"1"},{"month":2,"income":"1"}]}`: "months[1].month",
		`{"method":"labor_cumulative","year":2026,"months":[{"month":1,"income":"x"}]}`:                          "months[0].income",
		`{"method":"vat_agent","month_income":"1","location":"moon","year":2026,"month":1}`:                      "location",
		`{"method":"vat_agent","month_income":"1","location":"city","year":2026}`:                                "month",
		`{"method":"business_income","year":2026}`:                                                               "annual_taxable",
		`{"method":"business_income","annual_revenue":"1","tax_office":"x","industry":"y","year":2026}`:          "tax_office",
		`{"method":"labor_per_payment","income":"1","extra":true}`:                                               "extra",
	}
	for js, field := range cases {
		req, err := DecodeRequest(strings.NewReader(js))
		if err == nil {
			_, err = rules.Quote(req, time.Now())
		}
		var fe *FieldError
		if !errors.As(err, &fe) || fe.Field != field {
			t.Errorf("%s: got %v, want an error naming %q", js, err, field)
		}
	}
}

func TestDeemedIncomeUsesTheOfficesRate(t *testing.T) {
	data := strings.Replace(string(embedded), `"deemed_rates": {}`, `"deemed_rates": {"91350100": {"services": "0.10"}}`, 1)
	r, err := Parse([]byte(data))
	if err != nil {
		t.Fatal(err)
	}
	req, _ := DecodeRequest(strings.NewReader(`{"method":"business_income","annual_revenue":"500000","tax_office":"91350100","industry":"services","year":2025}`))
	q, err := r.Quote(req, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	// 500,000 × 10% = 50,000 deemed taxable → 50,000 × 10% − 1,500 = 3,500.
	if q.AnnualTaxable != "50000.00" || q.IIT != "3500.00" {
		t.Fatalf("deemed: taxable %s iit %s", q.AnnualTaxable, q.IIT)
	}
}

// Properties over random incomes; the seed is printed so a failure repeats.
func TestWithholdingProperties(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rnd := rand.New(rand.NewPCG(seed, 1))
	r := rs(t, 2026)
	money := func(max int) decimal.Decimal { return decimal.New(int64(rnd.IntN(max*100)), -2) }
	for range 2000 {
		var months []MonthIncome
		for m := 1; m <= 12; m++ {
			if rnd.IntN(5) > 0 {
				months = append(months, MonthIncome{m, money(200_000)})
			}
		}
		if len(months) == 0 {
			continue
		}
		got, _, err := r.WithholdCumulative(months, GapIncomeMonths)
		if err != nil {
			t.Fatal(err)
		}
		total, maxTax := decimal.Zero, decimal.Zero
		for _, m := range got {
			if m.IIT.IsNegative() {
				t.Fatalf("seed %d: negative withholding %s", seed, m.IIT)
			}
			total = total.Add(m.IIT)
			maxTax = decimal.Max(maxTax, m.Tax)
		}
		// Withheld so far is always the largest cumulative tax seen: over a
		// year it equals the tax on the cumulative base whenever that is the
		// largest (no refunds are made in between).
		if !total.Equal(maxTax) {
			t.Fatalf("seed %d: withheld %s, largest cumulative tax %s", seed, total, maxTax)
		}
		if last := got[len(got)-1]; last.Tax.Equal(maxTax) && !total.Equal(last.Tax) {
			t.Fatalf("seed %d: withheld %s, tax on the cumulative base %s", seed, total, last.Tax)
		}

		x := money(1_000_000)
		y := x.Add(money(10_000))
		a, _, _ := r.WithholdPerPayment(x, decimal.Zero)
		b, _, _ := r.WithholdPerPayment(y, decimal.Zero)
		c, _ := r.BusinessTax(x, true)
		e, _ := r.BusinessTax(y, true)
		v, _, _ := r.AgentVAT(VATInput{Income: x, Location: "city"})
		w, _, _ := r.AgentVAT(VATInput{Income: y, Location: "city"})
		if b.LessThan(a) || e.LessThan(c) || w.Total.LessThan(v.Total) {
			t.Fatalf("seed %d: a tax fell as income rose from %s to %s", seed, x, y)
		}
	}
}

func FuzzDecodeRequest(f *testing.F) {
	for _, s := range []string{
		`{"method":"labor_per_payment","income":"3000"}`,
		`{"method":"labor_cumulative","year":2026,"months":[{"month":1,"income":"10000"}]}`,
		`{"method":"vat_agent","month_income":"120000","location":"city","year":2026,"month":3}`,
		`{"method":"business_income","annual_taxable":"150000","individual_business":true,"year":2026}`,
		`{"method":"labor_nonresident","income":"10000","year":2026,"same_project_earlier_in_month":"2000.5"}`,
		`{"method":"labor_per_payment","income":"3000","same_project_earlier_in_month":"3000","rule_set":"cn-2026.1"}`,
		`{"method":"vat_agent","filing":"per_time","income":"1010","location":"county","year":2025,"month":3,"province":"44"}`,
		`{"method":"vat_agent","filing":"monthly","month_income":"50500","other_sales":"50000.01","location":"other","year":2026,"month":12}`,
		`{"method":"labor_cumulative","year":2026,"gap_policy":"restart_months","months":[{"month":1,"income":"10000"},{"month":2,"income":"0"}]}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		req, err := DecodeRequest(strings.NewReader(string(data)))
		if err != nil {
			var fe *FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("decode error is not a FieldError: %v", err)
			}
			return
		}
		q, err := rules.Quote(req, time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
		if err != nil {
			var fe *FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("quote error is not a FieldError: %v", err)
			}
			return
		}
		for _, amount := range []string{q.IIT, q.VAT, q.Total, q.TotalIIT} {
			if amount == "" {
				continue
			}
			v, err := decimal.NewFromString(amount)
			if err != nil || v.IsNegative() || v.Exponent() < -2 {
				t.Fatalf("result amount %q", amount)
			}
		}
	})
}

func BenchmarkLaborCumulativeWarm(b *testing.B) {
	r, _ := rules.For(2026)
	st := CumulativeState{Income: d("50000"), Withheld: d("300"), Months: 5, LastMonth: 5, IncomeMons: 5}
	income := d("8765.43")
	b.ReportAllocs()
	for b.Loop() {
		r.NextMonth(st, 6, income, GapRestartAll)
	}
}

func BenchmarkQuotes(b *testing.B) {
	for _, js := range []string{
		`{"method":"labor_per_payment","income":"3000","year":2026}`,
		`{"method":"business_income","annual_taxable":"150000","individual_business":true,"year":2026}`,
		`{"method":"vat_agent","month_income":"120000","location":"city","year":2026,"month":3}`,
	} {
		req, _ := DecodeRequest(strings.NewReader(js))
		b.Run(req.Method, func(b *testing.B) {
			for b.Loop() {
				rules.Quote(req, time.Now())
			}
		})
	}
}
