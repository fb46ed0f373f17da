package policy

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
)

// Each concern decided before a transaction answers from Go with the
// decision, the rule that made it and its reason, and records its input
// canonically so that it can be replayed.
func TestRiskDecisionsFromGo(t *testing.T) {
	ctx := context.Background()
	a := authorizer(t)
	merchant := func(patch func(m map[string]any)) map[string]any {
		m := map[string]any{
			"merchant":  map[string]any{"id": "m_1", "operating_model": "operating", "uscc_valid": true, "officers": 1},
			"documents": []any{map[string]any{"kind": "business_licence", "expires": ""}},
			"today":     "2026-03-01",
		}
		if patch != nil {
			patch(m)
		}
		return m
	}
	for _, c := range []struct {
		name, concern       string
		input               any
		outcome, rule, code string
		reason              string
	}{
		{"a qualified merchant", RiskMerchant, merchant(nil), Allow, "", "", ""},
		{"a merchant without a licence", RiskMerchant, merchant(func(m map[string]any) { m["documents"] = []any{} }),
			Reject, "documents.missing", "risk_qualification", "merchant m_1 has not filed: business_licence"},
		{"a merchant whose licence runs out this month", RiskMerchant, merchant(func(m map[string]any) {
			m["documents"] = []any{map[string]any{"kind": "business_licence", "expires": "2026-03-15"}}
		}), Hold, "documents.expiring", "risk_documents_expiring", "the documents of merchant m_1 expire within 30 days: business_licence"},
		{"a merchant naming no officers", RiskMerchant, merchant(func(m map[string]any) { m["merchant"].(map[string]any)["officers"] = 0 }),
			Hold, "officers.missing", "risk_officers_missing", "merchant m_1 names no directors, supervisors or senior managers (董监高)"},
		{"a worker off the lists", RiskWorker, map[string]any{"worker": map[string]any{"id_bi": "aa", "device_bi": ""}}, Allow, "", "", ""},
		{"an ordinary task", RiskTask, map[string]any{"task": map[string]any{"category": "delivery", "budget_fen": 120000, "headcount": 2},
			"merchant": map[string]any{"id": "m_1", "score": "72.00", "grade": "B"}}, Allow, "", "", ""},
		{"a consulting task", RiskTask, map[string]any{"task": map[string]any{"category": "consulting", "budget_fen": 120000, "headcount": 2},
			"merchant": map[string]any{"id": "m_1", "score": "72.00", "grade": "B"}},
			Hold, "task.category", "risk_task_category", "tasks of the category consulting are always reviewed"},
	} {
		d, err := a.Risk().Decide(ctx, c.concern, c.input)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if d.Outcome != c.outcome || d.Rule != c.rule || d.Code != c.code || d.Reason != c.reason {
			t.Errorf("%s: %s %s %s %q, want %s %s %s %q", c.name, d.Outcome, d.Rule, d.Code, d.Reason, c.outcome, c.rule, c.code, c.reason)
		}
		if d.Policy != "embedded" || d.Settings != "1" || d.Concern != c.concern {
			t.Errorf("%s: recorded as %q %q %q", c.name, d.Policy, d.Settings, d.Concern)
		}
		canon, _ := Canonical(c.input)
		if string(d.Input) != string(canon) || d.InputSM3 != SM3Hex(canon) {
			t.Errorf("%s: input %s (%s)", c.name, d.Input, d.InputSM3)
		}
		// Replayed from what was recorded, the decision is the same.
		var in any
		if err := json.Unmarshal(d.Input, &in); err != nil {
			t.Fatal(err)
		}
		again, err := a.Risk().Decide(ctx, c.concern, in)
		if err != nil || again.Rule != d.Rule || again.InputSM3 != d.InputSM3 {
			t.Errorf("%s: replayed %+v %v", c.name, again, err)
		}
	}
}

func TestCanonicalJSONSortsKeysAtEveryLevel(t *testing.T) {
	type inner struct {
		Z int    `json:"z"`
		A string `json:"a"`
	}
	got, err := Canonical(struct {
		B inner  `json:"b"`
		A []any  `json:"a"`
		C string `json:"c"`
	}{inner{1, "<x>"}, []any{map[string]any{"y": 1, "x": 2}}, "诚"})
	if want := `{"a":[{"x":2,"y":1}],"b":{"a":"<x>","z":1},"c":"诚"}`; err != nil || string(got) != want {
		t.Fatalf("%s %v, want %s", got, err, want)
	}
}

func TestTheRatingAnswersFromGoWithItsExplanation(t *testing.T) {
	r, err := authorizer(t).Risk().Rate(context.Background(), map[string]any{
		"status": "approved", "document_kinds": []string{"business_licence"}, "agreement_signed": true, "months_approved": 3,
		"payments": 100, "returns": 1, "findings": 0, "complaints": 1,
	})
	if err != nil {
		t.Fatal(err)
	}
	// 30 + 60×0.2 + 20 + 30×0.1 + 90×0.1 + 80×0.1 = 82
	if r.Score != "82.00" || r.Grade != "B" || len(r.Explain) != 6 || r.Settings != "1" || r.Policy != "embedded" || r.InputSM3 == "" {
		t.Fatalf("%+v", r)
	}
	if e := r.Explain[4]; e.Input != "returns" || e.Value != 90 || e.Weight != 10 || e.Why != "1 of 100 payments returned" {
		t.Fatalf("returns: %+v", e)
	}
}

// A policy put in force without a concern's rules (a bundle that predates
// them) gives no decision, which the caller must not read as allow.
func TestAPolicyWithoutARiskRuleGivesNoDecision(t *testing.T) {
	b, err := Embedded()
	if err != nil {
		t.Fatal(err)
	}
	delete(b.Modules, "risk/task.rego")
	delete(b.Modules, "risk/rating.rego")
	a, err := New(context.Background(), b)
	if err != nil {
		t.Fatal(err)
	}
	d, err := a.Risk().Decide(context.Background(), RiskTask, map[string]any{"task": map[string]any{}})
	if !errors.Is(err, ErrNoDecision) || d.InputSM3 == "" || d.Policy != "embedded" {
		t.Fatalf("no rule: %+v %v", d, err)
	}
	if _, err := a.Risk().Rate(context.Background(), map[string]any{"status": "approved"}); !errors.Is(err, ErrNoDecision) {
		t.Fatalf("no rating rule: %v", err)
	}
}
