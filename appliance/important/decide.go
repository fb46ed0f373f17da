package important

import (
	"bytes"
	"io"
	"strings"

	"cxt/appliance/api"
	"cxt/appliance/errs"
	"cxt/appliance/identity"
	"cxt/policy"
	"cxt/storage/state"
)

// listApprovals shows the administrators the changes waiting for a second
// one (?status=all adds the decided and expired ones).
func (b *Backend) listApprovals(r *api.Request) (int, any, error) {
	all := r.HTTP.URL.Query().Get("status") == "all"
	var list []*Approval
	if err := r.View(func(tx *state.ReadTx) error {
		var err error
		list, err = Approvals(tx, r.Now(), all)
		return err
	}); err != nil {
		return 0, nil, err
	}
	views := make([]map[string]any, 0, len(list))
	for _, a := range list {
		if a.Hidden(r.Subject.Clearance) {
			continue // about an account cleared above the caller: not there for them
		}
		views = append(views, a.View())
	}
	return 200, map[string]any{"approvals": views}, nil
}

func (b *Backend) approve(r *api.Request) (*api.Op, error) { return b.decide(r, true) }

func (b *Backend) reject(r *api.Request) (*api.Op, error) { return b.decide(r, false) }

// decide prepares a second administrator's decision on a pending approval,
// itself an important operation (step-up, Idempotency-Key, preview and
// confirm). The state machine checks everything again when it applies it.
func (b *Backend) decide(r *api.Request, approve bool) (*api.Op, error) {
	const op = "decide approval"
	id := r.Var("id")
	var in struct {
		Reason string `json:"reason"`
	}
	if b, _ := io.ReadAll(r.HTTP.Body); len(bytes.TrimSpace(b)) > 0 {
		r.HTTP.Body = io.NopCloser(bytes.NewReader(b))
		if err := r.Decode(&in); err != nil {
			return nil, err
		}
	}
	if len(in.Reason) > 500 {
		return nil, errs.E(op, errs.Invalid, "a reason is at most 500 bytes")
	}
	var a *Approval
	var me *identity.Account
	if err := r.View(func(tx *state.ReadTx) error {
		var err error
		if a, err = ApprovalByID(tx.Get, id); err != nil {
			return err
		}
		me, err = identity.AccountByID(tx, r.Subject.ID)
		return err
	}); err != nil {
		return nil, err
	}
	if a != nil && a.Hidden(r.Subject.Clearance) {
		// Answered exactly as an unknown ID, so that neither the approval
		// nor the label of its account shows; the record keeps the truth.
		r.Audit.Object = a.Requirement.Target
		r.Audit.Reason = "approval " + a.ID + " answered as absent: its account's security label is above the caller's clearance"
		a = nil
	}
	if a == nil {
		return nil, errs.E(op, errs.NotExist, "no approval %s", id)
	}
	r.Audit.Object = a.Requirement.Target
	r.Audit.Reason = strings.TrimSpace("approval " + a.ID + " of " + a.Action + " proposed by " + a.Proposer + "; " + in.Reason)
	if a.Status != Pending || r.Now().After(a.Expires) {
		return nil, errs.Coded(op, errs.Conflict, "approval_closed", "the approval is %s or expired", a.Status)
	}
	if me == nil {
		return nil, errs.E(op, errs.Unauthenticated, "the account is gone")
	}
	if why := a.Eligible(me); why != "" && (approve || me.ID != a.Proposer) {
		return nil, errs.Coded(op, errs.Permission, "approver_not_eligible", "%s", why)
	}
	d := Decision{Approval: a.ID, Approve: approve, Reason: in.Reason}
	decision := "reject"
	risks := []string{"the proposal is closed; proposing the change again starts over"}
	impact := map[string]any{"approval": a.ID, "proposal": a.View()}
	if approve {
		decision = "approve"
		risks = []string{"the change runs now, once, with you recorded as the second administrator"}
		if a.IssuesPassword() {
			if err := b.showChannel(r, a, &d, impact, &risks); err != nil {
				return nil, err
			}
		}
	}
	impact["decision"] = decision
	o := &api.Op{
		Impact:  impact,
		Risks:   risks,
		Command: state.NewCommand(CmdDecide, mustJSON(d), r.Now()),
		Status:  200,
	}
	if approve {
		// The approver of a policy change sees the permission diff as its
		// clearance shows it (bound by its confirm token) and, as advice,
		// which decisions of the last 30 days the policy would change.
		var bundle *policy.Bundle
		if err := r.View(func(tx *state.ReadTx) error {
			bundle = policy.Candidate(tx, a.Type, a.Body)
			return nil
		}); err != nil {
			return nil, err
		}
		if bundle != nil {
			if next, err := policy.New(r.Ctx, bundle); err == nil {
				diff, err := identity.PermissionDiff(r, b.Authz, next, bundle)
				if err != nil {
					return nil, err
				}
				impact["permission_diff"] = diff
				o.Advise = func() (map[string]any, error) { return identity.ReplayDecisions(r, b.Authz, next) }
			}
		}
	}
	return o, nil
}

// showChannel prepares the approval of a change that gives an administrator
// role. The one-time password goes to the owner's registered e-mail and
// phone, and whoever reads them holds the account: so the approver is shown
// them in full (the one purpose they are unmasked for here; the preview's
// audit record says so) and asked to check out of band that they are the
// person's own. That check is the four-eyes check on the channel; the
// decision carries the channel shown, and the state machine refuses it if
// the owner's channel is another by then.
func (b *Backend) showChannel(r *api.Request, a *Approval, d *Decision, impact map[string]any, risks *[]string) error {
	var ch *Channel
	if err := r.View(func(tx *state.ReadTx) error {
		var err error
		ch, err = a.OwnerChannel(tx.Get)
		return err
	}); err != nil {
		return api.Classify(err)
	}
	to := map[string]any{}
	if ch.Email != "" {
		to["email"] = ch.Email
	}
	if ch.Phone != "" {
		to["phone"] = ch.Phone
	}
	impact["one_time_password_to"] = to
	d.Channel = ch
	r.Audit.Reason += "; the owner's e-mail and phone were shown unmasked to the approver, to confirm the channel"
	*risks = append(*risks,
		"a one-time password is drawn now and sent only to the e-mail and phone shown in one_time_password_to; neither you nor the proposer sees it",
		"before you approve, confirm out of band (in person, or by calling a number you already know) that this e-mail and phone belong to the person who will hold the role: whoever reads them holds the account")
	if !a.Requirement.NewAccount {
		*risks = append(*risks, "the account's password and second factors are replaced and its sessions end: what anyone set or enrolled on it before opens nothing")
	}
	// Drawn at the confirm only: the preview binds the decision, not the
	// password, and hashing it twice would be wasted work.
	if r.HTTP.Header.Get("X-Confirm-Token") != "" {
		d.Secret = identity.GeneratePassword()
		hash, err := b.Hashing.Hash(d.Secret)
		if err != nil {
			return err
		}
		d.Password = &hash
	}
	return nil
}
