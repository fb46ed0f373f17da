package tax

import (
	"fmt"

	"github.com/shopspring/decimal"
)

// CumulativeState is what the platform keeps per worker and year to withhold
// labour remuneration by the cumulative method: it is all the next month
// needs, so a payout batch computes each payment in constant time.
type CumulativeState struct {
	Income     decimal.Decimal // cumulative income this year
	Withheld   decimal.Decimal // cumulative tax withheld this year
	Months     int             // months of continuous income counted for the deduction
	LastMonth  int             // last month with income (0: none yet)
	IncomeMons int             // months with income this year
}

// CumulativeMonth is one month's withholding and its working.
type CumulativeMonth struct {
	Month    int
	Income   decimal.Decimal
	IIT      decimal.Decimal
	Base     decimal.Decimal // cumulative taxable income
	Tax      decimal.Decimal // tax on the cumulative base, rounded
	Row      Row
	RowNo    int
	Cost     decimal.Decimal // cumulative cost (20% of income)
	Deducted decimal.Decimal // cumulative deduction (5,000 × months)
	Months   int
	Prior    decimal.Decimal // withheld before this month
}

// NextMonth computes the withholding for month with income, given the
// worker's state after the previous month, and returns the new state.
func (rs *RuleSet) NextMonth(st CumulativeState, month int, income decimal.Decimal) (CumulativeMonth, CumulativeState) {
	lc := &rs.LaborCumulative
	months := st.Months + 1
	if lc.GapPolicy == GapRestart && st.LastMonth != 0 && month != st.LastMonth+1 {
		months = 1
	}
	if lc.GapPolicy == GapIncomeMonths {
		months = st.IncomeMons + 1
	}
	cumIncome := st.Income.Add(income)
	cost := cumIncome.Mul(lc.CostRate)
	deducted := lc.MonthlyDeduction.Mul(decimal.NewFromInt(int64(months)))
	base := cumIncome.Sub(cost).Sub(deducted)
	if base.IsNegative() {
		base = decimal.Zero
	}
	r, n := lc.Table.find(base)
	tax := yuan(base.Mul(r.Rate).Sub(r.Quick))
	iit := tax.Sub(st.Withheld)
	if iit.IsNegative() {
		iit = decimal.Zero // withholding never refunds
	}
	m := CumulativeMonth{
		Month: month, Income: income, IIT: iit, Base: base, Tax: tax, Row: r, RowNo: n,
		Cost: cost, Deducted: deducted, Months: months, Prior: st.Withheld,
	}
	return m, CumulativeState{
		Income: cumIncome, Withheld: st.Withheld.Add(iit), Months: months, LastMonth: month, IncomeMons: st.IncomeMons + 1,
	}
}

// MonthIncome is one month's labour income of one worker on this platform.
type MonthIncome struct {
	Month  int
	Income decimal.Decimal
}

// WithholdCumulative withholds a year's months, in order; months absent from
// the list had no income.
func (rs *RuleSet) WithholdCumulative(months []MonthIncome) ([]CumulativeMonth, *Breakdown, error) {
	lc := &rs.LaborCumulative
	prev := 0
	for i, m := range months {
		field := fmt.Sprintf("months[%d].month", i)
		switch {
		case m.Month < 1 || m.Month > 12:
			return nil, nil, fieldErr(field, "month %d is not 1..12", m.Month)
		case m.Month <= prev:
			return nil, nil, fieldErr(field, "months must be in order without repeats (month %d after %d)", m.Month, prev)
		case m.Month < lc.FromMonth:
			return nil, nil, fieldErr(field, "the cumulative method applies from %d-%02d; month %d is before it", rs.Year, lc.FromMonth, m.Month)
		}
		prev = m.Month
	}
	b := &Breakdown{Method: "labor_cumulative", RuleSet: rs.Version, Source: lc.Source, Inputs: map[string]string{
		"year": fmt.Sprint(rs.Year), "gap_policy": string(lc.GapPolicy),
	}}
	var st CumulativeState
	out := make([]CumulativeMonth, 0, len(months))
	for _, in := range months {
		m, next := rs.NextMonth(st, in.Month, in.Income)
		b.Inputs[fmt.Sprintf("income month %02d", in.Month)] = fmtYuan(in.Income)
		s := Section{Title: fmt.Sprintf("month %d", in.Month), Row: row("cumulative withholding (预扣率表一)", m.Row, m.RowNo)}
		s.step("cumulative income", fmtYuan(next.Income), "%s + %s", fmtYuan(st.Income), fmtYuan(in.Income))
		s.step("cumulative cost", fmtYuan(m.Cost), "%s × %s", fmtYuan(next.Income), fmtRate(lc.CostRate))
		s.step("months of continuous income", fmt.Sprint(m.Months), "policy %s", lc.GapPolicy)
		s.step("cumulative deduction", fmtYuan(m.Deducted), "%s × %d", fmtYuan(lc.MonthlyDeduction), m.Months)
		s.step("cumulative taxable income", fmtYuan(m.Base), "max(0, %s − %s − %s)", fmtYuan(next.Income), fmtYuan(m.Cost), fmtYuan(m.Deducted))
		s.step("tax on the cumulative base", fmtYuan(m.Tax), "round(%s × %s − %s)", fmtYuan(m.Base), fmtRate(m.Row.Rate), fmtYuan(m.Row.Quick))
		s.step("withheld before this month", fmtYuan(m.Prior), "sum of earlier months")
		s.step("withholding this month", fmtYuan(m.IIT), "max(0, %s − %s)", fmtYuan(m.Tax), fmtYuan(m.Prior))
		b.Sections = append(b.Sections, s)
		out = append(out, m)
		st = next
	}
	return out, b, nil
}

// WithholdPerPayment withholds one payment of labour remuneration by a payer
// that is not the platform.
func (rs *RuleSet) WithholdPerPayment(income decimal.Decimal) (decimal.Decimal, *Breakdown) {
	lp := &rs.LaborPerPayment
	b := &Breakdown{Method: "labor_per_payment", RuleSet: rs.Version, Source: lp.Source, Inputs: map[string]string{"income": fmtYuan(income)}}
	s := Section{Title: "payment"}
	var taxable decimal.Decimal
	if income.LessThanOrEqual(lp.Threshold) {
		taxable = income.Sub(lp.FixedCost)
		s.step("cost", fmtYuan(lp.FixedCost), "income ≤ %s: fixed %s", fmtYuan(lp.Threshold), fmtYuan(lp.FixedCost))
	} else {
		cost := income.Mul(lp.CostRate)
		taxable = income.Sub(cost)
		s.step("cost", fmtYuan(cost), "income > %s: %s × %s", fmtYuan(lp.Threshold), fmtYuan(income), fmtRate(lp.CostRate))
	}
	if taxable.IsNegative() {
		taxable = decimal.Zero
	}
	r, n := lp.Table.find(taxable)
	s.Row = row("labour remuneration (预扣率表二)", r, n)
	iit := yuan(taxable.Mul(r.Rate).Sub(r.Quick))
	s.step("taxable income", fmtYuan(taxable), "max(0, %s − cost)", fmtYuan(income))
	s.step("withholding", fmtYuan(iit), "round(%s × %s − %s)", fmtYuan(taxable), fmtRate(r.Rate), fmtYuan(r.Quick))
	b.Sections = []Section{s}
	return iit, b
}
