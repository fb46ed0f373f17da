package api

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"cxt/appliance/errs"
	"cxt/crypto/sm/reqsig"
	"cxt/storage/auditlog"
	"cxt/storage/state"
)

// Anonymous callers are limited per source address before anything of
// theirs touches the replicated log: every anonymous request would
// otherwise write an audit record (and a captcha or challenge) on every
// node, and every login costs a slow password hash. Signed-in callers are
// accountable and are not limited here. A refused request is held for a
// moment before its 429, so a flooding client that waits for answers slows
// to the pace of the hold instead of spinning on cheap refusals; refusals
// are audited once per source per minute, with their count.

// Limits are the per-source rates of anonymous requests.
type Limits struct {
	Anonymous      rate.Limit    // requests per second from one address without a session
	AnonymousBurst int           // how many may come at once
	Logins         rate.Limit    // password checks per second from one address
	LoginBurst     int           // how many may come at once
	Hold           time.Duration // how long a refused request waits before its answer
}

// DefaultLimits let an office behind one address sign in its people at a
// login a second, and hold a flood to a trickle.
var DefaultLimits = Limits{Anonymous: 5, AnonymousBurst: 20, Logins: 1, LoginBurst: 10, Hold: time.Second}

// maxSources bounds the addresses tracked; past it, idle ones are dropped,
// and if none are idle every new address shares one limiter.
const maxSources = 100_000

// limiter keeps one pair of token buckets per source address.
type limiter struct {
	mu       sync.Mutex
	limits   Limits
	sources  map[string]*source
	overflow *source
	evicted  time.Time // the last pass over a full table
	// distrusted are the sources whose machine-client signatures were
	// refused lately, until when: their signed requests are limited as
	// anonymous ones.
	distrusted map[string]time.Time
}

// distrustFor is how long a refused signature makes its source's signed
// requests count as anonymous.
const distrustFor = time.Minute

// distrust marks addr as a source of refused signatures until a while
// after now.
func (l *limiter) distrust(addr string, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.distrusted == nil {
		l.distrusted = map[string]time.Time{}
	}
	if len(l.distrusted) >= maxSources {
		for a, until := range l.distrusted {
			if now.After(until) {
				delete(l.distrusted, a)
			}
		}
		if len(l.distrusted) >= maxSources {
			l.distrusted[""] = now.Add(distrustFor) // everybody, while the table is full
		}
	}
	l.distrusted[addr] = now.Add(distrustFor)
}

// trusted reports whether addr's signed requests may pass unlimited.
func (l *limiter) trusted(addr string, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return now.After(l.distrusted[addr]) && now.After(l.distrusted[""])
}

type source struct {
	anonymous, login *rate.Limiter
	seen             time.Time
	refused          int       // refusals not yet in an audit record
	recorded         time.Time // when the last refusal record was written
}

func (l *limiter) get(addr string, now time.Time) *source {
	if l.sources == nil {
		l.sources = map[string]*source{}
		if l.limits == (Limits{}) {
			l.limits = DefaultLimits
		}
	}
	if s, ok := l.sources[addr]; ok {
		s.seen = now
		return s
	}
	if len(l.sources) >= maxSources && now.Sub(l.evicted) > 10*time.Second {
		l.evicted = now
		for a, s := range l.sources {
			if now.Sub(s.seen) > 10*time.Minute {
				delete(l.sources, a)
			}
		}
	}
	s := &source{
		anonymous: rate.NewLimiter(l.limits.Anonymous, l.limits.AnonymousBurst),
		login:     rate.NewLimiter(l.limits.Logins, l.limits.LoginBurst),
		seen:      now,
	}
	if len(l.sources) >= maxSources {
		if l.overflow == nil {
			l.overflow = s
		}
		return l.overflow
	}
	l.sources[addr] = s
	return s
}

