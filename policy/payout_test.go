package policy

import (
	"context"
	"encoding/json"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"

	"github.com/open-policy-agent/opa/v1/rego"
)

func ordinaryRow() PayoutRow {
	return PayoutRow{
		AmountFen: 120000,
		Merchant:  RowMerchant{ID: "m_1", Status: "approved", Grade: "B"},
		Worker: RowWorker{ID: "w_1", IDBI: "aa11", CardBI: "cc11", DeviceBI: "dd11", Verified: true, Signed: true,
			DayMerchants: 1},
		Task: RowTask{Present: true, Accepted: true, BudgetFen: 500000},
	}
}

// Each payout rule on a row built in Go: the decision, the rule, the
// reason — through the fast path and through full evaluation alike.
func TestEachPayoutRuleDecidesItsRow(t *testing.T) {
	p := authorizer(t).Payout()
	if !p.Fast {
		t.Fatalf("the embedded payout rules have no fast path: %s", p.NoFast)
	}
	cases := []struct {
		name          string
		edit          func(r *PayoutRow)
		outcome, rule string
		code, reason  string
	}{
		{"ordinary", func(r *PayoutRow) {}, Allow, "", "", ""},
		{"merchant suspended", func(r *PayoutRow) { r.Merchant.Status = "suspended" }, Reject, "merchant.status", "merchant_status", "merchant m_1 is suspended"},
		{"merchant graded D", func(r *PayoutRow) { r.Merchant.Grade = "D" }, Hold, "merchant.rating", "risk_merchant_rating", "merchant m_1 is rated D; its payments wait for a person"},
		{"blacklisted", func(r *PayoutRow) { r.Worker.Blacklisted = true }, Reject, "lists.worker", "risk_blacklisted", "worker w_1 is on the platform's blacklist"},
		{"unverified", func(r *PayoutRow) { r.Worker.Verified = false }, Hold, "identity.unverified", "worker_unverified", "worker w_1 has not passed real-name verification"},
		{"unsigned", func(r *PayoutRow) { r.Worker.Signed = false }, Hold, "identity.unsigned", "agreement_unsigned", "worker w_1 has no complete service agreement with this merchant"},
		{"officer", func(r *PayoutRow) { r.Worker.Officer = true }, Reject, "identity.officer", "risk_officer", "worker w_1 is a director, supervisor or senior manager of merchant m_1"},
		{"per payment", func(r *PayoutRow) { r.AmountFen, r.Task.BudgetFen = 5000001, 9000000 }, Reject, "limits.payment", "risk_payment_limit", "50000.01 is over the per-payment limit of 50000.00"},
		{"worker day", func(r *PayoutRow) { r.Worker.DayFen = 8900000 }, Reject, "limits.worker_day", "risk_daily_limit", "worker w_1 would be paid 90200.00 today on the platform, over the limit of 90000.00"},
		{"worker month", func(r *PayoutRow) { r.Worker.MonthFen = 9900000 }, Reject, "limits.worker_month", "risk_monthly_limit", "worker w_1 would be paid 100200.00 this month on the platform, over the limit of 100000.00"},
		{"worker year", func(r *PayoutRow) { r.Worker.YearFen = 119900000 }, Reject, "limits.worker_year", "risk_yearly_limit", "worker w_1 would be paid 1200200.00 this year on the platform, over the limit of 1200000.00"},
		{"structuring", func(r *PayoutRow) { r.AmountFen, r.Task.BudgetFen, r.Worker.DayNear = 4850000, 9000000, 1 }, Hold, "velocity.structuring", "risk_structuring", "worker w_1 was paid 1 amount(s) just under the per-payment limit of 50000.00 today; 48500.00 is another"},
		{"many merchants", func(r *PayoutRow) { r.Worker.DayMerchants = 4 }, Hold, "velocity.merchants", "risk_many_merchants", "worker w_1 is paid by 4 merchants today, more than 3"},
		{"task unaccepted", func(r *PayoutRow) { r.Task.Accepted = false }, Hold, "task.unaccepted", "task_not_accepted", "worker w_1's work on the task is not accepted"},
		{"over budget", func(r *PayoutRow) { r.AmountFen = 500001 }, Hold, "task.over_budget", "risk_over_budget", "5000.01 is over 100% of the task's budget of 5000.00"},
	}
	ctx := context.Background()
	for _, c := range cases {
		r := ordinaryRow()
		c.edit(&r)
		for path, decide := range map[string]func(context.Context, []PayoutRow) ([]RiskDecision, error){"fast": p.Decide, "each": p.DecideEach} {
			ds, err := decide(ctx, []PayoutRow{r})
			if err != nil {
				t.Fatalf("%s (%s): %v", c.name, path, err)
			}
			d := ds[0]
			if d.Outcome != c.outcome || d.Rule != c.rule || d.Code != c.code || d.Reason != c.reason {
				t.Errorf("%s (%s): %+v, want %s %s %s %q", c.name, path, d, c.outcome, c.rule, c.code, c.reason)
			}
		}
	}
}

