package important

import (
	"encoding/hex"
	"encoding/json"
	"slices"
	"sort"
	"time"

	"cxt/appliance/identity"
	"cxt/appliance/notify"
	"cxt/crypto/sm"
	"cxt/policy"
	"cxt/storage/state"
)

// Four eyes (§3 of the spec, 三权分立): granting, demoting or closing an
// administrator and every policy change need a second administrator. The
// proposer's confirm does not make the change; it records a pending
// approval, replicated, that expires after ApprovalTTL. Another
// administrator of a different duty approves (the change runs then, once, in
// the approving command) or rejects it, each through an important operation
// of its own. Which changes need it, and who may approve, is decided here,
// by the state machine, from the replicated state: the API only shows it.

// ApprovalsBucket holds the approvals, pending and decided.
const ApprovalsBucket = "approvals" // approval ID -> Approval

// CmdDecide approves or rejects a pending approval. It is not registered on
// its own: it runs only inside op.run, after a step-up, a preview and a
// confirm, with the confirming subject as the one who decides.
const CmdDecide = "approval.decide"

// ApprovalTTL is how long a proposal waits for its second administrator.
const ApprovalTTL = 24 * time.Hour

// ApprovalKeep is how long an approval, decided or expired, stays listed
// (?status=all) before the sweep removes it; the audit log keeps the trail.
const ApprovalKeep = 7 * 24 * time.Hour

// expireApprovals lets the replicated sweep remove approvals ApprovalKeep
// after they expired.
func expireApprovals(reg *state.Registry) {
	reg.Expire(ApprovalsBucket, func(tx *state.Tx, k, v []byte, now time.Time) (bool, error) {
		var a Approval
		if err := json.Unmarshal(v, &a); err != nil || !now.After(a.Expires.Add(ApprovalKeep)) {
			return false, err
		}
		return true, tx.Delete(ApprovalsBucket, k)
	})
}

// Approval states.
const (
	Pending  = "pending"
	Approved = "approved"
	Rejected = "rejected"
)

// Requirement says that a change needs a second administrator, and about
// whom.
type Requirement struct {
	Target  string   `json:"target"`            // the account (or "policy") the change is about
	Granted []string `json:"granted,omitempty"` // administrator roles the change gives
	Removed []string `json:"removed,omitempty"` // administrator roles it takes away (demotion, closure)
	Label   int      `json:"label,omitempty"`   // the target account's clearance: the approver's must dominate it
	// NewAccount: a new administrator's account. Like every change that
	// grants an administrator role (Approval.IssuesPassword), its one-time
	// password is drawn at approval and sent to its owner's e-mail and
	// phone only.
	NewAccount bool `json:"new_account,omitempty"`
}

// Getter reads a value from the state (state.Tx.Get or state.ReadTx.Get).
type Getter func(bucket string, key []byte) ([]byte, error)

func account(get Getter, id string) (*identity.Account, error) {
	raw, err := get(identity.AccountsBucket, []byte(id))
	if err != nil || raw == nil {
		return nil, err
	}
	var a identity.Account
	return &a, json.Unmarshal(raw, &a)
}

func adminRoles(roles []string) []string {
	var out []string
	for _, r := range roles {
		if slices.Contains(identity.AdminRoles, r) && !slices.Contains(out, r) {
			out = append(out, r)
		}
	}
	sort.Strings(out)
	return out
}

func minus(a, b []string) []string {
	var out []string
	for _, x := range a {
		if !slices.Contains(b, x) {
			out = append(out, x)
		}
	}
	return out
}

var errNoChannel = state.Reject(notify.ChannelRequired,
	"an administrator needs a registered e-mail address or phone number: its one-time password and security notices go there, never to the creator")

