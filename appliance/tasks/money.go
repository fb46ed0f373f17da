package tasks

import (
	"encoding/json"
	"fmt"
	"regexp"

	"github.com/shopspring/decimal"

	"cxt/appliance/errs"
	"cxt/storage/state"
)

// CodeAmount refuses an amount that is not a positive number of yuan with
// at most two decimals, written as a JSON string.
var CodeAmount = state.NewCode(state.KindInvalid, "amount_invalid")

// amountPattern: at most twelve digits of yuan (under a trillion: more is a
// typo) and at most two decimals.
var amountPattern = regexp.MustCompile(`^(0|[1-9][0-9]{0,11})(\.[0-9]{1,2})?$`)

// ParseAmount reads a positive amount of yuan with at most two decimals,
// written as a plain decimal string ("1200", "1200.5", "1200.50").
func ParseAmount(s string) (decimal.Decimal, error) {
	if !amountPattern.MatchString(s) {
		return decimal.Zero, fmt.Errorf("%q is not an amount in yuan: digits, and at most 2 decimals (\"1200.00\")", s)
	}
	d := decimal.RequireFromString(s)
	if !d.IsPositive() {
		return decimal.Zero, fmt.Errorf("an amount is more than zero, not %q", s)
	}
	return d, nil
}

// amountField reads the amount a request carries in field: a JSON string,
// never a JSON number (a float would have rounded some amounts before cxt
// saw them). Refusals are amount_invalid, naming the field.
func amountField(field string, raw json.RawMessage) (decimal.Decimal, error) {
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return decimal.Zero, &errs.Error{Op: field, Kind: errs.Invalid, Code: CodeAmount.String(), Field: field,
			Msg: "send an amount as a string of yuan such as \"1200.00\", not a JSON number"}
	}
	d, err := ParseAmount(s)
	if err != nil {
		return decimal.Zero, &errs.Error{Op: field, Kind: errs.Invalid, Code: CodeAmount.String(), Field: field, Msg: err.Error()}
	}
	return d, nil
}

// Yuan writes an amount with exactly two decimals.
func Yuan(d decimal.Decimal) string { return d.StringFixed(2) }

// Share is one worker's share of a task's budget: the budget divided by the
// headcount, cut to the fen, so that the shares never add up to more than
// the budget.
func Share(budget decimal.Decimal, headcount int) decimal.Decimal {
	return budget.DivRound(decimal.NewFromInt(int64(max(headcount, 1))), 8).Truncate(2)
}

// share is t's share per worker.
func (t *Task) share() (decimal.Decimal, error) {
	b, err := ParseAmount(t.Budget)
	if err != nil {
		return decimal.Zero, fmt.Errorf("tasks: %s: budget on record: %w", t.ID, err)
	}
	return Share(b, t.Headcount), nil
}

// parseFen reads a yuan amount on record (a task's budget) as whole fen.
func parseFen(s string) (int64, error) {
	d, err := ParseAmount(s)
	if err != nil {
		return 0, err
	}
	return d.Shift(2).IntPart(), nil
}
