package policy

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sort"
	"sync"

	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/storage/inmem"

	"cxt/crypto/sm"
)

// The concerns decided before a transaction (standard §7 风控, 事前), each a
// package of policy/risk with its decision at data.cxt.risk.<concern>.decision
// and its settings at data.cxt.risk_settings.<concern>.
const (
	RiskMerchant = "merchant" // a reviewer approves a merchant
	RiskWorker   = "worker"   // a worker registers
	RiskTask     = "task"     // a merchant publishes a task
)

// Decided is a risk decision as the record it was made for keeps it: the
// decision, the policy bundle and the settings' version it was made under,
// and its input — canonical JSON and the input's SM3 — so that it can be
// evaluated again and compared.
type Decided struct {
	RiskDecision
	Concern  string          `json:"concern"`
	Policy   string          `json:"policy"`             // the bundle's version
	Settings string          `json:"settings,omitempty"` // data.cxt.risk_settings.<concern>.version
	InputSM3 string          `json:"input_sm3"`          // hex SM3 of Input
	Input    json.RawMessage `json:"input"`
}

// Canonical returns v as canonical JSON: object keys sorted at every level,
// no spaces, numbers as written. It is what a decision's input_sm3 is the
// SM3 of.
func Canonical(v any) ([]byte, error) {
	raw, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var tree any
	if err := dec.Decode(&tree); err != nil {
		return nil, err
	}
	// encoding/json writes map keys sorted.
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(tree); err != nil {
		return nil, err
	}
	return bytes.TrimRight(buf.Bytes(), "\n"), nil
}

// SM3Hex is the SM3 of b, hex.
func SM3Hex(b []byte) string {
	d := sm.Sum(b)
	return hex.EncodeToString(d[:])
}

// RiskRules are one bundle's rules of the concerns decided before a
// transaction and of the merchant rating, each query prepared on first use.
type RiskRules struct {
	Version string // the bundle's
	Digest  string // the bundle's SM3, hex

	bundle *Bundle
	mu     sync.Mutex
	q      map[string]*lazyQuery
}

type lazyQuery struct {
	once sync.Once
	q    rego.PreparedEvalQuery
	err  error
}

func newRiskRules(b *Bundle) *RiskRules {
	d := b.Digest()
	return &RiskRules{Version: b.Version, Digest: hex.EncodeToString(d[:]), bundle: b, q: map[string]*lazyQuery{}}
}

// query prepares (once) and evaluates query with input.
func (r *RiskRules) query(ctx context.Context, query string, input any) (any, error) {
	r.mu.Lock()
	lq, ok := r.q[query]
	if !ok {
		lq = &lazyQuery{}
		r.q[query] = lq
	}
	r.mu.Unlock()
	lq.once.Do(func() { lq.q, lq.err = r.prepare(context.WithoutCancel(ctx), query) })
	if lq.err != nil {
		return nil, fmt.Errorf("policy: prepare %s: %w", query, lq.err)
	}
	rs, err := lq.q.Eval(ctx, rego.EvalInput(input))
	if err != nil {
		return nil, fmt.Errorf("policy: %s: %w", query, err)
	}
	if len(rs) != 1 || len(rs[0].Expressions) != 1 {
		return nil, ErrNoDecision
	}
	return rs[0].Expressions[0].Value, nil
}

// prepare compiles query over the bundle as Swap compiles the policy's own
// queries: the same modules, data and unsafe built-ins.
func (r *RiskRules) prepare(ctx context.Context, query string) (rego.PreparedEvalQuery, error) {
	data := r.bundle.Data
	if data == nil {
		data = map[string]any{}
	}
	names := make([]string, 0, len(r.bundle.Modules))
	for name := range r.bundle.Modules {
		names = append(names, name)
	}
	sort.Strings(names)
	opts := []func(*rego.Rego){
		rego.Query(query),
		rego.Store(inmem.NewFromObject(data)),
		rego.UnsafeBuiltins(unsafeBuiltins),
		rego.StrictBuiltinErrors(true),
	}
	for _, name := range names {
		opts = append(opts, rego.Module(name, r.bundle.Modules[name]))
	}
	return rego.New(opts...).PrepareForEval(ctx)
}

// Decide evaluates data.cxt.risk.<concern>.decision on input. The answer is
// filled in as far as it got even on an error: a policy without the rule,
// or whose rule answers nothing well formed, is ErrNoDecision, which the
// caller must not read as allow.
func (r *RiskRules) Decide(ctx context.Context, concern string, input any) (Decided, error) {
	out := Decided{Concern: concern, Policy: r.Version}
	raw, err := Canonical(input)
	if err != nil {
		return out, fmt.Errorf("policy: %s input: %w", concern, err)
	}
	out.Input, out.InputSM3 = raw, SM3Hex(raw)
	if s, ok := lookup(r.bundle.Data, "cxt", "risk_settings", concern, "version").(string); ok {
		out.Settings = s
	}
	var in any
	if err := json.Unmarshal(raw, &in); err != nil {
		return out, err
	}
	v, err := r.query(ctx, "data.cxt.risk."+concern+".decision", in)
	if err != nil {
		return out, err
	}
	if out.RiskDecision, err = riskDecision(v); err != nil {
		return out, err
	}
	return out, nil
}

