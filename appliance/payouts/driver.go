package payouts

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"cxt/appliance/channel"
	"cxt/policy"
	"cxt/storage/state"
)

// Proposer is the cluster as the driver uses it.
type Proposer interface {
	ProposeOK(ctx context.Context, cmd *state.Command) ([]byte, error)
	State() *state.State
}

// Driver moves payments along while its node leads: it executes the next
// chunk of each confirmed batch, hands the outbox to the channel, and brings
// the channel's results back. Every step is a replicated command, and each
// can be repeated: a chunk runs once (the command refuses a chunk already
// run), the channel takes a reference once, a result moves a payment once.
// So a leader that stops anywhere leaves nothing the next one cannot finish.
type Driver struct {
	Node    Proposer
	Leading func() bool
	Channel channel.Channel
	// Payee opens a worker's name and card for the channel.
	Payee    func(tx *state.ReadTx, worker string) (channel.Payee, error)
	Now      func() time.Time
	Log      *slog.Logger
	Interval time.Duration // between rounds; default 500 ms
	// Page is how many outbox entries or results one command carries.
	Page int
	// Limits reads the risk rule's settings from the policy in force, once
	// per chunk; nil: the rules' defaults.
	Limits func(context.Context) (*policy.PayoutLimits, error)

	kick chan struct{}
}

// Kick starts a round now (after a confirm, say).
func (d *Driver) Kick() {
	select {
	case d.kicks() <- struct{}{}:
	default:
	}
}

func (d *Driver) kicks() chan struct{} {
	if d.kick == nil {
		d.kick = make(chan struct{}, 1)
	}
	return d.kick
}

// Run drives until ctx ends.
func (d *Driver) Run(ctx context.Context) {
	every := d.Interval
	if every == 0 {
		every = 500 * time.Millisecond
	}
	kick := d.kicks()
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-kick:
		}
		if !d.Leading() {
			continue
		}
		if err := d.Round(ctx); err != nil && ctx.Err() == nil {
			d.Log.Warn("payouts: a round stopped; the next one goes on", "err", err)
		}
	}
}

// Round runs every step once: the chunks due, the outbox, the results.
func (d *Driver) Round(ctx context.Context) error {
	return errors.Join(d.ExecuteAll(ctx), d.Dispatch(ctx), d.Poll(ctx))
}

func (d *Driver) now() time.Time {
	if d.Now != nil {
		return d.Now()
	}
	return time.Now()
}

func (d *Driver) page() int {
	if d.Page > 0 {
		return d.Page
	}
	return 1000
}

// ExecuteAll runs every confirmed batch's remaining chunks.
func (d *Driver) ExecuteAll(ctx context.Context) error {
	var due []string
	err := d.Node.State().View(func(r *state.ReadTx) error {
		return r.ForEach(ExecBucket, func(k, _ []byte) error { due = append(due, string(k)); return nil })
	})
	if err != nil {
		return err
	}
	for _, id := range due {
		if err := d.Execute(ctx, id); err != nil {
			return err
		}
	}
	return nil
}

// Execute runs a confirmed batch's remaining chunks, one command each.
func (d *Driver) Execute(ctx context.Context, batch string) error {
	for {
		var b *Batch
		if err := d.Node.State().View(func(r *state.ReadTx) (err error) { b, err = GetBatch(r, batch); return }); err != nil {
			return err
		}
		if b.Status != Executing {
			return nil
		}
		chunk := Chunk{Batch: b.ID, Chunk: b.Done}
		if d.Limits != nil {
			limits, err := d.Limits(ctx)
			if err != nil {
				return err
			}
			chunk.Limits = limits
		}
		_, err := d.Node.ProposeOK(ctx, state.NewCommand(CmdExecute, mustJSON(chunk), d.now()))
		var rej *state.Rejection
		if errors.As(err, &rej) && rej.Code == CodeBatchStatus.String() {
			continue // another leader ran it: read again
		}
		if err != nil {
			return err
		}
	}
}

// Dispatch hands the outbox to the channel a page at a time and records
// what it took. A crash between the two hands the same references over
// again, which the channel answers as it did the first time.
func (d *Driver) Dispatch(ctx context.Context) error {
	var after uint64
	for {
		var items []SentItem
		var orders []channel.Order
		err := d.Node.State().View(func(r *state.ReadTx) error {
			var err error
			if items, err = Outbox(r, after, d.page()); err != nil {
				return err
			}
			orders = make([]channel.Order, 0, len(items))
			for _, it := range items {
				p, err := GetPayment(r, it.Payment)
				if err != nil {
					return err
				}
				payee, err := d.Payee(r, p.Worker)
				if err != nil {
					d.Log.Warn("payouts: the payee does not open; the channel will refuse the order", "payment", p.ID, "err", err)
				}
				orders = append(orders, channel.Order{Ref: p.ID, Fen: p.NetFen, Payee: payee})
			}
			return nil
		})
		if err != nil || len(items) == 0 {
			return err
		}
		after = items[len(items)-1].Outbox
		acks, err := d.Channel.Submit(ctx, orders)
		if err != nil {
			return err
		}
		sent := Sent{Channel: d.Channel.Name()}
		refused := Results{Channel: d.Channel.Name()}
		for i, a := range acks {
			if a.Refused != "" {
				refused.Items = append(refused.Items, Result{Payment: a.Ref, Status: Failed, Reason: "the channel refused the order: " + a.Refused, At: d.now()})
				continue
			}
			items[i].ChannelRef = a.ChannelRef
			sent.Items = append(sent.Items, items[i])
		}
		if len(sent.Items) > 0 {
			if _, err := d.Node.ProposeOK(ctx, state.NewCommand(CmdSent, mustJSON(sent), d.now())); err != nil {
				return err
			}
		}
		if len(refused.Items) > 0 {
			if refused.Cursor, err = d.cursor(); err != nil {
				return err
			}
			if _, err := d.Node.ProposeOK(ctx, state.NewCommand(CmdResults, mustJSON(refused), d.now())); err != nil {
				return err
			}
		}
		if len(items) < d.page() {
			return nil
		}
	}
}

func (d *Driver) cursor() (string, error) {
	var c string
	err := d.Node.State().View(func(r *state.ReadTx) (err error) { c, err = Cursor(r, d.Channel.Name()); return })
	return c, err
}

// Poll brings the channel's results in, a page per command, with the
// cursor after them: a result is applied once, and a crash before the
// command asks for the same page again.
func (d *Driver) Poll(ctx context.Context) error {
	for {
		cursor, err := d.cursor()
		if err != nil {
			return err
		}
		events, next, err := d.Channel.Results(ctx, cursor, d.page())
		if err != nil || len(events) == 0 {
			return err
		}
		res := Results{Channel: d.Channel.Name(), Cursor: next, Items: make([]Result, len(events))}
		for i, e := range events {
			res.Items[i] = Result{Payment: e.Ref, Status: Status(e.Status), ChannelRef: e.ChannelRef, Reason: e.Reason, At: e.At}
		}
		if _, err := d.Node.ProposeOK(ctx, state.NewCommand(CmdResults, mustJSON(res), d.now())); err != nil {
			return err
		}
		if len(events) < d.page() {
			return nil
		}
	}
}
