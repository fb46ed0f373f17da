package reports

import (
	"fmt"
	"time"

	"cxt/appliance/payouts"
)

// China is the time zone quarters are cut in: China Standard Time, as the
// tax office counts them and as payouts count a worker's months.
var China = payouts.China

// Quarter is a calendar quarter of a year.
type Quarter struct {
	Year int
	Q    int // 1-4
}

// ParseQuarter reads "2026Q3"; report_quarter_invalid otherwise.
func ParseQuarter(s string) (Quarter, error) {
	bad := reject(CodeQuarter, "quarter %q: a year and a quarter, as 2026Q3", s)
	if len(s) != 6 || s[4] != 'Q' || s[5] < '1' || s[5] > '4' {
		return Quarter{}, bad
	}
	y := 0
	for _, c := range s[:4] {
		if c < '0' || c > '9' {
			return Quarter{}, bad
		}
		y = y*10 + int(c-'0')
	}
	if y < 2000 {
		return Quarter{}, bad
	}
	return Quarter{Year: y, Q: int(s[5] - '0')}, nil
}

// QuarterOf is the quarter, in China Standard Time, that t falls in.
func QuarterOf(t time.Time) Quarter {
	c := t.In(China)
	return Quarter{Year: c.Year(), Q: (int(c.Month())-1)/3 + 1}
}

func (q Quarter) String() string { return fmt.Sprintf("%04dQ%d", q.Year, q.Q) }

// Start is the quarter's first instant: 00:00 China Standard Time on its
// first day.
func (q Quarter) Start() time.Time {
	return time.Date(q.Year, time.Month(3*(q.Q-1)+1), 1, 0, 0, 0, 0, China)
}

// End is the next quarter's first instant; the quarter is [Start, End).
func (q Quarter) End() time.Time { return q.Start().AddDate(0, 3, 0) }

// LastDay is the quarter's last day, 00:00 China Standard Time.
func (q Quarter) LastDay() time.Time { return q.End().AddDate(0, 0, -1) }

// Contains reports whether t falls in the quarter.
func (q Quarter) Contains(t time.Time) bool { return !t.Before(q.Start()) && t.Before(q.End()) }

// Before reports whether q comes before p.
func (q Quarter) Before(p Quarter) bool { return q.Year < p.Year || q.Year == p.Year && q.Q < p.Q }
