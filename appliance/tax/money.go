package tax

import (
	"fmt"
	"regexp"

	"github.com/shopspring/decimal"
)

// FieldError is a request error that names the offending field.
type FieldError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Message }

func fieldErr(field, format string, args ...any) error {
	return &FieldError{Field: field, Message: fmt.Sprintf(format, args...)}
}

var amountPattern = regexp.MustCompile(`^(0|[1-9][0-9]{0,14})(\.[0-9]{1,2})?$`)

// ParseAmount reads a non-negative yuan amount with at most two decimals,
// written as a plain decimal string ("3000", "3000.5", "3000.50").
func ParseAmount(field, s string) (decimal.Decimal, error) {
	if s == "" {
		return decimal.Zero, fieldErr(field, "is required: an amount in yuan such as \"3000.00\"")
	}
	if !amountPattern.MatchString(s) {
		return decimal.Zero, fieldErr(field, "%q is not a non-negative amount in yuan with at most 2 decimals", s)
	}
	return decimal.RequireFromString(s), nil
}

// yuan rounds half-up to the fen; it is applied once per tax computed.
func yuan(d decimal.Decimal) decimal.Decimal { return d.Round(2) }

// fmtYuan writes an amount with exactly two decimals.
func fmtYuan(d decimal.Decimal) string { return d.StringFixed(2) }

// fmtExact writes an unrounded intermediate amount: two decimals, or all of
// them where it has more, so that a breakdown can be redone by hand (a cost
// of 20% of 25,000.02 is 5,000.004, not 5,000.00).
func fmtExact(d decimal.Decimal) string {
	if d.Exponent() >= -2 {
		return d.StringFixed(2)
	}
	return d.String()
}

var hundred = decimal.NewFromInt(100)

// fmtRate writes a rate as a percentage ("3%", "0.5%").
func fmtRate(d decimal.Decimal) string { return d.Mul(hundred).String() + "%" }
