package api

import (
	"cxt/appliance/errs"
	"cxt/appliance/identity"
	"cxt/storage/state"
)

// resetFactors removes another account's second factors when its owner lost
// them (security admin; important): every session of the account ends and
// its next login enrolls a new factor. The owner is told.
func (s *Server) resetFactors(r *Request) (*Op, error) {
	const op = "reset factors"
	id := muxVar(r, "id")
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
	return &Op{
		Impact: map[string]any{"account": acct.ID, "username": acct.Username, "totp": acct.TOTPSecret != "", "sm2": acct.SM2Key != ""},
		Risks: []string{"whoever holds the account's password can enroll a new factor at the next login",
			"every session of the account ends; its owner is notified"},
		Command: state.NewCommand(identity.CmdResetFactors, mustJSON(identity.AccountRef{Account: acct.ID}), s.Now()),
		Status:  200, Response: map[string]any{"account": acct.ID, "factors_reset": true},
	}, nil
}
