package tax

import (
	"github.com/shopspring/decimal"
)

// BusinessTax computes the annual tax on business income (经营所得) on
// taxable income, with the individual-business halving where in force.
func (rs *RuleSet) BusinessTax(taxable decimal.Decimal, individualBusiness bool) (decimal.Decimal, *Breakdown) {
	bi := &rs.BusinessIncome
	b := &Breakdown{Method: "business_income", RuleSet: rs.Version, Source: bi.Source, Inputs: map[string]string{
		"annual_taxable": fmtYuan(taxable), "individual_business": boolString(individualBusiness),
	}}
	r, n := bi.Table.find(taxable)
	s := Section{Title: "annual tax", Row: row("business income (经营所得)", r, n)}
	gross := taxable.Mul(r.Rate).Sub(r.Quick)
	s.step("tax by the table", fmtExact(gross), "%s × %s − %s", fmtYuan(taxable), fmtRate(r.Rate), fmtYuan(r.Quick))
	tax, reduction := gross, decimal.Zero
	relief := bi.IndividualBusinessRelief
	if individualBusiness && relief != nil {
		capped := decimal.Min(taxable, relief.Cap)
		cr, _ := bi.Table.find(capped)
		capTax := capped.Mul(cr.Rate).Sub(cr.Quick)
		reduction = capTax.Mul(relief.Rate)
		s.step("taxable income up to the cap", fmtYuan(capped), "min(%s, %s)", fmtYuan(taxable), fmtYuan(relief.Cap))
		s.step("tax on that part", fmtExact(capTax), "%s × %s − %s", fmtYuan(capped), fmtRate(cr.Rate), fmtYuan(cr.Quick))
		s.step("individual-business reduction", fmtExact(reduction), "%s × %s", fmtExact(capTax), fmtRate(relief.Rate))
		tax = gross.Sub(reduction)
	}
	tax = yuan(tax)
	if individualBusiness && relief != nil {
		s.step("tax", fmtYuan(tax), "round(%s − %s)", fmtExact(gross), fmtExact(reduction))
	} else {
		s.step("tax", fmtYuan(tax), "round(%s)", fmtExact(gross))
	}
	b.Sections = []Section{s}
	return tax, b
}

// DeemedTaxable returns revenue × the deemed rate (应税所得率) that office
// sets for industry.
func (rs *RuleSet) DeemedTaxable(revenue decimal.Decimal, office, industry string) (decimal.Decimal, decimal.Decimal, error) {
	rates, ok := rs.BusinessIncome.DeemedRates[office]
	if !ok {
		return decimal.Zero, decimal.Zero, fieldErr("tax_office", "rule set %s has no deemed rates for tax office %q", rs.Version, office)
	}
	rate, ok := rates[industry]
	if !ok {
		return decimal.Zero, decimal.Zero, fieldErr("industry", "tax office %s has no deemed rate for industry %q", office, industry)
	}
	return yuan(revenue.Mul(rate)), rate, nil
}

func boolString(b bool) string {
	if b {
		return "true"
	}
	return "false"
}
