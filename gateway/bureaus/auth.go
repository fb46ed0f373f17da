package bureaus

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"cxt/appliance/api"
	"cxt/appliance/errs"
	"cxt/appliance/signedreq"
	"cxt/crypto/sm/reqsig"
	"cxt/policy"
	"cxt/storage/state"
)

// TaxOfficer is the role a bureau's client acts as.
const TaxOfficer = "tax_officer"

// Default per-client limits of the gateway (node.json "gateway" overrides).
const (
	DefaultRate  = 20 // requests per second
	DefaultBurst = 40
)

// Authenticate checks a signed request on the gateway listener
// (api.Clients): no body on a GET, the client its headers name is
// registered, its timestamp is within the window, its signature verifies
// with the client's key in force, the client is live, its connection
// presents the client's TLS certificate if it pinned one, it is within
// its rate, and its nonce is new — recorded by a replicated command under
// the request's audit context before anything is served. The checks that
// cost nothing come first; the nonce, which writes, last.
func (b *Backend) Authenticate(r *api.Request) error {
	const op = "authenticate gateway client"
	signed, body, err := signedreq.Read(r)
	if err != nil && !errors.Is(err, reqsig.ErrMalformed) {
		return err
	}
	if len(body) > 0 && (r.HTTP.Method == http.MethodGet || r.HTTP.Method == http.MethodHead) {
		return errBody()
	}
	if err != nil {
		return refuse(r, "", strings.TrimPrefix(err.Error(), "reqsig: "))
	}
	// The time first: a stale request is refused alike whichever client
	// it names, so that refusals do not tell which clients exist.
	if err := signed.Fresh(r.Now()); err != nil {
		r.Audit.Reason = "signed as gateway client " + signed.Client + " with a stale timestamp"
		return errs.Coded(op, errs.Unauthenticated, "request_expired", "%s; the server's time is %d (Unix seconds): check the client's clock", strings.TrimPrefix(err.Error(), "reqsig: "), r.Now().Unix())
	}
	c, err := b.find(r, signed.Client)
	if err != nil {
		return err
	}
	if c == nil {
		return refuse(r, signed.Client, "the gateway client is unknown")
	}
	if p := keyNamePrefix(signed.Client); p != "" && !strings.HasPrefix(c.Fingerprint, p) {
		return refuse(r, c.ID, "the key "+signed.Client+" names was rotated away from gateway client "+c.ID)
	}
	pub, err := c.Public()
	if err != nil {
		return err
	}
	if err := signed.Verify(pub); err != nil {
		return refuse(r, c.ID, strings.TrimPrefix(err.Error(), "reqsig: ")+" with the client's key in force")
	}
	r.Audit.Subject = c.ID
	if err := c.Standing(); err != nil {
		return api.Classify(err)
	}
	if c.TLS != nil {
		tls := r.HTTP.TLS
		switch {
		case tls == nil || len(tls.PeerCertificates) == 0:
			return errs.Coded(op, errs.Unauthenticated, "client_certificate_required", "gateway client %s pinned a TLS client certificate: connect with it (mutual TLS)", c.ID)
		case !c.TLS.Matches(tls.PeerCertificates[0].Raw):
			return errs.Coded(op, errs.Unauthenticated, "client_certificate_mismatch", "the connection's client certificate is not the one gateway client %s pinned (SM3 %s)", c.ID, c.TLS.Fingerprint)
		}
	}
	if !b.limits.allow(c.ID, b.Rate, b.Burst, r.Now()) {
		return &errs.Error{Op: op, Kind: errs.RateLimited, Code: "rate_limited", Msg: "too many requests from gateway client " + c.ID + " on this node; wait a second and retry"}
	}
	nb, _ := json.Marshal(signedreq.For(c.ID, signed))
	if _, err := r.ProposeAside(state.NewCommand(CmdNonce, nb, r.Now())); err != nil {
		return err
	}
	r.Subject = policy.Subject{ID: c.ID, Roles: []string{TaxOfficer}, Clearance: 1}
	r.Session = &Session{Client: c, Signed: signed, Body: body}
	return nil
}

