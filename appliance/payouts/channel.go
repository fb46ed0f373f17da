package payouts

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"cxt/appliance/callbacks"
	"cxt/appliance/ledger"
	"cxt/appliance/merchants"
	"cxt/storage/state"
)

// Sent is the body of CmdSent: payments a channel took, by the outbox
// entries they were handed over from.
type Sent struct {
	Channel string     `json:"channel"`
	Items   []SentItem `json:"items"`
}

// SentItem is one payment the channel took.
type SentItem struct {
	Outbox     uint64 `json:"outbox"`
	Payment    string `json:"payment"`
	ChannelRef string `json:"channel_ref"`
}

// Results is the body of CmdResults: what a channel reported, and the
// cursor to ask it from next.
type Results struct {
	Channel string   `json:"channel"`
	Cursor  string   `json:"cursor"`
	Items   []Result `json:"items"`
}

// Result is the channel's word on one payment.
type Result struct {
	Payment    string    `json:"payment"` // the reference the payment was handed over under
	Status     Status    `json:"status"`  // paid, failed or returned
	ChannelRef string    `json:"channel_ref,omitempty"`
	Reason     string    `json:"reason,omitempty"`
	At         time.Time `json:"at"`
}

// Outcome is what applying the results did: per payment, "applied",
// "unknown" (no such payment) or "ignored" (not a move its status allows,
// such as a second report of a payment already paid).
type Outcome struct {
	Applied int               `json:"applied"`
	Unknown []string          `json:"unknown,omitempty"`
	Ignored map[string]string `json:"ignored,omitempty"`
}

// change is one command's bookkeeping of payments moving with the channel.
type change struct {
	tx      *state.Tx
	run     *run
	held    map[string]*withholding
	lines   lineSum
	touched []string
}

func newChange(tx *state.Tx) *change {
	return &change{tx: tx, run: &run{tx: tx, now: tx.Time(), batches: map[string]*Batch{}}, held: map[string]*withholding{}, lines: lineSum{}}
}

// history counts a payment paid or returned in its merchant's history,
// which the merchant's rating reads (command set 6 on).
func (c *change) history(merchant string, d merchants.History) error {
	if ok, err := c.tx.Speaks(state.RiskSet); err != nil || !ok {
		return err
	}
	return merchants.AddHistory(c.tx, merchant, d)
}

func (c *change) move(p *Payment, to Status) {
	c.run.count(p, -1)
	p.Status, p.Updated = to, c.tx.Time()
	c.run.count(p, 1)
	c.run.moved(p)
	if n := len(c.touched); n == 0 || c.touched[n-1] != p.ID {
		c.touched = append(c.touched, p.ID)
	}
	view := func() any { return p.View() }
	switch to {
	case Paid:
		c.run.notify(p.Merchant, callbacks.EventPaymentPaid, view)
	case Failed:
		c.run.notify(p.Merchant, callbacks.EventPaymentFailed, view)
	case Returned:
		c.run.notify(p.Merchant, callbacks.EventPaymentReturned, view)
	}
}

// submit moves an accepted payment to the channel: worker payable →
// clearing, out of the outbox.
func (c *change) submit(p *Payment, outbox uint64, ref string) error {
	if err := c.tx.Delete(OutboxBucket, outboxKey(outbox, p.ID)); err != nil {
		return err
	}
	c.lines.add(ledger.WorkerPayable, true, p.NetFen, ledger.CauseChannel)
	c.lines.add(ledger.Clearing(p.Channel), false, p.NetFen, ledger.CauseChannel)
	p.ChannelRef, p.Outbox = ref, 0
	c.move(p, Submitted)
	return nil
}

// reverse gives a failed or returned payment's money back to the merchant
// — the net from where it now is, the taxes and the fee from their
// accounts — and takes it out of the worker's withholding.
func (c *change) reverse(p *Payment, from string, to Status, reason string) error {
	merchant := ledger.Merchant(p.Merchant)
	c.lines.add(from, true, p.NetFen, ledger.CauseReturn)
	c.lines.add(ledger.IIT, true, p.IITFen, ledger.CauseReturn)
	c.lines.add(ledger.VAT, true, p.VATFen, ledger.CauseReturn)
	c.lines.add(ledger.Surcharges, true, p.SurFen, ledger.CauseReturn)
	c.lines.add(ledger.FeeIncome, true, p.FeeFen, ledger.CauseReturn)
	c.lines.add(merchant, false, p.AmountFen+p.FeeFen, ledger.CauseReturn)
	w, err := loadWithholding(c.tx, c.held, p.Worker, p.Month/100)
	if err != nil {
		return err
	}
	w.reverse(p)
	// The work may be paid again what came back.
	if paid, err := c.run.works.get(c.tx, p.Task, p.Worker); err != nil {
		return err
	} else if paid > 0 {
		if err := c.run.works.add(c.tx, p.Task, p.Worker, -min(paid, p.AmountFen)); err != nil {
			return err
		}
	}
	p.Reason = reason
	c.move(p, to)
	return nil
}

func (c *change) finish(event, ref string) error {
	r := c.run
	r.held, r.lines, r.booked = c.held, c.lines, c.touched
	seq, err := ledger.NextSeq(c.tx)
	if err != nil {
		return err
	}
	r.posting = seq
	return r.finish(event, ref)
}

