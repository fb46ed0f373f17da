package node

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"golang.org/x/time/rate"

	"cxt/appliance/api"
	"cxt/appliance/datadir"
	"cxt/appliance/identity"
	"cxt/gateway/platform"
	"cxt/gateway/server"
	"cxt/storage/cluster"
)

// The tax bureaus' gateway (SPEC §6): a listener of its own, with its own
// certificate, whose pipeline authenticates only the bureaus' gateway
// clients (gateway/server). Its domains are backends like any other — they
// register their commands and serve their operators' routes on the
// business API — and some are also parts of the gateway listener.

// gatewayParts are the domains the gateway listener serves, in the order
// it lists their routes. A new gateway route: see gateway/server.
func (b *backends) gatewayParts() []server.Part {
	return []server.Part{b.gwFeed, b.gwReceipts, b.gwReports, b.gwQueries}
}

// GatewayRoutes lists every route of the gateway listener, as a node mounts
// them: the route × role tests walk it beside Routes.
func GatewayRoutes() []api.Route {
	return server.Routes(compose(nil, identity.Hashing{}, identity.DefaultPolicy).gatewayParts()...)
}

// mountGateway builds the gateway listener's pipeline.
func (n *Node) mountGateway(g datadir.Gateway) error {
	if g.RatePerSecond < 0 || g.Burst < 0 {
		return fmt.Errorf("node.json gateway: rate_per_second and burst must not be negative")
	}
	if g.RatePerSecond > 0 {
		n.domains.bureaus.Rate, n.domains.bureaus.Burst = rate.Limit(g.RatePerSecond), max(g.Burst, 1)
	}
	n.gw = &api.Server{Cluster: n.Cluster, Authz: n.api.Authz, Now: n.api.Now, Log: n.log, Withhold: n.withheld}
	server.Mount(n.gw, n.domains.bureaus, n.domains.gatewayParts()...)
	return nil
}

// gatewayTLS is the business listener's TLS, asking the client for a
// certificate without requiring one: a gateway client that pinned one must
// present exactly it (bureaus.Authenticate decides, with the client known).
func gatewayTLS(cert tls.Certificate) *tls.Config {
	c := apiTLS(cert)
	c.ClientAuth = tls.RequestClientCert
	return c
}

// listenGateway opens the gateway listener if node.json or the options
// name an address; its certificate is made at the first start without one.
func (n *Node) listenGateway() error {
	addr := n.opts.GatewayAddr
	if addr == "" {
		addr = n.cfg.Gateway.Listen
	}
	if addr == "" {
		return nil
	}
	if err := n.cfg.GatewayCertificate(addr); err != nil {
		return fmt.Errorf("node: gateway certificate: %w", err)
	}
	cert, err := tls.LoadX509KeyPair(n.cfg.Path(datadir.GatewayCert), n.cfg.Path(datadir.GatewayKey))
	if err != nil {
		return fmt.Errorf("node: gateway certificate: %w", err)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("node: gateway address %s: %w", addr, err)
	}
	n.gwLn = ln
	n.gwHTTP = &http.Server{
		// Anonymous callers (the public key, probes) are limited per
		// source like the business listener's; a live client's signed
		// requests per client (bureaus.Authenticate).
		Handler:           securityHeaders(n.gw.LimitAnonymous(n.gw.Handler())),
		TLSConfig:         gatewayTLS(cert),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       60 * time.Second,
		WriteTimeout:      5 * time.Minute, // a page of thousands of entries to a slow link
		IdleTimeout:       120 * time.Second,
		ErrorLog:          slog.NewLogLogger(n.log.Handler(), slog.LevelWarn),
	}
	go n.gwHTTP.ServeTLS(ln, "", "")
	return nil
}

// GatewayAddr returns the address the gateway listener is bound to, or ""
// when the node serves no gateway.
func (n *Node) GatewayAddr() string {
	if n.gwLn == nil {
		return ""
	}
	return n.gwLn.Addr().String()
}

// keepGatewayKey has the leader make the gateway key once the cluster
// speaks the gateway's command set.
func (n *Node) keepGatewayKey(ctx context.Context, c *cluster.Node) {
	go platform.Keep(ctx, c, n.opts.Now, n.log, n.opts.GatewayKeyInterval)
}

func (n *Node) closeGateway(ctx context.Context) {
	if n.gwHTTP != nil {
		n.gwHTTP.Shutdown(ctx)
		n.gwLn.Close()
	}
}
