package reqsig

import (
	"encoding/base64"
	"errors"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"cxt/crypto/sm"
)

func signed(t *testing.T, method, target, body string, key *sm.PrivateKey, now time.Time) *http.Request {
	t.Helper()
	req, err := http.NewRequest(method, "https://cxt.example"+target, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if err := Sign(req, []byte(body), "cl_1", key, now); err != nil {
		t.Fatal(err)
	}
	return req
}

// verify parses req as a server receives it and checks it at now.
func verify(req *http.Request, body string, pub *sm.PublicKey, now time.Time) error {
	s, err := Parse(req, []byte(body))
	if err != nil {
		return err
	}
	if err := s.Fresh(now); err != nil {
		return err
	}
	return s.Verify(pub)
}

func TestASignedRequestVerifiesAndAnyChangeBreaksIt(t *testing.T) {
	key, _ := sm.GenerateKey()
	other, _ := sm.GenerateKey()
	now := time.Unix(1_780_000_000, 0)
	const target, body = "/api/v1/merchants/m_1/workers?limit=2&after=w%201", `{"a":1}`
	if err := verify(signed(t, "POST", target, body, key, now), body, key.Public(), now); err != nil {
		t.Fatalf("a signed request: %v", err)
	}
	for name, change := range map[string]func(r *http.Request) string{
		"the body":   func(r *http.Request) string { return `{"a":2}` },
		"the method": func(r *http.Request) string { r.Method = "PUT"; return body },
		"the path":   func(r *http.Request) string { r.URL.Path = "/api/v1/merchants/m_2/workers"; return body },
		"the query":  func(r *http.Request) string { r.URL.RawQuery = "limit=3&after=w%201"; return body },
		"the nonce":  func(r *http.Request) string { r.Header.Set(HeaderNonce, strings.Repeat("b", 32)); return body },
		"the timestamp": func(r *http.Request) string {
			r.Header.Set(HeaderTimestamp, strconv.FormatInt(now.Unix()+1, 10))
			return body
		},
	} {
		req := signed(t, "POST", target, body, key, now)
		b := change(req)
		if err := verify(req, b, key.Public(), now); !errors.Is(err, ErrSignature) {
			t.Errorf("after changing %s: %v, want ErrSignature", name, err)
		}
	}
	if err := verify(signed(t, "POST", target, body, key, now), body, other.Public(), now); !errors.Is(err, ErrSignature) {
		t.Errorf("another client's key verified the signature: %v", err)
	}
}

func TestTheQueryIsCanonicalWhateverItsOrderAndEncoding(t *testing.T) {
	for _, c := range []struct{ a, b string }{
		{"b=2&a=1", "a=1&b=2"},
		{"a=x%20y", "a=x+y"},
		{"k=%E5%95%86", "k=商"},
		{"n=a%2Fb", "n=a/b"},
	} {
		qa, err := SortedQuery(c.a)
		qb, err2 := SortedQuery(c.b)
		if err != nil || err2 != nil || qa != qb {
			t.Errorf("%q → %q, %q → %q (%v %v)", c.a, qa, c.b, qb, err, err2)
		}
	}
	if q, _ := SortedQuery("status=paid&limit=10&note=a b~c"); q != "limit=10&note=a%20b~c&status=paid" {
		t.Errorf("canonical query %q", q)
	}
	if _, err := SortedQuery("a=%zz"); !errors.Is(err, ErrMalformed) {
		t.Errorf("a query that does not parse: %v", err)
	}
	// A name given twice would let the order of its values — which the
	// handler reads and the sorted form does not keep — change unsigned.
	if _, err := SortedQuery("limit=2&limit=1"); !errors.Is(err, ErrMalformed) {
		t.Errorf("a parameter twice: %v", err)
	}
	// One path, one spelling: a percent-escape is refused.
	if _, err := Canonical("GET", "/api/v1/payments/pb%2D1", "", nil, "1", "n"); !errors.Is(err, ErrMalformed) {
		t.Errorf("an escaped path: %v", err)
	}
}

func TestATimestampMoreThanFiveMinutesOffIsRefused(t *testing.T) {
	key, _ := sm.GenerateKey()
	now := time.Unix(1_780_000_000, 0)
	for off, want := range map[time.Duration]error{
		0: nil, 4 * time.Minute: nil, -4 * time.Minute: nil, 5 * time.Minute: nil,
		6 * time.Minute: ErrExpired, -6 * time.Minute: ErrExpired, 24 * time.Hour: ErrExpired,
	} {
		err := verify(signed(t, "GET", "/x", "", key, now.Add(off)), "", key.Public(), now)
		if !errors.Is(err, want) && !(want == nil && err == nil) {
			t.Errorf("signed %s off: %v, want %v", off, err, want)
		}
	}
}

func TestMalformedHeadersAreRefusedBeforeAnyKeyIsUsed(t *testing.T) {
	key, _ := sm.GenerateKey()
	now := time.Now()
	for name, change := range map[string]func(h http.Header){
		"no client":          func(h http.Header) { h.Del(HeaderClient) },
		"a short nonce":      func(h http.Header) { h.Set(HeaderNonce, "abc") },
		"a nonce with space": func(h http.Header) { h.Set(HeaderNonce, "abcdefgh ijklmnopq") },
		"an RFC 3339 time":   func(h http.Header) { h.Set(HeaderTimestamp, now.Format(time.RFC3339)) },
		"a padded time":      func(h http.Header) { h.Set(HeaderTimestamp, "0"+h.Get(HeaderTimestamp)) },
		"a hex signature":    func(h http.Header) { h.Set(HeaderSignature, "zz") },
		"two nonces":         func(h http.Header) { h.Add(HeaderNonce, strings.Repeat("c", 20)) },
	} {
		req := signed(t, "GET", "/x", "", key, now)
		change(req.Header)
		if _, err := Parse(req, nil); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: %v, want ErrMalformed", name, err)
		}
	}
}

