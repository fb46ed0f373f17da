package state

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"
)

// Command sets. A replica that meets a command type it does not know cannot
// answer as its peers do, so it stops (see applyOne). To keep a rolling
// upgrade from stopping the old nodes, the commands a cluster may carry are
// gated by a replicated minimum:
//
//   - Every command type belongs to the command set that introduced it
//     (Registry.HandleFrom; Handle means set 1). A binary speaks the highest
//     set it registers. A change to what an existing command does is a new
//     command type, so a set names both the types and their outcomes.
//   - The cluster's command set is replicated (CmdCommandSet, kept in the
//     meta bucket; absent means 1). A node only proposes a type whose set
//     the cluster already speaks (State.Proposable), and a handler that runs
//     one through Tx.Run is refused alike on every replica that knows it.
//   - The operator raises the set once every node runs a binary that speaks
//     it. A node whose binary is older then stops at that command, and
//     refuses to open a file that records a newer set, saying to upgrade.

// PartiesSet is the command set that brings the parties in: data subjects'
// keys, merchants, workers and their agreements.
const PartiesSet = 3

// MoneySet is the command set that brings the work and the money in: tasks,
// the ledger, billing, payouts, the payment channel's outbox, machine
// clients and callbacks.
const MoneySet = 4

// GatewaySet is the command set that opens the state to tax bureaus: the
// gateway's feed entries, which existing commands append from this set on,
// its bureau clients, nonces, reports and receipts.
const GatewaySet = 5

// RiskSet is the command set that puts risk under the replicated policy:
// payout rows decided inside the state machine by the payout rules of the
// bundle the log holds (policy/risk), the embedded default bundle stored
// by the leader when none is, and the risk domain's inspection jobs, cases
// and samples, with the facts its detectors read that worker registrations
// record from this set on (blind indexes of the bank card and of the
// registering client's address and device).
const RiskSet = 6

// PolicyBundleSet is the command set of signed policy bundles: a policy is
// put in force (policy.activate) or back (policy.rollback) only as a bundle
// signed by a security administrator, and the unsigned policy.set is
// refused from it on.
const PolicyBundleSet = 7

// FilingSet is the command set of what follows the payout: monthly
// withholding declarations and their corrections, tax payments against
// them, invoices under both operating models, channel reconciliation,
// discrepancy cases and adjustments (调账).
const FilingSet = 8

// ArchivesSet is the command set of the subjects' archives and rights:
// archive use and destruction, legal holds, personal-information requests
// (export, correction, deletion, restriction, account cancellation), and
// training and insurance records.
const ArchivesSet = 9

// CmdCommandSet raises the command set the cluster speaks; its body is the
// set, 8 bytes big-endian.
const CmdCommandSet = "state.min_version"

// commandSetKey holds the cluster's command set in the meta bucket.
var commandSetKey = []byte("command_set")

// ErrCommandSet is returned when a command belongs to a command set the
// cluster does not speak yet, or the state needs a newer binary.
var ErrCommandSet = errors.New("state: command set")

// HandleFrom registers the handler of a command type introduced in command
// set set (1 or more).
func (r *Registry) HandleFrom(set uint32, typ string, h Handler) {
	if set == 0 {
		panic("state: command set 0 for " + typ)
	}
	if _, dup := r.handlers[typ]; dup {
		panic(fmt.Sprintf("state: command %q registered twice", typ))
	}
	r.handlers[typ] = h
	r.from[typ] = set
	r.speaks = max(r.speaks, set)
}

// Speaks returns the highest command set this registry knows.
func (r *Registry) Speaks() uint32 { return r.speaks }

// CommandSetCommand returns the command that makes the cluster speak set.
func CommandSetCommand(set uint32, now time.Time) *Command {
	return NewCommand(CmdCommandSet, binary.BigEndian.AppendUint64(nil, uint64(set)), now)
}

// Speaks returns the highest command set this binary speaks.
func (s *State) Speaks() uint32 { return s.reg.speaks }

// CommandSet returns the command set the cluster speaks, as of the last
// applied entry.
func (s *State) CommandSet() uint32 { return s.cmdSet.Load() }

