package tax

import (
	"fmt"

	"github.com/shopspring/decimal"
)

// CumulativeState is what the platform keeps per worker and year to withhold
// labour remuneration by the cumulative method: it is all the next month
// needs, so a payout batch computes each payment in constant time.
type CumulativeState struct {
	Income     decimal.Decimal // cumulative income the method counts
	Withheld   decimal.Decimal // tax withheld on that income
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
	Cumul    decimal.Decimal // cumulative income counted
	Cost     decimal.Decimal // cumulative cost (20% of income)
	Deducted decimal.Decimal // cumulative deduction (5,000 × months)
	Months   int
	Prior    decimal.Decimal // withheld before this month on the income counted
	Gap      bool            // the month follows a month without income
	NoIncome bool            // the month had no income: nothing counted, nothing withheld
}

// NextMonth computes the withholding for month with income, given the
// worker's state after their previous month and the gap policy, and returns
// the new state. A month without income changes nothing: it is not a month
// of continuous income.
func (rs *RuleSet) NextMonth(st CumulativeState, month int, income decimal.Decimal, gap GapPolicy) (CumulativeMonth, CumulativeState, error) {
	lc := &rs.LaborCumulative
	switch {
	case income.IsNegative():
		return CumulativeMonth{}, st, fieldErr("income", "income %s is negative", fmtYuan(income))
	case month < lc.FromMonth || month > 12:
		return CumulativeMonth{}, st, fieldErr("month", "month %d is not %d..12", month, lc.FromMonth)
	case month <= st.LastMonth:
		return CumulativeMonth{}, st, fieldErr("month", "month %d is not after the last month with income, %d", month, st.LastMonth)
	}
	if income.IsZero() && lc.ZeroMonthIsGap {
		return CumulativeMonth{Month: month, NoIncome: true, Prior: st.Withheld}, st, nil
	}
	gapped := st.LastMonth != 0 && month != st.LastMonth+1
	months := st.Months + 1
	switch {
	case gap == GapIncomeMonths:
		months = st.IncomeMons + 1
	case gapped && gap == GapRestartMonths:
		months = 1
	case gapped && gap == GapRestartAll:
		months = 1
		st.Income, st.Withheld = decimal.Zero, decimal.Zero
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
		Month: month, Income: income, IIT: iit, Base: base, Tax: tax, Row: r, RowNo: n, Cumul: cumIncome,
		Cost: cost, Deducted: deducted, Months: months, Prior: st.Withheld, Gap: gapped,
	}
	return m, CumulativeState{
		Income: cumIncome, Withheld: st.Withheld.Add(iit), Months: months, LastMonth: month, IncomeMons: st.IncomeMons + 1,
	}, nil
}

// MonthIncome is one month's labour income of one worker on this platform.
type MonthIncome struct {
	Month  int
	Income decimal.Decimal
}

// WithholdCumulative withholds a year's months, in order, under the gap
// policy (the rule set's when empty); months absent from the list or listed
// with zero income had no income.
func (rs *RuleSet) WithholdCumulative(months []MonthIncome, gap GapPolicy) ([]CumulativeMonth, *Breakdown, error) {
	lc := &rs.LaborCumulative
	if gap == "" {
		gap = lc.GapPolicy
	}
	if !rs.offers(gap) {
		return nil, nil, fieldErr("gap_policy", "rule set %s offers only %s", rs.Version, lc.GapPolicy)
	}
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
		case m.Income.IsNegative():
			return nil, nil, fieldErr(fmt.Sprintf("months[%d].income", i), "income %s is negative", fmtYuan(m.Income))
		}
		prev = m.Month
	}
	source := lc.Source
	if lc.GapSource != "" {
		source += "; gap months: " + lc.GapSource
	}
	b := &Breakdown{Method: "labor_cumulative", RuleSet: rs.Version, Source: source, Inputs: map[string]string{
		"year": fmt.Sprint(rs.Year), "gap_policy": string(gap),
	}}
	var st CumulativeState
	out := make([]CumulativeMonth, 0, len(months))
	for _, in := range months {
		m, next, err := rs.NextMonth(st, in.Month, in.Income, gap)
		if err != nil {
			return nil, nil, err
		}
		b.Inputs[fmt.Sprintf("income month %02d", in.Month)] = fmtYuan(in.Income)
		s := Section{Title: fmt.Sprintf("month %d", in.Month)}
		if m.NoIncome {
			s.step("withholding this month", "0.00", "no income: not a month of continuous income, nothing counted")
			b.Sections = append(b.Sections, s)
			out = append(out, m)
			continue
		}
		s.Row = row("cumulative withholding (预扣率表一)", m.Row, m.RowNo)
		earlier := m.Cumul.Sub(in.Income)
		if m.Gap {
			s.step("after a gap", string(gap), "no income in month %d..%d: %s", st.LastMonth+1, in.Month-1, gapWords[gap])
		}
		s.step("cumulative income", fmtYuan(m.Cumul), "%s + %s", fmtYuan(earlier), fmtYuan(in.Income))
		s.step("cumulative cost", fmtExact(m.Cost), "%s × %s", fmtYuan(m.Cumul), fmtRate(lc.CostRate))
		s.step("months of continuous income", fmt.Sprint(m.Months), "policy %s", gap)
		s.step("cumulative deduction", fmtYuan(m.Deducted), "%s × %d", fmtYuan(lc.MonthlyDeduction), m.Months)
		s.step("cumulative taxable income", fmtExact(m.Base), "max(0, %s − %s − %s)", fmtYuan(m.Cumul), fmtExact(m.Cost), fmtYuan(m.Deducted))
		s.step("tax on the cumulative base", fmtYuan(m.Tax), "round(%s × %s − %s)", fmtExact(m.Base), fmtRate(m.Row.Rate), fmtYuan(m.Row.Quick))
		s.step("withheld before this month", fmtYuan(m.Prior), "on the income counted")
		s.step("withholding this month", fmtYuan(m.IIT), "max(0, %s − %s)", fmtYuan(m.Tax), fmtYuan(m.Prior))
		b.Sections = append(b.Sections, s)
		out = append(out, m)
		st = next
	}
	return out, b, nil
}

