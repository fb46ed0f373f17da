package billing

import (
	"encoding/json"
	"fmt"
	"time"

	"cxt/storage/state"
)

// Getter reads the state: a command's Tx or a read's ReadTx. It is an
// alias, so Current's parameter is interface{ Get(string, []byte) ([]byte, error) }.
type Getter = interface {
	Get(bucket string, key []byte) ([]byte, error)
}

// Current returns the merchant's configuration in force at t — the latest
// version whose effective day has begun at t in China's calendar — or nil
// when none is (no fee).
func Current(tx Getter, merchant string, t time.Time) (*Config, error) {
	index, err := Index(tx, merchant)
	if err != nil {
		return nil, err
	}
	day := Day(t)
	for i := len(index) - 1; i >= 0; i-- {
		if index[i].Effective <= day {
			return Version(tx, merchant, index[i].Version)
		}
	}
	return nil, nil
}

// Versions returns every version of the merchant's configuration, oldest
// first.
func Versions(tx Getter, merchant string) ([]*Config, error) {
	index, err := Index(tx, merchant)
	if err != nil {
		return nil, err
	}
	out := make([]*Config, 0, len(index))
	for _, e := range index {
		c, err := Version(tx, merchant, e.Version)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, nil
}

// Index lists a merchant's versions, oldest first; none if it has none.
func Index(tx Getter, merchant string) ([]Entry, error) {
	b, err := tx.Get(IndexBucket, []byte(merchant))
	if err != nil || b == nil {
		return nil, err
	}
	var out []Entry
	if err := json.Unmarshal(b, &out); err != nil {
		return nil, fmt.Errorf("billing: index of %s: %w", merchant, err)
	}
	return out, nil
}

// Version reads one version of a merchant's configuration; not_found if
// there is none.
func Version(tx Getter, merchant string, version int) (*Config, error) {
	b, err := tx.Get(ConfigsBucket, configKey(merchant, version))
	if err != nil {
		return nil, err
	}
	if b == nil {
		return nil, state.Reject(state.NotFound, "merchant %s has no fee configuration version %d", merchant, version)
	}
	var c Config
	if err := json.Unmarshal(b, &c); err != nil {
		return nil, fmt.Errorf("billing: %s version %d: %w", merchant, version, err)
	}
	return &c, nil
}
