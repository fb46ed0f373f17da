package auditlog

import (
	"bytes"
	"encoding/binary"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"cxt/crypto/keyring"
	"cxt/storage/state"
)

type log struct {
	t      *testing.T
	path   string
	master *keyring.MasterKey
	st     *state.State
	index  uint64
}

func registry() *state.Registry {
	reg := state.NewRegistry()
	Register(reg)
	reg.Bucket("things")
	reg.Handle("thing.put", func(tx *state.Tx, cmd *state.Command) ([]byte, error) {
		if string(cmd.Body) == "refuse" {
			return nil, state.Reject(state.Conflict, "refused")
		}
		return nil, tx.Put("things", cmd.Body, []byte("v"))
	})
	return reg
}

func newLog(t *testing.T) *log {
	l := &log{t: t, path: filepath.Join(t.TempDir(), "state.db"), master: keyring.NewMasterKey()}
	l.open(false)
	install, _ := state.InstallTermCommand(l.master, 1, keyring.NewSecret(), time.Now())
	l.apply(install)
	return l
}

func (l *log) open(readOnly bool) {
	keys, _ := keyring.New(l.master)
	st, err := state.OpenWith(l.path, registry(), keys, l.master, state.Options{ReadOnly: readOnly})
	if err != nil {
		l.t.Fatal(err)
	}
	l.st = st
}

func (l *log) apply(cmds ...*state.Command) {
	l.t.Helper()
	var sealed [][]byte
	for _, c := range cmds {
		b, err := state.SealCommand(l.st.Keys(), c)
		if err != nil {
			l.t.Fatal(err)
		}
		sealed = append(sealed, b)
	}
	l.index++
	if _, err := l.st.ApplyBatch([]state.Entry{{Index: l.index, Commands: sealed}}); err != nil {
		l.t.Fatal(err)
	}
}

func put(subject, body string) *state.Command {
	c := state.NewCommand("thing.put", []byte(body), time.Now())
	c.Audit = Context{Subject: subject, Source: "10.1.2.3", Action: "PUT /things"}.Encode()
	return c
}

func (l *log) verify() Report {
	l.t.Helper()
	var rep Report
	if err := l.st.View(func(r *state.ReadTx) error {
		var err error
		rep, err = Verify(r)
		return err
	}); err != nil {
		l.t.Fatal(err)
	}
	return rep
}

func TestEveryCommandIsAuditedInItsOwnTransaction(t *testing.T) {
	l := newLog(t)
	l.apply(put("alice", "a"), put("bob", "refuse"), RecordCommand(Context{Subject: "carol", Event: "login.failure", Result: "invalid_credentials"}, time.Now()))
	var entries []Entry
	l.st.View(func(r *state.ReadTx) error {
		var err error
		entries, err = Search(r, Query{})
		return err
	})
	if len(entries) != 4 { // the key-term install, the two puts, the login failure
		t.Fatalf("%d entries: %+v", len(entries), entries)
	}
	want := []struct{ typ, subject, result string }{
		{state.CmdInstallTerm, "system", "ok"}, {"thing.put", "alice", "ok"}, {"thing.put", "bob", "conflict"},
		{"login.failure", "carol", "invalid_credentials"},
	}
	for i, w := range want {
		e := entries[i]
		if e.Seq != uint64(i+1) || e.Type != w.typ || e.Subject != w.subject || e.Result != w.result {
			t.Errorf("entry %d: %+v, want %+v", i+1, e, w)
		}
	}
	if entries[1].Source != "10.1.2.3" || entries[1].Time.IsZero() || entries[1].Index == 0 {
		t.Errorf("entry lacks its context: %+v", entries[1])
	}
	if rep := l.verify(); !rep.OK || rep.Size != 4 {
		t.Fatalf("verify: %+v", rep)
	}
}

