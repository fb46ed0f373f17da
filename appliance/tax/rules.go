package tax

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"slices"
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

// RuleSet is the law of one year as one version of cxt understood it.
type RuleSet struct {
	Version string `json:"version"`
	Year    int    `json:"year"`
	// Adopted is the day this version entered cxt; BasedOn names the
	// version it restates with changes, Note says what changed.
	Adopted string `json:"adopted,omitempty"`
	BasedOn string `json:"based_on,omitempty"`
	Note    string `json:"note,omitempty"`

	LaborCumulative struct {
		FromMonth        int             `json:"from_month"`
		Source           string          `json:"source"`
		CostRate         decimal.Decimal `json:"cost_rate"`
		MonthlyDeduction decimal.Decimal `json:"monthly_deduction"`
		GapPolicy        GapPolicy       `json:"gap_policy"`
		GapSource        string          `json:"gap_source,omitempty"`
		// GapPolicies are the readings a request may choose instead of
		// GapPolicy; none: only GapPolicy.
		GapPolicies []GapPolicy `json:"gap_policies,omitempty"`
		// ZeroMonthIsGap: a month listed with zero income is a month
		// without income. The first rule sets counted it as a month of
		// income; they keep doing so, to compute again what they computed.
		ZeroMonthIsGap bool `json:"zero_month_is_gap,omitempty"`
		// GuidanceLine is the rolling 12-month income above which the
		// platform must guide the worker (公告2025年第16号); nil: none.
		GuidanceLine   *decimal.Decimal `json:"guidance_line,omitempty"`
		GuidanceSource string           `json:"guidance_source,omitempty"`
		Table          Table            `json:"table"`
	} `json:"labor_cumulative"`
	LaborPerPayment  PerTime  `json:"labor_per_payment"`
	LaborNonresident *PerTime `json:"labor_nonresident,omitempty"`
	BusinessIncome   struct {
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
		Source   string          `json:"source"`
		LevyRate decimal.Decimal `json:"levy_rate"`
		// MonthlyThreshold is the first rule sets' form of Monthly: sales up
		// to and including it are exempt.
		MonthlyThreshold   *decimal.Decimal           `json:"monthly_threshold,omitempty"`
		Monthly            *Threshold                 `json:"monthly,omitempty"`
		PerTime            *Threshold                 `json:"per_time,omitempty"`
		CityRates          map[string]decimal.Decimal `json:"city_rates"`
		EducationRate      decimal.Decimal            `json:"education_rate"`
		LocalEducationRate decimal.Decimal            `json:"local_education_rate"`
		SurchargeRelief    decimal.Decimal            `json:"surcharge_relief"`
		EducationExemption *EducationExemption        `json:"education_exemption,omitempty"`
	} `json:"vat_agent"`
}

// PerTime is a method that taxes each time (一次) of income on its own:
// cost is FixedCost for income up to Threshold, else CostRate of income.
type PerTime struct {
	Source    string           `json:"source"`
	Threshold *decimal.Decimal `json:"threshold,omitempty"`
	FixedCost decimal.Decimal  `json:"fixed_cost"`
	CostRate  decimal.Decimal  `json:"cost_rate"`
	Table     Table            `json:"table"`
	// SameProjectMonth: one project's payments within a month are one
	// time (same_project_earlier_in_month); the first rule sets lack it.
	SameProjectMonth bool `json:"same_project_month,omitempty"`
}

// Threshold is a VAT threshold (起征点 or exemption line) on sales
// excluding VAT.
type Threshold struct {
	Amount decimal.Decimal `json:"amount"`
	Exempt ExemptRule      `json:"exempt"`
	// ByProvince holds the figures provinces set where the law lets them,
	// keyed by the two-digit GB/T 2260 province code.
	ByProvince map[string]decimal.Decimal `json:"by_province,omitempty"`
	Source     string                     `json:"source"`
}

// ExemptRule says which side of a threshold is exempt.
type ExemptRule string

const (
	// ExemptAtOrBelow: sales up to and including the amount are exempt
	// (2023年第19号: "10万元以下（含本数）").
	ExemptAtOrBelow ExemptRule = "at_or_below"
	// ExemptBelow: sales that do not reach the amount are exempt; sales
	// that reach it are taxed in full (增值税法 art. 23).
	ExemptBelow ExemptRule = "below"
)