// Proposable reports whether a command of type typ may be proposed now: this
// binary knows it, and the cluster speaks its command set.
func (s *State) Proposable(typ string) error {
	from, ok := s.reg.from[typ]
	if !ok {
		return fmt.Errorf("state: no handler for command type %q", typ)
	}
	if cur := s.cmdSet.Load(); from > cur {
		return fmt.Errorf("%w: %q belongs to command set %d and the cluster speaks %d; raise it once every node runs a cxt that speaks %d", ErrCommandSet, typ, from, cur, from)
	}
	return nil
}

// handler returns the handler of typ for a command being applied. A type
// this binary does not know is an error, which stops the node: its peers,
// running a newer binary, applied it. A known type of a set the cluster
// does not speak yet is refused, alike on every replica that knows it.
func (s *State) handler(tx *Tx, typ string) (Handler, error) {
	h, ok := s.reg.handlers[typ]
	if !ok {
		return nil, fmt.Errorf("command type %q is unknown to this cxt, which speaks command set %d: a newer cxt wrote this log entry; upgrade this node", typ, s.reg.speaks)
	}
	if from := s.reg.from[typ]; from > 1 {
		cur, err := tx.commandSet()
		if err != nil {
			return nil, err
		}
		if from > cur {
			return nil, Reject(Unavailable, "%q belongs to command set %d; the cluster speaks %d", typ, from, cur)
		}
	}
	return h, nil
}

// Speaks reports whether the cluster speaks command set set as this command
// sees it: what a handler asks before it does more than its command type
// did in an older set (a feed entry, say), so that every replica of every
// version answers alike.
func (t *Tx) Speaks(set uint32) (bool, error) {
	cur, err := t.commandSet()
	return cur >= set, err
}

// commandSet reads the cluster's command set as this command sees it.
func (t *Tx) commandSet() (uint32, error) {
	v, err := t.Get(bucketMeta, commandSetKey)
	if err != nil {
		return 0, err
	}
	return decodeCommandSet(v)
}

func decodeCommandSet(v []byte) (uint32, error) {
	if v == nil {
		return 1, nil
	}
	if len(v) != 8 || binary.BigEndian.Uint64(v) == 0 || binary.BigEndian.Uint64(v) > 1<<32-1 {
		return 0, fmt.Errorf("%w: bad command set record", ErrCorruptFile)
	}
	return uint32(binary.BigEndian.Uint64(v)), nil
}

func applyCommandSet(tx *Tx, cmd *Command) ([]byte, error) {
	if len(cmd.Body) != 8 || binary.BigEndian.Uint64(cmd.Body) == 0 || binary.BigEndian.Uint64(cmd.Body) > 1<<32-1 {
		return nil, Reject(InvalidRequest, "%s: the body is a command set, 8 bytes", CmdCommandSet)
	}
	set := uint32(binary.BigEndian.Uint64(cmd.Body))
	if set > tx.st.reg.speaks {
		// Not a rejection: the peers that speak set apply this command, and
		// this replica cannot apply what follows it.
		return nil, fmt.Errorf("%w: the cluster now speaks command set %d and this cxt speaks up to %d: upgrade this node", ErrCommandSet, set, tx.st.reg.speaks)
	}
	cur, err := tx.commandSet()
	if err != nil {
		return nil, err
	}
	if set < cur {
		return nil, Reject(Conflict, "the cluster speaks command set %d; a command set is never lowered", cur)
	}
	if set == cur {
		return nil, nil
	}
	if err := tx.Put(bucketMeta, commandSetKey, cmd.Body); err != nil {
		return nil, err
	}
	st := tx.st
	tx.OnCommit(func() error {
		st.cmdSet.Store(set)
		return nil
	})
	return nil, nil
}

// loadCommandSet refuses a file that records a command set this binary does
// not speak, and caches the one it records.
func (s *State) loadCommandSet(r *ReadTx) error {
	v, err := r.Get(bucketMeta, commandSetKey)
	if err != nil {
		return err
	}
	set, err := decodeCommandSet(v)
	if err != nil {
		return err
	}
	if set > s.reg.speaks {
		return fmt.Errorf("%w: %s records that the cluster speaks command set %d; this cxt speaks up to %d: upgrade it", ErrCommandSet, s.path, set, s.reg.speaks)
	}
	s.cmdSet.Store(set)
	return nil
}
