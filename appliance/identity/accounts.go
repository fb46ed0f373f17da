package identity

import (
	"encoding/hex"
	"fmt"
	"slices"
	"strings"

	"cxt/appliance/api"
	"cxt/appliance/errs"
	"cxt/appliance/notify"
	"cxt/crypto/sm"
	"cxt/storage/auditlog"
	"cxt/storage/state"
)

// createAccount lets a security administrator open an account with a
// one-time password, returned once to the creator — except for an
// administrator, whose account waits for a second administrator's approval
// and whose one-time password goes to its owner's e-mail or phone only.
func (b *Backend) createAccount(r *api.Request) (*api.Op, error) {
	const op = "create account"
	var in struct {
		Username  string   `json:"username"`
		Roles     []string `json:"roles"`
		Clearance int      `json:"clearance"`
		Email     string   `json:"email"`
		Phone     string   `json:"phone"`
	}
	if err := r.Decode(&in); err != nil {
		return nil, err
	}
	name, err := CheckUsername(in.Username)
	if err != nil {
		return nil, errs.E(op, errs.Invalid, "%v", err)
	}
	in.Username = name
	if err := CheckRoles(in.Roles); err != nil {
		return nil, errs.E(op, errs.Invalid, "%v", err)
	}
	switch {
	case in.Clearance == 0: // not given
		in.Clearance = 1
	case in.Clearance < 1 || in.Clearance > 4:
		return nil, errs.E(op, errs.Invalid, "clearance must be 1 (public) to 4 (secret)")
	}
	if in.Clearance > r.Subject.Clearance { // no write up: the account is labelled with its clearance
		return nil, errs.Coded(op, errs.Permission, "forbidden", "an account cannot be cleared above its creator's clearance (%d)", r.Subject.Clearance)
	}
	idx, err := nameIndex(r, in.Username)
	if err != nil {
		return nil, err
	}
	// A new administrator's one-time password is drawn at the approval, on
	// the approver's node, and sent to the owner (important.FourEyes).
	admin := AdminRole(in.Roles) != ""
	var password string
	var hash PasswordHash
	if !admin {
		password = GeneratePassword()
		if hash, err = b.Hashing.Hash(password); err != nil {
			return nil, err
		}
	}
	if err := CheckContact(in.Email, in.Phone); err != nil {
		return nil, errs.E(op, errs.Invalid, "%v", err)
	}
	acct := Account{ID: accountID(r, idx), Username: in.Username, Roles: in.Roles, Clearance: in.Clearance,
		Password: hash, MustChange: true, Email: in.Email, Phone: in.Phone, Created: r.Now().UTC()}
	r.Audit.Object = acct.ID
	risks := []string{"the one-time password is shown once, in the answer to the confirm"}
	resp, secrets := map[string]any{"account": acct.Public(), "one_time_password": password}, []string{"one_time_password"}
	if admin {
		risks = []string{"the one-time password is drawn when a second administrator approves and is sent to the owner's own e-mail or phone; nobody else sees it"}
		resp, secrets = map[string]any{"account": acct.Public(), "one_time_password_sent_to": sentTo(in.Email, in.Phone)}, nil
	}
	if IsStaff(in.Roles) {
		risks = append(risks, "a staff account: it can act on every merchant's data within its role")
	}
	return &api.Op{
		Impact: map[string]any{"username": in.Username, "roles": in.Roles, "clearance": in.Clearance,
			"email": MaskEmail(in.Email), "phone": MaskPhone(in.Phone)},
		Risks:   risks,
		Command: state.NewCommand(CmdCreateAccount, mustJSON(CreateAccount{Account: acct, NameIndex: idx}), r.Now()),
		Status:  201, Response: resp, Secrets: secrets,
	}, nil
}

// accountID derives a new account's ID from its creator, the
// Idempotency-Key and the username's blind index: the preview and the
// confirm name the same account, and so do their audit records.
func accountID(r *api.Request, nameIndex []byte) string {
	h := sm.Sum(append([]byte("cxt/account-id/v1\x00"+r.Subject.ID+"\x00"+r.HTTP.Header.Get("Idempotency-Key")+"\x00"), nameIndex...))
	return "acct-" + hex.EncodeToString(h[:8])
}

// sentTo names, masked, where a new administrator's password goes.
func sentTo(email, phone string) []string {
	var out []string
	if email != "" {
		out = append(out, MaskEmail(email))
	}
	if phone != "" {
		out = append(out, MaskPhone(phone))
	}
	return out
}