// exempts reports whether sales are on the exempt side of amount.
func (e ExemptRule) exempts(sales, amount decimal.Decimal) bool {
	if e == ExemptBelow {
		return sales.LessThan(amount)
	}
	return sales.LessThanOrEqual(amount)
}

func (e ExemptRule) words() string {
	if e == ExemptBelow {
		return "below"
	}
	return "at or below"
}

// EducationExemption is 财税〔2016〕12号: payers filing monthly whose monthly
// sales do not exceed the amount pay no education surcharge and no local
// education surcharge. It is a dated flag with the doubt that remains.
type EducationExemption struct {
	MonthlySalesUpTo decimal.Decimal `json:"monthly_sales_up_to"`
	From             string          `json:"from"`
	Source           string          `json:"source"`
	Doubt            string          `json:"doubt,omitempty"`
}

// GapPolicy says how a month without labour income on the platform affects
// the cumulative method.
type GapPolicy string

const (
	// GapRestartAll: after a month without income, income, cost,
	// deduction and withheld all start again, as if the year began then
	// (the default; see docs/tax.md for the text that decided it).
	GapRestartAll GapPolicy = "restart_all"
	// GapRestartMonths: the month count starts again at 1; cumulative
	// income and withheld run on over the year.
	GapRestartMonths GapPolicy = "restart_months"
	// GapIncomeMonths: every month of the year with income counts.
	GapIncomeMonths GapPolicy = "income_months"
	// gapRestartLegacy is how the first rule sets spelled restart_months.
	gapRestartLegacy GapPolicy = "restart"
)

// offers reports whether the rule set lets a request choose policy p.
func (rs *RuleSet) offers(p GapPolicy) bool {
	return p == rs.LaborCumulative.GapPolicy || slices.Contains(rs.LaborCumulative.GapPolicies, p)
}

// ParseGapPolicy checks a policy name from a request.
func ParseGapPolicy(field, s string) (GapPolicy, error) {
	switch p := GapPolicy(s); p {
	case GapRestartAll, GapRestartMonths, GapIncomeMonths:
		return p, nil
	}
	return "", fieldErr(field, "%q is not one of restart_all, restart_months, income_months", s)
}

// Rules is a set of rule sets: every version, and for each year the one in
// force (the last listed).
type Rules struct {
	byYear    map[int]*RuleSet
	byVersion map[string]*RuleSet
}

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

