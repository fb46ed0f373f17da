// Package api is the business API: every route names an action, every
// request is authenticated (or anonymous), decided by OPA, handled, and
// audited — writes in the same replicated command as their change, reads and
// refusals by an audit record written before the answer leaves. A request
// that cannot be audited is refused.
package api

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"strings"
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
	// Sign signs with the node's SM2 key and returns the signature and the
	// node certificate (PEM); signed audit heads use it.
	Sign func(msg []byte) (sig, certPEM []byte, err error)
	// NewTerm returns the command that installs key term n with a fresh
	// secret wrapped by the master key, which only the node holds.
	NewTerm func(n uint32, now time.Time) (*state.Command, error)
	// System answers the health and unseal routes.
	System System
	// Hashing makes password hashes (the zero value: production's count);
	// a login that verifies a hash with fewer iterations re-derives it.
	Hashing identity.Hashing

	limits limiter // per-source rates of anonymous requests
}

// SetLimits replaces the per-source rates of anonymous requests (before
// the server serves).
func (s *Server) SetLimits(l Limits) {
	s.limits.mu.Lock()
	s.limits.limits, s.limits.sources = l, nil
	s.limits.mu.Unlock()
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
	// read marks handlers that change nothing: their audit record is
	// written when they first read instead of after.
	read bool
	// sys routes answer while the node is sealed; their records fall back
	// to the node's local log (see recordSys).
	sys bool
	// unrouted answers a request no route matched: no session is
	// authenticated and no policy decides, there being no action.
	unrouted bool
}

