package feed_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"cxt/crypto/sm"
	"cxt/gateway/feed"
	"cxt/storage/state"
	"cxt/storage/state/statetest"
)

// fact is the test command's body: facts to append, and whether to fail
// after appending them.
type fact struct {
	Facts []struct {
		Type, Office, Subject, Identity string
		N                               int
	}
	Fail bool
	// Bulk appends the facts with one AppendAll; Hashed gives identities
	// the SM3 their proposer computed.
	Bulk, Hashed bool
}

// identities are the test's "sealed" identities: the envelope is the
// plaintext reversed; shredded subjects do not open.
var shredded = map[string]bool{}

func open(aad string, env []byte) ([]byte, error) {
	out := make([]byte, len(env))
	for i := range env {
		out[len(env)-1-i] = env[i]
	}
	return out, nil
}

func register(reg *state.Registry) {
	feed.Register(reg)
	reg.HandleFrom(state.GatewaySet, "test.fact", func(tx *state.Tx, cmd *state.Command) ([]byte, error) {
		var in fact
		if err := json.Unmarshal(cmd.Body, &in); err != nil {
			return nil, err
		}
		var all []feed.Fact
		for _, f := range in.Facts {
			ff := feed.Fact{Type: f.Type, Version: 1, Office: f.Office, Subject: f.Subject, Payload: map[string]any{"n": f.N, "memo": "a \"quoted\"\nline"}}
			if f.Identity != "" {
				env, _ := open("", []byte(f.Identity))
				ff.Identity = &feed.Identity{AAD: "worker/" + f.Subject + "/private", Envelope: env, Open: open}
				if in.Hashed && f.N%2 == 0 {
					sum := sm.Sum([]byte(f.Identity))
					ff.Identity.SM3 = sum[:]
				}
			}
			if in.Bulk {
				all = append(all, ff)
			} else if _, err := feed.Append(tx, ff); err != nil {
				return nil, err
			}
		}
		if seqs, err := feed.AppendAll(tx, all); err != nil {
			return nil, err
		} else if len(seqs) != len(all) {
			return nil, fmt.Errorf("%d numbers for %d facts", len(seqs), len(all))
		}
		if in.Fail {
			return nil, state.Reject(state.Conflict, "refused after appending")
		}
		return nil, nil
	})
}

func opener(subject, aad string, env []byte) ([]byte, error) {
	if shredded[subject] {
		return nil, feed.ErrDestroyed
	}
	return open(aad, env)
}

type world struct {
	m   *statetest.Machine
	key *sm.PrivateKey
}

func newWorld(t *testing.T) *world {
	key, err := sm.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	m := statetest.New(t, register)
	m.Now = time.Date(2026, 11, 27, 9, 30, 0, 123456000, time.UTC)
	return &world{m: m, key: key}
}

func (w *world) send(t *testing.T, in fact) {
	t.Helper()
	if res := w.m.Send("test.fact", in); res.Err != nil && !in.Fail {
		t.Fatal(res.Err)
	}
	w.m.Now = w.m.Now.Add(time.Second)
}

