package state

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"

	"cxt/crypto/keyring"
)

// stopped is a state file with history, closed as a stopped node leaves it.
type stopped struct {
	t      *testing.T
	path   string
	master *keyring.MasterKey
	index  uint64
	early  map[string][]byte // raw bbolt values of kv and meta after the first writes
	copy   []byte            // the whole file after the first writes
}

func newStopped(t *testing.T) *stopped {
	t.Helper()
	dir := t.TempDir()
	s := &stopped{t: t, path: filepath.Join(dir, "state.db"), master: keyring.NewMasterKey(), early: map[string][]byte{}}
	f := newFixture(t, dir, s.master)
	f.apply(f.installTerm(1), put("balance=100.00"), put("owner=alice"))
	f.st.Close()
	s.raw(func(tx *bolt.Tx) error {
		for _, b := range []string{"kv", bucketMeta} {
			tx.Bucket([]byte(b)).ForEach(func(k, v []byte) error {
				s.early[b+"/"+string(k)] = bytes.Clone(v)
				return nil
			})
		}
		return nil
	})
	s.copy, _ = os.ReadFile(s.path)
	f = s.reopen()
	f.apply(put("balance=0.00"), put("owner=mallory"))
	f.apply(put("extra=1"))
	f.st.Close()
	s.index = f.index
	return s
}

func (s *stopped) reopen() *fixture {
	s.t.Helper()
	keys, _ := keyring.New(s.master)
	st, err := Open(s.path, testRegistry(), keys, s.master)
	if err != nil {
		s.t.Fatal(err)
	}
	s.t.Cleanup(func() { st.Close() })
	return &fixture{t: s.t, master: s.master, keys: keys, st: st, index: st.AppliedIndex()}
}

// raw edits the file with bbolt alone, as someone with the disk but not
// the master key would.
func (s *stopped) raw(fn func(tx *bolt.Tx) error) {
	s.t.Helper()
	db, err := bolt.Open(s.path, 0o600, nil)
	if err != nil {
		s.t.Fatal(err)
	}
	if err := db.Update(fn); err != nil {
		s.t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		s.t.Fatal(err)
	}
}

func TestEveryRollbackOrTruncationOfAStoppedFileIsRefusedAtOpen(t *testing.T) {
	cases := map[string]struct {
		edit func(s *stopped, tx *bolt.Tx) error
		says string
	}{
		"the applied index rolled back": {func(s *stopped, tx *bolt.Tx) error {
			return tx.Bucket([]byte(bucketMeta)).Put([]byte("applied"), u64(s.index-1))
		}, "the applied index is 5 but the state head records 6"},
		"the applied index moved on, which would skip log entries": {func(s *stopped, tx *bolt.Tx) error {
			return tx.Bucket([]byte(bucketMeta)).Put([]byte("applied"), u64(s.index+100))
		}, "the applied index is 106"},
		"an older sealed record put back": {func(s *stopped, tx *bolt.Tx) error {
			return tx.Bucket([]byte("kv")).Put([]byte("balance"), s.early["kv/balance"])
		}, "a record was put back from an older copy"},
		"a record removed": {func(s *stopped, tx *bolt.Tx) error {
			return tx.Bucket([]byte("kv")).Delete([]byte("extra"))
		}, "a record was put back from an older copy, removed"},
		"a sealed record moved to another key": {func(s *stopped, tx *bolt.Tx) error {
			return tx.Bucket([]byte("kv")).Put([]byte("copy"), tx.Bucket([]byte("kv")).Get([]byte("owner")))
		}, "the records are not the ones the state head commits to"},
		"an older head put back with its applied index": {func(s *stopped, tx *bolt.Tx) error {
			meta := tx.Bucket([]byte(bucketMeta))
			meta.Put([]byte("applied"), s.early["meta/applied"])
			return meta.Put([]byte(headKey), s.early["meta/"+headKey])
		}, "the records are not the ones the state head commits to"},
		"the head removed and the schema lowered": {func(s *stopped, tx *bolt.Tx) error {
			meta := tx.Bucket([]byte(bucketMeta))
			meta.Delete([]byte(headKey))
			return meta.Put([]byte("schema"), u64(1))
		}, "no state head"},
		"the head removed": {func(s *stopped, tx *bolt.Tx) error {
			return tx.Bucket([]byte(bucketMeta)).Delete([]byte(headKey))
		}, "the state head is missing"},
		"one byte of the head changed": {func(s *stopped, tx *bolt.Tx) error {
			meta := tx.Bucket([]byte(bucketMeta))
			h := bytes.Clone(meta.Get([]byte(headKey)))
			h[10] ^= 1
			return meta.Put([]byte(headKey), h)
		}, "MAC does not verify"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			s := newStopped(t)
			s.raw(func(tx *bolt.Tx) error { return c.edit(s, tx) })
			before, _ := os.ReadFile(s.path)
			keys, _ := keyring.New(s.master)
			_, err := Open(s.path, testRegistry(), keys, s.master)
			if err == nil || !strings.Contains(err.Error(), c.says) {
				t.Fatalf("opened or refused unclearly: %v\nwant it to say %q", err, c.says)
			}
			if after, _ := os.ReadFile(s.path); !bytes.Equal(before, after) {
				t.Fatal("the refused file was changed")
			}
		})
	}
}

