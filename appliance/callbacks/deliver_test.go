package callbacks

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"cxt/crypto/sm"
	"cxt/storage/cluster"
	"cxt/storage/cluster/loopback"
	"cxt/storage/state"
)

// received is what a merchant's endpoint saw of one callback.
type received struct {
	header http.Header
	body   []byte
}

// endpoint is a merchant's HTTPS endpoint: it answers each callback with
// the status answer picks (by the count so far) and keeps what it got.
type endpoint struct {
	*httptest.Server
	mu   sync.Mutex
	got  []received
	hold func(n int, r *http.Request) // runs before answering the n-th (1-based)
}

func newEndpoint(t *testing.T, answer func(n int) int) *endpoint {
	e := &endpoint{}
	e.Server = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		e.mu.Lock()
		e.got = append(e.got, received{r.Header.Clone(), body})
		n, hold := len(e.got), e.hold
		e.mu.Unlock()
		if hold != nil {
			hold(n, r)
		}
		w.WriteHeader(answer(n))
	}))
	t.Cleanup(e.Close)
	return e
}

func (e *endpoint) received() []received {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]received(nil), e.got...)
}

// trust is the deliverer's TLS configuration for the test endpoint.
func (e *endpoint) trust() *tls.Config {
	pool := x509.NewCertPool()
	pool.AddCert(e.Certificate())
	return &tls.Config{RootCAs: pool}
}

func startCluster(t *testing.T, size int) *loopback.Cluster {
	t.Helper()
	c, err := loopback.New(t.TempDir, registerForTest)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := c.Start(ctx, size); err != nil {
		t.Fatal(err)
	}
	return c
}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func fast(max int) Backoff {
	return Backoff{Base: time.Millisecond, Cap: time.Millisecond, MaxAttempts: max}
}

