package state

import (
	"encoding/json"
	"fmt"
)

// Getter reads one record: a command's Tx or a request's ReadTx.
type Getter interface {
	Get(bucket string, key []byte) ([]byte, error)
}

// GetJSON reads the JSON record at bucket/key into a new T; nil, and no
// error, if there is none. A record that does not decode is an error that
// names it (the state is damaged, not the request wrong).
func GetJSON[T any](g Getter, bucket string, key []byte) (*T, error) {
	b, err := g.Get(bucket, key)
	if err != nil || b == nil {
		return nil, err
	}
	v := new(T)
	if err := json.Unmarshal(b, v); err != nil {
		return nil, fmt.Errorf("state: %s/%s: %w", bucket, key, err)
	}
	return v, nil
}

// PutJSON writes v as JSON at bucket/key and returns what it wrote, which
// a command usually answers.
func PutJSON(tx *Tx, bucket string, key []byte, v any) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return b, tx.Put(bucket, key, b)
}