func TestRefusedFilesSayTheyWereTamperedWith(t *testing.T) {
	s := newStopped(t)
	s.raw(func(tx *bolt.Tx) error {
		return tx.Bucket([]byte("kv")).Put([]byte("balance"), s.early["kv/balance"])
	})
	keys, _ := keyring.New(s.master)
	if _, err := Open(s.path, testRegistry(), keys, s.master); !errors.Is(err, ErrTampered) {
		t.Fatalf("%v, want ErrTampered", err)
	}
}

func TestAWholeOlderFileIsGenuineAndTheLogCatchesItUp(t *testing.T) {
	// What the head cannot see locally: the whole file put back. It opens
	// at its own, older, applied index, so Raft replays every entry after
	// it; the cluster test shows the node ending up current.
	s := newStopped(t)
	os.WriteFile(s.path, s.copy, 0o600)
	f := s.reopen()
	if f.index != 3 || f.get("balance") != "100.00" {
		t.Fatalf("older file at %d with balance %q", f.index, f.get("balance"))
	}
}

func TestASnapshotIsServedOnlyFromAFileThatMatchesItsHead(t *testing.T) {
	s := newStopped(t)
	s.raw(func(tx *bolt.Tx) error {
		return tx.Bucket([]byte(bucketMeta)).Put([]byte("applied"), u64(s.index+100))
	})
	keys, _ := keyring.New(s.master)
	// A read-only open checks nothing (verifiers report instead).
	st, err := OpenWith(s.path, testRegistry(), keys, s.master, Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.WriteSnapshot(io.Discard); !errors.Is(err, ErrTampered) {
		t.Fatalf("a snapshot of a tampered file: %v", err)
	}
	rep, err := st.CheckHead()
	if err != nil || rep.OK || rep.Applied != s.index || !strings.Contains(rep.Problem, "applied index") {
		t.Fatalf("CheckHead: %+v %v", rep, err)
	}
}

func TestTheHeadFollowsEveryBatchAndSurvivesRestarts(t *testing.T) {
	s := newStopped(t)
	f := s.reopen()
	rep, err := f.st.CheckHead()
	if err != nil || !rep.OK || rep.Applied != s.index || rep.Term != 1 {
		t.Fatalf("%+v %v", rep, err)
	}
	f.apply(put("balance=5.00"), NewCommand("kv.fail", nil, f.installTerm(2).When()))
	f.apply(f.installTerm(2), put("owner=bob"))
	if rep, err = f.st.CheckHead(); err != nil || !rep.OK || rep.Term != 2 {
		t.Fatalf("after a rotation: %+v %v", rep, err)
	}
}
