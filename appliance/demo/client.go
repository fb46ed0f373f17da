package demo

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"cxt/appliance/identity"
)

// Client speaks the public API as any client would: HTTPS against the
// node's certificate, JSON in and out.
type Client struct {
	base string
	http *http.Client
	// Clock is the node's time, which TOTP codes are computed on (nil:
	// the real time).
	Clock *Clock

	mu    sync.Mutex
	steps map[string]int64 // the last TOTP step used per secret: codes are single-use
}

// NewClient talks to the API at addr (host:port), trusting caPEM.
func NewClient(addr string, caPEM []byte) (*Client, error) {
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return nil, fmt.Errorf("demo: the API certificate does not parse")
	}
	return &Client{
		base:  "https://" + addr,
		http:  &http.Client{Timeout: time.Minute, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}},
		steps: map[string]int64{},
	}, nil
}

// csvBody is a request body sent as text/csv.
type csvBody []byte

// APIError is an answer outside 2xx.
type APIError struct {
	Method, Path string
	Status       int
	Body         string
}

func (e *APIError) Error() string {
	return fmt.Sprintf("%s %s: %d %s", e.Method, e.Path, e.Status, e.Body)
}

// call sends body (JSON, raw bytes, or CSV) and decodes a JSON answer into
// out. Requests without a session share one per-address rate limit: a 429
// is waited out (Retry-After) and sent again. A 503 — the node had no
// leader for a moment, as on a loaded machine — is sent again a few times,
// as the answer advises.
func (c *Client) call(ctx context.Context, method, path, token string, body any, out any, headers ...string) (int, error) {
	unavailable := 0
	for {
		status, wait, err := c.once(ctx, method, path, token, body, out, headers...)
		switch {
		case status == http.StatusServiceUnavailable && unavailable < 5:
			unavailable++
			wait = time.Duration(unavailable) * time.Second
		case status != http.StatusTooManyRequests:
			return status, err
		}
		select {
		case <-ctx.Done():
			return status, err
		case <-time.After(wait):
		}
	}
}

func (c *Client) once(ctx context.Context, method, path, token string, body any, out any, headers ...string) (int, time.Duration, error) {
	var rd io.Reader
	contentType := ""
	switch b := body.(type) {
	case nil:
	case []byte:
		rd, contentType = bytes.NewReader(b), "application/octet-stream"
	case csvBody:
		rd, contentType = bytes.NewReader(b), "text/csv"
	default:
		j, err := json.Marshal(b)
		if err != nil {
			return 0, 0, err
		}
		rd, contentType = bytes.NewReader(j), "application/json"
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return 0, 0, err
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, 0, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return resp.StatusCode, 0, err
	}
	if resp.StatusCode/100 != 2 {
		wait := time.Second
		if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && s > 0 {
			wait = time.Duration(s) * time.Second
		}
		return resp.StatusCode, wait, &APIError{method, path, resp.StatusCode, string(raw)}
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			return resp.StatusCode, 0, fmt.Errorf("%s %s: %w", method, path, err)
		}
	}
	return resp.StatusCode, 0, nil
}

// raw fetches a non-JSON answer (a document, a package).
func (c *Client) raw(ctx context.Context, method, path, token string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err == nil && resp.StatusCode != 200 {
		err = &APIError{method, path, resp.StatusCode, string(b)}
	}
	return b, err
}

// important runs an important operation: preview, then confirm with the
// token, under one Idempotency-Key.
func (c *Client) important(ctx context.Context, method, path, token, key string, body, out any) error {
	var preview struct {
		Token string `json:"confirm_token"`
	}
	if _, err := c.call(ctx, method, path, token, body, &preview, "Idempotency-Key", key); err != nil {
		return err
	}
	_, err := c.call(ctx, method, path, token, body, out, "Idempotency-Key", key, "X-Confirm-Token", preview.Token)
	return err
}

// code returns a TOTP code for secret from a step not used before, waiting
// for the next 30-second step if this one was.
func (c *Client) code(ctx context.Context, secret string) (string, error) {
	for {
		now := c.Clock.Now()
		step := now.Unix() / 30
		c.mu.Lock()
		if step > c.steps[secret] {
			c.steps[secret] = step
			c.mu.Unlock()
			return identity.TOTPCode(secret, now), nil
		}
		c.mu.Unlock()
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case <-time.After(time.Unix((step+1)*30, 0).Sub(c.Clock.Now()) + 100*time.Millisecond):
		}
	}
}

// Session is a signed-in account.
type Session struct {
	Username, Password, TOTP, Token string
}

// firstLogin takes an account from its one-time password to a session with
// its own password and a TOTP factor enrolled. A step-up, which important
// operations need, takes a code from a later 30-second step (codes are
// single-use), so it is done only for the sessions that need one (stepUp).
func (c *Client) firstLogin(ctx context.Context, username, oneTime string) (*Session, error) {
	var login struct {
		Token string `json:"token"`
	}
	if _, err := c.call(ctx, "POST", "/api/v1/sessions", "", map[string]string{"username": username, "password": oneTime}, &login); err != nil {
		return nil, err
	}
	s := &Session{Username: username, Password: identity.GeneratePassword(), Token: login.Token}
	if err := c.changePassword(ctx, s.Token, oneTime, s.Password); err != nil {
		return nil, err
	}
	if err := c.enrolTOTP(ctx, s); err != nil {
		return nil, err
	}
	return s, nil
}

// enrolTOTP enrols a TOTP factor for the session's account and confirms it
// with a first code.
func (c *Client) enrolTOTP(ctx context.Context, s *Session) error {
	var enrol struct {
		Secret string `json:"secret"`
	}
	if _, err := c.call(ctx, "POST", "/api/v1/me/mfa/totp", s.Token, nil, &enrol); err != nil {
		return err
	}
	s.TOTP = enrol.Secret
	code, err := c.code(ctx, s.TOTP)
	if err != nil {
		return err
	}
	_, err = c.call(ctx, "POST", "/api/v1/me/mfa/totp/confirm", s.Token, map[string]string{"code": code}, nil)
	return err
}

// stepUp re-authenticates a session for important operations.
func (c *Client) stepUp(ctx context.Context, s *Session) error {
	code, err := c.code(ctx, s.TOTP)
	if err != nil {
		return err
	}
	_, err = c.call(ctx, "POST", "/api/v1/me/step-up", s.Token, map[string]string{"totp": code}, nil)
	return err
}

// changePassword changes the session's password. A try answered 503 may
// have changed it: the next try then finds the old password wrong, which
// is the change made (a retry of the old password would otherwise fail a
// first login under load).
func (c *Client) changePassword(ctx context.Context, token, old, new string) error {
	body := map[string]string{"current_password": old, "new_password": new}
	for try := 1; ; try++ {
		status, _, err := c.once(ctx, "POST", "/api/v1/me/password", token, body, nil)
		switch {
		case err == nil:
			return nil
		case status == http.StatusServiceUnavailable && try < 5:
			select {
			case <-ctx.Done():
				return err
			case <-time.After(time.Duration(try) * time.Second):
			}
		case status == http.StatusUnauthorized && try > 1 && strings.Contains(err.Error(), `"invalid_credentials"`):
			return nil // the try that answered 503 changed it
		default:
			return err
		}
	}
}
