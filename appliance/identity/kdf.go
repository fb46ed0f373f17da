package identity

import (
	"bytes"
	"crypto/rand"
	"fmt"

	"cxt/crypto/sm"
	"cxt/storage/state"
)

// HashPasswordAt derives a new hash at iterations (0: sm.PasswordIterations);
// a count below sm.PasswordIterations is refused, as the state machine would
// refuse to store it.
func HashPasswordAt(pw string, iterations int) (PasswordHash, error) {
	if iterations == 0 {
		iterations = sm.PasswordIterations
	}
	if iterations < sm.PasswordIterations {
		return PasswordHash{}, fmt.Errorf("identity: %d password iterations is below the floor of %d", iterations, sm.PasswordIterations)
	}
	return hashPassword(pw, iterations)
}

// hashPassword has no floor: only this package's tests go below it, through
// this explicit count, never through anything production could inherit.
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

// checkNewHash refuses to store a hash that is malformed or weaker than
// sm.PasswordIterations; hashes stored before the floor rose keep verifying
// until their next login re-derives them.
func checkNewHash(h PasswordHash) error {
	switch {
	case h.Alg != "pbkdf2-hmac-sm3" || len(h.Salt) < 16 || len(h.Key) != 32:
		return state.Reject("invalid_request", "the password hash is not a PBKDF2-HMAC-SM3 hash with a 16-byte salt")
	case h.Iter < sm.PasswordIterations || h.Iter > sm.MaxPasswordIterations:
		return state.Reject("invalid_request", "a new password hash needs %d to %d iterations, not %d", sm.PasswordIterations, sm.MaxPasswordIterations, h.Iter)
	}
	return nil
}

// Outdated reports whether h was derived with fewer iterations than want
// (0: sm.PasswordIterations): a login that verifies it re-derives it.
func (h PasswordHash) Outdated(want int) bool {
	if want == 0 {
		want = sm.PasswordIterations
	}
	return h.Iter < want
}

// upgradeHash applies a login's re-derived hash: only if the account's hash
// is still the one the login verified (by its salt) and the new one is
// stronger; a password changed in between keeps its own hash.
func upgradeHash(acct *Account, c LoginOK) (bool, error) {
	if c.Rehash == nil {
		return false, nil
	}
	if err := checkNewHash(*c.Rehash); err != nil {
		return false, err
	}
	if !bytes.Equal(acct.Password.Salt, c.RehashOf) || c.Rehash.Iter <= acct.Password.Iter {
		return false, nil
	}
	acct.Password = *c.Rehash
	return true, nil
}
