package subjects

import (
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"cxt/crypto/keyring"
	"cxt/crypto/subjectkey"
	"cxt/storage/state"
)

// A stand-in domain: "test.create" makes a subject with a sealed name,
// "test.rename" replaces the name under the key it names.
const (
	cmdCreate = "test.create"
	cmdRename = "test.rename"
	people    = "test_people"
)

type person struct {
	ID    string `json:"id"`
	KeyID uint32 `json:"key_id"`
	Name  Sealed `json:"name"`
	Key   *Fresh `json:"key,omitempty"`
}

type world struct {
	t        *testing.T
	keys     *keyring.Keyring
	st       *state.State
	index    uint64
	shredded []string
}

func newWorld(t *testing.T) *world {
	master := keyring.NewMasterKey()
	keys, err := keyring.New(master)
	if err != nil {
		t.Fatal(err)
	}
	w := &world{t: t, keys: keys}
	reg := state.NewRegistry()
	Register(reg, func(s string) { w.shredded = append(w.shredded, s) })
	reg.Bucket(people)
	reg.HandleFrom(state.PartiesSet, cmdCreate, func(tx *state.Tx, cmd *state.Command) ([]byte, error) {
		var p person
		json.Unmarshal(cmd.Body, &p)
		if err := Install(tx, p.ID, *p.Key); err != nil {
			return nil, err
		}
		p.Key = nil
		b, _ := json.Marshal(p)
		return nil, tx.Put(people, []byte(p.ID), b)
	})
	reg.HandleFrom(state.PartiesSet, cmdRename, func(tx *state.Tx, cmd *state.Command) ([]byte, error) {
		var p person
		json.Unmarshal(cmd.Body, &p)
		if err := Require(tx, p.ID, p.KeyID); err != nil {
			return nil, err
		}
		b, _ := json.Marshal(p)
		return nil, tx.Put(people, []byte(p.ID), b)
	})
	st, err := state.Open(filepath.Join(t.TempDir(), "state.db"), reg, keys, master)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	w.st = st
	install, _ := state.InstallTermCommand(master, 1, keyring.NewSecret(), time.Now())
	w.apply(install)
	w.apply(state.CommandSetCommand(state.PartiesSet, time.Now()))
	return w
}

func (w *world) apply(cmd *state.Command) state.Result {
	w.t.Helper()
	data, err := state.SealCommand(w.keys, cmd)
	if err != nil {
		w.t.Fatal(err)
	}
	w.index++
	res, err := w.st.ApplyBatch([]state.Entry{{Index: w.index, Term: 1, Commands: [][]byte{data}}})
	if err != nil {
		w.t.Fatal(err)
	}
	return res[0][0]
}

func (w *world) send(typ string, p person) state.Result {
	b, _ := json.Marshal(p)
	return w.apply(state.NewCommand(typ, b, time.Now()))
}

// create proposes a new subject as a domain would: key first, fields sealed
// under it, the wrapping in the command.
func (w *world) create(id, name string) *subjectkey.Key {
	w.t.Helper()
	k, fresh, err := NewKey(w.keys, id)
	if err != nil {
		w.t.Fatal(err)
	}
	sealed, err := Seal(k, id+"/name", name)
	if err != nil {
		w.t.Fatal(err)
	}
	if res := w.send(cmdCreate, person{ID: id, KeyID: k.ID(), Name: sealed, Key: &fresh}); res.Err != nil {
		w.t.Fatalf("create %s: %v", id, res.Err)
	}
	return k
}

// name reads a subject's name back as a reader would: from the state, with
// the key unwrapped from the state.
func (w *world) name(id string) (string, error) {
	var name string
	err := w.st.View(func(r *state.ReadTx) error {
		b, err := r.Get(people, []byte(id))
		if err != nil {
			return err
		}
		var p person
		json.Unmarshal(b, &p)
		k, err := Key(r, w.keys, id)
		if err != nil {
			return err
		}
		return Open(k, id+"/name", p.Name, &name)
	})
	return name, err
}

