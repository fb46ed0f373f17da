// Package keyring seals records with SM4-GCM data keys that rotate in terms,
// every term wrapped by one master key.
//
// An envelope is [version 1][term 4][nonce 12][ciphertext+tag 16]. The version
// and term are authenticated with the caller's associated data, which names
// the record (bucket and key), so a ciphertext cannot be moved to another
// record or another term. Each term derives one key per purpose (records, the
// Raft log, documents, audit HMACs), so a key never serves two uses.
//
// Term 0 is derived from the master key itself; it protects only the commands
// that install the other terms, so that a node holding the master key can read
// the replicated log from its first entry. Rotation adds a term and makes it
// active; older terms stay readable for as long as the keyring holds them.
package keyring

import (
	"crypto/cipher"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"runtime"
	"slices"
	"sync"

	"cxt/crypto/secmem"
	"cxt/crypto/sm"
)

// Purpose names what a derived key protects.
type Purpose string

// The purposes in use. Adding one never changes the keys of the others.
const (
	Records   Purpose = "records"   // values in bbolt
	Log       Purpose = "raft-log"  // commands in the Raft log
	Documents Purpose = "documents" // per-document keys of the blob store
	Subjects  Purpose = "subjects"  // data subjects' own keys (crypto/subjectkey)
	Signing   Purpose = "signing"   // the e-signing authority's private keys (appliance/agreements)
	Index     Purpose = "index"     // blind indexes (HMAC-SM3); never rotates
)

const (
	version    = 1
	headerSize = 1 + 4 + sm.NonceSize
	// Overhead is how many bytes an envelope adds to its plaintext.
	Overhead = headerSize + sm.TagSize
	// SecretSize is the size of a term secret and of the master key.
	SecretSize = 32
)

// Errors returned by the keyring.
var (
	ErrSealed      = errors.New("keyring: sealed")
	ErrUnknownTerm = errors.New("keyring: unknown key term")
	ErrCorrupt     = errors.New("keyring: envelope corrupt or not bound to this record")
)

type term struct {
	secret  []byte // SecretSize bytes of locked memory (crypto/secmem)
	aeads   map[Purpose]cipher.AEAD
	derived sync.Map // Purpose -> *MAC, derived on first use (see mac.go)
	cleanup runtime.Cleanup
	// origin, for term 0 of a rekeyed file, is what its MAC keys derive
	// from instead of its secret (see SetOrigin); locked memory.
	origin        []byte
	originCleanup runtime.Cleanup
}

// forget zeroes the term's secrets and gives their locked memory back.
func (t *term) forget() {
	t.cleanup.Stop()
	t.originCleanup.Stop()
	secmem.Free(t.secret)
	secmem.Free(t.origin)
	t.secret, t.origin = nil, nil
}

// macSource is what the term's MAC keys derive from.
func (t *term) macSource() []byte {
	if t.origin != nil {
		return t.origin
	}
	return t.secret
}

// originName is the name the origin is wrapped under.
const originName = "term/0-origin"

// WrapOrigin wraps, under m, what term 0's MAC keys derive from: the
// term-0 secret of the master key the keyring's file was created under. A
// rekey carries it over this way, because term 0 itself follows the master
// key while a state file's digest keeps its key for the file's life.
func (k *Keyring) WrapOrigin(m *MasterKey) ([]byte, error) {
	k.mu.RLock()
	defer k.mu.RUnlock()
	if k.sealed {
		return nil, ErrSealed
	}
	return m.Wrap(originName, k.terms[0].macSource())
}

// UnwrapOrigin opens what WrapOrigin wrapped under m.
func UnwrapOrigin(m *MasterKey, wrapped []byte) ([]byte, error) {
	return m.Unwrap(originName, wrapped)
}

