package node

import (
	"context"
	"net/http"

	"cxt/appliance/api"
)

// routes is the business listener: the API's routes, its health and
// unseal routes among them, each request audited (see api.Server.Handler).
// While sealed only health, status and unseal answer; everything else is
// 503 "sealed".
func (n *Node) routes() http.Handler {
	n.api.System = system{n}
	// Anonymous callers are limited per source before anything of theirs
	// is routed (see api.Server.LimitAnonymous).
	return securityHeaders(n.api.LimitAnonymous(n.api.Handler()))
}

func securityHeaders(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Header().Set("Cache-Control", "no-store")
		h.ServeHTTP(w, r)
	})
}

// healthz is the operator socket's full status.
func (n *Node) healthz(w http.ResponseWriter, r *http.Request) {
	api.WriteJSON(w, http.StatusOK, n.Status())
}

// system is the node as the API's health and unseal routes see it.
type system struct{ n *Node }

func (s system) Health() api.Health {
	st := s.n.Status()
	return api.Health{Node: st.Node, Role: st.Role, Leader: st.Leader, AppliedIndex: st.AppliedIndex, Sealed: st.Sealed}
}

func (s system) Detail() any { return s.n.Status() }

func (s system) Unseal(ctx context.Context, share string) (any, error) {
	return s.n.Unseal(ctx, share)
}
