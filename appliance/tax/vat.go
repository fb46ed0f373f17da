package tax

import (
	"fmt"

	"github.com/shopspring/decimal"
)

// VATResult is the VAT and surcharges of one worker's month (or time), as
// the returns lay them out: for each surcharge the amount due, the
// reduction, and what is paid.
type VATResult struct {
	Sales                           decimal.Decimal
	Decisive                        decimal.Decimal // the sales the threshold was applied to
	Exempt                          bool
	VAT                             decimal.Decimal
	City, Education, LocalEducation Surcharge
	Total                           decimal.Decimal
}

// Surcharge is one line of the surcharge return (附加税费申报表 columns 6, 11, 12).
type Surcharge struct {
	Rate, Due, Reduction, Paid decimal.Decimal
	Exempt                     bool // 财税〔2016〕12号: not due at all
}

// Filing is how a worker's VAT is filed.
type Filing string

const (
	// FilingMonthly: the platform files on the worker's behalf, the month's
	// sales combined (国家税务总局公告2026年第4号), against the monthly threshold.
	FilingMonthly Filing = "monthly"
	// FilingPerTime: a natural person paid outside that arrangement files
	// each time or day on its own, against the per-time threshold.
	FilingPerTime Filing = "per_time"
)

// VATInput is one VAT computation's facts.
type VATInput struct {
	Income   decimal.Decimal // tax-inclusive: the month's (monthly) or one time's or day's (per_time)
	Location string          // city, county or other
	Filing   Filing
	// OtherSales are sales excluding VAT the worker made elsewhere in the
	// month, where the platform knows them: they count towards the monthly
	// threshold, but their VAT is not filed here.
	OtherSales decimal.Decimal
	Province   string // two-digit GB/T 2260 code, for a per-time figure a province sets
}

var onePlus = decimal.NewFromInt(1)

