package reconcile

import (
	"fmt"
	"strings"

	"cxt/appliance/billing"
	"cxt/appliance/ledger"
	"cxt/appliance/payouts"
	"cxt/storage/state"
)

// FeeDifference is a payment whose booked service fee is not what the
// billing configuration in force makes of it.
type FeeDifference struct {
	Payment      string `json:"payment"`
	Merchant     string `json:"merchant"`
	AmountFen    int64  `json:"amount_fen"`
	BookedFen    int64  `json:"booked_fen"`
	BookedRule   string `json:"booked_rule,omitempty"`
	ExpectedFen  int64  `json:"expected_fen"`
	ExpectedRule string `json:"expected_rule,omitempty"`
	Explain      string `json:"explain,omitempty"`
}

// feeOf is what one configuration charges a payment of fen when it is
// booked: its fee and the rule the payment names, or nothing when the
// configuration charges at top-up or on the month's statement.
func feeOf(cfg *billing.Config, fen int64) (int64, string, string) {
	if cfg == nil || cfg.Timing != billing.During {
		return 0, "", ""
	}
	fee, charges := cfg.Fee(ledger.Decimal(fen))
	why := make([]string, len(charges))
	for i, c := range charges {
		why[i] = c.Rule + ": " + c.Explain
	}
	return fee.Shift(2).IntPart(), fmt.Sprintf("%s/v%d", cfg.Merchant, cfg.Version), strings.Join(why, "; ")
}

// CheckFee recomputes a payment's fee. The configuration in force when
// the payment was first decided (its Created) is what it owes: the latest
// effective on that day among the versions recorded (their Created) by
// then, as billing.Current found it when the payment was booked; a payment
// held and released later is booked under the version in force at its
// release, so any later version is accepted too when the payment names it
// and its fee is that version's. versions are the merchant's, oldest
// first. It answers nil when the booked fee is right.
func CheckFee(versions []*billing.Config, p *payouts.Payment) *FeeDifference {
	day := billing.Day(p.Created)
	var inForce *billing.Config
	from := 0
	for i, v := range versions {
		// In force at the payment's creation: effective that day or
		// before, among the versions recorded by then. A version set later
		// the same day, effective that day, was not there to charge it.
		if v.Effective <= day && !v.Created.After(p.Created) {
			inForce, from = v, i
		}
	}
	if inForce == nil {
		from = 0
	} else {
		from++
	}
	want, rule, why := feeOf(inForce, p.AmountFen)
	if want == p.FeeFen && rule == p.FeeRule {
		return nil
	}
	for _, v := range versions[from:] {
		if fee, r, _ := feeOf(v, p.AmountFen); fee == p.FeeFen && r == p.FeeRule {
			return nil
		}
	}
	return &FeeDifference{Payment: p.ID, Merchant: p.Merchant, AmountFen: p.AmountFen, BookedFen: p.FeeFen, BookedRule: p.FeeRule,
		ExpectedFen: want, ExpectedRule: rule, Explain: why}
}

// ParsePeriod reads yyyy-mm into yyyymm.
func ParsePeriod(s string) (int, bool) {
	d, ok := ParseDay(s + "-01")
	return int(d / 100), ok && len(s) == 7
}

// FeeDifferences checks the fee of every live payment of a month (the
// month its withholding counted it in), of one merchant or all ("").
func FeeDifferences(tx *state.ReadTx, merchant string, month int) ([]FeeDifference, int, error) {
	versions := map[string][]*billing.Config{}
	var out []FeeDifference
	checked := 0
	err := payouts.Payments(tx, func(p *payouts.Payment) error {
		if p.Month != month || !p.Live() || (merchant != "" && p.Merchant != merchant) {
			return nil
		}
		vs, ok := versions[p.Merchant]
		if !ok {
			var err error
			if vs, err = billing.Versions(tx, p.Merchant); err != nil {
				return err
			}
			versions[p.Merchant] = vs
		}
		checked++
		if d := CheckFee(vs, p); d != nil {
			out = append(out, *d)
		}
		return nil
	})
	return out, checked, err
}
