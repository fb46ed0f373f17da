package policy

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"

	"cxt/crypto/sm"
)

// PayoutRow is what the payout rules (policy/risk/payout.rego) decide one
// row on: its input, every field always present. Money in fen.
type PayoutRow struct {
	AmountFen int64
	Merchant  RowMerchant
	Worker    RowWorker
	Task      RowTask
}

// RowMerchant is the paying merchant as a row's rules see it.
type RowMerchant struct {
	ID, Status, Grade string
	DayFen            int64 // paid today before the row
}

// RowWorker is the payee as a row's rules see it.
type RowWorker struct {
	ID                        string
	IDBI, CardBI, DeviceBI    string // blind indexes, hex; "" when none
	Verified, Signed          bool
	Blacklisted, Officer      bool
	DayFen, MonthFen, YearFen int64 // paid on the platform before the row
	DayMerchants, DayNear     int64
}

// RowTask is the task a row pays for.
type RowTask struct {
	Present, Accepted bool
	BudgetFen         int64
}

// payoutField reads one input field of a row: exactly one of i, s, b.
type payoutField struct {
	i func(*PayoutRow) int64
	s func(*PayoutRow) string
	b func(*PayoutRow) bool
}

// payoutFields are the input's fields by path: the residual compiler's
// names, and the order of the canonical input (sorted keys, as JSON).
var payoutFields = map[string]payoutField{
	"amount_fen":           {i: func(r *PayoutRow) int64 { return r.AmountFen }},
	"merchant.day_fen":     {i: func(r *PayoutRow) int64 { return r.Merchant.DayFen }},
	"merchant.grade":       {s: func(r *PayoutRow) string { return r.Merchant.Grade }},
	"merchant.id":          {s: func(r *PayoutRow) string { return r.Merchant.ID }},
	"merchant.status":      {s: func(r *PayoutRow) string { return r.Merchant.Status }},
	"task.accepted":        {b: func(r *PayoutRow) bool { return r.Task.Accepted }},
	"task.budget_fen":      {i: func(r *PayoutRow) int64 { return r.Task.BudgetFen }},
	"task.present":         {b: func(r *PayoutRow) bool { return r.Task.Present }},
	"worker.blacklisted":   {b: func(r *PayoutRow) bool { return r.Worker.Blacklisted }},
	"worker.card_bi":       {s: func(r *PayoutRow) string { return r.Worker.CardBI }},
	"worker.day_fen":       {i: func(r *PayoutRow) int64 { return r.Worker.DayFen }},
	"worker.day_merchants": {i: func(r *PayoutRow) int64 { return r.Worker.DayMerchants }},
	"worker.day_near":      {i: func(r *PayoutRow) int64 { return r.Worker.DayNear }},
	"worker.device_bi":     {s: func(r *PayoutRow) string { return r.Worker.DeviceBI }},
	"worker.id":            {s: func(r *PayoutRow) string { return r.Worker.ID }},
	"worker.id_bi":         {s: func(r *PayoutRow) string { return r.Worker.IDBI }},
	"worker.month_fen":     {i: func(r *PayoutRow) int64 { return r.Worker.MonthFen }},
	"worker.officer":       {b: func(r *PayoutRow) bool { return r.Worker.Officer }},
	"worker.signed":        {b: func(r *PayoutRow) bool { return r.Worker.Signed }},
	"worker.verified":      {b: func(r *PayoutRow) bool { return r.Worker.Verified }},
	"worker.year_fen":      {i: func(r *PayoutRow) int64 { return r.Worker.YearFen }},
}

