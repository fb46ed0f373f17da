package policy

import (
	"context"
	"fmt"
	"sort"
	"sync"

	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/storage/inmem"
)

// preparedQuery is one query prepared once for one compiled policy.
type preparedQuery struct {
	once sync.Once
	q    rego.PreparedEvalQuery
	err  error
}

// Query evaluates a rego query (such as "data.cxt.risk.inspection.findings")
// against the policy in force, with input (nil: none), and answers its
// value and the version of the policy that gave it. A query is prepared the
// first time it is asked of a policy and kept with that policy, so a policy
// swapped in prepares its own. A query with no value (an undefined rule) is
// ErrNoDecision.
func (a *Authorizer) Query(ctx context.Context, query string, input any) (any, string, error) {
	c := a.current.Load()
	v, _ := c.queries.LoadOrStore(query, &preparedQuery{})
	pq := v.(*preparedQuery)
	pq.once.Do(func() { pq.q, pq.err = prepareQuery(context.WithoutCancel(ctx), c.bundle, query) })
	if pq.err != nil {
		return nil, c.version, fmt.Errorf("policy: prepare %s: %w", query, pq.err)
	}
	var opts []rego.EvalOption
	if input != nil {
		opts = append(opts, rego.EvalInput(input))
	}
	rs, err := pq.q.Eval(ctx, opts...)
	if err != nil {
		return nil, c.version, fmt.Errorf("policy: %s: %w", query, err)
	}
	if len(rs) != 1 || len(rs[0].Expressions) != 1 {
		return nil, c.version, ErrNoDecision
	}
	return rs[0].Expressions[0].Value, c.version, nil
}

// prepareQuery compiles query over b as Swap compiles the policy's own
// queries: the same modules, data and unsafe built-ins.
func prepareQuery(ctx context.Context, b *Bundle, query string) (rego.PreparedEvalQuery, error) {
	data := b.Data
	if data == nil {
		data = map[string]any{}
	}
	names := make([]string, 0, len(b.Modules))
	for name := range b.Modules {
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
		opts = append(opts, rego.Module(name, b.Modules[name]))
	}
	return rego.New(opts...).PrepareForEval(ctx)
}