// Routes lists every endpoint; a test checks each against the policy.
func (s *Server) Routes() []Route {
	read := func(path, action string, h func(*Request) (int, any, error)) Route {
		return Route{Method: "GET", Path: path, Action: action, handle: h, read: true}
	}
	write := func(method, path, action string, h func(*Request) (int, any, error)) Route {
		return Route{Method: method, Path: path, Action: action, handle: h}
	}
	important := func(method, path, action string, p func(*Request) (*Op, error)) Route {
		return Route{Method: method, Path: path, Action: action, Important: true, prepare: p}
	}
	sys := func(method, path, action string, h func(*Request) (int, any, error)) Route {
		return Route{Method: method, Path: path, Action: action, handle: h, sys: true}
	}
	return []Route{
		sys("GET", "/healthz", "sys.health", s.healthz),
		sys("GET", "/readyz", "sys.health", s.readyz),
		sys("GET", "/api/v1/sys/status", "sys.health", s.healthz),
		sys("POST", "/api/v1/sys/unseal", "sys.unseal", s.unseal),
		write("GET", "/api/v1/captcha", "captcha.create", s.captcha),
		write("POST", "/api/v1/sessions", "sessions.create", s.login),
		write("POST", "/api/v1/sessions/challenge", "sessions.challenge", s.challenge),
		read("/api/v1/sessions", "sessions.list_own", s.listSessions),
		write("DELETE", "/api/v1/sessions/current", "sessions.delete_own", s.logout),
		write("DELETE", "/api/v1/sessions/{id}", "sessions.delete_own", s.endSession),
		read("/api/v1/me", "sessions.current", s.me),
		write("POST", "/api/v1/me/password", "accounts.password", s.changePassword),
		write("POST", "/api/v1/me/mfa/totp", "accounts.mfa_enroll", s.beginTOTP),
		write("POST", "/api/v1/me/mfa/totp/confirm", "accounts.mfa_enroll", s.confirmTOTP),
		write("POST", "/api/v1/me/mfa/sm2", "accounts.mfa_enroll", s.enrollSM2),
		write("POST", "/api/v1/me/step-up", "sessions.step_up", s.stepUp),
		important("POST", "/api/v1/accounts", "accounts.create", s.createAccount),
		important("POST", "/api/v1/accounts/{id}/unlock", "accounts.unlock", s.unlockAccount),
		important("POST", "/api/v1/accounts/{id}/roles", "accounts.roles", s.setRoles),
		important("POST", "/api/v1/accounts/{id}/close", "accounts.close", s.closeAccount),
		important("POST", "/api/v1/accounts/{id}/mfa/reset", "accounts.mfa_reset", s.resetFactors),
		write("DELETE", "/api/v1/accounts/{id}/sessions", "sessions.delete_any", s.endAccountSessions),
		important("POST", "/api/v1/accounts/{id}/unmask", "accounts.unmask", s.unmaskAccount),
		important("POST", "/api/v1/audit/export", "audit.export", s.exportAudit),
		important("POST", "/api/v1/keys/rotate", "keys.rotate", s.rotateKey),
		read("/api/v1/policy", "policy.read", s.getPolicy),
		important("PUT", "/api/v1/policy", "policy.change", s.setPolicy),
		read("/api/v1/approvals", "approvals.list", s.listApprovals),
		important("POST", "/api/v1/approvals/{id}/approve", "approvals.decide", s.approve),
		important("POST", "/api/v1/approvals/{id}/reject", "approvals.decide", s.reject),
		read("/api/v1/me/notifications", "notifications.list_own", s.notifications),
		read("/api/v1/audit", "audit.search", s.searchAudit),
		read("/api/v1/audit/head", "audit.verify", s.auditHead),
		read("/api/v1/audit/proof", "audit.verify", s.auditProof),
		write("POST", "/api/v1/tax/quotes", "tax.quote", s.taxQuote),
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
	// A read's audit record is written when the handler first reads; its
	// commit index is the read's linearizable read point.
	readRecord bool
	auditDone  chan struct{}
	auditIndex uint64
	auditErr   error
	server     *Server
	sys        bool
	header     http.Header // the answer's headers
	outcome    string      // the record's result of a success that is not "ok"
}

// Propose replicates cmd with this request's audit context: the request is
// audited by the command itself.
func (r *Request) Propose(cmd *state.Command) ([]byte, error) {
	cmd.Audit = r.Audit.Encode()
	r.audited = true
	v, err := r.Node.ProposeOK(r.Ctx, cmd)
	return v, rejection(err)
}

// View reads the state linearizably: after the request's own audit record
// is applied on this node (reads), or after a read barrier.
func (r *Request) View(fn func(*state.ReadTx) error) error {
	if r.readRecord && r.auditDone == nil {
		// An allowed read's record goes into the log now; the read waits
		// for it to apply, which makes it linearizable without a separate
		// barrier round. A read refused before it reads (bad input) gets
		// its one record, with the refusal, when it ends.
		r.auditDone = make(chan struct{})
		r.audited = true
		if r.auditIndex, r.auditErr = r.server.record(r, nil); r.auditErr != nil {
			r.auditErr = errs.Wrap("audit", errs.Unavailable, r.auditErr, "the request could not be audited, so it was refused; retry")
		}
		close(r.auditDone)
	}
	if r.auditDone != nil {
		<-r.auditDone
		if r.auditErr != nil {
			return r.auditErr
		}
		if err := r.Node.WaitApplied(r.Ctx, r.auditIndex); err != nil {
			return rejection(err)
		}
	} else if err := r.Node.ReadBarrier(r.Ctx); err != nil {
		return rejection(err)
	}
	return r.Node.State().View(fn)
}

// rejection classifies errors from the storage layer: a command's rejection
// becomes an API error of its kind and code, and cluster conditions get their
// kinds.
func rejection(err error) error {
	var rej *state.Rejection
	if !errors.As(err, &rej) {
		switch {
		case errors.Is(err, cluster.ErrNoLeader), errors.Is(err, cluster.ErrShutdown):
			return errs.Wrap("", errs.Unavailable, err, "the cluster has no leader right now; retry")
		case errors.Is(err, cluster.ErrFailStop):
			return errs.Wrap("", errs.Unavailable, err, "this node stopped itself; retry on another node")
		case errors.Is(err, cluster.ErrNotLeader):
			return errs.Wrap("", errs.Conflict, err, "this node is not the leader")
		}
		return err
	}
	kind := rejectionKind(rej.Kind)
	if kind == errs.Internal { // a result stored before kinds whose code is gone
		return errs.Wrap("", errs.Internal, err, "the change was refused by the state machine")
	}
	return errs.Coded("", kind, rej.Code, "%s", rej.Message)
}

// rejectionKind is the one place a state machine's refusal gets its API
// kind, and so its HTTP status.
func rejectionKind(k state.Kind) errs.Kind {
	switch k {
	case state.KindInvalid:
		return errs.Invalid
	case state.KindConflict:
		return errs.Conflict
	case state.KindNotFound:
		return errs.NotExist
	case state.KindUnauthenticated:
		return errs.Unauthenticated
	case state.KindPermission:
		return errs.Permission
	case state.KindUnavailable:
		return errs.Unavailable
	}
	return errs.Internal
}

// serve answers one request and writes its one audit record: in the
// command it proposed, or as an audit.record before the answer leaves. A
// sealed node answers only the sys routes and keeps its records in its
// local log (recordSys).
func (s *Server) serve(rt Route) http.HandlerFunc {
	return func(w http.ResponseWriter, hr *http.Request) {
		ctx, cancel := context.WithTimeout(hr.Context(), 30*time.Second)
		defer cancel()
		LimitBody(w, hr)
		req := &Request{HTTP: hr, Ctx: ctx, Node: s.Cluster(), server: s, sys: rt.sys, header: w.Header()}
		req.Audit = auditlog.Context{Subject: "anonymous", Source: clientIP(hr), Action: rt.Action, Request: requestID()}
		// The request ID names the request's audit record.
		w.Header().Set("X-Request-Id", req.Audit.Request)
		var status int
		var body any
		var err error
		switch {
		case req.Node == nil && !rt.sys:
			err = errs.E("", errs.Sealed, "the node is sealed; unseal it with cxt unseal")
		case rt.unrouted:
			req.Audit.Object = unroutedObject(hr)
			s.identify(req)
			status, body, err = rt.handle(req)
		default:
			status, body, err = s.run(req, rt)
		}
		if req.auditDone != nil {
			<-req.auditDone
			switch {
			case req.auditErr != nil:
				err = req.auditErr
			case err != nil:
				req.audited = false // the allowed request failed: that gets a record too
			}
		}
		if !req.audited {
			if _, aerr := s.record(req, err); aerr != nil {
				s.Log.Error("request refused: it could not be audited", "action", rt.Action, "err", aerr)
				WriteError(w, errs.Wrap("audit", errs.Unavailable, aerr, "the request could not be audited, so it was refused; retry"))
				return
			}
		}
		if err != nil {
			WriteError(w, err)
			return
		}
		if body == nil { // a redirect
			w.WriteHeader(status)
			return
		}
		WriteJSON(w, status, body)
	}
}

// record writes the audit record of a request that proposed no command and
// returns the log index it was applied at.
func (s *Server) record(req *Request, err error) (uint64, error) {
	result := "ok"
	switch {
	case err != nil:
		result = errs.Of(err).Code
	case req.outcome != "":
		result = req.outcome
	}
	c := req.Audit
	c.Event, c.Result = "request", result
	if req.sys || req.Node == nil {
		return s.recordSys(req, c)
	}
	return s.propose(req.Ctx, req, c)
}

func (s *Server) propose(ctx context.Context, req *Request, c auditlog.Context) (uint64, error) {
	v, err := req.Node.ProposeOK(ctx, auditlog.RecordCommand(c, s.Now()))
	if err != nil || len(v) != 8 {
		return 0, err
	}
	return binary.BigEndian.Uint64(v), nil
}

// run authenticates, authorizes and handles one request.
func (s *Server) run(req *Request, rt Route) (int, any, error) {
	if req.Node == nil { // sealed: no session can be read
		req.Subject = anonymous
	} else if err := s.authenticate(req); err != nil {
		return 0, nil, err
	}
	// The account a route acts on, if any, is the resource: its ID is the
	// owner (the policy refuses administrators acting on themselves where that
	// matters) and its clearance the label (nobody acts on an account cleared
	// above them).
	resource := policy.Resource{Label: 1, Owner: mux.Vars(req.HTTP)["id"]}
	absent := false // the route names an account that this caller may not know of
	if resource.Owner != "" && strings.HasPrefix(rt.Path, "/api/v1/accounts/") {
		lookup := func(tx *state.ReadTx) error {
			acct, err := identity.AccountByID(tx, resource.Owner)
			if acct != nil && acct.Clearance > 0 {
				resource.Label = acct.Clearance
			}
			absent = acct == nil
			return err
		}
		err := req.Node.State().View(lookup)
		if err == nil && absent && req.Session != nil { // perhaps only not applied on this node yet
			if err = req.Node.ReadBarrier(req.Ctx); err == nil {
				err = req.Node.State().View(lookup)
			}
		}
		if err != nil {
			return 0, nil, rejection(err)
		}
	}
	in := policy.Input{Subject: req.Subject, Action: rt.Action, Resource: resource}
	d, err := s.decideHidingLabels(req, in, &absent)
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
	// The duty rules (三权分立) hold whatever the policy allowed, and so
	// does mandatory access control: a request above the caller's clearance
	// was decided as if its account were absent (decideHidingLabels) and
	// ends in not_found below.
	if v := policy.CheckDuty(in); v != nil {
		return 0, nil, errs.Coded("authorize", errs.Permission, "duty_violation", "%s", v)
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
	if absent {
		return 0, nil, errs.E("authorize", errs.NotExist, "no account %s", resource.Owner)
	}
	if rt.prepare != nil {
		return s.important(req, rt)
	}
	req.readRecord = rt.read // see View
	return rt.handle(req)
}

// decodeJSON reads one JSON object with no unknown fields.
func decodeJSON(r *Request, v any) error { return DecodeJSON(r.HTTP, v) }

// DecodeJSON reads exactly one JSON object with no unknown fields from a
// body already bounded by http.MaxBytesReader; every listener decodes so.
func DecodeJSON(hr *http.Request, v any) error {
	const op = "decode request"
	if mt, _, err := mime.ParseMediaType(hr.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		return errs.E(op, errs.Unsupported, "send the body as Content-Type: application/json")
	}
	raw, err := io.ReadAll(hr.Body)
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		return errs.E(op, errs.TooLarge, "the body exceeds %d bytes", maxBody)
	} else if err != nil {
		return errs.E(op, errs.Invalid, "the body could not be read: %v", err)
	}
	// Go keeps the last of two equal keys; another reader may keep the
	// first. A body that says two things is refused rather than read one way.
	if err := uniqueKeys(raw); err != nil {
		return errs.E(op, errs.Invalid, "the body is not the expected JSON object: %v", err)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return errs.E(op, errs.Invalid, "the body is not the expected JSON object: %v", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return errs.E(op, errs.Invalid, "the body holds more than one JSON value")
	}
	return nil
}

// LimitBody bounds a request body to the size every listener accepts.
func LimitBody(w http.ResponseWriter, hr *http.Request) {
	hr.Body = http.MaxBytesReader(w, hr.Body, maxBody)
}

type errorBody struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
		Field   string `json:"field,omitempty"`
	} `json:"error"`
}

