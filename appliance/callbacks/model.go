package callbacks

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// The events the platform reports. Domains enqueue them; merchants switch
// on them.
const (
	EventTest            = "callback.test"    // a merchant asked for a test delivery
	EventBatchPrefix     = "batch."           // batch.<status>: a payout batch changed status
	EventPaymentPaid     = "payment.paid"     // a payment reached the worker
	EventPaymentFailed   = "payment.failed"   // the channel refused or failed it
	EventPaymentReturned = "payment.returned" // the money came back (退票)
	EventPaymentOnHold   = "payment.on_hold"  // held for review
)

var eventName = regexp.MustCompile(`^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$`)

// CheckEvent refuses an event name that is not dotted lower-case words.
func CheckEvent(e string) error {
	if len(e) > 64 || !eventName.MatchString(e) {
		return fmt.Errorf("callback event %q is not dotted lower-case words", e)
	}
	return nil
}

// Statuses of a delivery.
const (
	Pending   = "pending"   // waiting for its next try
	Delivered = "delivered" // a try was answered 2xx
	Dead      = "dead"      // out of tries (or its endpoint is gone); a replay starts again
)

// Attempt is one try, as the leader recorded it.
type Attempt struct {
	Round    int       `json:"round"`
	Try      int       `json:"try"`
	At       time.Time `json:"at"`
	Status   int       `json:"status,omitempty"` // the HTTP status answered, if any
	Error    string    `json:"error,omitempty"`  // why it failed, without the answer's body
	Duration int64     `json:"duration_ms"`
	Node     string    `json:"node"`
}

// maxAttemptsKept bounds a delivery's attempt log (the oldest go first).
const maxAttemptsKept = 50

// Delivery is one event on its way to one endpoint.
type Delivery struct {
	ID       string          `json:"id"`
	Merchant string          `json:"merchant"`
	Client   string          `json:"client"` // whose callback URL
	Event    string          `json:"event"`
	Body     json.RawMessage `json:"body"` // exactly the bytes POSTed and signed
	Created  time.Time       `json:"created"`
	Status   string          `json:"status"`
	Round    int             `json:"round"` // 1, and one more per replay
	Tries    int             `json:"tries"` // in this round
	Next     time.Time       `json:"next_attempt,omitzero"`
	Attempts []Attempt       `json:"attempts"`
}

// Envelope is the JSON body of every callback: what the signature covers.
type Envelope struct {
	ID       string    `json:"id"` // the delivery's ID: the same on every try
	Event    string    `json:"event"`
	Merchant string    `json:"merchant"`
	Created  time.Time `json:"created"`
	Data     any       `json:"data"`
}

// Backoff is how the deliverer spaces a delivery's tries: the n-th failure
// waits Base × 2^(n-1), at most Cap; after MaxAttempts tries it is dead.
type Backoff struct {
	Base, Cap   time.Duration
	MaxAttempts int
}

// DefaultBackoff tries for about four and a half hours: 10 s, 20 s, … up
// to an hour between tries, 12 tries.
var DefaultBackoff = Backoff{Base: 10 * time.Second, Cap: time.Hour, MaxAttempts: 12}

// After returns how long to wait after the try-th failure, or 0 when the
// delivery is out of tries.
func (b Backoff) After(try int) time.Duration {
	if try >= b.MaxAttempts {
		return 0
	}
	d := b.Base
	for i := 1; i < try && d < b.Cap; i++ {
		d *= 2
	}
	return min(d, b.Cap)
}

// MaxURL bounds a callback URL.
const MaxURL = 2048

// ErrURL is the refusal of a callback URL.
var ErrURL = errors.New("callback URL")

// CheckURL refuses a callback URL that is not an absolute https URL with a
// host, or that has credentials or a fragment, or names an address inside
// the appliance's network (private, loopback, link-local, unspecified,
// shared) unless allowPrivate. It returns the URL as it will be called.
func CheckURL(raw string, allowPrivate bool) (string, error) {
	if len(raw) > MaxURL {
		return "", fmt.Errorf("%w: at most %d characters", ErrURL, MaxURL)
	}
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		return "", fmt.Errorf("%w: %v", ErrURL, err)
	case u.Scheme != "https":
		return "", fmt.Errorf("%w: callbacks are sent over https only", ErrURL)
	case u.Host == "" || u.Hostname() == "" || u.Opaque != "":
		return "", fmt.Errorf("%w: an absolute https URL with a host", ErrURL)
	case u.User != nil:
		return "", fmt.Errorf("%w: no user or password in the URL", ErrURL)
	case u.Fragment != "" || strings.Contains(raw, "#"):
		return "", fmt.Errorf("%w: no fragment", ErrURL)
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 || strings.TrimLeft(p, "0123456789") != "" {
			return "", fmt.Errorf("%w: port %q", ErrURL, p)
		}
	}
	host := strings.ToLower(u.Hostname())
	if !allowPrivate {
		if host == "localhost" || strings.HasSuffix(host, ".localhost") {
			return "", fmt.Errorf("%w: %s is this machine; callbacks go to the merchant's own systems", ErrURL, host)
		}
		if ip, err := netip.ParseAddr(host); err == nil && !Public(ip) {
			return "", fmt.Errorf("%w: %s is a private, loopback or link-local address", ErrURL, host)
		}
	}
	return u.String(), nil
}

// inner are ranges the standard library does not call private but which
// are not the public network: shared (carrier-grade NAT), benchmarking, and
// "this network".
var inner = []netip.Prefix{netip.MustParsePrefix("100.64.0.0/10"), netip.MustParsePrefix("198.18.0.0/15"), netip.MustParsePrefix("0.0.0.0/8")}

// Public reports whether ip is an address on the public network: not
// loopback, private, link-local, unspecified, multicast or shared.
func Public(ip netip.Addr) bool {
	ip = ip.Unmap()
	if !ip.IsValid() || ip.IsLoopback() || ip.IsPrivate() || ip.IsLinkLocalUnicast() || ip.IsLinkLocalMulticast() ||
		ip.IsUnspecified() || ip.IsMulticast() || ip.IsInterfaceLocalMulticast() {
		return false
	}
	for _, p := range inner {
		if p.Contains(ip) {
			return false
		}
	}
	return true
}
