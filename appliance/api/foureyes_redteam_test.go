package api_test

import (
	"fmt"
	"strings"
	"testing"

	"cxt/policy"
)

// The red team's second pass at separation of duties (issue 7 item 4): each
// test replays one finding through the API.

// TestPromotingAnAccountReissuesItsCredentialsToItsOwner (S1): the security
// admin creates a merchant operator (its one-time password is handed to the
// creator; a worker would need an SMS code to log in),
// makes the account its own (password, second factor, a session) and has it
// promoted to audit admin. The approval must re-issue the credentials to the
// owner's registered channel, which the approver saw in full, and leave the
// creator with nothing.
func TestPromotingAnAccountReissuesItsCredentialsToItsOwner(t *testing.T) {
	e, box := startWithMail(t)
	sec, _ := e.signInMFA("secadmin")
	sys, _ := e.signInMFA("sysadmin")

	created := e.confirmed("POST", "/api/v1/accounts", sec, `{"username":"mole","roles":["merchant_operator"],"email":"mole@example.cn","phone":"13900007777"}`, "mk-mole")
	if created.status != 201 {
		t.Fatalf("create the operator: %d %v", created.status, created.body)
	}
	id := created.body["account"].(map[string]any)["id"].(string)
	otp := created.body["one_time_password"].(string)
	mole := e.login("mole", otp).body["token"].(string)
	known := "Burrow-Lantern-2026!"
	if r := e.changePassword(mole, otp, known); r.status != 200 {
		t.Fatalf("the creator sets the operator's password: %d %v", r.status, r.body)
	}
	begin := e.call("POST", "/api/v1/me/mfa/totp", mole, "")
	secret, _ := begin.body["secret"].(string)
	if r := e.call("POST", "/api/v1/me/mfa/totp/confirm", mole, fmt.Sprintf(`{"code":%q}`, e.code(secret))); begin.status != 201 || r.status != 200 {
		t.Fatalf("the creator enrolls the operator's factor: %d %v / %d %v", begin.status, begin.body, r.status, r.body)
	}

	e.stepUp(sec, "secadmin")
	apr := e.proposed("POST", "/api/v1/accounts/"+id+"/roles", sec, `{"roles":["audit_admin"]}`, "promote-mole")

	// The approver's preview names, in full, where the new password goes,
	// and asks for an out-of-band check that the address is the owner's.
	e.stepUp(sys, "sysadmin")
	p := e.call("POST", "/api/v1/approvals/"+apr+"/approve", sys, "", "Idempotency-Key", "ap-mole")
	preview, _ := p.body["preview"].(map[string]any)
	if p.status != 200 || preview == nil {
		t.Fatalf("the approver's preview: %d %v", p.status, p.body)
	}
	to, _ := preview["impact"].(map[string]any)["one_time_password_to"].(map[string]any)
	if to["email"] != "mole@example.cn" || to["phone"] != "13900007777" {
		t.Fatalf("the approver is not shown the full channel the password goes to: %v", preview["impact"])
	}
	if !strings.Contains(fmt.Sprint(preview["risks"]), "out of band") {
		t.Fatalf("no risk line asks the approver to confirm the address out of band: %v", preview["risks"])
	}
	ok := e.call("POST", "/api/v1/approvals/"+apr+"/approve", sys, "", "Idempotency-Key", "ap-mole", "X-Confirm-Token", p.body["confirm_token"].(string))
	if ok.status != 200 || ok.body["approval"].(map[string]any)["status"] != "approved" {
		t.Fatalf("approving the promotion: %d %v", ok.status, ok.body)
	}

	// What the creator set or holds is worth nothing now.
	if r := e.login("mole", known); r.status != 401 || r.code() != "invalid_credentials" {
		t.Fatalf("the password the creator set still opens the promoted account: %d %v", r.status, r.body)
	}
	if r := e.call("GET", "/api/v1/me", mole, ""); r.status != 401 {
		t.Fatalf("the creator's session of the promoted account survived: %d %v", r.status, r.body)
	}
	// The owner's mailbox got a fresh one-time password, shown to nobody;
	// it opens a session that must change it and enroll a new factor.
	pw := box.mailedPassword(t, "mole@example.cn")
	for _, who := range []string{sec, sys} {
		if strings.Contains(raw(e.call("GET", "/api/v1/me/notifications", who, "")), pw) {
			t.Fatal("the re-issued password reached an administrator's inbox")
		}
	}
	if strings.Contains(raw(ok), pw) {
		t.Fatal("the re-issued password is in the approver's answer")
	}
	l := e.login("mole", pw)
	if l.status != 201 || l.body["password_change_required"] != true || l.body["mfa_enrollment_required"] != true {
		t.Fatalf("the owner's first login after the promotion: %d %v", l.status, l.body)
	}

	// The approver's look at the unmasked channel is on the record.
	shown := false
	for _, en := range e.audited("op.preview") {
		if en.Action == "approvals.decide" && en.Subject == "acct-sysadmin" && strings.Contains(en.Reason, "unmasked") {
			shown = true
		}
	}
	if !shown {
		t.Fatal("no audit record says the approver was shown the channel unmasked")
	}
}

