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
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gorilla/mux"

	"cxt/appliance/errs"
	"cxt/appliance/strictjson"
	"cxt/crypto/sm/reqsig"
	"cxt/policy"
	"cxt/storage/auditlog"
	"cxt/storage/cluster"
	"cxt/storage/state"
)

// maxBody bounds every request body.
const maxBody = 1 << 20

// Server serves the /api/v1 routes: its own system routes and those of the
// backends mounted on it.
type Server struct {
	Cluster func() *cluster.Node // nil while sealed
	Authz   *policy.Authorizer
	Now     func() time.Time
	Log     *slog.Logger
	// System answers the health and unseal routes.
	System System
	// Sessions resolves bearer tokens (the identity backend).
	Sessions Sessions
	// FourEyes tells previews which changes wait for a second
	// administrator (package important).
	FourEyes FourEyes
	// Clients authenticates signed requests of machine clients (package
	// clients).
	Clients Clients
	// Withhold, when it returns an error, refuses every route but the
	// system routes with it: the node holds state it must not serve yet
	// (a destroyed archive's key came back with a restored copy).
	Withhold func() error
	// Bare serves the mounted backends' routes only, without the health,
	// status and unseal routes: a listener of its own, such as the tax
	// bureaus' gateway (gateway/server), answers nothing of the business
	// listener's.
	Bare bool

	backends []Backend
	limits   limiter // per-source rates of anonymous requests
}

// SetLimits replaces the per-source rates of anonymous requests (before
// the server serves).
func (s *Server) SetLimits(l Limits) {
	s.limits.mu.Lock()
	s.limits.limits, s.limits.sources = l, nil
	s.limits.mu.Unlock()
}

// Mount adds backends' routes (before the server serves). A route the
// pipeline could not serve as declared, or a method and path mounted twice,
// is a programming error: Mount panics.
func (s *Server) Mount(backends ...Backend) {
	s.backends = append(s.backends, backends...)
	seen := map[string]bool{}
	for _, rt := range s.Routes() {
		if err := rt.check(); err != nil {
			panic("api: " + err.Error())
		}
		if key := rt.Method + " " + rt.Path; seen[key] {
			panic("api: route " + key + " is mounted twice")
		} else {
			seen[key] = true
		}
	}
}

// Routes lists every endpoint: the system routes (unless Bare), then each
// backend's in the order they were mounted. A test checks each against the policy.
func (s *Server) Routes() []Route {
	sys := func(method, path, action string, h func(*Request) (int, any, error)) Route {
		return Route{Method: method, Path: path, Action: action, Kind: Write, Handle: h, sys: true}
	}
	var out []Route
	if !s.Bare {
		out = append(out,
			sys("GET", "/healthz", "sys.health", s.healthz),
			sys("GET", "/readyz", "sys.health", s.readyz),
			sys("GET", "/api/v1/sys/status", "sys.health", s.healthz),
			sys("POST", "/api/v1/sys/unseal", "sys.unseal", s.unseal))
	}
	for _, b := range s.backends {
		out = append(out, b.Routes()...)
	}
	return out
}

// route adds the routes to r.
func (s *Server) route(r *mux.Router) {
	for _, rt := range s.Routes() {
		r.HandleFunc(rt.Path, s.serve(rt)).Methods(rt.Method)
	}
}

func (s *Server) withheld() error {
	if s.Withhold == nil {
		return nil
	}
	return s.Withhold()
}

// Request is one request in flight.
type Request struct {
	HTTP    *http.Request
	Ctx     context.Context
	Node    *cluster.Node
	Subject policy.Subject
	Session Session // nil without a session
	Token   []byte  // SM3 of the session token
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
	return v, Classify(err)
}

// ProposeAside replicates cmd with this request's audit context without it
// being the request's record: the request still gets its own record of how
// it ended (consuming a challenge, noting a session's use).
func (r *Request) ProposeAside(cmd *state.Command) ([]byte, error) {
	cmd.Audit = r.Audit.Encode()
	v, err := r.Node.ProposeOK(r.Ctx, cmd)
	return v, Classify(err)
}

