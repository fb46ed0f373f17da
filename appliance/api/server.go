// Package api is the business API: every route names an action, every
// request is authenticated (or anonymous), decided by OPA, handled, and
// audited — writes in the same replicated command as their change, reads and
// refusals by an audit record written before the answer leaves. A request
// that cannot be audited is refused.
package api

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/gorilla/mux"

	"cxt/appliance/errs"
	"cxt/appliance/identity"
	"cxt/appliance/tax"
	"cxt/policy"
	"cxt/storage/auditlog"
	"cxt/storage/cluster"
	"cxt/storage/state"
)

// maxBody bounds every request body.
const maxBody = 1 << 20

// Server serves the /api/v1 routes.
type Server struct {
	Cluster func() *cluster.Node // nil while sealed
	Authz   *policy.Authorizer
	Tax     *tax.Rules
	Policy  identity.Policy
	Now     func() time.Time
	Log     *slog.Logger

	lastSeen sync.Map // session ID -> time.Time, for the idle timeout on this node
}

// Route is one endpoint: its action (the name the policy decides on) and its
// handler.
type Route struct {
	Method, Path, Action string
	handle               func(*Request) (int, any, error)
	// Important operations need a step-up re-authentication within the
	// last few minutes (§9 重要操作).
	Important bool
	// prepare builds an important operation; such routes go through
	// preview, confirm and an idempotency key (see important.go).
	prepare func(*Request) (*Op, error)
}

// Routes lists every endpoint; a test checks each against the policy.
func (s *Server) Routes() []Route {
	return []Route{
		{"GET", "/api/v1/captcha", "captcha.create", s.captcha, false, nil},
		{"POST", "/api/v1/sessions", "sessions.create", s.login, false, nil},
		{"GET", "/api/v1/sessions", "sessions.list_own", s.listSessions, false, nil},
		{"DELETE", "/api/v1/sessions/current", "sessions.delete_own", s.logout, false, nil},
		{"DELETE", "/api/v1/sessions/{id}", "sessions.delete_own", s.endSession, false, nil},
		{"GET", "/api/v1/me", "sessions.current", s.me, false, nil},
		{"POST", "/api/v1/me/password", "accounts.password", s.changePassword, false, nil},
		{"POST", "/api/v1/me/mfa/totp", "accounts.mfa_enroll", s.beginTOTP, false, nil},
		{"POST", "/api/v1/me/mfa/totp/confirm", "accounts.mfa_enroll", s.confirmTOTP, false, nil},
		{"POST", "/api/v1/me/step-up", "sessions.step_up", s.stepUp, false, nil},
		{"POST", "/api/v1/accounts", "accounts.create", nil, true, s.createAccount},
		{"POST", "/api/v1/accounts/{id}/unlock", "accounts.unlock", nil, true, s.unlockAccount},
		{"GET", "/api/v1/me/notifications", "notifications.list_own", s.notifications, false, nil},
		{"GET", "/api/v1/audit", "audit.search", s.searchAudit, false, nil},
		{"POST", "/api/v1/tax/quotes", "tax.quote", s.taxQuote, false, nil},
	}
}

// Mount adds the routes to r.
func (s *Server) Mount(r *mux.Router) {
	for _, rt := range s.Routes() {
		r.HandleFunc(rt.Path, s.serve(rt)).Methods(rt.Method)
	}
}

// Request is one request in flight.
type Request struct {
	HTTP    *http.Request
	Ctx     context.Context
	Node    *cluster.Node
	Subject policy.Subject
	Session *identity.Session
	Token   []byte // SM3 of the session token
	Audit   auditlog.Context
	audited bool
	server  *Server
}

// Propose replicates cmd with this request's audit context: the request is
// audited by the command itself.
func (r *Request) Propose(cmd *state.Command) ([]byte, error) {
	cmd.Audit = r.Audit.Encode()
	r.audited = true
	v, err := r.Node.ProposeOK(r.Ctx, cmd)
	return v, rejection(err)
}

// View reads the state after a linearizable barrier.
func (r *Request) View(fn func(*state.ReadTx) error) error {
	if err := r.Node.ReadBarrier(r.Ctx); err != nil {
		return rejection(err)
	}
	return r.Node.State().View(fn)
}

// rejection turns a command's rejection into an API error of the same code.
func rejection(err error) error {
	var rej *state.Rejection
	if !errors.As(err, &rej) {
		if errors.Is(err, cluster.ErrNoLeader) || errors.Is(err, cluster.ErrShutdown) {
			return errs.Wrap("", errs.Unavailable, err, "the cluster has no leader right now; retry")
		}
		return err
	}
	kind := map[string]errs.Kind{
		"invalid_request": errs.Invalid, "conflict": errs.Conflict, "not_found": errs.NotExist,
		"account_locked": errs.Permission, "captcha_required": errs.Unauthenticated,
		"invalid_credentials": errs.Unauthenticated, "idempotency_conflict": errs.Conflict, "confirm_mismatch": errs.Conflict,
	}[rej.Code]
	if kind == errs.Internal {
		kind = errs.Conflict
	}
	return errs.Coded("", kind, rej.Code, "%s", rej.Message)
}

