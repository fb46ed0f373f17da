// Package pull is the reference client of the tax bureaus' feed: it pulls
// pages over the gateway listener with signed requests, verifies every page
// against the platform's gateway key and the chain it holds before it keeps
// it, writes each as page-N.json with its signed head (page-N.head) and
// DER signature (page-N.sig) so OpenSSL alone re-checks the heads, and
// resumes where it stopped. Verify re-checks a pulled folder offline.
package pull

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	gojson "github.com/goccy/go-json"

	"cxt/crypto/sm"
	"cxt/crypto/sm/reqsig"
	"cxt/gateway/feed"
)

// Files in a pull folder.
const (
	StateFile   = "pull.json"        // where the pull stands
	PlatformKey = "platform-sm2.pem" // the platform's gateway key, as first fetched
)

// Paths of the gateway the client calls.
const (
	FeedPath = "/gateway/v1/feed"
	KeyPath  = "/gateway/v1/key"
)

// State is pull.json: the scope pulled, the cursor after the last page
// kept, and the number the next page file takes.
type State struct {
	URL      string      `json:"url"`
	Client   string      `json:"client"`
	Office   string      `json:"office,omitempty"`
	Cursor   feed.Cursor `json:"cursor"`
	NextPage int         `json:"next_page"`
	// From is the number the folder's first page starts after: 0 for a
	// pull from the beginning of the chain.
	From    uint64    `json:"from"`
	Updated time.Time `json:"updated"`
}

// Options configure a pull.
type Options struct {
	URL    string // the gateway's base URL, https://host:port
	Client string // the bureau client's ID
	Key    *sm.PrivateKey
	HTTP   *http.Client
	Dir    string
	// After, when set, starts a new folder after that number; a folder
	// with a pull.json resumes from it and refuses a different After.
	After  *uint64
	Office string // the office chain to pull; "" for the client's default
	Limit  int    // entries per page; 0 for the gateway's default
	// Progress, when set, gets a line per page.
	Progress io.Writer
	Now      func() time.Time
}

// Report is what a pull or a verification found.
type Report struct {
	Scope   string `json:"scope"`
	From    uint64 `json:"from"` // the folder starts after this number
	Last    uint64 `json:"last"` // the last number held
	End     uint64 `json:"end"`  // the chain's end when last served
	Pages   int    `json:"pages"`
	Entries int    `json:"entries"`
	Chain   string `json:"chain"`
}

