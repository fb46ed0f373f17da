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

func (f *fsm) ApplyBatch(logs []*raft.Log) []any {
	entries := make([]state.Entry, len(logs))
	for i, l := range logs {
		entries[i] = state.Entry{Index: l.Index, Term: l.Term}
		if l.Type == raft.LogCommand {
			cmds, err := state.DecodeEntry(l.Data)
			if err != nil {
				panic(fmt.Sprintf("cxt: committed entry %d is malformed: %v", l.Index, err))
			}
			entries[i].Commands = cmds
		}
	}
	results, err := f.st.ApplyBatch(entries)
	if err != nil {
		// A committed entry this node cannot apply: stop rather than diverge.
		panic(fmt.Sprintf("cxt: cannot apply committed entries %d..%d: %v", logs[0].Index, logs[len(logs)-1].Index, err))
	}
	(*Node)(f).notifyApplied()
	out := make([]any, len(results))
	for i := range results {
		out[i] = results[i]
	}
	return out
}

func (f *fsm) Apply(l *raft.Log) any { return f.ApplyBatch([]*raft.Log{l})[0] }

func (f *fsm) Snapshot() (raft.FSMSnapshot, error) {
	sn, err := f.st.BeginSnapshot()
	if err != nil {
		return nil, err
	}
	return fsmSnapshot{sn}, nil
}

func (f *fsm) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	err := f.st.Restore(rc)
	(*Node)(f).notifyApplied()
	return err
}

type fsmSnapshot struct{ sn *state.Snapshot }

func (s fsmSnapshot) Persist(sink raft.SnapshotSink) error {
	if _, err := s.sn.WriteTo(sink); err != nil {
		sink.Cancel()
		return err
	}
	return sink.Close()
}

func (s fsmSnapshot) Release() { s.sn.Release() }
