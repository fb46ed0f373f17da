package tax

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/shopspring/decimal"

	"cxt/appliance/strictjson"
)

// Request is one quote request, as `cxt tax quote` and POST /api/v1/tax/quotes
// take it. Amounts are strings of yuan with at most two decimals.
type Request struct {
	Method string `json:"method"`
	Year   int    `json:"year,omitempty"`
	Month  int    `json:"month,omitempty"`
	// RuleSet pins a version, in force or not, to compute a result again.
	RuleSet string `json:"rule_set,omitempty"`
	// labor_per_payment, labor_nonresident; vat_agent per time
	Income             string `json:"income,omitempty"`
	SameProjectEarlier string `json:"same_project_earlier_in_month,omitempty"`
	// labor_cumulative
	Months []struct {
		Month  int    `json:"month"`
		Income string `json:"income"`
	} `json:"months,omitempty"`
	GapPolicy string `json:"gap_policy,omitempty"`
	// business_income
	AnnualTaxable      string `json:"annual_taxable,omitempty"`
	AnnualRevenue      string `json:"annual_revenue,omitempty"`
	TaxOffice          string `json:"tax_office,omitempty"`
	Industry           string `json:"industry,omitempty"`
	IndividualBusiness bool   `json:"individual_business,omitempty"`
	// vat_agent
	MonthIncome string `json:"month_income,omitempty"`
	Location    string `json:"location,omitempty"`
	Filing      string `json:"filing,omitempty"`
	OtherSales  string `json:"other_sales,omitempty"`
	Province    string `json:"province,omitempty"`
}

// Quote is a result: the amounts of the method asked for, the rule set used,
// and the breakdown in JSON and as text.
type Quote struct {
	Method          string       `json:"method"`
	RuleSet         string       `json:"rule_set"`
	IIT             string       `json:"iit,omitempty"`
	Months          []MonthQuote `json:"months,omitempty"`
	TotalIIT        string       `json:"total_iit,omitempty"`
	Notice          string       `json:"notice,omitempty"`
	AnnualTaxable   string       `json:"annual_taxable,omitempty"`
	Sales           string       `json:"sales,omitempty"`
	Exempt          *bool        `json:"exempt,omitempty"`
	VAT             string       `json:"vat,omitempty"`
	CityMaintenance string       `json:"city_maintenance,omitempty"`
	Education       string       `json:"education,omitempty"`
	LocalEducation  string       `json:"local_education,omitempty"`
	Total           string       `json:"total,omitempty"`
	Breakdown       *Breakdown   `json:"breakdown"`
	Text            string       `json:"text"`
}

// MonthQuote is one month of a cumulative computation.
type MonthQuote struct {
	Month  int    `json:"month"`
	Income string `json:"income"`
	IIT    string `json:"iit"`
}

// maxRequest bounds a request; a year of months is far smaller.
const maxRequest = 64 << 10