// RecordAgain gives the request a record of its own for how it ends,
// although a command it proposed carried its audit context: a refusal that
// follows a command which itself succeeded (an admission that used up a
// wrong captcha, a proved password whose replacement is refused).
func (r *Request) RecordAgain() { r.audited = false }

// Decode reads the body: exactly one JSON object with no unknown fields.
func (r *Request) Decode(v any) error { return DecodeJSON(r.HTTP, v) }

// Var is the path variable name of the route ("id" in /accounts/{id}).
func (r *Request) Var(name string) string { return mux.Vars(r.HTTP)[name] }

// Now is the API's clock; state handlers use tx.Time() instead.
func (r *Request) Now() time.Time { return r.server.Now() }

// ThrottleLogin admits one password check within the source address's
// rate of logins, or holds the request and refuses it (rate_limited).
func (r *Request) ThrottleLogin() error { return r.server.throttle(r.HTTP, true) }

// Actions lists the action of every route the server answers, in route
// order, repeats included.
func (r *Request) Actions() []string {
	var out []string
	for _, rt := range r.server.Routes() {
		out = append(out, rt.Action)
	}
	return out
}

// Routes lists every route the server answers, in route order: what a
// backend may check a name of an action against, with its kind.
func (r *Request) Routes() []Route { return r.server.Routes() }

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
			return Classify(err)
		}
	} else if err := r.Node.ReadBarrier(r.Ctx); err != nil {
		return Classify(err)
	}
	return r.Node.State().View(fn)
}

