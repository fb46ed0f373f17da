package pull_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"cxt/crypto/sm"
	"cxt/crypto/sm/reqsig"
	"cxt/gateway/feed"
	"cxt/gateway/pull"
	"cxt/storage/state"
	"cxt/storage/state/statetest"
)

// A stand-in gateway for the client's own logic: it serves the feed of a
// state machine as the real listener does (feed.Read, feed.Sign), checks
// each request's signature, and can be told to lie. The real listener's
// tests pull through this client too.
type gateway struct {
	t      *testing.T
	m      *statetest.Machine
	key    *sm.PrivateKey
	client *sm.PrivateKey
	alter  atomic.Pointer[func(*feed.Page)]
	// busy answers this many feed requests 429 before serving again.
	busy atomic.Int32
	// scope, when set, is served whatever office the client asks for.
	scope atomic.Pointer[string]
	// short, when set, caps the entries of a page below the limit asked
	// (as the gateway's byte limit does).
	short atomic.Int32
}

func newGateway(t *testing.T) (*gateway, *httptest.Server) {
	g := &gateway{t: t}
	g.key, _ = sm.GenerateKey()
	g.client, _ = sm.GenerateKey()
	g.m = statetest.New(t, func(reg *state.Registry) {
		feed.Register(reg)
		reg.HandleFrom(state.GatewaySet, "test.facts", func(tx *state.Tx, cmd *state.Command) ([]byte, error) {
			n, _ := strconv.Atoi(string(cmd.Body))
			for i := range n {
				if _, err := feed.Append(tx, feed.Fact{Type: "test.fact", Version: 1, Office: "11101050000", Payload: map[string]int{"i": i}}); err != nil {
					return nil, err
				}
			}
			return nil, nil
		})
	})
	srv := httptest.NewTLSServer(g)
	t.Cleanup(srv.Close)
	return g, srv
}

func (g *gateway) add(n int) {
	g.t.Helper()
	if res := g.m.Apply(state.NewCommand("test.facts", []byte(strconv.Itoa(n)), time.Now())); res.Err != nil {
		g.t.Fatal(res.Err)
	}
}

func (g *gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	signed, err := reqsig.Parse(r, nil)
	if err != nil || signed.Client != "bureau-1" || signed.Verify(g.client.Public()) != nil {
		http.Error(w, `{"error":{"code":"signature_invalid","message":"bad signature"}}`, http.StatusUnauthorized)
		return
	}
	if r.URL.Path == pull.KeyPath {
		pem, _ := g.key.Public().MarshalPEM()
		w.Write(pem)
		return
	}
	if g.busy.Add(-1) >= 0 {
		w.Header().Set("Retry-After", "1")
		http.Error(w, `{"error":{"code":"rate_limited","message":"wait"}}`, http.StatusTooManyRequests)
		return
	}
	after, _ := strconv.ParseUint(r.URL.Query().Get("after"), 10, 64)
	limit, _ := strconv.Atoi(r.URL.Query().Get("limit"))
	if n := int(g.short.Load()); n > 0 {
		limit = min(limit, n)
	}
	scope := r.URL.Query().Get("office")
	if s := g.scope.Load(); s != nil {
		scope = *s
	}
	var page *feed.Page
	err = g.m.State.View(func(rt *state.ReadTx) error {
		h, entries, err := feed.Read(rt, scope, after, limit, nil)
		if err != nil {
			return err
		}
		page, err = feed.Sign(h, entries, time.Now(), g.key.Sign)
		return err
	})
	if err != nil {
		http.Error(w, `{"error":{"code":"feed_after_beyond_end","message":"beyond"}}`, http.StatusBadRequest)
		return
	}
	if f := g.alter.Load(); f != nil {
		(*f)(page)
	}
	w.Write(page.AppendJSON(nil))
}

func options(g *gateway, srv *httptest.Server, dir string) pull.Options {
	return pull.Options{URL: srv.URL, Client: "bureau-1", Key: g.client, HTTP: srv.Client(), Dir: dir, Limit: 4}
}

