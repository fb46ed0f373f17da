package identity

import (
	"crypto/subtle"
	"encoding/json"
	"slices"
	"time"

	"cxt/storage/auditlog"
	"cxt/storage/state"
)

// Every check of a secret — a login's password and second factor, a
// step-up code, the current password or factor before a change — is
// admitted by the state machine before the secret is looked at, and settled
// after. Admission is one replicated command, so racing requests are
// counted one after another: an attempt admitted but not yet settled
// already counts as a failure, a locked username is refused before its
// password is checked (so no answer tells a right password from a wrong
// one), and a captcha is consumed in the same command that admits a login
// past the threshold.

// Attempts are the recent failed and pending checks of one username, kept
// whether or not the username exists, so that answers do not tell the two
// apart.
type Attempts struct {
	Failures    []time.Time `json:"failures"`
	Pending     []Pending   `json:"pending,omitempty"` // admitted, not yet settled
	LockedUntil time.Time   `json:"locked_until"`
	// Window is the failure window in force when the record was written,
	// so that the sweep knows when it stops counting.
	Window time.Duration `json:"window,omitempty"`
}

// Pending is an admitted attempt awaiting its outcome. An attempt that never
// settles (its node crashed) counts as a failure until the window passes.
type Pending struct {
	ID string    `json:"id"`
	At time.Time `json:"at"`
}

// Recent counts the failures inside the window before now.
func (a *Attempts) Recent(p Policy, now time.Time) int {
	n := 0
	for _, f := range a.Failures {
		if now.Sub(f) < p.FailureWindow {
			n++
		}
	}
	return n
}

// Locked reports whether the username is locked at now.
func (a *Attempts) Locked(now time.Time) bool { return now.Before(a.LockedUntil) }

// counted is how many attempts count against the limits at now: failures
// and pending attempts inside the window.
func (a *Attempts) counted() int { return len(a.Failures) + len(a.Pending) }

// prune forgets what the window no longer counts.
func (a *Attempts) prune(p Policy, now time.Time) {
	a.Failures = slices.DeleteFunc(a.Failures, func(f time.Time) bool { return now.Sub(f) >= p.FailureWindow })
	a.Pending = slices.DeleteFunc(a.Pending, func(x Pending) bool { return now.Sub(x.At) >= p.FailureWindow })
}

// expired reports whether the record holds nothing that counts any more.
func (a *Attempts) expired(p Policy, now time.Time) bool {
	a.prune(p, now)
	return len(a.Failures) == 0 && len(a.Pending) == 0 && !a.Locked(now)
}

// Purposes of an admission.
const (
	// PurposeLogin needs a captcha past the captcha threshold.
	PurposeLogin = "login"
	// PurposeReauth (a step-up, the current password or factor before a
	// change) comes from a signed-in session: no captcha, the same lock.
	PurposeReauth = "reauth"
)

// Refusals of an admission, which are also API error codes.
const (
	RefusedLocked  = "account_locked"
	RefusedCaptcha = "captcha_required"
)

// MaxSessionFailures is how many wrong step-up codes or current passwords
// one session may send before it ends.
const MaxSessionFailures = 3

type (
	// Admit asks to check a secret of the username NameIndex. It is refused
	// while the username is locked, while its failures and pending attempts
	// reach the lock limit, and — for a login past the captcha threshold —
	// unless Captcha is a right answer (the captcha is used up either way).
	Admit struct {
		AttemptRef
		Purpose string       `json:"purpose"`
		Policy  Policy       `json:"policy"`
		Captcha *TakeCaptcha `json:"captcha,omitempty"`
	}
	// AttemptRef names an admitted attempt.
	AttemptRef struct {
		NameIndex []byte `json:"name_index"`
		Attempt   string `json:"attempt"`
	}
	// Admission is the answer to Admit.
	Admission struct {
		Admitted bool   `json:"admitted"`
		Refused  string `json:"refused,omitempty"` // RefusedLocked or RefusedCaptcha
	}
	// Settle ends an admitted attempt that did not succeed. A failure
	// counts toward the lock (and ends Session after MaxSessionFailures); a
	// release (a login that still needs its second factor) does not.
	Settle struct {
		AttemptRef
		Failed  bool   `json:"failed"`
		Policy  Policy `json:"policy"`
		Session []byte `json:"session,omitempty"` // the re-authenticating session's token hash
	}
)

func attemptsOf(tx *state.Tx, nameIndex []byte) (*Attempts, error) {
	a, err := get[Attempts](tx, AttemptsBucket, nameIndex)
	if a == nil && err == nil {
		a = &Attempts{}
	}
	return a, err
}

func admit(tx *state.Tx, cmd *state.Command) ([]byte, error) {
	c, err := body[Admit](cmd)
	if err != nil {
		return nil, err
	}
	if c.Attempt == "" || len(c.NameIndex) == 0 || c.Policy.MaxFailures < 1 {
		return nil, state.Reject(state.InvalidRequest, "login.admit: attempt, name index and policy are required")
	}
	now := tx.Time()
	a, err := attemptsOf(tx, c.NameIndex)
	if err != nil {
		return nil, err
	}
	a.prune(c.Policy, now)
	a.Window = c.Policy.FailureWindow
	// A refusal that changes nothing is a rejection, so that its audit
	// record names it; one that used up a captcha must keep that change and
	// is an answer.
	var out Admission
	switch {
	case a.Locked(now) || a.counted() >= c.Policy.MaxFailures:
		return nil, state.Reject(codeAccountLocked, "the account is locked after repeated failures")
	case c.Purpose == PurposeLogin && a.counted() > c.Policy.CaptchaAfter:
		if c.Captcha == nil {
			return nil, state.Reject(codeCaptchaRequired, "a captcha is required")
		} else if ok, err := consumeCaptcha(tx, c.Captcha); err != nil {
			return nil, err
		} else if !ok {
			out.Refused = RefusedCaptcha
		}
	}
	if out.Refused == "" {
		out.Admitted = true
		a.Pending = append(a.Pending, Pending{ID: c.Attempt, At: now})
		if err := put(tx, AttemptsBucket, c.NameIndex, a); err != nil {
			return nil, err
		}
	}
	return json.Marshal(out)
}

