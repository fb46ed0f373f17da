package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"cxt/policy"
)

// riskResult is one mix of payout rows decided by the embedded payout
// rules: through the residual (the rows it flags in full), and one full
// query per row, in the same run.
type riskResult struct {
	flagged      float64 // share of rows a rule flags
	fast, perRow float64 // rows/s
	fastPath     bool
}

// riskChunks decides 10,000-row chunks of ordinary rows among which a
// share is flagged (an unsigned agreement: a hold), for each share.
func riskChunks(d time.Duration) ([]riskResult, error) {
	b, err := policy.Embedded()
	if err != nil {
		return nil, err
	}
	a, err := policy.New(context.Background(), b)
	if err != nil {
		return nil, err
	}
	p := a.Payout()
	var out []riskResult
	for _, share := range []float64{0, 0.001, 0.01} {
		rows := riskRows(10_000, share)
		fast, err := rowsPerSec(d, rows, p.Decide)
		if err != nil {
			return nil, err
		}
		per, err := rowsPerSec(d/4, rows[:1000], p.DecideEach)
		if err != nil {
			return nil, err
		}
		out = append(out, riskResult{flagged: share, fast: fast, perRow: per, fastPath: p.Fast})
	}
	return out, nil
}

func rowsPerSec(d time.Duration, rows []policy.PayoutRow, decide func(context.Context, []policy.PayoutRow) ([]policy.RiskDecision, error)) (float64, error) {
	n := 0
	start := time.Now()
	for n == 0 || time.Since(start) < d {
		if _, err := decide(context.Background(), rows); err != nil {
			return 0, err
		}
		n += len(rows)
	}
	return float64(n) / time.Since(start).Seconds(), nil
}

func riskRows(n int, flagged float64) []policy.PayoutRow {
	rng := rand.New(rand.NewPCG(5, 6))
	rows := make([]policy.PayoutRow, n)
	every := 0
	if flagged > 0 {
		every = int(1 / flagged)
	}
	for i := range rows {
		rows[i] = policy.PayoutRow{
			AmountFen: 1000 + rng.Int64N(300_000),
			Merchant:  policy.RowMerchant{ID: "m_1", Status: "approved", Grade: "B"},
			Worker: policy.RowWorker{ID: fmt.Sprintf("w_%d", i), IDBI: "aa", CardBI: "cc", DeviceBI: "dd", Verified: true, Signed: true,
				MonthFen: rng.Int64N(9_000_000), DayMerchants: 1},
			Task: policy.RowTask{Present: true, Accepted: true, BudgetFen: 400_000},
		}
		if every > 0 && i%every == 0 {
			rows[i].Worker.Signed = false
		}
	}
	return rows
}

func renderRisk(rs []riskResult) string {
	if len(rs) == 0 {
		return ""
	}
	var b strings.Builder
	b.WriteString("\n## Risk decisions\n\n")
	b.WriteString("10,000-row payout chunks decided by the embedded payout rules (policy/risk/payout.rego): through the residual that OPA's\n")
	b.WriteString("partial evaluation leaves, compiled to Go (rows it flags evaluated in full for their reasons), next to one full OPA query\n")
	b.WriteString("per row, in the same run. Flagged rows are a share of unsigned agreements (holds). Goal: ≥ 500,000 rows/s.\n\n")
	b.WriteString("| rows flagged | residual, rows/s | one query per row, rows/s |\n|---|---|---|\n")
	for _, r := range rs {
		fast := fmt.Sprintf("%.0f", r.fast)
		if !r.fastPath {
			fast += " (no residual)"
		}
		fmt.Fprintf(&b, "| %.1f%% | %s | %.0f |\n", r.flagged*100, fast, r.perRow)
	}
	return b.String()
}
