package api_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"cxt/appliance/important"
	"cxt/appliance/notify"
	"cxt/policy"
	"cxt/storage/state"
)

// Helpers for the four-eyes tests: a node whose e-mail goes to a real SMTP
// server on loopback, and the steps of a second administrator's approval.

func startWithMail(t *testing.T) (*env, *mailbox) {
	box, addr := startSMTP(t)
	return startWith(t, &notify.Config{SMTPAddr: addr, SMTPFrom: "cxt@example.cn"}), box
}

// stepUp re-authenticates user's session for important operations.
func (e *env) stepUp(token, user string) {
	e.t.Helper()
	if r := e.call("POST", "/api/v1/me/step-up", token, fmt.Sprintf(`{"totp":%q}`, e.code(e.secrets[user]))); r.status != 200 {
		e.t.Fatalf("step-up of %s: %d %v", user, r.status, r.body)
	}
}

// proposed confirms an important operation that must wait for a second
// administrator and returns the pending approval's ID.
func (e *env) proposed(method, path, token, body, key string) string {
	e.t.Helper()
	r := e.confirmed(method, path, token, body, key)
	a, _ := r.body["approval"].(map[string]any)
	if r.status != 202 || a["status"] != "pending" {
		e.t.Fatalf("%s %s: want a pending approval, got %d %v", method, path, r.status, r.body)
	}
	return a["id"].(string)
}

func (e *env) approve(token, id, key string) reply {
	e.t.Helper()
	return e.confirmed("POST", "/api/v1/approvals/"+id+"/approve", token, "", key)
}

var otpLine = regexp.MustCompile(`One-time password: (\S+)`)

// mailedPassword waits for the one-time password mailed to addr.
func (m *mailbox) mailedPassword(t *testing.T, addr string) string {
	t.Helper()
	var pw string
	eventually(t, "a one-time password mailed to "+addr, func() bool {
		m.mu.Lock()
		defer m.mu.Unlock()
		for _, msg := range m.msgs {
			if strings.HasPrefix(msg, addr+"|") {
				if g := otpLine.FindStringSubmatch(msg); g != nil {
					pw = g[1]
					return true
				}
			}
		}
		return false
	})
	return pw
}

func raw(r reply) string {
	b, _ := json.Marshal(r.body)
	return string(b)
}

