package api

import (
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"slices"
	"strings"

	"github.com/gorilla/mux"

	"cxt/appliance/errs"
	"cxt/appliance/identity"
	"cxt/appliance/notify"
	"cxt/appliance/tax"
	"cxt/crypto/sm"
	"cxt/policy"
	"cxt/storage/auditlog"
	"cxt/storage/state"
)

func muxVar(r *Request, name string) string { return mux.Vars(r.HTTP)[name] }

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

func jsonInto(b []byte, v any) error { return json.Unmarshal(b, v) }

// createAccount lets a security administrator open an account with a
// one-time password, returned once to the creator — except for an
// administrator, whose account waits for a second administrator's approval
// and whose one-time password goes to its owner's e-mail or phone only.
func (s *Server) createAccount(r *Request) (*Op, error) {
	const op = "create account"
	var in struct {
		Username  string   `json:"username"`
		Roles     []string `json:"roles"`
		Clearance int      `json:"clearance"`
		Email     string   `json:"email"`
		Phone     string   `json:"phone"`
	}
	if err := decodeJSON(r, &in); err != nil {
		return nil, err
	}
	name, err := identity.CheckUsername(in.Username)
	if err != nil {
		return nil, errs.E(op, errs.Invalid, "%v", err)
	}
	in.Username = name
	if err := identity.CheckRoles(in.Roles); err != nil {
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
	admin := adminRole(in.Roles) != ""
	var password string
	var hash identity.PasswordHash
	if !admin {
		password = identity.GeneratePassword()
		if hash, err = s.Hashing.Hash(password); err != nil {
			return nil, err
		}
	}
	if err := identity.CheckContact(in.Email, in.Phone); err != nil {
		return nil, errs.E(op, errs.Invalid, "%v", err)
	}
	acct := identity.Account{ID: accountID(r, idx), Username: in.Username, Roles: in.Roles, Clearance: in.Clearance,
		Password: hash, MustChange: true, Email: in.Email, Phone: in.Phone, Created: s.Now().UTC()}
	r.Audit.Object = acct.ID
	risks := []string{"the one-time password is shown once, in the answer to the confirm"}
	resp, secrets := map[string]any{"account": acct.Public(), "one_time_password": password}, []string{"one_time_password"}
	if admin {
		risks = []string{"the one-time password is drawn when a second administrator approves and is sent to the owner's own e-mail or phone; nobody else sees it"}
		resp, secrets = map[string]any{"account": acct.Public(), "one_time_password_sent_to": sentTo(in.Email, in.Phone)}, nil
	}
	if identity.IsStaff(in.Roles) {
		risks = append(risks, "a staff account: it can act on every merchant's data within its role")
	}
	return &Op{
		Impact: map[string]any{"username": in.Username, "roles": in.Roles, "clearance": in.Clearance,
			"email": identity.MaskEmail(in.Email), "phone": identity.MaskPhone(in.Phone)},
		Risks:   risks,
		Command: state.NewCommand(identity.CmdCreateAccount, mustJSON(identity.CreateAccount{Account: acct, NameIndex: idx}), s.Now()),
		Status:  201, Response: resp, Secrets: secrets,
	}, nil
}

// accountID derives a new account's ID from its creator, the
// Idempotency-Key and the username's blind index: the preview and the
// confirm name the same account, and so do their audit records.
func accountID(r *Request, nameIndex []byte) string {
	h := sm.Sum(append([]byte("cxt/account-id/v1\x00"+r.Subject.ID+"\x00"+r.HTTP.Header.Get("Idempotency-Key")+"\x00"), nameIndex...))
	return "acct-" + hex.EncodeToString(h[:8])
}

// sentTo names, masked, where a new administrator's password goes.
func sentTo(email, phone string) []string {
	var out []string
	if email != "" {
		out = append(out, identity.MaskEmail(email))
	}
	if phone != "" {
		out = append(out, identity.MaskPhone(phone))
	}
	return out
}

func (s *Server) unlockAccount(r *Request) (*Op, error) {
	id := muxVar(r, "id")
	r.Audit.Object = id
	var acct *identity.Account
	var attempts *identity.Attempts
	if err := r.View(func(tx *state.ReadTx) error {
		var err error
		if acct, err = identity.AccountByID(tx, id); err != nil || acct == nil {
			return err
		}
		key, err := r.Node.Keys().IndexKey()
		if err != nil {
			return err
		}
		attempts, err = identity.AttemptsFor(tx, identity.NameIndex(key, acct.Username))
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
	return &Op{
		Impact:  map[string]any{"account": acct.ID, "username": acct.Username, "locked": attempts.Locked(s.Now()), "recent_failures": len(attempts.Failures)},
		Risks:   []string{"if the failures were an attack, unlocking lets it continue"},
		Command: state.NewCommand(identity.CmdUnlock, mustJSON(identity.NameRef{NameIndex: idx}), s.Now()),
		Status:  200, Response: map[string]any{"unlocked": id},
	}, nil
}

// targetAccount reads the account a route names, or fails with not_found.
func targetAccount(r *Request, op, id string) (*identity.Account, error) {
	var acct *identity.Account
	if err := r.View(func(tx *state.ReadTx) error {
		var err error
		acct, err = identity.AccountByID(tx, id)
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
func (s *Server) setRoles(r *Request) (*Op, error) {
	const op = "set roles"
	id := muxVar(r, "id")
	r.Audit.Object = id
	var in struct {
		Roles []string `json:"roles"`
	}
	if err := decodeJSON(r, &in); err != nil {
		return nil, err
	}
	if err := identity.CheckRoles(in.Roles); err != nil {
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
	return &Op{
		Impact:  map[string]any{"account": acct.ID, "username": acct.Username, "roles_before": acct.Roles, "roles_after": in.Roles},
		Risks:   risks,
		Command: state.NewCommand(identity.CmdSetRoles, mustJSON(identity.SetRoles{Account: acct.ID, Roles: in.Roles}), s.Now()),
		Status:  200, Response: resp,
	}, nil
}

// grantsAdmin reports whether after holds an administrator role before
// does not.
func grantsAdmin(before, after []string) bool {
	for _, r := range after {
		if slices.Contains(identity.AdminRoles, r) && !slices.Contains(before, r) {
			return true
		}
	}
	return false
}

// closeAccount closes an account for good (security admin; important).
func (s *Server) closeAccount(r *Request) (*Op, error) {
	const op = "close account"
	id := muxVar(r, "id")
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
	return &Op{
		Impact:  map[string]any{"account": acct.ID, "username": acct.Username, "roles": acct.Roles},
		Risks:   []string{"the account can never log in again; its sessions end now; its records are kept"},
		Command: state.NewCommand(identity.CmdClose, mustJSON(identity.AccountRef{Account: acct.ID}), s.Now()),
		Status:  200, Response: map[string]any{"closed": acct.ID},
	}, nil
}

// endAccountSessions lets a security administrator end every session of an
// account.
func (s *Server) endAccountSessions(r *Request) (int, any, error) {
	id := muxVar(r, "id")
	r.Audit.Object = id
	var hashes []string
	if err := r.View(func(tx *state.ReadTx) error {
		m, err := identity.SessionsOf(tx, id)
		for h := range m {
			hashes = append(hashes, h)
		}
		return err
	}); err != nil {
		return 0, nil, err
	}
	for _, h := range hashes {
		if _, err := r.Propose(state.NewCommand(identity.CmdEndSession, mustJSON(identity.EndSession{TokenHash: []byte(h)}), s.Now())); err != nil {
			return 0, nil, err
		}
	}
	return 200, map[string]any{"account": id, "ended": len(hashes)}, nil
}

// unmaskAccount shows an account's e-mail and phone in full to a security
// administrator who gives a reason; the reason is in the audit record.
func (s *Server) unmaskAccount(r *Request) (*Op, error) {
	const op = "unmask"
	id := muxVar(r, "id")
	var in struct {
		Reason string `json:"reason"`
	}
	if err := decodeJSON(r, &in); err != nil {
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
	return &Op{
		Impact:  map[string]any{"account": acct.ID, "fields": []string{"email", "phone"}, "reason": in.Reason},
		Risks:   []string{"personal information will be shown in full; the access and its reason are audited"},
		Command: auditlog.RecordCommand(auditlog.Context{Event: "account.unmask"}, s.Now()),
		Status:  200, Response: map[string]any{"account": acct.ID, "email": acct.Email, "phone": acct.Phone},
		Secrets: []string{"email", "phone"}, // shown once: a replay withholds them
	}, nil
}

// exportAudit hands an audit administrator a page of the entries matching
// a query (the filters and cursor of GET /api/v1/audit) with the signed
// head of the log, as an important operation.
func (s *Server) exportAudit(r *Request) (*Op, error) {
	var in struct {
		auditQuery
		Reason string `json:"reason"`
	}
	if err := decodeJSON(r, &in); err != nil {
		return nil, err
	}
	if len(strings.TrimSpace(in.Reason)) < 5 {
		return nil, errs.E("export audit", errs.Invalid, "a reason of at least 5 characters is required")
	}
	search, err := in.check(r, "export audit", exportMaxLimit, exportMaxLimit)
	if err != nil {
		return nil, err
	}
	r.Audit.Reason = in.Reason
	page, head, err := search.run(r)
	if err != nil {
		return nil, err
	}
	at := s.Now().UTC()
	sig, cert, err := s.Sign(HeadMessage(head.Size, head.Root, at))
	if err != nil {
		return nil, err
	}
	resp := search.answer(page)
	resp["head"] = map[string]any{
		"size": head.Size, "root": head.Root, "time": at,
		"signature": base64.StdEncoding.EncodeToString(sig), "signer_certificate": string(cert),
	}
	if page.Truncated {
		resp["next"] = "more entries match: export again with the same filters, \"cursor\": next_cursor and a new Idempotency-Key"
	}
	return &Op{
		// The impact names the query, not the count: every request adds
		// entries, and the confirm must see the same preview.
		Impact:  map[string]any{"query": in, "limit": search.q.Limit},
		Risks:   []string{"the export leaves the appliance: keep it as confidential as the log"},
		Command: auditlog.RecordCommand(auditlog.Context{Event: "audit.export"}, s.Now()),
		Status:  200, Secrets: []string{"entries"}, // handed out once: a replay withholds them
		// The page, the cursor that continues it, and the signed head.
		Response: resp,
	}, nil
}

// rotateKey adds a key term: new values are sealed under it, old terms stay
// readable, nothing stops (system admin; important).
func (s *Server) rotateKey(r *Request) (*Op, error) {
	active := r.Node.Keys().Active()
	cmd, err := s.NewTerm(active+1, s.Now())
	if err != nil {
		return nil, err
	}
	r.Audit.Object = fmt.Sprintf("key term %d", active+1)
	return &Op{
		Impact:  map[string]any{"active_term": active, "new_term": active + 1},
		Risks:   []string{"new records are sealed under the new term at once; older terms stay readable until re-encrypted"},
		Command: cmd, Status: 200, Response: map[string]any{"active_term": active + 1},
	}, nil
}

func (s *Server) getPolicy(r *Request) (int, any, error) {
	b := s.Authz.Bundle()
	d := b.Digest()
	return 200, map[string]any{"version": b.Version, "sm3": hex.EncodeToString(d[:]), "modules": b.Modules, "data": b.Data}, nil
}

// setPolicy puts a new policy in force on every node (security admin;
// important). It must compile here first; every replica compiles it again
// and refuses it alike if it does not.
func (s *Server) setPolicy(r *Request) (*Op, error) {
	const op = "set policy"
	var b policy.Bundle
	if err := decodeJSON(r, &b); err != nil {
		return nil, err
	}
	if b.Version == "" || len(b.Modules) == 0 {
		return nil, errs.E(op, errs.Invalid, "a policy needs a version and at least one module")
	}
	// Before compiling: replicas compile it without a deadline.
	cmd, err := policy.SetCommand(&b, s.Now())
	if errors.Is(err, policy.ErrBundleTooLarge) {
		return nil, errs.Wrap(op, errs.TooLarge, err, "the policy exceeds %d bytes", policy.MaxBundleSize)
	} else if err != nil {
		return nil, err
	}
	candidate, err := policy.New(r.Ctx, &b)
	if err != nil {
		return nil, errs.E(op, errs.Invalid, "%v", err)
	}
	if err := s.keepsDuties(r, candidate, &b); err != nil {
		return nil, err
	}
	current := s.Authz
	diff, err := s.permissionDiff(r, current, candidate, &b)
	if err != nil {
		return nil, err
	}
	old, next := current.Bundle().Digest(), b.Digest()
	r.Audit.Object = "policy " + b.Version
	return &Op{
		Impact: map[string]any{"from_version": current.Version(), "to_version": b.Version,
			"from_sm3": hex.EncodeToString(old[:]), "to_sm3": hex.EncodeToString(next[:]), "permission_diff": diff,
			"text_diff": policyTextDiff(current.Bundle(), &b)},
		Risks: []string{"every authorization decision on every node changes at once; a mistake can lock administrators out",
			"the permission diff enumerates accounts, actions, labels and second factors only: a rule keyed on anything else (the resource acted on, a request detail) shows in text_diff alone — read it"},
		Command: cmd, Status: 200, Response: map[string]any{"version": b.Version, "sm3": hex.EncodeToString(next[:])},
		Advise: func() (map[string]any, error) { return s.replayDecisions(r, current, candidate) },
	}, nil
}

func (s *Server) notifications(r *Request) (int, any, error) {
	var list []notify.Notification
	err := r.View(func(tx *state.ReadTx) error {
		var err error
		list, err = notify.ForAccount(tx, r.Subject.ID, 100)
		return err
	})
	for i := range list { // addresses are shown masked
		for ch, d := range list[i].Deliveries {
			if ch == notify.Email {
				d.To = identity.MaskEmail(d.To)
			} else if ch == notify.SMS {
				d.To = identity.MaskPhone(d.To)
			}
			list[i].Deliveries[ch] = d
		}
	}
	return 200, map[string]any{"notifications": list}, err
}

// searchAudit reads one page of the audit log, newest first unless
// order=asc, with the cursor that continues it when it is truncated.
func (s *Server) searchAudit(r *Request) (int, any, error) {
	in, err := auditQueryFrom(r.HTTP.URL.Query())
	if err != nil {
		return 0, nil, err
	}
	search, err := in.check(r, "search audit", searchLimit, searchMaxLimit)
	if err != nil {
		return 0, nil, err
	}
	page, head, err := search.run(r)
	if err != nil {
		return 0, nil, err
	}
	out := search.answer(page)
	out["size"], out["root"] = head.Size, head.Root
	return 200, out, nil
}

func (s *Server) taxQuote(r *Request) (int, any, error) {
	if mt, _, err := mime.ParseMediaType(r.HTTP.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		return 0, nil, errs.E("tax quote", errs.Unsupported, "send the body as Content-Type: application/json")
	}
	req, err := tax.DecodeRequest(r.HTTP.Body)
	if err == nil {
		var q *tax.Quote
		if q, err = s.Tax.Quote(req, s.Now()); err == nil {
			return 200, q, nil
		}
	}
	return 0, nil, &errs.Error{Op: "tax quote", Kind: errs.Invalid, Code: "invalid_request", Msg: err.Error(), Err: err}
}
