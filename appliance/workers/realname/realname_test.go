package realname

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestTheSandboxFollowsItsDocumentedRules(t *testing.T) {
	const id = "11010519491231002X"
	cases := []struct {
		name, id, phone string
		match           bool
		reason          string
		score           float64
	}{
		{"王小明", id, "13800001111", true, "", 0.99},
		{"王小明", id, "", true, "", 0.99},
		{"假名字", id, "13800001111", false, ReasonNameMismatch, 0.10},
		{"王小明", "110105194912319990", "", false, ReasonNoRecord, 0},
		{"王小明", id, "13800000000", false, ReasonPhoneMismatch, 0.50},
	}
	for _, c := range cases {
		r, err := Sandbox{}.Verify(context.Background(), c.name, c.id, c.phone)
		if err != nil || r.Match != c.match || r.Reason != c.reason || r.Score != c.score || r.Provider != SandboxProvider || !strings.HasPrefix(r.Reference, "sbx-") {
			t.Errorf("%s %s %s: %+v %v", c.name, c.id, c.phone, r, err)
		}
		again, _ := Sandbox{}.Verify(context.Background(), c.name, c.id, c.phone)
		if again != r {
			t.Errorf("the sandbox answered %+v, then %+v", r, again)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := (Sandbox{}).Verify(ctx, "王小明", id, ""); err == nil {
		t.Error("a cancelled check answered")
	}
}

// service is a real-name service as the protocol describes it: it checks
// each request's signature, timestamp and nonce, and signs its answers.
type service struct {
	t        *testing.T
	secret   []byte
	calls    atomic.Int32
	mu       sync.Mutex
	nonces   map[string]bool
	behave   func(call int32, nonce string, w http.ResponseWriter) bool // true: answered already
	badSig   bool
	received []map[string]string
}

func (s *service) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	call := s.calls.Add(1)
	body, _ := io.ReadAll(r.Body)
	ts, nonce := r.Header.Get("X-Cxt-Timestamp"), r.Header.Get("X-Cxt-Nonce")
	want := RequestSignature(s.secret, r.Method, r.URL.EscapedPath(), r.Header.Get("X-Cxt-App"), ts, nonce, body)
	sec, _ := strconv.ParseInt(ts, 10, 64)
	s.mu.Lock()
	seen := s.nonces[nonce]
	s.nonces[nonce] = true
	var in map[string]string
	json.Unmarshal(body, &in)
	s.received = append(s.received, in)
	s.mu.Unlock()
	switch {
	case r.Header.Get("X-Cxt-Signature") != want:
		http.Error(w, "bad signature", http.StatusUnauthorized)
		return
	case seen || len(nonce) != 32:
		http.Error(w, "nonce reused", http.StatusUnauthorized)
		return
	case time.Since(time.Unix(sec, 0)).Abs() > 5*time.Minute:
		http.Error(w, "stale", http.StatusUnauthorized)
		return
	}
	if s.behave != nil && s.behave(call, nonce, w) {
		return
	}
	answer, _ := json.Marshal(map[string]any{"match": in["name"] != "假", "reference": "ref-" + strconv.Itoa(int(call)), "score": 0.97})
	rts := strconv.FormatInt(time.Now().Unix(), 10)
	sig := ResponseSignature(s.secret, nonce, rts, answer)
	if s.badSig {
		sig = ResponseSignature([]byte("another secret"), nonce, rts, answer)
	}
	w.Header().Set("X-Cxt-Timestamp", rts)
	w.Header().Set("X-Cxt-Signature", sig)
	w.Write(answer)
}

func newService(t *testing.T) (*service, *HTTP) {
	s := &service{t: t, secret: []byte("shared-secret-0123456789"), nonces: map[string]bool{}}
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	return s, &HTTP{URL: srv.URL + "/v1/verify", App: "cxt-test", Secret: s.secret, Provider: "acme",
		Timeout: 200 * time.Millisecond, Retries: 2, Backoff: 10 * time.Millisecond}
}

func TestTheHTTPAdapterSignsItsRequestsAndChecksTheAnswers(t *testing.T) {
	s, h := newService(t)
	r, err := h.Verify(context.Background(), "王小明", "11010519491231002X", "13800001111")
	if err != nil || !r.Match || r.Provider != "acme" || r.Reference != "ref-1" || r.Score != 0.97 {
		t.Fatalf("%+v %v", r, err)
	}
	if got := s.received[0]; got["name"] != "王小明" || got["id_number"] != "11010519491231002X" || got["phone"] != "13800001111" {
		t.Fatalf("the service received %v", got)
	}
	// A wrong secret is refused by the service (401): not tried again.
	wrong := *h
	wrong.Secret = []byte("not the secret")
	if _, err := wrong.Verify(context.Background(), "王小明", "11010519491231002X", ""); err == nil || s.calls.Load() != 2 {
		t.Fatalf("a request under the wrong secret: %v after %d calls", err, s.calls.Load())
	}
	// An answer signed under another secret is not believed, and not retried.
	s.badSig = true
	if _, err := h.Verify(context.Background(), "王小明", "11010519491231002X", ""); err == nil || !strings.Contains(err.Error(), "signature") || s.calls.Load() != 3 {
		t.Fatalf("a forged answer: %v after %d calls", err, s.calls.Load())
	}
}

func TestTheHTTPAdapterRetriesA5xxThenSucceeds(t *testing.T) {
	s, h := newService(t)
	s.behave = func(call int32, _ string, w http.ResponseWriter) bool {
		if call <= 2 {
			http.Error(w, "busy", http.StatusServiceUnavailable)
			return true
		}
		return false
	}
	r, err := h.Verify(context.Background(), "王小明", "11010519491231002X", "")
	if err != nil || !r.Match || s.calls.Load() != 3 {
		t.Fatalf("%+v %v after %d calls", r, err, s.calls.Load())
	}
	// Every attempt carried its own nonce: the service refused none as reused.
	if len(s.nonces) != 3 {
		t.Fatalf("%d nonces for 3 attempts", len(s.nonces))
	}
}

func TestTheHTTPAdapterGivesUpOnASlowServiceAfterItsRetries(t *testing.T) {
	s, h := newService(t)
	s.behave = func(int32, string, http.ResponseWriter) bool {
		time.Sleep(time.Second)
		return false
	}
	start := time.Now()
	_, err := h.Verify(context.Background(), "王小明", "11010519491231002X", "")
	took := time.Since(start)
	if err == nil || s.calls.Load() != 3 {
		t.Fatalf("a slow service: %v after %d calls", err, s.calls.Load())
	}
	// Three attempts of 200 ms and backoffs of 10 and 20 ms, not three seconds.
	if took > 900*time.Millisecond {
		t.Fatalf("took %v", took)
	}
	// The caller's deadline ends the retries early.
	s.calls.Store(0)
	ctx, cancel := context.WithTimeout(context.Background(), 250*time.Millisecond)
	defer cancel()
	if _, err := h.Verify(ctx, "王小明", "11010519491231002X", ""); err == nil || s.calls.Load() > 2 {
		t.Fatalf("with a 250 ms deadline: %v after %d calls", err, s.calls.Load())
	}
}

func TestTheHTTPAdapterRefusesMalformedAnswers(t *testing.T) {
	s, h := newService(t)
	for _, answer := range []string{`{"match":true}`, `{"reference":"r","score":0.5}`, `{"match":true,"reference":"r","score":7}`, `not json`} {
		s.behave = func(_ int32, nonce string, w http.ResponseWriter) bool {
			ts := strconv.FormatInt(time.Now().Unix(), 10)
			w.Header().Set("X-Cxt-Timestamp", ts)
			w.Header().Set("X-Cxt-Signature", ResponseSignature(s.secret, nonce, ts, []byte(answer)))
			w.Write([]byte(answer))
			return true
		}
		before := s.calls.Load()
		if _, err := h.Verify(context.Background(), "王小明", "11010519491231002X", ""); err == nil || !strings.Contains(err.Error(), "the answer is not") || s.calls.Load() != before+1 {
			t.Errorf("answer %s: %v after %d calls", answer, err, s.calls.Load()-before)
		}
	}
}