func settle(tx *state.Tx, cmd *state.Command) ([]byte, error) {
	c, err := body[Settle](cmd)
	if err != nil {
		return nil, err
	}
	a, err := settleAttempt(tx, c.AttemptRef, c.Policy, c.Failed)
	if err != nil {
		return nil, err
	}
	if c.Failed && c.Session != nil {
		if err := sessionFailed(tx, c.Session); err != nil {
			return nil, err
		}
	}
	return json.Marshal(a)
}

// settleAttempt removes an attempt from the pending ones and, if it failed,
// records the failure; the failure that reaches the limit locks the
// username and ends its account's sessions.
func settleAttempt(tx *state.Tx, ref AttemptRef, p Policy, failed bool) (*Attempts, error) {
	now := tx.Time()
	a, err := attemptsOf(tx, ref.NameIndex)
	if err != nil {
		return nil, err
	}
	a.prune(p, now)
	a.Window = p.FailureWindow
	a.Pending = slices.DeleteFunc(a.Pending, func(x Pending) bool { return x.ID == ref.Attempt })
	if failed {
		a.Failures = append(a.Failures, now)
		if !a.Locked(now) && len(a.Failures) >= p.MaxFailures {
			a.LockedUntil = now.Add(p.LockFor)
			if err := locked(tx, ref.NameIndex, a.LockedUntil); err != nil {
				return nil, err
			}
		}
	}
	if len(a.Failures) == 0 && len(a.Pending) == 0 && !a.Locked(now) {
		return a, tx.Delete(AttemptsBucket, ref.NameIndex)
	}
	return a, put(tx, AttemptsBucket, ref.NameIndex, a)
}

// locked ends the sessions of a username's account, records the lock in
// the audit log and tells the owner.
func locked(tx *state.Tx, nameIndex []byte, until time.Time) error {
	id, err := tx.Get(NamesBucket, nameIndex)
	if err != nil || id == nil {
		return err
	}
	if err := endAllSessions(tx, string(id), nil); err != nil {
		return err
	}
	if _, err := auditlog.Append(tx, auditlog.Entry{
		Time: tx.Time(), Type: "account.locked", Subject: "system", Object: string(id), Result: "ok", Index: tx.Index(),
	}); err != nil {
		return err
	}
	return Notify(tx, string(id), "account.locked", "账户已锁定 / Account locked",
		"Your account was locked after repeated failed sign-ins or re-authentications until "+until.Format(time.RFC3339)+".")
}

// sessionFailed counts a wrong secret sent by a signed-in session and ends
// the session at MaxSessionFailures.
func sessionFailed(tx *state.Tx, tokenHash []byte) error {
	s, err := get[Session](tx, SessionsBucket, tokenHash)
	if err != nil || s == nil {
		return err
	}
	s.Failures++
	if s.Failures >= MaxSessionFailures {
		return removeSession(tx, tokenHash, s.Account)
	}
	return put(tx, SessionsBucket, tokenHash, s)
}

// CaptchaDigits is the length of every captcha answer.
const CaptchaDigits = 6

// consumeCaptcha uses up a captcha and reports whether the answer is right
// and in time. Only a record of the captcha kind answers: other records
// never match, whatever the answer.
func consumeCaptcha(tx *state.Tx, c *TakeCaptcha) (bool, error) {
	if len(c.ID) == 0 {
		return false, nil
	}
	stored, err := get[Captcha](tx, CaptchasBucket, []byte(c.ID))
	if err != nil || stored == nil {
		return false, err
	}
	if err := tx.Delete(CaptchasBucket, []byte(c.ID)); err != nil {
		return false, err
	}
	ok := stored.Kind == KindCaptcha && len(stored.Digits) == CaptchaDigits && len(c.Answer) == CaptchaDigits &&
		subtle.ConstantTimeCompare(stored.Digits, c.Answer) == 1 && !tx.Time().After(stored.Expires)
	return ok, nil
}

// release settles an admitted attempt that succeeded: it no longer counts.
func release(tx *state.Tx, ref *AttemptRef) error {
	if ref == nil {
		return nil
	}
	a, err := get[Attempts](tx, AttemptsBucket, ref.NameIndex)
	if err != nil || a == nil {
		return err
	}
	p := DefaultPolicy
	if a.Window > 0 {
		p.FailureWindow = a.Window
	}
	_, err = settleAttempt(tx, *ref, p, false)
	return err
}

// useProof settles the proof a factor change was admitted with, and uses
// up the TOTP step it showed. A factor change with a factor in force and no
// proof is refused here too, whoever proposes it.
func useProof(tx *state.Tx, acct *Account, p *FactorUsed) error {
	if p == nil {
		if acct.TOTPSecret != "" || acct.SM2Key != "" {
			return state.Reject(codeInvalidCredentials, "replacing a second factor needs the password and the current factor")
		}
		return nil
	}
	if p.Step != 0 {
		if err := useStep(tx, acct.ID, p.Step); err != nil {
			return err
		}
		// useStep saved the account; carry its step into the copy the caller saves.
		acct.TOTPStep = p.Step
	}
	return release(tx, &p.Release)
}
