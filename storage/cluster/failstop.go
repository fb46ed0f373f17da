package cluster

import (
	"errors"
	"fmt"
)

// Fail-stop. A committed entry that this node cannot apply — a command that
// does not open here, a type its binary does not know, a read, decrypt or
// audit failure, a post-commit effect that fails — means this replica's
// file, log copy or binary differ from its peers'. Answering anyway (a
// rejection its peers did not give, a skipped entry) would make it diverge
// quietly; so, like Vault's FSM, it stops instead: it applies nothing more,
// acknowledges nothing, takes no snapshot, logs one line starting with
// "fail-stop:" and shuts down. Its peers go on without it; the operator
// upgrades or rebuilds it (docs/operations.md). On restart it retries the
// same entry, since nothing of it was written.

// ErrFailStop is the error of every proposal this node answers after it
// stopped itself.
var ErrFailStop = errors.New("cluster: this node stopped itself (fail-stop)")

// failStop records why the node cannot go on, logs it and shuts the node
// down. It runs on the apply goroutine, so the shutdown — which waits for
// that goroutine — runs on another.
func (n *Node) failStop(cause error) error {
	n.failOnce.Do(func() {
		n.failErr = fmt.Errorf("%w: %v", ErrFailStop, cause)
		n.log.Error("fail-stop: "+cause.Error()+"; this node applies nothing more and shuts down",
			"runbook", "docs/operations.md, a node stopped with 'fail-stop: …'")
		close(n.failed)
		go n.Close()
	})
	return n.failErr
}

// Failed is closed when the node stopped itself; FailStop then says why.
func (n *Node) Failed() <-chan struct{} { return n.failed }

// FailStop returns why the node stopped itself, or nil.
func (n *Node) FailStop() error {
	select {
	case <-n.failed:
		return n.failErr
	default:
		return nil
	}
}
