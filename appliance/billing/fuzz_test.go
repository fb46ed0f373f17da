package billing

import (
	"encoding/json"
	"testing"

	"github.com/shopspring/decimal"
)

// FuzzConfig feeds request bodies to the configuration's decoder: whatever
// it accepts and Validate passes charges whole, non-negative fen that sum to
// the fee, within each rule's bounds, and survives a trip through JSON.
func FuzzConfig(f *testing.F) {
	for _, rules := range []string{sixPercent, clamped, perPayment, marginal, whole, twoRules, tieredFloor, `[]`,
		`[{"name":"x","kind":"percentage","rate":0.06}]`, `[{"name":"x","kind":"tiered","mode":"whole","tiers":[{"up_to":"1e3","rate":"0.1"},{"rate":"1"}]}]`} {
		f.Add([]byte(`{"effective":"2026-03-01","timing":"during","rules":`+rules+`}`), "1234.56")
	}
	f.Fuzz(func(t *testing.T, body []byte, amount string) {
		var c Config
		if json.Unmarshal(body, &c) != nil || c.Validate() != nil {
			return
		}
		m, err := ParseMoney(amount)
		if err != nil {
			return
		}
		fee, charges := c.Fee(m.Decimal())
		sum := decimal.Zero
		for i, ch := range charges {
			r := c.Rules[i]
			if ch.Amount.Sign() < 0 || !ch.Amount.Equal(ch.Amount.Round(2)) ||
				!r.Min.IsZero() && ch.Amount.LessThan(r.Min.d) || !r.Max.IsZero() && ch.Amount.GreaterThan(r.Max.d) {
				t.Fatalf("%s on %s: charge %+v", body, amount, ch)
			}
			sum = sum.Add(ch.Amount)
		}
		if !sum.Equal(fee) {
			t.Fatalf("%s on %s: fee %s, charges summing to %s", body, amount, fee, sum)
		}
		b, err := json.Marshal(&c)
		if err != nil {
			t.Fatal(err)
		}
		var back Config
		if err := json.Unmarshal(b, &back); err != nil || back.Validate() != nil {
			t.Fatalf("%s does not decode back: %v", b, err)
		}
		if again, _ := back.Fee(m.Decimal()); !again.Equal(fee) {
			t.Fatalf("%s: %s after a JSON round trip, %s before", b, again, fee)
		}
	})
}
