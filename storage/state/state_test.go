package state

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"cxt/crypto/keyring"
)

// testRegistry has one sealed bucket and two commands: kv.put writes
// Body as key=value, kv.fail writes and then fails.
func testRegistry() *Registry {
	r := NewRegistry()
	r.Bucket("kv")
	r.Handle("kv.put", func(tx *Tx, cmd *Command) ([]byte, error) {
		k, v, ok := bytes.Cut(cmd.Body, []byte("="))
		if !ok {
			return nil, Reject(InvalidRequest, "want key=value")
		}
		return nil, tx.Put("kv", k, v)
	})
	r.Handle("kv.fail", func(tx *Tx, cmd *Command) ([]byte, error) {
		tx.Put("kv", []byte("half"), []byte("applied"))
		return nil, Reject(Conflict, "refused after writing")
	})
	return r
}

type fixture struct {
	t      *testing.T
	master *keyring.MasterKey
	keys   *keyring.Keyring
	st     *State
	index  uint64
}

func newFixture(t *testing.T, dir string, master *keyring.MasterKey) *fixture {
	t.Helper()
	keys, err := keyring.New(master)
	if err != nil {
		t.Fatal(err)
	}
	st, err := Open(filepath.Join(dir, "state.db"), testRegistry(), keys, master)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return &fixture{t: t, master: master, keys: keys, st: st, index: st.AppliedIndex()}
}

func (f *fixture) entry(cmd *Command) Entry {
	f.t.Helper()
	data, err := SealCommand(f.keys, cmd)
	if err != nil {
		f.t.Fatal(err)
	}
	f.index++
	return Entry{Index: f.index, Term: 1, Commands: [][]byte{data}}
}

func (f *fixture) apply(cmds ...*Command) []Result {
	f.t.Helper()
	entries := make([]Entry, len(cmds))
	for i, c := range cmds {
		entries[i] = f.entry(c)
	}
	res, err := f.st.ApplyBatch(entries)
	if err != nil {
		f.t.Fatal(err)
	}
	var out []Result
	for _, r := range res {
		out = append(out, r...)
	}
	return out
}

func (f *fixture) installTerm(n uint32) *Command {
	f.t.Helper()
	cmd, err := InstallTermCommand(f.master, n, keyring.NewSecret(), time.Now())
	if err != nil {
		f.t.Fatal(err)
	}
	return cmd
}

func put(kv string) *Command { return NewCommand("kv.put", []byte(kv), time.Now()) }

func (f *fixture) get(key string) string {
	f.t.Helper()
	var out []byte
	if err := f.st.View(func(r *ReadTx) error {
		var err error
		out, err = r.Get("kv", []byte(key))
		return err
	}); err != nil {
		f.t.Fatal(err)
	}
	return string(out)
}

func TestABatchAppliesInOrderAndAdvancesTheIndex(t *testing.T) {
	f := newFixture(t, t.TempDir(), keyring.NewMasterKey())
	res := f.apply(f.installTerm(1), put("a=1"), put("b=2"), put("a=3"))
	for i, r := range res {
		if r.Err != nil {
			t.Fatalf("command %d rejected: %v", i, r.Err)
		}
	}
	if f.get("a") != "3" || f.get("b") != "2" {
		t.Fatalf("a=%q b=%q", f.get("a"), f.get("b"))
	}
	if f.st.AppliedIndex() != 4 {
		t.Fatalf("applied index %d, want 4", f.st.AppliedIndex())
	}
	if f.keys.Active() != 1 {
		t.Fatal("term installed in the batch is not active")
	}
}

func TestAFailedCommandLeavesNothingBehind(t *testing.T) {
	f := newFixture(t, t.TempDir(), keyring.NewMasterKey())
	res := f.apply(f.installTerm(1), put("x=1"), NewCommand("kv.fail", nil, time.Now()), put("y=2"))
	if res[2].Err == nil || res[2].Err.Code != "conflict" {
		t.Fatalf("kv.fail result %+v", res[2])
	}
	if f.get("half") != "" {
		t.Fatal("a rejected command's write was kept")
	}
	if f.get("x") != "1" || f.get("y") != "2" {
		t.Fatal("neighbours of a rejected command were lost")
	}
}

func TestAReproposedCommandTakesEffectOnce(t *testing.T) {
	f := newFixture(t, t.TempDir(), keyring.NewMasterKey())
	f.apply(f.installTerm(1))
	cmd := put("k=first")
	f.apply(cmd)
	f.apply(put("k=second"))
	res := f.apply(cmd) // the same command, proposed again after a timeout
	if res[0].Err != nil {
		t.Fatal(res[0].Err)
	}
	if f.get("k") != "second" {
		t.Fatalf("re-proposal applied again: k=%q", f.get("k"))
	}
}

