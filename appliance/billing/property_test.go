package billing

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/shopspring/decimal"
)

// randomRule draws a valid rule of any kind, with or without bounds.
func randomRule(rng *rand.Rand, name string) Rule {
	money := func(maxFen int64) Money { return MustMoney(fmtFen(1 + rng.Int64N(maxFen))) }
	rate := func() Rate { return MustRate(decimal.New(rng.Int64N(1500), -ratePlaces).String()) } // 0 to 15%
	r := Rule{Name: name}
	switch rng.IntN(4) {
	case 0:
		r.Kind, r.Amount = Fixed, money(1000)
		return r
	case 1, 2:
		r.Kind, r.Rate = Percentage, rate()
		if r.Rate.d.IsZero() {
			r.Rate = MustRate("0.0001")
		}
	default:
		r.Kind, r.Mode = Tiered, []Mode{Marginal, Whole}[rng.IntN(2)]
		bound := int64(0)
		for i := range 2 + rng.IntN(4) {
			if i > 0 {
				bound += 1 + rng.Int64N(500000)
				r.Tiers[i-1].UpTo = MustMoney(fmtFen(bound))
			}
			r.Tiers = append(r.Tiers, Tier{Rate: rate()})
		}
	}
	bound := func(maxFen int64) Money {
		if rng.IntN(20) == 0 {
			return money(1e17) // up to the largest amount accepted
		}
		return money(maxFen)
	}
	if rng.IntN(2) == 0 {
		r.Min = bound(500)
	}
	if rng.IntN(2) == 0 {
		r.Max = bound(50000)
		if !r.Min.IsZero() && r.Min.d.GreaterThan(r.Max.d) {
			r.Min, r.Max = r.Max, r.Min
		}
	}
	return r
}

func randomConfig(rng *rand.Rand) *Config {
	c := &Config{Effective: "2026-03-01", Timing: During, Rules: []Rule{}}
	for i := range rng.IntN(4) {
		c.Rules = append(c.Rules, randomRule(rng, fmt.Sprintf("rule-%d", i)))
	}
	return c
}

// randomAmount draws an amount in fen, mostly small, sometimes huge.
func randomAmount(rng *rand.Rand) decimal.Decimal {
	if rng.IntN(20) == 0 {
		return decimal.New(rng.Int64N(1e17), -2) // up to the largest amount accepted
	}
	return decimal.New(rng.Int64N(2000000), -2)
}

// The fee's invariants over random configurations and amounts: the total
// is the sum of whole-fen charges; bounds hold; the integer path of a
// percentage answers what the decimal path answers; a percentage is within
// half a fen of exact; a statement of one payment is its fee, and a
// statement does not depend on the payments' order; marginal tiers never
// charge less for more; and a configuration charges the same after a trip
// through JSON. The seed is printed so a failure can be replayed.
func TestFeeProperties(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 0))
	for range 3000 {
		c := randomConfig(rng)
		if err := c.Validate(); err != nil {
			t.Fatalf("seed %d: a random configuration is invalid: %v", seed, err)
		}
		a := randomAmount(rng)
		fee, charges := c.Fee(a)
		where := func() string {
			b, _ := json.Marshal(c)
			return fmt.Sprintf("seed %d, amount %s, config %s", seed, a, b)
		}

		sum := decimal.Zero
		for i, ch := range charges {
			r := c.Rules[i]
			sum = sum.Add(ch.Amount)
			if ch.Amount.Sign() < 0 || !ch.Amount.Equal(ch.Amount.Round(2)) || ch.Rule != r.Name || !ch.Base.Equal(a) {
				t.Fatalf("%s: charge %+v", where(), ch)
			}
			if !r.Min.IsZero() && ch.Amount.LessThan(r.Min.d) || !r.Max.IsZero() && ch.Amount.GreaterThan(r.Max.d) {
				t.Fatalf("%s: charge %s outside [%s, %s]", where(), ch.Amount, r.Min, r.Max)
			}
			if r.Kind == Percentage {
				if slow := r.chargeDecimal(a, 1); !slow.Amount.Equal(ch.Amount) || slow.Explain != ch.Explain {
					t.Fatalf("%s: the integer path says %s (%s), the decimal path %s (%s)", where(), ch.Amount, ch.Explain, slow.Amount, slow.Explain)
				}
				exact := a.Mul(r.Rate.d)
				if r.Min.IsZero() && r.Max.IsZero() && exact.Sub(ch.Amount).Abs().GreaterThan(dec("0.005")) {
					t.Fatalf("%s: %s is not %s rounded to the fen", where(), ch.Amount, exact)
				}
			}
		}
		if !sum.Equal(fee) || len(charges) != len(c.Rules) && a.Sign() > 0 && len(c.Rules) > 0 {
			t.Fatalf("%s: fee %s, charges summing to %s", where(), fee, sum)
		}

		sfee, scharges := c.Statement([]decimal.Decimal{a})
		if !sfee.Equal(fee) || fmt.Sprint(scharges) != fmt.Sprint(charges) {
			t.Fatalf("%s: a statement of one payment says %s %v, its fee %s %v", where(), sfee, scharges, fee, charges)
		}
		period := []decimal.Decimal{a, randomAmount(rng), randomAmount(rng), randomAmount(rng)}
		f1, _ := c.Statement(period)
		rng.Shuffle(len(period), func(i, j int) { period[i], period[j] = period[j], period[i] })
		if f2, _ := c.Statement(period); !f1.Equal(f2) {
			t.Fatalf("%s: a statement depends on order: %s, %s", where(), f1, f2)
		}

		steady := true
		for _, r := range c.Rules {
			steady = steady && r.Mode != Whole
		}
		if more := a.Add(decimal.New(rng.Int64N(100000), -2)); steady {
			if f, _ := c.Fee(more); f.LessThan(fee) {
				t.Fatalf("%s: %s bears %s, less than %s's %s", where(), more, f, a, fee)
			}
		}

		b, _ := json.Marshal(c)
		var back Config
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatalf("%s: %v", where(), err)
		}
		if f, _ := back.Fee(a); !f.Equal(fee) {
			t.Fatalf("%s: %s after a JSON round trip, %s before", where(), f, fee)
		}
	}
}
