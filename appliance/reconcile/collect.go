package reconcile

import (
	"time"

	"cxt/appliance/payouts"
	"cxt/storage/state"
)

// DayOf is the day in China an instant falls on.
func DayOf(t time.Time) Day {
	c := t.In(payouts.China)
	return Day(c.Year()*10000 + int(c.Month())*100 + c.Day())
}

// End is the first instant after the day in China: a statement of the day
// is imported from then on, never while the channel may still settle
// payments of it.
func (d Day) End() time.Time {
	return time.Date(int(d/10000), time.Month(d/100%100), int(d%100)+1, 0, 0, 0, 0, payouts.China)
}

// handed reports whether a payment was given to its channel (or is about
// to be): the ones a statement may list.
func handed(s payouts.Status) bool {
	switch s {
	case payouts.Accepted, payouts.Submitted, payouts.Paid, payouts.Failed, payouts.Returned:
		return true
	}
	return false
}

// ChannelPayments reads every payment the platform booked for a channel,
// as the reconciliation sees them. A payment rejected, held or cancelled
// never went to a channel: a line naming it is unknown.
func ChannelPayments(tx *state.ReadTx, ch string) ([]Payment, error) {
	var out []Payment
	err := payouts.Payments(tx, func(p *payouts.Payment) error {
		if p.Channel != ch || !handed(p.Status) {
			return nil
		}
		out = append(out, Payment{Ref: p.ID, Merchant: p.Merchant, Fen: p.NetFen, Status: string(p.Status), Date: DayOf(p.Updated), Taken: p.ChannelRef != ""})
		return nil
	})
	return out, err
}

// Prepare reconciles a statement file against the state and builds the
// command that records it.
func Prepare(tx *state.ReadTx, ch string, day Day, name string, data []byte, f *File, by string) (*Import, *Result, error) {
	payments, err := ChannelPayments(tx, ch)
	if err != nil {
		return nil, nil, err
	}
	res := Reconcile(day, f, payments)
	return &Import{Channel: ch, Day: day, Name: name, SM3: f.SM3, Bytes: len(data), Lines: res.Lines, TotalFen: f.Total,
		Expected: res.Expected, Matched: res.Matched, Differences: res.Differences, By: by}, res, nil
}