// The canonical input is the JSON OPA decides on: the same decision from
// the bytes as from the row.
func TestTheCanonicalInputIsTheRowsInput(t *testing.T) {
	p := authorizer(t).Payout()
	r := ordinaryRow()
	r.Worker.Officer, r.Worker.Signed = true, false
	raw := r.AppendJSON(nil)
	var in any
	if err := json.Unmarshal(raw, &in); err != nil {
		t.Fatalf("%s: %v", raw, err)
	}
	rs, err := p.one.Eval(context.Background(), rego.EvalInput(in))
	if err != nil {
		t.Fatal(err)
	}
	got, err := riskDecision(rs[0].Expressions[0].Value)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := p.DecideEach(context.Background(), []PayoutRow{r})
	if !reflect.DeepEqual(got, want[0]) || got.Rule != "identity.officer" {
		t.Fatalf("from the bytes %+v, from the row %+v", got, want[0])
	}
	// Every field is in the bytes: as many keys as the compiler knows.
	flat := 0
	for _, v := range in.(map[string]any) {
		if m, ok := v.(map[string]any); ok {
			flat += len(m)
		} else {
			flat++
		}
	}
	if flat != len(payoutFields) {
		t.Fatalf("%d fields in the canonical input, %d known", flat, len(payoutFields))
	}
}

// randomRow draws rows around every threshold of the embedded settings,
// with lists that sometimes name the row.
func randomRow(rng *rand.Rand) PayoutRow {
	pick := func(xs ...int64) int64 { return xs[rng.IntN(len(xs))] }
	amounts := []int64{1, 99, 120000, 120000, 120000, 500000, 500001, 3999999, 4000000, 4999999, 5000000, 5000001, 9000000, 1 << 40}
	strs := func(xs ...string) string { return xs[rng.IntN(len(xs))] }
	return PayoutRow{
		AmountFen: pick(amounts...),
		Merchant:  RowMerchant{ID: strs("m_1", "m_1", "m_1", "m_bad"), Status: strs("approved", "approved", "approved", "suspended"), Grade: strs("A", "B", "C", "D", ""), DayFen: pick(0, 0, 100000, 1<<50)},
		Worker: RowWorker{ID: "w_1", IDBI: strs("aa11", "aa11", "bad_id", "white_id"), CardBI: strs("cc11", "cc11", "cc11", "bad_card"), DeviceBI: strs("dd11", "dd11", "dd11", "bad_dev"),
			Verified: rng.IntN(30) > 0, Signed: rng.IntN(30) > 0, Blacklisted: rng.IntN(30) == 0, Officer: rng.IntN(30) == 0,
			DayFen: pick(0, 0, 0, 3000000, 8900000, 9000000), MonthFen: pick(0, 0, 0, 9000000, 9999999, 10000000, 10000001),
			YearFen: pick(0, 0, 0, 0, 119000000, 120000000, 1<<62), DayMerchants: pick(1, 1, 1, 3, 4, 9), DayNear: pick(0, 0, 1, 2, 5)},
		Task: RowTask{Present: rng.IntN(4) > 0, Accepted: rng.IntN(30) > 0, BudgetFen: pick(9000000, 9000000, 500000, 1<<62)},
	}
}

