package policy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
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

// MaxBundleSize bounds a policy bundle's JSON. Replicas compile a bundle
// inside Apply with no deadline — a timeout would make the outcome depend on
// each machine's speed — so the work is bounded by refusing larger bundles
// before they are proposed (SetCommand). The embedded policy is under 10 KiB.
const MaxBundleSize = 256 << 10

// codeBreaksDuty refuses a policy that lets a role break a duty rule.
var codeBreaksDuty = state.NewCode(state.KindInvalid, "policy_breaks_duty")

// ErrBundleTooLarge is returned by SetCommand for a bundle over
// MaxBundleSize.
var ErrBundleTooLarge = errors.New("policy: the bundle is too large")

// Register adds the policy bucket and the policy.set command. When a is not
// nil, a committed change swaps a's policy, and a's policy is rebuilt from
// the stored one whenever the state is opened or restored from a snapshot
// (a's initial bundle when none is stored); a bundle that does not compile
// is refused alike on every replica.
func Register(reg *state.Registry, a *Authorizer) {
	reg.Bucket(Bucket)
	reg.Handle(CmdSet, func(tx *state.Tx, cmd *state.Command) ([]byte, error) {
		var b Bundle
		if err := json.Unmarshal(cmd.Body, &b); err != nil {
			return nil, state.Reject(state.InvalidRequest, "policy.set: %v", err)
		}
		// No deadline: compiling is bounded by MaxBundleSize.
		ctx := context.Background()
		candidate, err := New(ctx, &b)
		if err != nil {
			return nil, state.Reject(state.InvalidRequest, "the policy does not compile: %v", err)
		}
		// The duty rules are checked here too, not only by the API: a
		// policy that breaks them is refused alike on every replica.
		if vs, err := CheckCandidate(ctx, candidate, &b, nil); err != nil {
			return nil, state.Reject(state.InvalidRequest, "the policy cannot be evaluated: %v", err)
		} else if len(vs) > 0 {
			return nil, state.Reject(codeBreaksDuty, "%s", DescribeViolations(vs))
		}
		if err := tx.Put(Bucket, currentKey, cmd.Body); err != nil {
			return nil, err
		}
		if a != nil {
			c := candidate.current.Load()
			tx.OnCommit(func() error {
				a.current.Store(c)
				return nil
			})
		}
		return nil, nil
	})
	reg.HandleFrom(state.RiskSet, CmdDefault, storeDefault(a))
	if a != nil {
		reg.OnReload(func(r *state.ReadTx) error { return reload(r, a) })
	}
}

// reload puts the stored policy (or a's initial one) in force in a.
func reload(r *state.ReadTx, a *Authorizer) error {
	b, err := Stored(r)
	if err != nil {
		return err
	}
	if b == nil {
		b = a.base
	}
	if b == nil || a.Bundle().Digest() == b.Digest() {
		return nil
	}
	if err := a.Swap(context.Background(), b); err != nil {
		return fmt.Errorf("policy: the replicated policy %q does not compile: %w", b.Version, err)
	}
	return nil
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

// SetCommand returns the command that puts b in force, or
// ErrBundleTooLarge.
func SetCommand(b *Bundle, now time.Time) (*state.Command, error) {
	raw, err := json.Marshal(b)
	if err != nil {
		return nil, err
	}
	if len(raw) > MaxBundleSize {
		return nil, fmt.Errorf("%w: %d bytes; at most %d", ErrBundleTooLarge, len(raw), MaxBundleSize)
	}
	return state.NewCommand(CmdSet, raw, now), nil
}
