package node

import (
	"context"

	"cxt/appliance/channel"
	"cxt/appliance/datadir"
	"cxt/appliance/payouts"
	"cxt/appliance/risk"
	"cxt/appliance/workers"
	"cxt/storage/cluster"
	"cxt/storage/state"
)

// The channels' journals in the data directory.
const (
	SandboxJournal  = "sandbox-bank.jsonl"
	FileBankJournal = "file-bank.jsonl"
)

// openChannel opens the channel node.json configures; it is closed when
// ctx ends.
func (n *Node) openChannel(ctx context.Context) (channel.Channel, error) {
	if n.opts.Channel != nil {
		return n.opts.Channel, nil
	}
	name, err := n.cfg.ChannelName()
	if err != nil {
		return nil, err
	}
	var ch interface {
		channel.Channel
		Close() error
	}
	switch n.cfg.Channel.Kind {
	case datadir.ChannelFile:
		c := n.cfg.Channel
		ch, err = channel.NewFileBank(channel.FileBankConfig{Name: name, Outbound: c.Outbound, Inbound: c.Inbound,
			Journal: n.cfg.Path(FileBankJournal), Node: n.cfg.NodeID, Log: n.log})
	default:
		ch, err = channel.NewSandbox(n.cfg.Path(SandboxJournal), 1)
	}
	if err != nil {
		return nil, err
	}
	go func() { <-ctx.Done(); ch.Close() }()
	return ch, nil
}

// drivePayouts starts the payouts' driver on the configured channel: it
// works while this node leads.
func (n *Node) drivePayouts(ctx context.Context, c *cluster.Node) error {
	ch, err := n.openChannel(ctx)
	if err != nil {
		return err
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
	if authz := n.api.Authz; authz != nil {
		limits := payoutLimits(authz, c)
		d.Limits, n.domains.payouts.Limits = limits, limits
	}
	go d.Run(ctx)
	return nil
}

// inspect starts the post-hoc inspector (appliance/risk): it runs jobs
// while this node leads, and a scheduled one every opts.InspectEvery.
func (n *Node) inspect(ctx context.Context, c *cluster.Node) {
	authz := n.api.Authz
	if authz == nil {
		return
	}
	in := &risk.Inspector{Node: c, Leading: func() bool { return c.Status().Role == "leader" }, Policy: authz,
		Now: n.opts.Now, Log: n.log, Every: n.opts.InspectEvery, Poll: n.opts.InspectPoll}
	n.domains.risk.Kick = in.Kick
	go in.Run(ctx)
}
