package cluster

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hashicorp/raft"

	"cxt/storage/state"
)

const defaultProposeTimeout = 30 * time.Second

// Propose replicates cmd and returns its result once this node's leader has
// applied it. A follower forwards the sealed command to the leader. When the
// outcome is uncertain (leadership lost mid-way) the same command is
// proposed again; its ID makes the second proposal return the first result.
func (n *Node) Propose(ctx context.Context, cmd *state.Command) (state.Result, error) {
	// A type of a command set the cluster does not speak yet would stop
	// the nodes that run an older binary.
	if err := n.st.Proposable(cmd.Type); err != nil {
		return state.Result{}, err
	}
	data, err := state.SealCommand(n.keys, cmd)
	if err != nil {
		return state.Result{}, err
	}
	var res state.Result
	err = n.retry(ctx, func(ctx context.Context) error {
		res, err = n.batch.propose(ctx, data)
		return err
	})
	return res, err
}

// retry runs op until it succeeds, fails for good, or ctx ends; errors that
// mean "no leader right now" are retried with backoff.
func (n *Node) retry(ctx context.Context, op func(context.Context) error) error {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, defaultProposeTimeout)
		defer cancel()
	}
	for backoff := 5 * time.Millisecond; ; backoff = min(backoff*2, 500*time.Millisecond) {
		err := op(ctx)
		if err == nil || !retryable(err) {
			return err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (%v)", ErrNoLeader, err)
		case <-n.stop:
			return ErrShutdown
		case <-time.After(backoff):
		}
	}
}

// ProposeOK is Propose that turns a rejection into an error.
func (n *Node) ProposeOK(ctx context.Context, cmd *state.Command) ([]byte, error) {
	res, err := n.Propose(ctx, cmd)
	if err != nil {
		return nil, err
	}
	return res.Value, res.Error()
}

func retryable(err error) bool {
	return errors.Is(err, raft.ErrNotLeader) || errors.Is(err, raft.ErrLeadershipLost) ||
		errors.Is(err, raft.ErrLeadershipTransferInProgress) || errors.Is(err, ErrNoLeader) ||
		errors.Is(err, ErrNotLeader) || errors.Is(err, raft.ErrEnqueueTimeout) || isTransient(err)
}