func propose(t *testing.T, n *cluster.Node, typ string, body any) []byte {
	t.Helper()
	b, _ := json.Marshal(body)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	v, err := n.ProposeOK(ctx, state.NewCommand(typ, b, time.Now()))
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func delivery(t *testing.T, n *cluster.Node, merchant, id string) *Delivery {
	t.Helper()
	var d *Delivery
	if err := n.State().View(func(tx *state.ReadTx) error {
		var err error
		d, err = Get(tx, merchant, id)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return d
}

// until runs step until done says so, or fails after a while.
func until(t *testing.T, what string, step func(), done func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !done() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		if step != nil {
			step()
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func verifyWithOpenSSL(t *testing.T, pubPEM string, body, sig []byte) {
	t.Helper()
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "callback-key.pem"), []byte(pubPEM), 0o600)
	os.WriteFile(filepath.Join(dir, "body.json"), body, 0o600)
	os.WriteFile(filepath.Join(dir, "signature.der"), sig, 0o600)
	path, err := exec.LookPath("openssl")
	if err != nil {
		t.Fatal("openssl 3 is required for the interop tests (apt-get install openssl)")
	}
	cmd := exec.Command(path, "dgst", "-sm3", "-sigopt", sm.DistID, "-verify", "callback-key.pem", "-signature", "signature.der", "body.json")
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "Verified OK") {
		t.Fatalf("openssl did not verify a callback: %v %s", err, out)
	}
}

// A merchant's endpoint that fails twice gets the callback a third time,
// the same body and delivery ID each time, signed by the platform's key so
// that stock OpenSSL verifies it; the log shows every try, and a replay
// sends it once more.
func TestCallbacksAreSignedRetriedLoggedAndReplayedOverHTTPS(t *testing.T) {
	c := startCluster(t, 1)
	leader := c.Nodes["n1"].Node
	ep := newEndpoint(t, func(n int) int {
		if n <= 2 {
			return http.StatusServiceUnavailable
		}
		return http.StatusOK
	})
	d := &Deliverer{Node: leader, Now: time.Now, Log: quiet(), Backoff: fast(5), TLS: ep.trust(), AllowPrivate: true}
	var ds []Delivery
	json.Unmarshal(propose(t, leader, cmdEnqueue, enqueueBody{Merchant: "m_1",
		Endpoints: map[string]string{"cl_a": ep.URL + "/cxt/callback"}, Event: EventPaymentPaid,
		Data: map[string]any{"payment": "p_1", "amount": "1280.00"}}), &ds)
	id := ds[0].ID
	ctx := context.Background()
	until(t, "the third try", func() { d.Once(ctx) }, func() bool { return delivery(t, leader, "m_1", id).Status == Delivered })

	got := ep.received()
	if len(got) != 3 {
		t.Fatalf("the endpoint got %d callbacks, want 3", len(got))
	}
	var key *Key
	leader.State().View(func(tx *state.ReadTx) error { key, _ = GetKey(tx); return nil })
	pub, err := sm.ParsePublicKeyPEM([]byte(key.Public))
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range got {
		sig, err := base64.StdEncoding.DecodeString(r.header.Get(HeaderSignature))
		if err != nil || !pub.Verify(r.body, sig) {
			t.Fatalf("try %d: the signature does not verify (%v)", i+1, err)
		}
		if r.header.Get(HeaderDelivery) != id || string(r.body) != string(ds[0].Body) || r.header.Get(HeaderEvent) != EventPaymentPaid ||
			r.header.Get(HeaderKey) != key.Fingerprint || r.header.Get(HeaderAttempt) != "1."+string(rune('1'+i)) {
			t.Fatalf("try %d: %v %s", i+1, r.header, r.body)
		}
	}
	sig, _ := base64.StdEncoding.DecodeString(got[2].header.Get(HeaderSignature))
	verifyWithOpenSSL(t, key.Public, got[2].body, sig)

	log := delivery(t, leader, "m_1", id)
	if len(log.Attempts) != 3 || log.Attempts[0].Status != 503 || log.Attempts[0].Error == "" || log.Attempts[2].Status != 200 || log.Attempts[2].Node != "n1" {
		t.Fatalf("the delivery log: %+v", log.Attempts)
	}

	propose(t, leader, CmdReplay, Replay{Merchant: "m_1", ID: id, By: "acct-1"})
	until(t, "the replay", func() { d.Once(ctx) }, func() bool { return len(ep.received()) == 4 && delivery(t, leader, "m_1", id).Status == Delivered })
	if r := ep.received()[3]; r.header.Get(HeaderAttempt) != "2.1" || r.header.Get(HeaderDelivery) != id || string(r.body) != string(ds[0].Body) {
		t.Fatalf("the replay: %v %s", r.header, r.body)
	}
}

// Out of tries a delivery is dead and nothing more is sent; and a callback
// URL that reaches a loopback address is refused at the connection unless
// the node allows private addresses.
func TestADeliveryOutOfTriesIsDeadAndInnerAddressesAreRefused(t *testing.T) {
	c := startCluster(t, 1)
	leader := c.Nodes["n1"].Node
	ep := newEndpoint(t, func(int) int { return http.StatusInternalServerError })
	d := &Deliverer{Node: leader, Now: time.Now, Log: quiet(), Backoff: fast(2), TLS: ep.trust(), AllowPrivate: true}
	var ds []Delivery
	json.Unmarshal(propose(t, leader, cmdEnqueue, enqueueBody{Merchant: "m_1", Endpoints: map[string]string{"cl_a": ep.URL}, Event: "batch.failed"}), &ds)
	ctx := context.Background()
	until(t, "the delivery to die", func() { d.Once(ctx) }, func() bool { return delivery(t, leader, "m_1", ds[0].ID).Status == Dead })
	for range 5 {
		d.Once(ctx)
	}
	if n := len(ep.received()); n != 2 {
		t.Fatalf("the endpoint got %d tries of a delivery with 2", n)
	}

	strict := &Deliverer{Node: leader, Now: time.Now, Log: quiet(), Backoff: fast(1), TLS: ep.trust()}
	json.Unmarshal(propose(t, leader, cmdEnqueue, enqueueBody{Merchant: "m_2", Endpoints: map[string]string{"cl_b": ep.URL}, Event: "batch.failed"}), &ds)
	until(t, "the refused delivery", func() { strict.Once(ctx) }, func() bool { return delivery(t, leader, "m_2", ds[0].ID).Status == Dead })
	if n := len(ep.received()); n != 2 {
		t.Fatal("a callback reached a loopback address the node does not allow")
	}
	if a := delivery(t, leader, "m_2", ds[0].ID).Attempts[0]; !strings.Contains(a.Error, "private, loopback or link-local") || a.Status != 0 {
		t.Fatalf("the refused try: %+v", a)
	}
}

// A leader that dies with a callback in flight never records its outcome;
// the next leader sends it again, and it is delivered (at least once).
func TestACallbackInFlightWhenTheLeaderDiesIsSentByTheNext(t *testing.T) {
	c := startCluster(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	first, err := c.Leader(ctx)
	if err != nil {
		t.Fatal(err)
	}
	inFlight := make(chan struct{})
	release := make(chan struct{})
	ep := newEndpoint(t, func(int) int { return http.StatusOK })
	ep.hold = func(n int, r *http.Request) {
		if n == 1 {
			close(inFlight)
			select { // answered only once its leader is gone
			case <-release:
			case <-r.Context().Done():
			}
		}
	}
	// Every node runs a deliverer, as every node does; only the leader's sends.
	stops := map[string]func(){}
	for _, n := range c.Running() {
		dctx, stop := context.WithCancel(ctx)
		done := make(chan struct{})
		d := &Deliverer{Node: n.Node, Now: time.Now, Log: quiet(), Backoff: fast(5), TLS: ep.trust(), AllowPrivate: true, Interval: 20 * time.Millisecond}
		go func() { d.Run(dctx); close(done) }()
		stops[n.ID] = func() { stop(); <-done }
		t.Cleanup(stops[n.ID])
	}
	var ds []Delivery
	json.Unmarshal(propose(t, first.Node, cmdEnqueue, enqueueBody{Merchant: "m_1", Endpoints: map[string]string{"cl_a": ep.URL}, Event: EventPaymentReturned}), &ds)
	select {
	case <-inFlight:
	case <-ctx.Done():
		t.Fatal("the leader never sent the callback")
	}
	// The leader dies mid-try: its deliverer stops with it.
	stops[first.ID]()
	c.Stop(first)
	close(release)

	next, err := c.Leader(ctx)
	if err != nil {
		t.Fatal(err)
	}
	until(t, "the next leader's delivery", nil, func() bool {
		var d *Delivery
		next.Node.State().View(func(tx *state.ReadTx) error { d, _ = Get(tx, "m_1", ds[0].ID); return nil })
		return d != nil && d.Status == Delivered
	})
	got := ep.received()
	if len(got) < 2 || got[0].header.Get(HeaderDelivery) != got[len(got)-1].header.Get(HeaderDelivery) {
		t.Fatalf("the endpoint got %d tries", len(got))
	}
	d := delivery(t, next.Node, "m_1", ds[0].ID)
	if last := d.Attempts[len(d.Attempts)-1]; last.Node == first.ID || last.Status != 200 {
		t.Fatalf("delivered by %s (the dead leader is %s): %+v", last.Node, first.ID, d.Attempts)
	}
}