// TestTheSecurityAdminCannotBreakTheSeparationOfDuties replays the attack
// of issue 7 item 4: each step must now fail or wait for a second
// administrator of another duty.
func TestTheSecurityAdminCannotBreakTheSeparationOfDuties(t *testing.T) {
	e, box := startWithMail(t)
	sec, _ := e.signInMFA("secadmin")
	sys, _ := e.signInMFA("sysadmin")
	audit, _ := e.signInMFA("auditadmin")
	e.stepUp(sec, "secadmin")

	// 1. Creating an audit admin: the preview says who must approve; the
	// confirm creates nothing and shows no password.
	body := `{"username":"audit2","roles":["audit_admin"],"clearance":4,"email":"audit2@example.cn"}`
	p := e.call("POST", "/api/v1/accounts", sec, body, "Idempotency-Key", "mk-audit2")
	ap, _ := p.body["preview"].(map[string]any)["approval"].(map[string]any)
	if p.status != 200 || ap["required"] != true || fmt.Sprint(ap["approver_roles"]) != "[system_admin]" {
		t.Fatalf("preview of a new audit admin: %d %v", p.status, p.body)
	}
	r := e.call("POST", "/api/v1/accounts", sec, body, "Idempotency-Key", "mk-audit2", "X-Confirm-Token", p.body["confirm_token"].(string))
	if r.status != 202 || strings.Contains(raw(r), "one_time_password\":") {
		t.Fatalf("confirming a new audit admin: %d %v", r.status, r.body)
	}
	id := r.body["approval"].(map[string]any)["id"].(string)
	if l := e.login("audit2", "anything-at-all-1A!"); l.code() != "invalid_credentials" {
		t.Fatalf("the account exists before its approval: %v", l.body)
	}
	// An administrator without an e-mail address or phone is refused.
	if r := e.call("POST", "/api/v1/accounts", sec, `{"username":"sys2","roles":["system_admin"]}`, "Idempotency-Key", "mk-sys2"); r.status != 400 || r.code() != "channel_required" || r.body["confirm_token"] != nil {
		t.Fatalf("an administrator without a channel: %d %v", r.status, r.body)
	}

	// 2. Nobody approves alone: not the proposer, not the duty being
	// granted; the approval lists itself as pending meanwhile.
	if r := e.approve(sec, id, "ap-self"); r.status != 403 || r.code() != "approver_not_eligible" {
		t.Fatalf("the proposer approving: %d %v", r.status, r.body)
	}
	if r := e.approve(audit, id, "ap-audit"); r.status != 403 || r.code() != "approver_not_eligible" {
		t.Fatalf("an audit admin approving a new audit admin: %d %v", r.status, r.body)
	}
	if l := e.call("GET", "/api/v1/approvals", sys, ""); l.status != 200 || !strings.Contains(raw(l), id) {
		t.Fatalf("pending approvals: %d %v", l.status, l.body)
	}
	ok := e.approve(sys, id, "ap-sys")
	if ok.status != 200 || ok.body["approval"].(map[string]any)["status"] != "approved" {
		t.Fatalf("the system admin approving: %d %v", ok.status, ok.body)
	}
	// The password went to the new administrator's own mailbox, and to
	// nobody's screen.
	pw := box.mailedPassword(t, "audit2@example.cn")
	if strings.Contains(raw(ok), pw) || strings.Contains(raw(e.call("GET", "/api/v1/me/notifications", sec, "")), pw) ||
		strings.Contains(raw(e.call("GET", "/api/v1/me/notifications", sys, "")), pw) {
		t.Fatal("the one-time password was shown to an administrator")
	}
	// Kept apart from the notification, and only until it is delivered.
	if e.stored(pw, notify.NotificationsBucket, important.ApprovalsBucket, important.IdempotencyBucket) {
		t.Fatal("the one-time password is stored with the notification or the approval")
	}
	eventually(t, "the delivered password forgotten", func() bool { return !e.stored(pw, notify.SecretsBucket) })
	if l := e.login("audit2", pw); l.status != 201 || l.body["password_change_required"] != true {
		t.Fatalf("the new audit admin with the mailed password: %d %v", l.status, l.body)
	}
	if r := e.approve(sys, id, "ap-sys-2"); r.status != 409 || r.code() != "approval_closed" {
		t.Fatalf("approving twice: %d %v", r.status, r.body)
	}
	if l := e.call("GET", "/api/v1/approvals", sys, ""); strings.Contains(raw(l), id) {
		t.Fatalf("a decided approval is still pending: %v", l.body)
	}

	// 3. Rewriting the policy to read the audit trail, or to allow
	// everything, is refused before a confirm token is issued.
	greedy := policyBody(t, e, sec, "greedy", func(perms map[string]any) {
		perms["audit.search"] = []any{"audit_admin", "security_admin"}
		perms["audit.export"] = []any{"audit_admin", "security_admin"}
	})
	// Without the rego tests that would refuse it first (bundle_tests_fail):
	// the duty rules hold whatever tests a bundle carries.
	var b map[string]any
	json.Unmarshal([]byte(greedy), &b)
	for p := range b["files"].(map[string]any) {
		if policy.IsTest(p) {
			delete(b["files"].(map[string]any), p)
		}
	}
	files, _ := json.Marshal(b["files"])
	var untested policy.Files
	json.Unmarshal(files, &untested)
	e.stepUp(sec, "secadmin")
	if r := e.call("PUT", "/api/v1/policy", sec, bundleBody(t, untested, e.signingKey(sec)), "Idempotency-Key", "pol-greedy"); r.status != 400 || r.code() != "policy_breaks_duty" ||
		r.body["confirm_token"] != nil || !strings.Contains(raw(r), "own_audit_trail") {
		t.Fatalf("a policy giving the security admin audit.search: %d %v", r.status, r.body)
	}
	open := signedPolicy(t, e, sec, "open", func(f policy.Files) {
		for p := range f {
			if strings.HasSuffix(p, ".rego") {
				delete(f, p)
			}
		}
		f["open.rego"] = "package cxt.authz\nimport rego.v1\ndefault allow := true\ndecision := {\"allow\": true, \"reasons\": []}\n"
	})
	if r := e.call("PUT", "/api/v1/policy", sec, open, "Idempotency-Key", "pol-open"); r.status != 400 || r.code() != "policy_breaks_duty" || r.body["confirm_token"] != nil {
		t.Fatalf("default allow := true: %d %v", r.status, r.body)
	}
	if r := e.call("GET", "/api/v1/audit", sec, ""); r.status != 403 {
		t.Fatalf("the security admin reading the audit log: %d %v", r.status, r.body)
	}

	// 4. Demoting or closing the other two administrators waits for a
	// second one; until then nothing changes.
	d := e.call("POST", "/api/v1/accounts/acct-auditadmin/roles", sec, `{"roles":["worker"]}`, "Idempotency-Key", "demote-audit")
	if d.status != 200 || d.body["preview"].(map[string]any)["approval"] == nil {
		t.Fatalf("preview of demoting the audit admin: %d %v", d.status, d.body)
	}
	e.proposed("POST", "/api/v1/accounts/acct-auditadmin/roles", sec, `{"roles":["worker"]}`, "demote-audit")
	e.proposed("POST", "/api/v1/accounts/acct-sysadmin/close", sec, "", "close-sys")
	if r := e.call("GET", "/api/v1/audit/head", audit, ""); r.status != 200 {
		t.Fatalf("the audit admin lost its duty before any approval: %d %v", r.status, r.body)
	}
	if r := e.call("GET", "/api/v1/me", sys, ""); r.status != 200 {
		t.Fatalf("the system admin was closed before any approval: %d %v", r.status, r.body)
	}
	// The one being removed cannot approve (or block) it.
	if r := e.approve(sys, pendingID(t, e, sys, "close-sys", "acct-sysadmin"), "ap-own-close"); r.status != 403 || r.code() != "approver_not_eligible" {
		t.Fatalf("the system admin approving its own closure: %d %v", r.status, r.body)
	}
}

