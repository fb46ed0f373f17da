package tax

import (
	"github.com/shopspring/decimal"
)

// VATResult is the VAT and surcharges of one worker's month, as the returns
// lay them out: for each surcharge the amount due, the reduction, and what is
// paid.
type VATResult struct {
	Sales                           decimal.Decimal
	Exempt                          bool
	VAT                             decimal.Decimal
	City, Education, LocalEducation Surcharge
	Total                           decimal.Decimal
}

// Surcharge is one line of the surcharge return (附加税费申报表 columns 6, 11, 12).
type Surcharge struct {
	Rate, Due, Reduction, Paid decimal.Decimal
}

var onePlus = decimal.NewFromInt(1)

// AgentVAT computes VAT and surcharges filed on a worker's behalf for one
// month of tax-inclusive income at a location class (city, county, other).
func (rs *RuleSet) AgentVAT(income decimal.Decimal, location string) (VATResult, *Breakdown, error) {
	va := &rs.VATAgent
	cityRate, ok := va.CityRates[location]
	if !ok {
		return VATResult{}, nil, fieldErr("location", "location %q is not one of city, county, other", location)
	}
	b := &Breakdown{Method: "vat_agent", RuleSet: rs.Version, Source: va.Source, Inputs: map[string]string{
		"month_income": fmtYuan(income), "location": location,
	}}
	s := Section{Title: "VAT"}
	var res VATResult
	res.Sales = yuan(income.Div(onePlus.Add(va.LevyRate)))
	s.step("sales excluding VAT", fmtYuan(res.Sales), "round(%s ÷ (1 + %s))", fmtYuan(income), fmtRate(va.LevyRate))
	if res.Sales.LessThanOrEqual(va.MonthlyThreshold) {
		res.Exempt = true
		s.step("VAT", "0.00", "sales ≤ %s a month: exempt", fmtYuan(va.MonthlyThreshold))
	} else {
		res.VAT = yuan(res.Sales.Mul(va.LevyRate))
		s.step("VAT", fmtYuan(res.VAT), "sales > %s: the whole month is taxed, round(%s × %s)", fmtYuan(va.MonthlyThreshold), fmtYuan(res.Sales), fmtRate(va.LevyRate))
	}
	b.Sections = append(b.Sections, s)
	surcharge := func(title string, rate decimal.Decimal) Surcharge {
		sc := Surcharge{Rate: rate}
		sc.Due = yuan(res.VAT.Mul(rate))
		sc.Reduction = yuan(sc.Due.Mul(va.SurchargeRelief))
		sc.Paid = sc.Due.Sub(sc.Reduction)
		sec := Section{Title: title}
		sec.step("due", fmtYuan(sc.Due), "round(%s × %s)", fmtYuan(res.VAT), fmtRate(rate))
		sec.step("reduction", fmtYuan(sc.Reduction), "round(%s × %s)", fmtYuan(sc.Due), fmtRate(va.SurchargeRelief))
		sec.step("paid", fmtYuan(sc.Paid), "%s − %s", fmtYuan(sc.Due), fmtYuan(sc.Reduction))
		b.Sections = append(b.Sections, sec)
		return sc
	}
	res.City = surcharge("city maintenance and construction tax ("+location+")", cityRate)
	res.Education = surcharge("education surcharge", va.EducationRate)
	res.LocalEducation = surcharge("local education surcharge", va.LocalEducationRate)
	res.Total = res.VAT.Add(res.City.Paid).Add(res.Education.Paid).Add(res.LocalEducation.Paid)
	b.Sections = append(b.Sections, Section{Title: "total", Steps: []Step{{
		Name: "VAT + surcharges paid", Value: fmtYuan(res.Total),
		Formula: fmtYuan(res.VAT) + " + " + fmtYuan(res.City.Paid) + " + " + fmtYuan(res.Education.Paid) + " + " + fmtYuan(res.LocalEducation.Paid),
	}}})
	return res, b, nil
}