// WriteError renders err as {"error":{"code":…,"message":…}} with its
// kind's status; storage errors are classified first (see rejection).
func WriteError(w http.ResponseWriter, err error) {
	e := errs.Of(rejection(err))
	if e.Kind == errs.RateLimited {
		w.Header().Set("Retry-After", "1")
	}
	var body errorBody
	body.Error.Code, body.Error.Message = e.Code, e.Msg
	var fe *tax.FieldError
	if errors.As(err, &fe) {
		body.Error.Field = fe.Field
	}
	WriteJSON(w, e.Kind.Status(), body)
}

// WriteJSON answers v as JSON with status.
func WriteJSON(w http.ResponseWriter, status int, v any) {
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

// Unguarded serves one route's handler with the session resolved but no
// policy decision and no audit record. It exists only so that the benchmark
// can measure what authorization and audit cost; the appliance never mounts
// it.
func (s *Server) Unguarded(action string) http.HandlerFunc {
	var rt Route
	for _, r := range s.Routes() {
		if r.Action == action && r.handle != nil {
			rt = r
		}
	}
	return func(w http.ResponseWriter, hr *http.Request) {
		req := &Request{HTTP: hr, Ctx: hr.Context(), Node: s.Cluster(), server: s}
		if err := s.authenticate(req); err != nil {
			WriteError(w, err)
			return
		}
		status, body, err := rt.handle(req)
		if err != nil {
			WriteError(w, err)
			return
		}
		WriteJSON(w, status, body)
	}
}
