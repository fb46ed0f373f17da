// Package subjects keeps each data subject's own key (crypto/subjectkey) in
// the replicated state, and destroys it when the subject is shredded.
//
// A subject is a merchant or a worker: everything that identifies a person
// of theirs — names, ID numbers, phones, cards, their documents — is sealed
// under their key before it is proposed, so the Raft log, snapshots, the
// state file and MinIO hold only ciphertext of it. The key itself is kept
// wrapped by the keyring in the subject_keys bucket. Shredding deletes the
// wrapping and leaves a tombstone; from then on nothing of that subject opens,
// on any node, and no other subject is touched. After a shred each node
// compacts its Raft log (the entry that installed the wrapping is gone with
// it); what the shred cannot reach is said in docs/architecture.md.
//
// The domain that creates a subject makes the key (NewKey), seals the
// subject's fields with it and proposes its own command carrying the
// wrapping; its handler calls Install. Later commands name the key they
// sealed under; their handlers call Require, which refuses a shredded
// subject or a key that is not the subject's.
package subjects

import (
	"encoding/json"
	"fmt"
	"time"

	"cxt/crypto/keyring"
	"cxt/crypto/sm"
	"cxt/crypto/subjectkey"
	"cxt/gateway/feed"
	"cxt/storage/state"
)

// Bucket holds one Record per subject ID.
const Bucket = "subject_keys"

// CmdShred destroys a subject's key.
const CmdShred = "subject.shred"

// Refusals besides the general ones.
var (
	CodeShredded = state.NewCode(state.KindConflict, "subject_shredded")
	CodeWrongKey = state.NewCode(state.KindConflict, "subject_key_mismatch")
)

// Record is what the state keeps about a subject's key.
type Record struct {
	Subject  string     `json:"subject"`
	KeyID    uint32     `json:"key_id"`
	Wrapped  []byte     `json:"wrapped,omitempty"` // nil once shredded
	Created  time.Time  `json:"created"`
	Shredded *time.Time `json:"shredded,omitempty"`
	Reason   string     `json:"reason,omitempty"`
}

// Fresh is a new subject's key as a command carries it.
type Fresh struct {
	KeyID   uint32 `json:"key_id"`
	Wrapped []byte `json:"wrapped"`
}

// NewKey makes a key for a new subject: the key to seal its fields with now,
// and its wrapping for the command that creates the subject.
func NewKey(keys *keyring.Keyring, subject string) (*subjectkey.Key, Fresh, error) {
	k, secret, err := subjectkey.New(subject)
	if err != nil {
		return nil, Fresh{}, err
	}
	defer clear(secret)
	wrapped, err := subjectkey.Wrap(keys, subject, secret)
	if err != nil {
		return nil, Fresh{}, err
	}
	return k, Fresh{KeyID: k.ID(), Wrapped: wrapped}, nil
}

// Register adds the bucket and the shred command; onShred, if not nil, runs
// on every node after a shred commits, on the apply goroutine — it must not
// block (the node starts compacting its log and returns).
func Register(reg *state.Registry, onShred func(subject string)) {
	reg.Bucket(Bucket)
	reg.HandleFrom(state.PartiesSet, CmdShred, func(tx *state.Tx, cmd *state.Command) ([]byte, error) {
		var in struct {
			Subject string `json:"subject"`
			Reason  string `json:"reason"`
		}
		if err := json.Unmarshal(cmd.Body, &in); err != nil || in.Subject == "" || in.Reason == "" {
			return nil, state.Reject(state.InvalidRequest, "a shred names a subject and a reason")
		}
		rec, err := Shred(tx, in.Subject, in.Reason)
		if err != nil {
			return nil, err
		}
		if onShred != nil {
			tx.OnCommit(func() error { onShred(in.Subject); return nil })
		}
		return json.Marshal(rec)
	})
}

// Shred destroys subject's key inside a command (the shred command's, or an
// archive destruction's) and returns the tombstone. Only the shred command
// compacts the log at once; another caller's entry leaves it at the next
// snapshot, or sooner if it runs its own hook.
func Shred(tx *state.Tx, subject, reason string) (*Record, error) {
	rec, err := get(tx, subject)
	if err != nil {
		return nil, err
	}
	if rec.Shredded != nil {
		return nil, state.Reject(CodeShredded, "subject %s was shredded at %s", subject, rec.Shredded.Format(time.RFC3339))
	}
	now := tx.Time()
	rec.Wrapped, rec.Shredded, rec.Reason = nil, &now, reason
	return rec, put(tx, rec)
}

// Live reports whether subject has a key that is not shredded.
func Live(r interface {
	Get(bucket string, key []byte) ([]byte, error)
}, subject string) (bool, error) {
	b, err := r.Get(Bucket, []byte(subject))
	if err != nil || b == nil {
		return false, err
	}
	var rec Record
	if err := json.Unmarshal(b, &rec); err != nil {
		return false, err
	}
	return rec.Shredded == nil && rec.Wrapped != nil, nil
}

// ShredCommand returns the command that destroys subject's key.
func ShredCommand(subject, reason string, now time.Time) *state.Command {
	b, _ := json.Marshal(map[string]string{"subject": subject, "reason": reason})
	return state.NewCommand(CmdShred, b, now)
}

