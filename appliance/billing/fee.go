package billing

import (
	"encoding/json"
	"strconv"
	"strings"

	"github.com/shopspring/decimal"
)

// Charge is one fee and the rule that produced it.
type Charge struct {
	Rule    string          // the rule's name
	Kind    string          // the rule's kind
	Base    decimal.Decimal // what the rule was applied to: the payment, or the period's total
	Amount  decimal.Decimal // the fee, in fen
	Explain string          // how, so that it can be redone by hand
}

// MarshalJSON writes the charge with its amounts as strings of two
// decimals.
func (c Charge) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		Rule    string `json:"rule"`
		Kind    string `json:"kind"`
		Base    string `json:"base"`
		Amount  string `json:"amount"`
		Explain string `json:"explain"`
	}{c.Rule, c.Kind, yuan(c.Base), yuan(c.Amount), c.Explain})
}

// Fee computes the fee of one amount under c: each rule's charge, and their
// sum. Each rule's fee is bounded by its minimum and maximum and rounded
// half-up to the fen at the end of the rule; the total is the sum of the
// rounded charges. An amount of zero or less bears no fee, and a nil config
// charges nothing. It is pure and fast: payouts call it per payment row.
func (c *Config) Fee(amount decimal.Decimal) (decimal.Decimal, []Charge) {
	if c == nil || amount.Sign() <= 0 || len(c.Rules) == 0 {
		return decimal.Zero, nil
	}
	charges := make([]Charge, len(c.Rules))
	total := decimal.Zero
	for i := range c.Rules {
		charges[i] = c.Rules[i].charge(amount, 1)
		total = total.Add(charges[i].Amount)
	}
	return total, charges
}

// Statement computes the fee of a period (timing After) over the period's
// payouts: each percentage or tiered rule applies once to the period's
// total — so tiers are tiers of the period's volume — and its minimum and
// maximum bound the period's fee for that rule; a fixed rule charges its
// amount once per payment. Amounts of zero or less are not payments. Of a
// single payment, Statement is Fee.
func (c *Config) Statement(amounts []decimal.Decimal) (decimal.Decimal, []Charge) {
	total, n := decimal.Zero, 0
	for _, a := range amounts {
		if a.Sign() > 0 {
			total, n = total.Add(a), n+1
		}
	}
	if c == nil || n == 0 || len(c.Rules) == 0 {
		return decimal.Zero, nil
	}
	charges := make([]Charge, len(c.Rules))
	sum := decimal.Zero
	for i := range c.Rules {
		charges[i] = c.Rules[i].charge(total, n)
		sum = sum.Add(charges[i].Amount)
	}
	return sum, charges
}

// charge applies the rule to base, the total of n payments.
func (r *Rule) charge(base decimal.Decimal, n int) Charge {
	if r.Kind == Percentage {
		if c, ok := r.percentOfFen(base); ok {
			return c
		}
	}
	return r.chargeDecimal(base, n)
}

// percentOfFen is a percentage rule's charge in integers, for a base and
// bounds that are whole numbers of fen below 10^14 (a trillion yuan): a
// rate of ten-thousandths times fen is an exact count of millionths of a
// yuan, below 10^18 and so inside an int64. It answers exactly what
// chargeDecimal answers (a property test holds them together), several
// times faster.
func (r *Rule) percentOfFen(base decimal.Decimal) (Charge, bool) {
	f, ok := fen(base)
	if !ok || r.Min.fen >= maxFen || r.Max.fen >= maxFen {
		return Charge{}, false
	}
	const micro = 10000 // millionths of a yuan in a fen
	raw := f * r.Rate.units
	why := make([]byte, 0, 96)
	why = appendFen(append(append(why, r.Rate.pct...), " of "...), f)
	switch {
	case !r.Min.IsZero() && raw < r.Min.fen*micro:
		why = append(why, " = "+decimal.New(raw, -6).String()+", raised to the minimum "+r.Min.String()...)
		raw = r.Min.fen * micro
	case !r.Max.IsZero() && raw > r.Max.fen*micro:
		why = append(why, " = "+decimal.New(raw, -6).String()+", capped at the maximum "+r.Max.String()...)
		raw = r.Max.fen * micro
	}
	fee := (raw + micro/2) / micro // half-up: raw is not negative
	why = appendFen(append(why, " = "...), fee)
	return Charge{Rule: r.Name, Kind: string(r.Kind), Base: base, Amount: decimal.New(fee, -moneyPlaces), Explain: string(why)}, true
}

