package state

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"cxt/crypto/keyring"
)

// newFixtureWith is newFixture over testRegistry plus what extra adds.
func newFixtureWith(t *testing.T, dir string, master *keyring.MasterKey, extra func(*Registry)) *fixture {
	t.Helper()
	keys, err := keyring.New(master)
	if err != nil {
		t.Fatal(err)
	}
	reg := testRegistry()
	if extra != nil {
		extra(reg)
	}
	st, err := Open(filepath.Join(dir, "state.db"), reg, keys, master)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return &fixture{t: t, master: master, keys: keys, st: st, index: st.AppliedIndex()}
}

// applyErr applies cmds as one batch of entries and returns the error.
func (f *fixture) applyErr(cmds ...*Command) error {
	f.t.Helper()
	entries := make([]Entry, len(cmds))
	for i, c := range cmds {
		entries[i] = f.entry(c)
	}
	res, err := f.st.ApplyBatch(entries)
	if err == nil && res == nil {
		f.t.Fatal("no results and no error")
	}
	return err
}

// A replica whose binary does not know a command type cannot answer as its
// peers (which applied it) do: it stops, and writes nothing of the batch.
func TestAReplicaStopsAtACommandTypeItDoesNotKnow(t *testing.T) {
	f := newFixture(t, t.TempDir(), keyring.NewMasterKey())
	f.apply(f.installTerm(1))
	before, _, _ := f.st.Hash()
	applied := f.st.AppliedIndex()

	err := f.applyErr(put("a=1"), NewCommand("kv.from_a_newer_binary", []byte("x"), time.Now()))
	if err == nil {
		t.Fatal("an unknown command type became a result instead of stopping the replica")
	}
	for _, want := range []string{"kv.from_a_newer_binary", "unknown to this cxt", "upgrade"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("the error does not say %q: %v", want, err)
		}
	}
	after, _, _ := f.st.Hash()
	if f.st.AppliedIndex() != applied || before != after || f.get("a") != "" {
		t.Fatal("the batch that stopped the replica left something behind")
	}
}

// Only a deliberate Rejection is a result; any other handler error (a read
// or decrypt failure, a bug) is local to this replica and stops it.
func TestAHandlerErrorThatIsNotARejectionStopsTheReplica(t *testing.T) {
	readFailure := errors.New("read kv/x: input/output error")
	f := newFixtureWith(t, t.TempDir(), keyring.NewMasterKey(), func(r *Registry) {
		r.Handle("kv.broken", func(tx *Tx, cmd *Command) ([]byte, error) {
			tx.Put("kv", []byte("broken"), []byte("half"))
			return nil, readFailure
		})
		r.Handle("kv.wrapped_rejection", func(tx *Tx, cmd *Command) ([]byte, error) {
			return nil, errors.Join(errors.New("context"), Reject(Conflict, "deliberate"))
		})
	})
	f.apply(f.installTerm(1))

	// A rejection stays a result, wrapped or not.
	if res := f.apply(NewCommand("kv.wrapped_rejection", nil, time.Now())); res[0].Err == nil || res[0].Err.Code != "conflict" {
		t.Fatalf("a wrapped rejection: %+v", res[0])
	}
	applied := f.st.AppliedIndex()
	err := f.applyErr(put("a=1"), NewCommand("kv.broken", nil, time.Now()))
	if !errors.Is(err, readFailure) || !strings.Contains(err.Error(), "kv.broken") {
		t.Fatalf("a handler's read failure: %v", err)
	}
	if f.st.AppliedIndex() != applied || f.get("a") != "" || f.get("broken") != "" {
		t.Fatal("the failed batch was committed")
	}
}

// A command that does not open here was damaged here (every proposer seals
// what it proposes under a term every replica holds): stop, do not answer
// "corrupt_command" where the peers applied it.
func TestACommandThatDoesNotOpenStopsTheReplica(t *testing.T) {
	f := newFixture(t, t.TempDir(), keyring.NewMasterKey())
	f.apply(f.installTerm(1))
	e := f.entry(put("a=1"))
	e.Commands[0][len(e.Commands[0])-1] ^= 1 // one bit flipped in this replica's copy
	applied := f.st.AppliedIndex()
	if _, err := f.st.ApplyBatch([]Entry{e}); err == nil || !strings.Contains(err.Error(), "does not open") {
		t.Fatalf("a damaged command: %v", err)
	}
	if f.st.AppliedIndex() != applied {
		t.Fatal("the index moved past a command that was not applied")
	}
}

