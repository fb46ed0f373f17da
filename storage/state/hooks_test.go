package state

import (
	"bytes"
	"encoding/binary"
	"slices"
	"testing"
	"time"

	"cxt/crypto/keyring"
)

// A wrapper that installs a key term through Tx.Run and then fails must
// leave the term out of memory too: its secret was discarded with the
// command, so values sealed under it would be unreadable after a restart,
// and the term's real install would then meet "another secret".
func TestAWrapperThatInstallsATermAndThenFailsLeavesNoTermInMemory(t *testing.T) {
	dir := t.TempDir()
	master := keyring.NewMasterKey()
	wrap := func(r *Registry) {
		r.Handle("wrap.install_then_fail", func(tx *Tx, cmd *Command) ([]byte, error) {
			if _, err := tx.Run(CmdInstallTerm, cmd.Body); err != nil {
				return nil, err
			}
			return nil, Reject(Conflict, "refused after installing")
		})
	}
	f := newFixtureWith(t, dir, master, wrap)
	f.apply(f.installTerm(1))

	inner := f.installTerm(2)
	res := f.apply(NewCommand("wrap.install_then_fail", inner.Body, time.Now()))
	if res[0].Err == nil {
		t.Fatal("the wrapper did not fail")
	}
	if f.keys.Active() != 1 || slices.Contains(f.keys.Terms(), 2) {
		t.Fatalf("a failed command left term 2 in memory: active %d, terms %v", f.keys.Active(), f.keys.Terms())
	}
	// Values go on being sealed under term 1, readable after a restart.
	f.apply(put("a=1"))
	// The real rotation installs term 2 with its own secret.
	if res := f.apply(f.installTerm(2)); res[0].Err != nil {
		t.Fatalf("the real install of term 2: %v", res[0].Err)
	}
	if f.keys.Active() != 2 {
		t.Fatalf("active term %d after the real install", f.keys.Active())
	}
	f.apply(put("b=2"))
	f.st.Close()
	g := newFixtureWith(t, dir, master, wrap)
	if g.get("a") != "1" || g.get("b") != "2" || g.keys.Active() != 2 {
		t.Fatalf("after restart: a=%q b=%q active=%d", g.get("a"), g.get("b"), g.keys.Active())
	}
}

// Commit hooks run after the batch's transaction commits, in the order
// registered; a failed command and a batch that cannot commit run none.
func TestCommitHooksRunInOrderOnlyAfterTheirBatchCommits(t *testing.T) {
	var ran []string
	var st *State
	f := newFixtureWith(t, t.TempDir(), keyring.NewMasterKey(), func(r *Registry) {
		r.Handle("hook.note", func(tx *Tx, cmd *Command) ([]byte, error) {
			index := tx.Index()
			for _, name := range bytes.Split(cmd.Body, []byte(",")) {
				tx.OnCommit(func() error {
					if st.AppliedIndex() < index {
						t.Errorf("hook %s ran before entry %d committed", name, index)
					}
					ran = append(ran, string(name))
					return nil
				})
			}
			if bytes.HasPrefix(cmd.Body, []byte("refuse")) {
				return nil, Reject(Conflict, "refused")
			}
			return nil, tx.Put("kv", []byte("noted"), cmd.Body)
		})
	})
	st = f.st
	f.apply(f.installTerm(1))

	f.apply(NewCommand("hook.note", []byte("a,b"), time.Now()), NewCommand("hook.note", []byte("c"), time.Now()))
	if !slices.Equal(ran, []string{"a", "b", "c"}) {
		t.Fatalf("hooks ran %v, want a b c", ran)
	}
	ran = nil
	f.apply(NewCommand("hook.note", []byte("refuse,x"), time.Now()))
	if len(ran) != 0 {
		t.Fatalf("a rejected command's hooks ran: %v", ran)
	}
	// One entry: a command with hooks, then one that stops the replica.
	data1, _ := SealCommand(f.keys, NewCommand("hook.note", []byte("y"), time.Now()))
	data2, _ := SealCommand(f.keys, NewCommand("kv.unknown", nil, time.Now()))
	f.index++
	if _, err := f.st.ApplyBatch([]Entry{{Index: f.index, Commands: [][]byte{data1, data2}}}); err == nil {
		t.Fatal("the batch applied")
	}
	if len(ran) != 0 || f.get("noted") != "c" {
		t.Fatalf("a batch that did not commit ran hooks %v (noted=%q)", ran, f.get("noted"))
	}
}

// An entry may be sealed under the term an earlier entry of the same batch
// installs (its proposer applied the install first): the install's hook
// runs before that entry is opened.
func TestALaterEntryOpensUnderATermAnEarlierEntryOfTheBatchInstalls(t *testing.T) {
	master := keyring.NewMasterKey()
	f := newFixture(t, t.TempDir(), master)
	f.apply(f.installTerm(1))
	secret := keyring.NewSecret()
	install, err := InstallTermCommand(master, 2, secret, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	proposer, _ := keyring.New(master) // a peer that applied the install already
	proposer.Install(1, unwrapTerm(t, f, 1))
	proposer.Install(2, secret)
	late, err := SealCommand(proposer, put("late=yes"))
	if err != nil {
		t.Fatal(err)
	}
	first := f.entry(install)
	f.index++
	res, err := f.st.ApplyBatch([]Entry{first, {Index: f.index, Commands: [][]byte{late}}})
	if err != nil || res[1][0].Err != nil {
		t.Fatalf("apply: %v %+v", err, res)
	}
	if f.get("late") != "yes" || f.st.AppliedIndex() != f.index {
		t.Fatal("the later entry was not applied")
	}
}

// unwrapTerm returns term n's secret as stored in f's file.
func unwrapTerm(t *testing.T, f *fixture, n uint32) []byte {
	t.Helper()
	var secret []byte
	if err := f.st.View(func(r *ReadTx) error {
		w, err := r.Get(bucketKeyring, binary.BigEndian.AppendUint32(nil, n))
		if err != nil {
			return err
		}
		secret, err = f.master.Unwrap(termName(n), w)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return secret
}

// Reload hooks rebuild derived in-memory state whenever the file is opened
// or replaced by a snapshot.
func TestReloadHooksRunAtOpenAndAfterARestore(t *testing.T) {
	master := keyring.NewMasterKey()
	var seen []string
	watch := func(r *Registry) {
		r.OnReload(func(r *ReadTx) error {
			v, err := r.Get("kv", []byte("mode"))
			seen = append(seen, string(v))
			return err
		})
	}
	a := newFixtureWith(t, t.TempDir(), master, watch)
	a.apply(a.installTerm(1), put("mode=strict"), a.installTerm(2))
	var snap bytes.Buffer
	if err := a.st.WriteSnapshot(&snap); err != nil {
		t.Fatal(err)
	}
	seen = nil
	b := newFixtureWith(t, t.TempDir(), master, watch)
	if !slices.Equal(seen, []string{""}) {
		t.Fatalf("at open the hook saw %q", seen)
	}
	if err := b.st.Restore(bytes.NewReader(snap.Bytes())); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(seen, []string{"", "strict"}) {
		t.Fatalf("after the restore the hook saw %q", seen)
	}
	if b.keys.Active() != 2 {
		t.Fatalf("the keyring was not rebuilt from the snapshot: active %d", b.keys.Active())
	}
}