// AppendJSON appends the row's canonical input: JSON with keys sorted and
// no spaces — the bytes a decision's input_sm3 is the SM3 of, and what
// `cxt policy eval --input` takes to replay it.
func (r *PayoutRow) AppendJSON(b []byte) []byte {
	str := func(b []byte, k, v string, comma bool) []byte {
		b = append(append(append(b, '"'), k...), `":`...)
		b = strconv.AppendQuote(b, v)
		if comma {
			b = append(b, ',')
		}
		return b
	}
	num := func(b []byte, k string, v int64, comma bool) []byte {
		b = append(append(append(b, '"'), k...), `":`...)
		b = strconv.AppendInt(b, v, 10)
		if comma {
			b = append(b, ',')
		}
		return b
	}
	boolean := func(b []byte, k string, v, comma bool) []byte {
		b = append(append(append(b, '"'), k...), `":`...)
		b = strconv.AppendBool(b, v)
		if comma {
			b = append(b, ',')
		}
		return b
	}
	b = append(b, '{')
	b = num(b, "amount_fen", r.AmountFen, true)
	b = append(b, `"merchant":{`...)
	b = num(b, "day_fen", r.Merchant.DayFen, true)
	b = str(b, "grade", r.Merchant.Grade, true)
	b = str(b, "id", r.Merchant.ID, true)
	b = str(b, "status", r.Merchant.Status, false)
	b = append(b, `},"task":{`...)
	b = boolean(b, "accepted", r.Task.Accepted, true)
	b = num(b, "budget_fen", r.Task.BudgetFen, true)
	b = boolean(b, "present", r.Task.Present, false)
	b = append(b, `},"worker":{`...)
	w := &r.Worker
	b = boolean(b, "blacklisted", w.Blacklisted, true)
	b = str(b, "card_bi", w.CardBI, true)
	b = num(b, "day_fen", w.DayFen, true)
	b = num(b, "day_merchants", w.DayMerchants, true)
	b = num(b, "day_near", w.DayNear, true)
	b = str(b, "device_bi", w.DeviceBI, true)
	b = str(b, "id", w.ID, true)
	b = str(b, "id_bi", w.IDBI, true)
	b = num(b, "month_fen", w.MonthFen, true)
	b = boolean(b, "officer", w.Officer, true)
	b = boolean(b, "signed", w.Signed, true)
	b = boolean(b, "verified", w.Verified, true)
	b = num(b, "year_fen", w.YearFen, false)
	return append(b, "}}"...)
}

// InputSM3 is the SM3 of the row's canonical input, hex.
func (r *PayoutRow) InputSM3() string {
	var buf [512]byte
	d := sm.Sum(r.AppendJSON(buf[:0]))
	return hex.EncodeToString(d[:])
}

// value is the row as an OPA input, built directly.
func (r *PayoutRow) value() *ast.Term {
	w := &r.Worker
	return ast.ObjectTerm(
		ast.Item(ast.StringTerm("amount_fen"), ast.IntNumberTerm(int(r.AmountFen))),
		ast.Item(ast.StringTerm("merchant"), ast.ObjectTerm(
			ast.Item(ast.StringTerm("id"), ast.StringTerm(r.Merchant.ID)),
			ast.Item(ast.StringTerm("status"), ast.StringTerm(r.Merchant.Status)),
			ast.Item(ast.StringTerm("grade"), ast.StringTerm(r.Merchant.Grade)),
			ast.Item(ast.StringTerm("day_fen"), ast.IntNumberTerm(int(r.Merchant.DayFen))),
		)),
		ast.Item(ast.StringTerm("worker"), ast.ObjectTerm(
			ast.Item(ast.StringTerm("id"), ast.StringTerm(w.ID)),
			ast.Item(ast.StringTerm("id_bi"), ast.StringTerm(w.IDBI)),
			ast.Item(ast.StringTerm("card_bi"), ast.StringTerm(w.CardBI)),
			ast.Item(ast.StringTerm("device_bi"), ast.StringTerm(w.DeviceBI)),
			ast.Item(ast.StringTerm("verified"), ast.BooleanTerm(w.Verified)),
			ast.Item(ast.StringTerm("signed"), ast.BooleanTerm(w.Signed)),
			ast.Item(ast.StringTerm("blacklisted"), ast.BooleanTerm(w.Blacklisted)),
			ast.Item(ast.StringTerm("officer"), ast.BooleanTerm(w.Officer)),
			ast.Item(ast.StringTerm("day_fen"), ast.IntNumberTerm(int(w.DayFen))),
			ast.Item(ast.StringTerm("month_fen"), ast.IntNumberTerm(int(w.MonthFen))),
			ast.Item(ast.StringTerm("year_fen"), ast.IntNumberTerm(int(w.YearFen))),
			ast.Item(ast.StringTerm("day_merchants"), ast.IntNumberTerm(int(w.DayMerchants))),
			ast.Item(ast.StringTerm("day_near"), ast.IntNumberTerm(int(w.DayNear))),
		)),
		ast.Item(ast.StringTerm("task"), ast.ObjectTerm(
			ast.Item(ast.StringTerm("present"), ast.BooleanTerm(r.Task.Present)),
			ast.Item(ast.StringTerm("accepted"), ast.BooleanTerm(r.Task.Accepted)),
			ast.Item(ast.StringTerm("budget_fen"), ast.IntNumberTerm(int(r.Task.BudgetFen))),
		)),
	)
}

