package cluster

import (
	"context"
	"errors"
	"time"

	"github.com/hashicorp/raft"

	"cxt/crypto/keyring"
	"cxt/storage/state"
)

// rotateWornTerms installs the next key term, while this node leads,
// whenever the active term's log or record key has taken its seal budget
// (state.Worn; the budget and why are in storage/state/nonce.go). It wakes
// after every applied batch, so a term never runs far past its budget.
// Two rotations that race propose the same term number; the state machine
// refuses the second alike on every replica.
func (n *Node) rotateWornTerms() {
	defer n.wg.Done()
	for {
		n.appliedMu.Lock()
		applied := n.applied
		n.appliedMu.Unlock()
		if term, worn := n.st.Worn(); worn && n.keys.Active() == term && n.raft.State() == raft.Leader {
			if err := n.rotate(term); err != nil {
				n.log.Warn("key term took its seal budget but rotating it failed; retrying", "term", term, "err", err)
				select {
				case <-n.stop:
					return
				case <-time.After(time.Second):
				}
				continue
			}
		}
		select {
		case <-applied:
		case <-n.stop:
			return
		}
	}
}

func (n *Node) rotate(term uint32) error {
	ctx, cancel := context.WithTimeout(context.Background(), defaultProposeTimeout)
	defer cancel()
	_, logSeals, recordSeals := n.st.SealCounts()
	cmd, err := state.InstallTermCommandFor(n.st.CommandSet(), n.cfg.Master, term+1, keyring.NewSecret(), time.Now())
	if err != nil {
		return err
	}
	_, err = n.ProposeOK(ctx, cmd)
	var rej *state.Rejection
	if errors.As(err, &rej) && rej.Code == state.Conflict.String() {
		return nil // another rotation installed it first
	}
	if err != nil {
		return err
	}
	n.log.Info("key term took its seal budget; the next one is installed", "term", term, "new_term", term+1,
		"log_seals", logSeals, "record_seals", recordSeals)
	return nil
}