func (w *world) page(t *testing.T, scope string, after uint64, limit int) *feed.Page {
	t.Helper()
	var p *feed.Page
	err := w.m.State.View(func(r *state.ReadTx) error {
		h, entries, err := feed.Read(r, scope, after, limit, opener)
		if err != nil {
			return err
		}
		p, err = feed.Sign(h, entries, w.m.Now, w.key.Sign)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// pull reads a whole scope in pages of limit and verifies each.
func (w *world) pull(t *testing.T, scope string, limit int) ([]feed.WireEntry, feed.Cursor) {
	t.Helper()
	label := scope
	if scope == feed.Platform {
		label = feed.ScopePlatform
	}
	at := feed.Start(label)
	var all []feed.WireEntry
	for {
		p := w.page(t, scope, at.Seq, limit)
		next, h, err := feed.Verify(p, w.key.Public(), at)
		if err != nil {
			t.Fatalf("page after %d: %v", at.Seq, err)
		}
		all = append(all, p.Entries...)
		at = next
		if at.Seq == h.End {
			return all, at
		}
	}
}

func facts(specs ...string) fact {
	var in fact
	for i, s := range specs {
		parts := strings.Split(s, "|")
		f := struct {
			Type, Office, Subject, Identity string
			N                               int
		}{Type: parts[0], N: i}
		if len(parts) > 1 {
			f.Office = parts[1]
		}
		if len(parts) > 2 {
			f.Subject = parts[2]
		}
		if len(parts) > 3 {
			f.Identity = parts[3]
		}
		in.Facts = append(in.Facts, f)
	}
	return in
}

const (
	officeA = "11101050000"
	officeB = "14403000000"
)

func seed(t *testing.T, w *world) {
	w.send(t, facts(`worker.registered||w1|{"name":"张三"}`, "merchant.registered|"+officeA+"|m1"))
	w.send(t, facts("payment.paid|"+officeA+"|m1", "payment.paid|"+officeB+"|m2", "task.published|"+officeB+"|m2"))
	w.send(t, fact{Facts: facts("payment.paid|" + officeA + "|m1").Facts, Fail: true}) // refused: appends nothing
	w.send(t, facts(`worker.changed||w2|{"name":"李四"}`, "payment.returned|"+officeA+"|m1"))
}

func TestTheFeedIsContiguousChainedAndProvablyCompletePerScope(t *testing.T) {
	w := newWorld(t)
	seed(t, w)
	for _, limit := range []int{1, 2, 100} {
		all, end := w.pull(t, feed.Platform, limit)
		if len(all) != 7 || end.Seq != 7 {
			t.Fatalf("limit %d: the platform's feed has %d entries, want 7 (a refused command appends nothing)", limit, len(all))
		}
		for i, e := range all {
			if e.Seq != uint64(i+1) {
				t.Fatalf("entry %d numbered %d", i, e.Seq)
			}
		}
		a, endA := w.pull(t, officeA, limit)
		b, _ := w.pull(t, officeB, limit)
		if len(a) != 3 || len(b) != 2 || endA.Seq != 3 {
			t.Fatalf("limit %d: office A has %d entries, B %d", limit, len(a), len(b))
		}
		for i, e := range a {
			if e.Office != officeA || e.OfficeSeq != uint64(i+1) {
				t.Fatalf("office A's entry %d: %+v", i, e)
			}
		}
		// An office page's entries are the platform's entries, hash for hash.
		if a[2].Hash != all[6].Hash || a[2].Seq != 7 {
			t.Fatalf("office A's third entry is not the platform's seventh")
		}
	}
	all, _ := w.pull(t, feed.Platform, 100)
	if all[0].Identity == nil || *all[0].Identity != `{"name":"张三"}` || all[1].Identity != nil || all[1].IdentitySM3 != "" {
		t.Fatalf("identities: %+v / %+v", all[0], all[1])
	}
	var payload map[string]any
	if err := json.Unmarshal([]byte(all[3].Payload), &payload); err != nil || payload["memo"] != "a \"quoted\"\nline" {
		t.Fatalf("payload %q", all[3].Payload)
	}

	// After the end: an empty page ending where the chain does; beyond it: refused.
	p := w.page(t, feed.Platform, 7, 10)
	if _, h, err := feed.Verify(p, w.key.Public(), mustCursor(t, w, 7)); err != nil || len(p.Entries) != 0 || h.Last != 7 {
		t.Fatalf("the page after the end: %v %+v", err, h)
	}
	err := w.m.State.View(func(r *state.ReadTx) error {
		_, _, err := feed.Read(r, feed.Platform, 8, 10, opener)
		return err
	})
	var rej *state.Rejection
	if !errors.As(err, &rej) || rej.Code != feed.CodeBeyondEnd.String() {
		t.Fatalf("after beyond the end: %v", err)
	}
}

func mustCursor(t *testing.T, w *world, seq uint64) feed.Cursor {
	t.Helper()
	all, _ := w.pull(t, feed.Platform, 100)
	return feed.Cursor{Scope: feed.ScopePlatform, Seq: seq, Chain: all[seq-1].Chain}
}

// A destroyed subject's entries are served without their identity, and the
// chain still verifies: it covers the identity's hash, not the identity.
func TestADestroyedIdentityLeavesItsHashAndTheChainWhole(t *testing.T) {
	w := newWorld(t)
	seed(t, w)
	before, _ := w.pull(t, feed.Platform, 100)
	shredded["w1"] = true
	defer delete(shredded, "w1")
	after, _ := w.pull(t, feed.Platform, 100)
	if after[0].Identity != nil || !after[0].Destroyed || after[0].IdentitySM3 != before[0].IdentitySM3 || after[0].Hash != before[0].Hash {
		t.Fatalf("a destroyed identity is served as %+v", after[0])
	}
	if after[5].Identity == nil {
		t.Fatalf("another subject's identity went with it")
	}
}

// Every way a page can lie is caught, with its own code.
func TestAVerifierCatchesEveryAlteredPage(t *testing.T) {
	w := newWorld(t)
	seed(t, w)
	other, _ := sm.GenerateKey()
	start := feed.Start(feed.ScopePlatform)
	fresh := func() *feed.Page { return w.page(t, feed.Platform, 0, 100) }
	resign := func(p *feed.Page, edit func(h *feed.Head)) {
		var h feed.Head
		json.Unmarshal([]byte(p.Head), &h)
		edit(&h)
		np, _ := feed.Sign(h, p.Entries, time.Now(), w.key.Sign)
		*p = *np
	}
	for _, c := range []struct {
		name, code string
		alter      func(p *feed.Page)
		at         feed.Cursor
	}{
		{"a payload changed", feed.Tampered, func(p *feed.Page) { p.Entries[3].Payload = strings.Replace(p.Entries[3].Payload, `"n":1`, `"n":9`, 1) }, start},
		{"a type changed", feed.Tampered, func(p *feed.Page) { p.Entries[2].Type = "payment.returned" }, start},
		{"a time changed", feed.Tampered, func(p *feed.Page) { p.Entries[2].Time = "2026-11-27T09:30:01.123457Z" }, start},
		{"an identity changed", feed.IdentityAltered, func(p *feed.Page) { s := `{"name":"王五"}`; p.Entries[0].Identity = &s }, start},
		{"an identity dropped", feed.IdentityAltered, func(p *feed.Page) { p.Entries[0].Identity = nil }, start},
		{"an entry dropped", feed.BadHead, func(p *feed.Page) { p.Entries = append(p.Entries[:3], p.Entries[4:]...) }, start},
		{"an entry dropped and the head re-signed", feed.Gap, func(p *feed.Page) {
			p.Entries = append(p.Entries[:3], p.Entries[4:]...)
			resign(p, func(h *feed.Head) { h.Last-- })
		}, start},
		{"two entries swapped", feed.Gap, func(p *feed.Page) { p.Entries[1], p.Entries[2] = p.Entries[2], p.Entries[1] }, start},
		{"an entry rewritten with its hash and renumbered chain", feed.BrokenChain, func(p *feed.Page) {
			// A forger without the chain's past recomputes one entry's hash.
			e := &p.Entries[3]
			e.Payload = `{"n":1000}`
			h := sm.Sum(feed.Line(e.Seq, e.Type, e.Version, e.Time, e.Office, e.Subject, nil, []byte(e.Payload)))
			e.Hash = fmt.Sprintf("%x", h)
		}, start},
		{"the head's chain forged", feed.BadHeadSignature, func(p *feed.Page) { p.Head = strings.Replace(p.Head, `"end_seq":7`, `"end_seq":6`, 1) }, start},
		{"a head signed by another key", feed.BadHeadSignature, func(p *feed.Page) {
			np, _ := feed.Sign(feed.Head{Protocol: feed.Protocol, Scope: feed.ScopePlatform, First: 1, Last: 7}, p.Entries, time.Now(), other.Sign)
			*p = *np
		}, start},
		{"a page that does not continue the client's cursor", feed.Gap, func(p *feed.Page) {}, feed.Cursor{Scope: feed.ScopePlatform, Seq: 2, Chain: start.Chain}},
		{"a page of another scope", feed.BadHead, func(p *feed.Page) {}, feed.Start(officeA)},
	} {
		p := fresh()
		c.alter(p)
		_, _, err := feed.Verify(p, w.key.Public(), c.at)
		var ve *feed.VerifyError
		if !errors.As(err, &ve) || ve.Code != c.code {
			t.Errorf("%s: %v, want %s", c.name, err, c.code)
		}
	}
	// An office page that slips in another office's entry.
	p := w.page(t, officeA, 0, 100)
	b := w.page(t, officeB, 0, 100)
	p.Entries[1] = b.Entries[0]
	var ve *feed.VerifyError
	if _, _, err := feed.Verify(p, w.key.Public(), feed.Start(officeA)); !errors.As(err, &ve) || ve.Code != feed.OutOfScope {
		t.Errorf("another office's entry: %v", err)
	}
}

// A cluster that does not speak the gateway's command set appends nothing,
// so old and new replicas write the same state.
func TestNoEntriesBeforeTheClusterSpeaksTheGatewaySet(t *testing.T) {
	m := statetest.New(t, func(reg *state.Registry) {
		feed.Register(reg)
		reg.HandleFrom(state.MoneySet, "test.old", func(tx *state.Tx, cmd *state.Command) ([]byte, error) {
			seq, err := feed.Append(tx, feed.Fact{Type: "x", Version: 1, Payload: 1})
			return []byte(fmt.Sprint(seq)), err
		})
	})
	if res := m.Send("test.old", nil); res.Err != nil || string(res.Value) != "0" {
		t.Fatalf("appended %s (%v) in command set %d", res.Value, res.Err, state.MoneySet)
	}
}

// A stored entry that was cut or padded does not decode into another.
func TestAStoredEntryDecodesWholeOrNotAtAll(t *testing.T) {
	e := feed.Entry{Seq: 7, Type: "t", Version: 2, Time: time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC), Office: "11101050000", Subject: "w1",
		IdentityAAD: "a", Payload: []byte(`{"x":1}`), Identity: []byte{1, 2}, IdentitySM3: make([]byte, 32), Hash: make([]byte, 32), Chain: make([]byte, 32)}
	b := feed.EncodeEntry(&e)
	got, err := feed.DecodeEntry(b)
	if err != nil || got.Seq != 7 || got.Version != 2 || !got.Time.Equal(e.Time) || got.Office != e.Office || string(got.Payload) != `{"x":1}` || got.IdentityAAD != "a" {
		t.Fatalf("round trip: %+v %v", got, err)
	}
	for i := range len(b) {
		if _, err := feed.DecodeEntry(b[:i]); err == nil {
			t.Fatalf("a stored entry cut to %d bytes decoded", i)
		}
	}
	if _, err := feed.DecodeEntry(append(b, 0)); err == nil {
		t.Fatal("a padded entry decoded")
	}
}

// The page's own JSON writer reads back as encoding/json's does, whatever
// the strings hold.
func TestAPageWritesJSONThatReadsBackTheSame(t *testing.T) {
	id := "{\"name\":\"张三\"}"
	p := feed.Page{Head: `{"a":"\"q\""}`, Signature: "c2ln", Entries: []feed.WireEntry{
		{Seq: 1, Type: "t", Version: 1, Time: "2026-01-01T00:00:00Z", Payload: "{\"memo\":\"a\\n\\\"b\\\"\\t\\u0001 <&> \u2028 é\"}", Identity: &id, IdentitySM3: "ab", Hash: "cd", Chain: "ef"},
		{Seq: 2, OfficeSeq: 7, Type: "t", Version: 2, Time: "x", Office: "11101050000", Subject: "w\x01", Payload: "bad \xff utf8", Destroyed: true, Hash: "", Chain: ""},
	}}
	mine := p.AppendJSON(nil)
	var back feed.Page
	if err := json.Unmarshal(mine, &back); err != nil {
		t.Fatalf("%v: %s", err, mine)
	}
	want := p
	want.Entries = append([]feed.WireEntry{}, p.Entries...)
	want.Entries[1].Payload = "bad \ufffd utf8"
	a, _ := json.Marshal(back)
	b, _ := json.Marshal(want)
	if string(a) != string(b) {
		t.Fatalf("read back\n%s\nwant\n%s", a, b)
	}
}

// The gateway's page writer, straight from the stored entries, writes the
// bytes of the page Read and Sign make, in every scope, destroyed
// identities included.
func TestReadJSONWritesThePageReadWrites(t *testing.T) {
	w := newWorld(t)
	seed(t, w)
	shredded["w2"] = true
	defer delete(shredded, "w2")
	fixed := func([]byte) ([]byte, error) { return []byte{1, 2, 3}, nil }
	at := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
	for _, scope := range []string{feed.Platform, officeA, officeB} {
		for _, c := range []struct {
			after uint64
			limit int
		}{{0, 100}, {1, 2}, {2, 1}} {
			var slow, fast []byte
			err := w.m.State.View(func(r *state.ReadTx) error {
				h, entries, err := feed.Read(r, scope, c.after, c.limit, opener)
				if err != nil {
					return err
				}
				p, err := feed.Sign(h, entries, at, fixed)
				if err != nil {
					return err
				}
				slow = p.AppendJSON(nil)
				h2, raw, err := feed.ReadJSON(r, scope, c.after, c.limit, opener)
				if err != nil {
					return err
				}
				fast, err = feed.SignJSON(h2, raw, at, fixed)
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
			if string(slow) != string(fast) {
				t.Fatalf("scope %q after %d limit %d:\n%s\n%s", scope, c.after, c.limit, slow, fast)
			}
		}
	}
}

// An identity digest of the wrong length or alphabet is an altered entry,
// never a crash.
func TestAMalformedIdentityDigestIsTampering(t *testing.T) {
	w := newWorld(t)
	seed(t, w)
	for _, bad := range []string{"ab", strings.Repeat("a", 66), strings.Repeat("z", 64), strings.Repeat("a", 63)} {
		p := w.page(t, feed.Platform, 0, 100)
		p.Entries[0].IdentitySM3 = bad
		var ve *feed.VerifyError
		if _, _, err := feed.Verify(p, w.key.Public(), feed.Start(feed.ScopePlatform)); !errors.As(err, &ve) || (ve.Code != feed.Tampered && ve.Code != feed.IdentityAltered) {
			t.Errorf("identity_sm3 %q: %v", bad, err)
		}
	}
}

// A bulk command's facts appended at once (AppendAll, which makes their
// entries on all cores) are stored exactly as Append stores them one by
// one — entries, office links, tips, identities hashed by the proposer or
// opened — and a bad fact among them refuses the command whole, with the
// error Append would give.
func TestAppendAllStoresWhatAppendStoresOneByOne(t *testing.T) {
	var many []string // enough for the parallel pass (64 and up)
	for i := range 300 {
		switch i % 3 {
		case 0:
			many = append(many, fmt.Sprintf(`worker.registered||w%d|{"name":"工人%d"}`, i, i))
		case 1:
			many = append(many, fmt.Sprintf("worker.linked|%s|w%d", officeA, i))
		default:
			many = append(many, fmt.Sprintf("worker.linked|%s|w%d", officeB, i))
		}
	}
	bad := facts(many...)
	bad.Facts[150].Type = "two\nlines"
	bad.Facts[200].Type = "" // a later error: not the one reported
	sends := []fact{facts(many[:2]...), facts(many...), facts(many[:40]...), bad}
	run := func(bulk bool) (map[string]string, []string) {
		w := newWorld(t)
		var refusals []string
		for _, in := range sends {
			in.Bulk, in.Hashed = bulk, true
			res := w.m.Send("test.fact", in)
			if res.Err != nil {
				refusals = append(refusals, res.Err.Error())
			}
			w.m.Now = w.m.Now.Add(time.Second)
		}
		stored := map[string]string{}
		w.m.State.View(func(r *state.ReadTx) error {
			for _, b := range []string{feed.Bucket, feed.OfficeBucket, feed.TipBucket} {
				if err := r.ForEach(b, func(k, v []byte) error { stored[b+"/"+string(k)] = string(v); return nil }); err != nil {
					t.Fatal(err)
				}
			}
			return nil
		})
		return stored, refusals
	}
	one, oneRefused := run(false)
	all, allRefused := run(true)
	// 342 entries, 227 office links (the facts with an office), 3 tips.
	if len(one) != 342+227+3 || len(one) != len(all) {
		t.Fatalf("%d records one by one, %d at once", len(one), len(all))
	}
	for k, v := range one {
		if all[k] != v {
			t.Fatalf("%q differs: one by one %x, at once %x", k, v, all[k])
		}
	}
	if fmt.Sprint(oneRefused) != fmt.Sprint(allRefused) || len(allRefused) != 1 || !strings.Contains(allRefused[0], "two") {
		t.Errorf("refusals: one by one %q, at once %q", oneRefused, allRefused)
	}
}
