package tasks

import (
	"encoding/json"
	"math/rand/v2"
	"strconv"
	"testing"

	"github.com/shopspring/decimal"

	"cxt/appliance/errs"
)

func TestAmountsArePositiveYuanWithAtMostTwoDecimals(t *testing.T) {
	for s, want := range map[string]string{"1200": "1200.00", "1200.5": "1200.50", "0.01": "0.01", "999999999999.99": "999999999999.99"} {
		d, err := ParseAmount(s)
		if err != nil || Yuan(d) != want {
			t.Errorf("%q: %v %v, want %s", s, Yuan(d), err, want)
		}
	}
	for _, s := range []string{"", "0", "0.00", "-1", "+1", "1.001", "01", "1e3", "1,000", " 1", "1.", ".5", "NaN", "1000000000000", "１２"} {
		if _, err := ParseAmount(s); err == nil {
			t.Errorf("%q was read as an amount", s)
		}
	}
}

// A request's amount is a JSON string: a JSON number is refused with
// amount_invalid and the field, whatever its value.
func TestAnAmountSentAsAJSONNumberIsRefused(t *testing.T) {
	for raw, ok := range map[string]bool{`"1200.00"`: true, `1200.00`: false, `1200`: false, `"12.345"`: false, `null`: false, `"0"`: false} {
		_, err := amountField("budget", json.RawMessage(raw))
		if ok != (err == nil) {
			t.Errorf("%s: %v", raw, err)
		}
		if e := errs.Of(err); err != nil && (e.Code != "amount_invalid" || e.Field != "budget" || e.Kind.Status() != 400) {
			t.Errorf("%s: %+v", raw, e)
		}
	}
}

// Shares never add up to more than the budget, and never lose more than a
// fen per worker.
func TestSharesAddUpToAtMostTheBudget(t *testing.T) {
	seed := rand.Uint64()
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 0))
	fen := decimal.New(1, -2)
	for range 2000 {
		budget := decimal.New(rng.Int64N(1e10)+1, -2)
		n := rng.IntN(MaxHeadcount) + 1
		s := Share(budget, n)
		total := s.Mul(decimal.NewFromInt(int64(n)))
		if total.GreaterThan(budget) || budget.Sub(total).GreaterThanOrEqual(fen.Mul(decimal.NewFromInt(int64(n)))) || s.Exponent() < -2 {
			t.Fatalf("budget %s, %d workers: share %s, total %s", budget, n, s, total)
		}
	}
}

func FuzzParseAmount(f *testing.F) {
	for _, s := range []string{"1200.00", "0.01", "1.001", "-0", "99999999999999"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseAmount(s)
		if err != nil {
			return
		}
		if !d.IsPositive() || d.Exponent() < -2 {
			t.Fatalf("%q read as %s", s, d)
		}
		back, err := ParseAmount(Yuan(d))
		if err != nil || !back.Equal(d) {
			t.Fatalf("%q → %s does not read back: %v", s, Yuan(d), err)
		}
		if _, err := strconv.ParseFloat(s, 64); err != nil {
			t.Fatalf("%q is not even a number", s)
		}
	})
}