// Parse reads rule sets from JSON and checks them. A rule set that names
// based_on is that version with the fields it gives merged over it (RFC 7386
// JSON merge patch: objects merge, anything else replaces, null removes).
// For each year the last rule set listed is the one in force; earlier ones
// stay to recompute what was computed under them.
func Parse(data []byte) (*Rules, error) {
	var doc struct {
		RuleSets []json.RawMessage `json:"rule_sets"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("tax: rules: %w", err)
	}
	r := &Rules{byYear: map[int]*RuleSet{}, byVersion: map[string]*RuleSet{}}
	raws := map[string]map[string]any{}
	for i, raw := range doc.RuleSets {
		var obj map[string]any
		if err := json.Unmarshal(raw, &obj); err != nil {
			return nil, fmt.Errorf("tax: rule set %d: %w", i, err)
		}
		if base, ok := obj["based_on"].(string); ok {
			b, ok := raws[base]
			if !ok {
				return nil, fmt.Errorf("tax: rule set %d is based on %q, which is not listed before it", i, base)
			}
			obj = mergePatch(b, obj).(map[string]any)
		}
		merged, err := json.Marshal(obj)
		if err != nil {
			return nil, err
		}
		var rs RuleSet
		if err := json.Unmarshal(merged, &rs); err != nil {
			return nil, fmt.Errorf("tax: rule set %d: %w", i, err)
		}
		if err := rs.check(); err != nil {
			return nil, fmt.Errorf("tax: rule set %s: %w", rs.Version, err)
		}
		if _, dup := r.byVersion[rs.Version]; dup {
			return nil, fmt.Errorf("tax: two rule sets named %s", rs.Version)
		}
		raws[rs.Version] = obj
		r.byVersion[rs.Version] = &rs
		r.byYear[rs.Year] = &rs
	}
	return r, nil
}

// mergePatch applies an RFC 7386 merge patch to a copy of target.
func mergePatch(target, patch any) any {
	p, ok := patch.(map[string]any)
	if !ok {
		return patch
	}
	t, _ := target.(map[string]any)
	out := make(map[string]any, len(t)+len(p))
	for k, v := range t {
		out[k] = v
	}
	for k, v := range p {
		if v == nil {
			delete(out, k)
			continue
		}
		out[k] = mergePatch(out[k], v)
	}
	return out
}

// provinces are the two-digit GB/T 2260 codes of the provinces, autonomous
// regions and municipalities (and Taiwan, Hong Kong, Macao).
var provinces = map[string]bool{}

func init() {
	for _, r := range [][2]int{{11, 15}, {21, 23}, {31, 37}, {41, 46}, {50, 54}, {61, 65}, {71, 71}, {81, 82}} {
		for c := r[0]; c <= r[1]; c++ {
			provinces[fmt.Sprint(c)] = true
		}
	}
}

func (rs *RuleSet) check() error {
	if rs.Version == "" || rs.Year < 2000 {
		return fmt.Errorf("needs a version and a year")
	}
	tables := map[string]Table{
		"labor_cumulative": rs.LaborCumulative.Table, "labor_per_payment": rs.LaborPerPayment.Table,
		"business_income": rs.BusinessIncome.Table,
	}
	if rs.LaborNonresident != nil {
		tables["labor_nonresident"] = rs.LaborNonresident.Table
	}
	for name, t := range tables {
		if len(t) == 0 || t[len(t)-1].Upto != nil {
			return fmt.Errorf("%s table must end with an open bracket", name)
		}
		for i := 1; i < len(t)-1; i++ {
			if !t[i].Upto.GreaterThan(*t[i-1].Upto) {
				return fmt.Errorf("%s table brackets must rise", name)
			}
		}
	}
	lc := &rs.LaborCumulative
	if lc.GapPolicy == gapRestartLegacy {
		lc.GapPolicy = GapRestartMonths
	}
	for _, p := range append([]GapPolicy{lc.GapPolicy}, lc.GapPolicies...) {
		if _, err := ParseGapPolicy("gap_policy", string(p)); err != nil {
			return fmt.Errorf("unknown gap policy %q", p)
		}
	}
	if lc.FromMonth < 1 || lc.FromMonth > 12 {
		return fmt.Errorf("labor_cumulative.from_month must be 1..12")
	}
	va := &rs.VATAgent
	if va.Monthly == nil && va.MonthlyThreshold != nil {
		va.Monthly = &Threshold{Amount: *va.MonthlyThreshold, Exempt: ExemptAtOrBelow, Source: va.Source}
	}
	if va.Monthly == nil {
		return fmt.Errorf("vat_agent needs a monthly threshold")
	}
	for name, th := range map[string]*Threshold{"monthly": va.Monthly, "per_time": va.PerTime} {
		if th == nil {
			continue
		}
		if th.Exempt != ExemptAtOrBelow && th.Exempt != ExemptBelow {
			return fmt.Errorf("vat_agent.%s.exempt must be at_or_below or below, not %q", name, th.Exempt)
		}
		for p := range th.ByProvince {
			if !provinces[p] {
				return fmt.Errorf("vat_agent.%s.by_province: %q is not a two-digit province code", name, p)
			}
		}
	}
	return nil
}

// For returns the rule set in force for year.
func (r *Rules) For(year int) (*RuleSet, error) {
	rs, ok := r.byYear[year]
	if !ok {
		return nil, fieldErr("year", "no rule set for %d (rule sets cover %s)", year, r.years())
	}
	return rs, nil
}

// Version returns the rule set of that version, in force or not, so that a
// result computed under it can be computed again.
func (r *Rules) Version(v string) (*RuleSet, error) {
	rs, ok := r.byVersion[v]
	if !ok {
		return nil, fieldErr("rule_set", "no rule set %q (versions: %s)", v, r.versions())
	}
	return rs, nil
}

func (r *Rules) versions() string {
	vs := make([]string, 0, len(r.byVersion))
	for v := range r.byVersion {
		vs = append(vs, v)
	}
	sort.Strings(vs)
	return fmt.Sprint(vs)
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