func (b *Backend) unlockAccount(r *api.Request) (*api.Op, error) {
	id := r.Var("id")
	r.Audit.Object = id
	var acct *Account
	var attempts *Attempts
	if err := r.View(func(tx *state.ReadTx) error {
		var err error
		if acct, err = AccountByID(tx, id); err != nil || acct == nil {
			return err
		}
		key, err := r.Node.Keys().IndexKey()
		if err != nil {
			return err
		}
		attempts, err = AttemptsFor(tx, NameIndex(key, acct.Username))
		return err
	}); err != nil {
		return nil, err
	}
	if acct == nil {
		return nil, errs.E("unlock", errs.NotExist, "no account %s", id)
	}
	if acct.ID == r.Subject.ID {
		return nil, errs.Coded("unlock", errs.Permission, "forbidden", "nobody unlocks their own account")
	}
	idx, err := nameIndex(r, acct.Username)
	if err != nil {
		return nil, err
	}
	return &api.Op{
		Impact:  map[string]any{"account": acct.ID, "username": acct.Username, "locked": attempts.Locked(r.Now()), "recent_failures": len(attempts.Failures)},
		Risks:   []string{"if the failures were an attack, unlocking lets it continue"},
		Command: state.NewCommand(CmdUnlock, mustJSON(NameRef{NameIndex: idx}), r.Now()),
		Status:  200, Response: map[string]any{"unlocked": id},
	}, nil
}

// targetAccount reads the account a route names, or fails with not_found.
func targetAccount(r *api.Request, op, id string) (*Account, error) {
	var acct *Account
	if err := r.View(func(tx *state.ReadTx) error {
		var err error
		acct, err = AccountByID(tx, id)
		return err
	}); err != nil {
		return nil, err
	}
	if acct == nil {
		return nil, errs.E(op, errs.NotExist, "no account %s", id)
	}
	return acct, nil
}

// setRoles changes an account's roles (security admin; important): every
// session of the account ends.
func (b *Backend) setRoles(r *api.Request) (*api.Op, error) {
	const op = "set roles"
	id := r.Var("id")
	r.Audit.Object = id
	var in struct {
		Roles []string `json:"roles"`
	}
	if err := r.Decode(&in); err != nil {
		return nil, err
	}
	if err := CheckRoles(in.Roles); err != nil {
		return nil, errs.E(op, errs.Invalid, "%v", err)
	}
	if id == r.Subject.ID {
		return nil, errs.Coded(op, errs.Permission, "forbidden", "nobody changes their own roles")
	}
	acct, err := targetAccount(r, op, id)
	if err != nil {
		return nil, err
	}
	risks := []string{"every session of the account ends", "the account gains or loses the rights of these roles at once"}
	resp := map[string]any{"account": acct.ID, "roles": in.Roles}
	if grantsAdmin(acct.Roles, in.Roles) {
		// As for a new administrator (important.Approval.IssuesPassword).
		risks = append(risks, "at the approval the account's credentials are re-issued to its owner: a one-time password drawn then is sent to its own e-mail or phone only, its second factors are removed and its sessions end")
		resp["one_time_password_sent_to"] = sentTo(acct.Email, acct.Phone)
	}
	return &api.Op{
		Impact:  map[string]any{"account": acct.ID, "username": acct.Username, "roles_before": acct.Roles, "roles_after": in.Roles},
		Risks:   risks,
		Command: state.NewCommand(CmdSetRoles, mustJSON(SetRoles{Account: acct.ID, Roles: in.Roles}), r.Now()),
		Status:  200, Response: resp,
	}, nil
}

// grantsAdmin reports whether after holds an administrator role before
// does not.
func grantsAdmin(before, after []string) bool {
	for _, r := range after {
		if slices.Contains(AdminRoles, r) && !slices.Contains(before, r) {
			return true
		}
	}
	return false
}

// closeAccount closes an account for good (security admin; important).
func (b *Backend) closeAccount(r *api.Request) (*api.Op, error) {
	const op = "close account"
	id := r.Var("id")
	r.Audit.Object = id
	if id == r.Subject.ID {
		return nil, errs.Coded(op, errs.Permission, "forbidden", "nobody closes their own account here")
	}
	acct, err := targetAccount(r, op, id)
	if err != nil {
		return nil, err
	}
	if !acct.Closed.IsZero() {
		return nil, errs.E(op, errs.Conflict, "the account is already closed")
	}
	return &api.Op{
		Impact:  map[string]any{"account": acct.ID, "username": acct.Username, "roles": acct.Roles},
		Risks:   []string{"the account can never log in again; its sessions end now; its records are kept"},
		Command: state.NewCommand(CmdClose, mustJSON(AccountRef{Account: acct.ID}), r.Now()),
		Status:  200, Response: map[string]any{"closed": acct.ID},
	}, nil
}

// endAccountSessions lets a security administrator end every session of an
// account.
func (b *Backend) endAccountSessions(r *api.Request) (int, any, error) {
	id := r.Var("id")
	r.Audit.Object = id
	var hashes []string
	if err := r.View(func(tx *state.ReadTx) error {
		m, err := SessionsOf(tx, id)
		for h := range m {
			hashes = append(hashes, h)
		}
		return err
	}); err != nil {
		return 0, nil, err
	}
	for _, h := range hashes {
		if _, err := r.Propose(state.NewCommand(CmdEndSession, mustJSON(EndSession{TokenHash: []byte(h)}), r.Now())); err != nil {
			return 0, nil, err
		}
	}
	return 200, map[string]any{"account": id, "ended": len(hashes)}, nil
}

