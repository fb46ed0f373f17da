package cluster

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/raft"
)

// fakeRaft is a leader whose answers the test scripts; calls records what
// the read round asked, in order.
type fakeRaft struct {
	mu     sync.Mutex
	state  raft.RaftState
	term   uint64
	commit uint64
	verify func(f *fakeRaft) error
	calls  []string
}

func (f *fakeRaft) note(c string) { f.mu.Lock(); f.calls = append(f.calls, c); f.mu.Unlock() }

func (f *fakeRaft) State() raft.RaftState {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.state
}

func (f *fakeRaft) CurrentTerm() uint64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.term
}

func (f *fakeRaft) CommitIndex() uint64 {
	f.note("commit")
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.commit
}

func (f *fakeRaft) VerifyLeader() raft.Future {
	f.note("verify")
	return futureFunc(func() error {
		if f.verify == nil {
			return nil
		}
		return f.verify(f)
	})
}

type futureFunc func() error

func (fn futureFunc) Error() error { return fn() }

func (f *fakeRaft) set(fn func(f *fakeRaft)) { f.mu.Lock(); fn(f); f.mu.Unlock() }

func leaderAt(term, commit uint64) *fakeRaft {
	return &fakeRaft{state: raft.Leader, term: term, commit: commit}
}

func readyAlways(f *fakeRaft) func(context.Context, uint64) error {
	return func(context.Context, uint64) error { f.note("ready"); return nil }
}

func TestAReadRoundMakesTheTermReadyThenReadsTheCommitIndexThenVerifiesLeadership(t *testing.T) {
	f := leaderAt(7, 42)
	idx, err := leaderReadIndex(context.Background(), f, readyAlways(f))
	if err != nil || idx != 42 {
		t.Fatalf("read index %d, %v; want 42", idx, err)
	}
	// The commit index is only good once the leader has applied an entry of
	// its term, and only if leadership is confirmed after it was read.
	if got := f.calls; len(got) != 3 || got[0] != "ready" || got[1] != "commit" || got[2] != "verify" {
		t.Fatalf("round asked %v", got)
	}
}

func TestAReadRoundFailsWhenLeadershipChangesUnderIt(t *testing.T) {
	for _, tc := range []struct {
		name   string
		verify func(f *fakeRaft) error
	}{
		{"a quorum no longer follows", func(*fakeRaft) error { return raft.ErrNotLeader }},
		{"leadership lost during the heartbeat", func(*fakeRaft) error { return raft.ErrLeadershipLost }},
		{"a new term began while verifying", func(f *fakeRaft) error { f.set(func(f *fakeRaft) { f.term++ }); return nil }},
		{"stepped down while verifying", func(f *fakeRaft) error { f.set(func(f *fakeRaft) { f.state = raft.Follower }); return nil }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := leaderAt(3, 10)
			f.verify = tc.verify
			if _, err := leaderReadIndex(context.Background(), f, readyAlways(f)); !errors.Is(err, ErrNotLeader) || !retryable(err) {
				t.Fatalf("got %v, want a retryable ErrNotLeader", err)
			}
		})
	}
	t.Run("a follower runs no leader round", func(t *testing.T) {
		f := leaderAt(3, 10)
		f.state = raft.Follower
		if _, err := leaderReadIndex(context.Background(), f, readyAlways(f)); !errors.Is(err, ErrNotLeader) {
			t.Fatalf("got %v", err)
		}
		if len(f.calls) != 0 {
			t.Fatalf("a follower asked %v", f.calls)
		}
	})
	t.Run("the term cannot be made ready", func(t *testing.T) {
		f := leaderAt(3, 10)
		failed := errors.New("no quorum for the term's first entry")
		_, err := leaderReadIndex(context.Background(), f, func(context.Context, uint64) error { return failed })
		if !errors.Is(err, failed) {
			t.Fatalf("got %v", err)
		}
		for _, c := range f.calls {
			if c == "commit" || c == "verify" {
				t.Fatalf("round went on after the term failed: %v", f.calls)
			}
		}
	})
}

func TestAReadRoundGivesUpWhenVerificationOutlastsItsContext(t *testing.T) {
	f := leaderAt(3, 10)
	block := make(chan struct{})
	defer close(block)
	f.verify = func(*fakeRaft) error { <-block; return nil }
	c, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := leaderReadIndex(c, f, readyAlways(f)); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got %v", err)
	}
}

