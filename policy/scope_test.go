package policy

import (
	"context"
	"encoding/json"
	"slices"
	"testing"
)

// A machine client is held to its scope and its merchant twice: by the
// compiled policy, which sees both in the input Go builds, and by the code
// rules, whatever a policy says.
func TestAMachineClientIsHeldToItsScopeAndItsMerchant(t *testing.T) {
	a := authorizer(t)
	client := Subject{ID: "cl_1", Roles: []string{MerchantClient}, Clearance: 1, Merchant: "m_1", Scope: []string{"merchants.read"}}
	own := Resource{Label: 1, Owner: "m_1", Tenanted: true, Merchants: []string{"m_1"}}
	other := Resource{Label: 1, Owner: "m_2", Tenanted: true, Merchants: []string{"m_2"}}
	for _, c := range []struct {
		name    string
		action  string
		res     Resource
		allow   bool
		reason  string
		byScope bool
	}{
		{"its own merchant, in scope", "merchants.read", own, true, "", false},
		{"another merchant, in scope", "merchants.read", other, false, "the resource belongs to another tenant", false},
		{"its own merchant, out of scope", "workers.list", own, false, ReasonScope, true},
		{"an action no client may take, out of scope", "accounts.create", Resource{Label: 1}, false, ReasonScope, true},
	} {
		in := Input{Subject: client, Action: c.action, Resource: c.res}
		d, err := a.Decide(context.Background(), in)
		if err != nil || d.Allow != c.allow || c.reason != "" && !slices.Contains(d.Reasons, c.reason) {
			t.Errorf("%s: %+v %v", c.name, d, err)
		}
		if got := CheckScope(in) != nil; got != c.byScope {
			t.Errorf("%s: CheckScope refused=%v, want %v", c.name, got, c.byScope)
		}
	}
	// In scope, an action the role lacks is still refused: a scope narrows.
	in := Input{Subject: Subject{ID: "cl_1", Roles: []string{MerchantClient}, Clearance: 1, Merchant: "m_1", Scope: []string{"accounts.create"}}, Action: "accounts.create"}
	if d, _ := a.Decide(context.Background(), in); d.Allow {
		t.Error("a scope naming accounts.create let a client create accounts")
	}
	// Accounts have no scope and are not held to one.
	if CheckScope(Input{Subject: Subject{ID: "u", Roles: []string{"merchant_operator"}}, Action: "workers.list"}) != nil {
		t.Error("an account was held to a scope")
	}
	if !TenantBound(client) || CheckTenant(Input{Subject: client, Action: "merchants.read", Resource: other}) == nil {
		t.Error("tenancy as code does not bind a machine client")
	}
}

// The matrices that vet a policy change treat a machine client as
// registered for the action they ask about, so a candidate that gives the
// client role an administrator's action is refused, and the permission
// diff shows what the role gains.
func TestPolicyMatricesSeeWhatAClientCouldBeRegisteredFor(t *testing.T) {
	ctx := context.Background()
	b, err := Embedded()
	if err != nil {
		t.Fatal(err)
	}
	old, _ := New(ctx, b)
	cand := &Bundle{Modules: b.Modules, Version: "candidate", Data: map[string]any{}}
	raw, _ := json.Marshal(b.Data)
	json.Unmarshal(raw, &cand.Data)
	perms := cand.Data["cxt"].(map[string]any)["roles"].(map[string]any)["permissions"].(map[string]any)
	perms["audit.search"] = append(perms["audit.search"].([]any), MerchantClient)
	perms["workers.verify"] = append(perms["workers.verify"].([]any), MerchantClient)
	next, err := New(ctx, cand)
	if err != nil {
		t.Fatal(err)
	}
	vs, err := CheckCandidate(ctx, next, cand, nil)
	if err != nil || !slices.ContainsFunc(vs, func(v Violation) bool { return v.Role == MerchantClient && v.Action == "audit.search" }) {
		t.Fatalf("a candidate letting clients search the audit log: %v %v", vs, err)
	}
	d, err := PermissionDiff(ctx, old, next, []string{MerchantClient}, []string{"workers.verify"}, nil)
	if err != nil || len(d.Gained) != 1 || d.Gained[0].Role != MerchantClient || d.Gained[0].Action != "workers.verify" {
		t.Fatalf("the diff of giving clients workers.verify: %+v %v", d, err)
	}
}
