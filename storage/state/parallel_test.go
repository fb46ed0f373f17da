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
