package policy

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
)

func TestTheDutyRulesHoldWhateverThePolicyAllows(t *testing.T) {
	admin := func(role string) Subject { return Subject{ID: "a1", Roles: []string{role}, Clearance: 4, MFA: true} }
	cases := []struct {
		name string
		in   Input
		rule string // "" when no rule is broken
	}{
		{"the security admin reads the audit trail", Input{Subject: admin(SecurityAdmin), Action: "audit.search"}, RuleOwnAuditTrail},
		{"the system admin exports the audit trail", Input{Subject: admin(SystemAdmin), Action: "audit.export"}, RuleOwnAuditTrail},
		{"the audit admin searches the audit trail", Input{Subject: admin(AuditAdmin), Action: "audit.search"}, ""},
		{"the audit admin creates an account", Input{Subject: admin(AuditAdmin), Action: "accounts.create"}, RuleSeparateDuties},
		{"the security admin rotates keys", Input{Subject: admin(SecurityAdmin), Action: "keys.rotate"}, RuleSeparateDuties},
		{"a worker changes the policy", Input{Subject: Subject{ID: "w", Roles: []string{"worker"}}, Action: "policy.change"}, RuleSeparateDuties},
		{"the security admin changes the policy", Input{Subject: admin(SecurityAdmin), Action: "policy.change"}, ""},
		{"an account holding two duties", Input{Subject: Subject{ID: "x", Roles: []string{SecurityAdmin, AuditAdmin}}, Action: "sessions.current"}, RuleTwoAdminRoles},
		{"the security admin closes their own account", Input{Subject: admin(SecurityAdmin), Action: "accounts.close", Resource: Resource{Owner: "a1"}}, RuleSelf},
		{"the security admin closes another account", Input{Subject: admin(SecurityAdmin), Action: "accounts.close", Resource: Resource{Owner: "a2"}}, ""},
		{"a worker decides an approval", Input{Subject: Subject{ID: "w", Roles: []string{"worker"}}, Action: "approvals.decide"}, RuleAdminsApprove},
		{"the system admin decides an approval", Input{Subject: admin(SystemAdmin), Action: "approvals.decide"}, ""},
		{"a worker asks for a tax quote", Input{Subject: Subject{ID: "w", Roles: []string{"worker"}}, Action: "tax.quote"}, ""},
	}
	for _, c := range cases {
		v := CheckDuty(c.in)
		got := ""
		if v != nil {
			got = v.Rule
		}
		if got != c.rule {
			t.Errorf("%s: broke %q, want %q (%v)", c.name, got, c.rule, v)
		}
	}
}

// candidate returns the embedded policy with edit applied to its role table.
func candidate(t *testing.T, edit func(perms map[string]any), modules map[string]string) (*Bundle, *Authorizer) {
	t.Helper()
	b, err := Embedded()
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := json.Marshal(b.Data)
	var data map[string]any
	json.Unmarshal(raw, &data)
	edit(data["cxt"].(map[string]any)["roles"].(map[string]any)["permissions"].(map[string]any))
	b.Data, b.Version = data, "candidate"
	for name, src := range modules {
		b.Modules[name] = src
	}
	a, err := New(context.Background(), b)
	if err != nil {
		t.Fatal(err)
	}
	return b, a
}

func TestACandidatePolicyIsTriedAgainstTheDutyRules(t *testing.T) {
	ctx := context.Background()
	keep := func(map[string]any) {}
	b, a := candidate(t, keep, nil)
	if vs, err := CheckCandidate(ctx, a, b, nil); err != nil || len(vs) != 0 {
		t.Fatalf("the embedded policy breaks the duty rules: %v %v", vs, err)
	}

	b, a = candidate(t, func(p map[string]any) {
		p["audit.search"] = []any{"audit_admin", "security_admin"}
		p["audit.export"] = []any{"audit_admin", "security_admin"}
	}, nil)
	vs, _ := CheckCandidate(ctx, a, b, nil)
	if len(vs) == 0 || vs[0].Rule != RuleOwnAuditTrail || !strings.Contains(DescribeViolations(vs), "own_audit_trail") {
		t.Fatalf("giving the security admin audit.search: %v", vs)
	}

	open := "package cxt.authz\nimport rego.v1\ndefault allow := true\ndecision := {\"allow\": true, \"reasons\": []}\n"
	b = &Bundle{Modules: map[string]string{"open.rego": open}, Version: "open"}
	a, err := New(ctx, b)
	if err != nil {
		t.Fatal(err)
	}
	vs, _ = CheckCandidate(ctx, a, b, nil)
	rules := map[string]bool{}
	for _, v := range vs {
		rules[v.Rule] = true
	}
	for _, want := range []string{RuleOwnAuditTrail, RuleSeparateDuties, RuleSelf, RuleAdminsApprove} {
		if !rules[want] {
			t.Errorf("default allow := true is not refused for %s: %v", want, rules)
		}
	}

	// A rule keyed on one account's ID shows only when that account is tried.
	sneaky := "package cxt.authz\nimport rego.v1\nallow if input.subject.id == \"acct-secadmin\"\n"
	b, a = candidate(t, keep, map[string]string{"sneaky.rego": sneaky})
	if vs, _ := CheckCandidate(ctx, a, b, nil); len(vs) != 0 {
		t.Fatalf("synthetic subjects found the ID rule: %v", vs)
	}
	sec := Subject{ID: "acct-secadmin", Roles: []string{SecurityAdmin}, Clearance: 4, MFA: true}
	if vs, _ := CheckCandidate(ctx, a, b, []Subject{sec}); !strings.Contains(DescribeViolations(vs), RuleOwnAuditTrail) {
		t.Fatalf("a rule giving one security admin everything: %v", vs)
	}
}

func TestThePermissionDiffNamesWhoGainsAndLosesWhat(t *testing.T) {
	ctx := context.Background()
	old := authorizer(t)
	b, next := candidate(t, func(p map[string]any) {
		p["tax.quote"] = []any{"worker", "platform_operator"} // drops merchants (their clients too), reviewers and audit admins
		p["policy.read"] = []any{"security_admin", "audit_admin", "system_admin"}
	}, nil)
	d, err := PermissionDiff(ctx, old, next, RolesOf(old.Bundle(), b), ActionsOf(old.Bundle(), b), nil)
	if err != nil {
		t.Fatal(err)
	}
	cells := func(cs []Change) []string {
		var out []string
		for _, c := range cs {
			out = append(out, c.Role+" "+c.Action)
		}
		return out
	}
	if got := cells(d.Gained); len(got) != 1 || got[0] != "system_admin policy.read" {
		t.Errorf("gained: %v", d.Gained)
	}
	want := []string{"audit_admin tax.quote", "merchant_admin tax.quote", "merchant_client tax.quote", "merchant_operator tax.quote", "platform_reviewer tax.quote"}
	if got := cells(d.Lost); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("lost: %v, want %v", got, want)
	}
}
