package node

import (
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"

	"github.com/gorilla/mux"

	"cxt/appliance/errs"
	"cxt/storage/cluster"
)

// maxBody bounds every JSON request body.
const maxBody = 1 << 20

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
			writeError(w, errSealed)
			return
		}
		writeError(w, errs.E("", errs.NotExist, "no such endpoint: %s %s", req.Method, req.URL.Path))
	})
	r.MethodNotAllowedHandler = http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		writeError(w, errs.Coded("", errs.Invalid, "method_not_allowed", "%s is not allowed on %s", req.Method, req.URL.Path))
	})
	return securityHeaders(r)
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
	writeJSON(w, http.StatusOK, n.Status())
}

// readyz answers 200 once the node is unsealed and a leader is known.
func (n *Node) readyz(w http.ResponseWriter, r *http.Request) {
	s := n.Status()
	code := http.StatusOK
	if s.Sealed || s.Leader == "" {
		code = http.StatusServiceUnavailable
	}
	writeJSON(w, code, s)
}

func (n *Node) unseal(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Share string `json:"share"`
	}
	if err := decodeJSON(r, &req); err != nil {
		writeError(w, err)
		return
	}
	st, err := n.Unseal(r.Context(), req.Share)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, st)
}

// decodeJSON reads one JSON object of at most maxBody bytes with no unknown
// fields.
func decodeJSON(r *http.Request, v any) error {
	const op = "decode request"
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		return errs.E(op, errs.Unsupported, "send the body as Content-Type: application/json")
	}
	dec := json.NewDecoder(io.LimitReader(r.Body, maxBody+1))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return errs.E(op, errs.TooLarge, "the body exceeds %d bytes", maxBody)
		}
		return errs.Wrap(op, errs.Invalid, err, "the body is not the expected JSON object")
	}
	if dec.More() {
		return errs.E(op, errs.Invalid, "the body holds more than one JSON value")
	}
	return nil
}

type errorBody struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

func writeError(w http.ResponseWriter, err error) {
	e := errs.Of(mapStorage(err))
	var body errorBody
	body.Error.Code, body.Error.Message = e.Code, e.Msg
	writeJSON(w, e.Kind.Status(), body)
}

// mapStorage classifies errors from the storage layer.
func mapStorage(err error) error {
	switch {
	case errors.Is(err, cluster.ErrNoLeader), errors.Is(err, cluster.ErrShutdown):
		return errs.Wrap("", errs.Unavailable, err, "the cluster has no leader right now; retry")
	case errors.Is(err, cluster.ErrNotLeader):
		return errs.Wrap("", errs.Conflict, err, "this node is not the leader")
	}
	return err
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}
