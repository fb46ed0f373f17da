package topups

import (
	"encoding/json"
	"fmt"

	"cxt/appliance/ledger"
	"cxt/storage/state"
)

// Audit holds suspense against its items, for the auditor (`cxt ledger
// verify`, beside payouts.Verify and filing.Audit): every posting that
// moves ledger.Suspense is an item's credit into it (its Posting, the
// item's amount) or the match or return that cleared it (its Settled, the
// same amount out), and what suspense holds, rebuilt from the postings, is
// the sum of the items still waiting (open or proposed). A posting that
// moves suspense beside its items — an item paid out twice, once by its
// own match and once by something else — is a problem. It returns the
// problems found.
func Audit(r *state.ReadTx) ([]string, error) {
	var problems []string
	bad := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	moves := map[uint64]int64{} // posting -> what it put into suspense (negative: took out)
	var held int64              // suspense rebuilt from the postings
	err := r.Scan(ledger.PostingsBucket, func(_, v []byte, openErr error) error {
		if openErr != nil {
			return nil // ledger.Verify reports it
		}
		p, err := ledger.Decode(v)
		if err != nil {
			return nil // ledger.Verify reports it
		}
		for _, l := range p.Lines {
			if l.Account != ledger.Suspense {
				continue
			}
			fen := l.Fen
			if l.Debit {
				fen = -fen
			}
			moves[p.Seq] += fen
			held += fen
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	var waiting int64 // the items still in suspense
	err = r.Scan(SuspenseBucket, func(k, v []byte, openErr error) error {
		var s Suspense
		if openErr != nil || json.Unmarshal(v, &s) != nil {
			bad("suspense item %s does not open", k)
			return nil
		}
		if got, ok := moves[s.Posting]; !ok || got != s.Fen {
			bad("suspense item %s (%s) names posting %d, which puts %s into suspense", s.ID, ledger.Yuan(s.Fen), s.Posting, ledger.Yuan(got))
		}
		delete(moves, s.Posting)
		switch s.Status {
		case SuspenseOpen, SuspenseProposed:
			waiting += s.Fen
			if s.Settled != 0 {
				bad("suspense item %s is %s but names posting %d as its settlement", s.ID, s.Status, s.Settled)
			}
		case SuspenseMatched, SuspenseReturned:
			if got, ok := moves[s.Settled]; !ok || got != -s.Fen {
				bad("suspense item %s (%s, %s) names posting %d, which takes %s out of suspense", s.ID, s.Status, ledger.Yuan(s.Fen), s.Settled, ledger.Yuan(-got))
			}
			delete(moves, s.Settled)
		default:
			bad("suspense item %s has no known status %q", s.ID, s.Status)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	for seq, fen := range moves {
		bad("posting %d moves %s of suspense and no suspense item accounts for it", seq, ledger.Yuan(fen))
	}
	if held != waiting {
		bad("%s holds %s; its open suspense items add up to %s", ledger.Suspense, ledger.Yuan(held), ledger.Yuan(waiting))
	}
	return problems, nil
}
