package policy

import (
	"context"
	"errors"
	"slices"
	"testing"
)

func TestTheTaskReviewRuleAnswersFromGo(t *testing.T) {
	a := authorizer(t)
	ctx := context.Background()
	r, err := a.TaskReview(ctx, TaskFacts{Category: "delivery", Budget: "1200.00", Headcount: 2, Merchant: "m_1", Rating: "72.00"})
	if err != nil || len(r.Reasons) != 0 || r.Rule != "1" || r.Policy != "embedded" {
		t.Fatalf("an ordinary task: %+v %v", r, err)
	}
	r, err = a.TaskReview(ctx, TaskFacts{Category: "consulting", Budget: "50000.01", Headcount: 1, Merchant: "m_1", Rating: "40.00"})
	want := []string{
		"tasks of the category consulting are always reviewed",
		"the budget of 50000.01 yuan is above 50000.00 yuan",
		"the merchant's rating 40.00 is below 50.00",
	}
	slices.Sort(want)
	if err != nil || !slices.Equal(r.Reasons, want) {
		t.Fatalf("a risky task: %+v %v, want %v", r, err, want)
	}
}

// A policy put in force without the rule (a security administrator's
// bundle that predates it) gives no answer, which the caller must treat as
// "a person reviews".
func TestAPolicyWithoutTheTaskRuleGivesNoDecision(t *testing.T) {
	b, err := Embedded()
	if err != nil {
		t.Fatal(err)
	}
	delete(b.Modules, "risk/risk.rego")
	a, err := New(context.Background(), b)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.TaskReview(context.Background(), TaskFacts{Category: "delivery", Budget: "1.00", Rating: "90.00"}); !errors.Is(err, ErrNoDecision) {
		t.Fatalf("no rule: %v", err)
	}
}