// Rating is a merchant's rating as data.cxt.risk.rating.rating computes
// it: a score from 0.00 to 100.00, its grade, and each input's value,
// weight and why; with the policy, settings and input it was computed
// from.
type Rating struct {
	Score    string        `json:"score"`
	Grade    string        `json:"grade"`
	Explain  []RatingInput `json:"explain"`
	Policy   string        `json:"policy"`
	Settings string        `json:"settings"`
	InputSM3 string        `json:"input_sm3"`
}

// RatingInput is one input of a rating.
type RatingInput struct {
	Input  string `json:"input"`
	Value  int64  `json:"value"` // 0..100
	Weight int64  `json:"weight"`
	Why    string `json:"why"`
}

// Rate evaluates data.cxt.risk.rating.rating on input; a policy without the
// rule is ErrNoDecision.
func (r *RiskRules) Rate(ctx context.Context, input any) (Rating, error) {
	out := Rating{Policy: r.Version}
	raw, err := Canonical(input)
	if err != nil {
		return out, fmt.Errorf("policy: rating input: %w", err)
	}
	out.InputSM3 = SM3Hex(raw)
	var in any
	if err := json.Unmarshal(raw, &in); err != nil {
		return out, err
	}
	v, err := r.query(ctx, "data.cxt.risk.rating.rating", in)
	if err != nil {
		return out, err
	}
	m, ok := v.(map[string]any)
	if !ok {
		return out, ErrNoDecision
	}
	out.Score, _ = m["score"].(string)
	out.Grade, _ = m["grade"].(string)
	out.Settings, _ = m["version"].(string)
	ex, _ := m["explain"].([]any)
	for _, e := range ex {
		em, ok := e.(map[string]any)
		if !ok {
			return out, ErrNoDecision
		}
		var in RatingInput
		in.Input, _ = em["input"].(string)
		in.Why, _ = em["why"].(string)
		value, ok1 := em["value"].(json.Number)
		weight, ok2 := em["weight"].(json.Number)
		if !ok1 || !ok2 {
			return out, ErrNoDecision
		}
		if in.Value, err = value.Int64(); err != nil {
			return out, ErrNoDecision
		}
		if in.Weight, err = weight.Int64(); err != nil {
			return out, ErrNoDecision
		}
		out.Explain = append(out.Explain, in)
	}
	if out.Score == "" || out.Grade == "" || len(out.Explain) == 0 {
		return out, ErrNoDecision
	}
	return out, nil
}

// riskCache keeps the risk rules of the bundles met, by the bundle's
// pointer (the Authorizer's, which is swapped whole) and by the SM3 of a
// stored bundle's bytes: preparing a query compiles the whole bundle.
var riskCache struct {
	sync.Mutex
	byBundle map[*Bundle]*RiskRules
	byRaw    map[string]*RiskRules
}

// cachedRules returns the rules under key in m, making them with mk.
func cachedRules[K comparable](m *map[K]*RiskRules, key K, mk func() (*RiskRules, error)) (*RiskRules, error) {
	riskCache.Lock()
	defer riskCache.Unlock()
	if r, ok := (*m)[key]; ok {
		return r, nil
	}
	r, err := mk()
	if err != nil {
		return nil, err
	}
	if *m == nil || len(*m) >= 16 {
		*m = map[K]*RiskRules{}
	}
	(*m)[key] = r
	return r, nil
}

// RiskRulesOf returns b's risk rules, made once per bundle.
func RiskRulesOf(b *Bundle) *RiskRules {
	r, _ := cachedRules(&riskCache.byBundle, b, func() (*RiskRules, error) { return newRiskRules(b), nil })
	return r
}

// Risk returns the risk rules of the policy in force.
func (a *Authorizer) Risk() *RiskRules { return RiskRulesOf(a.Bundle()) }

// StoredRiskRules returns the risk rules of the policy bundle stored in the
// state (Stored), or of the embedded policy when none is: what a command
// decides by, so that every replica decides alike whatever policy its
// Authorizer has swapped in by then.
func StoredRiskRules(tx Getter) (*RiskRules, error) {
	raw, err := tx.Get(Bucket, currentKey)
	if err != nil {
		return nil, err
	}
	key := "embedded"
	if raw != nil {
		key = SM3Hex(raw)
	}
	return cachedRules(&riskCache.byRaw, key, func() (*RiskRules, error) {
		if raw == nil {
			b, err := Embedded()
			if err != nil {
				return nil, err
			}
			return newRiskRules(b), nil
		}
		b, _, err := decodeStored(raw)
		if err != nil {
			return nil, fmt.Errorf("policy: the stored bundle: %w", err)
		}
		return newRiskRules(b), nil
	})
}
