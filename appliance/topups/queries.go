package topups

import (
	"encoding/json"
	"fmt"

	"cxt/appliance/ledger"
	"cxt/storage/state"
)

// getter is a state transaction, read-only or not.
type getter interface {
	Get(bucket string, key []byte) ([]byte, error)
}

func getJSON[T any](tx getter, bucket string, key []byte) (*T, error) {
	b, err := tx.Get(bucket, key)
	if err != nil || b == nil {
		return nil, err
	}
	var v T
	if err := json.Unmarshal(b, &v); err != nil {
		return nil, fmt.Errorf("topups: %s/%x: %w", bucket, key, err)
	}
	return &v, nil
}

// GetFunding reads a merchant's funding details; nil if it has none yet.
func GetFunding(tx getter, merchant string) (*Funding, error) {
	return getJSON[Funding](tx, FundingBucket, []byte(merchant))
}

// GetPayer reads a payer account; not_found if there is none.
func GetPayer(tx getter, id string) (*Payer, error) {
	p, err := getJSON[Payer](tx, PayersBucket, []byte(id))
	if err == nil && p == nil {
		err = state.Reject(state.NotFound, "no payer account %s", id)
	}
	return p, err
}

// GetStatement reads a statement; nil if there is none.
func GetStatement(tx getter, id string) (*Statement, error) {
	return getJSON[Statement](tx, StatementsBucket, []byte(id))
}

// GetSuspense reads a suspense item; not_found if there is none.
func GetSuspense(tx getter, id string) (*Suspense, error) {
	s, err := getJSON[Suspense](tx, SuspenseBucket, []byte(id))
	if err == nil && s == nil {
		err = state.Reject(state.NotFound, "no suspense item %s", id)
	}
	return s, err
}

// getCredit reads the credited line of a transaction index; nil if none.
func getCredit(tx getter, txn []byte) (*Credit, error) {
	return getJSON[Credit](tx, CreditsBucket, txn)
}

// Balance is a merchant's available balance in fen: what it has topped up
// and not yet spent.
func Balance(tx getter, merchant string) (int64, error) {
	return ledger.Balance(tx, ledger.Merchant(merchant))
}