// pendingID finds the pending approval about target.
func pendingID(t *testing.T, e *env, token, what, target string) string {
	t.Helper()
	l := e.call("GET", "/api/v1/approvals", token, "")
	for _, x := range l.body["approvals"].([]any) {
		if a := x.(map[string]any); a["target"] == target {
			return a["id"].(string)
		}
	}
	t.Fatalf("no pending approval for %s (%s): %v", target, what, l.body)
	return ""
}

// TestADutyRuleHoldsEvenWhereThePolicyAllowsIt: the request pipeline checks
// the duty rules after OPA allows. A policy can key a grant on something
// the candidate check cannot foresee (here the clearance of an account that
// does not exist yet); the request is refused all the same.
func TestADutyRuleHoldsEvenWhereThePolicyAllowsIt(t *testing.T) {
	e, box := startWithMail(t)
	sec, _ := e.signInMFA("secadmin")
	sys, _ := e.signInMFA("sysadmin")
	e.stepUp(sec, "secadmin")
	later := signedPolicy(t, e, sec, "later", func(f policy.Files) {
		f["rego/later.rego"] = "package cxt.authz\nimport rego.v1\nallow if {\n\tinput.action == \"audit.search\"\n\t\"security_admin\" in input.subject.roles\n\tinput.subject.clearance == 3\n\tinput.resource.label <= input.subject.clearance\n}\n"
	})
	id := e.proposed("PUT", "/api/v1/policy", sec, later, "pol-later")
	if r := e.approve(sys, id, "ap-later"); r.status != 200 {
		t.Fatalf("approving the policy: %d %v", r.status, r.body)
	}
	if v := e.n.Status().Policy; v != "later" {
		t.Fatalf("policy in force: %q", v)
	}
	e.stepUp(sec, "secadmin")
	id = e.proposed("POST", "/api/v1/accounts", sec, `{"username":"sec3","roles":["security_admin"],"clearance":3,"email":"sec3@example.cn"}`, "mk-sec3")
	e.stepUp(sys, "sysadmin")
	if r := e.approve(sys, id, "ap-sec3"); r.status != 200 {
		t.Fatalf("approving sec3: %d %v", r.status, r.body)
	}
	e.admins["sec3"] = box.mailedPassword(t, "sec3@example.cn")
	sec3 := e.signIn("sec3")
	if r := e.call("GET", "/api/v1/audit", sec3, ""); r.status != 403 || r.code() != "duty_violation" || !strings.Contains(raw(r), "own_audit_trail") {
		t.Fatalf("a security admin the policy lets search the audit log: %d %v", r.status, r.body)
	}
}

