// Package servertest runs the tax bureaus' gateway on a loopback cluster
// node for tests and benchmarks: the state the gateway reads, and a
// listener mounted as appliance/node mounts it.
package servertest

import (
	"context"
	"crypto/tls"
	"io"
	"log/slog"
	"net/http/httptest"
	"time"

	"cxt/appliance/api"
	"cxt/appliance/subjects"
	"cxt/gateway/bureaus"
	"cxt/gateway/feed"
	"cxt/gateway/platform"
	"cxt/gateway/receipts"
	"cxt/gateway/server"
	"cxt/policy"
	"cxt/storage/auditlog"
	"cxt/storage/cluster"
	"cxt/storage/state"
)

// Register adds the buckets and commands the gateway's listener needs:
// the audit log, subjects' keys, bureau clients, the platform's profile
// and key, receipts and the feed.
func Register(reg *state.Registry) {
	auditlog.Register(reg)
	subjects.Register(reg, nil)
	bureaus.Register(reg)
	platform.Register(reg)
	receipts.Register(reg)
	feed.Register(reg)
}

// Serve starts a gateway listener on n over TLS, asking clients for a
// certificate without requiring one, with the embedded policy; clients
// limits each bureau client's rate (its zero value: the defaults).
func Serve(ctx context.Context, n *cluster.Node, clients *bureaus.Backend) (*httptest.Server, error) {
	b, err := policy.Embedded()
	if err != nil {
		return nil, err
	}
	authz, err := policy.New(ctx, b)
	if err != nil {
		return nil, err
	}
	srv := &api.Server{Cluster: func() *cluster.Node { return n }, Authz: authz, Now: time.Now, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	server.Mount(srv, clients, &server.Feed{}, &receipts.Backend{})
	ts := httptest.NewUnstartedServer(srv.Handler())
	ts.TLS = &tls.Config{ClientAuth: tls.RequestClientCert}
	ts.StartTLS()
	return ts, nil
}