// Outcomes of a risk decision.
const (
	Allow  = "allow"
	Hold   = "hold"   // waits for a person, with the reason
	Reject = "reject" // refused, with the reason
)

// Hit is one rule that fired, with its outcome, code and reason.
type Hit struct {
	Rule    string `json:"rule"`
	Outcome string `json:"outcome"`
	Code    string `json:"code"`
	Reason  string `json:"reason"`
	// Clearable: a hold a platform reviewer may let pass for one payment.
	Clearable bool `json:"clearable,omitempty"`
}

// RiskDecision is a rule set's answer: the outcome, the rule that made it
// (the first hit: reject before hold, then by name) with its code and
// reason, and every hit.
type RiskDecision struct {
	Outcome string `json:"outcome"`
	Rule    string `json:"rule,omitempty"`
	Code    string `json:"code,omitempty"`
	Reason  string `json:"reason,omitempty"`
	// Clearable: the deciding rule is a hold a reviewer may clear.
	Clearable bool  `json:"clearable,omitempty"`
	Hits      []Hit `json:"hits,omitempty"`
}

// PayoutRules are a bundle's payout rules, compiled: full evaluation, and
// the residual fast path when the rules compile to one.
type PayoutRules struct {
	Version string // the bundle's
	Digest  string // the bundle's SM3, hex
	// Settings is data.cxt.risk_settings.payout.version, the rules' own.
	Settings string
	// Fast says whether the residual fast path is in use, and NoFast why
	// not.
	Fast   bool
	NoFast string

	one, given        rego.PreparedEvalQuery
	res               *residual
	limitFen, nearFen int64
}

func compilePayout(ctx context.Context, b *Bundle, prepare func(string) (rego.PreparedEvalQuery, error)) (*PayoutRules, error) {
	p := &PayoutRules{Version: b.Version}
	d := b.Digest()
	p.Digest = hex.EncodeToString(d[:])
	var err error
	if p.one, err = prepare("data.cxt.risk.payout.decision"); err != nil {
		return nil, err
	}
	// The same decision with the hits the residual found given, not
	// evaluated again: the rules then only word and rank them.
	if p.given, err = prepare("data.cxt.risk.payout.decision with data.cxt.risk.payout.hits as {h | some h in input." + givenHits + "}"); err != nil {
		return nil, err
	}
	defer func() {
		if p.res == nil {
			p.Fast = false
		}
	}()
	if s, ok := lookup(b.Data, "cxt", "risk_settings", "payout", "version").(string); ok {
		p.Settings = s
	}
	limit, ok1 := wholeNumber(lookup(b.Data, "cxt", "risk_settings", "payout", "payment_fen"))
	pct, ok2 := wholeNumber(lookup(b.Data, "cxt", "risk_settings", "payout", "near_limit_pct"))
	if ok1 && ok2 && limit > 0 && pct > 0 && limit < 1<<40 && pct <= 100 {
		p.limitFen, p.nearFen = limit, (limit*pct+99)/100
	}
	data := b.Data
	if data == nil {
		data = map[string]any{}
	}
	// A bundle without the rules decides nothing: no residual may then let
	// rows through, and full evaluation answers ErrNoDecision.
	_, err = p.evalOne(ctx, &PayoutRow{})
	if err == nil {
		var pq *rego.PartialQueries
		if pq, err = partialPayout(ctx, b.Modules, data); err == nil {
			p.res, err = compileResidual(pq)
		}
	}
	if err == nil {
		err = p.followsHits(ctx)
	}
	if err != nil {
		p.res, p.NoFast = nil, err.Error()
	} else {
		p.Fast = true
	}
	return p, nil
}