// TestSecondAdministratorsFollowTheRules covers the decisions themselves:
// a demotion runs exactly once on approval, a closure too, the proposer may
// withdraw, an expired approval cannot be approved, and a replayed approval
// answers the first outcome.
func TestSecondAdministratorsFollowTheRules(t *testing.T) {
	e := start(t)
	sec, _ := e.signInMFA("secadmin")
	sys, _ := e.signInMFA("sysadmin")
	audit, _ := e.signInMFA("auditadmin")
	e.stepUp(sec, "secadmin")

	// Demoting the audit admin: the system admin approves; the change runs
	// once and ends the audit admin's sessions.
	id := e.proposed("POST", "/api/v1/accounts/acct-auditadmin/roles", sec, `{"roles":["platform_reviewer"]}`, "demote")
	if r := e.approve(audit, id, "self-demote"); r.status != 403 || r.code() != "approver_not_eligible" {
		t.Fatalf("the audit admin approving its own demotion: %d %v", r.status, r.body)
	}
	e.stepUp(sys, "sysadmin")
	first := e.approve(sys, id, "ok-demote")
	if first.status != 200 || first.body["result"].(map[string]any)["roles"].([]any)[0] != "platform_reviewer" {
		t.Fatalf("approving the demotion: %d %v", first.status, first.body)
	}
	if r := e.call("GET", "/api/v1/me", audit, ""); r.status != 401 {
		t.Fatalf("the demoted audit admin's session survived: %d %v", r.status, r.body)
	}
	// A replay of the approval's key answers the first outcome and changes
	// nothing more.
	again := e.call("POST", "/api/v1/approvals/"+id+"/approve", sys, "", "Idempotency-Key", "ok-demote")
	if again.status != 200 || raw(again) != raw(first) {
		t.Fatalf("replayed approval: %d %v", again.status, again.body)
	}

	// Closing the system admin: another duty (audit) approves — here no
	// audit admin is left, so the security admin cannot get it done.
	id = e.proposed("POST", "/api/v1/accounts/acct-sysadmin/close", sec, "", "close-sys")
	if r := e.approve(sec, id, "sec-close"); r.code() != "approver_not_eligible" {
		t.Fatalf("the proposer approving a closure: %d %v", r.status, r.body)
	}
	// The proposer withdraws it.
	if r := e.confirmed("POST", "/api/v1/approvals/"+id+"/reject", sec, `{"reason":"no audit admin to approve"}`, "withdraw"); r.status != 200 || r.body["approval"].(map[string]any)["status"] != "rejected" {
		t.Fatalf("withdrawing: %d %v", r.status, r.body)
	}
	if r := e.approve(sys, id, "late"); r.code() != "approver_not_eligible" && r.code() != "approval_closed" {
		t.Fatalf("approving a withdrawn proposal: %d %v", r.status, r.body)
	}
	all := e.call("GET", "/api/v1/approvals?status=all", sec, "")
	if n := len(all.body["approvals"].([]any)); n != 2 {
		t.Fatalf("all approvals: %d %v", n, all.body)
	}

	// A proposal expires after 24 hours.
	e.stepUp(sec, "secadmin")
	id = e.proposed("PUT", "/api/v1/policy", sec, policyBody(t, e, sec, "v-late", nil), "pol-late")
	e.clock.advance(25 * time.Hour)
	sys = e.loginMFA("sysadmin").body["token"].(string)
	if r := e.approve(sys, id, "too-late"); r.status != 409 || r.code() != "approval_closed" {
		t.Fatalf("approving an expired proposal: %d %v", r.status, r.body)
	}
	if v := e.n.Status().Policy; v != "embedded" {
		t.Fatalf("an expired proposal changed the policy: %q", v)
	}
}

