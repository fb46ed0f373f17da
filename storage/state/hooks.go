package state

import (
	bolt "go.etcd.io/bbolt"
)

// In-memory state derived from the store — the keyring's terms, the policy
// in force, the command set the cluster speaks — must never run ahead of the
// file: a change made in memory by a command whose transaction then rolls
// back (the command fails, or the batch cannot commit) would leave this
// replica behaving differently from its peers and from its own file after a
// restart. So a handler never changes such state itself. It registers a
// commit hook (Tx.OnCommit) that runs once the batch's transaction has
// committed, and its package registers a reload hook (Registry.OnReload)
// that rebuilds the state from the file whenever the file is opened or
// replaced by a snapshot.

// OnCommit registers fn to run after the transaction holding this command
// commits. Hooks run in the order they were registered, on the apply
// goroutine, before the next entry is applied. A command that fails (its
// handler returns an error) runs none of its hooks, and neither does a
// batch that cannot commit. An error from fn stops the node: the file then
// holds a change that this replica's memory does not.
func (t *Tx) OnCommit(fn func() error) { t.commit = append(t.commit, fn) }

// ReloadHook rebuilds a piece of derived in-memory state from the committed
// state r.
type ReloadHook func(r *ReadTx) error

// OnReload registers fn to run whenever the state file is opened or
// replaced by a snapshot (state.Restore, a follower's InstallSnapshot), in
// the order registered, after the keyring has been loaded from the file.
func (r *Registry) OnReload(fn ReloadHook) { r.reload = append(r.reload, fn) }

// reload rebuilds every piece of derived in-memory state from btx: the
// keyring's terms, the command set, then the registered hooks.
func (s *State) reload(btx *bolt.Tx) error {
	if err := s.loadKeys(btx); err != nil {
		return err
	}
	r := &ReadTx{st: s, btx: btx}
	if err := s.loadCommandSet(r); err != nil {
		return err
	}
	for _, fn := range s.reg.reload {
		if err := fn(r); err != nil {
			return err
		}
	}
	return nil
}
