// Package platformkey keeps the platform's SM2 signing keys in the
// replicated state — the key that signs callbacks to merchants, the one
// that signs the tax bureaus' feed — each in its own slot: the public half
// in the clear, the private half wrapped by the keyring (purpose signing)
// under associated data that names its use, so that any future leader
// signs with it and no key is opened for another use.
//
// A key is made by the first leader that needs it, not by an operator:
// nothing about it is chosen. The leader draws it and proposes it; the
// state machine keeps the first key proposed for a slot and answers that
// one to every later proposal, so two racing leaders end with one key.
package platformkey

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"

	"cxt/crypto/keyring"
	"cxt/crypto/sm"
	"cxt/storage/auditlog"
	"cxt/storage/cluster"
	"cxt/storage/state"
)

// Key is a platform key as the state keeps it.
type Key struct {
	Public      string    `json:"public_key"` // PEM
	Private     []byte    `json:"private_key"`
	Fingerprint string    `json:"fingerprint_sm3"` // hex SM3 of the DER public key
	Created     time.Time `json:"created"`
}

// Slot is where one key lives and what it is for.
type Slot struct {
	Bucket  string // registered by the slot's owner
	Name    []byte // the key's key in Bucket
	AAD     []byte // binds the wrapped private half to its use
	Command string // the command type that installs it (Install is its handler)
	Label   string // names it in refusals and audit records ("callback key")
	Action  string // the audit action of its making by the leader
}

// New draws a key and wraps its private half (the proposer's work, before
// the slot's command).
func (s Slot) New(keys *keyring.Keyring, now time.Time) (*Key, error) {
	k, err := sm.GenerateKey()
	if err != nil {
		return nil, err
	}
	pub, err := k.Public().MarshalPEM()
	if err != nil {
		return nil, err
	}
	priv, err := k.MarshalPEM()
	if err != nil {
		return nil, err
	}
	defer clear(priv)
	sealed, err := keys.Seal(keyring.Signing, s.AAD, priv)
	if err != nil {
		return nil, err
	}
	fp := k.Public().Fingerprint()
	return &Key{Public: string(pub), Private: sealed, Fingerprint: hex.EncodeToString(fp[:]), Created: now.UTC()}, nil
}

type getter interface {
	Get(bucket string, key []byte) ([]byte, error)
}

// Get reads the slot's key; nil if none was made yet.
func (s Slot) Get(tx getter) (*Key, error) {
	b, err := tx.Get(s.Bucket, s.Name)
	if err != nil || b == nil {
		return nil, err
	}
	var k Key
	if err := json.Unmarshal(b, &k); err != nil {
		return nil, fmt.Errorf("%s: %w", s.Label, err)
	}
	return &k, nil
}

// Open unwraps the private half of k, the slot's key.
func (s Slot) Open(keys *keyring.Keyring, k *Key) (*sm.PrivateKey, error) {
	pem, err := keys.Open(keyring.Signing, s.AAD, k.Private)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", s.Label, err)
	}
	defer clear(pem)
	return sm.ParsePrivateKeyPEM(pem)
}

// Install is the handler of the slot's command: it keeps the first key
// proposed — one made by a racing leader is dropped — and answers the key
// in force either way.
func (s Slot) Install(tx *state.Tx, cmd *state.Command) ([]byte, error) {
	var k Key
	if err := json.Unmarshal(cmd.Body, &k); err != nil || k.Public == "" || len(k.Private) == 0 || k.Fingerprint == "" {
		return nil, state.Reject(state.InvalidRequest, "a %s holds its public key, wrapped private key and fingerprint", s.Label)
	}
	pub, err := sm.ParsePublicKeyPEM([]byte(k.Public))
	if err != nil {
		return nil, state.Reject(state.InvalidRequest, "the %s's public half: %v", s.Label, err)
	}
	if fp := pub.Fingerprint(); hex.EncodeToString(fp[:]) != k.Fingerprint {
		return nil, state.Reject(state.InvalidRequest, "the %s's fingerprint is not its public key's", s.Label)
	}
	if prev, err := s.Get(tx); err != nil {
		return nil, err
	} else if prev != nil {
		return json.Marshal(prev)
	}
	k.Created = tx.Time()
	b, err := json.Marshal(k)
	if err != nil {
		return nil, err
	}
	return b, tx.Put(s.Bucket, s.Name, b)
}

// Ensure returns the slot's key, making it first if there is none: the
// leader's work, once the cluster speaks the slot's command.
func (s Slot) Ensure(ctx context.Context, c *cluster.Node, now time.Time) (*Key, error) {
	var k *Key
	if err := c.State().View(func(tx *state.ReadTx) error {
		var err error
		k, err = s.Get(tx)
		return err
	}); err != nil || k != nil {
		return k, err
	}
	fresh, err := s.New(c.Keys(), now)
	if err != nil {
		return nil, err
	}
	b, _ := json.Marshal(fresh)
	cmd := state.NewCommand(s.Command, b, now)
	cmd.Audit = auditlog.Context{Subject: "system", Action: s.Action, Object: s.Label}.Encode()
	v, err := c.ProposeOK(ctx, cmd)
	if err != nil {
		return nil, err
	}
	k = &Key{}
	return k, json.Unmarshal(v, k)
}
