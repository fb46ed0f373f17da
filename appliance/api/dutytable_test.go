package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"

	"cxt/appliance/identity"
	"cxt/appliance/important"
	"cxt/policy"
)

// TestEveryRouteKeepsTheDutyRulesAndTheFourEyesTable is the companion of
// TestEveryRouteHasAPolicyAndEveryRoleTheExpectedDecision: every cell the
// role table allows also passes the duty rules (so the pipeline never
// contradicts the table), and the four-eyes table below says which changes
// wait for a second administrator and which roles may approve them.
func TestEveryRouteKeepsTheDutyRulesAndTheFourEyesTable(t *testing.T) {
	roles := []string{"anonymous", "system_admin", "security_admin", "audit_admin", "platform_operator", "platform_reviewer", "merchant_admin", "merchant_operator", "merchant_client", "worker", "tax_officer"}
	for _, rt := range allRoutes() {
		for _, role := range roles {
			in := policy.Input{Subject: policy.Subject{ID: "u", Roles: []string{role}, Clearance: 4, MFA: true}, Action: rt.Action,
				Resource: policy.Resource{Owner: "other", Label: 1}}
			v := policy.CheckDuty(in)
			if slices.Contains(expected[rt.Action], role) && v != nil {
				t.Errorf("%s %s: the table lets %s but the duty rules refuse: %v", rt.Method, rt.Path, role, v)
			}
			// Acting on one's own account is refused for every role.
			in.Resource.Owner = "u"
			if slices.Contains([]string{"accounts.roles", "accounts.close", "accounts.unlock", "accounts.mfa_reset"}, rt.Action) {
				if v := policy.CheckDuty(in); v == nil {
					t.Errorf("%s %s on one's own account passes the duty rules for %s", rt.Method, rt.Path, role)
				}
			}
		}
	}
	b, _ := policy.Embedded()
	authz, _ := policy.New(context.Background(), b)
	if vs, err := policy.CheckCandidate(context.Background(), authz, b, nil); err != nil || len(vs) > 0 {
		t.Fatalf("the embedded policy breaks the duty rules: %v %v", vs, err)
	}

	// The four-eyes table: which changes need a second administrator and
	// which duties may approve them, when the security admin proposes.
	accounts := map[string]identity.Account{
		"acct-worker": {ID: "acct-worker", Roles: []string{"worker"}, Clearance: 1, Email: "w@example.cn"},
		"acct-mute":   {ID: "acct-mute", Roles: []string{"worker"}, Clearance: 1},
		"acct-audit":  {ID: "acct-audit", Roles: []string{"audit_admin"}, Clearance: 4, Phone: "13900004444"},
		"acct-sys":    {ID: "acct-sys", Roles: []string{"system_admin"}, Clearance: 4},
		"acct-sec2":   {ID: "acct-sec2", Roles: []string{"security_admin"}, Clearance: 4},
	}
	get := func(bucket string, key []byte) ([]byte, error) {
		if a, ok := accounts[string(key)]; ok && bucket == identity.AccountsBucket {
			return json.Marshal(a)
		}
		return nil, nil
	}
	create := func(roles []string, email string) (string, []byte) {
		b, _ := json.Marshal(identity.CreateAccount{Account: identity.Account{ID: "acct-new", Roles: roles, Clearance: 2, Email: email}})
		return identity.CmdCreateAccount, b
	}
	setRoles := func(id string, roles ...string) (string, []byte) {
		b, _ := json.Marshal(identity.SetRoles{Account: id, Roles: roles})
		return identity.CmdSetRoles, b
	}
	closing := func(id string) (string, []byte) {
		b, _ := json.Marshal(identity.AccountRef{Account: id})
		return identity.CmdClose, b
	}
	cases := []struct {
		name      string
		change    func() (string, []byte)
		approvers string // "" when no approval is needed
		err       string
	}{
		{"create a worker", func() (string, []byte) { return create([]string{"worker"}, "") }, "", ""},
		{"create a system admin", func() (string, []byte) { return create([]string{"system_admin"}, "s@example.cn") }, "[audit_admin]", ""},
		{"create an audit admin", func() (string, []byte) { return create([]string{"audit_admin"}, "a@example.cn") }, "[system_admin]", ""},
		{"create a security admin", func() (string, []byte) { return create([]string{"security_admin"}, "x@example.cn") }, "[audit_admin system_admin]", ""},
		{"create an admin without e-mail or phone", func() (string, []byte) { return create([]string{"audit_admin"}, "") }, "", "channel_required"},
		{"make a worker an audit admin", func() (string, []byte) { return setRoles("acct-worker", "audit_admin") }, "[system_admin]", ""},
		{"make a worker without a channel an admin", func() (string, []byte) { return setRoles("acct-mute", "audit_admin") }, "", "channel_required"},
		{"demote the audit admin", func() (string, []byte) { return setRoles("acct-audit", "worker") }, "[audit_admin system_admin]", ""},
		{"move the audit admin to system admin", func() (string, []byte) { return setRoles("acct-audit", "system_admin") }, "[audit_admin]", ""},
		{"give the audit admin a non-admin role too", func() (string, []byte) { return setRoles("acct-audit", "audit_admin", "platform_reviewer") }, "", ""},
		{"close the system admin", func() (string, []byte) { return closing("acct-sys") }, "[audit_admin system_admin]", ""},
		{"close another security admin", func() (string, []byte) { return closing("acct-sec2") }, "[audit_admin system_admin]", ""},
		{"close a worker", func() (string, []byte) { return closing("acct-worker") }, "", ""},
		{"change the policy", func() (string, []byte) { return policy.CmdSet, []byte(`{}`) }, "[audit_admin system_admin]", ""},
		{"activate a signed policy", func() (string, []byte) { return policy.CmdActivate, []byte(`{}`) }, "[audit_admin system_admin]", ""},
		{"roll the policy back", func() (string, []byte) { return policy.CmdRollback, []byte(`{}`) }, "[audit_admin system_admin]", ""},
		{"rotate the keys", func() (string, []byte) { return "keyring.install", nil }, "", ""},
	}
	for _, c := range cases {
		typ, body := c.change()
		req, err := important.FourEyes(get, typ, body)
		gotErr := ""
		if err != nil {
			gotErr = err.Error()
		}
		got := ""
		if req != nil {
			got = fmt.Sprint(important.ApproverRoles("security_admin", req))
		}
		if got != c.approvers || (c.err == "") != (gotErr == "") || !strings.Contains(gotErr, c.err) {
			t.Errorf("%s: approvers %s (error %q), want %s (error %q)", c.name, got, gotErr, c.approvers, c.err)
		}
	}

	// Who may approve one pending change: never the proposer, never the
	// account the change is about, never an account holding two duties or
	// none, never one cleared below the target.
	a := &important.Approval{Proposer: "acct-sec", ProposerRole: "security_admin", Approvers: []string{"audit_admin", "system_admin"},
		Requirement: important.Requirement{Target: "acct-sys", Removed: []string{"system_admin"}, Label: 3}}
	for _, c := range []struct {
		who identity.Account
		ok  bool
	}{
		{identity.Account{ID: "acct-audit", Roles: []string{"audit_admin"}, Clearance: 4}, true},
		{identity.Account{ID: "acct-sys2", Roles: []string{"system_admin"}, Clearance: 3}, true},
		{identity.Account{ID: "acct-sec", Roles: []string{"security_admin"}, Clearance: 4}, false},
		{identity.Account{ID: "acct-sec2", Roles: []string{"security_admin"}, Clearance: 4}, false},
		{identity.Account{ID: "acct-sys", Roles: []string{"system_admin"}, Clearance: 4}, false},
		{identity.Account{ID: "acct-both", Roles: []string{"system_admin", "audit_admin"}, Clearance: 4}, false},
		{identity.Account{ID: "acct-op", Roles: []string{"platform_operator"}, Clearance: 4}, false},
		{identity.Account{ID: "acct-low", Roles: []string{"audit_admin"}, Clearance: 2}, false},
	} {
		if why := a.Eligible(&c.who); (why == "") != c.ok {
			t.Errorf("%s approving the closure of the system admin: eligible=%v (%s), want %v", c.who.ID, why == "", why, c.ok)
		}
	}
}
