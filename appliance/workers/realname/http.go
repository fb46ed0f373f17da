package realname

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"cxt/crypto/sm"
)

// HTTP asks a third-party real-name service over HTTPS. The protocol:
//
// A request is POST URL with the JSON body {"name","id_number","phone"} and
// the headers X-Cxt-App (the app ID), X-Cxt-Timestamp (Unix seconds),
// X-Cxt-Nonce (32 hex digits, never reused) and X-Cxt-Signature, the hex
// HMAC-SM3 under the shared secret of RequestSignature's string. The service
// answers 200 with {"match","reference","score","reason"} and signs it:
// X-Cxt-Timestamp and X-Cxt-Signature, the HMAC-SM3 of ResponseSignature's
// string, which names the request's nonce, so an answer cannot be replayed
// for another request. A service refuses a timestamp more than a few minutes
// off or a nonce seen before.
//
// Each attempt has its own deadline (Timeout). A transport error, a timeout,
// a 429 or a 5xx is tried again, up to Retries more times, after Backoff,
// then twice that, and so on, each time with a fresh nonce; a 4xx or an
// answer that is malformed or badly signed is not.
type HTTP struct {
	URL      string
	App      string
	Secret   []byte
	Provider string        // names the service in results; default the URL's host
	Timeout  time.Duration // per attempt; default 5 s
	Retries  int           // further attempts after the first; default 0
	Backoff  time.Duration // before the first retry, doubling; default 200 ms
	Client   *http.Client  // default http.DefaultClient
	Now      func() time.Time
}

// maxAnswer bounds a service's answer.
const maxAnswer = 64 << 10

// RequestSignature is what a request's X-Cxt-Signature signs.
func RequestSignature(secret []byte, method, path, app, timestamp, nonce string, body []byte) string {
	sum := sm.Sum(body)
	mac := sm.HMAC(secret, []byte(method+"\n"+path+"\n"+app+"\n"+timestamp+"\n"+nonce+"\n"+hex.EncodeToString(sum[:])))
	return hex.EncodeToString(mac[:])
}

// ResponseSignature is what an answer's X-Cxt-Signature signs: the nonce of
// the request it answers, its own timestamp and its body.
func ResponseSignature(secret []byte, nonce, timestamp string, body []byte) string {
	sum := sm.Sum(body)
	mac := sm.HMAC(secret, []byte("response\n"+nonce+"\n"+timestamp+"\n"+hex.EncodeToString(sum[:])))
	return hex.EncodeToString(mac[:])
}

// errFinal marks a failure that another attempt would not mend.
type errFinal struct{ error }

func (e errFinal) Unwrap() error { return e.error }

// Verify asks the service, retrying as the type's comment says.
func (h *HTTP) Verify(ctx context.Context, name, idNumber, phone string) (Result, error) {
	body, _ := json.Marshal(map[string]string{"name": name, "id_number": idNumber, "phone": phone})
	timeout, backoff := h.Timeout, h.Backoff
	if timeout <= 0 {
		timeout = 5 * time.Second
	}
	if backoff <= 0 {
		backoff = 200 * time.Millisecond
	}
	var last error
	for attempt := 0; attempt <= h.Retries; attempt++ {
		if attempt > 0 {
			select {
			case <-ctx.Done():
				return Result{}, fmt.Errorf("real-name service: %w (after %v)", ctx.Err(), last)
			case <-time.After(backoff << (attempt - 1)):
			}
		}
		r, err := h.attempt(ctx, body, timeout)
		if err == nil {
			return r, nil
		}
		last = err
		var final errFinal
		if errors.As(err, &final) || ctx.Err() != nil {
			break
		}
	}
	return Result{}, fmt.Errorf("real-name service: %w", last)
}

func (h *HTTP) attempt(ctx context.Context, body []byte, timeout time.Duration) (Result, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	u, err := url.Parse(h.URL)
	if err != nil {
		return Result{}, errFinal{err}
	}
	now := time.Now
	if h.Now != nil {
		now = h.Now
	}
	var n [16]byte
	rand.Read(n[:])
	nonce, ts := hex.EncodeToString(n[:]), strconv.FormatInt(now().Unix(), 10)
	req, err := http.NewRequestWithContext(ctx, "POST", h.URL, bytes.NewReader(body))
	if err != nil {
		return Result{}, errFinal{err}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Cxt-App", h.App)
	req.Header.Set("X-Cxt-Timestamp", ts)
	req.Header.Set("X-Cxt-Nonce", nonce)
	req.Header.Set("X-Cxt-Signature", RequestSignature(h.Secret, "POST", u.EscapedPath(), h.App, ts, nonce, body))
	client := h.Client
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Do(req)
	if err != nil {
		return Result{}, err // transport error or this attempt's timeout: try again
	}
	defer resp.Body.Close()
	answer, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer+1))
	if err != nil {
		return Result{}, err
	}
	switch {
	case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500:
		return Result{}, fmt.Errorf("answered %s", resp.Status)
	case resp.StatusCode != http.StatusOK:
		return Result{}, errFinal{fmt.Errorf("answered %s", resp.Status)}
	case len(answer) > maxAnswer:
		return Result{}, errFinal{fmt.Errorf("answer larger than %d bytes", maxAnswer)}
	}
	want := ResponseSignature(h.Secret, nonce, resp.Header.Get("X-Cxt-Timestamp"), answer)
	if !sm.Equal([]byte(want), []byte(resp.Header.Get("X-Cxt-Signature"))) {
		return Result{}, errFinal{errors.New("the answer's signature does not verify")}
	}
	var out struct {
		Match     *bool   `json:"match"`
		Reference string  `json:"reference"`
		Score     float64 `json:"score"`
		Reason    string  `json:"reason"`
	}
	if err := json.Unmarshal(answer, &out); err != nil || out.Match == nil || out.Reference == "" || out.Score < 0 || out.Score > 1 {
		return Result{}, errFinal{fmt.Errorf("the answer is not {match, reference, score 0-1, reason}")}
	}
	provider := h.Provider
	if provider == "" {
		provider = u.Host
	}
	return Result{Match: *out.Match, Provider: provider, Reference: out.Reference, Score: out.Score, Reason: out.Reason}, nil
}
