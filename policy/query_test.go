package policy

import (
	"context"
	"errors"
	"testing"
)

func TestAQueryIsAnsweredByThePolicyInForceAndPreparedPerPolicy(t *testing.T) {
	ctx := context.Background()
	a := authorizer(t)
	in := map[string]any{"period": "2026-03", "shared_cards": []any{map[string]any{"subject": "card:a", "workers": 3}}}
	v, version, err := a.Query(ctx, "data.cxt.risk.inspection.findings", in)
	if err != nil || version != "embedded" {
		t.Fatalf("query: %v (policy %q)", err, version)
	}
	if fs, ok := v.([]any); !ok || len(fs) != 1 {
		t.Fatalf("findings: %#v", v)
	}
	// A new policy with a higher threshold: the same query, prepared anew.
	b, _ := Embedded()
	b.Version = "v2"
	b.Data["cxt"].(map[string]any)["risk_settings"].(map[string]any)["inspection"].(map[string]any)["shared_card"] = map[string]any{"min_workers": 4}
	if err := a.Swap(ctx, b); err != nil {
		t.Fatal(err)
	}
	v, version, err = a.Query(ctx, "data.cxt.risk.inspection.findings", in)
	if err != nil || version != "v2" {
		t.Fatalf("query after the swap: %v (policy %q)", err, version)
	}
	if fs, ok := v.([]any); !ok || len(fs) != 0 {
		t.Fatalf("findings under v2: %#v", v)
	}
	if _, _, err := a.Query(ctx, "data.cxt.no_such_rule", nil); !errors.Is(err, ErrNoDecision) {
		t.Fatalf("an undefined rule: %v", err)
	}
	if _, _, err := a.Query(ctx, "data.cxt[", nil); err == nil {
		t.Fatal("a query that does not parse answered")
	}
}