// chargeDecimal applies the rule to base, the total of n payments, in
// decimals.
func (r *Rule) chargeDecimal(base decimal.Decimal, n int) Charge {
	var raw decimal.Decimal
	var why strings.Builder
	why.Grow(96)
	b := yuan(base)
	switch r.Kind {
	case Percentage:
		raw = base.Mul(r.Rate.d)
		why.WriteString(r.Rate.pct + " of " + b)
	case Fixed:
		raw = r.Amount.d
		if n == 1 {
			why.WriteString(r.Amount.String() + " per payment")
		} else {
			raw = raw.Mul(decimal.NewFromInt(int64(n)))
			why.WriteString(strconv.Itoa(n) + " payments × " + r.Amount.String())
		}
	case Tiered:
		raw = r.tiered(base, b, &why)
	}
	switch {
	case !r.Min.IsZero() && raw.LessThan(r.Min.d):
		why.WriteString(" = " + raw.String() + ", raised to the minimum " + r.Min.String())
		raw = r.Min.d
	case !r.Max.IsZero() && raw.GreaterThan(r.Max.d):
		why.WriteString(" = " + raw.String() + ", capped at the maximum " + r.Max.String())
		raw = r.Max.d
	}
	// Rounding is monotone and keeps the bounds (they are whole fen), so
	// clamping before it is clamping after it.
	fee := raw.Round(moneyPlaces)
	why.WriteString(" = ")
	why.WriteString(yuan(fee))
	return Charge{Rule: r.Name, Kind: string(r.Kind), Base: base, Amount: fee, Explain: why.String()}
}

// tiered computes a tiered rule's fee before rounding, explaining it.
func (r *Rule) tiered(base decimal.Decimal, b string, why *strings.Builder) decimal.Decimal {
	if r.Mode == Whole {
		i := 0
		for i < len(r.Tiers)-1 && base.GreaterThan(r.Tiers[i].UpTo.d) {
			i++
		}
		t := r.Tiers[i]
		why.WriteString(b + " is in tier " + strconv.Itoa(i+1) + " (" + r.band(i) + "): " + t.Rate.pct + " of " + b)
		return base.Mul(t.Rate.d)
	}
	raw := decimal.Zero
	lower := decimal.Zero
	for i, t := range r.Tiers {
		if !base.GreaterThan(lower) {
			break
		}
		part := base.Sub(lower)
		if i < len(r.Tiers)-1 && base.GreaterThan(t.UpTo.d) {
			part = t.UpTo.d.Sub(lower)
		}
		if i > 0 {
			why.WriteString(" + ")
		}
		why.WriteString(t.Rate.pct + " of " + yuan(part) + " (" + r.band(i) + ")")
		raw = raw.Add(part.Mul(t.Rate.d))
		if i < len(r.Tiers)-1 {
			lower = t.UpTo.d
		}
	}
	return raw
}

// band writes tier i's range: "up to 1000.00", "above 1000.00 up to
// 5000.00", "above 5000.00".
func (r *Rule) band(i int) string {
	switch {
	case i == 0:
		return "up to " + r.Tiers[0].UpTo.String()
	case i == len(r.Tiers)-1:
		return "above " + r.Tiers[i-1].UpTo.String()
	}
	return "above " + r.Tiers[i-1].UpTo.String() + " up to " + r.Tiers[i].UpTo.String()
}

// maxFen bounds the integer path: 10^14 fen times a rate of at most 10^4
// ten-thousandths stays below 10^18.
const maxFen = 1e14

// fen returns d as a whole number of fen, if it is one below 10^14.
func fen(d decimal.Decimal) (int64, bool) {
	e := d.Exponent()
	if e < -moneyPlaces || e > 0 || d.NumDigits() > 16 {
		return 0, false
	}
	n := d.CoefficientInt64()
	for ; e > -moneyPlaces; e-- {
		n *= 10
	}
	return n, n >= 0 && n < maxFen
}

// yuan writes d with exactly two decimals, without big-number formatting
// when it is a whole number of fen: explanations are written per payment.
func yuan(d decimal.Decimal) string {
	if f, ok := fen(d); ok {
		return fmtFen(f)
	}
	return d.StringFixed(moneyPlaces)
}

// fmtFen writes a non-negative number of fen as yuan ("1234.50").
func fmtFen(f int64) string { return string(appendFen(make([]byte, 0, 20), f)) }

func appendFen(b []byte, f int64) []byte {
	frac := f % 100
	return append(strconv.AppendInt(b, f/100, 10), '.', byte('0'+frac/10), byte('0'+frac%10))
}
