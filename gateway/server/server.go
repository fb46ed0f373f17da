// Package server is the tax bureaus' gateway listener: the routes it
// answers — the feed and the gateway's public key here, receipts, reports
// and queries in their own packages — mounted on an API pipeline of their
// own, which authenticates only gateway clients' signed requests
// (gateway/bureaus), decides with the same policy (role tax_officer) and
// audits every call, allowed or refused, like the business API's.
//
// Adding a gateway route: give the domain's backend a method
// GatewayRoutes() []api.Route (a Part), list its routes there with paths
// under /gateway/v1/, and add the backend to the node's gateway parts
// (appliance/node, gateway.go); its commands are registered with the
// business backends as before. Each action needs a row in
// policy/rego/data.json (tax_officer) and in the role tests, like any
// route. A handler finds its caller with bureaus.Caller and the scope it
// may read with bureaus.Scope.
package server

import (
	"cxt/appliance/api"
	"cxt/gateway/bureaus"
	"cxt/storage/state"
)

// Part is a domain's share of the gateway listener.
type Part interface {
	GatewayRoutes() []api.Route
}

// part mounts a Part on the pipeline: its commands are registered with
// the business backends, so it registers nothing here.
type part struct{ p Part }

func (part) Register(*state.Registry) {}
func (m part) Routes() []api.Route    { return m.p.GatewayRoutes() }

// Mount makes srv the gateway listener's pipeline: only the parts'
// routes (no health, status or unseal: those are the business
// listener's), only gateway clients' signed requests, never a session.
func Mount(srv *api.Server, clients *bureaus.Backend, parts ...Part) {
	srv.Bare, srv.Clients, srv.Sessions = true, clients, bureaus.NoSessions{}
	for _, p := range parts {
		srv.Mount(part{p})
	}
}

// Routes lists the gateway listener's routes as a node mounts them (for
// the route × role tests).
func Routes(parts ...Part) []api.Route {
	srv := &api.Server{}
	Mount(srv, &bureaus.Backend{}, parts...)
	return srv.Routes()
}
