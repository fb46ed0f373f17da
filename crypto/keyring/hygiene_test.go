package keyring

import (
	"bytes"
	"errors"
	"testing"
)

func TestUnsealSharesAreClearedOnceCombined(t *testing.T) {
	m := NewMasterKey()
	shares, err := m.Split(3, 2)
	if err != nil {
		t.Fatal(err)
	}
	given := [][]byte{shares[0], shares[2]}
	back, err := MasterKeyFromShares(given)
	if err != nil || back.Check(m.Verifier()) != nil {
		t.Fatalf("the shares did not rebuild the key: %v", err)
	}
	for i, s := range given {
		if !bytes.Equal(s, make([]byte, len(s))) {
			t.Errorf("share %d still holds its bytes after combining", i)
		}
	}
	// Wrong shares are cleared too: they are pieces of some key.
	bad := [][]byte{shares[1], append([]byte(nil), shares[1]...)}
	if _, err := MasterKeyFromShares(bad); err == nil {
		t.Fatal("a duplicated share was accepted")
	}
	if !bytes.Equal(bad[0], make([]byte, len(bad[0]))) {
		t.Error("a refused share was not cleared")
	}
}

func TestAZeroedMasterKeyRefusesWork(t *testing.T) {
	m := NewMasterKey()
	v := m.Verifier()
	m.Zero()
	m.Zero() // twice is harmless
	if _, err := m.Wrap("node-key", []byte("x")); err == nil {
		t.Error("a zeroed master key still wraps (under an all-zero key)")
	}
	if err := m.Check(v); !errors.Is(err, ErrWrongMasterKey) {
		t.Errorf("a zeroed master key still passes its verifier: %v", err)
	}
	if _, err := New(m); err == nil {
		t.Error("a keyring was derived from a zeroed master key")
	}
}

func TestRekeyRewrapsTermsAndNodeSecrets(t *testing.T) {
	old, next := NewMasterKey(), NewMasterKey()
	k, err := New(old)
	if err != nil {
		t.Fatal(err)
	}
	secret := NewSecret()
	if err := k.Install(1, secret); err != nil {
		t.Fatal(err)
	}
	w, err := k.WrapTerm(1, next, "term/1")
	if err != nil {
		t.Fatal(err)
	}
	if got, err := next.Unwrap("term/1", w); err != nil || !bytes.Equal(got, secret) {
		t.Fatalf("the re-wrapped term does not open under the new key: %v", err)
	}
	if _, err := old.Unwrap("term/1", w); err == nil {
		t.Error("the re-wrapped term opens under the old key")
	}
	if _, err := k.WrapTerm(0, next, "term/0"); err == nil {
		t.Error("term 0 was wrapped: it is derived from the master key")
	}
	nodeKey, _ := old.Wrap("node-key", []byte("pem"))
	moved, err := old.Rewrap(next, "node-key", nodeKey)
	if err != nil {
		t.Fatal(err)
	}
	if pt, err := next.Unwrap("node-key", moved); err != nil || string(pt) != "pem" {
		t.Fatalf("rewrap: %v", err)
	}
	if _, err := next.Rewrap(old, "node-key", nodeKey); !errors.Is(err, ErrWrongMasterKey) {
		t.Errorf("a secret wrapped by another key was re-wrapped: %v", err)
	}
}

// Term 0 follows the master key, but its MAC keys (the state digest's) must
// stay those of the file's first key: a rekey carries the origin over.
func TestARekeyedKeyringKeepsTheDigestKeyOfItsOrigin(t *testing.T) {
	old, next := NewMasterKey(), NewMasterKey()
	a, _ := New(old)
	b, _ := New(next)
	msg := []byte("bucket\x00key\x00fingerprint")
	ma, _ := a.MAC(0, StateDigest)
	mb, _ := b.MAC(0, StateDigest)
	if ma.Sum(msg) == mb.Sum(msg) {
		t.Fatal("two master keys give one digest key")
	}
	w, err := a.WrapOrigin(next)
	if err != nil {
		t.Fatal(err)
	}
	origin, err := UnwrapOrigin(next, w)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.SetOrigin(origin); err != nil {
		t.Fatal(err)
	}
	mb, _ = b.MAC(0, StateDigest)
	if ma.Sum(msg) != mb.Sum(msg) {
		t.Fatal("the origin does not carry the digest key over")
	}
	// Sealing under term 0 still follows the new key.
	env, _ := b.SealTerm0(Log, []byte("aad"), []byte("install"))
	if _, err := a.Open(Log, []byte("aad"), env); err == nil {
		t.Fatal("the old key opens what the new key's term 0 sealed")
	}
	if _, err := UnwrapOrigin(old, w); err == nil {
		t.Fatal("the old key opens the origin wrapped for the new one")
	}
}