// TestAPolicyPreviewShowsThePermissionDiffAndTheDecisionsItWouldChange:
// the preview evaluates the old and the new policy over roles × actions,
// and replays the last 30 days' requests under both.
func TestAPolicyPreviewShowsThePermissionDiffAndTheDecisionsItWouldChange(t *testing.T) {
	e := start(t)
	audit, _ := e.signInMFA("auditadmin")
	quote := `{"method":"labor_per_payment","income":"3000"}`
	for range 2 {
		if r := e.call("POST", "/api/v1/tax/quotes", audit, quote); r.status != 200 {
			t.Fatalf("quote: %d %v", r.status, r.body)
		}
	}
	e.clock.advance(31 * 24 * time.Hour) // those two fall out of the window
	audit = e.loginMFA("auditadmin").body["token"].(string)
	e.call("POST", "/api/v1/tax/quotes", audit, quote)
	sec, _ := e.signInMFA("secadmin")

	noQuotes := policyBody(t, e, sec, "no-audit-quotes", func(p map[string]any) {
		p["tax.quote"] = []any{"platform_operator", "platform_reviewer", "merchant_admin", "merchant_operator", "merchant_client", "worker"}
	})
	p := e.call("PUT", "/api/v1/policy", sec, noQuotes, "Idempotency-Key", "pol-1")
	preview := p.body["preview"].(map[string]any)
	diff := preview["impact"].(map[string]any)["permission_diff"].(map[string]any)
	if p.status != 200 || fmt.Sprint(diff["lost"]) != "[map[action:tax.quote labels:[1 2 3 4] role:audit_admin second_factor:[false true]]]" || len(diff["gained"].([]any)) != 0 {
		t.Fatalf("permission diff: %d %v", p.status, p.body)
	}
	replay := preview["advice"].(map[string]any)["replay"].(map[string]any)
	changes := replay["changes"].([]any)
	if replay["changed"] != "1-9" || replay["checked"].(float64) < 3 || len(changes) != 1 {
		t.Fatalf("replay of the last 30 days: %v", replay)
	}
	if c := changes[0].(map[string]any); c["action"] != "tax.quote" || c["role"] != "audit_admin" || c["before"] != "allow" || c["after"] != "deny" || c["count"] != "1-9" {
		t.Fatalf("replay counts: %v", c)
	}
	// The audit admin may approve a policy change (another duty than the
	// proposer's); its own preview shows the replay too.
	id := e.proposed("PUT", "/api/v1/policy", sec, noQuotes, "pol-1")
	e.stepUp(audit, "auditadmin")
	ap := e.call("POST", "/api/v1/approvals/"+id+"/approve", audit, "", "Idempotency-Key", "ap-pol-1")
	if ap.status != 200 || ap.body["preview"].(map[string]any)["advice"] == nil {
		t.Fatalf("the approver's preview: %d %v", ap.status, ap.body)
	}
	if r := e.call("POST", "/api/v1/approvals/"+id+"/approve", audit, "", "Idempotency-Key", "ap-pol-1", "X-Confirm-Token", ap.body["confirm_token"].(string)); r.status != 200 {
		t.Fatalf("approve: %d %v", r.status, r.body)
	}
	if r := e.call("POST", "/api/v1/tax/quotes", audit, quote); r.status != 403 {
		t.Fatalf("the new policy is not in force: %d %v", r.status, r.body)
	}
}

// TestTheStateMachineRefusesAPolicyThatBreaksTheDuties: the candidate check
// runs where the change is applied too, so a bundle that reached the log
// some other way than the API is refused alike on every replica; so is
// the unsigned policy.set of old.
func TestTheStateMachineRefusesAPolicyThatBreaksTheDuties(t *testing.T) {
	e := start(t)
	sec, _ := e.signInMFA("secadmin")
	key := e.signingKey(sec)
	open := policy.Files{"manifest.json": `{"version": "open"}`,
		"open.rego": "package cxt.authz\nimport rego.v1\ndefault allow := true\ndecision := {\"allow\": true, \"reasons\": []}\n"}
	sig, _ := policy.Sign(key, open)
	cmd, err := policy.ActivateCommand(policy.Activate{Files: open, Signature: sig, Signer: "acct-secadmin"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.n.Cluster().ProposeOK(context.Background(), cmd)
	var rej *state.Rejection
	if !errors.As(err, &rej) || rej.Code != "policy_breaks_duty" {
		t.Fatalf("a policy allowing everything was applied: %v", err)
	}
	unsigned := &policy.Bundle{Version: "open", Modules: map[string]string{"open.rego": open["open.rego"]}}
	if cmd, err = policy.SetCommand(unsigned, time.Now()); err != nil {
		t.Fatal(err)
	}
	if _, err = e.n.Cluster().ProposeOK(context.Background(), cmd); !policy.CodeUnsigned.Is(err) {
		t.Fatalf("an unsigned policy.set: %v", err)
	}
	if v := e.n.Status().Policy; v != "embedded" {
		t.Fatalf("policy in force: %q", v)
	}
}