func (l *limiter) hold() time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.sources == nil && l.limits == (Limits{}) {
		return DefaultLimits.Hold
	}
	return l.limits.Hold
}

// take spends a token of addr's bucket (login or not). When refused it
// returns the refusals to record now (0: not yet, one record a minute).
func (l *limiter) take(addr string, login bool, now time.Time) (ok bool, record int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := l.get(addr, now)
	b := s.anonymous
	if login {
		b = s.login
	}
	if b.AllowN(now, 1) {
		return true, 0
	}
	s.refused++
	if now.Sub(s.recorded) < time.Minute {
		return false, 0
	}
	n := s.refused
	s.refused, s.recorded = 0, now
	return false, n
}

// LimitAnonymous wraps the business listener: a request without a live
// session is admitted only within its source address's rate.
func (s *Server) LimitAnonymous(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, hr *http.Request) {
		if s.signedIn(hr) {
			next.ServeHTTP(w, hr)
			return
		}
		if err := s.throttle(hr, false); err != nil {
			WriteError(w, err)
			return
		}
		next.ServeHTTP(w, hr)
	})
}

// signedIn reports whether hr carries the token of a live session, or names
// a live machine client from a source none of whose signatures was refused
// lately, from this node's state without a read barrier: it only chooses
// the limit. (A client's ID is no secret; its signature is checked later,
// and a refusal makes its source anonymous again for a minute.)
func (s *Server) signedIn(hr *http.Request) bool {
	authz := hr.Header.Get("Authorization")
	c := s.Cluster()
	if c == nil {
		return false
	}
	if reqsig.Present(hr.Header) {
		if authz != "" || s.Clients == nil || !s.limits.trusted(sourceKey(clientIP(hr)), s.Now()) {
			return false
		}
		var live bool
		c.State().View(func(tx *state.ReadTx) error {
			live = s.Clients.Live(tx, hr.Header.Get(reqsig.HeaderClient))
			return nil
		})
		return live
	}
	if authz == "" || s.Sessions == nil {
		return false
	}
	var live bool
	c.State().View(func(tx *state.ReadTx) error {
		live = s.Sessions.Live(tx, authz, s.Now())
		return nil
	})
	return live
}

// throttle admits a request within its address's rate, or holds it and
// answers 429. Refusals are audited once a minute per address with their
// count; the record is written in the background so that a flood cannot
// make the refusals wait on the log.
func (s *Server) throttle(hr *http.Request, login bool) error {
	addr := clientIP(hr)
	ok, record := s.limits.take(sourceKey(addr), login, s.Now())
	if ok {
		return nil
	}
	if c := s.Cluster(); c != nil && record > 0 {
		ctx := auditlog.Context{Subject: "anonymous", Source: addr, Action: hr.Method + " " + hr.URL.Path,
			Object: fmt.Sprintf("%d requests refused", record), Event: "request.throttled", Result: "rate_limited", Request: NewID()}
		go func() {
			pctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if _, err := c.Propose(pctx, auditlog.RecordCommand(ctx, s.Now())); err != nil {
				s.Log.Warn("refused requests could not be audited", "source", addr, "count", record, "err", err)
			}
		}()
	}
	hold := s.limits.hold()
	if hold > 0 {
		select {
		case <-time.After(hold):
		case <-hr.Context().Done():
		}
	}
	return &errs.Error{Op: "rate limit", Kind: errs.RateLimited, Code: "rate_limited",
		Msg: "too many requests from your address without a session; wait " + strconv.Itoa(int(max(hold, time.Second)/time.Second)) + " s and retry"}
}

// sourceKey is the address a limit applies to: an IPv4 address, or the /64
// of an IPv6 one, since one host commonly holds a whole /64.
func sourceKey(addr string) string {
	ip := net.ParseIP(addr)
	if ip == nil || ip.To4() != nil {
		return addr
	}
	return ip.Mask(net.CIDRMask(64, 128)).String() + "/64"
}
