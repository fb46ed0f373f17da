package node

import (
	"net/http"

	"github.com/gorilla/mux"

	"cxt/appliance/api"
	"cxt/appliance/errs"
)

// routes is the business listener. While sealed only health, status and
// unseal answer; everything else is 503 "sealed".
func (n *Node) routes() http.Handler {
	r := mux.NewRouter()
	r.HandleFunc("/healthz", n.healthz).Methods(http.MethodGet)
	r.HandleFunc("/readyz", n.readyz).Methods(http.MethodGet)
	r.HandleFunc("/api/v1/sys/status", n.healthz).Methods(http.MethodGet)
	r.HandleFunc("/api/v1/sys/unseal", n.unseal).Methods(http.MethodPost)
	n.api.Mount(r)
	r.NotFoundHandler = http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if n.Sealed() {
			api.WriteError(w, errSealed)
			return
		}
		api.WriteError(w, errs.E("", errs.NotExist, "no such endpoint: %s %s", req.Method, req.URL.Path))
	})
	r.MethodNotAllowedHandler = http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		api.WriteError(w, errs.Coded("", errs.Invalid, "method_not_allowed", "%s is not allowed on %s", req.Method, req.URL.Path))
	})
	return securityHeaders(n.api.LimitAnonymous(r))
}

func securityHeaders(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Strict-Transport-Security", "max-age=31536000")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Header().Set("Cache-Control", "no-store")
		h.ServeHTTP(w, r)
	})
}

func (n *Node) healthz(w http.ResponseWriter, r *http.Request) {
	api.WriteJSON(w, http.StatusOK, n.Status())
}

// readyz answers 200 once the node is unsealed and a leader is known.
func (n *Node) readyz(w http.ResponseWriter, r *http.Request) {
	s := n.Status()
	code := http.StatusOK
	if s.Sealed || s.Leader == "" {
		code = http.StatusServiceUnavailable
	}
	api.WriteJSON(w, code, s)
}

func (n *Node) unseal(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Share string `json:"share"`
	}
	api.LimitBody(w, r)
	if err := api.DecodeJSON(r, &req); err != nil {
		api.WriteError(w, err)
		return
	}
	st, err := n.Unseal(r.Context(), req.Share)
	if err != nil {
		api.WriteError(w, err)
		return
	}
	api.WriteJSON(w, http.StatusOK, st)
}