func TestReplayingAppliedEntriesIsANoOp(t *testing.T) {
	f := newFixture(t, t.TempDir(), keyring.NewMasterKey())
	entries := []Entry{f.entry(f.installTerm(1)), f.entry(put("a=1"))}
	if _, err := f.st.ApplyBatch(entries); err != nil {
		t.Fatal(err)
	}
	f.apply(put("a=2"))
	if _, err := f.st.ApplyBatch(entries); err != nil { // as after a restart
		t.Fatal(err)
	}
	if f.get("a") != "2" {
		t.Fatalf("old entries re-applied: a=%q", f.get("a"))
	}
}

func TestValuesAreSealedOnDisk(t *testing.T) {
	dir := t.TempDir()
	f := newFixture(t, dir, keyring.NewMasterKey())
	marker := "CANARY-110101199003074514"
	f.apply(f.installTerm(1), put("w1="+marker))
	f.st.Close()
	raw, _ := os.ReadFile(filepath.Join(dir, "state.db"))
	if bytes.Contains(raw, []byte(marker)) {
		t.Fatal("plaintext value found in the bbolt file")
	}
}

func TestStateSurvivesReopenWithTheMasterKeyOnly(t *testing.T) {
	dir := t.TempDir()
	master := keyring.NewMasterKey()
	f := newFixture(t, dir, master)
	f.apply(f.installTerm(1), put("a=1"), f.installTerm(2), put("b=2"))
	f.st.Close()

	g := newFixture(t, dir, master)
	if g.get("a") != "1" || g.get("b") != "2" || g.keys.Active() != 2 {
		t.Fatalf("after reopen a=%q b=%q term=%d", g.get("a"), g.get("b"), g.keys.Active())
	}
	g.st.Close()

	keys, _ := keyring.New(keyring.NewMasterKey())
	if _, err := Open(filepath.Join(dir, "state.db"), testRegistry(), keys, keyring.NewMasterKey()); !errors.Is(err, keyring.ErrWrongMasterKey) {
		t.Fatalf("opened with a wrong master key: %v", err)
	}
}

func TestSnapshotRestoreReproducesTheState(t *testing.T) {
	master := keyring.NewMasterKey()
	a := newFixture(t, t.TempDir(), master)
	a.apply(a.installTerm(1), put("a=1"), put("b=2"))
	var snap bytes.Buffer
	if err := a.st.WriteSnapshot(&snap); err != nil {
		t.Fatal(err)
	}
	b := newFixture(t, t.TempDir(), master)
	if err := b.st.Restore(bytes.NewReader(snap.Bytes())); err != nil {
		t.Fatal(err)
	}
	ha, ia, _ := a.st.Hash()
	hb, ib, _ := b.st.Hash()
	if ha != hb || ia != ib {
		t.Fatalf("restored state differs: %x@%d vs %x@%d", ha, ia, hb, ib)
	}
	if b.get("b") != "2" {
		t.Fatal("restored value missing")
	}
}

func TestATruncatedSnapshotLeavesTheStateUntouched(t *testing.T) {
	master := keyring.NewMasterKey()
	a := newFixture(t, t.TempDir(), master)
	install := a.entry(a.installTerm(1))
	a.st.ApplyBatch([]Entry{install})
	a.apply(put("a=1"))
	var snap bytes.Buffer
	a.st.WriteSnapshot(&snap)

	b := newFixture(t, t.TempDir(), master)
	b.st.ApplyBatch([]Entry{install})
	b.index = 1
	b.apply(put("mine=1"))
	before, _, _ := b.st.Hash()
	for _, bad := range [][]byte{
		snap.Bytes()[:snap.Len()/2],                                    // cut in the middle
		snap.Bytes()[:snap.Len()-1],                                    // one byte short
		append(bytes.Clone(snap.Bytes()[:100]), snap.Bytes()[101:]...), // a byte missing inside
	} {
		if err := b.st.Restore(bytes.NewReader(bad)); !errors.Is(err, ErrCorruptFile) {
			t.Fatalf("damaged snapshot: %v", err)
		}
	}
	after, _, _ := b.st.Hash()
	if before != after || b.get("mine") != "1" {
		t.Fatal("a failed restore changed the state")
	}
}

func TestACorruptFileIsRefusedWithAClearError(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "state.db")
	os.WriteFile(path, bytes.Repeat([]byte("not bbolt"), 1000), 0o600)
	keys, _ := keyring.New(keyring.NewMasterKey())
	_, err := Open(path, testRegistry(), keys, keyring.NewMasterKey())
	if !errors.Is(err, ErrCorruptFile) {
		t.Fatalf("corrupt file: %v", err)
	}
	if raw, _ := os.ReadFile(path); !bytes.HasPrefix(raw, []byte("not bbolt")) {
		t.Fatal("the corrupt file was overwritten")
	}
}

func TestReplicasWriteIdenticalBytes(t *testing.T) {
	master := keyring.NewMasterKey()
	a := newFixture(t, t.TempDir(), master)
	b := newFixture(t, t.TempDir(), master)
	var entries []Entry
	for _, c := range []*Command{a.installTerm(1), put("x=1"), put("y=2")} {
		entries = append(entries, a.entry(c))
	}
	a.st.ApplyBatch(entries)
	b.st.ApplyBatch(entries)
	ha, _, _ := a.st.Hash()
	hb, _, _ := b.st.Hash()
	if ha != hb {
		t.Fatal("replicas diverged")
	}
}

