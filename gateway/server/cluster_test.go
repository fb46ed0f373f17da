package server_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"cxt/crypto/sm"
	"cxt/crypto/sm/reqsig"
	"cxt/gateway/bureaus"
	"cxt/gateway/feed"
	"cxt/gateway/platform"
	"cxt/gateway/pull"
	"cxt/gateway/receipts"
	"cxt/gateway/server/servertest"
	"cxt/storage/auditlog"
	"cxt/storage/cluster/loopback"
	"cxt/storage/state"
)

const (
	platformOffice = "14403000000"
	futian         = "14403040000"
	huangpu        = "13101050000"
)

// cmdFact appends one feed entry, as a domain's command does with its fact.
const cmdFact = "test.fact"

type fact struct {
	Office string `json:"office"`
	N      int    `json:"n"`
}

func register(reg *state.Registry) {
	servertest.Register(reg)
	reg.HandleFrom(state.GatewaySet, cmdFact, func(tx *state.Tx, cmd *state.Command) ([]byte, error) {
		var f fact
		if err := json.Unmarshal(cmd.Body, &f); err != nil {
			return nil, err
		}
		_, err := feed.Append(tx, feed.Fact{Type: "test.fact", Version: 1, Office: f.Office, Payload: f})
		return nil, err
	})
}

// gateway is one node's gateway listener.
type gateway struct {
	node *loopback.Node
	url  string
	conn *http.Client
}

// startGateways starts a 3-node cluster and a gateway listener on each
// node, as appliance/node mounts it.
func startGateways(t *testing.T) (*loopback.Cluster, []*gateway) {
	t.Helper()
	c, err := loopback.New(t.TempDir, register)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := c.Start(ctx, 3); err != nil {
		t.Fatal(err)
	}
	var out []*gateway
	for _, n := range c.Running() {
		ts, err := servertest.Serve(ctx, n.Node, &bureaus.Backend{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(ts.Close)
		out = append(out, &gateway{node: n, url: ts.URL, conn: ts.Client()})
	}
	return c, out
}

func propose(t *testing.T, c *loopback.Cluster, typ string, body any) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	l, err := c.Leader(ctx)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(body)
	v, err := l.ProposeOK(ctx, state.NewCommand(typ, b, time.Now()))
	if err != nil {
		t.Fatalf("%s: %v", typ, err)
	}
	return v
}

type client struct {
	id  string
	key *sm.PrivateKey
}

func newClient(t *testing.T, c *loopback.Cluster, id string, offices ...string) client {
	t.Helper()
	k, _ := sm.GenerateKey()
	pub, _ := k.Public().MarshalPEM()
	key, err := bureaus.CheckKey(string(pub), "")
	if err != nil {
		t.Fatal(err)
	}
	propose(t, c, bureaus.CmdRegister, bureaus.Client{ID: id, Name: "bureau " + id, Offices: offices, Key: key, CreatedBy: "acct-sec"})
	return client{id, k}
}

func (cl client) sign(t *testing.T, g *gateway, method, path, body string) *http.Request {
	t.Helper()
	req, _ := http.NewRequest(method, g.url+path, strings.NewReader(body))
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if err := reqsig.Sign(req, []byte(body), cl.id, cl.key, time.Now()); err != nil {
		t.Fatal(err)
	}
	return req
}

// to is req sent to another node: the same method, path, query, headers
// and body.
func to(g *gateway, req *http.Request, body string) *http.Request {
	out, _ := http.NewRequest(req.Method, g.url+req.URL.RequestURI(), strings.NewReader(body))
	out.Header = req.Header.Clone()
	return out
}

type reply struct {
	status int
	body   map[string]any
	id     string
}

func (r reply) code() string {
	e, _ := r.body["error"].(map[string]any)
	s, _ := e["code"].(string)
	return s
}

func do(t *testing.T, g *gateway, req *http.Request) reply {
	t.Helper()
	resp, err := g.conn.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out map[string]any
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatalf("%s: not JSON (%d): %s", req.URL, resp.StatusCode, raw)
	}
	return reply{resp.StatusCode, out, resp.Header.Get("X-Request-Id")}
}

func page(t *testing.T, r reply) *feed.Page {
	t.Helper()
	if r.status != 200 {
		t.Fatalf("a page: %d %v", r.status, r.body)
	}
	raw, _ := json.Marshal(r.body)
	var p feed.Page
	if err := json.Unmarshal(raw, &p); err != nil {
		t.Fatal(err)
	}
	return &p
}