// FourEyes says whether the change typ/body needs a second administrator's
// approval, judged on the state read through get: creating an account with
// an administrator role, giving or taking away an administrator role,
// closing an administrator's account, and every policy change. An
// administrator without an e-mail address or phone is refused
// (channel_required). A body that does not decode is left to its handler to
// refuse.
func FourEyes(get Getter, typ string, body []byte) (*Requirement, error) {
	switch typ {
	case identity.CmdCreateAccount:
		var c identity.CreateAccount
		if json.Unmarshal(body, &c) != nil {
			return nil, nil
		}
		granted := adminRoles(c.Account.Roles)
		if len(granted) == 0 {
			return nil, nil
		}
		if c.Account.Email == "" && c.Account.Phone == "" {
			return nil, errNoChannel
		}
		return &Requirement{Target: c.Account.ID, Granted: granted, Label: c.Account.Clearance, NewAccount: true}, nil
	case identity.CmdSetRoles:
		var c identity.SetRoles
		if json.Unmarshal(body, &c) != nil {
			return nil, nil
		}
		acct, err := account(get, c.Account)
		if err != nil || acct == nil {
			return nil, err
		}
		before, after := adminRoles(acct.Roles), adminRoles(c.Roles)
		granted, removed := minus(after, before), minus(before, after)
		if len(granted) == 0 && len(removed) == 0 {
			return nil, nil
		}
		if len(granted) > 0 && acct.Email == "" && acct.Phone == "" {
			return nil, errNoChannel
		}
		return &Requirement{Target: acct.ID, Granted: granted, Removed: removed, Label: acct.Clearance}, nil
	case identity.CmdClose:
		var c identity.AccountRef
		if json.Unmarshal(body, &c) != nil {
			return nil, nil
		}
		acct, err := account(get, c.Account)
		if err != nil || acct == nil {
			return nil, err
		}
		if removed := adminRoles(acct.Roles); len(removed) > 0 {
			return &Requirement{Target: acct.ID, Removed: removed, Label: acct.Clearance}, nil
		}
		return nil, nil
	case policy.CmdSet, policy.CmdActivate, policy.CmdRollback:
		return &Requirement{Target: "policy"}, nil
	}
	return nil, nil
}

// ApproverRoles are the administrator roles that may approve a change
// proposed by an administrator of proposerRole: not the proposer's own
// duty, and not a duty the change grants (a duty never co-opts its own new
// member). Sorted.
func ApproverRoles(proposerRole string, req *Requirement) []string {
	var out []string
	for _, r := range identity.AdminRoles {
		if r != proposerRole && !slices.Contains(req.Granted, r) {
			out = append(out, r)
		}
	}
	sort.Strings(out)
	return out
}

// Approval is a change waiting for (or decided by) a second administrator.
type Approval struct {
	ID           string          `json:"id"`
	Action       string          `json:"action"` // the route action proposed, e.g. accounts.create
	Type         string          `json:"type"`   // the change, e.g. account.create
	Body         []byte          `json:"body"`   // the change's command body; never shown
	Proposer     string          `json:"proposer"`
	ProposerRole string          `json:"proposer_role,omitempty"`
	Requirement  Requirement     `json:"requirement"`
	Approvers    []string        `json:"approver_roles"`
	Shown        json.RawMessage `json:"shown,omitempty"`  // the preview the proposer confirmed
	Result       json.RawMessage `json:"result,omitempty"` // the answer the change gives once made
	Status       string          `json:"status"`
	Created      time.Time       `json:"created"`
	Expires      time.Time       `json:"expires"`
	DecidedBy    string          `json:"decided_by,omitempty"`
	Decided      time.Time       `json:"decided_at,omitzero"`
	Reason       string          `json:"reason,omitempty"`
	// Basis fingerprints what the proposal was made on besides its body
	// (see basis); approving it when that has changed is refused.
	Basis []byte `json:"basis,omitempty"`
}

// View is an approval as the API shows it: everything but the command body.
func (a *Approval) View() map[string]any {
	v := map[string]any{
		"id": a.ID, "action": a.Action, "type": a.Type, "proposer": a.Proposer, "target": a.Requirement.Target,
		"approver_roles": a.Approvers, "status": a.Status, "created": a.Created, "expires": a.Expires,
	}
	if a.ProposerRole != "" {
		v["proposer_role"] = a.ProposerRole
	}
	if len(a.Requirement.Granted) > 0 {
		v["grants"] = a.Requirement.Granted
	}
	if len(a.Requirement.Removed) > 0 {
		v["removes"] = a.Requirement.Removed
	}
	if len(a.Shown) > 0 {
		v["preview"] = a.Shown
	}
	if a.DecidedBy != "" {
		v["decided_by"], v["decided_at"] = a.DecidedBy, a.Decided
	}
	if a.Reason != "" {
		v["reason"] = a.Reason
	}
	return v
}

// Hidden reports whether the approval is about an account cleared above
// clearance: such an approval is not there for that caller (listed, decided
// or named), as an account above one's clearance is not.
func (a *Approval) Hidden(clearance int) bool { return a.Requirement.Label > clearance }

