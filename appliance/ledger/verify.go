package ledger

import (
	"encoding/binary"
	"fmt"
	"sort"

	"cxt/storage/state"
)

// Report is what Verify found: the postings and accounts it rebuilt, each
// account's balance, and every broken invariant.
type Report struct {
	Postings int              `json:"postings"`
	Accounts int              `json:"accounts"`
	Balances map[string]int64 `json:"-"`
	Problems []string         `json:"problems"`
}

// Verify rebuilds every account's balance from the postings alone, in
// sequence order, and checks that each posting balances, that the sequence
// has no gap, that no balance ever went below zero, and that the balances
// the state keeps are the rebuilt ones.
func Verify(r *state.ReadTx) (*Report, error) {
	rep := &Report{Balances: map[string]int64{}, Problems: []string{}}
	var last uint64
	err := r.Scan(PostingsBucket, func(k, v []byte, openErr error) error {
		if openErr != nil {
			rep.problem("posting %x does not open: %v", k, openErr)
			return nil
		}
		seq := binary.BigEndian.Uint64(k)
		if seq != last+1 {
			rep.problem("postings jump from %d to %d", last, seq)
		}
		last = seq
		rep.Postings++
		p, err := Decode(v)
		if err != nil {
			rep.problem("posting %d does not decode: %v", seq, err)
			return nil
		}
		if p.Seq != seq {
			rep.problem("posting under key %d says it is %d", seq, p.Seq)
		}
		if err := p.Check(); err != nil {
			rep.problem("posting %d (%s %s): %v", seq, p.Event, p.Ref, err)
			return nil
		}
		for _, l := range p.Lines {
			rep.Balances[l.Account] += signed(l)
		}
		for _, l := range p.Lines {
			if b := rep.Balances[l.Account]; b < 0 && !Owed(l.Account, p) {
				rep.problem("posting %d (%s %s) takes %s to %s", seq, p.Event, p.Ref, l.Account, Yuan(b))
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	stored := map[string]int64{}
	err = r.Scan(BalancesBucket, func(k, v []byte, openErr error) error {
		if openErr != nil || len(v) != 8 {
			rep.problem("balance of %s does not open (%v)", k, openErr)
			return nil
		}
		stored[string(k)] = int64(binary.BigEndian.Uint64(v))
		return nil
	})
	if err != nil {
		return nil, err
	}
	names := map[string]bool{}
	for a := range rep.Balances {
		names[a] = true
	}
	for a := range stored {
		names[a] = true
	}
	sorted := make([]string, 0, len(names))
	for a := range names {
		sorted = append(sorted, a)
	}
	sort.Strings(sorted)
	for _, a := range sorted {
		if rep.Balances[a] != stored[a] {
			rep.problem("%s: the state keeps %s, the postings make %s", a, Yuan(stored[a]), Yuan(rep.Balances[a]))
		}
	}
	rep.Accounts = len(sorted)
	seq, err := r.Get(MetaBucket, []byte("seq"))
	if err != nil {
		return nil, err
	}
	if (len(seq) == 8 && binary.BigEndian.Uint64(seq) != last) || (seq == nil && last != 0) {
		rep.problem("the sequence says %x, the last posting is %d", seq, last)
	}
	return rep, nil
}

func (r *Report) problem(format string, args ...any) {
	r.Problems = append(r.Problems, fmt.Sprintf(format, args...))
}
