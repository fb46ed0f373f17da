package policy

import (
	"context"
	"fmt"
	"strings"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/storage/inmem"
)

// The payout rules' fast path. OPA's partial evaluation of
// data.cxt.risk.payout.hits[x] with the input unknown and the bundle's data
// known leaves a residual: one query per way a rule can fire, each a
// conjunction of comparisons of input fields with constants, bound to the
// rule's name. compileResidual turns that residual into Go closures over a
// PayoutRow, which decide a row in well under a microsecond. It compiles a
// small subset — comparisons, + − × of integers, membership in a constant
// list, truthiness and negation of booleans, and the support rules partial
// evaluation writes for a negation — and refuses anything else; the rules
// then run through full evaluation only, slower and alike in outcome.

// residual is a compiled residual: the rules each query fires.
type residual struct {
	queries []residualQuery
}

type residualQuery struct {
	rule  string
	conds []cond
}

// cond decides one expression for a row; ok false means the row cannot be
// decided here (an integer overflowed) and goes to full evaluation.
type cond func(r *PayoutRow) (holds, ok bool)

// hits returns the rules that fire on r, or ok false.
func (res *residual) hits(r *PayoutRow, into []string) (_ []string, ok bool) {
	for i := range res.queries {
		q := &res.queries[i]
		fires := true
		for _, c := range q.conds {
			h, ok := c(r)
			if !ok {
				return nil, false
			}
			if !h {
				fires = false
				break
			}
		}
		if fires {
			into = append(into, q.rule)
		}
	}
	return into, true
}

// partialPayout runs partial evaluation of the hits of the payout rules.
func partialPayout(ctx context.Context, modules map[string]string, data map[string]any) (*rego.PartialQueries, error) {
	opts := []func(*rego.Rego){
		rego.Query("data.cxt.risk.payout.hits[x]"),
		rego.Store(inmem.NewFromObject(data)),
		rego.Unknowns([]string{"input"}),
		rego.UnsafeBuiltins(unsafeBuiltins),
	}
	for name, src := range modules {
		opts = append(opts, rego.Module(name, src))
	}
	return rego.New(opts...).Partial(ctx)
}

// compileResidual compiles pq, or says why it cannot.
func compileResidual(pq *rego.PartialQueries) (*residual, error) {
	c := &residualCompiler{support: map[string][]ast.Body{}}
	for _, m := range pq.Support {
		for _, rule := range m.Rules {
			if len(rule.Head.Args) != 0 || rule.Head.Value == nil || !rule.Head.Value.Equal(ast.BooleanTerm(true)) || rule.Else != nil {
				return nil, fmt.Errorf("support rule %v is not a plain boolean", rule.Head)
			}
			name := m.Package.Path.String() + "." + rule.Head.Name.String()
			c.support[name] = append(c.support[name], rule.Body)
		}
	}
	res := &residual{}
	for _, body := range pq.Queries {
		q, err := c.query(body)
		if err != nil {
			return nil, fmt.Errorf("residual %v: %w", body, err)
		}
		res.queries = append(res.queries, q)
	}
	return res, nil
}

type residualCompiler struct {
	support map[string][]ast.Body
	depth   int
}

func (c *residualCompiler) query(body ast.Body) (residualQuery, error) {
	var q residualQuery
	for _, e := range body {
		if rule, ok := ruleBinding(e); ok {
			if q.rule != "" {
				return q, fmt.Errorf("binds the rule twice")
			}
			q.rule = rule
			continue
		}
		cd, err := c.expr(e)
		if err != nil {
			return q, err
		}
		q.conds = append(q.conds, cd)
	}
	if q.rule == "" {
		return q, fmt.Errorf("names no rule")
	}
	return q, nil
}

// ruleBinding recognises x = "rule", the query variable bound to a hit.
func ruleBinding(e *ast.Expr) (string, bool) {
	if e.Negated || !e.IsEquality() {
		return "", false
	}
	ops := e.Operands()
	v, ok1 := ops[0].Value.(ast.Var)
	s, ok2 := ops[1].Value.(ast.String)
	if !ok1 || !ok2 || v != "x" {
		return "", false
	}
	return string(s), true
}

