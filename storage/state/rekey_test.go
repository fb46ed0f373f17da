package state

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"path/filepath"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"cxt/crypto/keyring"
)

func openWith(t *testing.T, dir string, master *keyring.MasterKey) (*State, error) {
	t.Helper()
	keys, err := keyring.New(master)
	if err != nil {
		t.Fatal(err)
	}
	reg := testRegistry()
	RegisterRekey(reg)
	st, err := Open(filepath.Join(dir, "state.db"), reg, keys, master)
	if err == nil {
		t.Cleanup(func() { st.Close() })
	}
	return st, err
}

// rekeyFixture is a fixture whose registry can rekey.
func rekeyFixture(t *testing.T, dir string, master *keyring.MasterKey) *fixture {
	t.Helper()
	return newFixtureWith(t, dir, master, RegisterRekey)
}

func rejected(t *testing.T, r Result, code string) {
	t.Helper()
	if r.Err == nil || r.Err.Code != code {
		t.Fatalf("result %+v, want the rejection %q", r, code)
	}
}

func TestARekeyMovesEveryTermToTheNewKeyInTwoSteps(t *testing.T) {
	dir := t.TempDir()
	old, next := keyring.NewMasterKey(), keyring.NewMasterKey()
	f := rekeyFixture(t, dir, old)
	f.apply(f.installTerm(1), put("a=1"), f.installTerm(2), put("b=2"), CommandSetCommand(RekeySet, time.Now()))

	if term0Values(t, f.st) == 0 {
		t.Fatal("the fixture has no value under term 0: the re-seal below proves nothing")
	}
	rk, err := RekeyCommand(f.keys, old, next, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if res := f.apply(rk); res[0].Err != nil {
		t.Fatal(res[0].Err)
	}
	// While the rekey is under way, a term wrapped by the old key is refused:
	// it would have no wrapping under the key that stays.
	rejected(t, f.apply(f.installTerm(3))[0], "stale_master_key")
	cur, pending, err := f.st.MasterKeys()
	if err != nil || string(cur) != string(old.Verifier()) || string(pending) != string(next.Verifier()) {
		t.Fatalf("master keys %x %x %v", cur, pending, err)
	}
	f.st.Close()

	// Between the two steps the file opens with either key: a crash while
	// node.json is switched leaves a node that unseals.
	for name, m := range map[string]*keyring.MasterKey{"old": old, "new": next} {
		st, err := openWith(t, dir, m)
		if err != nil {
			t.Fatalf("the %s key no longer opens the state mid-rekey: %v", name, err)
		}
		st.Close()
	}

	g := rekeyFixture(t, dir, next)
	if res := g.apply(SettleKeysCommand(next.Verifier(), time.Now())); res[0].Err != nil {
		t.Fatal(res[0].Err)
	}
	if g.get("a") != "1" || g.get("b") != "2" || g.keys.Active() != 2 {
		t.Fatalf("after the rekey a=%q b=%q term=%d", g.get("a"), g.get("b"), g.keys.Active())
	}
	// A term installed now names the new key; one from a proposal made
	// before the rekey (the old key's) is refused, in either body format.
	fresh, _ := InstallTermCommandFor(RekeySet, next, 3, keyring.NewSecret(), time.Now())
	if res := g.apply(fresh, put("c=3")); res[0].Err != nil || res[1].Err != nil {
		t.Fatalf("install after the rekey: %+v", res)
	}
	for _, set := range []uint32{1, RekeySet} {
		stale, _ := InstallTermCommandFor(set, old, 4, keyring.NewSecret(), time.Now())
		rejected(t, g.apply(stale)[0], "stale_master_key")
	}
	g.st.Close()

	if _, err := openWith(t, dir, old); !errors.Is(err, keyring.ErrWrongMasterKey) {
		t.Fatalf("the old key still opens the state after the rekey: %v", err)
	}
	h := rekeyFixture(t, dir, next)
	if h.get("c") != "3" || h.keys.Active() != 3 {
		t.Fatalf("reopened with the new key: c=%q term=%d", h.get("c"), h.keys.Active())
	}
	// The install's own batch sealed its result under term 0, which derives
	// from the master key: the rekey re-sealed it, and every record opens.
	if n := term0Values(t, h.st); n != 0 {
		t.Fatalf("%d values are still sealed under the old key's term 0", n)
	}
	if err := h.st.View(func(r *ReadTx) error {
		return r.Scan(bucketCommands, func(k, v []byte, openErr error) error { return openErr })
	}); err != nil {
		t.Fatalf("a command result does not open with the new key: %v", err)
	}
}

// term0Values counts the values of sealed buckets whose envelope names term 0.
func term0Values(t *testing.T, st *State) int {
	t.Helper()
	n := 0
	st.db.View(func(tx *bolt.Tx) error {
		for name, sealed := range st.reg.buckets {
			if b := tx.Bucket([]byte(name)); sealed && b != nil {
				b.ForEach(func(k, v []byte) error {
					if term, err := keyring.TermOf(v); err == nil && term == 0 {
						n++
					}
					return nil
				})
			}
		}
		return nil
	})
	return n
}

func TestAnAbandonedRekeySettlesBackOnTheOldKey(t *testing.T) {
	dir := t.TempDir()
	old, next := keyring.NewMasterKey(), keyring.NewMasterKey()
	f := rekeyFixture(t, dir, old)
	f.apply(f.installTerm(1), put("a=1"), CommandSetCommand(RekeySet, time.Now()))
	rk, _ := RekeyCommand(f.keys, old, next, time.Now())
	f.apply(rk)
	// node.json was never switched: the node unseals with the old key and
	// settles on it, which drops the new key's wrappings.
	if res := f.apply(SettleKeysCommand(old.Verifier(), time.Now())); res[0].Err != nil {
		t.Fatal(res[0].Err)
	}
	f.st.Close()
	if _, err := openWith(t, dir, next); !errors.Is(err, keyring.ErrWrongMasterKey) {
		t.Fatalf("the abandoned key opens the state: %v", err)
	}
	g := rekeyFixture(t, dir, old)
	if g.get("a") != "1" {
		t.Fatal("the data did not survive the abandoned rekey")
	}
	// A second rekey after the abandoned one works, and a settle to a key the
	// keyring never heard of is refused.
	third := keyring.NewMasterKey()
	rejected(t, g.apply(SettleKeysCommand(third.Verifier(), time.Now()))[0], "stale_master_key")
	rk2, _ := RekeyCommand(g.keys, old, third, time.Now())
	if res := g.apply(rk2, SettleKeysCommand(third.Verifier(), time.Now())); res[0].Err != nil || res[1].Err != nil {
		t.Fatalf("second rekey: %+v", res)
	}
}

func TestARekeyMustCoverEveryTermAndStartFromTheKeyInForce(t *testing.T) {
	old, next := keyring.NewMasterKey(), keyring.NewMasterKey()
	f := rekeyFixture(t, t.TempDir(), old)
	f.apply(f.installTerm(1), f.installTerm(2))
	// A cluster that does not speak the rekey's command set refuses it.
	early, _ := RekeyCommand(f.keys, old, next, time.Now())
	rejected(t, f.apply(early)[0], "unavailable")
	f.apply(CommandSetCommand(RekeySet, time.Now()))
	full, _ := RekeyCommand(f.keys, old, next, time.Now())
	r := decodeRekey(t, full.Body)
	delete(r.Terms, 2)
	rejected(t, f.apply(NewCommand(CmdRekey, encodeRekey(t, r), time.Now()))[0], "rekey_incomplete")

	other := keyring.NewMasterKey()
	f.apply(full, SettleKeysCommand(next.Verifier(), time.Now()))
	again, _ := RekeyCommand(f.keys, other, keyring.NewMasterKey(), time.Now())
	rejected(t, f.apply(again)[0], "stale_master_key")
}

func decodeRekey(t *testing.T, b []byte) Rekey {
	t.Helper()
	var r Rekey
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	return r
}

func encodeRekey(t *testing.T, r Rekey) []byte {
	t.Helper()
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Files from before rekeying existed hold bare wrappings and were filled by
// 64-byte install bodies; a rekey carries them over.
func TestARekeyCarriesOverTermsInstalledInTheOldFormat(t *testing.T) {
	dir := t.TempDir()
	old, next := keyring.NewMasterKey(), keyring.NewMasterKey()
	f := rekeyFixture(t, dir, old)
	legacy := func(n uint32) *Command {
		w, err := old.Wrap(termName(n), keyring.NewSecret())
		if err != nil {
			t.Fatal(err)
		}
		return NewCommand(CmdInstallTerm, append(binary.BigEndian.AppendUint32(nil, n), w...), time.Now())
	}
	if res := f.apply(legacy(1), put("a=1"), legacy(2), put("b=2"), CommandSetCommand(RekeySet, time.Now())); res[0].Err != nil || res[2].Err != nil {
		t.Fatalf("old-format installs: %+v", res)
	}
	rk, _ := RekeyCommand(f.keys, old, next, time.Now())
	if res := f.apply(rk, SettleKeysCommand(next.Verifier(), time.Now())); res[0].Err != nil || res[1].Err != nil {
		t.Fatalf("rekey of old-format terms: %+v", res)
	}
	// An old-format install after a rekey cannot say which key wrapped it.
	rejected(t, f.apply(legacy(3))[0], "stale_master_key")
	f.st.Close()
	g := rekeyFixture(t, dir, next)
	if g.get("a") != "1" || g.get("b") != "2" || g.keys.Active() != 2 {
		t.Fatalf("after the rekey a=%q b=%q term=%d", g.get("a"), g.get("b"), g.keys.Active())
	}
}
