package reconcile

import (
	"encoding/json"
	"fmt"

	"cxt/storage/state"
)

// Getter is a state transaction, read-only or not.
type Getter interface {
	Get(bucket string, key []byte) ([]byte, error)
}

func getJSON[T any](tx Getter, bucket, key, noun string) (*T, error) {
	b, err := tx.Get(bucket, []byte(key))
	if err != nil {
		return nil, err
	}
	if b == nil {
		return nil, state.Reject(state.NotFound, "no %s %s", noun, key)
	}
	var v T
	if err := json.Unmarshal(b, &v); err != nil {
		return nil, fmt.Errorf("reconcile: %s/%s: %w", bucket, key, err)
	}
	return &v, nil
}

// GetStatement reads a statement; not_found if there is none.
func GetStatement(tx Getter, id string) (*Statement, error) {
	return getJSON[Statement](tx, StatementsBucket, id, "statement")
}

// GetCase reads a case; not_found if there is none.
func GetCase(tx Getter, id string) (*Case, error) { return getJSON[Case](tx, CasesBucket, id, "case") }

// GetAdjustment reads an adjustment; not_found if there is none.
func GetAdjustment(tx Getter, id string) (*Adjustment, error) {
	return getJSON[Adjustment](tx, AdjustmentsBucket, id, "adjustment")
}