// Pull fetches pages until the client holds the whole chain as served.
func Pull(ctx context.Context, o Options) (*Report, error) {
	if o.Now == nil {
		o.Now = time.Now
	}
	if err := os.MkdirAll(o.Dir, 0o750); err != nil {
		return nil, err
	}
	st, err := loadState(o.Dir)
	switch {
	case errors.Is(err, os.ErrNotExist):
		st = &State{URL: o.URL, Client: o.Client, Office: o.Office, NextPage: 1}
		if o.After != nil {
			st.From = *o.After
		}
		st.Cursor = feed.Cursor{Seq: st.From}
	case err != nil:
		return nil, err
	case o.After != nil && *o.After != st.Cursor.Seq:
		return nil, fmt.Errorf("pull: %s holds a pull that stands at %d; --after %d would leave a gap or a duplicate: resume without --after, or pull into a new folder", o.Dir, st.Cursor.Seq, *o.After)
	case st.Office != o.Office:
		return nil, fmt.Errorf("pull: %s holds a pull of office %q, not %q", o.Dir, st.Office, o.Office)
	case st.NextPage > 1:
		if err := heads(o.Dir, st.NextPage-1); err != nil {
			return nil, err
		}
	}
	pub, err := platformKey(ctx, o)
	if err != nil {
		return nil, err
	}
	rep := &Report{From: st.From}
	// The next page is fetched while this one is verified: its number
	// comes from this page's head, and it is dropped unread if this page
	// does not verify.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	fetch := func(after uint64) inflight {
		ch := make(chan fetched, 1)
		go func() {
			p, raw, err := o.fetch(ctx, after)
			ch <- fetched{p, raw, err}
		}()
		return inflight{after, ch}
	}
	// Pages are written, in order, by a writer of their own while the
	// next is verified; pull.json moves past a page only once the page is
	// on disk. The writer is waited for before the pull returns.
	type written struct {
		n     int
		raw   []byte
		page  *feed.Page
		state State
	}
	toWrite, writeErr := make(chan written, 2), make(chan error, 1)
	go func() {
		defer close(writeErr)
		for w := range toWrite {
			if w.page != nil {
				if err := writePage(o.Dir, w.n, w.raw, w.page); err != nil {
					writeErr <- err
					return
				}
			}
			if err := saveState(o.Dir, &w.state); err != nil {
				writeErr <- err
				return
			}
		}
	}()
	done := func(err error) (*Report, error) {
		close(toWrite)
		if werr := <-writeErr; err == nil {
			err = werr
		}
		return rep, err
	}
	// Up to ahead pages are asked for at once, each after the last the
	// one before it would end at were it full (the page size is the
	// first page's, or the limit asked for); the gateway serves them side
	// by side. A page that ends elsewhere — short of the limit, or the
	// last — makes the pull ask again from where it really ended.
	const ahead = 3
	size := uint64(max(o.Limit, 0))
	queue := []inflight{fetch(st.Cursor.Seq)}
	var end uint64
	for {
		var f fetched
		select {
		case f = <-queue[0].ch:
		case err := <-writeErr:
			return rep, err
		}
		queue = queue[1:]
		if f.err != nil {
			return done(f.err)
		}
		page, raw := f.page, f.raw
		var claimed feed.Head
		if err := json.Unmarshal([]byte(page.Head), &claimed); err != nil {
			return done(fmt.Errorf("pull: the page after %d: its head: %w", st.Cursor.Seq, err))
		}
		if size == 0 {
			size = uint64(len(page.Entries))
		}
		end = max(end, claimed.End)
		if len(queue) > 0 && queue[0].after != claimed.Last {
			queue = nil // asked for from the wrong place: the answers are dropped
		}
		for next := claimed.Last; len(queue) < ahead && size > 0; {
			if len(queue) > 0 {
				next = queue[len(queue)-1].after + size
			}
			if next >= end || next < claimed.Last {
				break
			}
			queue = append(queue, fetch(next))
		}
		at := st.Cursor
		if at.Scope == "" { // the first page names the scope; mid-chain, its signed head gives the chain to start from
			if o.Office != "" && claimed.Scope != o.Office && (claimed.Scope != feed.ScopePlatform || claimed.Office != o.Office) {
				return done(&feed.VerifyError{Code: feed.BadHead, Msg: fmt.Sprintf("asked for office %s, the page is of scope %q (office %q)", o.Office, claimed.Scope, claimed.Office)})
			}
			at = feed.Start(claimed.Scope)
			if st.From > 0 {
				at.Seq, at.Chain = st.From, claimed.Prev
			}
		}
		// The page's bytes are checked for their canonical form while its
		// entries are.
		canon := make(chan error, 1)
		go func() { canon <- canonical(page, raw) }()
		next, h, err := feed.Verify(page, pub, at)
		if cerr := <-canon; err == nil {
			err = cerr
		}
		if err != nil {
			bad := filepath.Join(o.Dir, fmt.Sprintf("page-%d.rejected.json", st.NextPage))
			os.WriteFile(bad, raw, 0o640)
			return done(fmt.Errorf("pull: the page after %d does not verify (kept as %s): %w", at.Seq, bad, err))
		}
		w := written{n: st.NextPage, raw: raw}
		if len(page.Entries) > 0 {
			w.page = page
			st.NextPage++
		}
		st.Cursor, st.Updated = next, o.Now().UTC()
		w.state = *st
		select {
		case toWrite <- w:
		case err := <-writeErr: // the writer stopped
			return rep, err
		}
		rep.Scope, rep.Last, rep.End, rep.Chain = next.Scope, next.Seq, h.End, next.Chain
		rep.Pages, rep.Entries = rep.Pages+min(1, len(page.Entries)), rep.Entries+len(page.Entries)
		if o.Progress != nil && len(page.Entries) > 0 {
			fmt.Fprintf(o.Progress, "page %d: entries %d–%d of %d verified\n", st.NextPage-1, h.First, h.Last, h.End)
		}
		if next.Seq >= h.End || len(page.Entries) == 0 {
			return done(nil)
		}
	}
}

