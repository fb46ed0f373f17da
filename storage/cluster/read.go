package cluster

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/hashicorp/raft"

	"cxt/storage/state"
)

// Linearizable reads use Raft's read index (Raft thesis §6.4), as rqlite's
// linearizable level and etcd's server/etcdserver read loop do, instead of
// writing a barrier into the log for every round:
//
//  1. The leader makes sure it has applied an entry of its own term (a new
//     leader's commit index may lag what earlier leaders committed); if not
//     yet, it commits one empty entry, once per term.
//  2. It notes its commit index: every write acknowledged before the round
//     began is at or below it.
//  3. It confirms with a quorum heartbeat that it still leads (VerifyLeader),
//     so no newer leader can have committed anything it does not know of,
//     and that its term did not change meanwhile.
//  4. Each reader waits until its own node has applied up to that index and
//     reads locally. A follower asks the leader for the index (step 1–3 run
//     there) and waits for its own state to catch up.
//
// Readers are batched: everyone who arrives while a round runs shares the
// next one, so one quorum heartbeat serves any number of concurrent readers
// and at most one round per node is in flight.
//
// Every entry at or below a read index must reach the state machine, or a
// reader would wait for the next write: hashicorp/raft keeps only its own
// no-op (before the term's first entry, so below any read index) and
// raft.Barrier entries from the FSM, so nothing here calls raft.Barrier.

// ReadBarrier returns once this node's state reflects every write that was
// acknowledged before the call: reads after it are linearizable. Followers
// ask the leader for its read index and wait to apply up to it. It writes
// nothing to the log (except the first read of a leader's term; see above).
func (n *Node) ReadBarrier(ctx context.Context) error {
	var index uint64
	err := n.retry(ctx, func(ctx context.Context) (err error) {
		index, err = n.readIndex(ctx)
		return err
	})
	if err != nil {
		return err
	}
	return n.waitApplied(ctx, index)
}

// readIndex joins the next read round: the leader's own, or on a follower
// one forwarded request to the leader shared by the follower's readers.
func (n *Node) readIndex(ctx context.Context) (uint64, error) {
	if n.raft.State() == raft.Leader {
		return n.leaderReads.index(ctx)
	}
	return n.followerReads.index(ctx)
}

// forwardedReadRound is a follower's round: one read-index request to the
// leader, answered from the leader's own batched rounds.
func (n *Node) forwardedReadRound(ctx context.Context) (uint64, error) {
	addr, id := n.raft.LeaderWithID()
	if addr == "" {
		return 0, ErrNoLeader
	}
	return n.forwardReadIndex(ctx, string(addr), string(id))
}

// leaderReadRound is a leader's round (steps 1–3 above).
func (n *Node) leaderReadRound(ctx context.Context) (uint64, error) {
	return leaderReadIndex(ctx, n.raft, n.termReady)
}

// termReady makes sure this leader has applied an entry of term, committing
// an empty one if it has not: until then its commit index may be behind
// entries that a previous leader committed. Rounds run one at a time, so at
// most one such entry is in flight.
func (n *Node) termReady(ctx context.Context, term uint64) error {
	if n.appliedTerm.Load() >= term {
		return nil
	}
	if _, err := n.applyEntry(ctx, state.EncodeEntry(nil)); err != nil {
		return err
	}
	if n.appliedTerm.Load() < term { // applied, but leadership changed on the way
		return ErrNotLeader
	}
	return nil
}

// raftView is what a leader's read round asks of Raft; *raft.Raft provides it
// and tests give fakes.
type raftView interface {
	State() raft.RaftState
	CurrentTerm() uint64
	CommitIndex() uint64
	VerifyLeader() raft.Future
}

// leaderReadIndex runs steps 1–3 and returns the read index.
func leaderReadIndex(ctx context.Context, r raftView, termReady func(context.Context, uint64) error) (uint64, error) {
	if r.State() != raft.Leader {
		return 0, ErrNotLeader
	}
	term := r.CurrentTerm()
	if err := termReady(ctx, term); err != nil {
		return 0, err
	}
	index := r.CommitIndex()
	if err := await(ctx, r.VerifyLeader()); err != nil {
		if errors.Is(err, raft.ErrNotLeader) || errors.Is(err, raft.ErrLeadershipLost) {
			return 0, ErrNotLeader
		}
		if errors.Is(err, raft.ErrRaftShutdown) {
			return 0, ErrShutdown
		}
		return 0, err
	}
	// A leader that lost and regained leadership in between would have a
	// new term, and its commit index from before might miss the writes of
	// the leader in between.
	if r.CurrentTerm() != term || r.State() != raft.Leader {
		return 0, ErrNotLeader
	}
	return index, nil
}

// await waits for f, or for ctx to end first.
func await(ctx context.Context, f raft.Future) error {
	errc := make(chan error, 1)
	go func() { errc <- f.Error() }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// readIndexer batches readers into rounds, in the manner of etcd's
// linearizableReadLoop: a reader joins the round that has not started yet;
// when the running round ends, the next one starts with everyone who joined
// it. A round that arrived before a reader could miss writes acknowledged
// before the reader, so nobody joins a round that has started.
type readIndexer struct {
	round   func(context.Context) (uint64, error)
	timeout time.Duration   // bounds one round, whoever waits for it
	base    context.Context // ends when the node stops

	mu      sync.Mutex
	next    *readRound // collecting readers; nil when none wait
	running bool       // a round is in flight
}

// readRound is one round's outcome, shared by its readers.
type readRound struct {
	done    chan struct{}
	readers int // joined so far; guarded by readIndexer.mu
	index   uint64
	err     error
}

func newReadIndexer(base context.Context, timeout time.Duration, round func(context.Context) (uint64, error)) *readIndexer {
	return &readIndexer{round: round, timeout: timeout, base: base}
}

// index joins the next round and returns its read index.
func (r *readIndexer) index(ctx context.Context) (uint64, error) {
	r.mu.Lock()
	rd := r.next
	if rd == nil {
		rd = &readRound{done: make(chan struct{})}
		r.next = rd
	}
	rd.readers++
	if !r.running {
		r.running = true
		go r.loop()
	}
	r.mu.Unlock()
	select {
	case <-rd.done:
		return rd.index, rd.err
	case <-ctx.Done():
		return 0, ctx.Err()
	}
}

// loop runs rounds while readers wait for one, then ends.
func (r *readIndexer) loop() {
	for {
		r.mu.Lock()
		rd := r.next
		r.next = nil
		if rd == nil {
			r.running = false
			r.mu.Unlock()
			return
		}
		r.mu.Unlock()
		ctx, cancel := context.WithTimeout(r.base, r.timeout)
		rd.index, rd.err = r.round(ctx)
		cancel()
		if rd.err != nil && r.base.Err() != nil {
			rd.err = ErrShutdown
		}
		close(rd.done)
	}
}