// AgentVAT computes VAT and surcharges filed on a worker's behalf.
func (rs *RuleSet) AgentVAT(in VATInput) (VATResult, *Breakdown, error) {
	va := &rs.VATAgent
	cityRate, ok := va.CityRates[in.Location]
	if !ok {
		return VATResult{}, nil, fieldErr("location", "location %q is not one of city, county, other", in.Location)
	}
	if in.OtherSales.IsNegative() {
		return VATResult{}, nil, fieldErr("other_sales", "%s is negative", fmtYuan(in.OtherSales))
	}
	th, thName := va.Monthly, "monthly"
	switch in.Filing {
	case FilingMonthly, "":
		in.Filing = FilingMonthly
		if in.Province != "" {
			return VATResult{}, nil, fieldErr("province", "applies to per-time filing only")
		}
	case FilingPerTime:
		if va.PerTime == nil {
			return VATResult{}, nil, fieldErr("filing", "rule set %s has no per-time threshold; ask for a later version", rs.Version)
		}
		if !in.OtherSales.IsZero() {
			return VATResult{}, nil, fieldErr("other_sales", "applies to monthly filing only: per-time filing judges each time or day on its own")
		}
		th, thName = va.PerTime, "per time or day"
	default:
		return VATResult{}, nil, fieldErr("filing", "%q is not one of monthly, per_time", in.Filing)
	}
	amount, whose, err := th.amountFor(in.Province)
	if err != nil {
		return VATResult{}, nil, err
	}

	b := &Breakdown{Method: "vat_agent", RuleSet: rs.Version, Source: va.Source, Inputs: map[string]string{
		"income": fmtYuan(in.Income), "location": in.Location, "filing": string(in.Filing),
	}}
	if !in.OtherSales.IsZero() {
		b.Inputs["other_sales"] = fmtYuan(in.OtherSales)
	}
	if in.Province != "" {
		b.Inputs["province"] = in.Province
	}
	s := Section{Title: "VAT"}
	var res VATResult
	res.Sales = yuan(in.Income.Div(onePlus.Add(va.LevyRate)))
	s.step("sales excluding VAT", fmtYuan(res.Sales), "round(%s ÷ (1 + %s))", fmtYuan(in.Income), fmtRate(va.LevyRate))
	res.Decisive = res.Sales
	if !in.OtherSales.IsZero() {
		res.Decisive = res.Sales.Add(in.OtherSales)
		s.step("the month's sales, elsewhere included", fmtYuan(res.Decisive), "%s here + %s elsewhere", fmtYuan(res.Sales), fmtYuan(in.OtherSales))
	}
	s.step("threshold", fmtYuan(amount), "%s, %s (%s)", thName, whose, th.Source)
	if th.Exempt.exempts(res.Decisive, amount) {
		res.Exempt = true
		s.step("VAT", "0.00", "%s %s %s: exempt", fmtYuan(res.Decisive), th.Exempt.words(), fmtYuan(amount))
	} else {
		res.VAT = yuan(res.Sales.Mul(va.LevyRate))
		s.step("VAT", fmtYuan(res.VAT), "%s not %s %s: all of it taxed, round(%s × %s)", fmtYuan(res.Decisive), th.Exempt.words(), fmtYuan(amount), fmtYuan(res.Sales), fmtRate(va.LevyRate))
	}
	b.Sections = append(b.Sections, s)

	// 财税〔2016〕12号 exempts payers filing monthly with monthly sales not
	// over the line from the two education surcharges; see docs/tax.md.
	ee := va.EducationExemption
	eduExempt := ee != nil && in.Filing == FilingMonthly && res.Decisive.LessThanOrEqual(ee.MonthlySalesUpTo)
	surcharge := func(title string, rate decimal.Decimal, education bool) Surcharge {
		sc := Surcharge{Rate: rate}
		sec := Section{Title: title}
		if education && eduExempt && res.VAT.IsPositive() {
			sc.Exempt = true
			sec.step("due", "0.00", "monthly sales %s not over %s: exempt (%s)", fmtYuan(res.Decisive), fmtYuan(ee.MonthlySalesUpTo), ee.Source)
			b.Sections = append(b.Sections, sec)
			return sc
		}
		sc.Due = yuan(res.VAT.Mul(rate))
		sc.Reduction = yuan(sc.Due.Mul(va.SurchargeRelief))
		sc.Paid = sc.Due.Sub(sc.Reduction)
		sec.step("due", fmtYuan(sc.Due), "round(%s × %s)", fmtYuan(res.VAT), fmtRate(rate))
		sec.step("reduction", fmtYuan(sc.Reduction), "round(%s × %s)", fmtYuan(sc.Due), fmtRate(va.SurchargeRelief))
		sec.step("paid", fmtYuan(sc.Paid), "%s − %s", fmtYuan(sc.Due), fmtYuan(sc.Reduction))
		b.Sections = append(b.Sections, sec)
		return sc
	}
	res.City = surcharge("city maintenance and construction tax ("+in.Location+")", cityRate, false)
	res.Education = surcharge("education surcharge", va.EducationRate, true)
	res.LocalEducation = surcharge("local education surcharge", va.LocalEducationRate, true)
	res.Total = res.VAT.Add(res.City.Paid).Add(res.Education.Paid).Add(res.LocalEducation.Paid)
	b.Sections = append(b.Sections, Section{Title: "total", Steps: []Step{{
		Name: "VAT + surcharges paid", Value: fmtYuan(res.Total),
		Formula: fmtYuan(res.VAT) + " + " + fmtYuan(res.City.Paid) + " + " + fmtYuan(res.Education.Paid) + " + " + fmtYuan(res.LocalEducation.Paid),
	}}})
	return res, b, nil
}

// amountFor returns the threshold for a province and whose figure it is.
func (th *Threshold) amountFor(province string) (decimal.Decimal, string, error) {
	if province == "" {
		return th.Amount, "the national figure", nil
	}
	if !provinces[province] {
		return decimal.Zero, "", fieldErr("province", "%q is not a two-digit GB/T 2260 province code such as \"44\"", province)
	}
	if a, ok := th.ByProvince[province]; ok {
		return a, fmt.Sprintf("province %s's figure", province), nil
	}
	return th.Amount, fmt.Sprintf("province %s sets none of its own: the default", province), nil
}

// MonthlyAgentVAT is AgentVAT for a month filed monthly with no other sales,
// without the breakdown: the VAT and the surcharges paid. A payout computes
// it for every payment, and almost every month is under the threshold, so
// the exempt case costs one division and one comparison.
func (rs *RuleSet) MonthlyAgentVAT(income decimal.Decimal, location string) (vat, surcharges decimal.Decimal, err error) {
	va := &rs.VATAgent
	if _, ok := va.CityRates[location]; !ok {
		return vat, surcharges, fieldErr("location", "location %q is not one of city, county, other", location)
	}
	if th := va.Monthly; th != nil {
		sales := yuan(income.Div(onePlus.Add(va.LevyRate)))
		if th.Exempt.exempts(sales, th.Amount) {
			return decimal.Zero, decimal.Zero, nil
		}
	}
	res, _, err := rs.AgentVAT(VATInput{Income: income, Location: location, Filing: FilingMonthly})
	if err != nil {
		return vat, surcharges, err
	}
	return res.VAT, res.Total.Sub(res.VAT), nil
}
