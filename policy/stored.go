package policy

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"

	"cxt/crypto/sm"
	"cxt/storage/state"
)

// CmdDefault stores the proposer's embedded bundle as the replicated one
// when none is stored yet (from command set state.RiskSet on): the leader
// proposes it once the cluster speaks the set, so that decisions made
// inside the state machine — the payout rules — follow a bundle every
// replica holds, never the default a node's binary happens to embed. A
// bundle stored already makes it a no-op.
const CmdDefault = "policy.default"

// DefaultCommand returns the command that stores b unless a bundle is
// stored: as its files when it has them (the embedded bundle does), so
// that its digest is the one a signed bundle's would be.
func DefaultCommand(b *Bundle, now time.Time) (*state.Command, error) {
	if b.Files == nil {
		cmd, err := SetCommand(b, now)
		if err != nil {
			return nil, err
		}
		cmd.Type = CmdDefault
		return cmd, nil
	}
	if n := b.Files.Size(); n > MaxBundleSize {
		return nil, fmt.Errorf("%w: %d bytes; at most %d", ErrBundleTooLarge, n, MaxBundleSize)
	}
	d := b.Files.Digest()
	raw, err := json.Marshal(Activation{Version: b.Version, Digest: hex.EncodeToString(d[:]), Files: b.Files})
	if err != nil {
		return nil, err
	}
	return state.NewCommand(CmdDefault, raw, now), nil
}

// storeDefault is CmdDefault's handler.
func storeDefault(a *Authorizer) state.Handler {
	return func(tx *state.Tx, cmd *state.Command) ([]byte, error) {
		if v, err := tx.Get(Bucket, currentKey); err != nil || v != nil {
			return nil, err
		}
		b, _, err := decodeStored(cmd.Body)
		if err != nil {
			return nil, state.Reject(state.InvalidRequest, "policy.default: %v", err)
		}
		candidate, err := New(context.Background(), b)
		if err != nil {
			return nil, state.Reject(state.InvalidRequest, "the policy does not compile: %v", err)
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
	}
}

// Getter reads one key: a state.Tx inside the state machine, a
// state.ReadTx outside it.
type Getter interface {
	Get(bucket string, key []byte) ([]byte, error)
}

// StoredPayout returns the payout rules of the bundle stored in the
// state as r sees it — inside the state machine, the bundle in force at
// the command's log index, whatever the node's Authorizer has swapped in
// by then — or nil when none is stored. Compiled rules are cached by the
// SM3 of the stored bytes.
func StoredPayout(ctx context.Context, r Getter) (*PayoutRules, error) {
	raw, err := r.Get(Bucket, currentKey)
	if err != nil || raw == nil {
		return nil, err
	}
	sum := sm.Sum(raw)
	key := "raw:" + string(sum[:])
	payoutCache.Lock()
	p, ok := payoutCache.m[key]
	payoutCache.Unlock()
	if ok {
		return p, nil
	}
	b, err := Stored(r)
	if err != nil {
		return nil, fmt.Errorf("policy: the stored bundle: %w", err)
	}
	if p, err = PayoutRulesOf(ctx, b); err != nil {
		return nil, fmt.Errorf("policy: the stored bundle %q: %w", b.Version, err)
	}
	payoutCache.Lock()
	payoutCache.m[key] = p
	payoutCache.Unlock()
	return p, nil
}
