package tax

import (
	"fmt"

	"github.com/shopspring/decimal"
)

// Period is a calendar month.
type Period struct{ Year, Month int }

func (p Period) String() string { return fmt.Sprintf("%d-%02d", p.Year, p.Month) }

// index counts months from year 0, so that periods subtract.
func (p Period) index() int { return p.Year*12 + p.Month - 1 }

// PeriodIncome is a worker's labour income on this platform in one month.
type PeriodIncome struct {
	Period Period
	Income decimal.Decimal
}

// Notice is the 5,000,000 guidance line crossed: 公告2025年第16号 asks the
// platform to guide a worker whose service income on it over 12 months
// exceeds the line (to register a business, file their own returns).
type Notice struct {
	Period  Period
	Rolling decimal.Decimal // income over the 12 months ending with Period
	Line    decimal.Decimal
	Source  string
}

// Message says what the notice means, for a person.
func (n *Notice) Message() string {
	return fmt.Sprintf("income on this platform over the 12 months to %s is %s, over %s: guide the worker (%s)",
		n.Period, fmtYuan(n.Rolling), fmtYuan(n.Line), n.Source)
}

// Guidance reports the last month in history (in order, one entry per month
// at most) at which the worker's rolling 12-month income went over the rule
// set's guidance line, having been at or under it the month before; nil when
// it never did or the rule set has no line. The payouts layer keeps the
// history across years and raises the notice when the month reported is the
// one it pays in; a quote sees only the months it is given.
func (rs *RuleSet) Guidance(history []PeriodIncome) *Notice {
	line := rs.LaborCumulative.GuidanceLine
	if line == nil {
		return nil
	}
	var last *Notice
	over := false
	for i, h := range history {
		rolling := decimal.Zero
		for j := i; j >= 0 && h.Period.index()-history[j].Period.index() < 12; j-- {
			rolling = rolling.Add(history[j].Income)
		}
		now := rolling.GreaterThan(*line)
		if now && !over {
			last = &Notice{Period: h.Period, Rolling: rolling, Line: *line, Source: rs.LaborCumulative.GuidanceSource}
		}
		over = now
	}
	return last
}
