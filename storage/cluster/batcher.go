package cluster

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hashicorp/raft"

	"cxt/storage/state"
)

// Group commit: proposals that arrive while earlier batches are in flight
// travel together in one log entry, so one Raft append, one fsync and one
// state transaction serve them all. An idle node sends a lone proposal at
// once; a busy one sends batches as large as the load.
const (
	maxBatchCommands = 1024
	maxBatchBytes    = 8 << 20
	maxInFlight      = 4
)

type proposal struct {
	data []byte
	done chan proposalResult
}

type proposalResult struct {
	res state.Result
	err error
}

type batcher struct {
	n     *Node
	in    chan *proposal
	slots chan struct{}
}

func newBatcher(n *Node) *batcher {
	return &batcher{n: n, in: make(chan *proposal, 4*maxBatchCommands), slots: make(chan struct{}, maxInFlight)}
}

func (b *batcher) run() {
	defer b.n.wg.Done()
	for {
		var first *proposal
		select {
		case first = <-b.in:
		case <-b.n.stop:
			return
		}
		select { // while every slot is busy, proposals pile up into the next batch
		case b.slots <- struct{}{}:
		case <-b.n.stop:
			first.done <- proposalResult{err: ErrShutdown}
			return
		}
		batch, size := []*proposal{first}, len(first.data)
	drain:
		for len(batch) < maxBatchCommands && size < maxBatchBytes {
			select {
			case p := <-b.in:
				batch, size = append(batch, p), size+len(p.data)
			default:
				break drain
			}
		}
		go b.send(batch)
	}
}

func (b *batcher) send(batch []*proposal) {
	defer func() { <-b.slots }()
	datas := make([][]byte, len(batch))
	for i, p := range batch {
		datas[i] = p.data
	}
	ctx, cancel := context.WithTimeout(context.Background(), defaultProposeTimeout)
	defer cancel()
	results, err := b.n.submit(ctx, datas)
	if err == nil && len(results) != len(batch) {
		err = fmt.Errorf("cluster: %d results for %d commands", len(results), len(batch))
	}
	for i, p := range batch {
		if err != nil {
			p.done <- proposalResult{err: err}
		} else {
			p.done <- proposalResult{res: results[i]}
		}
	}
}

// enqueue hands one sealed command to the batcher and waits for its result.
func (b *batcher) propose(ctx context.Context, data []byte) (state.Result, error) {
	p := &proposal{data: data, done: make(chan proposalResult, 1)}
	select {
	case b.in <- p:
	case <-ctx.Done():
		return state.Result{}, ctx.Err()
	case <-b.n.stop:
		return state.Result{}, ErrShutdown
	}
	select {
	case r := <-p.done:
		return r.res, r.err
	case <-ctx.Done():
		return state.Result{}, ctx.Err()
	case <-b.n.stop:
		return state.Result{}, ErrShutdown
	}
}

// submit replicates one batch: through Raft on the leader, or forwarded to
// the leader as one RPC.
func (n *Node) submit(ctx context.Context, datas [][]byte) ([]state.Result, error) {
	entry := state.EncodeEntry(datas)
	if n.raft.State() == raft.Leader {
		return n.applyEntry(ctx, entry)
	}
	addr, id := n.raft.LeaderWithID()
	if addr == "" {
		return nil, ErrNoLeader
	}
	b, err := n.rpc.call(ctx, string(addr), string(id), opApply, entry)
	if err != nil {
		return nil, err
	}
	return decodeResults(b)
}

// applyEntry appends one entry on the leader and waits until it is applied.
func (n *Node) applyEntry(ctx context.Context, entry []byte) ([]state.Result, error) {
	timeout := defaultProposeTimeout
	if dl, ok := ctx.Deadline(); ok {
		timeout = max(time.Until(dl), time.Millisecond)
	}
	f := n.raft.Apply(entry, timeout)
	errc := make(chan error, 1)
	go func() { errc <- f.Error() }()
	select {
	case err := <-errc:
		if errors.Is(err, raft.ErrRaftShutdown) {
			return nil, ErrShutdown
		}
		if err != nil {
			return nil, err
		}
	case <-n.stop:
		return nil, ErrShutdown
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	switch res := f.Response().(type) {
	case []state.Result:
		return res, nil
	case error: // the node stopped itself: never an acknowledgement
		return nil, res
	default:
		return nil, fmt.Errorf("cluster: unexpected apply response %T", f.Response())
	}
}

func encodeResults(results []state.Result) []byte {
	parts := make([][]byte, len(results))
	for i, r := range results {
		parts[i], _ = r.MarshalBinary()
	}
	return state.EncodeEntry(parts)
}

func decodeResults(b []byte) ([]state.Result, error) {
	parts, err := state.DecodeEntry(b)
	if err != nil {
		return nil, err
	}
	out := make([]state.Result, len(parts))
	for i, p := range parts {
		if out[i], err = state.UnmarshalResult(p); err != nil {
			return nil, err
		}
	}
	return out, nil
}