func openssl(t *testing.T, dir string, args ...string) string {
	t.Helper()
	path, err := exec.LookPath("openssl")
	if err != nil {
		t.Fatal("openssl 3 is required for the interop tests (apt-get install openssl)")
	}
	cmd := exec.Command(path, args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("openssl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// A client with nothing but OpenSSL 3 signs what the appliance verifies,
// and the appliance's signature verifies in OpenSSL; the default ID must be
// named with -sigopt, since OpenSSL 3.0 signs over an empty one otherwise.
func TestOpenSSLSignsRequestsTheApplianceVerifies(t *testing.T) {
	dir := t.TempDir()
	openssl(t, dir, "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:SM2", "-out", "key.pem")
	openssl(t, dir, "pkey", "-in", "key.pem", "-pubout", "-out", "pub.pem")
	raw, _ := os.ReadFile(filepath.Join(dir, "pub.pem"))
	pub, err := sm.ParsePublicKeyPEM(raw)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	body := `{"rows":1}`
	req, _ := http.NewRequest("POST", "https://cxt.example/api/v1/merchants/m_1/workers?b=2&a=1", strings.NewReader(body))
	ts, nonce := strconv.FormatInt(now.Unix(), 10), "0123456789abcdef0123"
	canon, err := Canonical("POST", "/api/v1/merchants/m_1/workers", "a=1&b=2", []byte(body), ts, nonce)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "canonical"), []byte(canon), 0o600)
	sign := func(args ...string) string {
		args = append([]string{"dgst", "-sm3"}, args...)
		openssl(t, dir, append(args, "-sign", "key.pem", "-out", "sig.der", "canonical")...)
		der, _ := os.ReadFile(filepath.Join(dir, "sig.der"))
		return base64.StdEncoding.EncodeToString(der)
	}
	req.Header.Set(HeaderClient, "cl_1")
	req.Header.Set(HeaderTimestamp, ts)
	req.Header.Set(HeaderNonce, nonce)
	req.Header.Set(HeaderSignature, sign("-sigopt", sm.DistID))
	if err := verify(req, body, pub, now); err != nil {
		t.Fatalf("OpenSSL's signature with the default ID: %v", err)
	}
	req.Header.Set(HeaderSignature, sign())
	if err := verify(req, body, pub, now); !errors.Is(err, ErrSignature) {
		t.Fatalf("OpenSSL's signature over an empty ID verified: %v", err)
	}

	// The other way: what Sign puts on a request verifies in OpenSSL.
	priv, _ := sm.GenerateKey()
	pemPub, _ := priv.Public().MarshalPEM()
	os.WriteFile(filepath.Join(dir, "ours.pem"), pemPub, 0o600)
	out := signed(t, "GET", "/api/v1/callbacks/key", "", priv, now)
	s, err := Parse(out, nil)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "canonical2"), []byte(s.Canonical), 0o600)
	os.WriteFile(filepath.Join(dir, "sig2.der"), s.Signature, 0o600)
	if got := openssl(t, dir, "dgst", "-sm3", "-sigopt", sm.DistID, "-verify", "ours.pem", "-signature", "sig2.der", "canonical2"); !strings.Contains(got, "Verified OK") {
		t.Fatalf("openssl: %s", got)
	}
}

func FuzzParse(f *testing.F) {
	f.Add("GET", "/x", "a=1", "cl_1", "1780000000", "0123456789abcdef", "MEUCIQ==", "")
	f.Fuzz(func(t *testing.T, method, path, query, client, ts, nonce, sig, body string) {
		req, err := http.NewRequest("GET", "https://cxt.example/", nil)
		if err != nil {
			return
		}
		req.Method, req.URL.Path, req.URL.RawQuery = method, path, query
		req.Header.Set(HeaderClient, client)
		req.Header.Set(HeaderTimestamp, ts)
		req.Header.Set(HeaderNonce, nonce)
		req.Header.Set(HeaderSignature, sig)
		s, err := Parse(req, []byte(body))
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("a refusal that is not ErrMalformed: %v", err)
			}
			return
		}
		if strings.Count(s.Canonical, "\n") < 5 || !validNonce(s.Nonce) {
			t.Fatalf("parsed into %+v", s)
		}
	})
}