func TestOneEntryCarriesABatchOfCommands(t *testing.T) {
	f := newFixture(t, t.TempDir(), keyring.NewMasterKey())
	f.apply(f.installTerm(1))
	var sealed [][]byte
	for _, c := range []*Command{put("a=1"), NewCommand("kv.fail", nil, time.Now()), put("b=2")} {
		s, err := SealCommand(f.keys, c)
		if err != nil {
			t.Fatal(err)
		}
		sealed = append(sealed, s)
	}
	cmds, err := DecodeEntry(EncodeEntry(sealed))
	if err != nil || len(cmds) != 3 {
		t.Fatalf("decode: %d commands, %v", len(cmds), err)
	}
	f.index++
	res, err := f.st.ApplyBatch([]Entry{{Index: f.index, Commands: cmds}})
	if err != nil {
		t.Fatal(err)
	}
	if len(res[0]) != 3 || res[0][0].Err != nil || res[0][1].Err == nil || res[0][2].Err != nil {
		t.Fatalf("results %+v", res)
	}
	if f.get("a") != "1" || f.get("b") != "2" || f.get("half") != "" {
		t.Fatal("batch applied wrongly")
	}
}

func FuzzEntryDecoder(f *testing.F) {
	f.Add(EncodeEntry([][]byte{[]byte("one"), {}, []byte("three")}))
	f.Fuzz(func(t *testing.T, data []byte) {
		cmds, err := DecodeEntry(data)
		if err != nil {
			return
		}
		again, err := DecodeEntry(EncodeEntry(cmds))
		if err != nil || len(again) != len(cmds) {
			t.Fatalf("re-encoding changed the entry: %v", err)
		}
	})
}

func TestCommandEncodingRoundTrips(t *testing.T) {
	c := NewCommand("kv.put", []byte("a=b"), time.Unix(1700000000, 5))
	b, _ := c.MarshalBinary()
	var d Command
	if err := d.UnmarshalBinary(b); err != nil {
		t.Fatal(err)
	}
	if d.Type != c.Type || d.ID != c.ID || d.Time != c.Time || !bytes.Equal(d.Body, c.Body) {
		t.Fatalf("%+v != %+v", d, c)
	}
}

func FuzzCommandDecoder(f *testing.F) {
	c := NewCommand("kv.put", []byte("a=b"), time.Unix(1, 0))
	b, _ := c.MarshalBinary()
	f.Add(b)
	f.Fuzz(func(t *testing.T, data []byte) {
		var c Command
		if c.UnmarshalBinary(data) != nil {
			return
		}
		again, _ := c.MarshalBinary()
		var d Command
		if err := d.UnmarshalBinary(again); err != nil || d.Type != c.Type || !bytes.Equal(d.Body, c.Body) {
			t.Fatalf("re-encoding changed the command: %v", err)
		}
	})
}

func TestAFileLeftDirtyByAnotherBootIsSetAsideAndOneFromThisBootIsKept(t *testing.T) {
	master := keyring.NewMasterKey()
	open := func(dir, boot string) *State {
		t.Helper()
		keys, _ := keyring.New(master)
		st, err := OpenWith(filepath.Join(dir, "state.db"), testRegistry(), keys, master, Options{BootID: boot})
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	dir := t.TempDir()
	f := &fixture{t: t, master: master}
	f.st = open(dir, "boot-A")
	f.keys = f.st.Keys()
	f.apply(f.installTerm(1), put("a=1"))
	// Copy the files as a crash would leave them: open, marker present.
	crashed := func() string {
		d := t.TempDir()
		for _, name := range []string{"state.db", "state.db.dirty"} {
			b, err := os.ReadFile(filepath.Join(dir, name))
			if err != nil {
				t.Fatal(err)
			}
			os.WriteFile(filepath.Join(d, name), b, 0o600)
		}
		return d
	}
	sameBoot, otherBoot := crashed(), crashed()
	f.st.Close()
	if _, err := os.Stat(filepath.Join(dir, "state.db.dirty")); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("a clean close left the dirty marker")
	}

	kept := open(sameBoot, "boot-A")
	defer kept.Close()
	if kept.Untrusted() || kept.AppliedIndex() != 2 {
		t.Fatalf("a process crash lost the file: untrusted=%v applied=%d", kept.Untrusted(), kept.AppliedIndex())
	}
	reset := open(otherBoot, "boot-B")
	defer reset.Close()
	if !reset.Untrusted() || reset.AppliedIndex() != 0 {
		t.Fatalf("a file from another boot was trusted: applied=%d", reset.AppliedIndex())
	}
	aside, _ := filepath.Glob(filepath.Join(otherBoot, "state.db.untrusted-*"))
	if len(aside) != 1 {
		t.Fatal("the untrusted file was not kept aside")
	}
}
