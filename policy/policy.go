// Package policy decides every API action with OPA: rego policies embedded in
// the binary (or loaded later as signed data), compiled once into a prepared
// query that is swapped atomically when the policy changes. Deny by default;
// network built-ins are unavailable to policies.
package policy

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"sort"
	"sync"
	"sync/atomic"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/storage/inmem"
)

//go:embed rego/*.rego rego/data.json
var embedded embed.FS

// Subject is who asks.
type Subject struct {
	ID        string   `json:"id"`
	Roles     []string `json:"roles"`     // "anonymous" for a caller without a session
	Clearance int      `json:"clearance"` // security label the subject may see (1 public .. 4 secret)
	MFA       bool     `json:"mfa"`       // the session passed a second factor
	// Merchant is the merchant a merchant user belongs to; Worker the
	// worker record a worker's account is. Platform staff have neither.
	Merchant string `json:"merchant,omitempty"`
	Worker   string `json:"worker,omitempty"`
	// Scope is what a machine client (role merchant_client) may do: the
	// actions it was registered for. Accounts have none (CheckScope).
	Scope []string `json:"scope,omitempty"`
}

// Resource is what is acted on.
type Resource struct {
	Owner string   `json:"owner,omitempty"`
	Label int      `json:"label"` // its security label
	Roles []string `json:"roles,omitempty"`
	// Tenanted: the resource belongs to merchants or a worker, and a
	// tenant's users may act on it only if it is theirs (CheckTenant).
	Tenanted  bool     `json:"tenanted,omitempty"`
	Merchants []string `json:"merchants,omitempty"` // the merchants it belongs to
	Worker    string   `json:"worker,omitempty"`    // the worker it belongs to
}

// Input is one authorization question.
type Input struct {
	Subject  Subject  `json:"subject"`
	Action   string   `json:"action"`
	Resource Resource `json:"resource"`
}

// Decision is OPA's answer.
type Decision struct {
	Allow   bool     `json:"allow"`
	Reasons []string `json:"reasons,omitempty"`
}

// Authorizer evaluates the current policy.
type Authorizer struct {
	current atomic.Pointer[compiled]
	base    *Bundle // the bundle New compiled: in force while none is stored
}

type compiled struct {
	allow, decision rego.PreparedEvalQuery
	payoutLimits    rego.PreparedEvalQuery // data.cxt.risk.payout_limits (risk.go)
	payoutRow       rego.PreparedEvalQuery // data.cxt.risk.payout_row (risk.go)
	payout          *PayoutRules           // data.cxt.risk.payout (payout.go)
	version         string
	bundle          *Bundle
	queries         sync.Map // query -> *preparedQuery, prepared on first use (query.go)
}

// unsafe built-ins: a policy decides from its input alone — no network,
// no clock, no randomness — so that every replica, running a bundle's
// tests when it applies the bundle, gets the answers its peers get.
var unsafeBuiltins = map[string]struct{}{
	"http.send": {}, "net.lookup_ip_addr": {}, "net.cidr_expand": {}, "opa.runtime": {}, "trace": {},
	"rand.intn": {}, "time.now_ns": {}, "uuid.rfc4122": {},
	// They read the clock to check expiry and validity periods.
	"io.jwt.decode_verify": {}, "crypto.x509.parse_and_verify_certificates": {},
	"crypto.x509.parse_and_verify_certificates_with_options": {},
}

// Bundle is a policy as it is compiled: rego modules by file name (tests
// left out), the data they read, and its version. A bundle built from
// files (Files.Bundle) keeps them, for its digest and text diffs; one
// built in code, or stored by a policy.set before signed bundles, has
// none.
type Bundle struct {
	Modules map[string]string `json:"modules"`
	Data    map[string]any    `json:"data"`
	Version string            `json:"version"`
	Files   Files             `json:"-"`
}

// Embedded returns the policy compiled into the binary (DefaultFiles).
func Embedded() (*Bundle, error) { return DefaultFiles().Bundle() }

// New compiles a bundle into an Authorizer.
func New(ctx context.Context, b *Bundle) (*Authorizer, error) {
	a := &Authorizer{base: b}
	return a, a.Swap(ctx, b)
}

// Swap compiles new modules and, only if they compile, replaces the policy
// in one atomic step; decisions in flight finish on the old one.
func (a *Authorizer) Swap(ctx context.Context, b *Bundle) error {
	data := b.Data
	if data == nil {
		data = map[string]any{}
	}
	names := make([]string, 0, len(b.Modules))
	for name := range b.Modules {
		names = append(names, name)
	}
	sort.Strings(names)
	prepare := func(query string) (rego.PreparedEvalQuery, error) {
		opts := []func(*rego.Rego){
			rego.Query(query),
			rego.Store(inmem.NewFromObject(data)),
			rego.UnsafeBuiltins(unsafeBuiltins),
			rego.StrictBuiltinErrors(true),
		}
		for _, name := range names {
			opts = append(opts, rego.Module(name, b.Modules[name]))
		}
		return rego.New(opts...).PrepareForEval(ctx)
	}
	c := &compiled{version: b.Version, bundle: b}
	var err error
	if c.allow, err = prepare("data.cxt.authz.allow"); err != nil {
		return fmt.Errorf("policy: compile: %w", err)
	}
	if c.decision, err = prepare("data.cxt.authz.decision"); err != nil {
		return fmt.Errorf("policy: compile: %w", err)
	}
	if c.payoutLimits, err = prepare("data.cxt.risk.payout_limits"); err != nil {
		return fmt.Errorf("policy: compile: %w", err)
	}
	if c.payoutRow, err = prepare("data.cxt.risk.payout_row"); err != nil {
		return fmt.Errorf("policy: compile: %w", err)
	}
	if c.payout, err = compilePayout(ctx, b, prepare); err != nil {
		return fmt.Errorf("policy: compile: %w", err)
	}
	a.current.Store(c)
	return nil
}