func (s *Server) serve(rt Route) http.HandlerFunc {
	return func(w http.ResponseWriter, hr *http.Request) {
		node := s.Cluster()
		if node == nil {
			WriteError(w, errs.E("", errs.Sealed, "the node is sealed; unseal it with cxt unseal"))
			return
		}
		ctx, cancel := context.WithTimeout(hr.Context(), 30*time.Second)
		defer cancel()
		hr.Body = http.MaxBytesReader(w, hr.Body, maxBody)
		req := &Request{HTTP: hr, Ctx: ctx, Node: node, server: s}
		req.Audit = auditlog.Context{Subject: "anonymous", Source: clientIP(hr), Action: rt.Action, Request: requestID()}
		status, body, err := s.run(req, rt)
		if !req.audited {
			result := "ok"
			if err != nil {
				result = errs.Of(err).Code
			}
			c := req.Audit
			c.Event, c.Result = "request", result
			if _, aerr := node.ProposeOK(ctx, auditlog.RecordCommand(c, s.Now())); aerr != nil {
				s.Log.Error("request refused: it could not be audited", "action", rt.Action, "err", aerr)
				WriteError(w, errs.Wrap("audit", errs.Unavailable, aerr, "the request could not be audited, so it was refused; retry"))
				return
			}
		}
		if err != nil {
			WriteError(w, err)
			return
		}
		writeJSON(w, status, body)
	}
}

// run authenticates, authorizes and handles one request.
func (s *Server) run(req *Request, rt Route) (int, any, error) {
	if err := s.authenticate(req); err != nil {
		return 0, nil, err
	}
	d, err := s.Authz.Decide(req.Ctx, policy.Input{Subject: req.Subject, Action: rt.Action, Resource: policy.Resource{Label: 1}})
	if err != nil {
		return 0, nil, errs.Wrap("authorize", errs.Internal, err, "authorization failed")
	}
	if !d.Allow {
		if req.Session == nil {
			return 0, nil, errs.E("authorize", errs.Unauthenticated, "sign in first")
		}
		if len(d.Reasons) == 1 && d.Reasons[0] == policy.ReasonMFA {
			return 0, nil, errs.Coded("authorize", errs.Unauthenticated, "mfa_required", "this action needs a session signed in with a second factor")
		}
		return 0, nil, errs.Coded("authorize", errs.Permission, "forbidden", "not allowed: %v", d.Reasons)
	}
	if sess := req.Session; sess != nil {
		always := rt.Action == "sessions.delete_own" || rt.Action == "sessions.current"
		switch {
		case sess.Restricted && !always && rt.Action != "accounts.password":
			return 0, nil, errs.Coded("authorize", errs.Permission, "password_change_required", "change the one-time password first (POST /api/v1/me/password)")
		case sess.EnrollMFA && !always && rt.Action != "accounts.mfa_enroll" && rt.Action != "accounts.password":
			return 0, nil, errs.Coded("authorize", errs.Unauthenticated, "mfa_required", "staff accounts need a second factor: enroll one (POST /api/v1/me/mfa/totp)")
		case rt.Important && !s.Now().Before(sess.StepUpUntil):
			return 0, nil, errs.Coded("authorize", errs.Unauthenticated, "step_up_required", "re-authenticate first (POST /api/v1/me/step-up with a current one-time code)")
		}
	}
	if rt.prepare != nil {
		return s.important(req, rt)
	}
	return rt.handle(req)
}

// decodeJSON reads one JSON object with no unknown fields.
func decodeJSON(r *Request, v any) error {
	const op = "decode request"
	if mt, _, err := mime.ParseMediaType(r.HTTP.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		return errs.E(op, errs.Unsupported, "send the body as Content-Type: application/json")
	}
	dec := json.NewDecoder(r.HTTP.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return errs.E(op, errs.TooLarge, "the body exceeds %d bytes", maxBody)
		}
		return errs.E(op, errs.Invalid, "the body is not the expected JSON object: %v", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return errs.E(op, errs.Invalid, "the body holds more than one JSON value")
	}
	return nil
}

type errorBody struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
		Field   string `json:"field,omitempty"`
	} `json:"error"`
}

// WriteError renders err as {"error":{"code":…,"message":…}} with its
// kind's status.
func WriteError(w http.ResponseWriter, err error) {
	e := errs.Of(err)
	var body errorBody
	body.Error.Code, body.Error.Message = e.Code, e.Msg
	var fe *tax.FieldError
	if errors.As(err, &fe) {
		body.Error.Field = fe.Field
	}
	writeJSON(w, e.Kind.Status(), body)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

func requestID() string {
	b := make([]byte, 8)
	rand.Read(b)
	return hex.EncodeToString(b)
}
