package state

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"

	"cxt/crypto/keyring"
	"cxt/crypto/sm"
)

func snapshotOf(t *testing.T, st *State) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := st.WriteSnapshot(&b); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// mustKeepServing checks that a node whose restore was refused still has
// its old state and still applies entries.
func mustKeepServing(t *testing.T, f *fixture, path string, before []byte, hash [sm.HashSize]byte) {
	t.Helper()
	if h, _, err := f.st.Hash(); err != nil || h != hash {
		t.Fatalf("the state changed: %v", err)
	}
	if after, _ := os.ReadFile(path); !bytes.Equal(before, after) {
		t.Fatal("the state file was replaced")
	}
	if f.get("mine") != "1" {
		t.Fatal("the node lost its value")
	}
	f.apply(put("later=2"))
	if f.get("later") != "2" {
		t.Fatal("the node stopped applying")
	}
	if leftovers, _ := filepath.Glob(filepath.Join(filepath.Dir(path), ".restore-*")); len(leftovers) != 0 {
		t.Fatalf("temporary files left: %v", leftovers)
	}
}

func TestAForeignSnapshotIsRefusedAndTheNodeKeepsServing(t *testing.T) {
	other := newFixture(t, t.TempDir(), keyring.NewMasterKey())
	other.apply(other.installTerm(1), put("theirs=1"), put("more=2"), put("andmore=3"))
	sameKey := keyring.NewMasterKey()
	sibling := newFixture(t, t.TempDir(), sameKey) // another cluster under the same master key
	sibling.apply(sibling.installTerm(1), put("theirs=1"), put("more=2"), put("andmore=3"))

	dir := t.TempDir()
	f := newFixture(t, dir, sameKey)
	f.apply(f.installTerm(1), put("mine=1"))
	path := filepath.Join(dir, "state.db")
	for _, c := range []struct {
		name string
		snap []byte
		says string
	}{
		{"another master key", snapshotOf(t, other.st), "do not unwrap with this node's master key"},
		{"the same master key, other key terms", snapshotOf(t, sibling.st), "term 1 is held with another secret"},
	} {
		t.Run(c.name, func(t *testing.T) {
			before, _ := os.ReadFile(path)
			hash, _, _ := f.st.Hash()
			err := f.st.Restore(bytes.NewReader(c.snap))
			if !errors.Is(err, ErrForeignSnapshot) || !strings.Contains(err.Error(), c.says) {
				t.Fatalf("foreign snapshot: %v", err)
			}
			mustKeepServing(t, f, path, before, hash)
		})
	}
}

func TestASnapshotBehindTheNodeIsRefused(t *testing.T) {
	dir := t.TempDir()
	f := newFixture(t, dir, keyring.NewMasterKey())
	f.apply(f.installTerm(1), put("mine=1"))
	old := snapshotOf(t, f.st)
	f.apply(put("x=1"))
	path := filepath.Join(dir, "state.db")
	before, _ := os.ReadFile(path)
	hash, _, _ := f.st.Hash()
	if err := f.st.Restore(bytes.NewReader(old)); err == nil || !strings.Contains(err.Error(), "would roll the state back") {
		t.Fatalf("an older snapshot: %v", err)
	}
	mustKeepServing(t, f, path, before, hash)
}

func TestASnapshotOfATamperedFileOrWithAnAlteredTrailerIsRefused(t *testing.T) {
	// The source: a file with an older record put back, which the sender's
	// cheap check (MAC, index, audit head) lets through.
	s := newStopped(t)
	s.raw(func(tx *bolt.Tx) error {
		return tx.Bucket([]byte("kv")).Put([]byte("balance"), s.early["kv/balance"])
	})
	keys, _ := keyring.New(s.master)
	src, err := OpenWith(s.path, testRegistry(), keys, s.master, Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	tampered := snapshotOf(t, src)
	src.Close()

	dir := t.TempDir()
	f := newFixture(t, dir, s.master)
	f.apply(put("mine=1"))
	path := filepath.Join(dir, "state.db")
	before, _ := os.ReadFile(path)
	hash, _, _ := f.st.Hash()
	if err := f.st.Restore(bytes.NewReader(tampered)); !errors.Is(err, ErrTampered) {
		t.Fatalf("a snapshot of a tampered file: %v", err)
	}
	// A trailer whose MAC was recomputed without the key: SM3 alone is
	// what an attacker can redo.
	good := newFixture(t, t.TempDir(), s.master)
	good.apply(good.installTerm(1), put("a=1"), put("b=2"), put("c=3"))
	snap := bytes.Clone(snapshotOf(t, good.st))
	snap[len(snap)-1] ^= 1
	if err := f.st.Restore(bytes.NewReader(snap)); !errors.Is(err, ErrCorruptFile) || !strings.Contains(err.Error(), "MAC") {
		t.Fatalf("an altered trailer: %v", err)
	}
	// A snapshot with the trailer of a cxt from before state heads.
	body := snapshotOf(t, good.st)
	body = body[:len(body)-trailerSize]
	sum := sm.Sum(body)
	v1 := append(append(bytes.Clone(body), snapshotMagicV1...), u64(uint64(len(body)))...)
	v1 = append(v1, sum[:]...)
	if err := f.st.Restore(bytes.NewReader(v1)); !errors.Is(err, ErrCorruptFile) || !strings.Contains(err.Error(), "before state heads") {
		t.Fatalf("an old snapshot: %v", err)
	}
	mustKeepServing(t, f, path, before, hash)
}
