package filing

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/shopspring/decimal"

	"cxt/appliance/ledger"
	"cxt/appliance/payouts"
	"cxt/appliance/tax"
	"cxt/storage/state"
)

// CodeRuleSet refuses a declaration over payments withheld under a rule set
// this binary does not have.
var CodeRuleSet = state.NewCode(state.KindConflict, "rule_set_unknown")

// monthSums is one worker's live payments counted in one month.
type monthSums struct {
	income, amount, iit, vat, sur int64 // income = amount − VAT: the IIT base
	ruleSet                       string
}

// Walk calls fn with every payment: payouts.EachPayment inside a command,
// payouts.Payments in a read.
type Walk func(fn func(*payouts.Payment) error) error

// Compute builds an agent's declaration of period from the payments: one
// line per worker with live income counted in the month. The cumulative
// columns are the tax engine's (tax.RuleSet.NextMonth) over the worker's
// live payments of the year, month by month; withheld is what the
// payments withheld. office names the tax office the VAT summary is filed
// with. The version fields (version, filed, due…) are the caller's.
func Compute(walk Walk, rules *tax.Rules, office, agent string, p Period) (*Declaration, error) {
	if err := checkAgent(agent); err != nil {
		return nil, err
	}
	target := p.YYYYMM()
	years := map[string]map[int]*monthSums{} // worker -> month (1..12) -> sums
	err := walk(func(pay *payouts.Payment) error {
		if !pay.Live() || pay.Month/100 != p.Year || pay.Month > target {
			return nil
		}
		months := years[pay.Worker]
		if months == nil {
			months = map[int]*monthSums{}
			years[pay.Worker] = months
		}
		s := months[pay.Month%100]
		if s == nil {
			s = &monthSums{ruleSet: pay.RuleSet}
			months[pay.Month%100] = s
		}
		s.income += pay.AmountFen - pay.VATFen
		s.amount += pay.AmountFen
		s.iit += pay.IITFen
		s.vat += pay.VATFen
		s.sur += pay.SurFen
		return nil
	})
	if err != nil {
		return nil, err
	}
	workers := make([]string, 0, len(years))
	for w, months := range years {
		if months[p.Month] != nil {
			workers = append(workers, w)
		}
	}
	sort.Strings(workers)
	d := &Declaration{Agent: agent, Period: p.String(), RuleSets: []string{},
		IIT: IITForm{Agent: agent, Period: p.String(), Lines: make([]Line, 0, len(workers))},
		VAT: VATForm{Agent: agent, Period: p.String(), Due: p.Due(), Lines: make([]VATLine, 0, len(workers))}}
	var income, amount int64
	for _, w := range workers {
		l, err := workerLine(rules, w, years[w], p)
		if err != nil {
			return nil, err
		}
		d.IIT.Lines = append(d.IIT.Lines, l)
		s := years[w][p.Month]
		income += s.income
		amount += s.amount
		d.IITFen += s.iit
		d.VATFen += s.vat
		d.SurFen += s.sur
		d.VAT.Lines = append(d.VAT.Lines, VATLine{Worker: w, Office: office, Income: ledger.Yuan(s.amount),
			VAT: ledger.Yuan(s.vat), Surcharges: ledger.Yuan(s.sur)})
		if !slices.Contains(d.RuleSets, s.ruleSet) {
			d.RuleSets = append(d.RuleSets, s.ruleSet)
		}
	}
	sort.Strings(d.RuleSets)
	d.IIT.Totals = IITTotals{Lines: len(workers), Income: ledger.Yuan(income), Withheld: ledger.Yuan(d.IITFen)}
	d.VAT.Totals = VATTotals{Lines: len(workers), Income: ledger.Yuan(amount), VAT: ledger.Yuan(d.VATFen), Surcharges: ledger.Yuan(d.SurFen)}
	return d, nil
}

// workerLine runs the engine over a worker's months up to the period's.
func workerLine(rules *tax.Rules, worker string, months map[int]*monthSums, p Period) (Line, error) {
	var (
		st         tax.CumulativeState
		withheld   int64 // running Σ IITFen
		cumIncome  int64 // running income, for the per-payment method
		last       tax.CumulativeMonth
		cumulative bool
		lineMethod string
	)
	for m := 1; m <= p.Month; m++ {
		s := months[m]
		if s == nil {
			continue
		}
		rs, err := rules.Version(s.ruleSet)
		if err != nil {
			return Line{}, state.Reject(CodeRuleSet, "worker %s, %s-%02d: %v", worker, fmt.Sprint(p.Year), m, err)
		}
		withheld += s.iit
		cumIncome += s.income
		if m >= rs.LaborCumulative.FromMonth {
			cm, next, err := rs.NextMonth(st, m, ledger.Decimal(s.income), rs.LaborCumulative.GapPolicy)
			if err != nil {
				// The payments' figures as the engine cannot take them: a
				// refusal every replica makes alike, not a stop.
				return Line{}, state.Reject(CodeRuleSet, "worker %s, %d-%02d: the tax engine refuses the month: %v", worker, p.Year, m, err)
			}
			st, last, cumulative, lineMethod = next, cm, true, "labor_cumulative"
		} else {
			cumulative, lineMethod = false, "labor_per_payment"
		}
	}
	s := months[p.Month]
	l := Line{Worker: worker, Method: lineMethod, Month: p.String(), Income: ledger.Yuan(s.income),
		CumulativeWithheld: ledger.Yuan(withheld), Withheld: ledger.Yuan(s.iit)}
	if cumulative {
		l.CumulativeIncome = amount(last.Cumul)
		l.CumulativeCost = amount(last.Cost)
		l.CumulativeDeduction = amount(last.Deducted)
		l.CumulativeTaxable = amount(last.Base)
		l.Rate = amount(last.Row.Rate)
		l.QuickDeduction = amount(last.Row.Quick)
	} else {
		// The per-payment method has no cumulative base: the year's income
		// so far, and zeros where the cumulative method would compute.
		zero := "0.00"
		l.CumulativeIncome = ledger.Yuan(cumIncome)
		l.CumulativeCost, l.CumulativeDeduction, l.CumulativeTaxable, l.Rate, l.QuickDeduction = zero, zero, zero, zero, zero
	}
	return l, nil
}

// amount writes a decimal with at least two decimals and no more than it
// has: 246.914 stays 246.914 (20% of an income is exact, not rounded),
// 0.1 is 0.10.
func amount(d decimal.Decimal) string {
	s := d.String()
	dot := strings.IndexByte(s, '.')
	if dot < 0 {
		return s + ".00"
	}
	s = strings.TrimRight(s, "0")
	if n := len(s) - dot - 1; n < 2 {
		s += strings.Repeat("0", 2-n)
	}
	return s
}