// TestAPolicyPreviewReplaysCountsNotEntries (M1): the replay advice of a
// policy preview is read by the security admin, who writes the candidate;
// it must not become a window on the audit trail.
func TestAPolicyPreviewReplaysCountsNotEntries(t *testing.T) {
	e := start(t)
	audit, _ := e.signInMFA("auditadmin")
	for range 2 {
		if r := e.call("POST", "/api/v1/tax/quotes", audit, `{"method":"labor_per_payment","income":"3000"}`); r.status != 200 {
			t.Fatalf("quote: %d %v", r.status, r.body)
		}
	}
	sec, _ := e.signInMFA("secadmin")
	// A candidate that singles out one account's actions.
	body := signedPolicy(t, e, sec, "single-out", func(f policy.Files) {
		f["rego/authz.rego"] = strings.Replace(f["rego/authz.rego"], "allow if {\n", "allow if {\n\tnot singled_out\n", 1) +
			"\nsingled_out if {\n\tinput.subject.id == \"acct-auditadmin\"\n\tinput.action == \"tax.quote\"\n}\n"
	})
	p := e.call("PUT", "/api/v1/policy", sec, body, "Idempotency-Key", "pol-single")
	if p.status != 200 {
		t.Fatalf("preview: %d %v", p.status, p.body)
	}
	advice := p.body["preview"].(map[string]any)["advice"].(map[string]any)
	replay := advice["replay"].(map[string]any)
	shown := raw(reply{body: advice})
	for _, leak := range []string{"acct-auditadmin", `"subject"`, `"object"`, `"seq"`, `"sample"`, `"time"`} {
		if strings.Contains(shown, leak) {
			t.Errorf("the replay shows %s: %s", leak, shown)
		}
	}
	changes := fmt.Sprint(replay["changes"])
	if replay["changed"] != "1-9" || changes != "[map[action:tax.quote after:deny before:allow count:1-9 role:audit_admin]]" {
		t.Fatalf("the replay's aggregate: %v", replay)
	}
}

