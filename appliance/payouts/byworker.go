package payouts

import "cxt/storage/state"

// WorkerPayments calls fn with each of a worker's payments, in the order
// of their IDs (batch, then row), through the worker's index.
func WorkerPayments(tx *state.ReadTx, worker string, fn func(*Payment) error) error {
	return seekIndex(tx, "w/"+worker+"/", "", func(id string) (bool, error) {
		p, err := GetPayment(tx, id)
		if err != nil {
			return false, err
		}
		return true, fn(p)
	})
}
