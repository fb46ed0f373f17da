package keyring

import (
	"crypto/cipher"
	"crypto/rand"
	"errors"
	"fmt"
	"runtime"

	"cxt/crypto/secmem"
	"cxt/crypto/shamir"
	"cxt/crypto/sm"
)

// MasterKey wraps term secrets and node secrets. It exists only in memory of
// an unsealed node, in locked memory (crypto/secmem); on disk it is either a
// 0600 key file (embedded default) or Shamir shares held by people.
type MasterKey struct {
	b       []byte // SecretSize bytes from secmem; nil once zeroed
	cleanup runtime.Cleanup
}

// ErrWrongMasterKey is returned when a key or a set of shares does not match
// the verifier stored at init.
var ErrWrongMasterKey = errors.New("keyring: master key does not match this data folder")

// errZeroed is returned by a master key used after Zero.
var errZeroed = errors.New("keyring: the master key was zeroed")

func newMaster() *MasterKey {
	m := &MasterKey{b: secmem.Alloc(SecretSize)}
	// A key nobody zeroed still gives its locked slot back, cleared.
	m.cleanup = runtime.AddCleanup(m, secmem.Free, m.b)
	return m
}

// NewMasterKey returns a fresh random master key.
func NewMasterKey() *MasterKey {
	m := newMaster()
	if _, err := rand.Read(m.b); err != nil {
		panic(err)
	}
	return m
}

// MasterKeyFromBytes takes a copy of a 32-byte key; the caller clears b.
func MasterKeyFromBytes(b []byte) (*MasterKey, error) {
	if len(b) != SecretSize {
		return nil, fmt.Errorf("keyring: master key is %d bytes, want %d", len(b), SecretSize)
	}
	m := newMaster()
	copy(m.b, b)
	return m, nil
}

// MasterKeyFromShares rebuilds the key from threshold shares. It clears the
// shares, right or wrong: they are the key in pieces.
func MasterKeyFromShares(shares [][]byte) (*MasterKey, error) {
	defer func() {
		for _, s := range shares {
			clear(s)
		}
	}()
	b, err := shamir.Combine(shares)
	if err != nil {
		return nil, err
	}
	defer clear(b)
	return MasterKeyFromBytes(b)
}

// Bytes returns a copy of the key, for writing the embedded key file; the
// caller clears it.
func (m *MasterKey) Bytes() []byte { return append([]byte(nil), m.b...) }

// Split divides the key into n Shamir shares with threshold k.
func (m *MasterKey) Split(n, k int) ([][]byte, error) {
	if m.b == nil {
		return nil, errZeroed
	}
	return shamir.Split(m.b, n, k)
}

// Verifier returns a value stored beside the data that tells whether a key
// offered at unseal is the right one, without revealing the key.
func (m *MasterKey) Verifier() []byte {
	v := sm.HMAC(m.b, []byte("cxt/master-key-verifier/v1"))
	return v[:]
}

// Check compares m with a stored verifier in constant time.
func (m *MasterKey) Check(verifier []byte) error {
	if m.b == nil || !sm.Equal(m.Verifier(), verifier) {
		return ErrWrongMasterKey
	}
	return nil
}

// wrapAEAD is the cipher that wraps secrets; the derived key is cleared as
// soon as the cipher holds its own schedule.
func (m *MasterKey) wrapAEAD() (cipher.AEAD, error) {
	if m.b == nil {
		return nil, errZeroed
	}
	k := sm.DeriveKey(m.b, "cxt/master-wrap", sm.KeySize)
	defer clear(k)
	return sm.NewAEAD(k)
}

// Wrap seals secret under a key derived from m, bound to what (a name such as
// "term/3" or "node-key").
func (m *MasterKey) Wrap(what string, secret []byte) ([]byte, error) {
	a, err := m.wrapAEAD()
	if err != nil {
		return nil, err
	}
	nonce := make([]byte, sm.NonceSize, sm.NonceSize+len(secret)+sm.TagSize)
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	return a.Seal(nonce, nonce, secret, []byte("cxt/wrapped/"+what)), nil
}

// Unwrap opens what Wrap sealed for the same name. The caller clears the
// secret it returns.
func (m *MasterKey) Unwrap(what string, wrapped []byte) ([]byte, error) {
	a, err := m.wrapAEAD()
	if err != nil {
		return nil, err
	}
	if len(wrapped) < sm.NonceSize+sm.TagSize {
		return nil, ErrCorrupt
	}
	pt, err := a.Open(nil, wrapped[:sm.NonceSize], wrapped[sm.NonceSize:], []byte("cxt/wrapped/"+what))
	if err != nil {
		return nil, fmt.Errorf("unwrap %s: %w", what, ErrWrongMasterKey)
	}
	return pt, nil
}

// Rewrap opens what m wrapped and wraps it again under to, for a rekey; the
// plaintext is cleared in between.
func (m *MasterKey) Rewrap(to *MasterKey, what string, wrapped []byte) ([]byte, error) {
	secret, err := m.Unwrap(what, wrapped)
	if err != nil {
		return nil, err
	}
	defer clear(secret)
	return to.Wrap(what, secret)
}

// ProofKey derives the key with which a joining node proves that it holds the
// cluster's master key, without sending it.
func (m *MasterKey) ProofKey() []byte { return sm.DeriveKey(m.b, "cxt/join-proof", sm.HashSize) }

// Zero overwrites the key and gives its locked memory back; the key refuses
// all work afterwards. Zeroing twice is harmless.
func (m *MasterKey) Zero() {
	if m.b == nil {
		return
	}
	m.cleanup.Stop()
	secmem.Free(m.b)
	m.b = nil
}
