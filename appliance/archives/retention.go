package archives

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"sort"
	"time"
)

//go:embed rules.json
var rulesJSON []byte

// Triggers: the event a rule's retention runs from.
const (
	TriggerClosed      = "closed"        // the account was cancelled, the merchant closed
	TriggerPaidYearEnd = "paid_year_end" // 31 December of the last year the subject was paid (or paid through the platform)
	TriggerCreated     = "created"       // the item's own date
)

// Class is a document class of the archives.
type Class struct {
	Name  string `json:"name"`            // its Chinese name
	Shred bool   `json:"shred,omitempty"` // sealed under the subject's key: destroyed with it
}

// Rule keeps a class for Years after its trigger, when the trigger falls in
// [From, Until): a dated rule, so a change in the law applies to what it
// covers and no further back.
type Rule struct {
	Class   string `json:"class"`
	Trigger string `json:"trigger"`
	Years   int    `json:"years"`
	From    string `json:"from"`
	Until   string `json:"until,omitempty"`
	Basis   string `json:"basis"`
	// Transacted limits the rule to subjects that were ever paid or paid
	// through the platform.
	Transacted bool `json:"transacted,omitempty"`

	from, until time.Time
}

// Rules are the classes and their retention rules.
type Rules struct {
	Classes map[string]Class `json:"classes"`
	Rules   []Rule           `json:"rules"`
}

// China is the time zone the rules' dates are in.
var China = time.FixedZone("CST", 8*60*60)

// Default is the embedded rule set (rules.json).
var Default = mustRules(rulesJSON)

func mustRules(b []byte) *Rules {
	r, err := ParseRules(b)
	if err != nil {
		panic(err)
	}
	return r
}

// ParseRules reads and checks a rule set.
func ParseRules(b []byte) (*Rules, error) {
	var r Rules
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("archives: rules: %w", err)
	}
	for i := range r.Rules {
		x := &r.Rules[i]
		if _, ok := r.Classes[x.Class]; !ok {
			return nil, fmt.Errorf("archives: rule %d: unknown class %q", i, x.Class)
		}
		if x.Trigger != TriggerClosed && x.Trigger != TriggerPaidYearEnd && x.Trigger != TriggerCreated {
			return nil, fmt.Errorf("archives: rule %d: unknown trigger %q", i, x.Trigger)
		}
		if x.Years < 0 || x.Basis == "" {
			return nil, fmt.Errorf("archives: rule %d: years at least 0 and a legal basis", i)
		}
		var err error
		if x.from, err = time.ParseInLocation(time.DateOnly, x.From, China); err != nil {
			return nil, fmt.Errorf("archives: rule %d: from: %w", i, err)
		}
		if x.Until != "" {
			if x.until, err = time.ParseInLocation(time.DateOnly, x.Until, China); err != nil || !x.until.After(x.from) {
				return nil, fmt.Errorf("archives: rule %d: until: a date after from", i)
			}
		}
	}
	return &r, nil
}

// ClassNames lists the classes in order.
func (r *Rules) ClassNames() []string {
	out := make([]string, 0, len(r.Classes))
	for c := range r.Classes {
		out = append(out, c)
	}
	sort.Strings(out)
	return out
}

// Facts are the dates a subject's retention runs from.
type Facts struct {
	Closed     *time.Time // nil while the subject is open
	PaidYear   int        // the last year the subject was paid, 0 if never
	Transacted bool
}

// Retention is how long one class of a subject's archive is kept.
type Retention struct {
	Class string    `json:"class"`
	Until time.Time `json:"until,omitzero"` // zero: not yet running (the subject is open) or nothing keeps it
	Open  bool      `json:"open,omitempty"` // the subject is open: kept while it is
	Basis []string  `json:"basis,omitempty"`
	// Longest is the basis of the rule that keeps the class longest.
	Longest string `json:"-"`
}

// applies reports whether rule x covers a trigger at t.
func (x *Rule) applies(t time.Time) bool {
	return !t.Before(x.from) && (x.until.IsZero() || t.Before(x.until))
}

// Compute is the retention of class for a subject with facts, and of an
// item dated created (zero for the class as a whole): the latest end of the
// rules whose trigger happened within their dates.
func (r *Rules) Compute(class string, f Facts, created time.Time) Retention {
	out := Retention{Class: class, Open: f.Closed == nil}
	for i := range r.Rules {
		x := &r.Rules[i]
		if x.Class != class || (x.Transacted && !f.Transacted) {
			continue
		}
		var t time.Time
		switch x.Trigger {
		case TriggerClosed:
			if f.Closed == nil {
				continue
			}
			t = *f.Closed
		case TriggerPaidYearEnd:
			if f.PaidYear == 0 {
				continue
			}
			t = time.Date(f.PaidYear, 12, 31, 23, 59, 59, 0, China)
		case TriggerCreated:
			if created.IsZero() {
				continue
			}
			t = created
		}
		if !x.applies(t.In(China)) {
			continue
		}
		end := t.AddDate(x.Years, 0, 0)
		if end.After(out.Until) {
			out.Until, out.Longest = end, x.Basis
		}
		out.Basis = append(out.Basis, x.Basis)
	}
	return out
}

// Due reports whether a class's retention has ended at now: the subject is
// closed and no rule keeps it past now.
func (rt Retention) Due(now time.Time) bool { return !rt.Open && !now.Before(rt.Until) }