// Eligible reports why acct may not approve a, or "" if it may: it must
// hold exactly one administrator role, among the approval's approver roles;
// it is not the proposer nor the account the change is about; and its
// clearance dominates the target's label.
func (a *Approval) Eligible(acct *identity.Account) string {
	roles := adminRoles(acct.Roles)
	switch {
	case acct.ID == a.Proposer:
		return "the proposer never approves their own proposal"
	case acct.ID == a.Requirement.Target:
		return "nobody approves a change to their own account"
	case !acct.Closed.IsZero():
		return "the account is closed"
	case len(roles) != 1:
		return "only an account holding exactly one administrator role approves"
	case !slices.Contains(a.Approvers, roles[0]):
		return "a " + roles[0] + " may not approve this change: it needs one of " + joinRoles(a.Approvers)
	case a.Hidden(acct.Clearance):
		// The API answers not_found before it gets here (see Hidden); the
		// message does not name the label either way.
		return "this approval is not open to you"
	}
	return ""
}

func joinRoles(rs []string) string {
	out := ""
	for i, r := range rs {
		if i > 0 {
			out += " or "
		}
		out += r
	}
	return out
}

// propose records a pending approval for the run r.
func propose(tx *state.Tx, cmd *state.Command, r *Run, req *Requirement) (*Approval, error) {
	proposer, err := account(tx.Get, r.Subject)
	if err != nil {
		return nil, err
	}
	var role string
	if proposer != nil {
		if rs := adminRoles(proposer.Roles); len(rs) == 1 {
			role = rs[0]
		}
	}
	now := tx.Time()
	a := &Approval{
		ID: "apr-" + hex.EncodeToString(cmd.ID[:8]), Action: r.Action, Type: r.Type, Body: r.Body,
		Proposer: r.Subject, ProposerRole: role, Requirement: *req, Approvers: ApproverRoles(role, req),
		Shown: r.Shown, Result: r.Response, Status: Pending, Created: now, Expires: now.Add(ApprovalTTL),
	}
	if len(a.Approvers) == 0 {
		return nil, state.Reject(codeApproverNotEligible, "no administrator role could approve this change")
	}
	if a.Basis, err = basis(tx.Get, a.Type, req); err != nil {
		return nil, err
	}
	return a, putApproval(tx, a)
}

// basis fingerprints what an approval decides on besides its own body: the
// target account's roles, clearance and closure, or the policy in force.
// Two proposals on one account would otherwise each be judged, and shown,
// against a state the other one changes (a worker proposed for two duties
// becomes one, then moves to the other with a single approval).
func basis(get Getter, typ string, req *Requirement) ([]byte, error) {
	var fp []byte
	switch {
	case typ == policy.CmdSet || typ == policy.CmdActivate || typ == policy.CmdRollback:
		raw, err := get(policy.Bucket, []byte("current"))
		if err != nil {
			return nil, err
		}
		fp = append([]byte("policy\x00"), raw...)
	case req.Target != "" && !req.NewAccount:
		acct, err := account(get, req.Target)
		if err != nil {
			return nil, err
		}
		if acct != nil {
			roles := slices.Clone(acct.Roles)
			slices.Sort(roles)
			fp = mustJSON(map[string]any{"roles": roles, "clearance": acct.Clearance, "closed": acct.Closed})
		}
	default:
		return nil, nil
	}
	h := sm.Sum(fp)
	return h[:], nil
}

func putApproval(tx *state.Tx, a *Approval) error {
	b, err := json.Marshal(a)
	if err != nil {
		return err
	}
	return tx.Put(ApprovalsBucket, []byte(a.ID), b)
}

// Decision is the body of an approval decision.
type Decision struct {
	Approval string `json:"approval"`
	Approve  bool   `json:"approve"`
	Reason   string `json:"reason,omitempty"`
	// For a change that gives an administrator role (IssuesPassword): the
	// one-time password drawn by the approver's node (its hash, and the text
	// sent to the owner), and the channel the approver was shown in full
	// and vouched for; the password goes nowhere else.
	Password *identity.PasswordHash `json:"password,omitempty"`
	Secret   string                 `json:"secret,omitempty"`
	Channel  *Channel               `json:"channel,omitempty"`
}

// Channel is an owner's registered e-mail address and phone, where a
// one-time password is sent.
type Channel struct {
	Email string `json:"email,omitempty"`
	Phone string `json:"phone,omitempty"`
}

