package api

import (
	"context"
	"log/slog"
	"net/http"
	"path"
	"strings"
	"time"

	"github.com/gorilla/mux"

	"cxt/appliance/errs"
	"cxt/policy"
	"cxt/storage/auditlog"
	"cxt/storage/state"
)

// System is the node under the API. The health and unseal routes ask it;
// they are the only routes that answer while the node is sealed.
type System interface {
	// Health is what probes and load balancers need, and all that a
	// caller without a session sees.
	Health() Health
	// Detail is the node's full status: addresses, terms, key term,
	// policy version. Only a role allowed sys.status sees it.
	Detail() any
	// Unseal adds one key share (hex) toward the threshold.
	Unseal(ctx context.Context, share string) (any, error)
}

// Health is what /healthz, /readyz and /api/v1/sys/status show a caller
// without a session: nothing that helps an attacker map the cluster.
type Health struct {
	Node         string `json:"node"`
	Role         string `json:"role"`
	Leader       string `json:"leader"` // the leader's node ID, never its address
	AppliedIndex uint64 `json:"applied_index"`
	Sealed       bool   `json:"sealed"`
}

// Handler is the business listener: every route, and for a request that
// matches none — an unknown path, a wrong method, a path that needs
// cleaning — an answer that is audited like any other (see serve). Path
// cleaning is done here rather than by gorilla, whose redirect would leave
// no record.
func (s *Server) Handler() http.Handler {
	r := mux.NewRouter().SkipClean(true)
	s.route(r)
	r.NotFoundHandler = s.serve(Route{unrouted: true, Handle: notFound})
	r.MethodNotAllowedHandler = s.serve(Route{unrouted: true, Handle: func(req *Request) (int, any, error) {
		return wrongMethod(r, req)
	}})
	redirect := s.serve(Route{unrouted: true, Handle: redirect})
	return http.HandlerFunc(func(w http.ResponseWriter, hr *http.Request) {
		if cleanPath(hr.URL.Path) != hr.URL.Path {
			redirect(w, hr)
			return
		}
		r.ServeHTTP(w, hr)
	})
}

// maxRecordedPath bounds the path an unrouted request's record keeps.
const maxRecordedPath = 256

func unroutedObject(hr *http.Request) string {
	p := hr.URL.Path
	if len(p) > maxRecordedPath {
		p = p[:maxRecordedPath] + "…"
	}
	return hr.Method + " " + p
}

func notFound(r *Request) (int, any, error) {
	return 0, nil, errs.E("", errs.NotExist, "no such endpoint: %s", unroutedObject(r.HTTP))
}

// wrongMethod answers 405 with the methods the path does take, found by
// asking the router itself, so the list cannot drift from the routes.
func wrongMethod(router *mux.Router, r *Request) (int, any, error) {
	var allow []string
	for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete} {
		probe := r.HTTP.WithContext(r.HTTP.Context())
		probe.Method = m
		var match mux.RouteMatch
		if router.Match(probe, &match) && match.MatchErr == nil {
			allow = append(allow, m)
		}
	}
	r.header.Set("Allow", strings.Join(allow, ", "))
	return 0, nil, errs.Coded("", errs.WrongMethod, "method_not_allowed", "%s is not allowed on %s; use %s",
		r.HTTP.Method, r.HTTP.URL.Path, strings.Join(allow, " or "))
}

// redirect sends an uncleaned path (double slashes, dot segments) to its
// clean form, as gorilla would, but audited.
func redirect(r *Request) (int, any, error) {
	u := *r.HTTP.URL
	u.Path = cleanPath(u.Path)
	r.header.Set("Location", u.String())
	r.outcome = "redirect"
	return http.StatusMovedPermanently, nil, nil
}

// cleanPath is gorilla's: path.Clean keeping a trailing slash.
func cleanPath(p string) string {
	if p == "" {
		return "/"
	}
	if p[0] != '/' {
		p = "/" + p
	}
	np := path.Clean(p)
	if p[len(p)-1] == '/' && np != "/" {
		np += "/"
	}
	return np
}

// identify names, for the audit record only, the account whose session
// token an unrouted request carries: nothing is authorised by it, so an
// ended or idle session still names its holder, and nothing is changed.
func (s *Server) identify(r *Request) {
	authz := r.HTTP.Header.Get("Authorization")
	if authz == "" || s.Sessions == nil {
		return
	}
	r.Node.State().View(func(tx *state.ReadTx) error {
		if holder := s.Sessions.Holder(tx, authz); holder != "" {
			r.Audit.Subject = holder
		}
		return nil
	})
}

// anonymous is the subject of a request without a session, and of every
// request to a sealed node, which cannot read sessions.
var anonymous = policy.Subject{ID: "anonymous", Roles: []string{"anonymous"}, Clearance: 1}

// may reports whether the caller may also do action (a decision inside a
// route, such as seeing the full status).
func (s *Server) may(r *Request, action string) bool {
	d, err := s.Authz.Decide(r.Ctx, policy.Input{Subject: r.Subject, Action: action, Resource: policy.Resource{Label: 1}})
	return err == nil && d.Allow
}

func (s *Server) health(r *Request) any {
	if s.may(r, "sys.status") {
		r.Audit.Object = "full status"
		return s.System.Detail()
	}
	return s.System.Health()
}

func (s *Server) healthz(r *Request) (int, any, error) { return http.StatusOK, s.health(r), nil }

// readyz answers 200 once the node is unsealed and a leader is known.
func (s *Server) readyz(r *Request) (int, any, error) {
	h := s.System.Health()
	if h.Sealed || h.Leader == "" {
		return http.StatusServiceUnavailable, s.health(r), nil
	}
	return http.StatusOK, s.health(r), nil
}

func (s *Server) unseal(r *Request) (int, any, error) {
	var in struct {
		Share string `json:"share"`
	}
	if err := r.Decode(&in); err != nil {
		return 0, nil, err
	}
	st, err := s.System.Unseal(r.Ctx, in.Share)
	return http.StatusOK, st, err
}

// sysRecordWait bounds how long a system route waits for its record to
// replicate before keeping it in the local log: probes time out in seconds.
const sysRecordWait = 3 * time.Second

// recordSys writes the record of a system route. A node that cannot write
// the replicated log — sealed, or without a leader — still answers probes
// and takes key shares, so their records go to its local log instead.
func (s *Server) recordSys(req *Request, c auditlog.Context) (uint64, error) {
	if req.Node == nil {
		s.recordLocal(c, "sealed")
		return 0, nil
	}
	if addr, _ := req.Node.Raft().LeaderWithID(); addr == "" {
		s.recordLocal(c, "no leader")
		return 0, nil
	}
	ctx, cancel := context.WithTimeout(req.Ctx, sysRecordWait)
	defer cancel()
	index, err := s.propose(ctx, req, c)
	if err != nil {
		s.recordLocal(c, "the replicated log did not take it: "+err.Error())
		return 0, nil
	}
	return index, nil
}

// recordLocal writes an audit record to the node's structured log with
// the fields of a replicated entry.
func (s *Server) recordLocal(c auditlog.Context, why string) {
	s.Log.LogAttrs(context.Background(), slog.LevelInfo, "audit record kept in the local log",
		slog.Group("audit",
			slog.Time("time", s.Now()), slog.String("type", c.Event), slog.String("subject", c.Subject),
			slog.String("action", c.Action), slog.String("object", c.Object), slog.String("result", c.Result),
			slog.String("source", c.Source), slog.String("request", c.Request), slog.String("reason", c.Reason),
		),
		slog.String("because", why))
}
