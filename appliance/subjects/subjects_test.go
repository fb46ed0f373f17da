package subjects

import (
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"cxt/crypto/subjectkey"
	"cxt/storage/state"
	"cxt/storage/state/statetest"
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
	*statetest.Machine
	shredded []string
}

func newWorld(t *testing.T) *world {
	w := &world{}
	w.Machine = statetest.New(t, func(reg *state.Registry) {
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
	})
	return w
}

// create proposes a new subject as a domain would: key first, fields sealed
// under it, the wrapping in the command.
func (w *world) create(id, name string) *subjectkey.Key {
	w.TB.Helper()
	k, fresh, err := NewKey(w.Keys, id)
	if err != nil {
		w.TB.Fatal(err)
	}
	sealed, err := Seal(k, id+"/name", name)
	if err != nil {
		w.TB.Fatal(err)
	}
	if res := w.Send(cmdCreate, person{ID: id, KeyID: k.ID(), Name: sealed, Key: &fresh}); res.Err != nil {
		w.TB.Fatalf("create %s: %v", id, res.Err)
	}
	return k
}

// name reads a subject's name back as a reader would: from the state, with
// the key unwrapped from the state.
func (w *world) name(id string) (string, error) {
	var name string
	err := w.State.View(func(r *state.ReadTx) error {
		b, err := r.Get(people, []byte(id))
		if err != nil {
			return err
		}
		var p person
		json.Unmarshal(b, &p)
		k, err := Key(r, w.Keys, id)
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

func TestShreddingOneSubjectLeavesTheOthers(t *testing.T) {
	w := newWorld(t)
	w.create("w_alice", "张三")
	w.create("w_bob", "李四")
	if n, err := w.name("w_alice"); err != nil || n != "张三" {
		t.Fatalf("alice: %q %v", n, err)
	}
	if res := w.Apply(ShredCommand("w_alice", "retention ended", time.Now())); res.Err != nil {
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
	w.State.View(func(r *state.ReadTx) error {
		b, _ := r.Get(Bucket, []byte("w_alice"))
		var rec Record
		json.Unmarshal(b, &rec)
		if rec.Wrapped != nil || rec.Shredded == nil || rec.Reason != "retention ended" {
			t.Fatalf("tombstone %+v", rec)
		}
		return nil
	})
	// A shredded subject takes no new fields, and is not shredded twice.
	if res := w.Send(cmdRename, person{ID: "w_alice", KeyID: 1}); statetest.Code(res.Err) != "subject_shredded" {
		t.Fatalf("rename after shred: %v", res.Err)
	}
	if res := w.Apply(ShredCommand("w_alice", "again", time.Now())); statetest.Code(res.Err) != "subject_shredded" {
		t.Fatalf("second shred: %v", res.Err)
	}
}

func TestASubjectHasOneKeyAndFieldsNameIt(t *testing.T) {
	w := newWorld(t)
	k := w.create("m_1", "某某科技有限公司")
	// A second creation of the same subject (a racing proposer) is refused,
	// so fields sealed under its key never land.
	other, fresh, _ := NewKey(w.Keys, "m_1")
	sealed, _ := Seal(other, "m_1/name", "x")
	if res := w.Send(cmdCreate, person{ID: "m_1", KeyID: other.ID(), Name: sealed, Key: &fresh}); statetest.Code(res.Err) != "conflict" {
		t.Fatalf("second key for m_1: %v", res.Err)
	}
	if res := w.Send(cmdRename, person{ID: "m_1", KeyID: other.ID(), Name: sealed}); statetest.Code(res.Err) != "subject_key_mismatch" {
		t.Fatalf("fields under another key: %v", res.Err)
	}
	renamed, _ := Seal(k, "m_1/name", "某某信息技术有限公司")
	if res := w.Send(cmdRename, person{ID: "m_1", KeyID: k.ID(), Name: renamed}); res.Err != nil {
		t.Fatalf("rename: %v", res.Err)
	}
	if n, _ := w.name("m_1"); n != "某某信息技术有限公司" {
		t.Fatalf("name %q", n)
	}
	for _, bad := range []state.Result{
		w.Apply(ShredCommand("m_nobody", "x", time.Now())),
		w.Apply(ShredCommand("m_1", "", time.Now())),
		w.Send(cmdCreate, person{ID: "m_2", Key: &Fresh{Wrapped: []byte("short")}}),
	} {
		if bad.Err == nil {
			t.Fatal("a bad subject command was accepted")
		}
	}
}
