package auditlog

import (
	"encoding/binary"
	"encoding/json"
	"fmt"

	"cxt/storage/state"
)

// Report is what Verify found.
type Report struct {
	Size     uint64 `json:"size"`
	Root     Hash   `json:"root"`
	OK       bool   `json:"ok"`
	FirstBad uint64 `json:"first_bad,omitempty"` // sequence number of the first bad entry
	Problem  string `json:"problem,omitempty"`
}

// Verify re-reads every entry in order, reopens it, recomputes its leaf and
// the tree, and compares them with what is stored: a changed byte, a missing,
// moved or extra entry, or a truncated log is reported with the first
// sequence number where it shows.
func Verify(r *state.ReadTx) (Report, error) {
	head, err := CurrentHead(r)
	if err != nil {
		return Report{OK: false, Problem: "the tree's frontier is unreadable: " + err.Error()}, nil
	}
	rep := Report{Size: head.Size, Root: head.Root, OK: true}
	fail := func(seq uint64, format string, args ...any) error {
		rep.OK, rep.FirstBad, rep.Problem = false, seq, fmt.Sprintf(format, args...)
		return errStop
	}
	leaves := map[uint64]Hash{}
	if err := r.Scan(LeavesBucket, func(k, v []byte, openErr error) error {
		if len(k) != 8 {
			return nil
		}
		seq := binary.BigEndian.Uint64(k)
		if openErr != nil || len(v) != len(Hash{}) {
			return fail(seq, "leaf hash %d does not open: it was altered", seq)
		}
		leaves[seq] = Hash(v)
		return nil
	}); err != nil && err != errStop {
		return rep, err
	}
	if !rep.OK {
		return rep, nil
	}
	var f frontier
	next := uint64(1)
	err = r.Scan(EntriesBucket, func(k, v []byte, openErr error) error {
		seq := binary.BigEndian.Uint64(k)
		switch {
		case seq != next:
			return fail(next, "entry %d is missing (found %d next)", next, seq)
		case openErr != nil:
			return fail(seq, "entry %d does not open: its bytes were altered", seq)
		}
		var e Entry
		if err := json.Unmarshal(v, &e); err != nil || e.Seq != seq {
			return fail(seq, "entry %d is not the entry recorded at that position", seq)
		}
		leaf := LeafHash(v)
		if stored, ok := leaves[seq]; !ok || stored != leaf {
			return fail(seq, "entry %d does not match its leaf hash", seq)
		}
		f.push(leaf)
		next++
		return nil
	})
	if err != nil && err != errStop {
		return rep, err
	}
	if !rep.OK {
		return rep, nil
	}
	switch {
	case f.Size != head.Size:
		fail(f.Size+1, "the log holds %d entries but its head records %d: truncated or extended", f.Size, head.Size)
	case f.root() != head.Root:
		fail(1, "the recomputed root differs from the stored one")
	case uint64(len(leaves)) != head.Size:
		fail(head.Size+1, "%d leaf hashes for %d entries", len(leaves), head.Size)
	}
	return rep, nil
}

type stopErr struct{}

func (stopErr) Error() string { return "stop" }

var errStop error = stopErr{}
