package billing

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/shopspring/decimal"
)

// FieldError is a refusal of a configuration that names the field at fault
// ("rules[1].tiers[0].up_to").
type FieldError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Message }

func fieldErr(field, format string, args ...any) error {
	return &FieldError{Field: field, Message: fmt.Sprintf(format, args...)}
}

// The places an amount and a rate may have: the fen, and a hundredth of a
// percent.
const (
	moneyPlaces = 2
	ratePlaces  = 4
)

// parseDecimal reads a plain non-negative decimal of at most places
// decimals and 15 integer digits, saying exactly what is wrong otherwise.
func parseDecimal(s string, places int, what, example string) (decimal.Decimal, error) {
	if s == "" {
		return decimal.Zero, fmt.Errorf("is required: %s such as %q", what, example)
	}
	if strings.HasPrefix(s, "-") {
		return decimal.Zero, fmt.Errorf("%q is negative: %s is never negative", s, what)
	}
	whole, frac, dot := strings.Cut(s, ".")
	if !digits(whole) || len(whole) > 15 || len(whole) > 1 && whole[0] == '0' || dot && !digits(frac) {
		return decimal.Zero, fmt.Errorf("%q is not a plain decimal: write %s as a string such as %q", s, what, example)
	}
	if len(frac) > places {
		return decimal.Zero, fmt.Errorf("%q has %d decimals: %s has at most %d", s, len(frac), what, places)
	}
	return decimal.RequireFromString(s), nil
}

func digits(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// decodeString reads a JSON string for a decimal, refusing a JSON number
// (binary floating point has no place in money) and anything else. null
// leaves the value absent.
func decodeString(b []byte, what string) (string, bool, error) {
	if bytes.Equal(b, []byte("null")) {
		return "", false, nil
	}
	var s string
	if len(b) == 0 || b[0] != '"' || json.Unmarshal(b, &s) != nil {
		return "", false, fmt.Errorf("%s is not a string: write %s as a decimal string (\"12.34\", \"0.0600\"), never a JSON number", b, what)
	}
	return s, true, nil
}

// Money is an amount in yuan: never negative, at most two decimals. In JSON
// it is a decimal string with two decimals ("12.30"); a JSON number is
// refused. The zero Money is absent (an optional minimum not given).
type Money struct {
	d   decimal.Decimal
	fen int64 // d in fen, for the integer path of Fee
	set bool
}

// ParseMoney reads an amount in yuan ("3000", "3000.5", "3000.50").
func ParseMoney(s string) (Money, error) {
	d, err := parseDecimal(s, moneyPlaces, "an amount in yuan", "12.34")
	if err != nil {
		return Money{}, err
	}
	return Money{d: d, fen: d.Shift(moneyPlaces).IntPart(), set: true}, nil
}

// MustMoney is ParseMoney for amounts written in code; it panics on a bad
// one.
func MustMoney(s string) Money {
	m, err := ParseMoney(s)
	if err != nil {
		panic("billing: " + err.Error())
	}
	return m
}

// Decimal returns the amount.
func (m Money) Decimal() decimal.Decimal { return m.d }

// IsZero reports whether the amount is absent (not whether it is 0.00), so
// that an absent amount is left out of JSON.
func (m Money) IsZero() bool { return !m.set }

// String writes the amount with exactly two decimals.
func (m Money) String() string { return yuan(m.d) }

// MarshalJSON writes the amount as a string with two decimals.
func (m Money) MarshalJSON() ([]byte, error) { return json.Marshal(m.String()) }

// UnmarshalJSON reads a decimal string, strictly.
func (m *Money) UnmarshalJSON(b []byte) error {
	s, ok, err := decodeString(b, "an amount")
	if err != nil || !ok {
		return err
	}
	v, err := ParseMoney(s)
	if err != nil {
		return fmt.Errorf("amount %v", err)
	}
	*m = v
	return nil
}

// Rate is a fraction from 0 to 1 with at most four decimals: "0.0600" is
// 6.00%. In JSON it is a decimal string with four decimals; a JSON number is
// refused. The zero Rate is absent.
type Rate struct {
	d     decimal.Decimal
	units int64  // d in ten-thousandths, for the integer path of Fee
	pct   string // "6.00%", made once: explanations are written per payment
	set   bool
}

var one = decimal.NewFromInt(1)

// ParseRate reads a rate written as a fraction ("0.06", "0.0600").
func ParseRate(s string) (Rate, error) {
	d, err := parseDecimal(s, ratePlaces, "a rate (a fraction: 0.0600 is 6%)", "0.0600")
	if err != nil {
		return Rate{}, err
	}
	if d.GreaterThan(one) {
		return Rate{}, fmt.Errorf("%q is more than 1: a rate is a fraction of the amount (0.0600 is 6%%), at most 1", s)
	}
	return Rate{d: d, units: d.Shift(ratePlaces).IntPart(), pct: d.Shift(2).StringFixed(2) + "%", set: true}, nil
}

// MustRate is ParseRate for rates written in code; it panics on a bad one.
func MustRate(s string) Rate {
	r, err := ParseRate(s)
	if err != nil {
		panic("billing: " + err.Error())
	}
	return r
}

// Decimal returns the fraction.
func (r Rate) Decimal() decimal.Decimal { return r.d }

// IsZero reports whether the rate is absent (not whether it is 0).
func (r Rate) IsZero() bool { return !r.set }

// String writes the fraction with four decimals ("0.0600").
func (r Rate) String() string { return r.d.StringFixed(ratePlaces) }

// Percent writes the rate as a percentage ("6.00%").
func (r Rate) Percent() string { return r.pct }

// MarshalJSON writes the rate as a string with four decimals.
func (r Rate) MarshalJSON() ([]byte, error) { return json.Marshal(r.String()) }

// UnmarshalJSON reads a decimal string, strictly.
func (r *Rate) UnmarshalJSON(b []byte) error {
	s, ok, err := decodeString(b, "a rate")
	if err != nil || !ok {
		return err
	}
	v, err := ParseRate(s)
	if err != nil {
		return fmt.Errorf("rate %v", err)
	}
	*r = v
	return nil
}

// China is the calendar fee configurations take effect in: China Standard
// Time, UTC+8, which has had no daylight saving since 1991 (a fixed zone
// needs no time zone database on the appliance).
var China = time.FixedZone("CST", 8*60*60)

// Date is a day in China's calendar, written "2006-01-02". Dates written so
// compare as strings.
type Date string

const dateLayout = "2006-01-02"

// ParseDate reads a day "YYYY-MM-DD" that exists.
func ParseDate(s string) (Date, error) {
	t, err := time.ParseInLocation(dateLayout, s, China)
	if err != nil || t.Format(dateLayout) != s {
		return "", fmt.Errorf("%q is not a date written YYYY-MM-DD (China's calendar)", s)
	}
	return Date(s), nil
}

// Day is the day it is in China at t.
func Day(t time.Time) Date { return Date(t.In(China).Format(dateLayout)) }

// Start is the first instant of the day in China: 00:00 UTC+8.
func (d Date) Start() time.Time {
	t, err := time.ParseInLocation(dateLayout, string(d), China)
	if err != nil {
		panic("billing: a date that was never parsed: " + string(d))
	}
	return t
}
