package callbacks

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"sync"
	"syscall"
	"time"

	"cxt/crypto/sm"
	"cxt/storage/auditlog"
	"cxt/storage/cluster"
	"cxt/storage/state"
)

// The headers of a callback.
const (
	HeaderDelivery  = "X-Cxt-Delivery"  // the delivery's ID, the same on every try: dedupe on it
	HeaderEvent     = "X-Cxt-Event"     // the event, as in the body
	HeaderAttempt   = "X-Cxt-Attempt"   // round.try, 1.1 for the first
	HeaderKey       = "X-Cxt-Key"       // the platform key's fingerprint (hex SM3 of its DER public key)
	HeaderSignature = "X-Cxt-Signature" // base64 of the DER SM2 signature of the body (SM3, default ID)
)

// Deliverer sends due callbacks while its node leads.
type Deliverer struct {
	Node     *cluster.Node
	Now      func() time.Time
	Log      *slog.Logger
	Interval time.Duration // how often it looks for due deliveries; default 1 s
	Backoff  Backoff       // default DefaultBackoff
	// TLS configures the connections to merchants (tests trust their own
	// server's certificate here); nil: the system's roots.
	TLS *tls.Config
	// AllowPrivate lets callbacks reach private and loopback addresses
	// (tests, and appliances whose merchants sit on the same network).
	AllowPrivate bool
	// Timeout bounds one try; default 10 s.
	Timeout time.Duration
	// Parallel bounds the tries in flight; default 4.
	Parallel int

	once   sync.Once
	client *http.Client
}

func (d *Deliverer) init() {
	d.once.Do(func() {
		if d.Interval == 0 {
			d.Interval = time.Second
		}
		if d.Backoff == (Backoff{}) {
			d.Backoff = DefaultBackoff
		}
		if d.Timeout == 0 {
			d.Timeout = 10 * time.Second
		}
		if d.Parallel == 0 {
			d.Parallel = 4
		}
		tlsConf := &tls.Config{MinVersion: tls.VersionTLS12}
		if d.TLS != nil {
			tlsConf = d.TLS.Clone()
		}
		dialer := &net.Dialer{Timeout: d.Timeout, Control: guard(d.AllowPrivate)}
		d.client = &http.Client{
			Timeout: d.Timeout,
			Transport: &http.Transport{
				DialContext: dialer.DialContext, TLSClientConfig: tlsConf, ForceAttemptHTTP2: true,
				Proxy: nil, MaxIdleConnsPerHost: 2, IdleConnTimeout: time.Minute,
			},
			// A redirect is an answer, not a delivery: the merchant's URL
			// is where the callback goes, and nowhere else.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
	})
}

// errInner is a connection refused because its address is inside the
// appliance's network.
var errInner = errors.New("the callback URL resolves to a private, loopback or link-local address")

// guard refuses, at each connection, an address that is not public (unless
// allowed): a name that resolves inward is refused after resolution.
func guard(allowPrivate bool) func(network, address string, c syscall.RawConn) error {
	return func(network, address string, _ syscall.RawConn) error {
		if allowPrivate {
			return nil
		}
		ap, err := netip.ParseAddrPort(address)
		if err != nil || !Public(ap.Addr()) {
			return errInner
		}
		return nil
	}
}

// Run sends due deliveries every Interval until ctx ends.
func (d *Deliverer) Run(ctx context.Context) {
	d.init()
	t := time.NewTicker(d.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		d.Once(ctx)
	}
}

// dueLimit bounds the deliveries one pass tries.
const dueLimit = 100

// Once makes the platform key if there is none yet and tries every due
// delivery once, if this node leads.
func (d *Deliverer) Once(ctx context.Context) {
	d.init()
	if d.Node.Status().Role != "leader" || d.Node.State().Proposable(CmdKey) != nil {
		return
	}
	key, err := slot.Ensure(ctx, d.Node, d.Now())
	if err != nil {
		d.Log.Error("callbacks: no platform key", "err", err)
		return
	}
	var due []Due
	if err := d.Node.State().View(func(tx *state.ReadTx) error {
		var err error
		due, err = DueAt(tx, d.Now(), dueLimit)
		return err
	}); err != nil {
		d.Log.Error("callbacks: the outbox is unreadable", "err", err)
		return
	}
	if len(due) == 0 {
		return
	}
	priv, err := OpenKey(d.Node.Keys(), key)
	if err != nil {
		d.Log.Error("callbacks: the platform key does not open", "err", err)
		return
	}
	sem := make(chan struct{}, d.Parallel)
	var wg sync.WaitGroup
	for _, due := range due {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			d.try(ctx, due, key.Fingerprint, priv)
		}()
	}
	wg.Wait()
}

