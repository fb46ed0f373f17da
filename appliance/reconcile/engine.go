package reconcile

import (
	"slices"
	"strings"

	"cxt/appliance/channel"
)

// Class is what kind of difference a statement line or a payment shows.
type Class string

// The classes, in their order of precedence: a line that differs in more
// than one way is classified by the first (its other differences are in
// its record all the same).
const (
	// MissingPlatform: the statement names a reference the platform never
	// handed to this channel (an unknown reference).
	MissingPlatform Class = "missing_platform"
	// Amount: the channel moved another amount than the payment's net.
	Amount Class = "amount"
	// Status: the channel says paid, failed or returned, the platform
	// otherwise.
	Status Class = "status"
	// Date: same status, another day.
	Date Class = "date"
	// MissingChannel: a payment the platform has as settled by the channel
	// that day (paid, failed or returned) is on no line of the statement.
	MissingChannel Class = "missing_channel"
)

// Classes lists the classes in their order of precedence.
var Classes = []Class{MissingPlatform, Amount, Status, Date, MissingChannel}

// Payment is a payment as the reconciliation sees it: what the platform
// handed to the channel and where it stands.
type Payment struct {
	Ref      string // the payment's ID, the reference the channel was given
	Merchant string
	Fen      int64  // what the worker was to receive (the net)
	Status   string // payouts' status: accepted, submitted, paid, failed, returned
	Date     Day    // the day (China) it last moved
	// Taken: the channel took the order (it has a channel reference); a
	// payment the channel refused outright is on no statement.
	Taken bool
}

// Side is what one side says of a payment.
type Side struct {
	Fen    int64  `json:"fen"`
	Status string `json:"status"`
	Date   Day    `json:"date"` // yyyymmdd
}

// Difference is one difference found.
type Difference struct {
	Class    Class  `json:"class"`
	Line     int    `json:"line,omitempty"` // the statement's line; 0 for a missing line
	Ref      string `json:"ref"`
	BankRef  string `json:"bank_ref,omitempty"`
	Merchant string `json:"merchant,omitempty"`
	Channel  *Side  `json:"channel,omitempty"`  // nil when missing on the channel's side
	Platform *Side  `json:"platform,omitempty"` // nil when missing on the platform's side
	// Also names the other classes this line differs in, after its own.
	Also []Class `json:"also,omitempty"`
}

// Result is what a reconciliation found: the tallies and every difference,
// the lines' in file order, then the missing lines' by reference.
type Result struct {
	Lines       int          `json:"lines"`
	LinesFen    int64        `json:"-"`
	Expected    int          `json:"expected"` // the platform's payments settled that day
	Matched     int          `json:"matched"`  // lines with no difference
	MatchedFen  int64        `json:"-"`
	Differences []Difference `json:"differences"`
}

// Count returns how many differences of a class there are.
func (r *Result) Count(c Class) int {
	n := 0
	for i := range r.Differences {
		if r.Differences[i].Class == c {
			n++
		}
	}
	return n
}

// Settled reports whether a payment, as the platform has it, is one the
// channel's statement of its day should list: paid, failed or returned by
// the channel (not one it refused outright).
func (p *Payment) Settled() bool {
	switch p.Status {
	case channel.Paid, channel.Returned:
		return true
	case channel.Failed:
		return p.Taken
	}
	return false
}

// Reconcile holds a day's statement against the payments the platform
// handed to its channel (all of them, any day: a line for a payment of
// another day is a date difference, not an unknown one). It is a hash
// join: each payment probes the statement's index by reference, once; no
// sort but of the differences.
func Reconcile(day Day, f *File, payments []Payment) *Result {
	res := &Result{Lines: len(f.Lines), LinesFen: f.Total, Differences: []Difference{}}
	index := f.index
	if index == nil {
		index = make(map[string]int32, len(f.Lines))
		for i := range f.Lines {
			index[f.Lines[i].Ref] = int32(i)
		}
	}
	seen := make([]bool, len(f.Lines))
	var missing []Difference
	for i := range payments {
		p := &payments[i]
		at, ok := index[p.Ref]
		if !ok {
			if p.Date == day && p.Settled() {
				res.Expected++
				missing = append(missing, Difference{Class: MissingChannel, Ref: p.Ref, Merchant: p.Merchant,
					Platform: &Side{Fen: p.Fen, Status: p.Status, Date: p.Date}})
			}
			continue
		}
		if p.Date == day && p.Settled() {
			res.Expected++
		}
		l := &f.Lines[at]
		seen[at] = true
		classes := compare(l, p)
		if len(classes) == 0 {
			res.Matched++
			res.MatchedFen += l.Fen
			continue
		}
		res.Differences = append(res.Differences, Difference{Class: classes[0], Also: classes[1:], Line: l.Row, Ref: l.Ref, BankRef: l.BankRef,
			Merchant: p.Merchant, Channel: &Side{Fen: l.Fen, Status: l.Status, Date: l.Date}, Platform: &Side{Fen: p.Fen, Status: p.Status, Date: p.Date}})
	}
	for i := range f.Lines {
		if !seen[i] {
			l := &f.Lines[i]
			res.Differences = append(res.Differences, Difference{Class: MissingPlatform, Line: l.Row, Ref: l.Ref, BankRef: l.BankRef,
				Channel: &Side{Fen: l.Fen, Status: l.Status, Date: l.Date}})
		}
	}
	slices.SortFunc(res.Differences, func(a, b Difference) int { return a.Line - b.Line })
	slices.SortFunc(missing, func(a, b Difference) int { return strings.Compare(a.Ref, b.Ref) })
	res.Differences = append(res.Differences, missing...)
	return res
}

// compare lists how a line and its payment differ, in precedence order.
func compare(l *Line, p *Payment) []Class {
	var out []Class
	if l.Fen != p.Fen {
		out = append(out, Amount)
	}
	switch {
	case l.Status == p.Status:
		if l.Date != p.Date {
			out = append(out, Date)
		}
	case l.Status == channel.Paid && p.Status == channel.Returned && l.Date <= p.Date:
		// Paid that day, come back since: the statement of the day it was
		// paid is right.
	default:
		out = append(out, Status)
	}
	return out
}