// inflight is a page asked for, after which number.
type inflight struct {
	after uint64
	ch    <-chan fetched
}

// fetched is a page as the fetcher got it.
type fetched struct {
	page *feed.Page
	raw  []byte
	err  error
}

// fetch gets the page after n, signed as the client.
func (o *Options) fetch(ctx context.Context, after uint64) (*feed.Page, []byte, error) {
	q := url.Values{"after": {strconv.FormatUint(after, 10)}}
	if o.Limit > 0 {
		q.Set("limit", strconv.Itoa(o.Limit))
	}
	if o.Office != "" {
		q.Set("office", o.Office)
	}
	raw, err := o.get(ctx, FeedPath+"?"+q.Encode())
	if err != nil {
		return nil, nil, err
	}
	var p feed.Page
	if err := gojson.Unmarshal(raw, &p); err != nil {
		return nil, raw, fmt.Errorf("pull: the page after %d is not JSON: %w", after, err)
	}
	return &p, raw, nil
}

// get fetches pathQuery, signed afresh for each try: a refusal for the
// client's rate (429) is waited out as the gateway's Retry-After says, up
// to a minute in all.
func (o *Options) get(ctx context.Context, pathQuery string) ([]byte, error) {
	deadline := time.Now().Add(time.Minute)
	for {
		body, wait, err := o.once(ctx, pathQuery)
		if wait == 0 || time.Now().Add(wait).After(deadline) {
			return body, err
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(wait):
		}
	}
}

// once is one try of get; wait is how long the gateway asked the client to
// wait before another (0: it did not).
func (o *Options) once(ctx context.Context, pathQuery string) (_ []byte, wait time.Duration, _ error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, o.URL+pathQuery, nil)
	if err != nil {
		return nil, 0, err
	}
	if err := reqsig.Sign(req, nil, o.Client, o.Key, o.Now()); err != nil {
		return nil, 0, err
	}
	res, err := o.HTTP.Do(req)
	if err != nil {
		return nil, 0, fmt.Errorf("pull: %w", err)
	}
	defer res.Body.Close()
	var buf bytes.Buffer
	if res.ContentLength > 0 && res.ContentLength < 1<<30 {
		buf.Grow(int(res.ContentLength) + bytes.MinRead) // ReadFrom wants room to see the end
	}
	if _, err := buf.ReadFrom(io.LimitReader(res.Body, 1<<30)); err != nil {
		return nil, 0, err
	}
	body := buf.Bytes()
	if res.StatusCode == http.StatusTooManyRequests {
		wait = time.Second
		if s, err := strconv.Atoi(res.Header.Get("Retry-After")); err == nil && s > 0 && s <= 60 {
			wait = time.Duration(s) * time.Second
		}
	}
	if res.StatusCode != http.StatusOK {
		var e struct {
			Error struct {
				Code    string `json:"code"`
				Message string `json:"message"`
			} `json:"error"`
		}
		if json.Unmarshal(body, &e) != nil || e.Error.Code == "" {
			e.Error.Message = strings.TrimSpace(string(body[:min(len(body), 300)]))
		}
		return nil, wait, &HTTPError{Status: res.StatusCode, Code: e.Error.Code, Message: e.Error.Message}
	}
	return body, 0, nil
}

// HTTPError is the gateway's refusal.
type HTTPError struct {
	Status        int
	Code, Message string
}

func (e *HTTPError) Error() string {
	return fmt.Sprintf("pull: the gateway answered %d %s: %s", e.Status, e.Code, e.Message)
}

// platformKey fetches the platform's gateway key; a folder keeps the first
// it saw and refuses another.
func platformKey(ctx context.Context, o Options) (*sm.PublicKey, error) {
	raw, err := o.get(ctx, KeyPath)
	if err != nil {
		return nil, err
	}
	pub, err := sm.ParsePublicKeyPEM(raw)
	if err != nil {
		return nil, fmt.Errorf("pull: the gateway's key: %w", err)
	}
	path := filepath.Join(o.Dir, PlatformKey)
	kept, err := os.ReadFile(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return pub, os.WriteFile(path, raw, 0o640)
	case err != nil:
		return nil, err
	}
	was, err := sm.ParsePublicKeyPEM(kept)
	if err != nil {
		return nil, fmt.Errorf("pull: %s: %w", path, err)
	}
	if !was.Equal(pub) {
		return nil, fmt.Errorf("pull: the gateway now signs with another key than %s holds: confirm the change with the platform, then pull into a new folder", path)
	}
	return was, nil
}

