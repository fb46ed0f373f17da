package workers

import (
	"bytes"
	"encoding/hex"
	"strings"
	"time"

	"cxt/appliance/subjects"
	"cxt/crypto/sm"
	"cxt/crypto/subjectkey"
	"cxt/storage/state"
)

// Restriction says why a worker's personal information is only stored and
// kept secure, no longer processed (PIPL art. 47 ¶2; GB/T 35273 §8.5), from
// when, and until when where a retention period says so.
type Restriction struct {
	Since time.Time `json:"since"`
	// Basis is why: the legal retention the platform keeps the data under
	// (a deletion request it cannot carry out yet), a consent to
	// personal_info withdrawn, or an erasure under way.
	Basis string `json:"basis"`
	// Until is when the retention ends, zero for no fixed end.
	Until time.Time `json:"until,omitzero"`
	// Request is the privacy request that restricted the worker, "" for a
	// consent withdrawn.
	Request string `json:"request,omitempty"`
}

// BasisWithdrawn restricts a worker who withdrew their consent to
// personal_info (PIPL art. 15): restored when they give it again.
const BasisWithdrawn = "consent to personal_info withdrawn (PIPL art. 15)"

// CodeRestricted refuses a new link or payment for a worker whose account is
// cancelled or whose processing is restricted.
var CodeRestricted = state.NewCode(state.KindConflict, "worker_restricted")

// Usable refuses a cancelled or restricted worker: what the platform may
// still do with them is store and secure their records, nothing new.
func (w *Worker) Usable() error {
	switch {
	case w.Cancelled != nil:
		return state.Reject(CodeRestricted, "worker %s cancelled their account at %s; nothing new is done with their record", w.ID, w.Cancelled.Format(time.RFC3339))
	case w.Restricted != nil:
		return state.Reject(CodeRestricted, "the processing of worker %s's personal information is restricted since %s: %s", w.ID, w.Restricted.Since.Format(time.RFC3339), w.Restricted.Basis)
	}
	return nil
}

// Put writes a worker's record from another domain's command (the privacy
// rights: a restriction, a cancellation).
func Put(tx *state.Tx, w *Worker) error {
	_, err := put(tx, w)
	return err
}

// Amendment is a correction of a worker's sealed fields (PIPL art. 46),
// sealed and indexed by the proposer under the worker's own key.
type Amendment struct {
	Worker  string
	KeyID   uint32          // the key Private is sealed under
	Private subjects.Sealed // the corrected Private, whole
	// Base is the hex SM3 of the sealed Private the proposer corrected: a
	// record changed since is refused (CodeStale), never overwritten.
	Base string
	// CardIndex is the corrected bank card's blind index, nil if the card
	// is not corrected.
	CardIndex []byte
	// Renamed clears the real-name check: it verified another name.
	Renamed bool
}

// CodeStale refuses a correction of a record that changed since it was
// read.
var CodeStale = state.NewCode(state.KindConflict, "worker_record_changed")

// Amend applies a correction to a worker's record inside a command.
func Amend(tx *state.Tx, a Amendment) (*Worker, error) {
	w, err := Get(tx, a.Worker)
	if err != nil {
		return nil, err
	}
	if PrivateSM3(w.Private) != a.Base {
		return nil, state.Reject(CodeStale, "worker %s's record changed since the correction was prepared; decide again", w.ID)
	}
	if len(a.Private) == 0 {
		return nil, state.Reject(state.InvalidRequest, "a correction carries the sealed record")
	}
	if err := subjects.Require(tx, w.ID, a.KeyID); err != nil {
		return nil, err
	}
	w.Private = a.Private
	if a.CardIndex != nil {
		old, _ := hex.DecodeString(w.CardIndex)
		if err := indexCard(tx, old, a.CardIndex, w.ID); err != nil {
			return nil, err
		}
		w.CardIndex = hex.EncodeToString(a.CardIndex)
	}
	if a.Renamed {
		w.RealName = nil
	}
	_, err = put(tx, w)
	return w, err
}

// PrivateSM3 names a version of a worker's sealed fields (hex SM3 of the
// envelope).
func PrivateSM3(s subjects.Sealed) string {
	h := sm.Sum(s)
	return hex.EncodeToString(h[:])
}

// CheckName admits a corrected name as registration does.
func CheckName(name string) error { return checkName(strings.TrimSpace(name)) }

// Open opens a worker's sealed fields under their key.
func (w *Worker) Open(key *subjectkey.Key) (Private, error) { return w.openWith(key) }

// Own is a recorded check as its worker's own copy shows it: the provider's
// reference opened.
func (c *Check) Own(key *subjectkey.Key, worker, kind string) map[string]any {
	return c.public(key, worker, kind, true)
}

// Forget removes what finds a person by their identifiers, once their
// archive is destroyed: the ID-number and phone blind indexes pointing to
// the worker (so the person, or whoever gets that phone number next, can
// register anew, and nobody can tie the number to the internal ID the kept
// records use), the bank-card and device sightings, and the indexes on the
// record. It runs in the destroying command before the worker's key goes:
// the phone's index is computed from the sealed fields, opened here. Only
// entries that point to this worker are removed.
func Forget(tx *state.Tx, id string) error {
	w, err := Get(tx, id)
	if err != nil {
		return err
	}
	key, err := subjects.Key(tx, tx.Keys(), id)
	if err != nil {
		return err
	}
	p, err := w.Open(key)
	if err != nil {
		return err
	}
	indexKey, err := tx.Keys().IndexKey()
	if err != nil {
		return err
	}
	idIndex, phoneIndex := Indexes(indexKey, p.IDNumber, p.Phone)
	for _, e := range []struct {
		bucket string
		key    []byte
	}{{IDIndexBucket, idIndex}, {PhoneBucket, phoneIndex}} {
		if owner, err := tx.Get(e.bucket, e.key); err != nil {
			return err
		} else if string(owner) == id {
			if err := tx.Delete(e.bucket, e.key); err != nil {
				return err
			}
		}
	}
	if card, err := hex.DecodeString(w.CardIndex); err == nil {
		if err := indexCard(tx, card, nil, id); err != nil {
			return err
		}
	}
	if device, err := hex.DecodeString(w.DeviceIndex); err == nil && len(device) > 0 {
		prefix := append([]byte{sourceTag[SourceDevice]}, device...)
		var mine [][]byte
		if err := tx.Prefix(SourceBucket, prefix, func(k, _ []byte) error {
			if len(k) == len(prefix)+8+len(id) && strings.HasSuffix(string(k), id) {
				mine = append(mine, bytes.Clone(k))
			}
			return nil
		}); err != nil {
			return err
		}
		for _, k := range mine {
			if err := tx.Delete(SourceBucket, k); err != nil {
				return err
			}
		}
	}
	w.IDIndex, w.CardIndex, w.DeviceIndex = "", "", ""
	return Put(tx, w)
}
