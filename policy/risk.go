package policy

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/open-policy-agent/opa/v1/rego"
)

// PayoutLimits are the settings the payout rule (data.cxt.risk.payout_row)
// decides rows under, read once per chunk by whoever proposes the chunk and
// carried in its command, so that every replica decides its rows alike
// whatever policy it has loaded by then.
type PayoutLimits struct {
	Version         string `json:"version"`
	MonthlyLimitFen int64  `json:"monthly_limit_fen"` // 0: none
	// Rules, from command set state.RiskSet on, is the digest of the
	// stored bundle (PayoutRules.Digest) whose payout rules the proposer
	// expects to decide the rows: the state machine then decides them by
	// the bundle stored at the command's index and refuses the command if
	// that is another (a bundle activated in between). "": the monthly
	// limit above, decided in Go, as before the set.
	Rules string `json:"rules,omitempty"`
}

// PayoutLimits evaluates data.cxt.risk.payout_limits.
func (a *Authorizer) PayoutLimits(ctx context.Context) (PayoutLimits, error) {
	rs, err := a.current.Load().payoutLimits.Eval(ctx)
	if err != nil {
		return PayoutLimits{}, fmt.Errorf("policy: payout limits: %w", err)
	}
	if len(rs) != 1 || len(rs[0].Expressions) != 1 {
		return PayoutLimits{}, ErrNoDecision
	}
	m, ok := rs[0].Expressions[0].Value.(map[string]any)
	if !ok {
		return PayoutLimits{}, ErrNoDecision
	}
	var out PayoutLimits
	out.Version, _ = m["version"].(string)
	n, ok := m["monthly_limit_fen"].(json.Number)
	if !ok {
		return PayoutLimits{}, ErrNoDecision
	}
	if out.MonthlyLimitFen, err = n.Int64(); err != nil || out.MonthlyLimitFen < 0 {
		return PayoutLimits{}, ErrNoDecision
	}
	return out, nil
}

// PayoutFacts are what the payout rule decides one row on; money in fen.
type PayoutFacts struct {
	MerchantStatus string
	Blacklisted    bool
	MonthFen       int64 // what the worker was paid on the platform this month before the row
	AmountFen      int64
}

// PayoutRow evaluates data.cxt.risk.payout_row for one row under limits:
// "" to pay it, else the code it is rejected with. The payouts decide rows
// in Go by the same rule (payouts.riskCode); a differential test holds the
// two to each other.
func (a *Authorizer) PayoutRow(ctx context.Context, limits PayoutLimits, f PayoutFacts) (string, error) {
	rs, err := a.current.Load().payoutRow.Eval(ctx, rego.EvalInput(map[string]any{
		"limits":     map[string]any{"monthly_limit_fen": limits.MonthlyLimitFen},
		"merchant":   map[string]any{"status": f.MerchantStatus},
		"worker":     map[string]any{"blacklisted": f.Blacklisted, "month_fen": f.MonthFen},
		"amount_fen": f.AmountFen,
	}))
	if err != nil {
		return "", fmt.Errorf("policy: payout row: %w", err)
	}
	if len(rs) != 1 || len(rs[0].Expressions) != 1 {
		return "", ErrNoDecision
	}
	m, ok := rs[0].Expressions[0].Value.(map[string]any)
	if !ok {
		return "", ErrNoDecision
	}
	code, _ := m["code"].(string)
	return code, nil
}
