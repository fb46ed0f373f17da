package identity

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"cxt/appliance/api"
	"cxt/appliance/errs"
	"cxt/policy"
	"cxt/storage/auditlog"
	"cxt/storage/state"
)

// A policy change is reviewed before it can be confirmed: it must keep the
// duty rules (policy.CheckCandidate, tried with the real administrators'
// accounts as well), and its preview shows the permission diff (bound by the
// confirm token) and the recent decisions it would change (advice).

// replayWindow is how far back a policy preview replays decisions.
const replayWindow = 30 * 24 * time.Hour

// keepsDuties refuses a candidate policy that would let a request break a
// duty rule (policy_breaks_duty), before any confirm token is issued.
func keepsDuties(r *api.Request, next *policy.Authorizer, b *policy.Bundle) error {
	var admins []policy.Subject
	if err := r.View(func(tx *state.ReadTx) error {
		return tx.ForEach(AccountsBucket, func(_, v []byte) error {
			var a Account
			if err := json.Unmarshal(v, &a); err != nil {
				return err
			}
			if AdminRole(a.Roles) != "" && a.Closed.IsZero() {
				admins = append(admins, policy.Subject{ID: a.ID, Roles: a.Roles, Clearance: a.Clearance, MFA: true})
			}
			return nil
		})
	}); err != nil {
		return err
	}
	vs, err := policy.CheckCandidate(r.Ctx, next, b, admins)
	if err != nil {
		return errs.E("set policy", errs.Invalid, "the policy cannot be evaluated: %v", err)
	}
	if len(vs) > 0 {
		return errs.Coded("set policy", errs.Invalid, "policy_breaks_duty", "%s", policy.DescribeViolations(vs))
	}
	return nil
}

// maxDiffAccounts bounds the accounts a permission diff evaluates; the
// per-role part covers the rest by their roles.
const maxDiffAccounts = 2000

// DiffView is the permission diff as a preview shows it.
type DiffView struct {
	*policy.Diff
	AccountsTotal int      `json:"accounts_total"` // open accounts at or below the caller's clearance
	Capped        bool     `json:"capped,omitempty"`
	Notes         []string `json:"notes,omitempty"`
}

// PermissionDiff says which role and which account gains or loses which
// action (every route's action and every action either role table names).
// The accounts are the open ones the caller is cleared for, by ID, at most
// maxDiffAccounts of them: an account above the caller's clearance is not
// there for it, here as anywhere (an approver cleared higher is shown its
// own diff).
func PermissionDiff(r *api.Request, old, next *policy.Authorizer, b *policy.Bundle) (*DiffView, error) {
	actions := policy.ActionsOf(old.Bundle(), b)
	actions = append(actions, r.Actions()...)
	slices.Sort(actions)
	var accounts []policy.DiffAccount
	total := 0
	if err := r.View(func(tx *state.ReadTx) error {
		return tx.ForEach(AccountsBucket, func(_, v []byte) error {
			var a Account
			if err := json.Unmarshal(v, &a); err != nil {
				return err
			}
			if !a.Closed.IsZero() || a.Clearance > r.Subject.Clearance {
				return nil
			}
			if total++; len(accounts) < maxDiffAccounts {
				accounts = append(accounts, policy.DiffAccount{ID: a.ID, Username: a.Username, Roles: a.Roles, Clearance: a.Clearance})
			}
			return nil
		})
	}); err != nil {
		return nil, err
	}
	d, err := policy.PermissionDiff(r.Ctx, old, next, policy.RolesOf(old.Bundle(), b), slices.Compact(actions), accounts)
	if err != nil {
		return nil, errs.Wrap("set policy", errs.Internal, err, "the permission diff failed")
	}
	v := &DiffView{Diff: d, AccountsTotal: total, Capped: total > len(accounts)}
	if v.Capped {
		v.Notes = append(v.Notes, fmt.Sprintf("only the first %d of %d accounts (by ID) were evaluated one by one; the per-role diff covers the others by their roles", len(accounts), total))
	}
	if d.ReadsSubjectID {
		v.Notes = append(v.Notes, "a policy reads the subject's ID: each account was evaluated as itself; a rule keyed on an account's ID grants or denies what its roles do not say")
	}
	if r.Subject.Clearance < policy.MaxLabel {
		v.Notes = append(v.Notes, "accounts cleared above yours are left out; an approver cleared higher sees them in its own preview")
	}
	return v, nil
}