// DecodeRequest reads exactly one JSON request object with no unknown
// fields. Errors are FieldErrors that name what was wrong.
func DecodeRequest(r io.Reader) (*Request, error) {
	data, err := io.ReadAll(io.LimitReader(r, maxRequest+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxRequest {
		return nil, fieldErr("", "request exceeds %d bytes", maxRequest)
	}
	var req Request
	if err := strictjson.Check(data, &req); err != nil {
		var ke *strictjson.KeyError
		errors.As(err, &ke)
		return nil, fieldErr(strings.TrimPrefix(ke.Path+"."+ke.Key, "."), "%s", ke.Msg)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		return nil, jsonFieldErr(err)
	}
	if dec.More() {
		return nil, fieldErr("", "the request holds more than one JSON value")
	}
	return &req, nil
}

// fields are the request fields each method takes, besides method, year
// and rule_set; any other field given is refused rather than ignored.
var fields = map[string][]string{
	"labor_per_payment": {"income", "same_project_earlier_in_month"},
	"labor_nonresident": {"income", "same_project_earlier_in_month"},
	"labor_cumulative":  {"months", "gap_policy"},
	"business_income":   {"annual_taxable", "annual_revenue", "tax_office", "industry", "individual_business"},
	"vat_agent":         {"month", "month_income", "income", "location", "filing", "other_sales", "province"},
}

// onlyItsFields refuses a field the request's method does not take.
func onlyItsFields(req *Request) error {
	b, _ := json.Marshal(req) // omitempty: only the fields given
	var given map[string]json.RawMessage
	json.Unmarshal(b, &given)
	for _, f := range slices.Sorted(maps.Keys(given)) {
		if f != "method" && f != "year" && f != "rule_set" && !slices.Contains(fields[req.Method], f) {
			return fieldErr(f, "is not a field of %s (it takes %s)", req.Method, strings.Join(fields[req.Method], ", "))
		}
	}
	return nil
}

func jsonFieldErr(err error) error {
	var typ *json.UnmarshalTypeError
	if errors.As(err, &typ) {
		want := typ.Type.String()
		if want == "string" {
			want = "a JSON string"
			if amountFields[typ.Field] {
				want = `a string such as "3000.00"`
			}
		}
		return fieldErr(typ.Field, "must be %s, not a JSON %s", want, typ.Value)
	}
	if msg, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		return fieldErr(strings.Trim(msg, `"`), "is not a field of this request")
	}
	return fieldErr("", "the request is not valid JSON: %v", err)
}

// amountFields hold yuan amounts.
var amountFields = map[string]bool{
	"income": true, "same_project_earlier_in_month": true, "months.income": true, "annual_taxable": true,
	"annual_revenue": true, "month_income": true, "other_sales": true,
}

const methods = "labor_cumulative, labor_per_payment, labor_nonresident, business_income, vat_agent"

// Quote computes a request under rules; now supplies the year when a
// method's request may omit it.
func (r *Rules) Quote(req *Request, now time.Time) (*Quote, error) {
	switch req.Method {
	case "labor_per_payment", "labor_cumulative", "labor_nonresident", "business_income", "vat_agent":
	case "":
		return nil, fieldErr("method", "is required: one of %s", methods)
	default:
		return nil, fieldErr("method", "%q is not one of %s", req.Method, methods)
	}
	if err := onlyItsFields(req); err != nil {
		return nil, err
	}
	rs, err := r.ruleSet(req, now)
	if err != nil {
		return nil, err
	}
	q, err := quote(rs, req)
	if err != nil {
		return nil, err
	}
	q.Method, q.RuleSet, q.Text = req.Method, rs.Version, q.Breakdown.Text()
	return q, nil
}

// ruleSet finds the rule set a request asks for: the version it pins, or
// the one in force for its year.
func (r *Rules) ruleSet(req *Request, now time.Time) (*RuleSet, error) {
	if req.RuleSet != "" {
		rs, err := r.Version(req.RuleSet)
		if err != nil {
			return nil, err
		}
		if req.Year != 0 && req.Year != rs.Year {
			return nil, fieldErr("rule_set", "%s governs %d, not %d", rs.Version, rs.Year, req.Year)
		}
		return rs, nil
	}
	year := req.Year
	if year == 0 {
		if req.Method != "labor_per_payment" {
			return nil, fieldErr("year", "is required for %s", req.Method)
		}
		year = now.Year()
	}
	return r.For(year)
}

func quote(rs *RuleSet, req *Request) (*Quote, error) {
	switch req.Method {
	case "labor_per_payment", "labor_nonresident":
		income, err := ParseAmount("income", req.Income)
		if err != nil {
			return nil, err
		}
		earlier := decimal.Zero
		if req.SameProjectEarlier != "" {
			if earlier, err = ParseAmount("same_project_earlier_in_month", req.SameProjectEarlier); err != nil {
				return nil, err
			}
		}
		withhold := rs.WithholdPerPayment
		if req.Method == "labor_nonresident" {
			withhold = rs.WithholdNonresident
		}
		iit, b, err := withhold(income, earlier)
		if err != nil {
			return nil, err
		}
		return &Quote{IIT: fmtYuan(iit), Breakdown: b}, nil

	case "labor_cumulative":
		if len(req.Months) == 0 {
			return nil, fieldErr("months", "at least one month is required")
		}
		in := make([]MonthIncome, len(req.Months))
		for i, m := range req.Months {
			income, err := ParseAmount(fmt.Sprintf("months[%d].income", i), m.Income)
			if err != nil {
				return nil, err
			}
			in[i] = MonthIncome{Month: m.Month, Income: income}
		}
		var gap GapPolicy
		if req.GapPolicy != "" {
			var err error
			if gap, err = ParseGapPolicy("gap_policy", req.GapPolicy); err != nil {
				return nil, err
			}
		}
		months, b, err := rs.WithholdCumulative(in, gap)
		if err != nil {
			return nil, err
		}
		q := &Quote{Breakdown: b}
		total := decimal.Zero
		history := make([]PeriodIncome, 0, len(months))
		for _, m := range months {
			q.Months = append(q.Months, MonthQuote{Month: m.Month, Income: fmtYuan(m.Income), IIT: fmtYuan(m.IIT)})
			total = total.Add(m.IIT)
			history = append(history, PeriodIncome{Period{rs.Year, m.Month}, m.Income})
		}
		q.TotalIIT = fmtYuan(total)
		if n := rs.Guidance(history); n != nil {
			q.Notice = n.Message()
			b.Sections = append(b.Sections, Section{Title: "notice", Steps: []Step{{
				Name: "12-month income over the guidance line", Value: fmtYuan(n.Rolling), Formula: n.Message(),
			}}})
		}
		return q, nil

	case "business_income":
		var taxable decimal.Decimal
		var err error
		var deemed *Step
		switch {
		case req.AnnualTaxable != "" && req.AnnualRevenue != "":
			return nil, fieldErr("annual_revenue", "give annual_taxable or annual_revenue with tax_office and industry, not both")
		case req.AnnualTaxable != "":
			taxable, err = ParseAmount("annual_taxable", req.AnnualTaxable)
		case req.AnnualRevenue != "":
			var revenue, rate decimal.Decimal
			if revenue, err = ParseAmount("annual_revenue", req.AnnualRevenue); err == nil {
				taxable, rate, err = rs.DeemedTaxable(revenue, req.TaxOffice, req.Industry)
				deemed = &Step{Name: "deemed taxable income (核定)", Value: fmtYuan(taxable),
					Formula: fmt.Sprintf("round(%s × %s) for office %s, industry %s", fmtYuan(revenue), fmtRate(rate), req.TaxOffice, req.Industry)}
			}
		default:
			return nil, fieldErr("annual_taxable", "is required (or annual_revenue with tax_office and industry)")
		}
		if err != nil {
			return nil, err
		}
		iit, b := rs.BusinessTax(taxable, req.IndividualBusiness)
		if deemed != nil {
			b.Sections[0].Steps = append([]Step{*deemed}, b.Sections[0].Steps...)
		}
		return &Quote{IIT: fmtYuan(iit), AnnualTaxable: fmtYuan(taxable), Breakdown: b}, nil

	case "vat_agent":
		if req.Month < 1 || req.Month > 12 {
			return nil, fieldErr("month", "is required, 1..12")
		}
		in := VATInput{Location: req.Location, Filing: Filing(req.Filing), Province: req.Province}
		var err error
		switch in.Filing {
		case FilingMonthly, FilingPerTime, "":
		default:
			return nil, fieldErr("filing", "%q is not one of monthly, per_time", req.Filing)
		}
		switch in.Filing {
		case FilingPerTime:
			if req.OtherSales != "" {
				return nil, fieldErr("other_sales", "applies to monthly filing only: per-time filing judges each time or day on its own")
			}
			if req.MonthIncome != "" {
				return nil, fieldErr("month_income", "per-time filing takes income, the time's or day's tax-inclusive income")
			}
			in.Income, err = ParseAmount("income", req.Income)
		default:
			if req.Income != "" {
				return nil, fieldErr("income", "monthly filing takes month_income, the month's tax-inclusive income")
			}
			in.Income, err = ParseAmount("month_income", req.MonthIncome)
		}
		if err != nil {
			return nil, err
		}
		if req.OtherSales != "" {
			if in.OtherSales, err = ParseAmount("other_sales", req.OtherSales); err != nil {
				return nil, err
			}
		}
		res, b, err := rs.AgentVAT(in)
		if err != nil {
			return nil, err
		}
		b.Inputs["period"] = fmt.Sprintf("%d-%02d", rs.Year, req.Month)
		exempt := res.Exempt
		return &Quote{
			Sales: fmtYuan(res.Sales), Exempt: &exempt, VAT: fmtYuan(res.VAT),
			CityMaintenance: fmtYuan(res.City.Paid), Education: fmtYuan(res.Education.Paid),
			LocalEducation: fmtYuan(res.LocalEducation.Paid), Total: fmtYuan(res.Total), Breakdown: b,
		}, nil
	}
	return nil, fieldErr("method", "unknown method %q", req.Method)
}