// TestMandatoryAccessControlHoldsWhateverThePolicySays (M2 a): a candidate
// without the label check is refused like a duty violation, and a policy
// that lets a request read up in a way the candidate check cannot foresee
// is overruled by the pipeline: the low-cleared caller gets the answer an
// absent account gets.
func TestMandatoryAccessControlHoldsWhateverThePolicySays(t *testing.T) {
	e, box := startWithMail(t)
	sec, _ := e.signInMFA("secadmin")
	sys, _ := e.signInMFA("sysadmin")

	src := e.currentFiles(sec)["rego/authz.rego"]
	if !strings.Contains(src, "\tinput.resource.label <= input.subject.clearance\n") {
		t.Fatal("the embedded policy's label check moved; update the test")
	}
	noLabels := signedPolicy(t, e, sec, "no-labels", func(f policy.Files) {
		f["rego/authz.rego"] = strings.Replace(src, "\tinput.resource.label <= input.subject.clearance\n", "", 1)
		for p := range f { // the tests would refuse it first (bundle_tests_fail)
			if policy.IsTest(p) {
				delete(f, p)
			}
		}
	})
	if r := e.call("PUT", "/api/v1/policy", sec, noLabels, "Idempotency-Key", "pol-nolabels"); r.status != 400 || r.code() != "policy_breaks_duty" ||
		r.body["confirm_token"] != nil || !strings.Contains(raw(r), "read_up") {
		t.Fatalf("a policy without the label check: %d %v", r.status, r.body)
	}

	// A read-up keyed on a combination of roles no account holds yet.
	pair := signedPolicy(t, e, sec, "pair", func(f policy.Files) {
		f["pair.rego"] = "package cxt.authz\nimport rego.v1\nallow if {\n\tinput.action == \"accounts.unmask\"\n\t\"security_admin\" in input.subject.roles\n\tcount(input.subject.roles) == 2\n\tinput.subject.mfa\n}\n"
	})
	id := e.proposed("PUT", "/api/v1/policy", sec, pair, "pol-pair")
	if r := e.approve(sys, id, "ap-pair"); r.status != 200 {
		t.Fatalf("approving the policy: %d %v", r.status, r.body)
	}
	e.stepUp(sec, "secadmin")
	id = e.proposed("POST", "/api/v1/accounts", sec, `{"username":"sec1","roles":["security_admin","platform_reviewer"],"clearance":1,"email":"sec1@example.cn"}`, "mk-sec1")
	e.stepUp(sys, "sysadmin")
	if r := e.approve(sys, id, "ap-sec1"); r.status != 200 {
		t.Fatalf("approving sec1: %d %v", r.status, r.body)
	}
	e.admins["sec1"] = box.mailedPassword(t, "sec1@example.cn")
	sec1, _ := e.signInMFA("sec1")
	hidden := e.call("POST", "/api/v1/accounts/acct-sysadmin/unmask", sec1, `{"reason":"red team"}`, "Idempotency-Key", "um-sys")
	absent := e.call("POST", "/api/v1/accounts/acct-0123456789abcdef/unmask", sec1, `{"reason":"red team"}`, "Idempotency-Key", "um-none")
	if hidden.status != 404 || hidden.code() != "not_found" || hidden.status != absent.status ||
		strings.ReplaceAll(errMessage(hidden), "acct-sysadmin", "<id>") != strings.ReplaceAll(errMessage(absent), "acct-0123456789abcdef", "<id>") {
		t.Fatalf("a clearance-1 caller unmasking a clearance-4 account the policy lets it: %d %v (absent: %d %v)", hidden.status, hidden.body, absent.status, absent.body)
	}
	// Nor does it write up: no account is cleared above its creator.
	if r := e.call("POST", "/api/v1/accounts", sec1, `{"username":"w-up","roles":["worker"],"clearance":2}`, "Idempotency-Key", "mk-up"); r.status != 403 || r.code() != "forbidden" {
		t.Fatalf("a clearance-1 security admin creating a clearance-2 account: %d %v", r.status, r.body)
	}
}

// diffGroups returns the per-account groups of a policy preview's
// permission diff, by the IDs of the accounts they name.
func diffGroups(t *testing.T, p reply) (map[string]map[string]any, map[string]any) {
	t.Helper()
	if p.status != 200 {
		t.Fatalf("preview: %d %v", p.status, p.body)
	}
	diff := p.body["preview"].(map[string]any)["impact"].(map[string]any)["permission_diff"].(map[string]any)
	groups, _ := diff["accounts"].([]any)
	out := map[string]map[string]any{}
	for _, g := range groups {
		for _, a := range g.(map[string]any)["accounts"].([]any) {
			out[a.(map[string]any)["id"].(string)] = g.(map[string]any)
		}
	}
	return out, diff
}

// TestThePermissionDiffSeesEveryAccount (M2 b): rules keyed on one
// account's ID change nothing for any role, so a diff over roles alone was
// empty; the diff over the real accounts shows who gains and who loses.
func TestThePermissionDiffSeesEveryAccount(t *testing.T) {
	e := start(t)
	sec, _ := e.signInMFA("secadmin")
	w := e.confirmed("POST", "/api/v1/accounts", sec, `{"username":"vip","roles":["worker"]}`, "mk-vip")
	vip := w.body["account"].(map[string]any)["id"].(string)

	body := signedPolicy(t, e, sec, "vip", func(f policy.Files) {
		f["vip.rego"] = fmt.Sprintf("package cxt.authz\nimport rego.v1\nallow if {\n\tinput.subject.id == %q\n\tinput.action == \"policy.read\"\n}\n", vip)
	})
	byID, diff := diffGroups(t, e.call("PUT", "/api/v1/policy", sec, body, "Idempotency-Key", "pol-vip"))
	if len(diff["gained"].([]any)) != 0 || len(diff["lost"].([]any)) != 0 {
		t.Fatalf("a rule keyed on one account changes a role: %v", diff)
	}
	g := byID[vip]
	if g == nil || g["count"] != float64(1) || fmt.Sprint(g["gained"]) != "[map[action:policy.read labels:[1] second_factor:[false true]]]" || len(g["lost"].([]any)) != 0 {
		t.Fatalf("the account a rule singles out: %v (diff %v)", g, diff)
	}
	if len(byID) != 1 {
		t.Fatalf("accounts the rule does not name are in the diff: %v", diff["accounts"])
	}

	// Locking a named administrator out shows that administrator.
	body = signedPolicy(t, e, sec, "no-sys", func(f policy.Files) {
		f["rego/authz.rego"] = strings.Replace(f["rego/authz.rego"], "allow if {\n", "allow if {\n\tinput.subject.id != \"acct-sysadmin\"\n", 1)
	})
	byID, diff = diffGroups(t, e.call("PUT", "/api/v1/policy", sec, body, "Idempotency-Key", "pol-nosys"))
	g = byID["acct-sysadmin"]
	if g == nil || !strings.Contains(fmt.Sprint(g["lost"]), "action:keys.rotate") || len(g["gained"].([]any)) != 0 || len(byID) != 1 {
		t.Fatalf("locking the system admin out: %v", diff)
	}
	if diff["accounts_checked"].(float64) < 4 || diff["reads_subject_id"] != true {
		t.Fatalf("the diff did not check every account as itself: %v", diff)
	}
	// The approver's preview carries the diff too, as its clearance shows it.
	id := e.proposed("PUT", "/api/v1/policy", sec, body, "pol-nosys")
	audit, _ := e.signInMFA("auditadmin")
	ap := e.call("POST", "/api/v1/approvals/"+id+"/approve", audit, "", "Idempotency-Key", "ap-nosys")
	byID, diff = diffGroups(t, ap)
	if byID["acct-sysadmin"] == nil {
		t.Fatalf("the approver's preview does not show the system admin locked out: %v", diff)
	}
}

