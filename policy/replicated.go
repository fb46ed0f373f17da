package policy

import (
	"context"
	"encoding/json"
	"time"

	"cxt/crypto/sm"
	"cxt/storage/state"
)

// The policy in force is replicated: a change is a command that every node
// applies by compiling the new bundle and swapping it in, and a node that
// starts loads the stored one instead of the embedded default.
const (
	Bucket = "policy"
	CmdSet = "policy.set"
)

var currentKey = []byte("current")

// Digest is the SM3 of a bundle's canonical JSON, shown in previews and
// recorded with every change.
func (b *Bundle) Digest() [sm.HashSize]byte {
	raw, _ := json.Marshal(b) // map keys are sorted: canonical
	return sm.Sum(raw)
}

// Register adds the policy bucket and the policy.set command. When a is not
// nil, applying a change swaps a's policy; a bundle that does not compile is
// refused alike on every replica.
func Register(reg *state.Registry, a *Authorizer) {
	reg.Bucket(Bucket)
	reg.Handle(CmdSet, func(tx *state.Tx, cmd *state.Command) ([]byte, error) {
		var b Bundle
		if err := json.Unmarshal(cmd.Body, &b); err != nil {
			return nil, state.Reject("invalid_request", "policy.set: %v", err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		candidate, err := New(ctx, &b)
		if err != nil {
			return nil, state.Reject("invalid_request", "the policy does not compile: %v", err)
		}
		// The duty rules are checked here too, not only by the API: a
		// policy that breaks them is refused alike on every replica.
		if vs, err := CheckCandidate(ctx, candidate, &b, nil); err != nil {
			return nil, state.Reject("invalid_request", "the policy cannot be evaluated: %v", err)
		} else if len(vs) > 0 {
			return nil, state.Reject("policy_breaks_duty", "%s", DescribeViolations(vs))
		}
		if err := tx.Put(Bucket, currentKey, cmd.Body); err != nil {
			return nil, err
		}
		if a != nil {
			a.current.Store(candidate.current.Load())
		}
		return nil, nil
	})
}

// Stored returns the replicated policy bundle, or nil if none was set.
func Stored(r *state.ReadTx) (*Bundle, error) {
	raw, err := r.Get(Bucket, currentKey)
	if err != nil || raw == nil {
		return nil, err
	}
	var b Bundle
	return &b, json.Unmarshal(raw, &b)
}

// SetCommand returns the command that puts b in force.
func SetCommand(b *Bundle, now time.Time) (*state.Command, error) {
	raw, err := json.Marshal(b)
	if err != nil {
		return nil, err
	}
	return state.NewCommand(CmdSet, raw, now), nil
}