var gapWords = map[GapPolicy]string{
	GapRestartAll:    "income, cost, deduction and withheld start again",
	GapRestartMonths: "the month count starts again; income and withheld run on",
	GapIncomeMonths:  "every month with income counts",
}

// WithholdPerPayment withholds one payment of labour remuneration by a payer
// that is not the platform. earlier is what the same payer already paid for
// the same project this month: one project's month is one time.
func (rs *RuleSet) WithholdPerPayment(income, earlier decimal.Decimal) (decimal.Decimal, *Breakdown, error) {
	return rs.perTime("labor_per_payment", &rs.LaborPerPayment, "labour remuneration (预扣率表二)", income, earlier)
}

// WithholdNonresident withholds one payment of labour remuneration to a
// non-resident: 80% of it on the monthly-converted comprehensive table, one
// project's month as one time, no cumulative method.
func (rs *RuleSet) WithholdNonresident(income, earlier decimal.Decimal) (decimal.Decimal, *Breakdown, error) {
	if rs.LaborNonresident == nil {
		return decimal.Zero, nil, fieldErr("method", "rule set %s has no labor_nonresident; ask for a later version", rs.Version)
	}
	return rs.perTime("labor_nonresident", rs.LaborNonresident, "个人所得税税率表三 (monthly-converted)", income, earlier)
}

// perTime computes a per-time method. With income paid earlier in the month
// for the same project, the tax withheld now is the tax on the month's total
// less the tax on what was paid before, which is what was withheld on it: a
// month's tax never depends on how it is split into payments.
func (rs *RuleSet) perTime(method string, pt *PerTime, table string, income, earlier decimal.Decimal) (decimal.Decimal, *Breakdown, error) {
	switch {
	case income.IsNegative():
		return decimal.Zero, nil, fieldErr("income", "income %s is negative", fmtYuan(income))
	case earlier.IsNegative():
		return decimal.Zero, nil, fieldErr("same_project_earlier_in_month", "%s is negative", fmtYuan(earlier))
	case !earlier.IsZero() && !pt.SameProjectMonth:
		return decimal.Zero, nil, fieldErr("same_project_earlier_in_month", "rule set %s does not take it; ask for a later version", rs.Version)
	}
	b := &Breakdown{Method: method, RuleSet: rs.Version, Source: pt.Source, Inputs: map[string]string{"income": fmtYuan(income)}}
	if earlier.IsZero() {
		iit, s := pt.tax("payment", table, income)
		b.Sections = []Section{s}
		return iit, b, nil
	}
	b.Inputs["same_project_earlier_in_month"] = fmtYuan(earlier)
	total := earlier.Add(income)
	totalTax, all := pt.tax("the month's payments for this project, as one time", table, total)
	all.Steps = append([]Step{{Name: "the month's income", Value: fmtYuan(total), Formula: fmt.Sprintf("%s earlier + %s now", fmtYuan(earlier), fmtYuan(income))}}, all.Steps...)
	priorTax, prior := pt.tax("withheld on the earlier payments", table, earlier)
	iit := totalTax.Sub(priorTax)
	last := Section{Title: "this payment"}
	last.step("withholding", fmtYuan(iit), "%s − %s", fmtYuan(totalTax), fmtYuan(priorTax))
	b.Sections = []Section{all, prior, last}
	return iit, b, nil
}

// tax is the per-time tax on income, and its working.
func (pt *PerTime) tax(title, table string, income decimal.Decimal) (decimal.Decimal, Section) {
	s := Section{Title: title}
	var taxable decimal.Decimal
	if pt.Threshold != nil && income.LessThanOrEqual(*pt.Threshold) {
		taxable = income.Sub(pt.FixedCost)
		s.step("cost", fmtYuan(pt.FixedCost), "income ≤ %s: fixed %s", fmtYuan(*pt.Threshold), fmtYuan(pt.FixedCost))
	} else {
		cost := income.Mul(pt.CostRate)
		taxable = income.Sub(cost)
		if pt.Threshold != nil {
			s.step("cost", fmtExact(cost), "income > %s: %s × %s", fmtYuan(*pt.Threshold), fmtYuan(income), fmtRate(pt.CostRate))
		} else {
			s.step("cost", fmtExact(cost), "%s × %s", fmtYuan(income), fmtRate(pt.CostRate))
		}
	}
	if taxable.IsNegative() {
		taxable = decimal.Zero
	}
	r, n := pt.Table.find(taxable)
	s.Row = row(table, r, n)
	iit := yuan(taxable.Mul(r.Rate).Sub(r.Quick))
	s.step("taxable income", fmtExact(taxable), "max(0, %s − cost)", fmtYuan(income))
	s.step("tax", fmtYuan(iit), "round(%s × %s − %s)", fmtExact(taxable), fmtRate(r.Rate), fmtYuan(r.Quick))
	return iit, s
}
