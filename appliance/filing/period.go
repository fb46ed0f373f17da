package filing

import (
	"fmt"
	"regexp"
	"strconv"
	"time"

	"cxt/appliance/payouts"
	"cxt/storage/state"
)

var periodPattern = regexp.MustCompile(`^[0-9]{4}-(0[1-9]|1[0-2])$`)

// Period is a month in China time.
type Period struct{ Year, Month int }

// ParsePeriod reads "yyyy-mm"; period_invalid otherwise.
func ParsePeriod(s string) (Period, error) {
	if !periodPattern.MatchString(s) {
		return Period{}, state.Reject(CodePeriod, "period %q: a month as yyyy-mm, such as 2026-03", s)
	}
	y, _ := strconv.Atoi(s[:4])
	m, _ := strconv.Atoi(s[5:])
	if y < 2000 {
		return Period{}, state.Reject(CodePeriod, "period %q: no year before 2000", s)
	}
	return Period{y, m}, nil
}

func (p Period) String() string { return fmt.Sprintf("%04d-%02d", p.Year, p.Month) }

// YYYYMM is the period as payouts.Payment.Month holds it.
func (p Period) YYYYMM() int { return p.Year*100 + p.Month }

// End is the first instant after the month, in China.
func (p Period) End() time.Time {
	return time.Date(p.Year, time.Month(p.Month)+1, 1, 0, 0, 0, 0, payouts.China)
}

// Over reports whether the month has ended at t.
func (p Period) Over(t time.Time) bool { return !t.Before(p.End()) }

// Due is the filing deadline: the 15th of the next month (征期). Holidays
// that move it are not modelled: a filing on the 16th after a holiday is
// marked late all the same, which errs on the side of telling.
func (p Period) Due() string { return p.End().AddDate(0, 0, 14).Format(time.DateOnly) }

// LateAt reports whether a filing at t is after the due date (China days).
func (p Period) LateAt(t time.Time) bool {
	return t.In(payouts.China).Format(time.DateOnly) > p.Due()
}

// checkAgent refuses any agent but the platform.
func checkAgent(agent string) error {
	if agent != Platform {
		return state.Reject(CodeAgentUnknown, "no withholding agent %q: cxt withholds and files as %q only; a merchant paying its workers itself files outside cxt", agent, Platform)
	}
	return nil
}

func periodKey(agent, period string) []byte { return []byte(agent + "/" + period) }

func versionKey(agent, period string, v int) []byte {
	return fmt.Appendf(nil, "%s/%s/%04d", agent, period, v)
}

func paymentKey(agent, period string, n int) []byte {
	return fmt.Appendf(nil, "%s/%s/%06d", agent, period, n)
}
