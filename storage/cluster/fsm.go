package cluster

import (
	"fmt"
	"io"

	"github.com/hashicorp/raft"

	"cxt/storage/state"
)

// fsm adapts the node's state machine to raft.BatchingFSM.
type fsm Node

var _ raft.BatchingFSM = (*fsm)(nil)

// ApplyBatch applies committed entries. An entry this node cannot apply
// stops it (failStop): every entry of the batch, and of every later batch,
// is answered with the fail-stop error — never with a result — and nothing
// of them is written, so the node retries them when it next starts.
func (f *fsm) ApplyBatch(logs []*raft.Log) []any {
	n := (*Node)(f)
	out := make([]any, len(logs))
	stop := func(err error) []any {
		for i := range out {
			out[i] = err
		}
		return out
	}
	if err := n.FailStop(); err != nil {
		return stop(err)
	}
	entries := make([]state.Entry, len(logs))
	for i, l := range logs {
		entries[i] = state.Entry{Index: l.Index, Term: l.Term}
		if l.Type == raft.LogCommand {
			cmds, err := state.DecodeEntry(l.Data)
			if err != nil {
				return stop(n.failStop(fmt.Errorf("committed entry %d is malformed: %w", l.Index, err)))
			}
			entries[i].Commands = cmds
		}
	}
	results, err := f.st.ApplyBatch(entries)
	if err != nil {
		return stop(n.failStop(fmt.Errorf("cannot apply committed entries %d..%d: %w", logs[0].Index, logs[len(logs)-1].Index, err)))
	}
	n.appliedTerm.Store(logs[len(logs)-1].Term)
	n.notifyApplied()
	for i := range results {
		out[i] = results[i]
	}
	return out
}

func (f *fsm) Apply(l *raft.Log) any { return f.ApplyBatch([]*raft.Log{l})[0] }

func (f *fsm) Snapshot() (raft.FSMSnapshot, error) {
	if err := (*Node)(f).FailStop(); err != nil {
		return nil, err
	}
	sn, err := f.st.BeginSnapshot()
	if err != nil {
		return nil, err
	}
	return fsmSnapshot{sn, (*Node)(f)}, nil
}

// Restore replaces the state with a snapshot; state.Restore rebuilds the
// in-memory state derived from it (keyring, policy, command set) before
// this returns.
func (f *fsm) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	if err := (*Node)(f).FailStop(); err != nil {
		return err
	}
	err := f.st.Restore(rc)
	(*Node)(f).notifyApplied()
	return err
}

type fsmSnapshot struct {
	sn *state.Snapshot
	n  *Node
}

// Persist syncs the state file first, so that a write-back error of the
// unsynced commits surfaces here instead of passing unseen: the state
// marks its file untrusted and the node stops (see state.Snapshot.Sync).
func (s fsmSnapshot) Persist(sink raft.SnapshotSink) error {
	if err := s.sn.Sync(); err != nil {
		sink.Cancel()
		return s.n.failStop(err)
	}
	if _, err := s.sn.WriteTo(sink); err != nil {
		sink.Cancel()
		return err
	}
	return sink.Close()
}

func (s fsmSnapshot) Release() { s.sn.Release() }
