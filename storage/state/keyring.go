package state

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"time"

	"cxt/crypto/keyring"
	"cxt/crypto/sm"
)

// Key-term commands. Install adds a term; rekey and settle move every term
// from one master key to another in two replicated steps (see rekey below).
const (
	CmdInstallTerm = "keyring.install"
	CmdRekey       = "keyring.rekey"
	CmdSettleKeys  = "keyring.settle"
)

// RekeySet is the command set that brought rekeying: keyring.rekey,
// keyring.settle, and install bodies that name the master key that wrapped
// them. An older binary cannot read such a body, so none is proposed before
// the cluster speaks this set.
const RekeySet = 2

// Refusals of the key-term commands.
var (
	// StaleMasterKey: the command was made for a master key the keyring is
	// no longer (or not yet) wrapped by; make it again.
	StaleMasterKey  = NewCode(KindConflict, "stale_master_key")
	RekeyIncomplete = NewCode(KindInvalid, "rekey_incomplete")
)

// The keyring bucket holds, under term n >= 1, the term's secret wrapped by a
// master key: either one bare wrapping (files from before rekeying existed)
// or records of [master-key verifier 32][wrapping 60], one per master key
// that may open it. Under term 0, which is never installed, it holds the
// masterRecord. Verifiers are not secret: node.json carries them too.
const (
	wrappedSize = sm.NonceSize + keyring.SecretSize + sm.TagSize
	verifierLen = sm.HashSize
	recordSize  = verifierLen + wrappedSize
)

// masterRecord says which master key the keyring is wrapped by (Current) and,
// during a rekey, which one it is moving to (Pending). Origin holds, in the
// terms' record format, the secret term 0's MAC keys derive from — the
// state digest's, which must not change for the life of the file while
// term 0 itself follows the master key (keyring.WrapOrigin).
type masterRecord struct {
	Current []byte `json:"current"`
	Pending []byte `json:"pending,omitempty"`
	Origin  []byte `json:"origin"`
}

// InstallTermCommand returns the command that adds term n, its secret wrapped
// by master. The caller seals it with SealTerm0 (see Propose in cluster).
// The body is the format every binary reads; see InstallTermCommandFor.
func InstallTermCommand(master *keyring.MasterKey, n uint32, secret []byte, now time.Time) (*Command, error) {
	return InstallTermCommandFor(1, master, n, secret, now)
}

// InstallTermCommandFor is InstallTermCommand for a cluster that speaks
// command set set: from RekeySet on, the body also carries the verifier of
// master, so that a term wrapped by a key a rekey replaced is refused alike
// on every replica instead of stopping them.
func InstallTermCommandFor(set uint32, master *keyring.MasterKey, n uint32, secret []byte, now time.Time) (*Command, error) {
	wrapped, err := master.Wrap(termName(n), secret)
	if err != nil {
		return nil, err
	}
	body := binary.BigEndian.AppendUint32(nil, n)
	if set >= RekeySet {
		body = append(body, master.Verifier()...)
	}
	return NewCommand(CmdInstallTerm, append(body, wrapped...), now), nil
}

func termName(n uint32) string { return fmt.Sprintf("term/%d", n) }

func applyInstallTerm(tx *Tx, cmd *Command) ([]byte, error) {
	if len(cmd.Body) != 4+wrappedSize && len(cmd.Body) != 4+recordSize {
		return nil, Reject(InvalidRequest, "keyring.install: a body of %d bytes", len(cmd.Body))
	}
	n := binary.BigEndian.Uint32(cmd.Body)
	if n == 0 {
		return nil, Reject(InvalidRequest, "keyring.install: term 0 is derived, not installed")
	}
	value := cmd.Body[4:]
	if prev, err := tx.Get(bucketKeyring, termKey(n)); err != nil {
		return nil, err
	} else if prev != nil {
		return nil, Reject(Conflict, "keyring.install: term %d is already installed", n)
	}
	if len(value) == recordSize {
		if set, err := tx.commandSet(); err != nil {
			return nil, err
		} else if set < RekeySet {
			return nil, Reject(Unavailable, "keyring.install: a body naming its master key belongs to command set %d; the cluster speaks %d", RekeySet, set)
		}
	}
	// A term wrapped by a master key other than the keyring's (an install
	// proposed, or approved, before a rekey) would be unreadable after it.
	// The check reads only replicated state, so every replica, and every
	// replay, decides alike.
	rec, err := readMasterRecord(tx)
	if err != nil {
		return nil, err
	}
	if rec != nil && (rec.Pending != nil || len(value) != recordSize || !bytes.Equal(value[:verifierLen], rec.Current)) {
		return nil, Reject(StaleMasterKey, "keyring.install: the term is not wrapped by the master key in force (a rekey happened or is under way); rotate again")
	}
	// Every replica holds the master key the proposer wrapped the secret
	// with, so a secret that does not unwrap was damaged here: an error,
	// not a rejection, and the file stays as it was.
	wrapped, err := wrappingFor(n, value, tx.st.master.Verifier())
	if err != nil {
		return nil, fmt.Errorf("keyring.install: %w", err)
	}
	secret, err := tx.st.master.Unwrap(termName(n), wrapped)
	if err != nil {
		return nil, fmt.Errorf("keyring.install: term %d: %w", n, err)
	}
	clear(secret)
	st := tx.st
	tx.OnCommit(func() error { return st.installTerm(n, value) })
	return nil, tx.Put(bucketKeyring, termKey(n), value)
}