// Install records a new subject's key; a subject has one key for life.
func Install(tx *state.Tx, subject string, f Fresh) error {
	if subject == "" || len(f.Wrapped) != keyring.Overhead+subjectkey.SecretSize {
		return state.Reject(state.InvalidRequest, "a subject key is a subject ID and a wrapped key of %d bytes", keyring.Overhead+subjectkey.SecretSize)
	}
	prev, err := tx.Get(Bucket, []byte(subject))
	if err != nil {
		return err
	}
	if prev != nil {
		return state.Reject(state.Conflict, "subject %s already has a key", subject)
	}
	return put(tx, &Record{Subject: subject, KeyID: f.KeyID, Wrapped: f.Wrapped, Created: tx.Time()})
}

// Require checks that subject's key is alive and is the one with keyID,
// before a command stores fields sealed under it.
func Require(tx *state.Tx, subject string, keyID uint32) error {
	rec, err := get(tx, subject)
	if err != nil {
		return err
	}
	return rec.usable(keyID)
}

func (rec *Record) usable(keyID uint32) error {
	if rec.Shredded != nil {
		return state.Reject(CodeShredded, "subject %s was shredded at %s", rec.Subject, rec.Shredded.Format(time.RFC3339))
	}
	if rec.KeyID != keyID {
		return state.Reject(CodeWrongKey, "fields sealed under key %08x, subject %s has key %08x", keyID, rec.Subject, rec.KeyID)
	}
	return nil
}

// Key reads and unwraps subject's key from a read or a command's view.
func Key(r interface {
	Get(bucket string, key []byte) ([]byte, error)
}, keys *keyring.Keyring, subject string) (*subjectkey.Key, error) {
	b, err := r.Get(Bucket, []byte(subject))
	if err != nil {
		return nil, err
	}
	if b == nil {
		return nil, state.Reject(state.NotFound, "subject %s has no key", subject)
	}
	var rec Record
	if err := json.Unmarshal(b, &rec); err != nil {
		return nil, err
	}
	if rec.Shredded != nil {
		return nil, state.Reject(CodeShredded, "subject %s was shredded at %s", subject, rec.Shredded.Format(time.RFC3339))
	}
	return subjectkey.Unwrap(keys, subject, rec.Wrapped)
}

func get(tx *state.Tx, subject string) (*Record, error) {
	b, err := tx.Get(Bucket, []byte(subject))
	if err != nil {
		return nil, err
	}
	if b == nil {
		return nil, state.Reject(state.NotFound, "subject %s has no key", subject)
	}
	var rec Record
	if err := json.Unmarshal(b, &rec); err != nil {
		return nil, fmt.Errorf("subjects: %s: %w", subject, err)
	}
	return &rec, nil
}

func put(tx *state.Tx, rec *Record) error {
	b, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	return tx.Put(Bucket, []byte(rec.Subject), b)
}

// FeedIdentity is a subject's sealed fields as a gateway feed entry takes
// them in a command: the entry keeps the envelope and hashes its plaintext,
// opened under the subject's key as the command sees it (a subject created
// by the same command included).
func FeedIdentity(tx *state.Tx, subject, aad string, env Sealed) *feed.Identity {
	return &feed.Identity{AAD: aad, Envelope: env, Open: func(aad string, env []byte) ([]byte, error) {
		k, err := Key(tx, tx.Keys(), subject)
		if err != nil {
			return nil, err
		}
		return k.Open([]byte(aad), env)
	}}
}

// FeedOpener opens the identities of feed entries for a page: under each
// subject's key, or feed.ErrDestroyed once the subject is shredded.
func FeedOpener(r *state.ReadTx, keys *keyring.Keyring) feed.Opener {
	cache := map[string]*subjectkey.Key{}
	return func(subject, aad string, env []byte) ([]byte, error) {
		k, ok := cache[subject]
		if !ok {
			var err error
			if k, err = Key(r, keys, subject); CodeShredded.Is(err) {
				return nil, feed.ErrDestroyed
			} else if err != nil {
				return nil, err
			}
			cache[subject] = k
		}
		return k.Open([]byte(aad), env)
	}
}

// Sealed is a personal field as records keep it: the envelope under the
// subject's key (which names the key).
type Sealed []byte

// Seal encodes v as JSON and seals it for the record and field named by aad.
func Seal(k *subjectkey.Key, aad string, v any) (Sealed, error) {
	return seal(k, aad, v, nil)
}

// SealSum is Seal that also returns the SM3 of the plaintext sealed: what
// a feed entry hashes of the field (feed.Identity.SM3), computed where the
// plaintext is at hand rather than by opening the envelope again.
func SealSum(k *subjectkey.Key, aad string, v any) (Sealed, [sm.HashSize]byte, error) {
	var sum [sm.HashSize]byte
	env, err := seal(k, aad, v, &sum)
	return env, sum, err
}

// seal encodes v and seals it; sum, if not nil, receives the SM3 of the
// plaintext (only SealSum's callers pay for it).
func seal(k *subjectkey.Key, aad string, v any, sum *[sm.HashSize]byte) (Sealed, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	defer clear(b)
	if sum != nil {
		*sum = sm.Sum(b)
	}
	return k.Seal([]byte(aad), b)
}

// Open opens a field sealed by Seal into v.
func Open(k *subjectkey.Key, aad string, s Sealed, v any) error {
	b, err := k.Open([]byte(aad), s)
	if err != nil {
		return err
	}
	defer clear(b)
	return json.Unmarshal(b, v)
}