// A wrapper whose inner command type is unknown stops the replica as a
// top-level one does: Tx.Run no longer answers unknown_command.
func TestARunOfAnUnknownInnerTypeStopsTheReplica(t *testing.T) {
	f := newFixtureWith(t, t.TempDir(), keyring.NewMasterKey(), func(r *Registry) {
		r.Handle("wrap.run", func(tx *Tx, cmd *Command) ([]byte, error) {
			return tx.Run(string(cmd.Body), nil)
		})
	})
	f.apply(f.installTerm(1))
	err := f.applyErr(NewCommand("wrap.run", []byte("kv.from_a_newer_binary"), time.Now()))
	if err == nil || !strings.Contains(err.Error(), "unknown to this cxt") {
		t.Fatalf("an unknown inner type: %v", err)
	}
}

// Command sets: a type of a newer set is proposed only once the cluster
// speaks that set; a binary older than the cluster's set stops at the
// command that raises it and refuses a file that records it.
func TestCommandSetsGateNewTypesAndStopOlderBinaries(t *testing.T) {
	master := keyring.NewMasterKey()
	dir := t.TempDir()
	v2 := func(r *Registry) {
		r.HandleFrom(2, "kv.v2", func(tx *Tx, cmd *Command) ([]byte, error) {
			return nil, tx.Put("kv", []byte("v2"), cmd.Body)
		})
		r.Handle("wrap.run", func(tx *Tx, cmd *Command) ([]byte, error) {
			return tx.Run(string(cmd.Body), []byte("inner"))
		})
	}
	f := newFixtureWith(t, dir, master, v2)
	f.apply(f.installTerm(1))
	if f.st.Speaks() != 2 || f.st.CommandSet() != 1 {
		t.Fatalf("speaks %d, cluster set %d", f.st.Speaks(), f.st.CommandSet())
	}
	if err := f.st.Proposable("kv.v2"); !errors.Is(err, ErrCommandSet) {
		t.Fatalf("kv.v2 proposable before the cluster speaks set 2: %v", err)
	}
	if err := f.st.Proposable("kv.put"); err != nil {
		t.Fatal(err)
	}
	if err := f.st.Proposable("kv.nowhere"); err == nil {
		t.Fatal("an unknown type is proposable")
	}
	// Reached through a wrapper, a type of set 2 is refused alike everywhere.
	res := f.apply(NewCommand("wrap.run", []byte("kv.v2"), time.Now()))
	if res[0].Err == nil || res[0].Err.Kind != KindUnavailable || f.get("v2") != "" {
		t.Fatalf("a set-2 type run before the cluster speaks set 2: %+v", res[0])
	}

	// An older binary (set 1) sharing the log stops at the raise.
	old := newFixture(t, t.TempDir(), master)
	old.apply(old.installTerm(1))
	raise := CommandSetCommand(2, time.Now())
	if err := old.applyErr(raise); err == nil || !errors.Is(err, ErrCommandSet) || !strings.Contains(err.Error(), "upgrade") {
		t.Fatalf("a set-1 binary applying the raise to set 2: %v", err)
	}

	res = f.apply(raise)
	if res[0].Err != nil || f.st.CommandSet() != 2 || f.st.Proposable("kv.v2") != nil {
		t.Fatalf("raise: %+v, set %d", res[0], f.st.CommandSet())
	}
	if res := f.apply(NewCommand("wrap.run", []byte("kv.v2"), time.Now())); res[0].Err != nil || f.get("v2") != "inner" {
		t.Fatalf("kv.v2 after the raise: %+v", res[0])
	}
	if res := f.apply(CommandSetCommand(1, time.Now())); res[0].Err == nil || res[0].Err.Code != "conflict" {
		t.Fatalf("a command set was lowered: %+v", res[0])
	}
	f.st.Close()

	// The set survives a restart, and a set-1 binary refuses the file.
	keys, _ := keyring.New(master)
	if _, err := Open(filepath.Join(dir, "state.db"), testRegistry(), keys, master); !errors.Is(err, ErrCommandSet) || !strings.Contains(err.Error(), "upgrade") {
		t.Fatalf("a set-1 binary opened a file of a set-2 cluster: %v", err)
	}
	g := newFixtureWith(t, dir, master, v2)
	if g.st.CommandSet() != 2 {
		t.Fatalf("command set after reopen: %d", g.st.CommandSet())
	}
}
