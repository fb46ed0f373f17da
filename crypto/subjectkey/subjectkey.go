// Package subjectkey seals a data subject's personal records and the keys of
// their documents under a key of that subject alone, so that destroying the
// key shreds that subject — wherever copies of the ciphertext remain — and no
// other.
//
// A subject key is 32 random bytes, kept wrapped by the keyring (purpose
// "subjects", bound to the subject's ID) in the replicated state; its SM4 key
// and its 4-byte ID derive from it. An envelope is
// [0x81][key ID 4][nonce 12][ciphertext][tag 16], as long as a keyring
// envelope, so a document header holds either; the version byte says which,
// and the key ID says which key of which subject sealed it. The subject's ID
// is authenticated with every envelope, so a record cannot be moved from one
// subject to another. Nonces are random: a subject's key seals far fewer
// than the 2^32 values a random 96-bit nonce allows.
package subjectkey

import (
	"crypto/cipher"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"

	"cxt/crypto/keyring"
	"cxt/crypto/sm"
)

const (
	// Version is the first byte of a subject envelope (a keyring envelope
	// starts with 1).
	Version = 0x81
	// SecretSize is the size of a subject key.
	SecretSize = 32
	headerSize = 1 + 4 + sm.NonceSize
	// Overhead is how many bytes an envelope adds to its plaintext; it is
	// keyring.Overhead, so either fits where the other does.
	Overhead = headerSize + sm.TagSize
)

// ErrCorrupt is returned for an envelope that does not open under this key
// for this subject and record.
var ErrCorrupt = errors.New("subjectkey: envelope corrupt, or not this subject's or this record's")

// Key is one subject's key, unwrapped.
type Key struct {
	subject string
	id      uint32
	aead    cipher.AEAD
}

// New makes a fresh key for subject and returns it with its secret, which
// the caller wraps (Wrap) and then forgets.
func New(subject string) (*Key, []byte, error) {
	secret := make([]byte, SecretSize)
	if _, err := rand.Read(secret); err != nil {
		return nil, nil, err
	}
	k, err := fromSecret(subject, secret)
	return k, secret, err
}

func fromSecret(subject string, secret []byte) (*Key, error) {
	if len(secret) != SecretSize {
		return nil, fmt.Errorf("subjectkey: secret is %d bytes, want %d", len(secret), SecretSize)
	}
	if subject == "" {
		return nil, errors.New("subjectkey: a key belongs to a subject")
	}
	sk := sm.DeriveKey(secret, "cxt/subject/seal", sm.KeySize)
	defer clear(sk)
	aead, err := sm.NewAEAD(sk)
	if err != nil {
		return nil, err
	}
	id := sm.DeriveKey(secret, "cxt/subject/id", 4)
	return &Key{subject: subject, id: binary.BigEndian.Uint32(id), aead: aead}, nil
}

func wrapAAD(subject string) []byte { return []byte("cxt/subject-key/v1/" + subject) }

// Wrap seals a subject's secret under the keyring's active term.
func Wrap(keys *keyring.Keyring, subject string, secret []byte) ([]byte, error) {
	return keys.Seal(keyring.Subjects, wrapAAD(subject), secret)
}

// Unwrap opens a subject's wrapped secret and returns the key.
func Unwrap(keys *keyring.Keyring, subject string, wrapped []byte) (*Key, error) {
	secret, err := keys.Open(keyring.Subjects, wrapAAD(subject), wrapped)
	if err != nil {
		return nil, fmt.Errorf("subjectkey: %s: %w", subject, err)
	}
	defer clear(secret)
	return fromSecret(subject, secret)
}

// Subject is whose key this is.
func (k *Key) Subject() string { return k.subject }

// ID names the key; envelopes carry it.
func (k *Key) ID() uint32 { return k.id }

// associated binds an envelope to its header, its subject and the record.
func (k *Key) associated(header, aad []byte) []byte {
	a := make([]byte, 0, len(header)+len(k.subject)+1+len(aad))
	a = append(a, header...)
	a = append(a, k.subject...)
	a = append(a, 0)
	return append(a, aad...)
}

// Seal encrypts plaintext for the record named by aad.
func (k *Key) Seal(aad, plaintext []byte) ([]byte, error) {
	out := make([]byte, headerSize, headerSize+len(plaintext)+sm.TagSize)
	out[0] = Version
	binary.BigEndian.PutUint32(out[1:5], k.id)
	if _, err := rand.Read(out[5:headerSize]); err != nil {
		return nil, err
	}
	return k.aead.Seal(out, out[5:headerSize], plaintext, k.associated(out[:5], aad)), nil
}

// Open decrypts an envelope this key sealed for the record named by aad.
func (k *Key) Open(aad, envelope []byte) ([]byte, error) {
	id, ok := KeyID(envelope)
	if !ok || id != k.id {
		return nil, ErrCorrupt
	}
	pt, err := k.aead.Open(nil, envelope[5:headerSize], envelope[headerSize:], k.associated(envelope[:5], aad))
	if err != nil {
		return nil, ErrCorrupt
	}
	return pt, nil
}

// KeyID reads which key sealed an envelope; false if it is not a subject
// envelope.
func KeyID(envelope []byte) (uint32, bool) {
	if len(envelope) < Overhead || envelope[0] != Version {
		return 0, false
	}
	return binary.BigEndian.Uint32(envelope[1:5]), true
}
