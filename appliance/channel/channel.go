// Package channel is how payments leave the appliance: an adapter
// interface any payment channel implements, a sandbox channel that is the
// embedded default, and a file-based bank interface (payment files out,
// result files in).
//
// A channel pays a reference at most once. Submitting a reference it has
// seen answers with the order it already has, however often it is asked —
// that, and the payouts' replicated outbox, is what makes a payment leave
// exactly once across crashes and leader changes.
package channel

import (
	"context"
	"time"
)

// Order is one payment handed to a channel.
type Order struct {
	Ref   string // the payment's ID: the idempotency key at the channel
	Fen   int64  // what the worker receives
	Payee Payee
}

// Payee is who is paid. It exists in memory only while the order is
// handed over; a channel that must write it down keeps it sealed, or
// writes it only where the operator configured plaintext files to go.
type Payee struct {
	Name string
	Card string // bank card number
}

// Ack is the channel's answer to one order: its own reference, or why it
// refused the order outright.
type Ack struct {
	Ref        string
	ChannelRef string
	Refused    string // non-empty: the order was not taken (the payment fails)
}

// Event is a result the channel reports later.
type Event struct {
	Ref        string
	ChannelRef string
	Status     string // paid, failed or returned
	Reason     string
	At         time.Time
}

// Event statuses.
const (
	Paid     = "paid"
	Failed   = "failed"
	Returned = "returned"
)

// Channel is a payment channel.
type Channel interface {
	// Name names the channel; its clearing account is named after it.
	Name() string
	// Submit hands orders over. An order whose Ref the channel has seen is
	// answered with the order it has; it is never paid again.
	Submit(ctx context.Context, orders []Order) ([]Ack, error)
	// Results returns up to limit events after cursor ("" from the start)
	// and the cursor after them.
	Results(ctx context.Context, cursor string, limit int) ([]Event, string, error)
}