// scriptedRounds is a round function that counts its calls and, if gate is
// set, waits on it; round i returns index 100*i.
type scriptedRounds struct {
	n       atomic.Int64
	started chan int64
	gate    chan struct{}
}

func (s *scriptedRounds) round(ctx context.Context) (uint64, error) {
	i := s.n.Add(1)
	select { // tell the test, if it listens
	case s.started <- i:
	default:
	}
	if s.gate != nil {
		select {
		case <-s.gate:
		case <-ctx.Done():
			return 0, ctx.Err()
		}
	}
	return uint64(100 * i), nil
}

func TestReadersThatArriveDuringARoundShareTheNextOne(t *testing.T) {
	s := &scriptedRounds{started: make(chan int64, 8), gate: make(chan struct{})}
	r := newReadIndexer(context.Background(), time.Minute, s.round)
	first := make(chan uint64, 1)
	go func() { idx, _ := r.index(context.Background()); first <- idx }()
	<-s.started // round 1 runs; nobody may join it from now on

	const readers = 64
	var wg sync.WaitGroup
	got := make(chan uint64, readers)
	for range readers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			idx, err := r.index(context.Background())
			if err != nil {
				t.Error(err)
			}
			got <- idx
		}()
	}
	// All of them queue behind round 1 before it ends.
	for queued := 0; queued < readers; {
		time.Sleep(time.Millisecond)
		r.mu.Lock()
		if r.next != nil {
			queued = r.next.readers
		}
		r.mu.Unlock()
	}
	close(s.gate)
	wg.Wait()
	close(got)
	if idx := <-first; idx != 100 {
		t.Fatalf("the first reader got %d", idx)
	}
	for idx := range got {
		if idx != 200 {
			t.Fatalf("a reader that came during round 1 got index %d, want round 2's", idx)
		}
	}
	if n := s.n.Load(); n != 2 {
		t.Fatalf("%d readers took %d rounds; want all of them in one after the first", readers, n-1)
	}
}

func TestAReaderWhoseContextEndsLeavesAndTheRoundGoesOnForTheOthers(t *testing.T) {
	s := &scriptedRounds{started: make(chan int64, 8), gate: make(chan struct{})}
	r := newReadIndexer(context.Background(), time.Minute, s.round)
	impatient, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { _, err := r.index(impatient); errc <- err }()
	<-s.started
	patient := make(chan uint64, 1)
	go func() { idx, _ := r.index(context.Background()); patient <- idx }()
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("impatient reader: %v", err)
	}
	close(s.gate)
	if idx := <-patient; idx != 200 {
		t.Fatalf("patient reader got %d", idx)
	}
}

func TestARoundThatTimesOutFailsItsReadersAndTheNextRoundRuns(t *testing.T) {
	s := &scriptedRounds{gate: make(chan struct{})}
	r := newReadIndexer(context.Background(), 30*time.Millisecond, s.round)
	if _, err := r.index(context.Background()); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got %v, want the round's deadline", err)
	}
	close(s.gate)
	if idx, err := r.index(context.Background()); err != nil || idx != 200 {
		t.Fatalf("next round: %d, %v", idx, err)
	}
}

func TestRoundsEndWithTheNode(t *testing.T) {
	base, stop := context.WithCancel(context.Background())
	s := &scriptedRounds{started: make(chan int64, 1), gate: make(chan struct{})}
	r := newReadIndexer(base, time.Minute, s.round)
	errc := make(chan error, 1)
	go func() { _, err := r.index(context.Background()); errc <- err }()
	<-s.started
	stop()
	if err := <-errc; !errors.Is(err, ErrShutdown) {
		t.Fatalf("got %v", err)
	}
}

func TestALeaderChangeBetweenRoundsIsRetriedByTheNextRound(t *testing.T) {
	f := leaderAt(3, 10)
	var turn atomic.Int64
	f.verify = func(f *fakeRaft) error {
		if turn.Add(1) == 1 { // the first round sees leadership move
			f.set(func(f *fakeRaft) { f.term, f.commit = 4, 12 })
			return nil
		}
		return nil
	}
	r := newReadIndexer(context.Background(), time.Minute, func(ctx context.Context) (uint64, error) {
		return leaderReadIndex(ctx, f, readyAlways(f))
	})
	if _, err := r.index(context.Background()); !errors.Is(err, ErrNotLeader) {
		t.Fatalf("first round: %v", err)
	}
	if idx, err := r.index(context.Background()); err != nil || idx != 12 {
		t.Fatalf("second round: %d, %v; want the new term's commit index 12", idx, err)
	}
}