func TestStoredLeavesProveInclusionAndConsistency(t *testing.T) {
	l := newLog(t)
	for i := range 20 {
		l.apply(put("u", strings.Repeat("x", i+1)))
	}
	l.st.View(func(r *state.ReadTx) error {
		head, _ := CurrentHead(r)
		leaves, err := Leaves(r, head.Size)
		if err != nil {
			t.Fatal(err)
		}
		if Root(leaves) != head.Root {
			t.Fatal("stored frontier disagrees with the stored leaves")
		}
		for i := range leaves {
			if !VerifyInclusion(leaves[i], i, len(leaves), InclusionProof(leaves, i), head.Root) {
				t.Fatalf("entry %d: inclusion proof fails", i+1)
			}
		}
		if !VerifyConsistency(7, len(leaves), Root(leaves[:7]), head.Root, ConsistencyProof(leaves, 7)) {
			t.Fatal("consistency proof fails")
		}
		return nil
	})
}

// rawEdit changes the bbolt file directly, as someone with the disk would.
func (l *log) rawEdit(fn func(tx *bolt.Tx) error) {
	l.t.Helper()
	l.st.Close()
	db, err := bolt.Open(l.path, 0o600, nil)
	if err != nil {
		l.t.Fatal(err)
	}
	if err := db.Update(fn); err != nil {
		l.t.Fatal(err)
	}
	db.Close()
	l.open(true)
}

func seq(n uint64) []byte { return binary.BigEndian.AppendUint64(nil, n) }

func TestVerifyPinpointsAFlippedByteInTheFile(t *testing.T) {
	l := newLog(t)
	for i := range 10 {
		l.apply(put("u", string(rune('a'+i))))
	}
	// Find entry 6's sealed bytes in the file and flip one of them.
	var sealed []byte
	l.rawEdit(func(tx *bolt.Tx) error {
		sealed = bytes.Clone(tx.Bucket([]byte(EntriesBucket)).Get(seq(6)))
		return nil
	})
	l.st.Close()
	raw, _ := os.ReadFile(l.path)
	// bbolt copies pages on write: flip the byte in every copy of the entry.
	found := 0
	for at := 0; ; {
		i := bytes.Index(raw[at:], sealed)
		if i < 0 {
			break
		}
		raw[at+i+len(sealed)/2] ^= 0x01
		at += i + len(sealed)
		found++
	}
	if found == 0 {
		t.Fatal("entry 6 not found in the file")
	}
	os.WriteFile(l.path, raw, 0o600)
	l.open(true)
	rep := l.verify()
	if rep.OK || rep.FirstBad != 6 {
		t.Fatalf("verify after a flipped byte in entry 6: %+v", rep)
	}
}

func TestVerifyDetectsTruncationReorderingAndRemoval(t *testing.T) {
	cases := map[string]struct {
		edit func(tx *bolt.Tx) error
		bad  uint64
	}{
		"the last entry removed": {func(tx *bolt.Tx) error {
			return tx.Bucket([]byte(EntriesBucket)).Delete(seq(8))
		}, 8},
		"two entries swapped": {func(tx *bolt.Tx) error {
			b := tx.Bucket([]byte(EntriesBucket))
			a, c := bytes.Clone(b.Get(seq(3))), bytes.Clone(b.Get(seq(4)))
			b.Put(seq(3), c)
			return b.Put(seq(4), a)
		}, 3},
		"a middle entry removed": {func(tx *bolt.Tx) error {
			return tx.Bucket([]byte(EntriesBucket)).Delete(seq(5))
		}, 5},
		"entries and leaves truncated together": {func(tx *bolt.Tx) error {
			tx.Bucket([]byte(EntriesBucket)).Delete(seq(8))
			return tx.Bucket([]byte(LeavesBucket)).Delete(seq(8))
		}, 8},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			l := newLog(t)
			for i := range 7 {
				l.apply(put("u", string(rune('a'+i))))
			}
			l.rawEdit(c.edit)
			if rep := l.verify(); rep.OK || rep.FirstBad != c.bad {
				t.Fatalf("%+v, want first bad %d", rep, c.bad)
			}
		})
	}
}
