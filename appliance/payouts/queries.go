package payouts

import (
	"fmt"

	"cxt/storage/state"
)

// Payments calls fn with every payment, in ID order (batch by batch, rows
// in order): what post-hoc inspection (appliance/risk) counts. A payment
// that does not open stops the walk.
func Payments(tx *state.ReadTx, fn func(*Payment) error) error {
	return tx.Scan(PaymentBucket, func(k, v []byte, openErr error) error {
		if openErr != nil {
			return fmt.Errorf("payouts: payment %s: %w", k, openErr)
		}
		p, err := unpackPayment(v)
		if err != nil {
			return fmt.Errorf("payouts: payment %s: %w", k, err)
		}
		return fn(p)
	})
}

// Live reports whether a payment's money went to the worker and stayed:
// booked, and not failed or returned.
func (p *Payment) Live() bool {
	return p.Status == Accepted || p.Status == Submitted || p.Status == Paid
}

// EachPayment calls fn with every payment, in ID order, as a command sees
// them (the batch's earlier writes included): what a command that sums
// payments — a withholding declaration (appliance/filing) — walks.
func EachPayment(tx *state.Tx, fn func(*Payment) error) error {
	return scanPrefix(tx, PaymentBucket, "", func(k, v []byte) error {
		p, err := unpackPayment(v)
		if err != nil {
			return fmt.Errorf("payouts: payment %s: %w", k, err)
		}
		return fn(p)
	})
}
