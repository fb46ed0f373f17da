package policy

import (
	"context"
	"fmt"

	"github.com/open-policy-agent/opa/v1/rego"
)

// TaskFacts are what the task review rule (rego/risk.rego) decides on.
type TaskFacts struct {
	Category  string
	Budget    string // the whole task's, in yuan: a decimal string
	Headcount int
	Merchant  string
	Rating    string // the merchant's rating score, 0.00-100.00
}

// TaskReview is the rule's answer: the reasons a person must review the
// task first (none: it opens at once), the version of the rule's settings,
// and the policy in force, which the task's record keeps.
type TaskReview struct {
	Reasons []string
	Rule    string
	Policy  string
}

// TaskReview evaluates data.cxt.risk.task_review. A policy without the rule,
// or whose rule gives no answer, is an error: the caller must then send the
// task to a person rather than let it through.
func (a *Authorizer) TaskReview(ctx context.Context, f TaskFacts) (TaskReview, error) {
	c := a.current.Load()
	out := TaskReview{Policy: c.version}
	rs, err := c.taskReview.Eval(ctx, rego.EvalInput(map[string]any{
		"task":     map[string]any{"category": f.Category, "budget": f.Budget, "headcount": f.Headcount},
		"merchant": map[string]any{"id": f.Merchant, "rating": f.Rating},
	}))
	if err != nil {
		return out, fmt.Errorf("policy: task review: %w", err)
	}
	if len(rs) != 1 || len(rs[0].Expressions) != 1 {
		return out, ErrNoDecision
	}
	m, ok := rs[0].Expressions[0].Value.(map[string]any)
	if !ok {
		return out, ErrNoDecision
	}
	reasons, ok := m["reasons"].([]any)
	if !ok {
		return out, ErrNoDecision
	}
	for _, r := range reasons {
		s, ok := r.(string)
		if !ok {
			return out, ErrNoDecision
		}
		out.Reasons = append(out.Reasons, s)
	}
	out.Rule, _ = m["version"].(string)
	return out, nil
}