// try sends one delivery once and records how it went.
func (d *Deliverer) try(ctx context.Context, due Due, fingerprint string, key *sm.PrivateKey) {
	dl := due.Delivery
	o := Outcome{Merchant: dl.Merchant, ID: dl.ID, Round: dl.Round, Try: dl.Tries + 1, Node: d.Node.ID()}
	start := time.Now()
	if due.URL == "" {
		o.Error = "the client has no callback URL any more (revoked)"
	} else {
		o.Status, o.Error = d.send(ctx, due.URL, dl, o, fingerprint, key)
	}
	o.Duration = time.Since(start).Milliseconds()
	if !o.OK() && due.URL != "" {
		o.RetryIn = d.Backoff.After(o.Try)
	}
	result := "ok"
	if !o.OK() {
		result = "delivery_failed"
	}
	b, _ := json.Marshal(o)
	cmd := state.NewCommand(CmdAttempt, b, d.Now())
	// The record carries the try's outcome (the command that records a
	// failure itself succeeds); the URL and error stay in the delivery log.
	cmd.Audit = auditlog.Context{Subject: "system", Action: "callbacks.deliver",
		Object: dl.Merchant + "/" + dl.ID + " " + dl.Event, Result: result}.Encode()
	if _, err := d.Node.ProposeOK(ctx, cmd); err != nil && ctx.Err() == nil {
		d.Log.Warn("callbacks: a try could not be recorded; the delivery will be tried again", "delivery", dl.ID, "err", err)
	}
}

// send POSTs the delivery's body, signed, and returns the status answered
// or why there was none.
func (d *Deliverer) send(ctx context.Context, url string, dl *Delivery, o Outcome, fingerprint string, key *sm.PrivateKey) (int, string) {
	sig, err := key.Sign(dl.Body)
	if err != nil {
		return 0, "signing failed: " + err.Error()
	}
	ctx, cancel := context.WithTimeout(ctx, d.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(dl.Body))
	if err != nil {
		return 0, err.Error()
	}
	h := req.Header
	h.Set("Content-Type", "application/json")
	h.Set("User-Agent", "cxt-callbacks/1")
	h.Set(HeaderDelivery, dl.ID)
	h.Set(HeaderEvent, dl.Event)
	h.Set(HeaderAttempt, strconv.Itoa(o.Round)+"."+strconv.Itoa(o.Try))
	h.Set(HeaderKey, fingerprint)
	h.Set(HeaderSignature, base64.StdEncoding.EncodeToString(sig))
	resp, err := d.client.Do(req)
	if err != nil {
		if errors.Is(err, errInner) {
			return 0, errInner.Error()
		}
		return 0, fmt.Sprintf("no answer: %v", unwrapURL(err))
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return resp.StatusCode, "answered " + resp.Status
	}
	return resp.StatusCode, ""
}

// unwrapURL drops the method and URL net/http puts around an error.
func unwrapURL(err error) error {
	var ue interface{ Unwrap() error }
	if errors.As(err, &ue) {
		if inner := ue.Unwrap(); inner != nil {
			return inner
		}
	}
	return err
}
