package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"cxt/policy"
	"cxt/storage/auditlog"
	"cxt/storage/state"
)

// Findings of the outside review of this security core, each replayed.

func TestAClearanceOutOfRangeIsRefusedNotChanged(t *testing.T) {
	e := start(t)
	sec := e.signIn("secadmin")
	for _, c := range []string{"5", "100", "-1"} {
		r := e.call("POST", "/api/v1/accounts", sec, `{"username":"w1","roles":["worker"],"clearance":`+c+`}`, "Idempotency-Key", "c"+c)
		if r.status != 400 || r.code() != "invalid_request" {
			t.Fatalf("clearance %s: %d %v", c, r.status, r.body)
		}
	}
}

func TestAnAuditAdminNeverSeesItsOwnTrailByName(t *testing.T) {
	e := start(t)
	audit := e.signIn("auditadmin")
	e.loginMFA("auditadmin")
	e.login("auditadmin", "Wrong-Password-1!")
	r := e.call("GET", "/api/v1/audit?username=auditadmin&limit=1000", audit, "")
	if r.status != 200 {
		t.Fatalf("search: %d %v", r.status, r.body)
	}
	if own, _ := r.body["entries"].([]any); len(own) != 0 {
		t.Fatalf("the audit admin read %d entries of its own trail: %v", len(own), own[0])
	}
	// The same search names the other administrators' entries.
	if r := e.call("GET", "/api/v1/audit?username=secadmin&limit=10", audit, ""); r.body["entries"] == nil {
		t.Fatalf("username=secadmin: %v", r.body)
	}
}

func TestARequestedPathCannotWriteLinesIntoTheAuditLog(t *testing.T) {
	e := start(t)
	e.send("GET", "/api/v1/x%0d%0aINJECT", "", "", false) // an undocumented path, on purpose
	e.n.Cluster().ReadBarrier(context.Background())
	found := false
	e.n.Cluster().State().View(func(tx *state.ReadTx) error {
		all, err := auditlog.Search(tx, auditlog.Query{})
		for _, en := range all {
			if strings.Contains(en.Object, "INJECT") {
				found = true
				if strings.ContainsAny(en.Object, "\r\n") {
					t.Fatalf("a CR LF in an audit entry: %q", en.Object)
				}
			}
		}
		return err
	})
	if !found {
		t.Fatal("the request was not audited")
	}
}

func TestABodyNamingAKeyTwiceIsRefused(t *testing.T) {
	e := start(t)
	sec := e.signIn("secadmin")
	r := e.call("POST", "/api/v1/accounts", sec, `{"username":"w13","roles":["worker"],"username":"secadmin"}`, "Idempotency-Key", "dup")
	if r.status != 400 || !strings.Contains(r.body["error"].(map[string]any)["message"].(string), "twice") {
		t.Fatalf("a duplicate key: %d %v", r.status, r.body)
	}
}

func TestAnApprovalProposedOnAStateThatChangedIsStale(t *testing.T) {
	e := start(t)
	sec, _ := e.signInMFA("secadmin")
	sys, _ := e.signInMFA("sysadmin")
	audit, _ := e.signInMFA("auditadmin")
	created := e.confirmed("POST", "/api/v1/accounts", sec, `{"username":"w3","roles":["worker"],"email":"w3@example.cn"}`, "mk-w3")
	if created.status != 201 {
		t.Fatalf("create: %d %v", created.status, created.body)
	}
	id := created.body["account"].(map[string]any)["id"].(string)
	e.stepUp(sec, "secadmin")
	toSystem := e.proposed("POST", "/api/v1/accounts/"+id+"/roles", sec, `{"roles":["system_admin"]}`, "p1")
	toAudit := e.proposed("POST", "/api/v1/accounts/"+id+"/roles", sec, `{"roles":["audit_admin"]}`, "p2")
	e.stepUp(sys, "sysadmin")
	if r := e.approve(sys, toAudit, "a2"); r.status != 200 {
		t.Fatalf("approve the audit-admin proposal: %d %v", r.status, r.body)
	}
	// The other proposal was made on a worker; the account is an audit
	// admin now: approving it would move a duty with one approval.
	e.stepUp(audit, "auditadmin")
	if r := e.approve(audit, toSystem, "a1"); r.status != 409 || r.code() != "approval_stale" {
		t.Fatalf("approving a proposal whose account changed since: %d %v", r.status, r.body)
	}
}

func TestAPolicyPreviewCarriesTheTextOfTheChange(t *testing.T) {
	e := start(t)
	sec, _ := e.signInMFA("secadmin")
	body := signedPolicy(t, e, sec, "entrench-1", func(f policy.Files) {
		f["rego/authz.rego"] += "\n# entrench\nentrench if contains(json.marshal(input.resource), \"acct-secadmin\")\n"
	})
	p := e.call("PUT", "/api/v1/policy", sec, body, "Idempotency-Key", "pol-1")
	impact, _ := p.body["preview"].(map[string]any)["impact"].(map[string]any)
	if p.status != 200 || !strings.Contains(fmt.Sprint(impact["text_diff"]), "acct-secadmin") {
		t.Fatalf("the preview does not show the rule keyed on a resource: %d %v", p.status, impact["text_diff"])
	}
}

func mustMarshal(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