func termKey(n uint32) []byte { return binary.BigEndian.AppendUint32(nil, n) }

// installTerm unwraps and installs a term in the in-memory keyring: after
// the transaction that stores it commits (a commit hook), and from the file
// whenever it is opened or restored (reload). For term 0 (the master record
// of a rekeyed file) it checks that this node's master key is one the
// keyring is, or is being, wrapped by, and loads the origin of term 0's MAC
// keys.
func (s *State) installTerm(n uint32, value []byte) error {
	if n == 0 {
		var rec masterRecord
		if err := json.Unmarshal(value, &rec); err != nil {
			return fmt.Errorf("%w: bad master-key record", ErrCorruptFile)
		}
		v := s.master.Verifier()
		if !bytes.Equal(v, rec.Current) && !bytes.Equal(v, rec.Pending) {
			return fmt.Errorf("state: %s is keyed to another master key: %w", s.path, keyring.ErrWrongMasterKey)
		}
		wrapped, err := wrappingFor(0, rec.Origin, v)
		if err != nil {
			return err
		}
		origin, err := keyring.UnwrapOrigin(s.master, wrapped)
		if err != nil {
			return err
		}
		defer clear(origin)
		return s.keys.SetOrigin(origin)
	}
	wrapped, err := wrappingFor(n, value, s.master.Verifier())
	if err != nil {
		return err
	}
	secret, err := s.master.Unwrap(termName(n), wrapped)
	if err != nil {
		return err
	}
	defer clear(secret)
	return s.keys.Install(n, secret)
}

// wrappingFor picks, from a keyring value, the wrapping made by the master
// key with verifier v.
func wrappingFor(n uint32, value, v []byte) ([]byte, error) {
	if len(value) == wrappedSize {
		return value, nil
	}
	recs, err := splitRecords(value)
	if err != nil {
		return nil, err
	}
	for _, r := range recs {
		if bytes.Equal(r[:verifierLen], v) {
			return r[verifierLen:], nil
		}
	}
	return nil, fmt.Errorf("term %d is not wrapped by this master key: %w", n, keyring.ErrWrongMasterKey)
}

func splitRecords(value []byte) ([][]byte, error) {
	if len(value) == 0 || len(value)%recordSize != 0 {
		return nil, fmt.Errorf("%w: bad keyring record of %d bytes", ErrCorruptFile, len(value))
	}
	var out [][]byte
	for len(value) > 0 {
		out = append(out, value[:recordSize])
		value = value[recordSize:]
	}
	return out, nil
}

func readMasterRecord(tx *Tx) (*masterRecord, error) {
	b, err := tx.Get(bucketKeyring, termKey(0))
	if err != nil || b == nil {
		return nil, err
	}
	var rec masterRecord
	if err := json.Unmarshal(b, &rec); err != nil {
		return nil, fmt.Errorf("%w: bad master-key record", ErrCorruptFile)
	}
	return &rec, nil
}