func (c *residualCompiler) expr(e *ast.Expr) (cond, error) {
	if len(e.With) > 0 {
		return nil, fmt.Errorf("with is not compiled")
	}
	var cd cond
	switch t := e.Terms.(type) {
	case *ast.Term:
		ref, ok := t.Value.(ast.Ref)
		if !ok {
			return nil, fmt.Errorf("term %v", t)
		}
		if sup := ref.String(); strings.HasPrefix(sup, "data.partial.") {
			var err error
			if cd, err = c.supportRule(sup); err != nil {
				return nil, err
			}
			break
		}
		f, err := boolOperand(t)
		if err != nil {
			return nil, err
		}
		cd = func(r *PayoutRow) (bool, bool) { return f(r), true }
	case []*ast.Term:
		var err error
		if cd, err = c.call(e.Operator().String(), t[1:]); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("expression %v", e)
	}
	if e.Negated {
		inner := cd
		cd = func(r *PayoutRow) (bool, bool) {
			h, ok := inner(r)
			return !h, ok
		}
	}
	return cd, nil
}

// supportRule compiles a support rule: true if any of its bodies holds.
func (c *residualCompiler) supportRule(name string) (cond, error) {
	bodies, ok := c.support[name]
	if !ok {
		return nil, fmt.Errorf("no support rule %s", name)
	}
	if c.depth++; c.depth > 8 {
		return nil, fmt.Errorf("support rules nest too deep")
	}
	defer func() { c.depth-- }()
	var alts [][]cond
	for _, b := range bodies {
		var conds []cond
		for _, e := range b {
			cd, err := c.expr(e)
			if err != nil {
				return nil, err
			}
			conds = append(conds, cd)
		}
		alts = append(alts, conds)
	}
	return func(r *PayoutRow) (bool, bool) {
	next:
		for _, conds := range alts {
			for _, cd := range conds {
				h, ok := cd(r)
				if !ok {
					return false, false
				}
				if !h {
					continue next
				}
			}
			return true, true
		}
		return false, true
	}, nil
}

func (c *residualCompiler) call(op string, args []*ast.Term) (cond, error) {
	// eq is unification: between two values with no variable (every
	// operand below is a field or a constant) it is equality.
	if op == "eq" {
		op = "equal"
	}
	switch op {
	case "gt", "gte", "lt", "lte", "equal", "neq":
		if len(args) != 2 {
			return nil, fmt.Errorf("%s takes two", op)
		}
		if a, err := intOperand(args[0]); err == nil {
			b, err := intOperand(args[1])
			if err != nil {
				return nil, fmt.Errorf("%s of an integer and %v: %w", op, args[1], err)
			}
			return intComparison(op, a, b), nil
		}
		if op != "equal" && op != "neq" {
			return nil, fmt.Errorf("%s of %v", op, args)
		}
		neq := op == "neq"
		if a, err := stringOperand(args[0]); err == nil {
			b, err := stringOperand(args[1])
			if err != nil {
				return nil, err
			}
			return func(r *PayoutRow) (bool, bool) { return (a(r) == b(r)) != neq, true }, nil
		}
		a, err := boolOperand(args[0])
		if err != nil {
			return nil, err
		}
		b, err := boolOperand(args[1])
		if err != nil {
			return nil, err
		}
		return func(r *PayoutRow) (bool, bool) { return (a(r) == b(r)) != neq, true }, nil
	case "internal.member_2":
		if len(args) != 2 {
			return nil, fmt.Errorf("membership takes two")
		}
		x, err := stringOperand(args[0])
		if err != nil {
			return nil, err
		}
		set := map[string]struct{}{}
		var elems []*ast.Term
		switch coll := args[1].Value.(type) {
		case *ast.Array:
			coll.Foreach(func(t *ast.Term) { elems = append(elems, t) })
		case ast.Set:
			elems = coll.Slice()
		default:
			return nil, fmt.Errorf("membership in %v", args[1])
		}
		for _, t := range elems {
			s, ok := t.Value.(ast.String)
			if !ok {
				return nil, fmt.Errorf("membership in a list of %v", t)
			}
			set[string(s)] = struct{}{}
		}
		return func(r *PayoutRow) (bool, bool) { _, in := set[x(r)]; return in, true }, nil
	}
	return nil, fmt.Errorf("%s is not compiled", op)
}