// Classify classifies errors from the storage layer: a command's rejection
// becomes an API error of its kind and code, and cluster conditions get their
// kinds. Request's Propose and View classify their errors already.
func Classify(err error) error {
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
		limit := int64(maxBody)
		if rt.MaxBody > 0 {
			limit = rt.MaxBody
		}
		hr.Body = http.MaxBytesReader(w, hr.Body, limit)
		req := &Request{HTTP: hr, Ctx: ctx, Node: s.Cluster(), server: s, sys: rt.sys, header: w.Header()}
		req.Audit = auditlog.Context{Subject: "anonymous", Source: clientIP(hr), Action: rt.Action, Request: NewID()}
		// The request ID names the request's audit record.
		w.Header().Set("X-Request-Id", req.Audit.Request)
		var status int
		var body any
		var err error
		switch {
		case req.Node == nil && !rt.sys:
			err = errs.E("", errs.Sealed, "the node is sealed; unseal it with cxt unseal")
		case !rt.sys && s.withheld() != nil:
			err = s.withheld()
		case rt.unrouted:
			req.Audit.Object = unroutedObject(hr)
			s.identify(req)
			status, body, err = rt.Handle(req)
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
		if raw, ok := body.(*Raw); ok {
			writeRaw(w, status, raw)
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

// run authenticates, finds the resource, authorizes and handles one
// request.
func (s *Server) run(req *Request, rt Route) (int, any, error) {
	if req.Node == nil { // sealed: no session can be read
		req.Subject = anonymous
	} else if err := s.authenticate(req); err != nil {
		return 0, nil, err
	}
	// The resource's owner is what the policy checks the caller against
	// (administrators acting on themselves, later a merchant's own records),
	// and its label is dominated by the caller's clearance or the resource
	// is not there for them.
	res := Resource{Resource: policy.Resource{Label: 1}}
	if rt.Resource != nil {
		var err error
		if res, err = rt.Resource(req); err != nil {
			return 0, nil, Classify(err)
		}
	}
	absent := res.Absent // the route names a resource that this caller may not know of
	in := policy.Input{Subject: req.Subject, Action: rt.Action, Resource: res.Resource}
	d, err := s.decideHidingLabels(req, in, &absent, res.noun())
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
		if slices.Contains(d.Reasons, policy.ReasonScope) {
			return 0, nil, errs.Coded("authorize", errs.Permission, "client_scope", "this machine client is not registered for %s", rt.Action)
		}
		return 0, nil, errs.Coded("authorize", errs.Permission, "forbidden", "not allowed: %v", d.Reasons)
	}
	// The duty rules (三权分立) hold whatever the policy allowed, and so
	// does mandatory access control: a request above the caller's clearance
	// was decided as if its resource were absent (decideHidingLabels) and
	// ends in not_found below.
	if v := policy.CheckDuty(in); v != nil {
		return 0, nil, errs.Coded("authorize", errs.Permission, "duty_violation", "%s", v)
	}
	// So does a machine client's scope (policy.CheckScope).
	if v := policy.CheckScope(in); v != nil {
		return 0, nil, errs.Coded("authorize", errs.Permission, "client_scope", "%s", v.Why)
	}
	if req.Session != nil {
		if err := req.Session.Admits(rt.Action, rt.Important(), s.Now()); err != nil {
			return 0, nil, err
		}
	}
	if absent {
		return 0, nil, errs.E("authorize", errs.NotExist, "no %s%s", res.noun(), asNamed(req, res.Owner))
	}
	if rt.Kind == Important {
		return s.important(req, rt)
	}
	req.readRecord = rt.Kind == Read // see View
	return rt.Handle(req)
}

// authenticate resolves the bearer token, if any, to a session and subject,
// or a machine client's signature to its client. A source whose signature
// was refused is limited as an anonymous one for a while (see signedIn).
func (s *Server) authenticate(r *Request) error {
	r.Subject = anonymous
	authz := r.HTTP.Header.Get("Authorization")
	if reqsig.Present(r.HTTP.Header) {
		if authz != "" {
			return errs.E("authenticate", errs.Unauthenticated, "send a session token or a request signature, not both")
		}
		if s.Clients == nil {
			return errs.E("authenticate", errs.Unauthenticated, "this node serves no machine clients")
		}
		if err := s.Clients.Authenticate(r); err != nil {
			s.limits.distrust(sourceKey(clientIP(r.HTTP)), s.Now())
			return err
		}
		return nil
	}
	if authz == "" {
		return nil
	}
	return s.Sessions.Authenticate(r, authz)
}

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
	// Go keeps the last of two equal keys, and fills a field from a key in
	// another case; another reader may do neither. A body that says two
	// things is refused rather than read one way.
	if err := strictjson.Check(raw, v); err != nil {
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

func writeRaw(w http.ResponseWriter, status int, raw *Raw) {
	h := w.Header()
	h.Set("Content-Type", raw.ContentType)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Length", strconv.Itoa(len(raw.Body)))
	if raw.Inline {
		w.WriteHeader(status)
		w.Write(raw.Body)
		return
	}
	disposition := "attachment"
	if raw.Name != "" {
		disposition += "; filename=\"" + strings.Map(func(r rune) rune {
			if r < 0x20 || r == '"' || r == '\\' || r > 0x7e {
				return '_'
			}
			return r
		}, raw.Name) + "\""
	}
	h.Set("Content-Disposition", disposition)
	w.WriteHeader(status)
	w.Write(raw.Body)
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
	e := errs.Of(Classify(err))
	if e.Kind == errs.RateLimited {
		w.Header().Set("Retry-After", "1")
	}
	var body errorBody
	body.Error.Code, body.Error.Message = e.Code, e.Msg
	body.Error.Field = e.Field
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

// NewID draws a random ID of 16 hex digits: a request's, a captcha's, a
// challenge's.
func NewID() string {
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
		if r.Action == action && r.Handle != nil {
			rt = r
		}
	}
	return func(w http.ResponseWriter, hr *http.Request) {
		req := &Request{HTTP: hr, Ctx: hr.Context(), Node: s.Cluster(), server: s}
		if err := s.authenticate(req); err != nil {
			WriteError(w, err)
			return
		}
		status, body, err := rt.Handle(req)
		if err != nil {
			WriteError(w, err)
			return
		}
		WriteJSON(w, status, body)
	}
}

// asNamed is how an absent resource's refusal names it: by its owner only
// when the caller named that owner in the path — another tenant's record
// must read exactly as one that does not exist, never say whose it is.
func asNamed(r *Request, owner string) string {
	if owner == "" {
		return ""
	}
	for _, v := range mux.Vars(r.HTTP) {
		if v == owner {
			return " " + owner
		}
	}
	return ""
}