func errCode(err error) string {
	var rej *state.Rejection
	if errors.As(err, &rej) {
		return rej.Code
	}
	return fmt.Sprint(err)
}

func code(rej *state.Rejection) string {
	if rej == nil {
		return ""
	}
	return rej.Code
}

func TestShreddingOneSubjectLeavesTheOthers(t *testing.T) {
	w := newWorld(t)
	w.create("w_alice", "张三")
	w.create("w_bob", "李四")
	if n, err := w.name("w_alice"); err != nil || n != "张三" {
		t.Fatalf("alice: %q %v", n, err)
	}
	if res := w.apply(ShredCommand("w_alice", "retention ended", time.Now())); res.Err != nil {
		t.Fatalf("shred: %v", res.Err)
	}
	if len(w.shredded) != 1 || w.shredded[0] != "w_alice" {
		t.Fatalf("the node was told of shreds %v", w.shredded)
	}
	if _, err := w.name("w_alice"); errCode(err) != "subject_shredded" {
		t.Fatalf("alice after the shred: %v", err)
	}
	if n, err := w.name("w_bob"); err != nil || n != "李四" {
		t.Fatalf("bob after alice's shred: %q %v", n, err)
	}
	// Nothing of the key is left in the state: the record keeps no wrapping.
	w.st.View(func(r *state.ReadTx) error {
		b, _ := r.Get(Bucket, []byte("w_alice"))
		var rec Record
		json.Unmarshal(b, &rec)
		if rec.Wrapped != nil || rec.Shredded == nil || rec.Reason != "retention ended" {
			t.Fatalf("tombstone %+v", rec)
		}
		return nil
	})
	// A shredded subject takes no new fields, and is not shredded twice.
	if res := w.send(cmdRename, person{ID: "w_alice", KeyID: 1}); code(res.Err) != "subject_shredded" {
		t.Fatalf("rename after shred: %v", res.Err)
	}
	if res := w.apply(ShredCommand("w_alice", "again", time.Now())); code(res.Err) != "subject_shredded" {
		t.Fatalf("second shred: %v", res.Err)
	}
}

func TestASubjectHasOneKeyAndFieldsNameIt(t *testing.T) {
	w := newWorld(t)
	k := w.create("m_1", "某某科技有限公司")
	// A second creation of the same subject (a racing proposer) is refused,
	// so fields sealed under its key never land.
	other, fresh, _ := NewKey(w.keys, "m_1")
	sealed, _ := Seal(other, "m_1/name", "x")
	if res := w.send(cmdCreate, person{ID: "m_1", KeyID: other.ID(), Name: sealed, Key: &fresh}); code(res.Err) != "conflict" {
		t.Fatalf("second key for m_1: %v", res.Err)
	}
	if res := w.send(cmdRename, person{ID: "m_1", KeyID: other.ID(), Name: sealed}); code(res.Err) != "subject_key_mismatch" {
		t.Fatalf("fields under another key: %v", res.Err)
	}
	renamed, _ := Seal(k, "m_1/name", "某某信息技术有限公司")
	if res := w.send(cmdRename, person{ID: "m_1", KeyID: k.ID(), Name: renamed}); res.Err != nil {
		t.Fatalf("rename: %v", res.Err)
	}
	if n, _ := w.name("m_1"); n != "某某信息技术有限公司" {
		t.Fatalf("name %q", n)
	}
	for _, bad := range []state.Result{
		w.apply(ShredCommand("m_nobody", "x", time.Now())),
		w.apply(ShredCommand("m_1", "", time.Now())),
		w.send(cmdCreate, person{ID: "m_2", Key: &Fresh{Wrapped: []byte("short")}}),
	} {
		if bad.Err == nil {
			t.Fatal("a bad subject command was accepted")
		}
	}
}
