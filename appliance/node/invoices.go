package node

import (
	"context"

	"cxt/appliance/invoices"
	"cxt/storage/cluster"
)

// driveInvoices starts the invoices' driver on the configured Issuer (the
// sandbox unless the options name one): it issues while this node leads.
func (n *Node) driveInvoices(ctx context.Context, c *cluster.Node) {
	var iss invoices.Issuer = &invoices.Sandbox{}
	if n.opts.Issuer != nil {
		iss = n.opts.Issuer
	}
	d := &invoices.Driver{Node: c, Leading: func() bool { return c.Status().Role == "leader" }, Issuer: iss, Log: n.log, Now: n.opts.Now}
	n.domains.invoices.Kick = d.Kick
	go d.Run(ctx)
}