// ReplayDecisions decides the requests of the last 30 days again, under the
// policy in force and under next, and counts those whose answer would
// change, by action and the subject's roles. Subjects are taken as they are
// now (roles, clearance) with a second factor; anonymous callers as
// anonymous.
//
// Only counts leave: the security administrator writes the candidate and
// reads its preview, and may not read the audit trail (own_audit_trail).
// A list of changed decisions would let a candidate crafted to single out
// an account or an action show who did what, and when; so no entry, subject,
// object or time is shown, only how many requests of an action by holders
// of some roles go from one answer to the other.
func ReplayDecisions(r *api.Request, old, next *policy.Authorizer) (map[string]any, error) {
	to := r.Now().UTC()
	from := to.Add(-replayWindow)
	type cell struct{ subject, action, object string }
	type group struct {
		action, role  string
		before, after bool
	}
	decided := map[cell][2]bool{}
	subjects := map[string]*policy.Subject{}
	counts := map[group]int{}
	checked, changed := 0, 0
	err := r.View(func(tx *state.ReadTx) error {
		subjectOf := func(id string) (*policy.Subject, error) {
			if sub, ok := subjects[id]; ok {
				return sub, nil
			}
			var sub *policy.Subject
			switch {
			case id == "anonymous" || strings.HasPrefix(id, "login:"):
				sub = &policy.Subject{ID: "anonymous", Roles: []string{"anonymous"}, Clearance: 1}
			default:
				a, err := AccountByID(tx, id)
				if err != nil {
					return nil, err
				}
				if a != nil {
					sub = &policy.Subject{ID: a.ID, Roles: a.Roles, Clearance: a.Clearance, MFA: true}
				}
			}
			subjects[id] = sub
			return sub, nil
		}
		return tx.ForEach(auditlog.EntriesBucket, func(_, v []byte) error {
			var e auditlog.Entry
			if err := json.Unmarshal(v, &e); err != nil {
				return err
			}
			if e.Action == "" || e.Time.Before(from) || e.Time.After(to) {
				return nil
			}
			sub, err := subjectOf(e.Subject)
			if err != nil || sub == nil {
				return err
			}
			c := cell{sub.ID, e.Action, e.Object}
			d, ok := decided[c]
			if !ok {
				res := policy.Resource{Owner: e.Object, Label: 1}
				if strings.HasPrefix(e.Object, "acct-") {
					if obj, err := subjectOf(e.Object); err != nil {
						return err
					} else if obj != nil && obj.Clearance > 0 {
						res.Label = obj.Clearance
					}
				}
				in := policy.Input{Subject: *sub, Action: e.Action, Resource: res}
				before, err := old.Decide(r.Ctx, in)
				if err != nil {
					return err
				}
				after, err := next.Decide(r.Ctx, in)
				if err != nil {
					return err
				}
				// What the code rules refuse is refused under both.
				ok := policy.CheckDuty(in) == nil && policy.CheckLabel(in) == nil
				d = [2]bool{ok && before.Allow, ok && after.Allow}
				decided[c] = d
			}
			checked++
			if d[0] != d[1] {
				changed++
				roles := slices.Clone(sub.Roles)
				slices.Sort(roles)
				counts[group{e.Action, strings.Join(roles, "+"), d[0], d[1]}]++
			}
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	groups := make([]group, 0, len(counts))
	for g := range counts {
		groups = append(groups, g)
	}
	slices.SortFunc(groups, func(a, b group) int {
		return strings.Compare(a.action+"\x00"+a.role+"\x00"+verdict(a.before), b.action+"\x00"+b.role+"\x00"+verdict(b.before))
	})
	changes := make([]map[string]any, 0, len(groups))
	for _, g := range groups {
		changes = append(changes, map[string]any{
			"action": g.action, "role": g.role, "before": verdict(g.before), "after": verdict(g.after), "count": magnitude(counts[g]),
		})
	}
	return map[string]any{"replay": map[string]any{
		"from": from, "to": to, "checked": checked, "changed": magnitude(changed), "changes": changes,
	}}, nil
}

// magnitude tells a count by its order only ("0", "1-9", "10-99", …): a
// candidate can single out one account by its rule, and an exact count of
// its decisions would tell how often that person did what.
func magnitude(n int) string {
	if n == 0 {
		return "0"
	}
	lo := 1
	for lo*10 <= n && lo < 1000 {
		lo *= 10
	}
	if lo == 1000 {
		return "1000+"
	}
	return fmt.Sprintf("%d-%d", lo, lo*10-1)
}

func verdict(allow bool) string {
	if allow {
		return "allow"
	}
	return "deny"
}