// A rekey moves the keyring from one master key to another in two replicated
// steps, so that the state opens with either key while the node's own files
// (node.json, the node key, master.key) are switched between them — a crash
// at any point leaves a node that unseals with the key its node.json names:
//
//  1. keyring.rekey adds, beside every term's wrapping under the old key, one
//     under the new key, and records the new key as pending;
//  2. keyring.settle keeps only the wrappings of the key the node settled on
//     (the new one once node.json names it, the old one if the switch did not
//     happen) and records it as current.
//
// Terms installed in between are refused (stale_master_key), so that no term
// is left without a wrapping under the key that stays.

// RegisterRekey adds keyring.rekey and keyring.settle, commands of set
// RekeySet; the appliance registers them, and a registry without them
// speaks for a binary that cannot rekey.
func RegisterRekey(r *Registry) {
	r.HandleFrom(RekeySet, CmdRekey, applyRekey)
	r.HandleFrom(RekeySet, CmdSettleKeys, applySettleKeys)
}

// Rekey is the body of keyring.rekey.
type Rekey struct {
	From  []byte            `json:"from"`  // verifier of the key the terms are wrapped by now
	To    []byte            `json:"to"`    // verifier of the new key
	Terms map[uint32][]byte `json:"terms"` // every term >= 1, wrapped by the new key
	// The origin of term 0's MAC keys, wrapped by each key.
	OriginFrom []byte `json:"origin_from"`
	OriginTo   []byte `json:"origin_to"`
}

// RekeyCommand returns the keyring.rekey command that re-wraps every term of
// keys from the master key from to the master key to.
func RekeyCommand(keys *keyring.Keyring, from, to *keyring.MasterKey, now time.Time) (*Command, error) {
	r := Rekey{From: from.Verifier(), To: to.Verifier(), Terms: map[uint32][]byte{}}
	for _, n := range keys.Terms() {
		if n == 0 {
			continue
		}
		w, err := keys.WrapTerm(n, to, termName(n))
		if err != nil {
			return nil, err
		}
		r.Terms[n] = w
	}
	var err error
	if r.OriginFrom, err = keys.WrapOrigin(from); err != nil {
		return nil, err
	}
	if r.OriginTo, err = keys.WrapOrigin(to); err != nil {
		return nil, err
	}
	body, err := json.Marshal(r)
	if err != nil {
		return nil, err
	}
	return NewCommand(CmdRekey, body, now), nil
}

func applyRekey(tx *Tx, cmd *Command) ([]byte, error) {
	var r Rekey
	if err := json.Unmarshal(cmd.Body, &r); err != nil {
		return nil, Reject(InvalidRequest, "keyring.rekey: %v", err)
	}
	if len(r.From) != verifierLen || len(r.To) != verifierLen || bytes.Equal(r.From, r.To) {
		return nil, Reject(InvalidRequest, "keyring.rekey: two different master-key verifiers are needed")
	}
	rec, err := readMasterRecord(tx)
	if err != nil {
		return nil, err
	}
	if rec != nil && !bytes.Equal(rec.Current, r.From) {
		return nil, Reject(StaleMasterKey, "keyring.rekey: the keyring is not wrapped by the key the rekey starts from")
	}
	seen := 0
	_, err = tx.Scan(bucketKeyring, termKey(0), math.MaxInt, func(k, v []byte) error {
		n := binary.BigEndian.Uint32(k)
		w, ok := r.Terms[n]
		if !ok || len(w) != wrappedSize {
			return Reject(RekeyIncomplete, "keyring.rekey: term %d has no wrapping under the new key", n)
		}
		seen++
		var keep []byte
		if len(v) == wrappedSize { // a bare wrapping: the key the rekey starts from made it
			keep = append(append(keep, r.From...), v...)
		} else {
			recs, err := splitRecords(v)
			if err != nil {
				return err
			}
			for _, rc := range recs { // drop what an abandoned rekey left
				if bytes.Equal(rc[:verifierLen], r.From) {
					keep = append(keep, rc...)
				}
			}
			if keep == nil {
				return Reject(StaleMasterKey, "keyring.rekey: term %d is not wrapped by the key the rekey starts from", n)
			}
		}
		keep = append(append(keep, r.To...), w...)
		return tx.Put(bucketKeyring, k, keep)
	})
	if err != nil {
		return nil, err
	}
	if seen != len(r.Terms) {
		return nil, Reject(InvalidRequest, "keyring.rekey: %d wrappings for %d terms", len(r.Terms), seen)
	}
	if err := resealTerm0(tx); err != nil {
		return nil, err
	}
	if len(r.OriginFrom) != wrappedSize || len(r.OriginTo) != wrappedSize {
		return nil, Reject(InvalidRequest, "keyring.rekey: the origin of term 0's MAC keys is missing")
	}
	origin := append(append(bytes.Clone(r.From), r.OriginFrom...), r.To...)
	origin = append(origin, r.OriginTo...)
	if rec != nil { // the key in force keeps the wrapping it has
		if w, err := wrappingFor(0, rec.Origin, r.From); err == nil {
			origin = append(append(append(bytes.Clone(r.From), w...), r.To...), r.OriginTo...)
		}
	}
	b, _ := json.Marshal(masterRecord{Current: r.From, Pending: r.To, Origin: origin})
	return nil, tx.Put(bucketKeyring, termKey(0), b)
}

