package callbacks

import (
	"time"

	"cxt/appliance/platformkey"
	"cxt/crypto/keyring"
	"cxt/crypto/sm"
)

// Key is the platform's callback signing key as the state keeps it: the
// public half in the clear, the private half wrapped by the keyring.
type Key = platformkey.Key

// slot is where the callback key lives (package platformkey).
var slot = platformkey.Slot{Bucket: KeyBucket, Name: []byte("key"), AAD: []byte("cxt/callbacks/platform-key/v1"),
	Command: CmdKey, Label: "callback key", Action: "callbacks.key"}

// NewKey draws a platform key and wraps its private half (the proposer's
// work, before CmdKey).
func NewKey(keys *keyring.Keyring, now time.Time) (*Key, error) { return slot.New(keys, now) }

// GetKey reads the platform key; nil if none was made yet.
func GetKey(tx getter) (*Key, error) { return slot.Get(tx) }

// OpenKey unwraps the private key.
func OpenKey(keys *keyring.Keyring, k *Key) (*sm.PrivateKey, error) { return slot.Open(keys, k) }

// public is the key as anyone may see it.
func public(k *Key) map[string]any {
	return map[string]any{
		"public_key": k.Public, "fingerprint_sm3": k.Fingerprint, "created": k.Created,
		"verify": "openssl dgst -sm3 -sigopt " + sm.DistID + " -verify callback-key.pem -signature signature.der body.json",
	}
}