// intFn is an integer operand; ok false on overflow.
type intFn func(r *PayoutRow) (int64, bool)

func intComparison(op string, a, b intFn) cond {
	cmp := map[string]func(x, y int64) bool{
		"gt": func(x, y int64) bool { return x > y }, "gte": func(x, y int64) bool { return x >= y },
		"lt": func(x, y int64) bool { return x < y }, "lte": func(x, y int64) bool { return x <= y },
		"equal": func(x, y int64) bool { return x == y }, "neq": func(x, y int64) bool { return x != y },
	}[op]
	return func(r *PayoutRow) (bool, bool) {
		x, ok1 := a(r)
		y, ok2 := b(r)
		if !ok1 || !ok2 {
			return false, false
		}
		return cmp(x, y), true
	}
}

func intOperand(t *ast.Term) (intFn, error) {
	switch v := t.Value.(type) {
	case ast.Number:
		n, ok := v.Int64()
		if !ok {
			return nil, fmt.Errorf("%v is not an integer", v)
		}
		return func(*PayoutRow) (int64, bool) { return n, true }, nil
	case ast.Ref:
		f, ok := payoutFields[fieldPath(v)]
		if !ok || f.i == nil {
			return nil, fmt.Errorf("%v is not an integer field", v)
		}
		get := f.i
		return func(r *PayoutRow) (int64, bool) { return get(r), true }, nil
	case ast.Call:
		if len(v) != 3 {
			return nil, fmt.Errorf("call %v", v)
		}
		a, err := intOperand(v[1])
		if err != nil {
			return nil, err
		}
		b, err := intOperand(v[2])
		if err != nil {
			return nil, err
		}
		switch v[0].String() {
		case "plus":
			return func(r *PayoutRow) (int64, bool) {
				x, ok1 := a(r)
				y, ok2 := b(r)
				s := x + y
				return s, ok1 && ok2 && !(x > 0 && y > 0 && s < 0) && !(x < 0 && y < 0 && s >= 0)
			}, nil
		case "minus":
			return func(r *PayoutRow) (int64, bool) {
				x, ok1 := a(r)
				y, ok2 := b(r)
				d := x - y
				return d, ok1 && ok2 && !(x >= 0 && y < 0 && d < 0) && !(x < 0 && y > 0 && d >= 0)
			}, nil
		case "mul":
			return func(r *PayoutRow) (int64, bool) {
				x, ok1 := a(r)
				y, ok2 := b(r)
				if !ok1 || !ok2 {
					return 0, false
				}
				if x == 0 || y == 0 {
					return 0, true
				}
				p := x * y
				return p, p/y == x && !(x == -1 && y == minInt64) && !(y == -1 && x == minInt64)
			}, nil
		}
		return nil, fmt.Errorf("%v is not compiled", v[0])
	}
	return nil, fmt.Errorf("%v is not an integer", t)
}

const minInt64 = -1 << 63

func stringOperand(t *ast.Term) (func(*PayoutRow) string, error) {
	switch v := t.Value.(type) {
	case ast.String:
		s := string(v)
		return func(*PayoutRow) string { return s }, nil
	case ast.Ref:
		if f, ok := payoutFields[fieldPath(v)]; ok && f.s != nil {
			return f.s, nil
		}
	}
	return nil, fmt.Errorf("%v is not a string", t)
}

func boolOperand(t *ast.Term) (func(*PayoutRow) bool, error) {
	switch v := t.Value.(type) {
	case ast.Boolean:
		b := bool(v)
		return func(*PayoutRow) bool { return b }, nil
	case ast.Ref:
		if f, ok := payoutFields[fieldPath(v)]; ok && f.b != nil {
			return f.b, nil
		}
	}
	return nil, fmt.Errorf("%v is not a boolean", t)
}

// fieldPath is "merchant.status" for input.merchant.status, else "".
func fieldPath(ref ast.Ref) string {
	if len(ref) < 2 || !ref[0].Equal(ast.InputRootDocument) {
		return ""
	}
	parts := make([]string, 0, len(ref)-1)
	for _, t := range ref[1:] {
		s, ok := t.Value.(ast.String)
		if !ok {
			return ""
		}
		parts = append(parts, string(s))
	}
	return strings.Join(parts, ".")
}
