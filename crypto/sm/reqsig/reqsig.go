// Package reqsig signs and verifies HTTP requests with SM2: a machine client
// (a merchant's back-end, later a tax bureau's gateway) signs a canonical
// form of each request with its key, and the appliance verifies it with the
// public key it registered.
//
// The canonical request is six lines joined by "\n", with no newline after
// the last:
//
//	METHOD              upper case, as sent: GET, POST
//	PATH                the path as sent, without the query; it may hold no
//	                    percent-escape (the appliance's paths need none)
//	SORTED_QUERY        name=value pairs, RFC 3986-encoded, sorted, joined by &;
//	                    each name at most once
//	hex(SM3(body))      lower-case hex of the SM3 of the body's bytes (of "" for none)
//	TIMESTAMP           Unix seconds, decimal, as in X-Cxt-Timestamp
//	NONCE               as in X-Cxt-Nonce
//
// The signature is SM2 over SM3 with Z(A) computed for the default user ID
// 1234567812345678, DER-encoded and then base64 (standard, padded) in
// X-Cxt-Signature: exactly what
//
//	openssl dgst -sm3 -sigopt distid:1234567812345678 -sign key.pem | base64 -w0
//
// prints for the canonical string. (OpenSSL 3.0 signs over an empty ID
// without the -sigopt, and such a signature does not verify here.) A
// timestamp more than Window away from the verifier's clock is refused, and
// the verifier records each nonce for as long as its timestamp could pass
// (see appliance/clients), so a signed request is taken once.
package reqsig

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"cxt/crypto/sm"
)

// The headers of a signed request.
const (
	HeaderClient    = "X-Cxt-Client"    // the client's ID, which names its key
	HeaderTimestamp = "X-Cxt-Timestamp" // Unix seconds
	HeaderNonce     = "X-Cxt-Nonce"     // 16-64 of A-Z a-z 0-9 - _, never reused
	HeaderSignature = "X-Cxt-Signature" // base64 of the DER SM2 signature
)

// Window is how far a request's timestamp may be from the verifier's clock,
// either way.
const Window = 5 * time.Minute

// The ways a signed request is refused.
var (
	ErrMalformed = errors.New("reqsig: the signature headers are missing or malformed")
	ErrExpired   = errors.New("reqsig: the timestamp is more than 5 minutes from the server's clock")
	ErrSignature = errors.New("reqsig: the signature does not verify over the canonical request")
)

// Nonce bounds.
const (
	MinNonce = 16
	MaxNonce = 64
)

// Canonical returns the string a request's signature covers. rawQuery is
// the query as sent (without "?"); a query that does not parse is an error.
func Canonical(method, path, rawQuery string, body []byte, timestamp, nonce string) (string, error) {
	if strings.Contains(path, "%") {
		return "", fmt.Errorf("%w: a signed request's path has no percent-escapes (the appliance's paths need none): one path, one spelling", ErrMalformed)
	}
	q, err := SortedQuery(rawQuery)
	if err != nil {
		return "", err
	}
	sum := sm.Sum(body)
	return strings.Join([]string{method, path, q, hex.EncodeToString(sum[:]), timestamp, nonce}, "\n"), nil
}

// SortedQuery is a query's canonical form: each name and value decoded,
// then encoded as RFC 3986 (every byte but A-Z a-z 0-9 - . _ ~ as %XX,
// upper-case hex), the pairs sorted by name and then value, joined by &.
func SortedQuery(rawQuery string) (string, error) {
	if rawQuery == "" {
		return "", nil
	}
	vals, err := url.ParseQuery(rawQuery)
	if err != nil {
		return "", fmt.Errorf("%w: the query does not parse: %v", ErrMalformed, err)
	}
	type pair struct{ k, v string }
	var pairs []pair
	for k, vs := range vals {
		if len(vs) > 1 {
			return "", fmt.Errorf("%w: the query names %q %d times; a signed request names each parameter once", ErrMalformed, k, len(vs))
		}
		for _, v := range vs {
			pairs = append(pairs, pair{encode(k), encode(v)})
		}
	}
	sort.Slice(pairs, func(i, j int) bool {
		if pairs[i].k != pairs[j].k {
			return pairs[i].k < pairs[j].k
		}
		return pairs[i].v < pairs[j].v
	})
	var b strings.Builder
	for i, p := range pairs {
		if i > 0 {
			b.WriteByte('&')
		}
		b.WriteString(p.k + "=" + p.v)
	}
	return b.String(), nil
}

