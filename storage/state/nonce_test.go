package state

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"

	"cxt/crypto/keyring"
	"cxt/crypto/sm"
)

// divergedRegistry is testRegistry on a replica that went wrong: its kv.put
// writes another value than its peers' for the same command.
func divergedRegistry() *Registry {
	r := NewRegistry()
	r.Bucket("kv")
	r.Handle("kv.put", func(tx *Tx, cmd *Command) ([]byte, error) {
		k, v, _ := bytes.Cut(cmd.Body, []byte("="))
		return nil, tx.Put("kv", k, append(v, " (diverged)"...))
	})
	return r
}

// sealedNonces maps every (term, nonce) of the sealed values in a state
// file to the plaintext sealed under it.
func sealedNonces(t *testing.T, st *State) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := st.View(func(r *ReadTx) error {
		return r.btx.ForEach(func(name []byte, b *bolt.Bucket) error {
			if !st.reg.buckets[string(name)] {
				return nil
			}
			return b.ForEach(func(k, v []byte) error {
				pt, err := r.Get(string(name), k)
				if err != nil {
					return err
				}
				out[string(v[1:5+sm.NonceSize])] = string(pt)
				return nil
			})
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestDivergedReplicasNeverSealTwoPlaintextsUnderOneNonce(t *testing.T) {
	master := keyring.NewMasterKey()
	healthy := newFixture(t, t.TempDir(), master)
	keys, _ := keyring.New(master)
	st, err := Open(filepath.Join(t.TempDir(), "state.db"), divergedRegistry(), keys, master)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	// The same entries — same command IDs, same indexes — on both replicas.
	entries := []Entry{healthy.entry(healthy.installTerm(1)), healthy.entry(put("balance=100.00"))}
	for _, s := range []*State{healthy.st, st} {
		if _, err := s.ApplyBatch(entries); err != nil {
			t.Fatal(err)
		}
	}
	a, b := sealedNonces(t, healthy.st), sealedNonces(t, st)
	if len(a) == 0 {
		t.Fatal("no sealed values found")
	}
	for nonce, pa := range a {
		if pb, ok := b[nonce]; ok && pa != pb {
			t.Fatalf("one key and nonce sealed %q on one replica and %q on the other", pa, pb)
		}
	}
	if healthy.get("balance") == "" {
		t.Fatal("the healthy replica lost its value")
	}
}

func TestValuesAreSealedWithSyntheticNonces(t *testing.T) {
	f := newFixture(t, t.TempDir(), keyring.NewMasterKey())
	f.apply(f.installTerm(1))
	cmd := put("a=1")
	f.apply(cmd)
	var env []byte
	f.st.View(func(r *ReadTx) error {
		env = bytes.Clone(r.btx.Bucket([]byte("kv")).Get([]byte("a")))
		return nil
	})
	want, err := f.keys.SealSynthetic(keyring.Records, valueCoords(cmd, f.index), recordAAD("kv", "a"), []byte("1"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(env, want) {
		t.Fatal("the stored value is not sealed with its synthetic nonce")
	}
}

// testdata/legacy-schema1.db was written by cxt before state heads (schema
// 1, record nonces derived from the command and the record only), with
// testRegistry, the master key below, and the entries
// [install term 1, a=1, b=2] then [a=3, c=old-way].
func legacyFile(t *testing.T) (string, *keyring.MasterKey) {
	t.Helper()
	raw, err := os.ReadFile("testdata/legacy-schema1.db")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "state.db")
	if err := os.WriteFile(path, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	master, _ := keyring.MasterKeyFromBytes(bytes.Repeat([]byte{0x5a}, 32))
	return path, master
}

func TestAFileFromBeforeStateHeadsIsRefusedUntilAdoptedAndItsOldValuesOpen(t *testing.T) {
	path, master := legacyFile(t)
	before, _ := os.ReadFile(path)
	keys, _ := keyring.New(master)
	if _, err := Open(path, testRegistry(), keys, master); err == nil || !strings.Contains(err.Error(), "cxt audit adopt") {
		t.Fatalf("a file without a head opened: %v", err)
	}
	if after, _ := os.ReadFile(path); !bytes.Equal(before, after) {
		t.Fatal("refusing the file changed it")
	}

	keys, _ = keyring.New(master)
	st, err := OpenWith(path, testRegistry(), keys, master, Options{AdoptHeadless: true})
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
	keys, _ = keyring.New(master)
	st, err = Open(path, testRegistry(), keys, master)
	if err != nil {
		t.Fatalf("an adopted file does not open: %v", err)
	}
	defer st.Close()
	f := &fixture{t: t, master: master, keys: keys, st: st, index: st.AppliedIndex()}
	for k, want := range map[string]string{"a": "3", "b": "2", "c": "old-way"} {
		if got := f.get(k); got != want {
			t.Fatalf("%s = %q after adoption, want %q", k, got, want)
		}
	}
	if f.index != 5 {
		t.Fatalf("applied index %d, want 5", f.index)
	}
	f.apply(put("a=4")) // new writes go on under the head
	if rep, err := st.CheckHead(); err != nil || !rep.OK || rep.Applied != 6 {
		t.Fatalf("head after a write: %+v %v", rep, err)
	}
}

func TestSealCountsReachTheBudgetAndStartAgainWithTheNextTerm(t *testing.T) {
	dir := t.TempDir()
	master := keyring.NewMasterKey()
	keys, _ := keyring.New(master)
	st, err := OpenWith(filepath.Join(dir, "state.db"), testRegistry(), keys, master, Options{SealBudget: 10})
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{t: t, master: master, keys: keys, st: st}
	f.apply(f.installTerm(1))
	if _, worn := st.Worn(); worn {
		t.Fatal("a fresh term is worn")
	}
	f.apply(put("a=1"), put("b=2"), put("c=3"))
	term, log, records := st.SealCounts()
	// Values sealed under term 1: three values and three command results
	// (the install's own result went under term 0: a term enters the
	// keyring once the transaction storing it has committed).
	if term != 1 || log != 3 || records != 6 {
		t.Fatalf("counts %d/%d/%d, want term 1, 3 log envelopes, 6 values", term, log, records)
	}
	if _, worn := st.Worn(); worn {
		t.Fatal("worn below the budget")
	}
	f.apply(put("d=4"), put("e=5"), put("f=6"))
	if term, worn := st.Worn(); !worn || term != 1 {
		t.Fatalf("term %d worn=%v after 12 values sealed with a budget of 10", term, worn)
	}
	// The counts are part of the head: they survive a restart.
	st.Close()
	keys, _ = keyring.New(master)
	if st, err = OpenWith(filepath.Join(dir, "state.db"), testRegistry(), keys, master, Options{SealBudget: 10}); err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	f.st, f.keys = st, keys
	if _, worn := st.Worn(); !worn {
		t.Fatal("the seal counts were lost at restart")
	}
	f.apply(f.installTerm(2))
	if term, worn := st.Worn(); worn || term != 2 {
		t.Fatalf("after rotation: term %d worn=%v", term, worn)
	}
	// A second install of the same term is refused, not fatal.
	res := f.apply(f.installTerm(2))
	if res[0].Err == nil || res[0].Err.Code != "conflict" {
		t.Fatalf("a second install of term 2: %+v", res[0])
	}
}