func TestAPullVerifiesKeepsEveryPageAndResumesWithoutGapOrDuplicate(t *testing.T) {
	g, srv := newGateway(t)
	g.add(10)
	dir := t.TempDir()
	var progress strings.Builder
	o := options(g, srv, dir)
	o.Progress = &progress
	rep, err := pull.Pull(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Entries != 10 || rep.Pages != 3 || rep.Last != 10 || !strings.Contains(progress.String(), "page 3: entries 9–10 of 10 verified") {
		t.Fatalf("first pull: %+v\n%s", rep, progress.String())
	}
	g.add(3)
	rep, err = pull.Pull(context.Background(), options(g, srv, dir))
	if err != nil || rep.Entries != 3 || rep.Last != 13 {
		t.Fatalf("the resumed pull: %+v %v", rep, err)
	}
	// Nothing new: a pull that keeps nothing and changes nothing.
	if rep, err = pull.Pull(context.Background(), options(g, srv, dir)); err != nil || rep.Entries != 0 {
		t.Fatalf("an idle pull: %+v %v", rep, err)
	}
	v, err := pull.Verify(dir)
	if err != nil || v.Pages != 4 || v.Entries != 13 || v.Last != 13 || v.From != 0 {
		t.Fatalf("verify: %+v %v", v, err)
	}
	seqs := map[uint64]bool{}
	for n := 1; n <= 4; n++ {
		var p feed.Page
		b, _ := os.ReadFile(filepath.Join(dir, fmt.Sprintf("page-%d.json", n)))
		json.Unmarshal(b, &p)
		for _, e := range p.Entries {
			if seqs[e.Seq] {
				t.Fatalf("entry %d kept twice", e.Seq)
			}
			seqs[e.Seq] = true
		}
	}
	if len(seqs) != 13 {
		t.Fatalf("%d entries kept", len(seqs))
	}
	// A resume that would leave a gap is refused.
	after := uint64(20)
	o = options(g, srv, dir)
	o.After = &after
	if _, err := pull.Pull(context.Background(), o); err == nil || !strings.Contains(err.Error(), "would leave a gap") {
		t.Fatalf("--after past the cursor: %v", err)
	}
}

// OpenSSL alone verifies each kept head with the kept key, as docs/gateway.md
// shows a bureau.
func TestOpenSSLVerifiesEveryKeptHead(t *testing.T) {
	g, srv := newGateway(t)
	g.add(6)
	dir := t.TempDir()
	if _, err := pull.Pull(context.Background(), options(g, srv, dir)); err != nil {
		t.Fatal(err)
	}
	path, err := exec.LookPath("openssl")
	if err != nil {
		t.Fatal("openssl 3 is required for the interop tests (apt-get install openssl)")
	}
	for n := 1; n <= 2; n++ {
		base := filepath.Join(dir, fmt.Sprintf("page-%d", n))
		out, err := exec.Command(path, "dgst", "-sm3", "-sigopt", "distid:1234567812345678", "-verify", filepath.Join(dir, pull.PlatformKey),
			"-signature", base+".sig", base+".head").CombinedOutput()
		if err != nil || !strings.Contains(string(out), "Verified OK") {
			t.Fatalf("openssl on page %d: %v\n%s", n, err, out)
		}
	}
	// and refuses a head that was altered.
	head, _ := os.ReadFile(filepath.Join(dir, "page-1.head"))
	os.WriteFile(filepath.Join(dir, "page-1.head"), []byte(strings.Replace(string(head), `"last_seq":4`, `"last_seq":3`, 1)), 0o640)
	if out, err := exec.Command(path, "dgst", "-sm3", "-sigopt", "distid:1234567812345678", "-verify", filepath.Join(dir, pull.PlatformKey),
		"-signature", filepath.Join(dir, "page-1.sig"), filepath.Join(dir, "page-1.head")).CombinedOutput(); err == nil {
		t.Fatalf("openssl verified an altered head:\n%s", out)
	}
}

func TestAPageThatDoesNotVerifyIsNotKeptAndThePullStops(t *testing.T) {
	g, srv := newGateway(t)
	g.add(8)
	dir := t.TempDir()
	drop := func(p *feed.Page) {
		if len(p.Entries) > 2 && p.Entries[0].Seq == 5 {
			p.Entries = append(p.Entries[:1], p.Entries[2:]...)
		}
	}
	g.alter.Store(&drop)
	_, err := pull.Pull(context.Background(), options(g, srv, dir))
	var ve *feed.VerifyError
	if err == nil || !strings.Contains(err.Error(), "page-2.rejected.json") || !asVerify(err, &ve) || ve.Code != feed.BadHead {
		t.Fatalf("a page with a dropped entry: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "page-2.json")); !os.IsNotExist(err) {
		t.Fatalf("the bad page was kept: %v", err)
	}
	// The gateway mends its ways: the pull resumes after page 1.
	g.alter.Store(nil)
	if rep, err := pull.Pull(context.Background(), options(g, srv, dir)); err != nil || rep.Entries != 4 || rep.Last != 8 {
		t.Fatalf("the resumed pull: %+v %v", rep, err)
	}
	if _, err := pull.Verify(dir); err != nil {
		t.Fatal(err)
	}
}

func asVerify(err error, ve **feed.VerifyError) bool {
	for err != nil {
		if v, ok := err.(*feed.VerifyError); ok {
			*ve = v
			return true
		}
		u, ok := err.(interface{ Unwrap() error })
		if !ok {
			return false
		}
		err = u.Unwrap()
	}
	return false
}

// Verify finds what was altered on disk after the pull, naming the page
// and the entry.
func TestVerifyNamesTheFirstBadPageOrEntry(t *testing.T) {
	g, srv := newGateway(t)
	g.add(12)
	fresh := func() string {
		dir := t.TempDir()
		if _, err := pull.Pull(context.Background(), options(g, srv, dir)); err != nil {
			t.Fatal(err)
		}
		return dir
	}
	edit := func(dir, file string, fn func(string) string) {
		b, _ := os.ReadFile(filepath.Join(dir, file))
		os.WriteFile(filepath.Join(dir, file), []byte(fn(string(b))), 0o640)
	}
	for _, c := range []struct {
		name, want string
		alter      func(dir string)
	}{
		{"a payload edited", "page-2.json: entry_tampered: entry 6", func(dir string) {
			edit(dir, "page-2.json", func(s string) string { return strings.Replace(s, `{\"i\":5}`, `{\"i\":7}`, 1) })
		}},
		{"a page deleted", "page-2.json is missing", func(dir string) { os.Remove(filepath.Join(dir, "page-2.json")) }},
		{"the last page deleted and the one before replaced by the last", "page-2.json: feed_gap", func(dir string) {
			for _, ext := range []string{".json", ".head", ".sig"} {
				b, _ := os.ReadFile(filepath.Join(dir, "page-3"+ext))
				os.WriteFile(filepath.Join(dir, "page-2"+ext), b, 0o640)
				os.Remove(filepath.Join(dir, "page-3"+ext))
			}
		}},
		{"a head file swapped", "page-1.json: its .head or .sig is not the page's own", func(dir string) {
			b, _ := os.ReadFile(filepath.Join(dir, "page-2.head"))
			os.WriteFile(filepath.Join(dir, "page-1.head"), b, 0o640)
		}},
		{"the last page deleted", "verify: incomplete: page-2.json's signed head says the chain reached 12", func(dir string) {
			for _, ext := range []string{".json", ".head", ".sig"} {
				os.Remove(filepath.Join(dir, "page-3"+ext))
			}
		}},
		{"pull.json moved on", "pull.json stands at 500", func(dir string) {
			edit(dir, pull.StateFile, func(s string) string { return strings.Replace(s, `"seq": 12`, `"seq": 500`, 1) })
		}},
		{"a key given twice", "page-1.json: page_not_canonical", func(dir string) {
			edit(dir, "page-1.json", func(s string) string {
				return strings.Replace(s, `"payload":`, `"payload":"{\"forged\":1}","payload":`, 1)
			})
		}},
		{"another platform key", "page-1.json: head_signature_invalid", func(dir string) {
			k, _ := sm.GenerateKey()
			pem, _ := k.Public().MarshalPEM()
			os.WriteFile(filepath.Join(dir, pull.PlatformKey), pem, 0o640)
		}},
	} {
		dir := fresh()
		c.alter(dir)
		if _, err := pull.Verify(dir); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", c.name, err, c.want)
		}
	}
}

// The script docs/gateway.md gives bureaus agrees with Verify: a whole
// folder passes, an altered entry is named.
func TestTheDocumentedPythonVerifierAgrees(t *testing.T) {
	g, srv := newGateway(t)
	g.add(9)
	dir := t.TempDir()
	if _, err := pull.Pull(context.Background(), options(g, srv, dir)); err != nil {
		t.Fatal(err)
	}
	python, err := exec.LookPath("python3")
	if err != nil {
		t.Fatal("python3 is required to test docs/gateway-verify.py (make deps installs it)")
	}
	script := filepath.Join("..", "..", "docs", "gateway-verify.py")
	if out, err := exec.Command(python, script, dir).CombinedOutput(); err != nil || strings.TrimSpace(string(out)) != "whole" {
		t.Fatalf("a whole folder: %v\n%s", err, out)
	}
	copyDir := func() string {
		to := t.TempDir()
		files, _ := os.ReadDir(dir)
		for _, f := range files {
			b, _ := os.ReadFile(filepath.Join(dir, f.Name()))
			os.WriteFile(filepath.Join(to, f.Name()), b, 0o640)
		}
		return to
	}
	for _, c := range []struct {
		name, want string
		alter      func(d string)
	}{
		{"an altered entry", "page-2.json: entry 6: its hash or chain does not hold", func(d string) {
			b, _ := os.ReadFile(filepath.Join(d, "page-2.json"))
			os.WriteFile(filepath.Join(d, "page-2.json"), []byte(strings.Replace(string(b), `{\"i\":5}`, `{\"i\":6}`, 1)), 0o640)
		}},
		{"a middle page removed", "without a gap", func(d string) { os.Remove(filepath.Join(d, "page-2.json")) }},
		{"the last page removed", "incomplete: the last head says the chain reached 9; the folder ends at 8", func(d string) {
			os.Remove(filepath.Join(d, "page-3.json"))
		}},
		{"a key given twice", "page-1.json: a key is given twice", func(d string) {
			b, _ := os.ReadFile(filepath.Join(d, "page-1.json"))
			os.WriteFile(filepath.Join(d, "page-1.json"), []byte(strings.Replace(string(b), `"payload":`, `"payload":"{}","payload":`, 1)), 0o640)
		}},
	} {
		d := copyDir()
		c.alter(d)
		out, err := exec.Command(python, script, d).CombinedOutput()
		if err == nil || !strings.Contains(string(out), c.want) {
			t.Errorf("%s: %v\n%s", c.name, err, out)
		}
	}
}

// A refusal reaches the bureau with the gateway's code and message.
func TestARefusalIsReportedWithItsCode(t *testing.T) {
	g, srv := newGateway(t)
	o := options(g, srv, t.TempDir())
	o.Key, _ = sm.GenerateKey()
	_, err := pull.Pull(context.Background(), o)
	var he *pull.HTTPError
	if !errors.As(err, &he) || he.Status != http.StatusUnauthorized || he.Code != "signature_invalid" || he.Message != "bad signature" {
		t.Fatalf("a pull with another key: %v", err)
	}
}

// A crash may lose the last page's head and signature files (only the page
// itself is synced before pull.json counts it): the next pull writes them
// again from the page.
func TestAResumeRewritesTheLastPagesHeadAndSignature(t *testing.T) {
	g, srv := newGateway(t)
	g.add(6)
	dir := t.TempDir()
	if _, err := pull.Pull(context.Background(), options(g, srv, dir)); err != nil {
		t.Fatal(err)
	}
	os.Remove(filepath.Join(dir, "page-2.head"))
	os.Remove(filepath.Join(dir, "page-2.sig"))
	if _, err := pull.Verify(dir); err == nil {
		t.Fatal("a folder without page-2.head verified")
	}
	if _, err := pull.Pull(context.Background(), options(g, srv, dir)); err != nil {
		t.Fatal(err)
	}
	if v, err := pull.Verify(dir); err != nil || v.Last != 6 {
		t.Fatalf("after the resume: %+v %v", v, err)
	}
}

// A refusal for the client's rate is waited out, as the gateway's
// Retry-After says, and the pull goes on.
func TestARateRefusalIsWaitedOut(t *testing.T) {
	g, srv := newGateway(t)
	g.add(5)
	g.busy.Store(2)
	start := time.Now()
	rep, err := pull.Pull(context.Background(), options(g, srv, t.TempDir()))
	if err != nil || rep.Last != 5 {
		t.Fatalf("a pull told twice to wait: %+v %v", rep, err)
	}
	if waited := time.Since(start); waited < 2*time.Second {
		t.Fatalf("the pull waited %s, the gateway asked for 2 s", waited)
	}
}

// A pull of one office refuses a page of another scope, signed or not: a
// bureau that asked for office X and got the platform's chain, or Y's,
// does not hold X.
func TestAPullOfAnOfficeRefusesAnotherScope(t *testing.T) {
	g, srv := newGateway(t)
	g.add(3)
	whole := ""
	g.scope.Store(&whole)
	o := options(g, srv, t.TempDir())
	o.Office = "13101050000"
	var ve *feed.VerifyError
	if _, err := pull.Pull(context.Background(), o); !asVerify(err, &ve) || ve.Code != feed.BadHead || !strings.Contains(err.Error(), "asked for office 13101050000") {
		t.Fatalf("the whole feed served for an office: %v", err)
	}
	other := "11101050000"
	g.scope.Store(&other)
	if _, err := pull.Pull(context.Background(), o); !asVerify(err, &ve) || ve.Code != feed.BadHead {
		t.Fatalf("another office's chain served: %v", err)
	}
	o.Office = "11101050000"
	if rep, err := pull.Pull(context.Background(), o); err != nil || rep.Scope != "11101050000" || rep.Last != 3 {
		t.Fatalf("the office asked for: %+v %v", rep, err)
	}
}

// A page whose bytes say more than what the verifier checked — a key given
// twice, which parsers resolve differently — is not kept.
func TestAPageWithAKeyGivenTwiceIsRefused(t *testing.T) {
	g, srv := newGateway(t)
	g.add(3)
	dir := t.TempDir()
	o := options(g, srv, dir)
	o.HTTP = &http.Client{Transport: rewrite{srv.Client().Transport, func(b []byte) []byte {
		return []byte(strings.Replace(string(b), `"payload":`, `"payload":"{\"forged\":1}","payload":`, 1))
	}}}
	var ve *feed.VerifyError
	if _, err := pull.Pull(context.Background(), o); !asVerify(err, &ve) || ve.Code != feed.NotCanonical {
		t.Fatalf("a page with a payload given twice: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "page-1.json")); !os.IsNotExist(err) {
		t.Fatalf("the page was kept: %v", err)
	}
}

// rewrite changes the feed's answers on their way to the client.
type rewrite struct {
	next http.RoundTripper
	fn   func([]byte) []byte
}

func (rw rewrite) RoundTrip(req *http.Request) (*http.Response, error) {
	res, err := rw.next.RoundTrip(req)
	if err != nil || req.URL.Path != pull.FeedPath {
		return res, err
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	b = rw.fn(b)
	res.Body, res.ContentLength = io.NopCloser(bytes.NewReader(b)), int64(len(b))
	return res, nil
}

// The client asks for pages ahead, each where the one before would end
// were it full; pages that end short make it ask again from where they
// really end — the folder holds every entry once, in order.
func TestPagesShorterThanAskedAreFollowedFromWhereTheyEnd(t *testing.T) {
	g, srv := newGateway(t)
	g.add(23)
	g.short.Store(3)
	dir := t.TempDir()
	rep, err := pull.Pull(context.Background(), options(g, srv, dir)) // limit 4
	if err != nil || rep.Last != 23 || rep.Entries != 23 || rep.Pages != 8 {
		t.Fatalf("a pull of short pages: %+v %v", rep, err)
	}
	if v, err := pull.Verify(dir); err != nil || v.Entries != 23 {
		t.Fatalf("the folder: %+v %v", v, err)
	}
}