// SetOrigin makes term 0's MAC keys derive from origin (see WrapOrigin)
// rather than from the current master key's term 0. The keyring loads it
// from a rekeyed file before it checks the file's digest.
func (k *Keyring) SetOrigin(origin []byte) error {
	if len(origin) != SecretSize {
		return fmt.Errorf("keyring: an origin is %d bytes, want %d", len(origin), SecretSize)
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.sealed {
		return ErrSealed
	}
	t := k.terms[0]
	if sm.Equal(t.macSource(), origin) {
		return nil
	}
	if t.origin == nil {
		t.origin = secmem.Alloc(SecretSize)
		t.originCleanup = runtime.AddCleanup(t, secmem.Free, t.origin)
	}
	copy(t.origin, origin)
	t.forgetMACs() // derived again, from the origin, on next use
	return nil
}

// Keyring holds the terms of a node. It is safe for concurrent use.
type Keyring struct {
	mu     sync.RWMutex
	terms  map[uint32]*term
	active uint32
	sealed bool
}

// New returns a keyring holding term 0, derived from master.
func New(master *MasterKey) (*Keyring, error) {
	if master == nil {
		return nil, ErrSealed
	}
	if master.b == nil {
		return nil, errZeroed
	}
	k := &Keyring{terms: map[uint32]*term{}}
	secret := sm.DeriveKey(master.b, "cxt/keyring/term0", SecretSize)
	defer clear(secret)
	if err := k.install(0, secret); err != nil {
		return nil, err
	}
	return k, nil
}

// NewSecret returns a fresh random term secret.
func NewSecret() []byte {
	s := make([]byte, SecretSize)
	if _, err := rand.Read(s); err != nil {
		panic(err)
	}
	return s
}

// Install adds term n with secret and makes it active if it is the newest.
// Installing a term that is already present with the same secret is a no-op,
// so replaying the command that installed it is harmless.
func (k *Keyring) Install(n uint32, secret []byte) error {
	if n == 0 {
		return errors.New("keyring: term 0 is derived from the master key")
	}
	return k.install(n, secret)
}

func (k *Keyring) install(n uint32, secret []byte) error {
	if len(secret) != SecretSize {
		return fmt.Errorf("keyring: term secret is %d bytes, want %d", len(secret), SecretSize)
	}
	t := &term{secret: secmem.Alloc(SecretSize), aeads: map[Purpose]cipher.AEAD{}}
	copy(t.secret, secret)
	t.cleanup = runtime.AddCleanup(t, secmem.Free, t.secret)
	for _, p := range []Purpose{Records, Log, Documents, Subjects, Signing} {
		key := sm.DeriveKey(t.secret, "cxt/keyring/"+string(p), sm.KeySize)
		a, err := sm.NewAEAD(key)
		clear(key) // the cipher keeps its own schedule
		if err != nil {
			t.forget()
			return err
		}
		t.aeads[p] = a
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.sealed {
		t.forget()
		return ErrSealed
	}
	if old, ok := k.terms[n]; ok {
		t.forget()
		if !sm.Equal(old.secret, secret) {
			return fmt.Errorf("keyring: term %d is already installed with another secret", n)
		}
		return nil
	}
	k.terms[n] = t
	if n > k.active {
		k.active = n
	}
	return nil
}

// Active returns the term new envelopes are sealed with.
func (k *Keyring) Active() uint32 {
	k.mu.RLock()
	defer k.mu.RUnlock()
	return k.active
}

// Terms returns the installed term numbers, oldest first.
func (k *Keyring) Terms() []uint32 {
	k.mu.RLock()
	defer k.mu.RUnlock()
	return slices.Sorted(maps.Keys(k.terms))
}

// Seal encrypts plaintext under the active term with a random nonce. Random
// 96-bit nonces are safe for 2^32 seals per key (NIST SP 800-38D §8.3); the
// state machine counts log seals per term and the cluster rotates the term
// long before that (see storage/state/nonce.go).
func (k *Keyring) Seal(p Purpose, aad, plaintext []byte) ([]byte, error) {
	var nonce [sm.NonceSize]byte
	if _, err := rand.Read(nonce[:]); err != nil {
		return nil, err
	}
	return k.seal(k.Active(), p, nonce[:], aad, plaintext)
}

// SealTerm0 encrypts with the master-derived term 0; it is used only for the
// commands that install terms.
func (k *Keyring) SealTerm0(p Purpose, aad, plaintext []byte) ([]byte, error) {
	var nonce [sm.NonceSize]byte
	if _, err := rand.Read(nonce[:]); err != nil {
		return nil, err
	}
	return k.seal(0, p, nonce[:], aad, plaintext)
}

func (k *Keyring) seal(n uint32, p Purpose, nonce, aad, plaintext []byte) ([]byte, error) {
	if len(nonce) != sm.NonceSize {
		return nil, fmt.Errorf("keyring: nonce is %d bytes, want %d", len(nonce), sm.NonceSize)
	}
	a, err := k.aead(n, p)
	if err != nil {
		return nil, err
	}
	out := make([]byte, headerSize, headerSize+len(plaintext)+sm.TagSize)
	out[0] = version
	binary.BigEndian.PutUint32(out[1:5], n)
	copy(out[5:headerSize], nonce)
	return a.Seal(out, nonce, plaintext, associated(out[:5], aad)), nil
}

// Open decrypts an envelope sealed for aad under any installed term.
func (k *Keyring) Open(p Purpose, aad, envelope []byte) ([]byte, error) {
	n, err := TermOf(envelope)
	if err != nil {
		return nil, err
	}
	a, err := k.aead(n, p)
	if err != nil {
		return nil, err
	}
	pt, err := a.Open(nil, envelope[5:headerSize], envelope[headerSize:], associated(envelope[:5], aad))
	if err != nil {
		return nil, ErrCorrupt
	}
	return pt, nil
}

// TermOf returns the term an envelope was sealed under.
func TermOf(envelope []byte) (uint32, error) {
	if len(envelope) < Overhead || envelope[0] != version {
		return 0, ErrCorrupt
	}
	return binary.BigEndian.Uint32(envelope[1:5]), nil
}

// IndexKey returns the blind-index key: HMAC-SM3 keyed with it gives equal
// outputs for equal inputs across all terms, so lookups survive rotation.
func (k *Keyring) IndexKey() ([]byte, error) {
	k.mu.RLock()
	defer k.mu.RUnlock()
	if k.sealed {
		return nil, ErrSealed
	}
	t, ok := k.terms[1]
	if !ok {
		return nil, fmt.Errorf("%w 1 (the keyring has not been initialised)", ErrUnknownTerm)
	}
	return sm.DeriveKey(t.secret, "cxt/keyring/"+string(Index), sm.HashSize), nil
}

// Zero forgets every key; the keyring refuses all work afterwards.
func (k *Keyring) Zero() {
	k.mu.Lock()
	defer k.mu.Unlock()
	for n, t := range k.terms {
		t.forgetMACs()
		t.forget()
		delete(k.terms, n)
	}
	k.sealed = true
}

// WrapTerm wraps the secret of term n (n >= 1) under m, named what: a rekey
// re-wraps every term this way without the secret leaving the keyring.
func (k *Keyring) WrapTerm(n uint32, m *MasterKey, what string) ([]byte, error) {
	if n == 0 {
		return nil, errors.New("keyring: term 0 is derived from the master key, not wrapped")
	}
	k.mu.RLock()
	defer k.mu.RUnlock()
	if k.sealed {
		return nil, ErrSealed
	}
	t, ok := k.terms[n]
	if !ok {
		return nil, fmt.Errorf("%w %d", ErrUnknownTerm, n)
	}
	return m.Wrap(what, t.secret)
}

func (k *Keyring) aead(n uint32, p Purpose) (cipher.AEAD, error) {
	k.mu.RLock()
	defer k.mu.RUnlock()
	if k.sealed {
		return nil, ErrSealed
	}
	t, ok := k.terms[n]
	if !ok {
		return nil, fmt.Errorf("%w %d", ErrUnknownTerm, n)
	}
	a, ok := t.aeads[p]
	if !ok {
		return nil, fmt.Errorf("keyring: no sealing key for purpose %q", p)
	}
	return a, nil
}

func associated(header, aad []byte) []byte {
	out := make([]byte, 0, len(header)+len(aad))
	return append(append(out, header...), aad...)
}