func writePage(dir string, n int, raw []byte, p *feed.Page) error {
	sig, err := base64.StdEncoding.DecodeString(p.Signature)
	if err != nil {
		return err
	}
	base := filepath.Join(dir, fmt.Sprintf("page-%d", n))
	// The page is made durable before pull.json counts it; its head and
	// signature, which are in it, are written from it again by a resume
	// that finds them missing (heads).
	if err := writeFile(base+".json", raw, true); err != nil {
		return err
	}
	if err := writeFile(base+".head", []byte(p.Head), false); err != nil {
		return err
	}
	return writeFile(base+".sig", sig, false)
}

// heads writes page n's .head and .sig again from its .json if a crash
// lost them.
func heads(dir string, n int) error {
	base := filepath.Join(dir, fmt.Sprintf("page-%d", n))
	if _, err := os.Stat(base + ".sig"); err == nil {
		if _, err := os.Stat(base + ".head"); err == nil {
			return nil
		}
	}
	raw, err := os.ReadFile(base + ".json")
	if err != nil {
		return fmt.Errorf("pull: %s counts page %d, which is missing: %w", StateFile, n, err)
	}
	var p feed.Page
	if err := json.Unmarshal(raw, &p); err != nil {
		return err
	}
	return writePage(dir, n, raw, &p)
}

