package state

import (
	"errors"

	bolt "go.etcd.io/bbolt"
)

// DryRun applies cmd to this node's committed state and returns its result
// without writing anything: the command's writes stay in memory and are
// dropped, its commit hooks never run, and no audit record is made. It is
// how a preview shows what a command would do, computed by the very code
// that will do it. A handler tells a dry run by Tx.Dry.
func (s *State) DryRun(cmd *Command) (Result, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.db == nil {
		return Result{}, errors.New("state: closed")
	}
	var res Result
	err := s.db.View(func(btx *bolt.Tx) error {
		tx := &Tx{st: s, btx: btx, parent: newOverlay(), writes: newOverlay(), cmd: cmd, index: s.applied.Load(), dry: true}
		h, err := s.handler(tx, cmd.Type)
		if err == nil {
			res.Value, err = h(tx, cmd)
		}
		var rej *Rejection
		if errors.As(err, &rej) {
			res, err = Result{Err: rej}, nil
		}
		return err
	})
	return res, err
}

// Dry reports whether the command is applied by DryRun: nothing it writes
// will stay.
func (t *Tx) Dry() bool { return t.dry }
