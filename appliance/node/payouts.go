package node

import (
	"context"

	"cxt/appliance/channel"
	"cxt/appliance/payouts"
	"cxt/appliance/workers"
	"cxt/storage/cluster"
	"cxt/storage/state"
)

// SandboxJournal is the sandbox bank's journal in the data directory.
const SandboxJournal = "sandbox-bank.jsonl"

// drivePayouts starts the payouts' driver on the configured channel: it
// works while this node leads.
func (n *Node) drivePayouts(ctx context.Context, c *cluster.Node) error {
	ch := n.opts.Channel
	if ch == nil {
		sb, err := channel.NewSandbox(n.cfg.Path(SandboxJournal), 1)
		if err != nil {
			return err
		}
		go func() { <-ctx.Done(); sb.Close() }()
		ch = sb
	}
	d := &payouts.Driver{
		Node: c, Leading: func() bool { return c.Status().Role == "leader" }, Channel: ch, Log: n.log,
		Interval: n.opts.PayoutInterval, Now: n.opts.Now,
		Payee: func(tx *state.ReadTx, worker string) (channel.Payee, error) {
			name, card, err := workers.Payee(tx, c.Keys(), worker)
			return channel.Payee{Name: name, Card: card}, err
		},
	}
	n.domains.payouts.Kick = d.Kick
	go d.Run(ctx)
	return nil
}