// IssuesPassword reports whether approving a gives an administrator role:
// to a new account, or to an existing one. Either way the account's
// one-time password is drawn at the approval and sent to its owner's
// registered channel only, and an existing account's second factors and
// sessions end (identity.SetRoles.Reissue): what its creator knew or
// enrolled while it was an ordinary account opens nothing.
func (a *Approval) IssuesPassword() bool { return len(a.Requirement.Granted) > 0 }

// OwnerChannel returns the channel a's one-time password goes to: the new
// account's, or the promoted account's as it is now.
func (a *Approval) OwnerChannel(get Getter) (*Channel, error) {
	switch a.Type {
	case identity.CmdCreateAccount:
		var c identity.CreateAccount
		if err := json.Unmarshal(a.Body, &c); err != nil {
			return nil, state.Reject(state.InvalidRequest, "account.create: %v", err)
		}
		return &Channel{Email: c.Account.Email, Phone: c.Account.Phone}, nil
	case identity.CmdSetRoles:
		acct, err := account(get, a.Requirement.Target)
		if err != nil {
			return nil, err
		}
		if acct == nil {
			return nil, state.Reject(state.NotFound, "no account %s", a.Requirement.Target)
		}
		return &Channel{Email: acct.Email, Phone: acct.Phone}, nil
	}
	return nil, state.Reject(state.InvalidRequest, "a %s gives no administrator role", a.Type)
}

// decide applies a decision by subject; the answer is the approval and, if
// approved, the change's own answer.
func decide(tx *state.Tx, subject string, body []byte) (json.RawMessage, error) {
	var d Decision
	if err := json.Unmarshal(body, &d); err != nil {
		return nil, state.Reject(state.InvalidRequest, "approval.decide: %v", err)
	}
	now := tx.Time()
	a, err := ApprovalByID(tx.Get, d.Approval)
	if err != nil {
		return nil, err
	}
	if a == nil {
		return nil, state.Reject(state.NotFound, "no approval %s", d.Approval)
	}
	decider, err := account(tx.Get, subject)
	if err != nil {
		return nil, err
	}
	if decider == nil {
		return nil, state.Reject(codeApproverNotEligible, "the deciding account is gone")
	}
	if a.Hidden(decider.Clearance) { // as an unknown approval, like the API
		return nil, state.Reject(state.NotFound, "no approval %s", d.Approval)
	}
	if a.Status != Pending {
		return nil, state.Reject(codeApprovalClosed, "the approval was already %s", a.Status)
	}
	if now.After(a.Expires) {
		return nil, state.Reject(codeApprovalClosed, "the approval expired at %s", a.Expires.Format(time.RFC3339))
	}
	why := a.Eligible(decider)
	if !d.Approve {
		// The proposer may withdraw; otherwise whoever may approve may reject.
		if subject != a.Proposer && why != "" {
			return nil, state.Reject(codeApproverNotEligible, "%s", why)
		}
		tx.AuditAs("approval.reject")
		a.Status = Rejected
	} else {
		if why != "" {
			return nil, state.Reject(codeApproverNotEligible, "%s", why)
		}
		if now, err := basis(tx.Get, a.Type, &a.Requirement); err != nil {
			return nil, err
		} else if len(a.Basis) > 0 && string(now) != string(a.Basis) {
			return nil, state.Reject(codeApprovalStale, "the account or the policy this was proposed on has changed since; what was shown no longer says what approving would do: propose it again")
		}
		tx.AuditAs(a.Type)
		change := a.Body
		if a.IssuesPassword() {
			if change, err = withPassword(tx, a, d); err != nil {
				return nil, err
			}
		}
		if _, err := tx.Run(a.Type, change); err != nil {
			return nil, err
		}
		if a.IssuesPassword() {
			if err := sendPassword(tx, a, d.Secret, subject); err != nil {
				return nil, err
			}
		}
		a.Status = Approved
	}
	a.DecidedBy, a.Decided, a.Reason = subject, now, d.Reason
	if err := putApproval(tx, a); err != nil {
		return nil, err
	}
	if err := identity.Notify(tx, a.Proposer, "operation."+a.Status, "重要操作复核结果 / Approval decided",
		"The operation "+a.Action+" you proposed ("+a.ID+") was "+a.Status+" by "+subject+" at "+now.Format(time.RFC3339)+"."); err != nil {
		return nil, err
	}
	out := map[string]any{"approval": a.View()}
	if a.Status == Approved && len(a.Result) > 0 {
		out["result"] = a.Result
	}
	return mustJSON(out), nil
}

