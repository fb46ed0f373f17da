package node

import (
	"context"
	"time"

	"cxt/appliance/api"
	"cxt/appliance/payouts"
	"cxt/policy"
	"cxt/storage/cluster"
	"cxt/storage/state"
)

// keepStoredPolicy has the leader store the embedded policy bundle once
// the cluster speaks command set state.RiskSet and none is stored, so that
// the payout rules the state machine decides rows by are the log's, never
// the default of whichever binary a replica runs.
func (n *Node) keepStoredPolicy(ctx context.Context, c *cluster.Node) {
	every := n.opts.GatewayKeyInterval
	if every <= 0 {
		every = time.Second
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		if c.Status().Role == "leader" && c.State().Proposable(policy.CmdDefault) == nil {
			stored := false
			err := c.State().View(func(r *state.ReadTx) error {
				b, err := policy.Stored(r)
				stored = b != nil
				return err
			})
			if err == nil && stored {
				return
			}
			if err == nil {
				var b *policy.Bundle
				if b, err = policy.Embedded(); err == nil {
					var cmd *state.Command
					if cmd, err = policy.DefaultCommand(b, n.opts.Now()); err == nil {
						_, err = c.ProposeOK(ctx, cmd)
					}
				}
			}
			if err != nil && ctx.Err() == nil {
				n.log.Warn("policy: the embedded bundle is not stored yet; retrying", "err", err)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// payoutLimits reads what the next chunk is decided under: the monthly
// limit of the policy in force and, once the cluster speaks
// state.RiskSet and a bundle is stored, the digest of the stored bundle
// whose payout rules decide the rows.
func payoutLimits(authz *policy.Authorizer, c *cluster.Node) func(context.Context) (*policy.PayoutLimits, error) {
	return func(ctx context.Context) (*policy.PayoutLimits, error) {
		l, err := authz.PayoutLimits(ctx)
		if err != nil {
			return nil, err
		}
		if c.State().CommandSet() < state.RiskSet {
			return &l, nil
		}
		err = c.State().View(func(r *state.ReadTx) error {
			p, err := policy.StoredPayout(ctx, r)
			if p != nil {
				l.Rules = p.Digest
			}
			return err
		})
		return &l, err
	}
}

// replayWindow is how far back a policy change's preview replays payout
// decisions, and replayMax how many at most.
const (
	replayWindow = 30 * 24 * time.Hour
	replayMax    = 100_000
)

// replayPayoutRules decides the recorded inputs of the last 30 days'
// payments again by a candidate policy's payout rules, and counts the
// decisions that would change.
func replayPayoutRules(r *api.Request, candidate *policy.Authorizer) (any, error) {
	var out *payouts.RiskReplay
	err := r.View(func(tx *state.ReadTx) (err error) {
		out, err = payouts.ReplayRisk(r.Ctx, tx, candidate.Payout(), r.Now().Add(-replayWindow), replayMax)
		return err
	})
	if out != nil {
		out.Examples = nil // counts only: a security administrator's preview names no payment
	}
	return out, err
}
