package policy

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/open-policy-agent/opa/v1/rego"
)

// The duty rules of 三权分立 hold whatever the editable policy says: the
// request pipeline checks every allowed request against them (CheckDuty),
// and a candidate policy that would allow what they forbid is refused before
// it can be confirmed and again when it is applied (CheckCandidate). They
// are Go, not rego, so that the security administrator — who edits the
// policy — cannot edit them away.

// The three administrator duties.
const (
	SystemAdmin   = "system_admin"
	SecurityAdmin = "security_admin"
	AuditAdmin    = "audit_admin"
)

// AdminRoles are the three duties; no subject may hold two.
var AdminRoles = []string{SystemAdmin, SecurityAdmin, AuditAdmin}

// Names of the duty rules, as refusals name them.
const (
	RuleTwoAdminRoles  = "two_admin_roles" // nobody holds two administrator duties
	RuleOwnAuditTrail  = "own_audit_trail" // no role reads its own audit trail
	RuleSeparateDuties = "separate_duties" // a duty's actions belong to its role alone
	RuleSelf           = "acts_on_self"    // nobody changes, closes or unlocks their own account
	RuleAdminsApprove  = "admins_approve"  // only administrators take part in four-eyes approvals
)

// DutyActions are the actions that make up each administrator duty: only a
// subject holding that role may perform them. Granting one to another role
// would let that role hold two duties in all but name.
var DutyActions = map[string][]string{
	SystemAdmin: {"keys.rotate", "gateway.platform.set"},
	SecurityAdmin: {"accounts.create", "accounts.roles", "accounts.close", "accounts.unlock", "accounts.unmask",
		"accounts.mfa_reset", "sessions.delete_any", "policy.change",
		"gateway.clients.register", "gateway.clients.suspend", "gateway.clients.resume", "gateway.clients.rotate", "gateway.clients.revoke"},
	AuditAdmin: {"audit.search", "audit.export", "audit.verify"},
}

// auditReads are the actions that return audit entries. The system and
// security administrators' actions are in every answer they give, so those
// two roles never hold them; the audit administrator's own entries are
// withheld from its answers by the handlers (see docs/security.md).
var auditReads = []string{"audit.search", "audit.export"}

// approvalActions are the four-eyes actions, for administrators only.
var approvalActions = []string{"approvals.list", "approvals.decide"}

// selfActions may never target the subject's own account.
var selfActions = []string{"accounts.roles", "accounts.close", "accounts.unlock", "accounts.mfa_reset"}

// Violation is a broken duty rule.
type Violation struct {
	Rule   string `json:"rule"`
	Role   string `json:"role,omitempty"` // the role (or roles, joined by +) that would break it
	Action string `json:"action,omitempty"`
	Why    string `json:"why"`
}

func (v Violation) String() string { return v.Rule + ": " + v.Why }

func adminRolesOf(roles []string) []string {
	var out []string
	for _, r := range roles {
		if slices.Contains(AdminRoles, r) && !slices.Contains(out, r) {
			out = append(out, r)
		}
	}
	return out
}

// CheckDuty returns the duty rule an allowed request would break, or nil.
// It reads only the input: the decision of the policy does not enter it.
func CheckDuty(in Input) *Violation {
	roles := in.Subject.Roles
	who := strings.Join(roles, "+")
	admins := adminRolesOf(roles)
	if len(admins) > 1 {
		return &Violation{Rule: RuleTwoAdminRoles, Role: who, Action: in.Action,
			Why: "an account holding " + strings.Join(admins, " and ") + " holds two administrator duties and may act in neither"}
	}
	if slices.Contains(auditReads, in.Action) {
		for _, r := range []string{SystemAdmin, SecurityAdmin} {
			if slices.Contains(roles, r) {
				return &Violation{Rule: RuleOwnAuditTrail, Role: r, Action: in.Action,
					Why: "the " + r + " role may not " + in.Action + ": its own actions are in the audit trail it would read"}
			}
		}
	}
	for owner, actions := range DutyActions {
		if slices.Contains(actions, in.Action) && !slices.Contains(roles, owner) {
			return &Violation{Rule: RuleSeparateDuties, Role: who, Action: in.Action,
				Why: in.Action + " is part of the " + owner + " duty; " + who + " may not perform it"}
		}
	}
	if slices.Contains(approvalActions, in.Action) && len(admins) == 0 {
		return &Violation{Rule: RuleAdminsApprove, Role: who, Action: in.Action,
			Why: "only administrators take part in four-eyes approvals"}
	}
	if slices.Contains(selfActions, in.Action) && in.Resource.Owner != "" && in.Resource.Owner == in.Subject.ID {
		return &Violation{Rule: RuleSelf, Role: who, Action: in.Action,
			Why: "nobody may " + in.Action + " on their own account"}
	}
	return nil
}

// knownRoles are evaluated by CheckCandidate besides every role the
// candidate's data names.
var knownRoles = []string{"anonymous", SystemAdmin, SecurityAdmin, AuditAdmin, "platform_operator",
	"platform_reviewer", "merchant_admin", "merchant_operator", MerchantClient, "worker", "tax_officer"}

// dutyMatrixActions are the actions a duty rule speaks about.
func dutyMatrixActions() []string {
	var out []string
	for _, r := range AdminRoles {
		out = append(out, DutyActions[r]...)
	}
	out = append(out, approvalActions...)
	sort.Strings(out)
	return slices.Compact(out)
}

