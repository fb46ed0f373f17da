package invoices

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"log/slog"
	"time"

	"cxt/storage/state"
)

// Proposer is the cluster as the driver uses it.
type Proposer interface {
	ProposeOK(ctx context.Context, cmd *state.Command) ([]byte, error)
	State() *state.State
}

// Driver issues the outbox's invoices through the Issuer while its node
// leads, in outbox order, and records each page's numbers in one command.
// A red-letter reversal waits for its original's number. A leader that
// stops after issuing and before the command leaves the entries in the
// outbox; the next one asks the Issuer again under the same IDs and gets
// the same numbers, and a number recorded once is not recorded again
// (CmdIssued ignores an invoice no longer issuing).
type Driver struct {
	Node     Proposer
	Leading  func() bool
	Issuer   Issuer
	Log      *slog.Logger
	Now      func() time.Time
	Interval time.Duration // between rounds; default 1 s
	Page     int           // invoices per command; default 100

	kick chan struct{}
}

// Kick starts a round now.
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
		every = time.Second
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
		if err := d.Round(ctx); err != nil && ctx.Err() == nil && d.Log != nil {
			d.Log.Warn("invoices: a round stopped; the next one goes on", "err", err)
		}
	}
}

// Round issues what the outbox holds, a page per command.
func (d *Driver) Round(ctx context.Context) error {
	page := d.Page
	if page <= 0 {
		page = 100
	}
	for {
		var todo []*Invoice
		originals := map[string]string{} // a reversal's original -> its number
		err := d.Node.State().View(func(r *state.ReadTx) error {
			var err error
			if todo, err = outbox(r, page); err != nil {
				return err
			}
			for _, inv := range todo {
				if inv.Reverses == "" {
					continue
				}
				o, err := Get(r, inv.Reverses)
				if err != nil {
					return err
				}
				originals[o.ID] = o.Number
			}
			return nil
		})
		if err != nil || len(todo) == 0 {
			return err
		}
		var res Results
		var stop error
		for _, inv := range todo {
			req := requestOf(inv)
			if inv.Reverses != "" {
				if req.OriginalNumber = originals[inv.Reverses]; req.OriginalNumber == "" {
					break // its original is issued first, in this page or the next
				}
			}
			n, err := d.Issuer.Issue(ctx, req)
			if err != nil {
				stop = fmt.Errorf("invoices: %s issuing %s: %w", d.Issuer.Name(), inv.ID, err)
				break
			}
			res.Items = append(res.Items, IssuedItem{Invoice: inv.ID, Outbox: inv.Outbox, Number: n})
			originals[inv.ID] = n
		}
		if len(res.Items) > 0 {
			body, err := json.Marshal(res)
			if err != nil {
				return err
			}
			if _, err := d.Node.ProposeOK(ctx, state.NewCommand(CmdIssued, body, d.now())); err != nil {
				return err
			}
		}
		if stop != nil || len(res.Items) < len(todo) || len(todo) < page {
			return stop
		}
	}
}

func (d *Driver) now() time.Time {
	if d.Now != nil {
		return d.Now()
	}
	return time.Now()
}

// requestOf is what the Issuer is given for inv.
func requestOf(inv *Invoice) IssueRequest {
	return IssueRequest{ID: inv.ID, Kind: inv.Kind, Seller: inv.Seller, SellerTaxID: inv.SellerTaxID, Buyer: inv.Buyer,
		BuyerTaxID: inv.BuyerTaxID, Item: inv.Item, Rate: inv.Rate(), AmountFen: inv.AmountFen, TaxFen: inv.TaxFen, TotalFen: inv.TotalFen,
		Requested: inv.Requested}
}

// outbox reads up to limit invoices waiting for the Issuer, in order.
func outbox(r *state.ReadTx, limit int) ([]*Invoice, error) {
	var out []*Invoice
	err := r.Seek(OutboxName, nil, false, func(k, _ []byte) (bool, error) {
		if len(k) <= 8 {
			return false, fmt.Errorf("invoices: outbox key %x", k)
		}
		inv, err := Get(r, string(k[8:]))
		if err != nil {
			return false, err
		}
		if inv.Outbox != binary.BigEndian.Uint64(k[:8]) {
			return false, fmt.Errorf("invoices: outbox entry %x does not match invoice %s", k, inv.ID)
		}
		out = append(out, inv)
		return len(out) < limit, nil
	})
	return out, err
}