func (h *handlers) sent(tx *state.Tx, cmd *state.Command) ([]byte, error) {
	var in Sent
	if err := json.Unmarshal(cmd.Body, &in); err != nil || in.Channel == "" {
		return nil, state.Reject(state.InvalidRequest, "a hand-over names its channel")
	}
	c := newChange(tx)
	taken := 0
	for _, it := range in.Items {
		p, err := GetPayment(tx, it.Payment)
		if err != nil {
			return nil, err
		}
		if p.Status != Accepted || p.Channel != in.Channel {
			continue // handed over before: the channel took the reference once
		}
		if err := c.submit(p, it.Outbox, it.ChannelRef); err != nil {
			return nil, err
		}
		if err := putPayment(tx, p); err != nil {
			return nil, err
		}
		taken++
	}
	if err := c.finish(CmdSent, in.Channel); err != nil {
		return nil, err
	}
	return json.Marshal(map[string]int{"taken": taken})
}

func (h *handlers) results(tx *state.Tx, cmd *state.Command) ([]byte, error) {
	var in Results
	if err := json.Unmarshal(cmd.Body, &in); err != nil || in.Channel == "" {
		return nil, state.Reject(state.InvalidRequest, "results name their channel")
	}
	// From command set 8 on, a reference the channel was never handed
	// refuses the whole page: nothing of it applies, the cursor stays
	// before it, and the channel's file is corrected (docs/payouts.md).
	strict, err := tx.Speaks(state.FilingSet)
	if err != nil {
		return nil, err
	}
	c := newChange(tx)
	out := Outcome{Ignored: map[string]string{}}
	for i, it := range in.Items {
		p, err := GetPayment(tx, it.Payment)
		unknown := state.NotFound.Is(err) || (err == nil && p.Channel != in.Channel)
		if err != nil && !unknown {
			return nil, err
		}
		if unknown && strict {
			return nil, state.Reject(CodeUnknownRef, "result %d of the page read up to %s names %q, which channel %s was never handed: no result of the page applies until the channel corrects it",
				i+1, in.Cursor, it.Payment, in.Channel)
		}
		if unknown {
			out.Unknown = append(out.Unknown, it.Payment)
			continue
		}
		if p.Status == Accepted && (it.Status == Paid || it.Status == Failed) {
			// The channel reports a payment whose hand-over this state
			// has not recorded (the leader stopped in between): record it.
			seq := p.Outbox
			if seq == 0 { // a record from before payments kept their entry
				if seq, err = outboxOf(tx, p.ID); err != nil {
					return nil, err
				}
			}
			if err := c.submit(p, seq, it.ChannelRef); err != nil {
				return nil, err
			}
		}
		clearing := ledger.Clearing(p.Channel)
		switch {
		case p.Status == Submitted && it.Status == Paid:
			// The bank's own reference, when it gives one, is the one the
			// payee's statement and the receipt show.
			if it.ChannelRef != "" {
				p.ChannelRef = it.ChannelRef
			}
			c.lines.add(clearing, true, p.NetFen, ledger.CauseChannel)
			c.lines.add(ledger.Bank, false, p.NetFen, ledger.CauseChannel)
			c.move(p, Paid)
			if err := c.history(p.Merchant, merchants.History{Payments: 1}); err != nil {
				return nil, err
			}
		case p.Status == Submitted && it.Status == Failed:
			if err := c.reverse(p, clearing, Failed, it.Reason); err != nil {
				return nil, err
			}
		case p.Status == Paid && it.Status == Returned:
			// The money is back in the custody account.
			c.lines.add(ledger.Bank, true, p.NetFen, ledger.CauseReturn)
			c.lines.add(clearing, false, p.NetFen, ledger.CauseReturn)
			if err := c.reverse(p, clearing, Returned, it.Reason); err != nil {
				return nil, err
			}
			if err := c.history(p.Merchant, merchants.History{Returns: 1}); err != nil {
				return nil, err
			}
		default:
			out.Ignored[p.ID] = fmt.Sprintf("%s is %s; %s does not apply", p.ID, p.Status, it.Status)
			continue
		}
		if (p.Status == Failed || p.Status == Returned) && h.rules.Reversed != nil {
			if err := h.rules.Reversed(tx, p); err != nil {
				return nil, err
			}
		}
		if err := putPayment(tx, p); err != nil {
			return nil, err
		}
		out.Applied++
	}
	if err := tx.Put(MetaBucket, []byte("cursor/"+in.Channel), []byte(in.Cursor)); err != nil {
		return nil, err
	}
	if err := c.finish(CmdResults, in.Channel); err != nil {
		return nil, err
	}
	return json.Marshal(out)
}

// outboxOf finds a payment's outbox entry.
func outboxOf(tx *state.Tx, payment string) (uint64, error) {
	var seq uint64
	_, err := tx.Scan(OutboxBucket, nil, 1<<31, func(k, _ []byte) error {
		if n, id, ok := parseOutbox(k); ok && id == payment {
			seq = n
			return errStop
		}
		return nil
	})
	if err != nil && !errors.Is(err, errStop) {
		return 0, err
	}
	if seq == 0 {
		return 0, fmt.Errorf("payouts: accepted payment %s is not in the outbox", payment)
	}
	return seq, nil
}

// Cursor returns where a channel's results were read up to.
func Cursor(tx Getter, channel string) (string, error) {
	v, err := tx.Get(MetaBucket, []byte("cursor/"+channel))
	return string(v), err
}

// Outbox returns up to limit payments waiting for the channel, from the
// outbox entry after `after` on.
func Outbox(tx *state.ReadTx, after uint64, limit int) ([]SentItem, error) {
	var out []SentItem
	start := binary.BigEndian.AppendUint64(nil, after+1)
	err := tx.Seek(OutboxBucket, start, false, func(k, _ []byte) (bool, error) {
		seq, id, ok := parseOutbox(k)
		if !ok {
			return false, fmt.Errorf("payouts: outbox key %x", k)
		}
		out = append(out, SentItem{Outbox: seq, Payment: id})
		return len(out) < limit, nil
	})
	return out, err
}
