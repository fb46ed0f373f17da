package sm

import (
	"crypto/hmac"
	"hash"

	"github.com/emmansun/gmsm/sm3"
)

// HashSize is the size of an SM3 digest in bytes.
const HashSize = sm3.Size

// Sum returns the SM3 digest of data.
func Sum(data []byte) [HashSize]byte { return sm3.Sum(data) }

// NewHash returns a streaming SM3 hash.
func NewHash() hash.Hash { return sm3.New() }

// NewHMAC returns a streaming HMAC-SM3 keyed with key.
func NewHMAC(key []byte) hash.Hash { return hmac.New(sm3.New, key) }

// HMAC returns HMAC-SM3(key, parts[0] || parts[1] || ...).
func HMAC(key []byte, parts ...[]byte) [HashSize]byte {
	m := NewHMAC(key)
	for _, p := range parts {
		m.Write(p)
	}
	var out [HashSize]byte
	m.Sum(out[:0])
	return out
}

// Equal reports whether a and b are equal without leaking where they differ.
func Equal(a, b []byte) bool { return hmac.Equal(a, b) }

// DeriveKey derives a key of n bytes for purpose from secret with HMAC-SM3 in
// counter mode (NIST SP 800-108), so that one secret yields independent keys
// for independent uses.
func DeriveKey(secret []byte, purpose string, n int) []byte {
	out := make([]byte, 0, n+HashSize)
	for i := uint32(1); len(out) < n; i++ {
		m := NewHMAC(secret)
		m.Write([]byte{byte(i >> 24), byte(i >> 16), byte(i >> 8), byte(i)})
		m.Write([]byte(purpose))
		m.Write([]byte{0, byte(n >> 8), byte(n)})
		out = m.Sum(out)
	}
	return out[:n]
}
