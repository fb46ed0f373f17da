package keyring

import (
	"bytes"
	"errors"
	"testing"

	"cxt/crypto/sm"
)

func termOne(t *testing.T, m *MasterKey, secret []byte) *Keyring {
	t.Helper()
	k, err := New(m)
	if err != nil {
		t.Fatal(err)
	}
	if err := k.Install(1, secret); err != nil {
		t.Fatal(err)
	}
	return k
}

func nonceOf(env []byte) string { return string(env[5:headerSize]) }

func TestSyntheticNoncesNeverPairTwoPlaintextsWithOneNonce(t *testing.T) {
	m, secret := NewMasterKey(), NewSecret()
	a, b := termOne(t, m, secret), termOne(t, m, secret)
	coords, aad := []byte("command 7 at index 42"), []byte("kv\x00balance")
	// Two replicas that diverged write different values at the very same
	// coordinates: the nonces differ.
	ea, err := a.SealSynthetic(Records, coords, aad, []byte("100.00"))
	if err != nil {
		t.Fatal(err)
	}
	eb, _ := b.SealSynthetic(Records, coords, aad, []byte("999.00"))
	if nonceOf(ea) == nonceOf(eb) {
		t.Fatal("two plaintexts were sealed under one (key, nonce)")
	}
	// The same value at the same coordinates gives the same bytes.
	ea2, _ := b.SealSynthetic(Records, coords, aad, []byte("100.00"))
	if !bytes.Equal(ea, ea2) {
		t.Fatal("replicas sealing the same value wrote different bytes")
	}
	// Coordinates and associated data each change the nonce, and framing
	// keeps their boundary from sliding.
	for _, c := range []struct{ coords, aad string }{
		{"command 7 at index 43", "kv\x00balance"},
		{"command 7 at index 42", "kv\x00balancf"},
		{"command 7 at index 42kv", "\x00balance"},
	} {
		e, _ := a.SealSynthetic(Records, []byte(c.coords), []byte(c.aad), []byte("100.00"))
		if nonceOf(e) == nonceOf(ea) {
			t.Fatalf("coordinates %q/%q did not change the nonce", c.coords, c.aad)
		}
	}
	if pt, err := b.Open(Records, aad, ea); err != nil || string(pt) != "100.00" {
		t.Fatalf("open: %q %v", pt, err)
	}
}

func TestEnvelopesSealedWithTheOldNoncesStillOpen(t *testing.T) {
	m := NewMasterKey()
	k := termOne(t, m, NewSecret())
	// The nonce the state machine derived before synthetic nonces:
	// SM3("cxt/value-nonce/v1" || command ID || index || bucket 0 key).
	h := sm.NewHash()
	h.Write([]byte("cxt/value-nonce/v1"))
	h.Write(bytes.Repeat([]byte{7}, 16))
	h.Write([]byte{0, 0, 0, 0, 0, 0, 0, 42})
	h.Write([]byte("kv\x00a"))
	old, err := k.seal(1, Records, h.Sum(nil)[:sm.NonceSize], []byte("kv\x00a"), []byte("legacy"))
	if err != nil {
		t.Fatal(err)
	}
	if pt, err := k.Open(Records, []byte("kv\x00a"), old); err != nil || string(pt) != "legacy" {
		t.Fatalf("an envelope with an old nonce: %q %v", pt, err)
	}
}

func TestFingerprintsAreTheNonceAndTheTag(t *testing.T) {
	k := termOne(t, NewMasterKey(), NewSecret())
	e, _ := k.SealSynthetic(Records, nil, []byte("a"), []byte("some value"))
	fp, ok := Fingerprint([]byte("x"), e)
	if !ok || len(fp) != 1+FingerprintSize || !bytes.Equal(fp[1:13], e[5:headerSize]) || !bytes.Equal(fp[13:], e[len(e)-sm.TagSize:]) {
		t.Fatal("fingerprint is not nonce and tag")
	}
	if _, ok := Fingerprint(nil, e[:Overhead-1]); ok {
		t.Fatal("a short envelope has a fingerprint")
	}
}

func TestMACsAreDerivedPerTermAndPurposeAndForgottenAtZero(t *testing.T) {
	m := NewMasterKey()
	a, b := termOne(t, m, NewSecret()), termOne(t, m, NewSecret())
	sum := func(k *Keyring, n uint32, p Purpose) [sm.HashSize]byte {
		t.Helper()
		mac, err := k.MAC(n, p)
		if err != nil {
			t.Fatal(err)
		}
		return mac.Sum([]byte("head"))
	}
	if sum(a, 0, StateDigest) != sum(b, 0, StateDigest) {
		t.Fatal("term 0 MACs differ between holders of one master key")
	}
	if sum(a, 1, StateHead) == sum(b, 1, StateHead) {
		t.Fatal("two term secrets gave one MAC key")
	}
	if sum(a, 1, StateHead) == sum(a, 1, Snapshot) {
		t.Fatal("two purposes share a MAC key")
	}
	if _, err := a.MAC(9, StateHead); !errors.Is(err, ErrUnknownTerm) {
		t.Fatalf("unknown term: %v", err)
	}
	a.Zero()
	if _, err := a.MAC(1, StateHead); !errors.Is(err, ErrSealed) {
		t.Fatalf("after Zero: %v", err)
	}
}

func TestAgreesNamesATermHeldWithAnotherSecret(t *testing.T) {
	m := NewMasterKey()
	s := NewSecret()
	a, same, other := termOne(t, m, s), termOne(t, m, s), termOne(t, m, NewSecret())
	if err := a.Agrees(same); err != nil {
		t.Fatal(err)
	}
	if err := a.Agrees(other); err == nil {
		t.Fatal("a term with another secret agreed")
	}
}
