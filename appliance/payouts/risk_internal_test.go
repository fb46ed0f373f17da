package payouts

import (
	"context"
	"math/rand/v2"
	"testing"
	"time"

	"cxt/appliance/merchants"
	"cxt/policy"
)

// The payout rule is decided in Go inside the state machine (riskCode) and
// stated in rego (data.cxt.risk.payout_row): on random rows — around the
// limit to the fen, both statuses, on and off the blacklist, no limit —
// the two never differ.
func TestTheRiskRuleInGoIsTheRego(t *testing.T) {
	seed := time.Now().UnixNano()
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(uint64(seed), 4))
	b, err := policy.Embedded()
	if err != nil {
		t.Fatal(err)
	}
	a, err := policy.New(context.Background(), b)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	limits, err := a.PayoutLimits(ctx)
	if err != nil || limits.MonthlyLimitFen != DefaultMonthlyLimitFen || limits.Version == "" {
		t.Fatalf("the embedded policy's limits: %+v %v", limits, err)
	}
	statuses := []string{string(merchants.Approved), string(merchants.Closed), string(merchants.Applied)}
	seen := map[string]int{}
	for range 3000 {
		lim := limits.MonthlyLimitFen
		if rng.IntN(10) == 0 {
			lim = 0
		}
		month := rng.Int64N(lim + 2)
		amount := 1 + rng.Int64N(2_000_000)
		if rng.IntN(3) == 0 && lim > 0 { // exactly at, one fen under or over the limit
			amount = lim - month + rng.Int64N(3) - 1
			if amount < 1 {
				amount = 1
			}
		}
		f := policy.PayoutFacts{MerchantStatus: statuses[rng.IntN(len(statuses))], Blacklisted: rng.IntN(4) == 0, MonthFen: month, AmountFen: amount}
		want, err := a.PayoutRow(ctx, policy.PayoutLimits{MonthlyLimitFen: lim}, f)
		if err != nil {
			t.Fatal(err)
		}
		got := riskCode(f.MerchantStatus, f.Blacklisted, f.MonthFen, f.AmountFen, lim)
		if got != want {
			t.Fatalf("%+v under %d: Go says %q, the rego %q", f, lim, got, want)
		}
		seen[want]++
	}
	for _, code := range []string{"", ReasonMerchant, ReasonBlacklisted, ReasonMonthlyLimit} {
		if seen[code] == 0 {
			t.Errorf("no row ended %q: %v", code, seen)
		}
	}
}