// givenHits is the input key the hits the residual found are handed to the
// rules under (PayoutRules.given); no rule reads it.
const givenHits = "__cxt_residual_hits"

// followsHits checks the contract the fast path rests on — a row no rule
// hits is allowed, and the decision follows from the hits — on a few rows
// far apart: with no hit given, each is allowed; with each hit the
// residual finds, the decision is the one full evaluation gives. A bundle
// whose decision reads the input past its hits fails it, and gets no fast
// path. This is a check, not a proof (docs/risk.md).
func (p *PayoutRules) followsHits(ctx context.Context) error {
	rows := []PayoutRow{{}, {AmountFen: 1 << 40, Merchant: RowMerchant{Status: "approved", Grade: "A"},
		Worker: RowWorker{Verified: true, Signed: true, DayMerchants: 1}, Task: RowTask{Present: true, Accepted: true, BudgetFen: 1 << 41}},
		{AmountFen: 100, Merchant: RowMerchant{ID: "m", Status: "approved", Grade: "B"}, Worker: RowWorker{ID: "w", Verified: true, Signed: true, DayMerchants: 1},
			Task: RowTask{Present: true, Accepted: true, BudgetFen: 10000}}}
	for i := range rows {
		none, err := p.evalGiven(ctx, &rows[i], nil)
		if err != nil {
			return err
		}
		if none.Outcome != Allow {
			return fmt.Errorf("the payout decision is %s for a row no rule hits: it does not follow from the hits alone", none.Outcome)
		}
		hits, ok := p.res.hits(&rows[i], nil)
		if !ok {
			continue
		}
		given, err := p.evalGiven(ctx, &rows[i], hits)
		if err != nil {
			return err
		}
		full, err := p.evalOne(ctx, &rows[i])
		if err != nil {
			return err
		}
		if given.Outcome != full.Outcome || given.Rule != full.Rule {
			return fmt.Errorf("the payout decision given its hits (%s %s) is not the full one (%s %s)", given.Outcome, given.Rule, full.Outcome, full.Rule)
		}
	}
	return nil
}

// evalGiven decides r with hits given.
func (p *PayoutRules) evalGiven(ctx context.Context, r *PayoutRow, hits []string) (RiskDecision, error) {
	terms := make([]*ast.Term, len(hits))
	for i, h := range hits {
		terms[i] = ast.StringTerm(h)
	}
	in := r.value().Value.(ast.Object).Copy()
	in.Insert(ast.StringTerm(givenHits), ast.ArrayTerm(terms...))
	return evalDecision(ctx, p.given, in)
}

// wholeNumber reads a JSON number that is a whole number.
func wholeNumber(v any) (int64, bool) {
	switch n := v.(type) {
	case json.Number:
		i, err := n.Int64()
		return i, err == nil
	case float64:
		if n == float64(int64(n)) {
			return int64(n), true
		}
	}
	return 0, false
}

func lookup(m map[string]any, path ...string) any {
	var v any = m
	for _, k := range path {
		mm, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = mm[k]
	}
	return v
}

// Decide answers every row, each as DecideRow does.
func (p *PayoutRules) Decide(ctx context.Context, rows []PayoutRow) ([]RiskDecision, error) {
	return p.each(ctx, rows, p.DecideRow)
}

// DecideEach answers every row by one full query per row.
func (p *PayoutRules) DecideEach(ctx context.Context, rows []PayoutRow) ([]RiskDecision, error) {
	return p.each(ctx, rows, p.evalOne)
}