// withPassword puts the one-time password the approver's node drew into
// the change: a new administrator's account is created with it, a promoted
// account's credentials are replaced by it (identity.SetRoles.Reissue). The
// proposer never knew it. The owner's channel must still be the one the
// approver was shown (and must exist: channel_required).
func withPassword(tx *state.Tx, a *Approval, d Decision) ([]byte, error) {
	if d.Password == nil || d.Secret == "" {
		return nil, state.Reject(state.InvalidRequest, "approving a change that gives an administrator role needs the one-time password to send")
	}
	ch, err := a.OwnerChannel(tx.Get)
	if err != nil {
		return nil, err
	}
	if ch.Email == "" && ch.Phone == "" {
		return nil, errNoChannel
	}
	if d.Channel != nil && *d.Channel != *ch {
		return nil, state.Reject(state.Conflict, "the owner's e-mail or phone is no longer what the approver was shown; preview the approval again")
	}
	switch a.Type {
	case identity.CmdCreateAccount:
		var c identity.CreateAccount
		if err := json.Unmarshal(a.Body, &c); err != nil {
			return nil, state.Reject(state.InvalidRequest, "account.create: %v", err)
		}
		c.Account.Password, c.Account.MustChange = *d.Password, true
		return json.Marshal(c)
	default: // identity.CmdSetRoles (OwnerChannel refused anything else)
		var c identity.SetRoles
		if err := json.Unmarshal(a.Body, &c); err != nil {
			return nil, state.Reject(state.InvalidRequest, "account.roles: %v", err)
		}
		c.Reissue = d.Password
		return json.Marshal(c)
	}
}

// sendPassword queues the one-time password to the administrator's own
// e-mail and phone; the inbox, the proposer and the approver never see it.
func sendPassword(tx *state.Tx, a *Approval, secret, approver string) error {
	acct, err := account(tx.Get, a.Requirement.Target)
	if err != nil {
		return err
	}
	if acct == nil {
		return state.Reject(state.NotFound, "the account %s is missing", a.Requirement.Target)
	}
	event, title, text := "account.created", "管理员账户已开通 / Administrator account opened",
		"An administrator account "+acct.Username+" ("+joinRoles(a.Requirement.Granted)+") was opened for you at "+
			tx.Time().Format(time.RFC3339)+", proposed by "+a.Proposer+" and approved by "+approver+
			". Sign in with the one-time password below and change it at once; nobody else was shown it."
	if !a.Requirement.NewAccount {
		event, title, text = "account.credentials_reissued", "管理员角色已授予，凭据已重置 / Administrator role given, credentials re-issued",
			"Your account "+acct.Username+" was given the administrator role "+joinRoles(a.Requirement.Granted)+" at "+
				tx.Time().Format(time.RFC3339)+", proposed by "+a.Proposer+" and approved by "+approver+
				". Its password and second factors were replaced and its sessions ended: sign in with the one-time password below, change it at once and enroll a second factor again; nobody else was shown it. If you did not expect this, tell the security officers at once."
	}
	return notify.EnqueueSecret(tx, notify.Recipient{Account: acct.ID, Email: acct.Email, Phone: acct.Phone},
		event, title, text, "One-time password: "+secret)
}

// ApprovalByID returns an approval, or nil.
func ApprovalByID(get Getter, id string) (*Approval, error) {
	raw, err := get(ApprovalsBucket, []byte(id))
	if err != nil || raw == nil {
		return nil, err
	}
	var a Approval
	return &a, json.Unmarshal(raw, &a)
}

// Approvals lists the approvals still pending at now, newest first; with
// all, the decided and expired ones too.
func Approvals(r *state.ReadTx, now time.Time, all bool) ([]*Approval, error) {
	var out []*Approval
	err := r.ForEach(ApprovalsBucket, func(k, v []byte) error {
		var a Approval
		if err := json.Unmarshal(v, &a); err != nil {
			return err
		}
		if all || (a.Status == Pending && !now.After(a.Expires)) {
			out = append(out, &a)
		}
		return nil
	})
	sort.SliceStable(out, func(i, j int) bool { return out[i].Created.After(out[j].Created) })
	return out, err
}