func encode(s string) string {
	const hexDigits = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~' {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hexDigits[c>>4])
		b.WriteByte(hexDigits[c&15])
	}
	return b.String()
}

// Signed is a request's signature as its headers carry it, with the
// canonical request it must cover.
type Signed struct {
	Client    string
	Time      time.Time
	Nonce     string
	Signature []byte
	Canonical string
}

// Present reports whether h carries a signed request's client header: such
// a request is authenticated by its signature, not by a session.
func Present(h http.Header) bool { return h.Get(HeaderClient) != "" }

// Parse reads the signature headers of req, whose body is body, and builds
// the canonical request. It checks their form only: Fresh and Verify decide.
func Parse(req *http.Request, body []byte) (*Signed, error) {
	h := req.Header
	client, ts, nonce, sig := h.Get(HeaderClient), h.Get(HeaderTimestamp), h.Get(HeaderNonce), h.Get(HeaderSignature)
	switch {
	case client == "" || len(client) > 64:
		return nil, fmt.Errorf("%w: %s names the client (at most 64 characters)", ErrMalformed, HeaderClient)
	case len(h.Values(HeaderClient)) > 1 || len(h.Values(HeaderTimestamp)) > 1 || len(h.Values(HeaderNonce)) > 1 || len(h.Values(HeaderSignature)) > 1:
		return nil, fmt.Errorf("%w: each signature header is sent once", ErrMalformed)
	case !validNonce(nonce):
		return nil, fmt.Errorf("%w: %s is %d-%d characters of A-Z a-z 0-9 - _", ErrMalformed, HeaderNonce, MinNonce, MaxNonce)
	}
	secs, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || secs <= 0 || strconv.FormatInt(secs, 10) != ts {
		return nil, fmt.Errorf("%w: %s is the time in Unix seconds (date +%%s)", ErrMalformed, HeaderTimestamp)
	}
	der, err := base64.StdEncoding.DecodeString(sig)
	if err != nil || len(der) == 0 || len(der) > 80 {
		return nil, fmt.Errorf("%w: %s is the base64 of a DER SM2 signature", ErrMalformed, HeaderSignature)
	}
	// The path as it came over the wire: a router that decodes it must not
	// let two spellings of one path share a signature.
	path := req.URL.EscapedPath()
	if raw, _, _ := strings.Cut(req.RequestURI, "?"); raw != "" {
		path = raw
	}
	canon, err := Canonical(req.Method, path, req.URL.RawQuery, body, ts, nonce)
	if err != nil {
		return nil, err
	}
	return &Signed{Client: client, Time: time.Unix(secs, 0), Nonce: nonce, Signature: der, Canonical: canon}, nil
}

func validNonce(n string) bool {
	if len(n) < MinNonce || len(n) > MaxNonce {
		return false
	}
	for i := 0; i < len(n); i++ {
		c := n[i]
		if !('A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// Fresh refuses a timestamp more than Window from now.
func (s *Signed) Fresh(now time.Time) error {
	if d := now.Sub(s.Time); d > Window || d < -Window {
		return fmt.Errorf("%w (it is %s off)", ErrExpired, d.Round(time.Second))
	}
	return nil
}

// Verify checks the signature with the client's public key.
func (s *Signed) Verify(pub *sm.PublicKey) error {
	if !pub.Verify([]byte(s.Canonical), s.Signature) {
		return ErrSignature
	}
	return nil
}

// Sign sets the signature headers of req, whose body is body, as client
// with key at now, with a fresh nonce.
func Sign(req *http.Request, body []byte, client string, key *sm.PrivateKey, now time.Time) error {
	var n [16]byte
	if _, err := rand.Read(n[:]); err != nil {
		return err
	}
	nonce := hex.EncodeToString(n[:])
	ts := strconv.FormatInt(now.Unix(), 10)
	canon, err := Canonical(req.Method, req.URL.EscapedPath(), req.URL.RawQuery, body, ts, nonce)
	if err != nil {
		return err
	}
	sig, err := key.Sign([]byte(canon))
	if err != nil {
		return err
	}
	req.Header.Set(HeaderClient, client)
	req.Header.Set(HeaderTimestamp, ts)
	req.Header.Set(HeaderNonce, nonce)
	req.Header.Set(HeaderSignature, base64.StdEncoding.EncodeToString(sig))
	return nil
}
