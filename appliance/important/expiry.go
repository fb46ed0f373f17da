package important

import (
	"encoding/json"
	"time"

	"cxt/storage/state"
)

// expireRecords tells the replicated sweep when confirm tokens and
// remembered answers end: a confirmation at its expiry, an idempotency
// record KeyTTL after its answer.
func expireRecords(reg *state.Registry) {
	reg.Expire(ConfirmBucket, func(tx *state.Tx, k, v []byte, now time.Time) (bool, error) {
		var c Confirmation
		if err := json.Unmarshal(v, &c); err != nil || !now.After(c.Expires) {
			return false, err
		}
		return true, tx.Delete(ConfirmBucket, k)
	})
	reg.Expire(IdempotencyBucket, func(tx *state.Tx, k, v []byte, now time.Time) (bool, error) {
		var o Outcome
		if err := json.Unmarshal(v, &o); err != nil || now.Sub(o.At) < KeyTTL {
			return false, err
		}
		return true, tx.Delete(IdempotencyBucket, k)
	})
}
