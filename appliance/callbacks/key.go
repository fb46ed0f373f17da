package callbacks

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"

	"cxt/crypto/keyring"
	"cxt/crypto/sm"
	"cxt/storage/state"
)

// Key is the platform's callback signing key as the state keeps it: the
// public half in the clear, the private half wrapped by the keyring.
type Key struct {
	Public      string    `json:"public_key"` // PEM
	Private     []byte    `json:"private_key"`
	Fingerprint string    `json:"fingerprint_sm3"` // hex SM3 of the DER public key
	Created     time.Time `json:"created"`
}

var keyName = []byte("key")

// keyAAD binds the wrapped private key to its use.
var keyAAD = []byte("cxt/callbacks/platform-key/v1")

// NewKey draws a platform key and wraps its private half (the proposer's
// work, before CmdKey).
func NewKey(keys *keyring.Keyring, now time.Time) (*Key, error) {
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
	sealed, err := keys.Seal(keyring.Signing, keyAAD, priv)
	if err != nil {
		return nil, err
	}
	fp := k.Public().Fingerprint()
	return &Key{Public: string(pub), Private: sealed, Fingerprint: hex.EncodeToString(fp[:]), Created: now.UTC()}, nil
}

// GetKey reads the platform key; nil if none was made yet.
func GetKey(tx getter) (*Key, error) {
	b, err := tx.Get(KeyBucket, keyName)
	if err != nil || b == nil {
		return nil, err
	}
	var k Key
	if err := json.Unmarshal(b, &k); err != nil {
		return nil, fmt.Errorf("callbacks: platform key: %w", err)
	}
	return &k, nil
}

// Open unwraps the private key.
func (k *Key) Open(keys *keyring.Keyring) (*sm.PrivateKey, error) {
	pem, err := keys.Open(keyring.Signing, keyAAD, k.Private)
	if err != nil {
		return nil, fmt.Errorf("callbacks: platform key: %w", err)
	}
	defer clear(pem)
	return sm.ParsePrivateKeyPEM(pem)
}

// installKey keeps the first key proposed: one made by a racing leader is
// dropped, and the answer is the key in force either way.
func installKey(tx *state.Tx, cmd *state.Command) ([]byte, error) {
	var k Key
	if err := json.Unmarshal(cmd.Body, &k); err != nil || k.Public == "" || len(k.Private) == 0 || k.Fingerprint == "" {
		return nil, state.Reject(state.InvalidRequest, "a callback key holds its public key, wrapped private key and fingerprint")
	}
	pub, err := sm.ParsePublicKeyPEM([]byte(k.Public))
	if err != nil {
		return nil, state.Reject(state.InvalidRequest, "the callback key's public half: %v", err)
	}
	if fp := pub.Fingerprint(); hex.EncodeToString(fp[:]) != k.Fingerprint {
		return nil, state.Reject(state.InvalidRequest, "the callback key's fingerprint is not its public key's")
	}
	if prev, err := GetKey(tx); err != nil {
		return nil, err
	} else if prev != nil {
		return json.Marshal(prev)
	}
	k.Created = tx.Time()
	b, err := json.Marshal(k)
	if err != nil {
		return nil, err
	}
	return b, tx.Put(KeyBucket, keyName, b)
}

// Public is the key as anyone may see it.
func (k *Key) public() map[string]any {
	return map[string]any{
		"public_key": k.Public, "fingerprint_sm3": k.Fingerprint, "created": k.Created,
		"verify": "openssl dgst -sm3 -sigopt " + sm.DistID + " -verify callback-key.pem -signature signature.der body.json",
	}
}