// unmaskAccount shows an account's e-mail and phone in full to a security
// administrator who gives a reason; the reason is in the audit record.
func (b *Backend) unmaskAccount(r *api.Request) (*api.Op, error) {
	const op = "unmask"
	id := r.Var("id")
	var in struct {
		Reason string `json:"reason"`
	}
	if err := r.Decode(&in); err != nil {
		return nil, err
	}
	if len(strings.TrimSpace(in.Reason)) < 5 {
		return nil, errs.E(op, errs.Invalid, "a reason of at least 5 characters is required")
	}
	r.Audit.Object, r.Audit.Reason = id, in.Reason
	acct, err := targetAccount(r, op, id)
	if err != nil {
		return nil, err
	}
	return &api.Op{
		Impact:  map[string]any{"account": acct.ID, "fields": []string{"email", "phone"}, "reason": in.Reason},
		Risks:   []string{"personal information will be shown in full; the access and its reason are audited"},
		Command: auditlog.RecordCommand(auditlog.Context{Event: "account.unmask"}, r.Now()),
		Status:  200, Response: map[string]any{"account": acct.ID, "email": acct.Email, "phone": acct.Phone},
		Secrets: []string{"email", "phone"}, // shown once: a replay withholds them
	}, nil
}

func (b *Backend) notifications(r *api.Request) (int, any, error) {
	var list []notify.Notification
	err := r.View(func(tx *state.ReadTx) error {
		var err error
		list, err = notify.ForAccount(tx, r.Subject.ID, 100)
		return err
	})
	for i := range list { // addresses are shown masked
		for ch, d := range list[i].Deliveries {
			if ch == notify.Email {
				d.To = MaskEmail(d.To)
			} else if ch == notify.SMS {
				d.To = MaskPhone(d.To)
			}
			list[i].Deliveries[ch] = d
		}
	}
	return 200, map[string]any{"notifications": list}, err
}

// resetFactors removes another account's second factors when its owner lost
// them (security admin; important): every session of the account ends and
// its next login enrolls a new factor. The owner is told.
func (b *Backend) resetFactors(r *api.Request) (*api.Op, error) {
	const op = "reset factors"
	id := r.Var("id")
	r.Audit.Object = id
	if id == r.Subject.ID {
		return nil, errs.Coded(op, errs.Permission, "forbidden", "nobody resets their own second factor; replace it with POST /api/v1/me/mfa/totp")
	}
	acct, err := targetAccount(r, op, id)
	if err != nil {
		return nil, err
	}
	if acct.TOTPSecret == "" && acct.SM2Key == "" {
		return nil, errs.E(op, errs.Conflict, "the account has no second factor to reset")
	}
	return &api.Op{
		Impact: map[string]any{"account": acct.ID, "username": acct.Username, "totp": acct.TOTPSecret != "", "sm2": acct.SM2Key != ""},
		Risks: []string{"whoever holds the account's password can enroll a new factor at the next login",
			"every session of the account ends; its owner is notified"},
		Command: state.NewCommand(CmdResetFactors, mustJSON(AccountRef{Account: acct.ID}), r.Now()),
		Status:  200, Response: map[string]any{"account": acct.ID, "factors_reset": true},
	}, nil
}

// TenantAccount prepares the account of a merchant's user (merchant set) or a
// worker (worker set): a one-time password, to be shown once, and the body
// of CmdCreateAccount, which the calling domain runs inside its own command
// (Tx.Run) so that the account and what it belongs to are created together.
func (k Hashing) TenantAccount(r *api.Request, username, role, merchant, worker, email, phone string) (CreateAccount, string, error) {
	const op = "create account"
	name, err := CheckUsername(username)
	if err != nil {
		return CreateAccount{}, "", errs.E(op, errs.Invalid, "%v", err)
	}
	if role != MerchantAdmin && role != MerchantOperator && role != Worker || (merchant == "") == (worker == "") {
		return CreateAccount{}, "", fmt.Errorf("identity: a tenant account is a merchant user or a worker, of one tenant")
	}
	if err := CheckContact(email, phone); err != nil {
		return CreateAccount{}, "", errs.E(op, errs.Invalid, "%v", err)
	}
	idx, err := nameIndex(r, name)
	if err != nil {
		return CreateAccount{}, "", err
	}
	password := GeneratePassword()
	hash, err := k.Hash(password)
	if err != nil {
		return CreateAccount{}, "", err
	}
	acct := Account{ID: accountID(r, idx), Username: name, Roles: []string{role}, Clearance: 1, Password: hash, MustChange: true,
		Email: email, Phone: phone, Merchant: merchant, Worker: worker, Created: r.Now().UTC()}
	return CreateAccount{Account: acct, NameIndex: idx}, password, nil
}
