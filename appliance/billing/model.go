package billing

import (
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode"
)

// Timing is when a merchant's fees are charged (预收 / 实时 / 后收).
type Timing string

// The timings.
const (
	Before Timing = "before" // 预收: on each top-up of the merchant's account, on the top-up's amount
	During Timing = "during" // 实时: with each payout, on the payout's amount
	After  Timing = "after"  // 后收: on the period's statement, over the period's payouts (Statement)
)

// Valid reports whether t is one of the timings.
func (t Timing) Valid() bool { return t == Before || t == During || t == After }

// Kind is what a rule computes.
type Kind string

// The kinds of rule.
const (
	Percentage Kind = "percentage" // a rate of the amount
	Fixed      Kind = "fixed"      // an amount per payment
	Tiered     Kind = "tiered"     // rates by the amount's tier (Mode)
)

// Mode is how a tiered rule applies its tiers.
type Mode string

// The tier modes.
const (
	// Marginal (超额累进): each tier's rate applies to the part of the
	// amount inside that tier, as income tax brackets do. The fee grows
	// steadily with the amount.
	Marginal Mode = "marginal"
	// Whole (全额): the rate of the tier the amount falls in applies to
	// the whole amount. Simpler to quote; at a boundary the fee jumps, and
	// a larger amount may bear a smaller fee.
	Whole Mode = "whole"
)

// Tier is one band of a tiered rule: amounts up to UpTo (inclusive) that
// are above the previous tier's UpTo. The last tier has no UpTo: it takes
// every amount above the one before.
type Tier struct {
	UpTo Money `json:"up_to,omitzero"`
	Rate Rate  `json:"rate"`
}

// Rule is one fee of a configuration.
type Rule struct {
	// Name says what the fee is for ("服务费", "通道费"); each charge names
	// its rule.
	Name string `json:"name"`
	Kind Kind   `json:"kind"`
	// Rate is a percentage rule's rate.
	Rate Rate `json:"rate,omitzero"`
	// Amount is a fixed rule's fee per payment.
	Amount Money `json:"amount,omitzero"`
	// Mode and Tiers are a tiered rule's.
	Mode  Mode   `json:"mode,omitempty"`
	Tiers []Tier `json:"tiers,omitempty"`
	// Min and Max, optional, bound a percentage or tiered rule's fee per
	// payment (in a Statement, per period).
	Min Money `json:"min,omitzero"`
	Max Money `json:"max,omitzero"`
}

// Config is one version of a merchant's fee configuration. Versions are
// numbered from 1; each takes effect on its Effective day in China's
// calendar and stays in force until the next version's.
type Config struct {
	Merchant  string    `json:"merchant"`
	Version   int       `json:"version"`
	Effective Date      `json:"effective"`
	Timing    Timing    `json:"timing"`
	Rules     []Rule    `json:"rules"`
	Note      string    `json:"note,omitempty"`
	By        string    `json:"by,omitempty"`     // the account that set it
	Created   time.Time `json:"created,omitzero"` // when it was set
}

// Limits of a configuration.
const (
	MaxRules   = 20
	MaxTiers   = 20
	maxName    = 50
	maxNote    = 200
	maxVersion = 1 << 30
)

// Validate refuses a configuration that would charge nonsense, naming the
// first field at fault. The amounts and rates in it were parsed strictly
// already (never negative, never over-precise).
func (c *Config) Validate() error {
	if _, err := ParseDate(string(c.Effective)); err != nil {
		return fieldErr("effective", "%v", err)
	}
	if !c.Timing.Valid() {
		return fieldErr("timing", "%q is not before (at top-up, 预收), during (per payout, 实时) or after (on the period's statement, 后收)", c.Timing)
	}
	if len(c.Rules) > MaxRules {
		return fieldErr("rules", "at most %d rules", MaxRules)
	}
	if c.Rules == nil {
		return fieldErr("rules", "is required: the fees, or [] for none from this day on")
	}
	if len([]rune(c.Note)) > maxNote || !printable(c.Note) {
		return fieldErr("note", "at most %d characters, none of them control characters", maxNote)
	}
	names := map[string]bool{}
	for i := range c.Rules {
		r := &c.Rules[i]
		if err := r.validate(fmt.Sprintf("rules[%d]", i)); err != nil {
			return err
		}
		if names[r.Name] {
			return fieldErr(fmt.Sprintf("rules[%d].name", i), "%q names two rules: each charge names its rule, so names are unique", r.Name)
		}
		names[r.Name] = true
	}
	return nil
}

