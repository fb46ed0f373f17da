package policy

import (
	"context"
	"fmt"
	"strings"
	"testing"
)

func TestReadsSubjectIDSeesEveryWayARuleCouldSingleOutAnAccount(t *testing.T) {
	b, err := Embedded()
	if err != nil {
		t.Fatal(err)
	}
	if ReadsSubjectID(b) {
		t.Fatal("the embedded policy compares the subject's ID with the resource's owner only")
	}
	head := "package cxt.authz\nimport rego.v1\n"
	for name, src := range map[string]string{
		"an ID compared with a constant": `allow if input.subject.id == "acct-x"`,
		"an ID in a set":                 `allow if input.subject.id in {"acct-x"}`,
		"a prefix of the ID":             `allow if startswith(input.subject.id, "acct-1")`,
		"the subject taken whole":        `allow if input.subject == {"id": "acct-x"}`,
		"the input taken whole":          `allow if object.get(input, ["subject", "id"], "") == "acct-x"`,
		"a key computed at run time":     "allow if {\n\tk := \"id\"\n\tinput.subject[k] == \"acct-x\"\n}",
		"an import of the subject":       "import input.subject\nallow if subject.id == \"acct-x\"",
		"the owner comparison assigned":  "allow if {\n\tx := input.subject.id == input.resource.owner\n\tx == false\n\tinput.subject.id != \"acct-x\"\n}",
	} {
		if !ReadsSubjectID(&Bundle{Modules: map[string]string{"x.rego": head + src + "\n"}}) {
			t.Errorf("%s: not seen", name)
		}
	}
	if ReadsSubjectID(&Bundle{Modules: map[string]string{"x.rego": head + "allow if input.subject.id != input.resource.owner\n"}}) {
		t.Error("an owner comparison alone counts as reading the ID")
	}
}

func TestThePermissionDiffEvaluatesEveryAccount(t *testing.T) {
	ctx := context.Background()
	old := authorizer(t)
	accounts := []DiffAccount{
		{ID: "acct-a", Username: "a", Roles: []string{"worker"}, Clearance: 1},
		{ID: "acct-b", Username: "b", Roles: []string{"worker"}, Clearance: 1},
		{ID: "acct-sys", Username: "sys", Roles: []string{SystemAdmin}, Clearance: 4},
	}
	roles, actions := RolesOf(old.Bundle()), ActionsOf(old.Bundle())

	// Alike accounts are decided once per roles and clearance, and grouped.
	_, next := candidate(t, func(p map[string]any) { p["tax.quote"] = []any{"platform_operator"} }, nil)
	d, err := PermissionDiff(ctx, old, next, roles, actions, accounts)
	if err != nil {
		t.Fatal(err)
	}
	if d.ReadsSubjectID || len(d.Accounts) != 1 || d.Accounts[0].Count != 2 || fmt.Sprint(d.Accounts[0].Lost) != "[{tax.quote [1] [false true]}]" {
		t.Fatalf("two workers losing tax.quote: %+v", d)
	}

	// A rule keyed on an ID: each account as itself.
	b, next := candidate(t, func(map[string]any) {}, map[string]string{"vip.rego": "package cxt.authz\nimport rego.v1\nallow if {\n\tinput.subject.id == \"acct-b\"\n\tinput.action == \"policy.read\"\n}\n"})
	d, err = PermissionDiff(ctx, old, next, RolesOf(old.Bundle(), b), actions, accounts)
	if err != nil {
		t.Fatal(err)
	}
	if !d.ReadsSubjectID || len(d.Gained) != 0 || len(d.Accounts) != 1 || d.Accounts[0].Accounts[0].ID != "acct-b" ||
		fmt.Sprint(d.Accounts[0].Gained) != "[{policy.read [1] [false true]}]" {
		t.Fatalf("one worker gaining policy.read: %+v", d)
	}

	// Code rules are not the policy's: a read-up or a duty action never
	// shows as gained, since it is refused under both.
	_, next = candidate(t, func(p map[string]any) { p["keys.rotate"] = []any{"system_admin", "worker"} }, nil)
	d, err = PermissionDiff(ctx, old, next, roles, actions, accounts)
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Gained) != 0 || len(d.Accounts) != 0 {
		t.Fatalf("a duty action given to workers shows as gained: %+v", d)
	}
	if vs, _ := CheckCandidate(ctx, next, b, nil); !strings.Contains(DescribeViolations(vs), RuleSeparateDuties) {
		t.Fatalf("the candidate check misses it: %v", vs)
	}
}

func TestACandidateThatLetsASubjectReadUpIsRefused(t *testing.T) {
	ctx := context.Background()
	b, a := candidate(t, func(map[string]any) {}, nil)
	b.Modules["rego/authz.rego"] = strings.Replace(b.Modules["rego/authz.rego"], "\tinput.resource.label <= input.subject.clearance\n", "", 1)
	if err := a.Swap(ctx, b); err != nil {
		t.Fatal(err)
	}
	vs, err := CheckCandidate(ctx, a, b, nil)
	if err != nil || !strings.Contains(DescribeViolations(vs), RuleReadUp) {
		t.Fatalf("a policy without the label check: %v %v", vs, err)
	}
	in := Input{Subject: Subject{Clearance: 1}, Resource: Resource{Label: 4}}
	if CheckLabel(in) == nil || CheckLabel(Input{Subject: Subject{Clearance: 4}, Resource: Resource{Label: 4}}) != nil {
		t.Fatal("CheckLabel")
	}
}
