package sm

import (
	"crypto/pbkdf2"
	"errors"

	"github.com/emmansun/gmsm/sm3"
)

// PasswordIterations is the PBKDF2-HMAC-SM3 work factor of new password
// hashes, and the floor below which none is stored: OWASP's 600,000 for a
// SHA-256-class hash, which SM3 is. The count is stored beside each hash, so
// that older hashes still verify and are re-derived at their next login.
const PasswordIterations = 600_000

// MaxPasswordIterations bounds the work one stored hash may ask of a login.
const MaxPasswordIterations = 10_000_000

// DerivePassword stretches password with PBKDF2-HMAC-SM3 into a 32-byte key.
func DerivePassword(password string, salt []byte, iterations int) ([]byte, error) {
	if iterations < 1 || iterations > MaxPasswordIterations {
		return nil, errors.New("sm: password iterations must be between 1 and 10,000,000")
	}
	if len(salt) < 16 {
		return nil, errors.New("sm: password salt must be at least 16 bytes")
	}
	return pbkdf2.Key(sm3.New, password, salt, iterations, 32)
}
