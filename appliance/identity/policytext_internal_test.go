package identity

import (
	"fmt"
	"testing"

	"cxt/policy"
)

func TestThePolicyTextDiffShowsARuleNoEnumerationSees(t *testing.T) {
	old := &policy.Bundle{Modules: map[string]string{"a.rego": "package x\n\nallow if {\n\tinput.a\n}\n", "gone.rego": "package y\n"},
		Data: map[string]any{"roles": []any{"a"}}}
	next := &policy.Bundle{Modules: map[string]string{"a.rego": "package x\n\nallow if {\n\tinput.a\n\tnot entrench\n}\n\nentrench if contains(json.marshal(input.resource), \"acct-secadmin\")\n"},
		Data: map[string]any{"roles": []any{"a"}}}
	got := policyTextDiff(old, next)
	if len(got) != 2 || got[0].File != "a.rego" || got[0].AtLine != 5 || fmt.Sprint(got[0].Removed) != "[}]" ||
		len(got[0].Added) != 4 || got[0].Added[0] != "\tnot entrench" || got[0].Added[3] != `entrench if contains(json.marshal(input.resource), "acct-secadmin")` ||
		got[1].File != "gone.rego" || fmt.Sprint(got[1].Removed) != "[package y]" || len(got[1].Added) != 0 {
		t.Fatalf("text diff: %#v", got)
	}
}
