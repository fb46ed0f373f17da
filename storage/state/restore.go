package state

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"cxt/crypto/keyring"
	"cxt/crypto/sm"
)

// A snapshot's trailer is [magic][length 8][term 4][MAC 32]: HMAC-SM3 under
// the Snapshot key of the term that keys the snapshot's head, over the
// magic, the length, the term and the SM3 of the bbolt file. The receiver
// may not hold that term yet (it is behind: that is why it restores), so
// it checks the MAC with the terms the snapshot itself carries, once their
// wrapping has proved them the cluster's.
var snapshotMagic = []byte("cxtsnap2")

// snapshotMagicV1 ended snapshots written before state heads:
// [magic][length][SM3], 48 bytes.
var snapshotMagicV1 = []byte("cxtsnap1")

const trailerSize = 8 + 8 + 4 + sm.HashSize

// ErrForeignSnapshot is returned for a snapshot of another cluster.
var ErrForeignSnapshot = errors.New("state: the snapshot belongs to another cluster")

type trailer struct {
	length uint64
	term   uint32
	mac    []byte
	digest []byte // SM3 of the bbolt file as received
}

func (t *trailer) signed() [][]byte {
	return [][]byte{snapshotMagic, u64(t.length), binary.BigEndian.AppendUint32(nil, t.term), t.digest}
}

func sealTrailer(keys *keyring.Keyring, term uint32, length uint64, digest []byte) ([]byte, error) {
	m, err := keys.MAC(term, keyring.Snapshot)
	if err != nil {
		return nil, err
	}
	t := trailer{length: length, term: term, digest: digest}
	sum := m.Sum(t.signed()...)
	out := append(bytes.Clone(snapshotMagic), u64(length)...)
	out = binary.BigEndian.AppendUint32(out, term)
	return append(out, sum[:]...), nil
}

// parseTrailer reads the trailer held back from a snapshot of n bytes
// whose SM3 is digest.
func parseTrailer(held []byte, n uint64, digest []byte) (trailer, error) {
	if len(held) == trailerSize && bytes.Equal(held[4:12], snapshotMagicV1) {
		return trailer{}, fmt.Errorf("%w: the snapshot was written by a cxt from before state heads (trailer cxtsnap1); take a new snapshot on a current node", ErrCorruptFile)
	}
	if len(held) != trailerSize || !bytes.Equal(held[:8], snapshotMagic) || binary.BigEndian.Uint64(held[8:16]) != n {
		return trailer{}, fmt.Errorf("%w: snapshot is truncated or altered", ErrCorruptFile)
	}
	return trailer{length: n, term: binary.BigEndian.Uint32(held[16:20]), mac: bytes.Clone(held[20:]), digest: digest}, nil
}

func (t *trailer) verify(keys *keyring.Keyring) error {
	m, err := keys.MAC(t.term, keyring.Snapshot)
	if err != nil {
		return fmt.Errorf("%w: snapshot trailer names key term %d, which the snapshot does not hold", ErrCorruptFile, t.term)
	}
	if sum := m.Sum(t.signed()...); !sm.Equal(sum[:], t.mac) {
		return fmt.Errorf("%w: snapshot is truncated or altered (its trailer's MAC does not verify)", ErrCorruptFile)
	}
	return nil
}

// checkCandidate opens a received snapshot beside the live file and checks
// it as open would, and more, before anything is replaced: its key terms
// unwrap with this node's master key and agree with the terms this node
// holds, its trailer's MAC verifies, its records match its head, and its
// applied index is not behind this node's.
func (s *State) checkCandidate(path string, tr trailer) error {
	keys, err := keyring.New(s.master)
	if err != nil {
		return err
	}
	defer keys.Zero()
	// The candidate's reload hooks must not run: they would rebuild this
	// node's in-memory state (its policy) from a file not yet accepted.
	reg := *s.reg
	reg.reload = nil
	cand, err := OpenWith(path, &reg, keys, s.master, Options{ReadOnly: true})
	if errors.Is(err, keyring.ErrWrongMasterKey) {
		return fmt.Errorf("%w: its key terms do not unwrap with this node's master key (%w)", ErrForeignSnapshot, err)
	}
	if err != nil {
		return err
	}
	defer cand.Close()
	if err := tr.verify(keys); err != nil {
		return err
	}
	if err := s.keys.Agrees(keys); err != nil {
		return fmt.Errorf("%w: %v", ErrForeignSnapshot, err)
	}
	rep, err := cand.CheckHead()
	if err != nil {
		return err
	}
	if !rep.OK {
		return fmt.Errorf("%w: in the snapshot: %s", ErrTampered, rep.Problem)
	}
	if cur := s.applied.Load(); rep.Applied < cur {
		return fmt.Errorf("state: the snapshot is at index %d, behind this node's state at %d: restoring it would roll the state back", rep.Applied, cur)
	}
	return nil
}

// swapIn renames a checked snapshot file over the state file and opens it.
// Should that open fail, the previous file, kept by a hard link until the
// new one is open, is put back and opened again: the node is never left
// without a state file. The caller holds s.mu.
func (s *State) swapIn(tmp string) error {
	dir := filepath.Dir(s.path)
	backup := s.path + ".pre-restore"
	os.Remove(backup)
	kept := os.Link(s.path, backup) == nil
	if err := os.Rename(tmp, s.path); err != nil {
		if kept {
			os.Remove(backup)
		}
		return err // s.db is untouched and still serves
	}
	if s.db != nil {
		s.db.Close()
		s.db = nil
	}
	err := syncDir(dir)
	if err == nil {
		err = s.open()
	}
	if err == nil {
		if kept {
			os.Remove(backup)
		}
		return nil
	}
	if !kept {
		return fmt.Errorf("state: the restored file does not open: %w", err)
	}
	if s.db != nil {
		s.db.Close()
		s.db = nil
	}
	if rerr := os.Rename(backup, s.path); rerr != nil {
		return errors.Join(fmt.Errorf("state: the restored file does not open: %w", err), rerr)
	}
	syncDir(dir)
	if rerr := s.open(); rerr != nil {
		return errors.Join(fmt.Errorf("state: the restored file does not open: %w", err), rerr)
	}
	return fmt.Errorf("state: the restored file does not open; the previous one is back in place: %w", err)
}
