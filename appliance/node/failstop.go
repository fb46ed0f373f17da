package node

import (
	"context"

	"cxt/storage/cluster"
)

// watchFailStop passes on a fail-stop of the replica (see cluster.ErrFailStop):
// the process must exit rather than keep answering without a state machine.
func (n *Node) watchFailStop(ctx context.Context, c *cluster.Node) {
	select {
	case <-c.Failed():
		n.stopErr = c.FailStop()
		close(n.stopped)
	case <-ctx.Done():
	}
}

// Stopped is closed when the node's replica stopped itself because it could
// not apply a committed log entry; Err then says why.
func (n *Node) Stopped() <-chan struct{} { return n.stopped }

// Err returns why the node stopped itself, or nil.
func (n *Node) Err() error {
	select {
	case <-n.stopped:
		return n.stopErr
	default:
		return nil
	}
}