// RolesOf returns the roles a bundle's role table names, with the known
// roles, sorted.
func RolesOf(bundles ...*Bundle) []string {
	set := append([]string(nil), knownRoles...)
	for _, b := range bundles {
		for _, roles := range permissionTable(b) {
			set = append(set, roles...)
		}
	}
	sort.Strings(set)
	return slices.Compact(set)
}

// ActionsOf returns the actions a bundle's role table names, sorted.
func ActionsOf(bundles ...*Bundle) []string {
	var out []string
	for _, b := range bundles {
		for a := range permissionTable(b) {
			out = append(out, a)
		}
	}
	sort.Strings(out)
	return slices.Compact(out)
}

// permissionTable reads data.cxt.roles.permissions if the bundle has it.
func permissionTable(b *Bundle) map[string][]string {
	out := map[string][]string{}
	if b == nil {
		return out
	}
	cxt, _ := b.Data["cxt"].(map[string]any)
	roles, _ := cxt["roles"].(map[string]any)
	perms, _ := roles["permissions"].(map[string]any)
	for action, v := range perms {
		list, _ := v.([]any)
		for _, r := range list {
			if s, ok := r.(string); ok {
				out[action] = append(out[action], s)
			}
		}
	}
	return out
}

// candidateSubjects are the subjects a candidate policy is tried with: each
// role alone, and each administrator role together with each other role, so
// that a rule keyed on a combination is tried too. extra adds real subjects
// (the administrators' accounts), so that a rule keyed on an account ID is
// tried as well.
func candidateSubjects(roles []string, extra []Subject) []Subject {
	var out []Subject
	for _, r := range roles {
		out = append(out, Subject{ID: "duty-check", Roles: []string{r}, Clearance: 4, MFA: true})
	}
	for _, a := range AdminRoles {
		for _, r := range roles {
			if r != a && !slices.Contains(AdminRoles, r) {
				out = append(out, Subject{ID: "duty-check", Roles: []string{a, r}, Clearance: 4, MFA: true})
			}
		}
	}
	return append(out, extra...)
}

// CheckCandidate evaluates a compiled candidate policy over the matrix of
// subjects × the actions the duty rules speak about × a few resources, and
// over the read-up cells of mandatory access control (labels.go), and
// returns every rule it would let a request break, sorted; none means the
// candidate keeps the rules. The evaluation is deterministic, so every
// replica reaches the same verdict.
func CheckCandidate(ctx context.Context, a *Authorizer, b *Bundle, extra []Subject) ([]Violation, error) {
	var out []Violation
	seen := map[string]bool{}
	for _, sub := range candidateSubjects(RolesOf(b), extra) {
		for _, action := range dutyMatrixActions() {
			// No resource (the audit routes), another account, one's own; a
			// session with and without a second factor.
			type cell struct {
				owner string
				mfa   bool
			}
			cells := []cell{{"", true}, {"someone-else", true}, {"", false}}
			if slices.Contains(selfActions, action) {
				cells = append(cells, cell{sub.ID, true})
			}
			for _, cell := range cells {
				sub.MFA = cell.mfa
				in := Input{Subject: sub, Action: action, Resource: Resource{Owner: cell.owner, Label: 1}}
				allowed, err := a.allows(ctx, in)
				if err != nil {
					return nil, err
				}
				if !allowed {
					continue
				}
				if v := CheckDuty(in); v != nil {
					key := v.Rule + "\x00" + v.Role + "\x00" + v.Action
					if !seen[key] {
						seen[key] = true
						out = append(out, *v)
					}
				}
			}
		}
	}
	readUp, err := checkReadUp(ctx, a, b, extra) // mandatory access control (labels.go)
	if err != nil {
		return nil, err
	}
	out = append(out, readUp...)
	sort.Slice(out, func(i, j int) bool {
		if out[i].Rule != out[j].Rule {
			return out[i].Rule < out[j].Rule
		}
		if out[i].Role != out[j].Role {
			return out[i].Role < out[j].Role
		}
		return out[i].Action < out[j].Action
	})
	return out, nil
}

// DescribeViolations says in one line which rules a candidate breaks: the
// rules by name, then the first few cells that break them.
func DescribeViolations(vs []Violation) string {
	var rules []string
	for _, v := range vs {
		if !slices.Contains(rules, v.Rule) {
			rules = append(rules, v.Rule)
		}
	}
	var cells []string
	for i, v := range vs {
		if i == 3 {
			cells = append(cells, fmt.Sprintf("and %d more", len(vs)-3))
			break
		}
		cells = append(cells, v.Role+" may "+v.Action)
	}
	return fmt.Sprintf("the policy breaks the duty rule(s) %s: %s", strings.Join(rules, ", "), strings.Join(cells, "; "))
}

// allows evaluates the allow rule alone: what Decide answers, without the
// reasons of a denial, which the matrices above do not need. A machine
// client in a matrix is one registered for the action asked about: the
// matrices ask what a role may be given, and a client's scope only narrows.
func (a *Authorizer) allows(ctx context.Context, in Input) (bool, error) {
	if ScopeBound(in.Subject) && in.Subject.Scope == nil {
		in.Subject.Scope = []string{in.Action}
	}
	rs, err := a.current.Load().allow.Eval(ctx, rego.EvalParsedInput(in.value()))
	if err != nil {
		return false, fmt.Errorf("policy: %w", err)
	}
	return len(rs) == 1 && len(rs[0].Expressions) == 1 && rs[0].Expressions[0].Value == true, nil
}
