package identity

import (
	"cxt/appliance/api"
	"cxt/appliance/errs"
	"cxt/storage/state"
)

// TOTPUsed is the caller's authenticator code checked for another
// package's purpose (signing a contract, package agreements): the 30-second
// step it showed, which no later code may reuse, and the admitted check to
// release once the code is used.
type TOTPUsed struct {
	Step    int64      `json:"step"`
	Release AttemptRef `json:"release"`
}

// CheckTOTP checks a current code of the caller's authenticator as a
// step-up is checked: admitted first, and a wrong code counts toward the
// account's lock and ends the session after MaxSessionFailures. The step is
// used up by UseTOTP, inside the command that consumes the code.
func (b *Backend) CheckTOTP(r *api.Request, code string) (*TOTPUsed, error) {
	acct, err := callerAccount(r)
	if err != nil {
		return nil, err
	}
	if acct.TOTPSecret == "" {
		return nil, errs.Coded("check TOTP", errs.Unauthenticated, "invalid_credentials", "the account has no authenticator: use an SMS code")
	}
	var step int64
	ref, err := b.reauth(r, acct, func() bool {
		var ok bool
		step, ok = MatchTOTP(acct.TOTPSecret, code, r.Now())
		return ok
	})
	if err != nil {
		return nil, err
	}
	return &TOTPUsed{Step: step, Release: *ref}, nil
}

// ReleaseTOTP settles a checked code that will not be used (the signing was
// refused before its code was consumed): the right code does not count as a
// failure.
func (b *Backend) ReleaseTOTP(r *api.Request, u *TOTPUsed) error {
	_, err := b.settle(r, Settle{AttemptRef: u.Release, Policy: b.Policy})
	r.RecordAgain() // the request's refusal gets a record of its own
	return err
}

// UseTOTP uses up a checked code inside another package's command: a step
// at or before the account's last is a replay (invalid_credentials), and the
// admitted check is released.
func UseTOTP(tx *state.Tx, account string, u TOTPUsed) error {
	if err := useStep(tx, account, u.Step); err != nil {
		return err
	}
	return release(tx, &u.Release)
}
