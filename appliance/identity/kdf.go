package identity

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"testing"

	"cxt/crypto/sm"
	"cxt/storage/state"
)

// Hashing says how new password hashes are made and the floor the state
// machine holds them to. The zero value is production's: sm.PasswordIterations
// for both.
type Hashing struct {
	// Iterations of PBKDF2-HMAC-SM3 for new hashes (0: sm.PasswordIterations).
	// A higher count raises new hashes and keeps the floor. A lower one is
	// honoured only in test binaries (testing.Testing), where it lowers the
	// floor too, so that suites which hash many passwords stay fast; a
	// production binary refuses it (Check), so nothing can inherit it.
	Iterations int
}

// Check refuses a count below the floor outside a test binary.
func (k Hashing) Check() error {
	if k.Iterations < 0 || k.Iterations > sm.MaxPasswordIterations {
		return fmt.Errorf("identity: %d password iterations is out of range", k.Iterations)
	}
	if k.Iterations != 0 && k.Iterations < sm.PasswordIterations && !testing.Testing() {
		return fmt.Errorf("identity: %d password iterations is below the floor of %d (only tests may go lower)", k.Iterations, sm.PasswordIterations)
	}
	return nil
}

func (k Hashing) count() int {
	if k.Iterations == 0 {
		return sm.PasswordIterations
	}
	return k.Iterations
}

func (k Hashing) floor() int {
	if k.Check() == nil && k.Iterations != 0 && k.Iterations < sm.PasswordIterations {
		return k.Iterations // a test binary's explicit low count
	}
	return sm.PasswordIterations
}

// Hash derives a new hash of pw with a fresh salt.
func (k Hashing) Hash(pw string) (PasswordHash, error) {
	if err := k.Check(); err != nil {
		return PasswordHash{}, err
	}
	return hashPassword(pw, k.count())
}

// Outdated reports whether h has fewer iterations than new hashes get: a
// login that verifies it re-derives it.
func (k Hashing) Outdated(h PasswordHash) bool { return h.Iter < k.count() }

// hashPassword has no floor: Hashing.Hash and HashPassword hold to it, and
// only this package's tests call it directly, with an explicit count.
func hashPassword(pw string, iterations int) (PasswordHash, error) {
	salt := make([]byte, 16)
	if _, err := rand.Read(salt); err != nil {
		return PasswordHash{}, err
	}
	key, err := sm.DerivePassword(pw, salt, iterations)
	if err != nil {
		return PasswordHash{}, err
	}
	return PasswordHash{Alg: "pbkdf2-hmac-sm3", Iter: iterations, Salt: salt, Key: key}, nil
}

// checkNew refuses to store a hash that is malformed or weaker than the
// floor; hashes stored before the floor rose keep verifying until their
// next login re-derives them.
func (k Hashing) checkNew(h PasswordHash) error {
	switch {
	case h.Alg != "pbkdf2-hmac-sm3" || len(h.Salt) < 16 || len(h.Key) != 32:
		return state.Reject(state.InvalidRequest, "the password hash is not a PBKDF2-HMAC-SM3 hash with a 16-byte salt")
	case h.Iter < k.floor() || h.Iter > sm.MaxPasswordIterations:
		return state.Reject(state.InvalidRequest, "a new password hash needs %d to %d iterations, not %d", k.floor(), sm.MaxPasswordIterations, h.Iter)
	}
	return nil
}

// guard wraps the handler of a command that stores a new password hash
// (an account created with one, a password set, a role change that reissues
// one, a break-glass reset, a login that re-derives one): the
// hash is checked against the floor before the handler runs, however the
// command arrives (on its own, or run by an important operation).
func (k Hashing) guard(h state.Handler) state.Handler {
	return func(tx *state.Tx, cmd *state.Command) ([]byte, error) {
		for _, x := range newHashes(cmd) {
			if err := k.checkNew(x); err != nil {
				return nil, err
			}
		}
		return h(tx, cmd)
	}
}

// newHashes returns the password hashes a command would store; a body that
// does not decode is left to its handler to refuse.
func newHashes(cmd *state.Command) []PasswordHash {
	var out []PasswordHash
	switch cmd.Type {
	case CmdCreateAccount:
		var c CreateAccount
		if json.Unmarshal(cmd.Body, &c) == nil && c.Account.Password.Alg != "" { // an administrator's comes with the approval
			out = append(out, c.Account.Password)
		}
	case CmdSetPassword:
		var c SetPassword
		if json.Unmarshal(cmd.Body, &c) == nil {
			out = append(out, c.Hash)
		}
	case CmdSetRoles:
		var c SetRoles
		if json.Unmarshal(cmd.Body, &c) == nil && c.Reissue != nil {
			out = append(out, *c.Reissue)
		}
	case CmdBreakGlass:
		var c BreakGlass
		if json.Unmarshal(cmd.Body, &c) == nil {
			out = append(out, c.Hash)
		}
	case CmdLoginOK, CmdLoginOKSMS:
		var c LoginOK
		if json.Unmarshal(cmd.Body, &c) == nil && c.Rehash != nil {
			out = append(out, *c.Rehash)
		}
	}
	return out
}

// upgradeHash applies a login's re-derived hash: only if the account's hash
// is still the one the login verified (by its salt) and the new one has more
// iterations; a password changed in between keeps its own hash.
func upgradeHash(acct *Account, c LoginOK) bool {
	if c.Rehash == nil || !bytes.Equal(acct.Password.Salt, c.RehashOf) || c.Rehash.Iter <= acct.Password.Iter {
		return false
	}
	acct.Password = *c.Rehash
	return true
}
