package api_test

import (
	"context"
	"strings"
	"testing"

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