func printable(s string) bool {
	for _, c := range s {
		if unicode.IsControl(c) || c == '\u2028' || c == '\u2029' || unicode.In(c, unicode.Cf) {
			return false
		}
	}
	return true
}

func (r *Rule) validate(at string) error {
	if n := strings.TrimSpace(r.Name); n == "" || n != r.Name || len([]rune(n)) > maxName || !printable(n) {
		return fieldErr(at+".name", "what the fee is for, 1-%d characters without surrounding spaces or control characters", maxName)
	}
	only := func(kind Kind, allowed ...string) error {
		set := map[string]bool{
			"rate": !r.Rate.IsZero(), "amount": !r.Amount.IsZero(), "mode": r.Mode != "", "tiers": r.Tiers != nil,
			"min": !r.Min.IsZero(), "max": !r.Max.IsZero(),
		}
		for _, f := range []string{"rate", "amount", "mode", "tiers", "min", "max"} {
			if set[f] && !slices.Contains(allowed, f) {
				return fieldErr(at+"."+f, "a %s rule has no %s (it takes %s)", kind, f, strings.Join(allowed, ", "))
			}
		}
		return nil
	}
	switch r.Kind {
	case Percentage:
		if err := only(Percentage, "rate", "min", "max"); err != nil {
			return err
		}
		if r.Rate.IsZero() || r.Rate.d.IsZero() {
			return fieldErr(at+".rate", "a percentage rule's rate, above 0 and at most 1, such as \"0.0600\" for 6%%")
		}
	case Fixed:
		if err := only(Fixed, "amount"); err != nil {
			return err
		}
		if r.Amount.IsZero() || r.Amount.d.IsZero() {
			return fieldErr(at+".amount", "a fixed rule's fee per payment, above 0, such as \"2.00\"")
		}
	case Tiered:
		if err := only(Tiered, "mode", "tiers", "min", "max"); err != nil {
			return err
		}
		if r.Mode != Marginal && r.Mode != Whole {
			return fieldErr(at+".mode", "%q is not marginal (each tier's rate on the part of the amount in it) or whole (the rate of the amount's tier on all of it)", r.Mode)
		}
		if err := r.validateTiers(at); err != nil {
			return err
		}
	default:
		return fieldErr(at+".kind", "%q is not percentage, fixed or tiered", r.Kind)
	}
	if !r.Min.IsZero() && r.Min.d.IsZero() {
		return fieldErr(at+".min", "a minimum of 0 is no minimum: leave it out")
	}
	if !r.Max.IsZero() && r.Max.d.IsZero() {
		return fieldErr(at+".max", "a maximum of 0 charges nothing: leave the rule out")
	}
	if !r.Min.IsZero() && !r.Max.IsZero() && r.Min.d.GreaterThan(r.Max.d) {
		return fieldErr(at+".max", "the maximum %s is below the minimum %s", r.Max, r.Min)
	}
	return nil
}

func (r *Rule) validateTiers(at string) error {
	if len(r.Tiers) < 2 || len(r.Tiers) > MaxTiers {
		return fieldErr(at+".tiers", "2 to %d tiers (one tier is a percentage rule)", MaxTiers)
	}
	var prev Money
	for i, t := range r.Tiers {
		f := fmt.Sprintf("%s.tiers[%d]", at, i)
		if t.Rate.IsZero() {
			return fieldErr(f+".rate", "each tier's rate, from 0 to 1, such as \"0.0500\"")
		}
		last := i == len(r.Tiers)-1
		switch {
		case last && !t.UpTo.IsZero():
			return fieldErr(f+".up_to", "the last tier has no up_to: it takes every amount above %s", prev)
		case !last && t.UpTo.IsZero():
			return fieldErr(f+".up_to", "every tier but the last has an up_to (inclusive)")
		case !last && !t.UpTo.d.GreaterThan(prev.d):
			return fieldErr(f+".up_to", "%s is not above the tier before's %s: tiers rise", t.UpTo, prev)
		}
		if !last {
			prev = t.UpTo
		}
	}
	return nil
}
