package filing

import (
	"fmt"

	"cxt/appliance/ledger"
	"cxt/appliance/payouts"
	"cxt/storage/state"
)

// LedgerIIT is the IIT payable the ledger holds for the payments counted in
// a month: every posting's tax/iit lines, credited when payments were
// booked (cause tax) and debited when they failed or came back (cause
// return), attributed to the month of the payments the posting names.
//
// It reads the payments only to learn which month each counts in and, for
// a posting that books or reverses payments of several months at once (a
// channel's results on the 1st), to split its line among them — a split
// that must add up to the line to the fen, or the function fails. Tax
// payments to the authority (filing.pay) and adjustments name no payments:
// they settle the payable, they are not part of what a month declares.
func LedgerIIT(r *state.ReadTx, p Period) (int64, error) {
	type detail struct {
		month   int
		iit     int64
		posting uint64 // the posting that booked it
		final   bool   // failed or returned: reversed by the last posting naming it
	}
	pays := map[string]detail{}
	err := payouts.Payments(r, func(pay *payouts.Payment) error {
		pays[pay.ID] = detail{month: pay.Month, iit: pay.IITFen, posting: pay.Posting,
			final: pay.Status == payouts.Failed || pay.Status == payouts.Returned}
		return nil
	})
	if err != nil {
		return 0, err
	}
	var postings []*ledger.Posting
	last := map[string]uint64{} // payment -> the last posting naming it
	err = r.Scan(ledger.PostingsBucket, func(k, v []byte, openErr error) error {
		if openErr != nil {
			return fmt.Errorf("filing: posting %x: %w", k, openErr)
		}
		lp, err := ledger.Decode(v)
		if err != nil {
			return err
		}
		if len(lp.Payments) == 0 {
			return nil
		}
		for _, id := range lp.Payments {
			last[id] = max(last[id], lp.Seq)
		}
		for _, l := range lp.Lines {
			if l.Account == ledger.IIT {
				postings = append(postings, lp)
				break
			}
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	target := p.YYYYMM()
	var total int64
	for _, lp := range postings {
		var booked, reversed int64
		for _, l := range lp.Lines {
			if l.Account != ledger.IIT {
				continue
			}
			if l.Debit {
				reversed += l.Fen
			} else {
				booked += l.Fen
			}
		}
		// Who each side sums: the payments this posting booked, and the
		// payments it reversed (final, and named last by it).
		byMonth := func(side string, line int64, counts func(detail, string) bool) (int64, error) {
			if line == 0 {
				return 0, nil
			}
			sums := map[int]int64{}
			for _, id := range lp.Payments {
				d, ok := pays[id]
				if !ok {
					return 0, fmt.Errorf("filing: posting %d names payment %s, which does not exist", lp.Seq, id)
				}
				if counts(d, id) {
					sums[d.month] += d.iit
				}
			}
			if len(sums) == 0 {
				return 0, fmt.Errorf("filing: posting %d %s %s of IIT and names no payment it could be", lp.Seq, side, ledger.Yuan(line))
			}
			if len(sums) == 1 {
				for m := range sums {
					if m == target {
						return line, nil // the ledger's own figure
					}
				}
				return 0, nil
			}
			var all int64
			for _, s := range sums {
				all += s
			}
			if all != line {
				return 0, fmt.Errorf("filing: posting %d %s %s of IIT; the payments it names, split by month, sum %s", lp.Seq, side, ledger.Yuan(line), ledger.Yuan(all))
			}
			return sums[target], nil
		}
		b, err := byMonth("books", booked, func(d detail, _ string) bool { return d.posting == lp.Seq })
		if err != nil {
			return 0, err
		}
		rv, err := byMonth("reverses", reversed, func(d detail, id string) bool { return d.final && last[id] == lp.Seq })
		if err != nil {
			return 0, err
		}
		total += b - rv
	}
	return total, nil
}