// resealTerm0 rewrites under the active term every value still sealed under
// term 0, which derives from the master key: the batch that installed term 1
// sealed its own records (its audit entry, its result) before the term was
// in force. After a rekey nothing in the file needs the old key's term 0.
// It reads only the envelopes' headers to find them, in key order.
func resealTerm0(tx *Tx) error {
	names := make([]string, 0, len(tx.st.reg.buckets))
	for name, sealed := range tx.st.reg.buckets {
		if sealed {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	for _, name := range names {
		b := tx.btx.Bucket([]byte(name))
		if b == nil {
			continue
		}
		var keys [][]byte
		if err := b.ForEach(func(k, v []byte) error {
			if n, err := keyring.TermOf(v); err == nil && n == 0 {
				keys = append(keys, bytes.Clone(k))
			}
			return nil
		}); err != nil {
			return err
		}
		for _, k := range keys {
			v, err := tx.Get(name, k) // as this command sees it: a newer write of the batch wins
			if err != nil {
				return err
			}
			if v == nil {
				continue
			}
			if err := tx.Put(name, k, v); err != nil {
				return err
			}
		}
	}
	return nil
}

// SettleKeysCommand returns the keyring.settle command that keeps only the
// wrappings made by the master key with verifier keep.
func SettleKeysCommand(keep []byte, now time.Time) *Command {
	return NewCommand(CmdSettleKeys, bytes.Clone(keep), now)
}

func applySettleKeys(tx *Tx, cmd *Command) ([]byte, error) {
	keep := cmd.Body
	if len(keep) != verifierLen {
		return nil, Reject(InvalidRequest, "keyring.settle: a master-key verifier is needed")
	}
	rec, err := readMasterRecord(tx)
	if err != nil {
		return nil, err
	}
	if rec == nil || (rec.Pending == nil && bytes.Equal(rec.Current, keep)) {
		return nil, nil // nothing under way: settled already
	}
	if !bytes.Equal(keep, rec.Current) && !bytes.Equal(keep, rec.Pending) {
		return nil, Reject(StaleMasterKey, "keyring.settle: the keyring is neither wrapped nor being wrapped by that key")
	}
	_, err = tx.Scan(bucketKeyring, termKey(0), math.MaxInt, func(k, v []byte) error {
		n := binary.BigEndian.Uint32(k)
		w, err := wrappingFor(n, v, keep)
		if err != nil {
			return Reject(StaleMasterKey, "keyring.settle: %v", err)
		}
		return tx.Put(bucketKeyring, k, append(bytes.Clone(keep), w...))
	})
	if err != nil {
		return nil, err
	}
	w, err := wrappingFor(0, rec.Origin, keep)
	if err != nil {
		return nil, Reject(StaleMasterKey, "keyring.settle: %v", err)
	}
	b, _ := json.Marshal(masterRecord{Current: keep, Origin: append(bytes.Clone(keep), w...)})
	return nil, tx.Put(bucketKeyring, termKey(0), b)
}

// MasterKeys returns the verifier of the master key the keyring is wrapped
// by and, while a rekey is under way, the one it is moving to; both are nil
// for a keyring never rekeyed.
func (s *State) MasterKeys() (current, pending []byte, err error) {
	err = s.View(func(r *ReadTx) error {
		b, err := r.Get(bucketKeyring, termKey(0))
		if err != nil || b == nil {
			return err
		}
		var rec masterRecord
		if err := json.Unmarshal(b, &rec); err != nil {
			return fmt.Errorf("%w: bad master-key record", ErrCorruptFile)
		}
		current, pending = rec.Current, rec.Pending
		return nil
	})
	return current, pending, err
}