// Version names the policy in force, for the audit log.
func (a *Authorizer) Version() string { return a.current.Load().version }

// Bundle returns the policy in force.
func (a *Authorizer) Bundle() *Bundle { return a.current.Load().bundle }

// ReasonMFA is the denial reason of an action that needs a second factor.
const ReasonMFA = "a second factor is required for this action"

// ErrNoDecision means the policy produced no decision: treat as deny.
var ErrNoDecision = errors.New("policy: no decision")

// Decide evaluates one input: the boolean rule first, and the reasons only
// when the answer is no.
func (a *Authorizer) Decide(ctx context.Context, in Input) (Decision, error) {
	c := a.current.Load()
	input := rego.EvalParsedInput(in.value())
	rs, err := c.allow.Eval(ctx, input)
	if err != nil {
		return Decision{}, fmt.Errorf("policy: %w", err)
	}
	if len(rs) == 1 && len(rs[0].Expressions) == 1 && rs[0].Expressions[0].Value == true {
		return Decision{Allow: true}, nil
	}
	rs, err = c.decision.Eval(ctx, input)
	if err != nil {
		return Decision{}, fmt.Errorf("policy: %w", err)
	}
	if len(rs) != 1 || len(rs[0].Expressions) != 1 {
		return Decision{}, ErrNoDecision
	}
	m, ok := rs[0].Expressions[0].Value.(map[string]any)
	if !ok {
		return Decision{}, ErrNoDecision
	}
	d := Decision{}
	d.Allow, _ = m["allow"].(bool)
	if reasons, ok := m["reasons"].([]any); ok {
		for _, r := range reasons {
			if s, ok := r.(string); ok {
				d.Reasons = append(d.Reasons, s)
			}
		}
	}
	if d.Allow { // the two rules disagree: a broken policy, so deny
		return Decision{Reasons: []string{"policy is inconsistent"}}, nil
	}
	return d, nil
}

// value builds the input as an AST value directly, skipping a JSON round trip.
func (in Input) value() ast.Value {
	strs := func(ss []string) *ast.Term {
		terms := make([]*ast.Term, len(ss))
		for i, s := range ss {
			terms[i] = ast.StringTerm(s)
		}
		return ast.SetTerm(terms...)
	}
	return ast.NewObject(
		ast.Item(ast.StringTerm("action"), ast.StringTerm(in.Action)),
		ast.Item(ast.StringTerm("subject"), ast.ObjectTerm(
			ast.Item(ast.StringTerm("id"), ast.StringTerm(in.Subject.ID)),
			ast.Item(ast.StringTerm("roles"), strs(in.Subject.Roles)),
			ast.Item(ast.StringTerm("clearance"), ast.IntNumberTerm(in.Subject.Clearance)),
			ast.Item(ast.StringTerm("mfa"), ast.BooleanTerm(in.Subject.MFA)),
			ast.Item(ast.StringTerm("merchant"), ast.StringTerm(in.Subject.Merchant)),
			ast.Item(ast.StringTerm("worker"), ast.StringTerm(in.Subject.Worker)),
			ast.Item(ast.StringTerm("scope"), strs(in.Subject.Scope)),
		)),
		ast.Item(ast.StringTerm("resource"), ast.ObjectTerm(
			ast.Item(ast.StringTerm("owner"), ast.StringTerm(in.Resource.Owner)),
			ast.Item(ast.StringTerm("label"), ast.IntNumberTerm(in.Resource.Label)),
			ast.Item(ast.StringTerm("roles"), strs(in.Resource.Roles)),
			ast.Item(ast.StringTerm("tenanted"), ast.BooleanTerm(in.Resource.Tenanted)),
			ast.Item(ast.StringTerm("merchants"), strs(in.Resource.Merchants)),
			ast.Item(ast.StringTerm("worker"), ast.StringTerm(in.Resource.Worker)),
		)),
	)
}

// Eval answers one query against a bundle with input (JSON-decoded; nil
// for none): its value, or defined false when the policy gives none (an
// input field the rules read is missing, say). The built-ins a policy may
// not call are refused here too.
func Eval(ctx context.Context, b *Bundle, query string, input any) (value any, defined bool, err error) {
	data := b.Data
	if data == nil {
		data = map[string]any{}
	}
	opts := []func(*rego.Rego){
		rego.Query(query),
		rego.Store(inmem.NewFromObject(data)),
		rego.UnsafeBuiltins(unsafeBuiltins),
		rego.StrictBuiltinErrors(true),
	}
	names := make([]string, 0, len(b.Modules))
	for name := range b.Modules {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		opts = append(opts, rego.Module(name, b.Modules[name]))
	}
	if input != nil {
		opts = append(opts, rego.Input(input))
	}
	rs, err := rego.New(opts...).Eval(ctx)
	if err != nil {
		return nil, false, fmt.Errorf("policy: %w", err)
	}
	if len(rs) == 0 || len(rs[0].Expressions) == 0 {
		return nil, false, nil
	}
	return rs[0].Expressions[0].Value, true, nil
}
