package identity

import (
	"bytes"
	"time"

	"cxt/storage/state"
)

// registerExpiry tells the replicated sweep how each short-lived identity
// record ends (see state.CmdSweep).
func registerExpiry(reg *state.Registry) {
	reg.Expire(CaptchasBucket, func(tx *state.Tx, k, v []byte, now time.Time) (bool, error) {
		c, err := decode[Captcha](v)
		if err != nil || !now.After(c.Expires) {
			return false, err
		}
		return true, tx.Delete(CaptchasBucket, k)
	})
	reg.Expire(ChallengesBucket, func(tx *state.Tx, k, v []byte, now time.Time) (bool, error) {
		c, err := decode[Challenge](v)
		if err != nil || !now.After(c.Expires) {
			return false, err
		}
		return true, tx.Delete(ChallengesBucket, k)
	})
	reg.Expire(AttemptsBucket, func(tx *state.Tx, k, v []byte, now time.Time) (bool, error) {
		a, err := decode[Attempts](v)
		if err != nil {
			return false, err
		}
		p := DefaultPolicy
		if a.Window > 0 {
			p.FailureWindow = a.Window
		}
		if !a.expired(p, now) {
			return false, nil
		}
		return true, tx.Delete(AttemptsBucket, k)
	})
	reg.Expire(SessionsBucket, func(tx *state.Tx, k, v []byte, now time.Time) (bool, error) {
		if bytes.HasPrefix(k, []byte("by-account/")) { // lists shrink as their sessions go
			return false, nil
		}
		s, err := decode[Session](v)
		if err != nil || !s.Ended(now) {
			return false, err
		}
		return true, removeSession(tx, k, s.Account)
	})
}