// TestApprovalsAboveTheCallersClearanceAreAbsent (m2): an approval about an
// account cleared above the caller is neither listed nor acknowledged.
func TestApprovalsAboveTheCallersClearanceAreAbsent(t *testing.T) {
	e, box := startWithMail(t)
	sec, _ := e.signInMFA("secadmin")
	audit, _ := e.signInMFA("auditadmin")
	// A system admin cleared 1, approved by the audit admin.
	id := e.proposed("POST", "/api/v1/accounts", sec, `{"username":"sys1","roles":["system_admin"],"clearance":1,"email":"sys1@example.cn"}`, "mk-sys1")
	if r := e.approve(audit, id, "ap-sys1"); r.status != 200 {
		t.Fatalf("approving sys1: %d %v", r.status, r.body)
	}
	e.admins["sys1"] = box.mailedPassword(t, "sys1@example.cn")
	sys1, _ := e.signInMFA("sys1")

	e.stepUp(sec, "secadmin")
	high := e.proposed("POST", "/api/v1/accounts/acct-auditadmin/roles", sec, `{"roles":["platform_reviewer"]}`, "demote-audit")
	pol := e.proposed("PUT", "/api/v1/policy", sec, policyBody(t, e, sec, "v-low", nil), "pol-low")
	for _, q := range []string{"", "?status=all"} {
		l := e.call("GET", "/api/v1/approvals"+q, sys1, "")
		if l.status != 200 || strings.Contains(raw(l), high) || strings.Contains(raw(l), `"username":"auditadmin"`) || !strings.Contains(raw(l), pol) {
			t.Fatalf("approvals%s as a clearance-1 system admin: %d %v", q, l.status, l.body)
		}
	}
	for _, path := range []string{"approve", "reject"} {
		got := e.call("POST", "/api/v1/approvals/"+high+"/"+path, sys1, "", "Idempotency-Key", "h-"+path)
		none := e.call("POST", "/api/v1/approvals/apr-0123456789abcdef/"+path, sys1, "", "Idempotency-Key", "n-"+path)
		if got.status != 404 || got.code() != "not_found" || got.status != none.status ||
			strings.ReplaceAll(errMessage(got), high, "<id>") != strings.ReplaceAll(errMessage(none), "apr-0123456789abcdef", "<id>") {
			t.Fatalf("%s an approval above the caller: %d %v; unknown: %d %v", path, got.status, got.body, none.status, none.body)
		}
	}
	// The truth is in the log, and the approval still waits.
	found := false
	for _, en := range e.audited("request") {
		if en.Action == "approvals.decide" && en.Object == "acct-auditadmin" && strings.Contains(en.Reason, high) && strings.Contains(en.Reason, "clearance") {
			found = true
		}
	}
	if !found {
		t.Fatal("no audit record says the approval was hidden for its label")
	}
	if l := e.call("GET", "/api/v1/approvals", sec, ""); !strings.Contains(raw(l), high) {
		t.Fatalf("the hidden approval is gone for the proposer: %v", l.body)
	}
}
