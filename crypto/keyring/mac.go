package keyring

import (
	"encoding/binary"
	"fmt"
	"hash"
	"sync"

	"cxt/crypto/sm"
)

// MAC purposes: each term derives an HMAC-SM3 key per purpose on first use.
// Like the sealing purposes, adding one changes no other key.
const (
	// StateHead authenticates the head of a state file (applied index,
	// audit head, digest) under the term that was active when it was written.
	StateHead Purpose = "state-head"
	// StateDigest keys the per-record terms of a state file's digest. The
	// digest is updated for the life of the file, so its key must never
	// change: callers use term 0, which the master key derives.
	StateDigest Purpose = "state-digest"
	// Snapshot authenticates a snapshot's trailer.
	Snapshot Purpose = "snapshot"
)

// MAC computes HMAC-SM3 under one derived key. It is safe for concurrent
// use: each caller borrows a keyed hash whose inner and outer pads are
// computed once.
type MAC struct {
	key  []byte
	pool sync.Pool
}

func newMAC(key []byte) *MAC {
	m := &MAC{key: key}
	m.pool.New = func() any { return sm.NewHMAC(m.key) }
	return m
}

// Sum returns HMAC-SM3(key, parts[0] || parts[1] || ...). Callers frame
// parts of variable length so that the concatenation is unambiguous.
func (m *MAC) Sum(parts ...[]byte) [sm.HashSize]byte {
	h := m.pool.Get().(hash.Hash)
	h.Reset()
	for _, p := range parts {
		h.Write(p)
	}
	var out [sm.HashSize]byte
	h.Sum(out[:0])
	m.pool.Put(h)
	return out
}

// Derive returns the MAC keyed with m's MAC of label: callers that MAC many
// short messages sharing a prefix (the records of one bucket) put the prefix
// here once and keep each message within one SM3 block.
func (m *MAC) Derive(label []byte) *MAC {
	sum := m.Sum(label)
	return newMAC(sum[:])
}

// mac returns the term's MAC for p, deriving it on first use.
func (t *term) mac(p Purpose) *MAC {
	if m, ok := t.derived.Load(p); ok {
		return m.(*MAC)
	}
	m, _ := t.derived.LoadOrStore(p, newMAC(sm.DeriveKey(t.macSource(), "cxt/keyring/mac/"+string(p), sm.HashSize)))
	return m.(*MAC)
}

// forgetMACs clears the derived MAC keys (the pads inside pooled hashes,
// like cipher schedules, are left to the garbage collector).
func (t *term) forgetMACs() {
	t.derived.Range(func(_, m any) bool {
		clear(m.(*MAC).key)
		return true
	})
	t.derived.Clear()
}

// MAC returns the HMAC-SM3 of purpose p under term n.
func (k *Keyring) MAC(n uint32, p Purpose) (*MAC, error) {
	k.mu.RLock()
	defer k.mu.RUnlock()
	if k.sealed {
		return nil, ErrSealed
	}
	t, ok := k.terms[n]
	if !ok {
		return nil, fmt.Errorf("%w %d", ErrUnknownTerm, n)
	}
	return t.mac(p), nil
}

const nonceSuffix = "/nonce" // the purpose of a sealing key's nonce MAC

// SealSynthetic encrypts plaintext under the active term with a synthetic
// nonce, as SIV does (RFC 5297): the nonce is the first 96 bits of HMAC-SM3,
// under a key the term keeps for this purpose alone, over coords (where and
// by what the value is written), aad and the plaintext itself. Replicas
// sealing the same value at the same place write identical bytes; two
// different plaintexts share a nonce only if HMAC-SM3 collides on 96 bits,
// whatever the caller's coordinates — so a replica that diverged cannot
// reuse a nonce with another plaintext.
func (k *Keyring) SealSynthetic(p Purpose, coords, aad, plaintext []byte) ([]byte, error) {
	k.mu.RLock()
	n, t, sealed := k.active, k.terms[k.active], k.sealed
	k.mu.RUnlock()
	if sealed {
		return nil, ErrSealed
	}
	if t == nil {
		return nil, fmt.Errorf("%w %d", ErrUnknownTerm, n)
	}
	var lc, la [4]byte
	binary.BigEndian.PutUint32(lc[:], uint32(len(coords)))
	binary.BigEndian.PutUint32(la[:], uint32(len(aad)))
	iv := t.mac(p+nonceSuffix).Sum(lc[:], coords, la[:], aad, plaintext)
	return k.seal(n, p, iv[:sm.NonceSize], aad, plaintext)
}

// FingerprintSize is the size of an envelope's fingerprint.
const FingerprintSize = sm.NonceSize + sm.TagSize

// Fingerprint appends to dst what identifies an envelope among all genuine
// envelopes of its record: its nonce and its tag. Another envelope that
// opens under the same term and associated data has a different nonce or
// tag unless GCM is forged (the tag authenticates the version and term as
// well), so a digest over fingerprints commits to the values without
// rehashing them.
func Fingerprint(dst, envelope []byte) ([]byte, bool) {
	if len(envelope) < Overhead || envelope[0] != version {
		return dst, false
	}
	dst = append(dst, envelope[5:headerSize]...)
	return append(dst, envelope[len(envelope)-sm.TagSize:]...), true
}

// Agrees returns an error naming the first term that k and o both hold
// with different secrets: state from another cluster whose master key
// happens to unwrap it must not be mixed with this one.
func (k *Keyring) Agrees(o *Keyring) error {
	o.mu.RLock()
	theirs := make(map[uint32][]byte, len(o.terms))
	for n, t := range o.terms {
		theirs[n] = append([]byte(nil), t.secret...)
	}
	o.mu.RUnlock()
	defer func() {
		for _, s := range theirs {
			clear(s)
		}
	}()
	k.mu.RLock()
	defer k.mu.RUnlock()
	for n, t := range k.terms {
		if s, ok := theirs[n]; ok && !sm.Equal(s, t.secret) {
			return fmt.Errorf("keyring: term %d is held with another secret", n)
		}
	}
	return nil
}
