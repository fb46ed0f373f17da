package tax

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"sort"

	"github.com/shopspring/decimal"
)

// Row is one bracket of a progressive table: amounts up to Upto (inclusive;
// nil for the last row) are taxed at Rate less Quick.
type Row struct {
	Upto  *decimal.Decimal `json:"upto,omitempty"`
	Rate  decimal.Decimal  `json:"rate"`
	Quick decimal.Decimal  `json:"quick"`
}

// Table is a progressive table, lowest bracket first.
type Table []Row

// find returns the bracket of amount and its 1-based number.
func (t Table) find(amount decimal.Decimal) (Row, int) {
	for i, r := range t {
		if r.Upto == nil || amount.LessThanOrEqual(*r.Upto) {
			return r, i + 1
		}
	}
	return t[len(t)-1], len(t)
}

// RuleSet is the law of one year.
type RuleSet struct {
	Version         string `json:"version"`
	Year            int    `json:"year"`
	LaborCumulative struct {
		FromMonth        int             `json:"from_month"`
		Source           string          `json:"source"`
		CostRate         decimal.Decimal `json:"cost_rate"`
		MonthlyDeduction decimal.Decimal `json:"monthly_deduction"`
		GapPolicy        GapPolicy       `json:"gap_policy"`
		Table            Table           `json:"table"`
	} `json:"labor_cumulative"`
	LaborPerPayment struct {
		Source    string          `json:"source"`
		Threshold decimal.Decimal `json:"threshold"`
		FixedCost decimal.Decimal `json:"fixed_cost"`
		CostRate  decimal.Decimal `json:"cost_rate"`
		Table     Table           `json:"table"`
	} `json:"labor_per_payment"`
	BusinessIncome struct {
		Source                   string `json:"source"`
		Table                    Table  `json:"table"`
		IndividualBusinessRelief *struct {
			Cap  decimal.Decimal `json:"cap"`
			Rate decimal.Decimal `json:"rate"`
		} `json:"individual_business_relief"`
		// DeemedRates are 核定 taxable-income rates by tax office and industry.
		DeemedRates map[string]map[string]decimal.Decimal `json:"deemed_rates"`
	} `json:"business_income"`
	VATAgent struct {
		Source             string                     `json:"source"`
		LevyRate           decimal.Decimal            `json:"levy_rate"`
		MonthlyThreshold   decimal.Decimal            `json:"monthly_threshold"`
		CityRates          map[string]decimal.Decimal `json:"city_rates"`
		EducationRate      decimal.Decimal            `json:"education_rate"`
		LocalEducationRate decimal.Decimal            `json:"local_education_rate"`
		SurchargeRelief    decimal.Decimal            `json:"surcharge_relief"`
	} `json:"vat_agent"`
}

// GapPolicy says how a month without labour income on the platform affects
// the "months of continuous income" that the cumulative deduction counts.
type GapPolicy string

const (
	// GapRestart: a month without income breaks continuity; the count starts
	// again at 1 with the next month that has income (the default).
	GapRestart GapPolicy = "restart"
	// GapIncomeMonths: every month of the year with income counts.
	GapIncomeMonths GapPolicy = "income_months"
)

// Rules is a set of rule sets, one per year.
type Rules struct{ byYear map[int]*RuleSet }

//go:embed rules/cn.json
var embedded []byte

// Default returns the embedded rule sets.
func Default() *Rules {
	r, err := Parse(embedded)
	if err != nil {
		panic("tax: embedded rules: " + err.Error())
	}
	return r
}

// Parse reads rule sets from JSON and checks them.
func Parse(data []byte) (*Rules, error) {
	var doc struct {
		RuleSets []*RuleSet `json:"rule_sets"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("tax: rules: %w", err)
	}
	r := &Rules{byYear: map[int]*RuleSet{}}
	for _, rs := range doc.RuleSets {
		if err := rs.check(); err != nil {
			return nil, fmt.Errorf("tax: rule set %s: %w", rs.Version, err)
		}
		if _, dup := r.byYear[rs.Year]; dup {
			return nil, fmt.Errorf("tax: two rule sets for %d", rs.Year)
		}
		r.byYear[rs.Year] = rs
	}
	return r, nil
}

func (rs *RuleSet) check() error {
	if rs.Version == "" || rs.Year < 2000 {
		return fmt.Errorf("needs a version and a year")
	}
	for name, t := range map[string]Table{
		"labor_cumulative": rs.LaborCumulative.Table, "labor_per_payment": rs.LaborPerPayment.Table,
		"business_income": rs.BusinessIncome.Table,
	} {
		if len(t) == 0 || t[len(t)-1].Upto != nil {
			return fmt.Errorf("%s table must end with an open bracket", name)
		}
		for i := 1; i < len(t)-1; i++ {
			if !t[i].Upto.GreaterThan(*t[i-1].Upto) {
				return fmt.Errorf("%s table brackets must rise", name)
			}
		}
	}
	switch rs.LaborCumulative.GapPolicy {
	case GapRestart, GapIncomeMonths:
	default:
		return fmt.Errorf("unknown gap policy %q", rs.LaborCumulative.GapPolicy)
	}
	if rs.LaborCumulative.FromMonth < 1 || rs.LaborCumulative.FromMonth > 12 {
		return fmt.Errorf("labor_cumulative.from_month must be 1..12")
	}
	return nil
}

// For returns the rule set governing year.
func (r *Rules) For(year int) (*RuleSet, error) {
	rs, ok := r.byYear[year]
	if !ok {
		return nil, fieldErr("year", "no rule set for %d (rule sets cover %s)", year, r.years())
	}
	return rs, nil
}

func (r *Rules) years() string {
	ys := make([]int, 0, len(r.byYear))
	for y := range r.byYear {
		ys = append(ys, y)
	}
	sort.Ints(ys)
	if len(ys) == 0 {
		return "no years"
	}
	return fmt.Sprintf("%d–%d", ys[0], ys[len(ys)-1])
}