// The fast path decides exactly as full evaluation on random rows, under
// the embedded settings and under settings that turn every rule on.
func TestTheFastPathDecidesLikeFullEvaluation(t *testing.T) {
	b, err := Embedded()
	if err != nil {
		t.Fatal(err)
	}
	strict, _ := Embedded()
	var data map[string]any
	raw, _ := json.Marshal(strict.Data)
	_ = json.Unmarshal(raw, &data)
	risk := data["cxt"].(map[string]any)
	s := risk["risk_settings"].(map[string]any)["payout"].(map[string]any)
	s["merchant_day_fen"], s["require_task"], s["monthly_limit_fen"] = 150000, true, 0
	risk["risk_lists"] = map[string]any{
		"black": map[string]any{"ids": []any{"bad_id"}, "cards": []any{"bad_card"}, "devices": []any{"bad_dev"}, "merchants": []any{"m_bad"}},
		"white": map[string]any{"ids": []any{"white_id"}},
	}
	strict.Data, strict.Version = data, "strict"
	rng := rand.New(rand.NewPCG(1, 2))
	for _, bundle := range []*Bundle{b, strict} {
		p, err := PayoutRulesOf(context.Background(), bundle)
		if err != nil {
			t.Fatal(err)
		}
		if !p.Fast {
			t.Fatalf("%s: no fast path: %s", bundle.Version, p.NoFast)
		}
		rows := make([]PayoutRow, 4000)
		for i := range rows {
			rows[i] = randomRow(rng)
		}
		fast, err := p.Decide(context.Background(), rows)
		if err != nil {
			t.Fatal(err)
		}
		each, err := p.DecideEach(context.Background(), rows)
		if err != nil {
			t.Fatal(err)
		}
		outcomes := map[string]int{}
		var hits []string
		for i := range rows {
			// The residual fires exactly the rules full evaluation names.
			var ok bool
			if hits, ok = p.res.hits(&rows[i], hits[:0]); ok {
				got := map[string]bool{}
				for _, h := range hits {
					got[h] = true
				}
				want := map[string]bool{}
				for _, h := range each[i].Hits {
					want[h.Rule] = true
				}
				if !reflect.DeepEqual(got, want) {
					t.Fatalf("%s row %+v: the residual fires %v, the rules %v", bundle.Version, rows[i], got, want)
				}
			} else {
				outcomes["overflow"]++
			}
			if !reflect.DeepEqual(fast[i], each[i]) {
				t.Fatalf("%s row %+v: fast %+v, full %+v", bundle.Version, rows[i], fast[i], each[i])
			}
			outcomes[fast[i].Outcome]++
			for _, h := range fast[i].Hits {
				outcomes[h.Rule]++
			}
		}
		if outcomes[Allow] == 0 || outcomes[Hold] == 0 || outcomes[Reject] == 0 {
			t.Fatalf("%s: the random rows do not reach every outcome: %v", bundle.Version, outcomes)
		}
		t.Logf("%s: %v", bundle.Version, outcomes)
	}
}

func benchRows(n int) []PayoutRow {
	rng := rand.New(rand.NewPCG(3, 4))
	rows := make([]PayoutRow, n)
	for i := range rows {
		rows[i] = ordinaryRow()
		rows[i].AmountFen = 1000 + rng.Int64N(300000)
		rows[i].Worker.MonthFen = rng.Int64N(9000000)
		if i%100 == 0 { // one row in a hundred flagged
			rows[i].Worker.Signed = false
		}
	}
	return rows
}

// BenchmarkPayoutChunk decides 10,000-row chunks: the fast path and one
// full query per row (ops/bench -only risk reports rows/s).
func BenchmarkPayoutChunk(b *testing.B) {
	p := authorizer(b).Payout()
	rows := benchRows(10000)
	clean := benchRows(10000)
	for i := range clean {
		clean[i].Worker.Signed = true
	}
	b.Run("fast_none_flagged", func(b *testing.B) {
		for b.Loop() {
			if _, err := p.Decide(context.Background(), clean); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.N*len(clean))/b.Elapsed().Seconds(), "rows/s")
	})
	for name, decide := range map[string]func(context.Context, []PayoutRow) ([]RiskDecision, error){"fast": p.Decide, "per_row": p.DecideEach} {
		b.Run(name, func(b *testing.B) {
			for b.Loop() {
				if _, err := decide(context.Background(), rows); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N*len(rows))/b.Elapsed().Seconds(), "rows/s")
		})
	}
}

// A bundle whose decision does not follow from its hits — here every row
// no rule hits is refused — gets no fast path: its rows are decided in full,
// as it says, never allowed by a residual that found no hit.
func TestADecisionThatDoesNotFollowItsHitsHasNoFastPath(t *testing.T) {
	b, err := Embedded()
	if err != nil {
		t.Fatal(err)
	}
	src := b.Modules["risk/payout.rego"]
	evil := strings.Replace(src, `default decision := {"outcome": "allow", "rule": "", "code": "", "reason": "", "clearable": false, "hits": []}`,
		`default decision := {"outcome": "reject", "rule": "all", "code": "closed", "reason": "closed", "clearable": false, "hits": []}`, 1)
	if evil == src {
		t.Fatal("the default decision is not where the test expects it")
	}
	b.Modules["risk/payout.rego"] = evil
	b.Files, b.Version = nil, "closed"
	p, err := PayoutRulesOf(context.Background(), b)
	if err != nil {
		t.Fatal(err)
	}
	if p.Fast || !strings.Contains(p.NoFast, "does not follow from the hits") {
		t.Fatalf("fast %v: %s", p.Fast, p.NoFast)
	}
	r := ordinaryRow()
	if d, err := p.DecideRow(context.Background(), &r); err != nil || d.Outcome != Reject || d.Rule != "all" {
		t.Fatalf("an ordinary row: %+v %v", d, err)
	}
}