// The cluster-wide attacks and the feed's scope: a signed request replayed
// to another node, or raced to all three, is served once; a district
// bureau reads its office's chain only, the platform's office the whole
// feed, page after page, each page verifying from the pages alone; a
// receipt is kept as verifiable evidence, and one for what was not served
// or with another chain is refused.
func TestAReplayOnAnotherNodeIsRefusedAndEachBureauReadsItsOwnChain(t *testing.T) {
	c, gws := startGateways(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	l, _ := c.Leader(ctx)
	key, err := platform.Slot.Ensure(ctx, l.Node, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	pub, _ := sm.ParsePublicKeyPEM([]byte(key.Public))
	propose(t, c, platform.CmdProfile, platform.Profile{Office: platformOffice, LegalName: "诚薪通科技有限公司", USCC: "91350100M000100Y43",
		Domain: "cxt.example.cn", BusinessType: "灵活用工", Entities: []platform.Entity{{Name: "诚薪通科技有限公司", USCC: "91350100M000100Y43"}}, UpdatedBy: "acct-sys"})
	district := newClient(t, c, "bu_0000000000000001", futian)
	top := newClient(t, c, "bu_0000000000000002", platformOffice)
	for i, office := range []string{futian, huangpu, futian, "", futian} {
		propose(t, c, cmdFact, fact{Office: office, N: i + 1})
	}

	// Served once, whichever node: the same request to the others, and a
	// new one raced to all three.
	first := district.sign(t, gws[0], "GET", "/gateway/v1/feed?limit=2", "")
	p := page(t, do(t, gws[0], first))
	cur, _, err := feed.Verify(p, pub, feed.Start(futian))
	if err != nil || cur.Seq != 2 {
		t.Fatalf("the district's first page: %v %+v", err, cur)
	}
	var replays []string
	for _, g := range gws[1:] {
		r := do(t, g, to(g, first, ""))
		if r.status != 401 || r.code() != "request_replayed" {
			t.Fatalf("the replay on node %s: %d %v", g.node.ID, r.status, r.body)
		}
		replays = append(replays, r.id)
	}
	raced := district.sign(t, gws[0], "GET", "/gateway/v1/feed?after=2", "")
	var wg sync.WaitGroup
	results := make([]reply, len(gws))
	for i, g := range gws {
		wg.Add(1)
		go func() { defer wg.Done(); results[i] = do(t, g, to(g, raced, "")) }()
	}
	wg.Wait()
	served := 0
	for _, r := range results {
		switch {
		case r.status == 200:
			served++
			p = page(t, r)
		case r.code() != "request_replayed":
			t.Errorf("a raced copy: %d %v", r.status, r.body)
		}
	}
	if served != 1 {
		t.Fatalf("a request raced to three nodes was served %d times", served)
	}
	if cur, _, err = feed.Verify(p, pub, cur); err != nil || cur.Seq != 3 {
		t.Fatalf("the district's second page does not continue its first: %v %+v", err, cur)
	}
	for _, e := range p.Entries {
		if e.Office != futian {
			t.Fatalf("the district was served another office's entry: %+v", e)
		}
	}

	// The platform's office: the whole feed, two pages, from any node.
	whole := feed.Start(feed.ScopePlatform)
	for i, q := range []string{"?limit=3", "?after=3&limit=3"} {
		g := gws[(i+1)%3]
		p := page(t, do(t, g, top.sign(t, g, "GET", "/gateway/v1/feed"+q, "")))
		if whole, _, err = feed.Verify(p, pub, whole); err != nil {
			t.Fatalf("page %d of the whole feed: %v", i+1, err)
		}
	}
	if whole.Seq != 5 {
		t.Fatalf("the whole feed ends at %d, want 5", whole.Seq)
	}
	if r := do(t, gws[2], top.sign(t, gws[2], "GET", "/gateway/v1/feed?after=6", "")); r.status != 400 || r.code() != "feed_after_beyond_end" {
		t.Fatalf("after beyond the end: %d %v", r.status, r.body)
	}

	// The reference client pulls the whole feed from another node, page by
	// page, verified, into a folder that verifies offline.
	dir := t.TempDir()
	rep, err := pull.Pull(ctx, pull.Options{URL: gws[1].url, Client: top.id, Key: top.key, HTTP: gws[1].conn, Dir: dir, Limit: 2})
	if err != nil || rep.Last != 5 || rep.Pages != 3 || rep.Chain != whole.Chain {
		t.Fatalf("cxt gateway pull against the gateway: %+v %v", rep, err)
	}
	if rep, err := pull.Verify(dir); err != nil || rep.Last != 5 {
		t.Fatalf("the pulled folder: %+v %v", rep, err)
	}

	// Receipts, on a node that served none of the pages.
	g := gws[2]
	ack := func(cl client, scope string, seq uint64, chain string) reply {
		return do(t, g, cl.sign(t, g, "POST", "/gateway/v1/receipts", fmt.Sprintf(`{"scope":%q,"seq":%d,"chain_hash":%q}`, scope, seq, chain)))
	}
	if r := ack(district, futian, 4, cur.Chain); r.status != 400 || r.code() != "receipt_beyond_served" {
		t.Fatalf("a receipt beyond what was served: %d %v", r.status, r.body)
	}
	if r := ack(district, futian, 2, cur.Chain); r.status != 400 || r.code() != "receipt_chain_mismatch" {
		t.Fatalf("a receipt with another number's chain: %d %v", r.status, r.body)
	}
	if r := ack(district, feed.ScopePlatform, 1, cur.Chain); r.status != 403 || r.code() != "out_of_scope" {
		t.Fatalf("a district's receipt for the whole feed: %d %v", r.status, r.body)
	}
	if r := ack(district, futian, 3, cur.Chain); r.status != 201 {
		t.Fatalf("the district's receipt: %d %v", r.status, r.body)
	}
	if r := ack(top, feed.ScopePlatform, 5, whole.Chain); r.status != 201 {
		t.Fatalf("the platform office's receipt: %d %v", r.status, r.body)
	}

	// The evidence verifies with the bureau's key alone, and the refused
	// replays are in the audit log on every node.
	n := gws[1].node
	if err := n.ReadBarrier(ctx); err != nil {
		t.Fatal(err)
	}
	var latest []*receipts.Receipt
	var entries []auditlog.Entry
	n.State().View(func(tx *state.ReadTx) error {
		latest, err = receipts.Latest(tx)
		if err != nil {
			return err
		}
		entries, err = auditlog.Search(tx, auditlog.Query{})
		return err
	})
	if len(latest) != 2 || latest[0].Client != district.id || latest[0].Seq != 3 || latest[1].Seq != 5 {
		t.Fatalf("the receipts kept: %+v", latest)
	}
	sig, _ := base64.StdEncoding.DecodeString(latest[0].Signature)
	signed := &reqsig.Signed{Canonical: latest[0].Canonical, Signature: sig}
	if err := signed.Verify(district.key.Public()); err != nil {
		t.Fatalf("the kept receipt does not verify with the bureau's key: %v", err)
	}
	body := sm.Sum([]byte(latest[0].Body))
	if !strings.Contains(latest[0].Canonical, fmt.Sprintf("%x", body)) {
		t.Fatal("the kept body is not the one the signature covers")
	}
	for _, id := range replays {
		found := false
		for _, e := range entries {
			found = found || (e.Request == id && e.Result == "request_replayed")
		}
		if !found {
			t.Errorf("the replay %s is not in the audit log", id)
		}
	}
}

// progressCancel cancels a pull once it has kept its first page: a bureau's
// pull cut off mid-way.
type progressCancel struct{ cancel func() }

func (p progressCancel) Write(b []byte) (int, error) { p.cancel(); return len(b), nil }

// A pull cut off mid-way, the leader lost, the pull resumed on another
// node: the folder holds every entry once, in order, and verifies.
func TestAPullResumesOnAnotherNodeAfterTheLeaderIsLostWithNoGapNorDuplicate(t *testing.T) {
	c, gws := startGateways(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	l, _ := c.Leader(ctx)
	if _, err := platform.Slot.Ensure(ctx, l.Node, time.Now()); err != nil {
		t.Fatal(err)
	}
	propose(t, c, platform.CmdProfile, platform.Profile{Office: platformOffice, LegalName: "诚薪通科技有限公司", USCC: "91350100M000100Y43",
		Domain: "cxt.example.cn", BusinessType: "灵活用工", Entities: []platform.Entity{{Name: "诚薪通科技有限公司", USCC: "91350100M000100Y43"}}, UpdatedBy: "acct-sys"})
	top := newClient(t, c, "bu_0000000000000002", platformOffice)
	for i := range 7 {
		propose(t, c, cmdFact, fact{Office: futian, N: i + 1})
	}
	var on *gateway
	for _, g := range gws {
		if g.node.ID == l.ID {
			on = g
		}
	}
	dir := t.TempDir()
	opts := func(g *gateway) pull.Options {
		// named by its office's code: the whole feed, whose heads say so
		return pull.Options{URL: g.url, Client: top.id, Key: top.key, HTTP: g.conn, Dir: dir, Limit: 2, Office: platformOffice}
	}
	cut, stop := context.WithCancel(ctx)
	o := opts(on)
	o.Progress = progressCancel{stop}
	rep, err := pull.Pull(cut, o)
	if err == nil || rep.Last == 0 || rep.Last >= 7 {
		t.Fatalf("the cut-off pull: %+v %v", rep, err)
	}
	held := rep.Last

	c.Stop(l)
	for i := range 3 {
		propose(t, c, cmdFact, fact{Office: huangpu, N: 8 + i})
	}
	nl, err := c.Leader(ctx)
	if err != nil || nl.ID == l.ID {
		t.Fatalf("no new leader: %v", err)
	}
	var other *gateway
	for _, g := range gws {
		if g.node.ID != l.ID && g.node.ID != nl.ID {
			other = g // a follower that never served this bureau
		}
	}
	if err := other.node.ReadBarrier(ctx); err != nil {
		t.Fatal(err)
	}
	rep, err = pull.Pull(ctx, opts(other))
	if err != nil || rep.Last != 10 || uint64(rep.Entries) != 10-held {
		t.Fatalf("the resumed pull after %d: %+v %v", held, rep, err)
	}
	v, err := pull.Verify(dir)
	if err != nil || v.Entries != 10 || v.Last != 10 || v.From != 0 {
		t.Fatalf("the folder: %+v %v", v, err)
	}
}