func (p *PayoutRules) each(ctx context.Context, rows []PayoutRow, decide func(context.Context, *PayoutRow) (RiskDecision, error)) ([]RiskDecision, error) {
	out := make([]RiskDecision, len(rows))
	for i := range rows {
		d, err := decide(ctx, &rows[i])
		if err != nil {
			return nil, err
		}
		out[i] = d
	}
	return out, nil
}

// evalOne evaluates one row in full.
func (p *PayoutRules) evalOne(ctx context.Context, r *PayoutRow) (RiskDecision, error) {
	return evalDecision(ctx, p.one, r.value().Value)
}

func evalDecision(ctx context.Context, q rego.PreparedEvalQuery, in ast.Value) (RiskDecision, error) {
	rs, err := q.Eval(ctx, rego.EvalParsedInput(in))
	if err != nil {
		return RiskDecision{}, fmt.Errorf("policy: payout rules: %w", err)
	}
	if len(rs) != 1 || len(rs[0].Expressions) != 1 {
		return RiskDecision{}, ErrNoDecision
	}
	return riskDecision(rs[0].Expressions[0].Value)
}

// readHit reads the fields a hit and a decision share.
func readHit(m map[string]any) Hit {
	var h Hit
	h.Rule, _ = m["rule"].(string)
	h.Outcome, _ = m["outcome"].(string)
	h.Code, _ = m["code"].(string)
	h.Reason, _ = m["reason"].(string)
	h.Clearable, _ = m["clearable"].(bool)
	return h
}

// riskDecision reads a decision object; anything malformed is no decision.
func riskDecision(v any) (RiskDecision, error) {
	m, ok := v.(map[string]any)
	if !ok {
		return RiskDecision{}, ErrNoDecision
	}
	h := readHit(m)
	d := RiskDecision{Outcome: h.Outcome, Rule: h.Rule, Code: h.Code, Reason: h.Reason, Clearable: h.Clearable}
	switch d.Outcome {
	case Allow:
		if d.Rule != "" {
			return RiskDecision{}, ErrNoDecision
		}
	case Hold, Reject:
		if d.Rule == "" || d.Code == "" {
			return RiskDecision{}, ErrNoDecision
		}
	default:
		return RiskDecision{}, ErrNoDecision
	}
	hits, _ := m["hits"].([]any)
	for _, h := range hits {
		hm, ok := h.(map[string]any)
		if !ok {
			return RiskDecision{}, ErrNoDecision
		}
		d.Hits = append(d.Hits, readHit(hm))
	}
	return d, nil
}

// payoutCache keeps the payout rules compiled for the bundles the state
// machine met, by digest: compiling takes tens of milliseconds, and every
// replica must decide a chunk by the bundle its log holds at that index,
// not by whatever its Authorizer has swapped in by then.
var payoutCache struct {
	sync.Mutex
	m map[string]*PayoutRules
}

// PayoutRulesOf returns b's payout rules, compiled once per digest.
func PayoutRulesOf(ctx context.Context, b *Bundle) (*PayoutRules, error) {
	d := b.Digest()
	key := hex.EncodeToString(d[:])
	payoutCache.Lock()
	defer payoutCache.Unlock()
	if p, ok := payoutCache.m[key]; ok {
		return p, nil
	}
	a, err := New(ctx, b)
	if err != nil {
		return nil, err
	}
	p := a.current.Load().payout
	if payoutCache.m == nil || len(payoutCache.m) >= 16 {
		payoutCache.m = map[string]*PayoutRules{}
	}
	payoutCache.m[key] = p
	return p, nil
}

// Payout returns the payout rules of the policy in force.
func (a *Authorizer) Payout() *PayoutRules { return a.current.Load().payout }