func errBody() error {
	return errs.Coded("gateway", errs.Invalid, "body_not_allowed", "a GET carries no body (its signature covers the SM3 of the empty body)")
}

// NoBody refuses a GET with a body on the gateway listener (a signed
// request is refused by Authenticate already; this is for the routes
// anybody may call).
func NoBody(r *api.Request) error {
	if r.HTTP.ContentLength > 0 || len(r.HTTP.TransferEncoding) > 0 {
		return errBody()
	}
	return nil
}

// refuse answers a signature that does not authenticate; the record names
// the client it claimed.
//
// A refusal of a named client says only that the signature does not verify
// for the client it names — the same whether the client is unknown, its key
// was rotated away or the signature is wrong — so that refusals do not tell
// which clients exist; the audit entry says which.
func refuse(r *api.Request, claimed, why string) error {
	if claimed != "" {
		r.Audit.Reason = "signed as gateway client " + claimed + ": " + why
		why = "the signature does not verify for the gateway client the request names"
	}
	return errs.Coded("authenticate gateway client", errs.Unauthenticated, CodeSignature.String(), "%s", why)
}

// find reads the client a request names (FindByName: its ID or its key's
// name), after a read barrier if this node has not applied its
// registration yet.
func (b *Backend) find(r *api.Request, name string) (*Client, error) {
	if !validID(name) && keyNamePrefix(name) == "" {
		return nil, nil
	}
	var c *Client
	_, err := r.LookupFresh(func(tx *state.ReadTx) (bool, error) {
		var err error
		c, err = FindByName(tx, name)
		return c != nil, err
	})
	return c, err
}

// Live reports whether name names a live client, by its ID or its key's
// name (api.Clients): it only chooses the anonymous limit or not.
func (b *Backend) Live(tx *state.ReadTx, name string) bool {
	c, err := FindByName(tx, name)
	return err == nil && c != nil && c.Status == Live
}

// Session is a gateway client's standing in the pipeline: the client as
// its request found it and the signed request itself, which a route may
// keep as evidence (a receipt).
type Session struct {
	Client *Client
	Signed *reqsig.Signed
	Body   []byte // as sent and signed
}

// Admits refuses every important operation: those need a person.
func (*Session) Admits(action string, important bool, _ time.Time) error {
	if important {
		return errs.Coded("authorize", errs.Permission, "forbidden", "%s is an important operation of the business API; a gateway client runs none", action)
	}
	return nil
}

// Caller is the gateway client a request was authenticated as.
func Caller(r *api.Request) (*Session, error) {
	s, ok := r.Session.(*Session)
	if !ok {
		return nil, errs.E("gateway", errs.Unauthenticated, "sign the request as a gateway client (docs/gateway.md)")
	}
	return s, nil
}

// NoSessions is the gateway listener's api.Sessions: it takes signed
// requests only, never a business session's token.
type NoSessions struct{}

// Authenticate refuses every bearer token.
func (NoSessions) Authenticate(r *api.Request, _ string) error {
	return errs.E("authenticate", errs.Unauthenticated, "the gateway takes SM2-signed requests of registered gateway clients only; a session token is for the business API")
}

// Holder names nobody.
func (NoSessions) Holder(*state.ReadTx, string) string { return "" }

// Live is never true.
func (NoSessions) Live(*state.ReadTx, string, time.Time) bool { return false }

// limiter keeps a token bucket per client on this node.
type limiter struct {
	mu      sync.Mutex
	clients map[string]*rate.Limiter
}

func (l *limiter) allow(id string, r rate.Limit, burst int, now time.Time) bool {
	if r == 0 {
		r, burst = DefaultRate, DefaultBurst
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.clients == nil {
		l.clients = map[string]*rate.Limiter{}
	}
	lim, ok := l.clients[id]
	if !ok || lim.Limit() != r || lim.Burst() != burst {
		lim = rate.NewLimiter(r, burst)
		l.clients[id] = lim
	}
	return lim.AllowN(now, 1)
}
