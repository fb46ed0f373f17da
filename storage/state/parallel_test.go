package state

import (
	"fmt"
	"runtime"
	"testing"
	"time"

	"cxt/crypto/keyring"
)

// Parallel reads what the command reads — its own writes, those of the
// batch's earlier commands, then the state the batch started from — on
// every goroutine, and the refusal it returns is the serial run's.
func TestParallelReadsAsTheCommandDoes(t *testing.T) {
	if runtime.GOMAXPROCS(0) < 2 {
		t.Log("one core: Parallel runs serially here")
	}
	const n = 300
	key := func(i int) []byte { return fmt.Appendf(nil, "k%03d", i) }
	var mismatches []string
	var refusal error
	f := newFixtureWith(t, t.TempDir(), keyring.NewMasterKey(), func(r *Registry) {
		r.Handle("kv.check", func(tx *Tx, cmd *Command) ([]byte, error) {
			for i := 200; i < 250; i++ { // this command's own writes
				if err := tx.Put("kv", key(i), []byte("own")); err != nil {
					return nil, err
				}
			}
			if err := tx.Delete("kv", key(10)); err != nil {
				return nil, err
			}
			want := make([][]byte, n)
			for i := range n {
				v, err := tx.Get("kv", key(i))
				if err != nil {
					return nil, err
				}
				want[i] = v
			}
			got := make([][]byte, n)
			if err := tx.Parallel(n, func(i int, g Getter) error {
				v, err := g.Get("kv", key(i))
				got[i] = v
				return err
			}); err != nil {
				return nil, err
			}
			for i := range n {
				if (want[i] == nil) != (got[i] == nil) || string(want[i]) != string(got[i]) {
					mismatches = append(mismatches, fmt.Sprintf("%s: %q, want %q", key(i), got[i], want[i]))
				}
			}
			refusal = tx.Parallel(n, func(i int, g Getter) error {
				switch i {
				case 70, 130:
					return Reject(Conflict, "row %d", i)
				case 150:
					panic("a bug")
				}
				return nil
			})
			return nil, nil
		})
	})
	f.apply(f.installTerm(1))
	var committed []*Command
	for i := 0; i < 100; i++ { // committed before the batch
		committed = append(committed, put(fmt.Sprintf("k%03d=committed", i)))
	}
	f.apply(committed...)
	batch := []*Command{}
	for i := 50; i < 150; i++ { // earlier in the same batch
		batch = append(batch, put(fmt.Sprintf("k%03d=batch", i)))
	}
	batch = append(batch, NewCommand("kv.check", nil, time.Now()))
	res := f.apply(batch...)
	if err := res[len(res)-1].Err; err != nil {
		t.Fatal(err)
	}
	if len(mismatches) > 0 {
		t.Fatalf("%d reads differ, e.g. %s", len(mismatches), mismatches[0])
	}
	if refusal == nil || refusal.Error() != Reject(Conflict, "row 70").Error() {
		t.Fatalf("refusal %v, want row 70's", refusal)
	}
}

// A batch large enough to be flushed on all cores — new records, replaced
// ones and deleted ones in several buckets — leaves a head that a full
// recomputation agrees with, and the values it wrote.
func TestALargeBatchFlushedOnAllCoresKeepsTheHeadTrue(t *testing.T) {
	f := newFixtureWith(t, t.TempDir(), keyring.NewMasterKey(), func(r *Registry) {
		r.Handle("kv.del", func(tx *Tx, cmd *Command) ([]byte, error) {
			return nil, tx.Delete("kv", cmd.Body)
		})
	})
	f.apply(f.installTerm(1))
	var first, second []*Command
	for i := range 400 {
		first = append(first, put(fmt.Sprintf("k%03d=first", i)))
	}
	f.apply(first...)
	for i := 200; i < 600; i++ {
		second = append(second, put(fmt.Sprintf("k%03d=second", i)))
	}
	for i := 0; i < 100; i++ {
		second = append(second, NewCommand("kv.del", fmt.Appendf(nil, "k%03d", i), time.Now()))
	}
	f.apply(second...)
	rep, err := f.st.CheckHead()
	if err != nil || !rep.OK {
		t.Fatalf("the head after large batches: %+v %v", rep, err)
	}
	for i, want := range map[int]string{0: "", 99: "", 100: "first", 199: "first", 200: "second", 599: "second"} {
		if got := f.get(fmt.Sprintf("k%03d", i)); got != want {
			t.Errorf("k%03d = %q, want %q", i, got, want)
		}
	}
}