// DecideRow answers one row: the residual first, and full evaluation only
// when it flags the row or cannot decide it.
func (p *PayoutRules) DecideRow(ctx context.Context, r *PayoutRow) (RiskDecision, error) {
	if p.res != nil {
		var buf [8]string
		if hits, ok := p.res.hits(r, buf[:0]); ok && len(hits) == 0 {
			return RiskDecision{Outcome: Allow}, nil
		} else if ok {
			return p.evalGiven(ctx, r, hits)
		}
	}
	return p.evalOne(ctx, r)
}

// NearLimit returns the per-payment limit and the least amount the
// structuring rule counts as just under it (payment_fen and near_limit_pct
// of the settings; 0, 0 when either is missing or zero), for the counters
// the rule reads.
func (p *PayoutRules) NearLimit() (limit, near int64) { return p.limitFen, p.nearFen }

// UnmarshalJSON reads a canonical input (AppendJSON) back into a row: every
// field must be there, and nothing else.
func (r *PayoutRow) UnmarshalJSON(b []byte) error {
	var in struct {
		AmountFen *int64 `json:"amount_fen"`
		Merchant  *struct {
			ID, Status, Grade *string
			DayFen            *int64 `json:"day_fen"`
		} `json:"merchant"`
		Task *struct {
			Accepted  *bool  `json:"accepted"`
			BudgetFen *int64 `json:"budget_fen"`
			Present   *bool  `json:"present"`
		} `json:"task"`
		Worker *struct {
			Blacklisted  *bool   `json:"blacklisted"`
			CardBI       *string `json:"card_bi"`
			DayFen       *int64  `json:"day_fen"`
			DayMerchants *int64  `json:"day_merchants"`
			DayNear      *int64  `json:"day_near"`
			DeviceBI     *string `json:"device_bi"`
			ID           *string `json:"id"`
			IDBI         *string `json:"id_bi"`
			MonthFen     *int64  `json:"month_fen"`
			Officer      *bool   `json:"officer"`
			Signed       *bool   `json:"signed"`
			Verified     *bool   `json:"verified"`
			YearFen      *int64  `json:"year_fen"`
		} `json:"worker"`
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil {
		return fmt.Errorf("policy: a payout row: %w", err)
	}
	m, t, w := in.Merchant, in.Task, in.Worker
	if in.AmountFen == nil || m == nil || t == nil || w == nil ||
		m.ID == nil || m.Status == nil || m.Grade == nil || m.DayFen == nil ||
		t.Accepted == nil || t.BudgetFen == nil || t.Present == nil ||
		w.Blacklisted == nil || w.CardBI == nil || w.DayFen == nil || w.DayMerchants == nil || w.DayNear == nil ||
		w.DeviceBI == nil || w.ID == nil || w.IDBI == nil || w.MonthFen == nil || w.Officer == nil ||
		w.Signed == nil || w.Verified == nil || w.YearFen == nil {
		return ErrRowFields
	}
	*r = PayoutRow{
		AmountFen: *in.AmountFen,
		Merchant:  RowMerchant{ID: *m.ID, Status: *m.Status, Grade: *m.Grade, DayFen: *m.DayFen},
		Task:      RowTask{Present: *t.Present, Accepted: *t.Accepted, BudgetFen: *t.BudgetFen},
		Worker: RowWorker{ID: *w.ID, IDBI: *w.IDBI, CardBI: *w.CardBI, DeviceBI: *w.DeviceBI, Verified: *w.Verified,
			Signed: *w.Signed, Blacklisted: *w.Blacklisted, Officer: *w.Officer, DayFen: *w.DayFen, MonthFen: *w.MonthFen,
			YearFen: *w.YearFen, DayMerchants: *w.DayMerchants, DayNear: *w.DayNear},
	}
	return nil
}

// ErrRowFields refuses a payout row missing a field: the rules read every
// field, and one missing would leave rules undefined rather than decided.
var ErrRowFields = errors.New("policy: a payout row needs every field: amount_fen, merchant {id, status, grade, day_fen}, task {present, accepted, budget_fen}, worker {id, id_bi, card_bi, device_bi, verified, signed, blacklisted, officer, day_fen, month_fen, year_fen, day_merchants, day_near}")