// writeFile writes a file whole or not at all, and durably when sync.
func writeFile(path string, data []byte, sync bool) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o640)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if sync {
		if err := f.Sync(); err != nil {
			f.Close()
			return err
		}
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

func loadState(dir string) (*State, error) {
	b, err := os.ReadFile(filepath.Join(dir, StateFile))
	if err != nil {
		return nil, err
	}
	var st State
	if err := json.Unmarshal(b, &st); err != nil {
		return nil, fmt.Errorf("pull: %s: %w", StateFile, err)
	}
	return &st, nil
}

func saveState(dir string, st *State) error {
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	return writeFile(filepath.Join(dir, StateFile), append(b, '\n'), true)
}

// Verify re-checks a pulled folder offline: every page-N.json in order
// against platform-sm2.pem, each page's .head and .sig the page's own, each
// page continuing the chain of the one before. The first problem is
// returned naming its page and entry.
func Verify(dir string) (*Report, error) {
	kept, err := os.ReadFile(filepath.Join(dir, PlatformKey))
	if err != nil {
		return nil, fmt.Errorf("verify: %w", err)
	}
	pub, err := sm.ParsePublicKeyPEM(kept)
	if err != nil {
		return nil, fmt.Errorf("verify: %s: %w", PlatformKey, err)
	}
	rep := &Report{}
	pages, err := pageNumbers(dir)
	if err != nil {
		return rep, err
	}
	var at feed.Cursor
	for n := 1; n <= pages; n++ {
		base := filepath.Join(dir, fmt.Sprintf("page-%d", n))
		raw, err := os.ReadFile(base + ".json")
		if err != nil {
			return rep, err
		}
		name := filepath.Base(base + ".json")
		var p feed.Page
		if err := json.Unmarshal(raw, &p); err != nil {
			return rep, fmt.Errorf("verify: %s is not a page: %w", name, err)
		}
		if err := canonical(&p, raw); err != nil {
			return rep, fmt.Errorf("verify: %s: %w", name, err)
		}
		head, err1 := os.ReadFile(base + ".head")
		sig, err2 := os.ReadFile(base + ".sig")
		want, _ := base64.StdEncoding.DecodeString(p.Signature)
		if err := errors.Join(err1, err2); err != nil {
			return rep, fmt.Errorf("verify: %s: %w", name, err)
		}
		if !bytes.Equal(head, []byte(p.Head)) || !bytes.Equal(sig, want) {
			return rep, fmt.Errorf("verify: %s: its .head or .sig is not the page's own", name)
		}
		if n == 1 {
			var h feed.Head
			if err := json.Unmarshal(head, &h); err != nil {
				return rep, fmt.Errorf("verify: %s: the head: %w", name, err)
			}
			at = feed.Start(h.Scope)
			if h.First == 1 && h.Prev != at.Chain {
				return rep, fmt.Errorf("verify: %s starts the chain with %s, not the zero chain", name, h.Prev)
			}
			at.Seq, at.Chain = h.First-1, h.Prev
			rep.From, rep.Scope = at.Seq, h.Scope
		}
		next, h, err := feed.Verify(&p, pub, at)
		if err != nil {
			return rep, fmt.Errorf("verify: %s: %w", name, err)
		}
		at = next
		rep.Pages, rep.Entries, rep.Last, rep.End, rep.Chain = n, rep.Entries+len(p.Entries), next.Seq, h.End, next.Chain
	}
	if rep.Pages == 0 {
		return rep, fmt.Errorf("verify: %s holds no page-1.json", dir)
	}
	// The last head says how far the chain reached when it was served:
	// a folder that stops before that lost its last pages (or its pull
	// stopped: pull again).
	if rep.Last < rep.End {
		return rep, fmt.Errorf("verify: incomplete: page-%d.json's signed head says the chain reached %d when it was served; the folder ends at %d (pages were removed, or the pull stopped: run it again)", rep.Pages, rep.End, rep.Last)
	}
	if st, err := loadState(dir); err == nil && (st.Cursor.Seq != rep.Last || st.Cursor.Chain != rep.Chain) {
		return rep, fmt.Errorf("verify: %s stands at %d (chain %s), the pages end at %d (chain %s)", StateFile, st.Cursor.Seq, st.Cursor.Chain, rep.Last, rep.Chain)
	} else if err != nil && !errors.Is(err, os.ErrNotExist) {
		return rep, fmt.Errorf("verify: %w", err)
	}
	return rep, nil
}

// pageNumbers checks that a folder's pages are page-1.json to page-N.json
// with none missing, and returns N.
func pageNumbers(dir string) (int, error) {
	files, err := filepath.Glob(filepath.Join(dir, "page-*.json"))
	if err != nil {
		return 0, err
	}
	seen := map[int]bool{}
	last := 0
	for _, f := range files {
		var n int
		if _, err := fmt.Sscanf(filepath.Base(f), "page-%d.json", &n); err != nil || fmt.Sprintf("page-%d.json", n) != filepath.Base(f) || n < 1 {
			continue // page-N.rejected.json and strangers
		}
		seen[n], last = true, max(last, n)
	}
	for n := 1; n <= last; n++ {
		if !seen[n] {
			return 0, fmt.Errorf("verify: page-%d.json is missing and page-%d.json follows", n, last)
		}
	}
	return last, nil
}

// canonicalBuf holds the buffers pages are written again into, a few
// megabytes each.
var canonicalBuf = sync.Pool{New: func() any { return new([]byte) }}

// canonical refuses a page whose bytes are not the gateway's writing of
// what they decode to: a key given twice (which parsers resolve
// differently), reordered, or escaped otherwise could make what a
// verifier checked and what another reader sees differ.
func canonical(p *feed.Page, raw []byte) error {
	buf := canonicalBuf.Get().(*[]byte)
	defer canonicalBuf.Put(buf)
	*buf = p.AppendJSON((*buf)[:0])
	if !bytes.Equal(*buf, raw) {
		return &feed.VerifyError{Code: feed.NotCanonical, Msg: "the page's bytes are not the gateway's writing of what they hold (a key twice, reordered, or other escapes)"}
	}
	return nil
}

// KeyClient is the client name a request carries when the bureau names
// itself by its key alone: "key-" and the first 16 bytes of the SM3
// fingerprint of its public key (DER SubjectPublicKeyInfo), in hex. The
// gateway finds the bureau client holding that key.
func KeyClient(pub *sm.PublicKey) string {
	fp := pub.Fingerprint()
	return "key-" + hex.EncodeToString(fp[:16])
}
