package sm

import (
	"crypto/pbkdf2"
	"errors"

	"github.com/emmansun/gmsm/sm3"
)

// PasswordIterations is the PBKDF2-HMAC-SM3 work factor for new password
// hashes. It is stored beside each hash so that it can be raised later.
const PasswordIterations = 210_000

// DerivePassword stretches password with PBKDF2-HMAC-SM3 into a 32-byte key.
func DerivePassword(password string, salt []byte, iterations int) ([]byte, error) {
	if iterations < 1 {
		return nil, errors.New("sm: password iterations must be positive")
	}
	if len(salt) < 16 {
		return nil, errors.New("sm: password salt must be at least 16 bytes")
	}
	return pbkdf2.Key(sm3.New, password, salt, iterations, 32)
}
