package state

import (
	"fmt"
	"runtime"
	"sync"

	bolt "go.etcd.io/bbolt"
)

// Parallel calls fn(i, g) for every i in [0, n) on all cores, each g reading
// as t does: this command's writes and its batch's first, then the state as
// the batch found it. A command spreads over the cores the reads — and the
// opening and decoding — it is about to make, then decides in order with
// what they found in memory: the state machine is otherwise one goroutine.
//
// fn must not write, and the command writes nothing while Parallel runs.
// What g reads is exactly what t would have: during apply the batch's
// writes wait in its overlay until it commits, so each goroutine's own
// bbolt read transaction sees the state the batch started from, and no
// other write can commit while this batch holds the writer's lock. Outside
// apply (a dry run reads a snapshot a later read transaction might not
// see) fn runs on this goroutine with t itself.
func (t *Tx) Parallel(n int, fn func(i int, g Getter) error) error {
	if !t.btx.Writable() {
		return parallelWith(0, n, t, nil, fn)
	}
	return parallelWith(runtime.GOMAXPROCS(0), n, t, func() (Getter, func(), error) {
		rtx, err := t.st.beside(t.btx)
		if err != nil {
			return nil, nil, err
		}
		g := &sideReader{t: t, r: &ReadTx{st: t.st, btx: rtx}, raw: newRawReader(rtx)}
		return g, func() { rtx.Rollback() }, nil
	}, fn)
}

// beside begins a read transaction that sees what the write transaction
// btx started from — all it holds until its first write, and no other
// write can commit while it is open.
func (s *State) beside(btx *bolt.Tx) (*bolt.Tx, error) {
	rtx, err := s.db.Begin(false)
	if err != nil {
		return nil, fmt.Errorf("state: a read transaction beside the batch: %w", err)
	}
	if rtx.ID() != btx.ID()-1 {
		// bbolt numbers a write transaction one past the last commit,
		// which a read transaction takes: anything else is a state the
		// batch does not see.
		rtx.Rollback()
		return nil, fmt.Errorf("state: a read transaction beside the batch sees transaction %d, the batch follows %d", rtx.ID(), btx.ID()-1)
	}
	return rtx, nil
}

// sideReader reads as t does through a read transaction of its own,
// opening what its rawReader finds (which keeps the buckets it opened:
// bbolt caches them in a write transaction, not in a read one, where
// opening one is a fifth of a read's cost).
type sideReader struct {
	t   *Tx
	r   *ReadTx
	raw *rawReader
}

func (s *sideReader) Get(bucket string, key []byte) ([]byte, error) {
	if w, ok := s.t.writes.get(bucket, key); ok {
		return w.value, nil
	}
	if w, ok := s.t.parent.get(bucket, key); ok {
		return w.value, nil
	}
	v, err := s.raw.Get(bucket, key)
	if v == nil || err != nil {
		return nil, err
	}
	return s.r.open(bucket, key, v)
}

// parallelWith runs fn(0..n-1) on up to cores goroutines, each with the
// Getter its setup opens (and closes when it is done); a job too small to
// share (under 32 items a goroutine) runs on this goroutine with serial.
// The error returned is the one of the lowest i that failed, as a serial
// run would return: a refusal must read alike on every replica. A panic in
// fn is an error, not a crash of the process from a goroutine no one
// recovers.
func parallelWith(cores, n int, serial Getter, setup func() (Getter, func(), error), fn func(i int, g Getter) error) error {
	workers := min(cores, n/32)
	if workers <= 1 {
		for i := range n {
			if err := fn(i, serial); err != nil {
				return err
			}
		}
		return nil
	}
	type failure struct {
		i   int
		err error
	}
	fails := make([]failure, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			i := w
			defer func() {
				if p := recover(); p != nil {
					fails[w] = failure{i, fmt.Errorf("state: parallel read %d panicked: %v", i, p)}
				}
			}()
			g, done, err := setup()
			if err != nil {
				fails[w] = failure{-1, err}
				return
			}
			defer done()
			for ; i < n; i += workers {
				if err := fn(i, g); err != nil {
					fails[w] = failure{i, err}
					return
				}
			}
		}()
	}
	wg.Wait()
	var first *failure
	for w := range fails {
		if f := &fails[w]; f.err != nil && (first == nil || f.i < first.i) {
			first = f
		}
	}
	if first == nil {
		return nil
	}
	return first.err
}
