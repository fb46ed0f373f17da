package state_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"cxt/storage/state"
	"cxt/storage/state/statetest"
)

func TestAKeysBucketHoldsKeysAndRefusesValues(t *testing.T) {
	m := statetest.New(t, func(reg *state.Registry) {
		reg.KeysBucket("idx")
		reg.Handle("idx.put", func(tx *state.Tx, cmd *state.Command) ([]byte, error) {
			if err := tx.Put("idx", []byte("k/1"), nil); err != nil {
				return nil, err
			}
			if err := tx.Put("idx", []byte("k/2"), cmd.Body); err != nil {
				return nil, state.Reject(state.InvalidRequest, "%v", err)
			}
			return nil, nil
		})
	})
	if res := m.Apply(state.NewCommand("idx.put", nil, time.Now())); res.Err != nil {
		t.Fatal(res.Err)
	}
	if res := m.Apply(state.NewCommand("idx.put", []byte("a value"), time.Now())); statetest.Code(res.Err) != "invalid_request" {
		t.Fatalf("a value in a keys bucket: %+v", res)
	}
	err := m.State.View(func(r *state.ReadTx) error {
		v, err := r.Get("idx", []byte("k/1"))
		if err != nil || v == nil || len(v) != 0 {
			t.Fatalf("k/1: %q %v", v, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if rep, err := m.State.CheckHead(); err != nil || !rep.OK {
		t.Fatalf("the head does not hold over a keys bucket: %+v %v", rep, err)
	}
}

func TestADryRunComputesAndKeepsNothing(t *testing.T) {
	m := statetest.New(t, func(reg *state.Registry) {
		reg.Bucket("kv")
		reg.Handle("kv.count", func(tx *state.Tx, cmd *state.Command) ([]byte, error) {
			v, _ := tx.Get("kv", []byte("n"))
			v = append(v, 'x')
			if err := tx.Put("kv", []byte("n"), v); err != nil {
				return nil, err
			}
			if tx.Dry() {
				return append([]byte("dry:"), v...), nil
			}
			return v, nil
		})
	})
	m.Apply(state.NewCommand("kv.count", nil, time.Now()))
	res, err := m.State.DryRun(state.NewCommand("kv.count", nil, time.Now()))
	if err != nil || string(res.Value) != "dry:xx" {
		t.Fatalf("dry run: %q %v", res.Value, err)
	}
	if got := m.Apply(state.NewCommand("kv.count", nil, time.Now())); string(got.Value) != "xx" {
		t.Fatalf("after a dry run the state moved: %q", got.Value)
	}
}

func TestAnEmptyValueIsPresentNotAbsent(t *testing.T) {
	m := statetest.New(t, func(reg *state.Registry) {
		reg.Bucket("kv")
		reg.Handle("kv.empty", func(tx *state.Tx, cmd *state.Command) ([]byte, error) {
			return nil, tx.Put("kv", []byte("k"), nil)
		})
		reg.Handle("kv.scan", func(tx *state.Tx, cmd *state.Command) ([]byte, error) {
			var seen []byte
			_, err := tx.Scan("kv", nil, 10, func(k, v []byte) error { seen = append(seen, k...); return nil })
			return seen, err
		})
	})
	m.Apply(state.NewCommand("kv.empty", nil, time.Now()))
	if res := m.Apply(state.NewCommand("kv.scan", nil, time.Now())); string(res.Value) != "k" {
		t.Fatalf("a scan skipped the key with an empty value: %q %v", res.Value, res.Err)
	}
	m.State.View(func(r *state.ReadTx) error {
		if v, err := r.Get("kv", []byte("k")); v == nil || err != nil {
			t.Fatalf("an empty sealed value read as absent: %v", err)
		}
		return nil
	})
}

func TestACodeKnowsItsRejections(t *testing.T) {
	err := fmt.Errorf("wrapped: %w", state.Reject(state.NotFound, "no such thing"))
	if !state.NotFound.Is(err) || state.Conflict.Is(err) || state.NotFound.Is(errors.New("not_found")) || state.NotFound.Is(nil) {
		t.Fatal("Code.Is misreads a rejection")
	}
}

// Prefix walks the keys under a prefix as the command sees them: the
// prefix itself, committed keys, this command's writes in order, not a
// deleted one, nothing past the prefix; Stop ends it early.
func TestPrefixWalksTheKeysUnderItAsTheCommandSeesThem(t *testing.T) {
	m := statetest.New(t, func(reg *state.Registry) {
		reg.Bucket("kv")
		reg.Handle("kv.seed", func(tx *state.Tx, cmd *state.Command) ([]byte, error) {
			for _, k := range []string{"a/", "a/1", "a/3", "a0", "a\xff", "b/1", "a/5", "a/\xff"} {
				if err := tx.Put("kv", []byte(k), []byte("v")); err != nil {
					return nil, err
				}
			}
			return nil, nil
		})
		reg.Handle("kv.walk", func(tx *state.Tx, cmd *state.Command) ([]byte, error) {
			if err := tx.Put("kv", []byte("a/2"), []byte("v")); err != nil {
				return nil, err
			}
			if err := tx.Delete("kv", []byte("a/3")); err != nil {
				return nil, err
			}
			var seen []string
			err := tx.Prefix("kv", cmd.Body, func(k, _ []byte) error {
				seen = append(seen, string(k))
				if string(k) == "a/5" {
					return state.ErrStop
				}
				return nil
			})
			return []byte(fmt.Sprintf("%q", seen)), err
		})
	})
	m.Apply(state.NewCommand("kv.seed", nil, time.Now()))
	for prefix, want := range map[string]string{
		"a/": `["a/" "a/1" "a/2" "a/5"]`, // stopped at a/5, before a/\xff
		"b":  `["b/1"]`,
		"c":  `[]`,
	} {
		if res := m.Apply(state.NewCommand("kv.walk", []byte(prefix), time.Now())); res.Err != nil || string(res.Value) != want {
			t.Errorf("prefix %q: %s %v, want %s", prefix, res.Value, res.Err, want)
		}
	}
}
