package api_test

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"cxt/appliance/payouts"
	"cxt/crypto/sm"
	"cxt/gateway/feed"
	"cxt/gateway/reports"
)

// feedTracker follows the bureaus' feed as the platform's office pulls it:
// every page verified against the gateway key and the chain held so far.
type feedTracker struct {
	t    *testing.T
	b    *bureau
	pub  *sm.PublicKey
	at   feed.Cursor
	seen []feed.WireEntry
}

// news pulls what the feed committed since the last call.
func (f *feedTracker) news() []feed.WireEntry {
	f.t.Helper()
	var out []feed.WireEntry
	for {
		a := f.b.call("GET", "/gateway/v1/feed?limit=3&after="+strconv.FormatUint(f.at.Seq, 10), "")
		if a.status != 200 {
			f.t.Fatalf("a page of the feed: %d %v", a.status, a.body)
		}
		p := pageOf(f.t, a.reply)
		next, h, err := feed.Verify(p, f.pub, f.at)
		if err != nil {
			f.t.Fatalf("the page after %d: %v", f.at.Seq, err)
		}
		f.at = next
		out = append(out, p.Entries...)
		if next.Seq == h.End {
			f.seen = append(f.seen, out...)
			return out
		}
	}
}

// expect checks that the feed's news are exactly want, in order: each a
// type, or type:subject.
func (f *feedTracker) expect(stage string, want ...string) {
	f.t.Helper()
	var got []string
	for _, e := range f.news() {
		got = append(got, e.Type+":"+e.Subject)
	}
	ok := len(got) == len(want)
	for i := 0; ok && i < len(want); i++ {
		ok = got[i] == want[i] || !strings.Contains(want[i], ":") && strings.HasPrefix(got[i], want[i]+":")
	}
	if !ok {
		f.t.Fatalf("after %s the feed added\n  %s\nwant\n  %s", stage, strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
}

// Every fact the business API commits is in the bureaus' feed once, in the
// order it was committed, and nothing else is: the world of a payout built
// stage by stage through the API, the feed followed after each stage by
// the platform's office's gateway client.
func TestEveryFactIsInTheFeedOnceInCommitOrder(t *testing.T) {
	var f *feedTracker
	var w *payWorld
	follow := func(pw *payWorld, stage string) {
		w = pw
		e := w.e
		switch stage {
		case "start":
			e.setProfile(w.sys, platformOffice)
			f = &feedTracker{t: t, b: e.registerBureau(w.sec, []string{platformOffice}, nil), pub: e.gatewayKey(), at: feed.Start(feed.ScopePlatform)}
			f.expect(stage) // staff, the profile and the bureau are not business facts
		case "merchants":
			f.expect(stage, "merchant.registered:"+w.idA, "merchant.status:"+w.idA, "merchant.registered:"+w.idB, "merchant.status:"+w.idB)
		case "cooperation":
			f.expect(stage, "agreement.signed:"+w.idA, "agreement.signed:"+w.idB)
		case "workers":
			f.expect(stage, "worker.registered:"+w.wA, "worker.registered:"+w.wB)
		case "work of " + w.wA, "work of " + w.wB:
			worker, merchant := w.wA, w.idA
			if stage == "work of "+w.wB {
				worker, merchant = w.wB, w.idB
			}
			// invited and accepted; verified; the tripartite agreement; the
			// task, opened by the risk rule at once (a task a reviewer
			// opens has a task.status between), its work accepted, and
			// the task completed with its only worker's work.
			f.expect(stage, "worker.linked:"+worker, "worker.linked:"+worker, "worker.checked:"+worker, "agreement.signed:"+worker,
				"task.published:"+merchant, "task.work_accepted:"+worker, "task.status:"+merchant)
			n := len(f.seen)
			if pub, done := f.seen[n-3].Payload, f.seen[n-1].Payload; !strings.Contains(pub, `"status":"open"`) || !strings.Contains(done, `"to":"completed"`) {
				t.Fatalf("the task's facts: %s / %s", pub, done)
			}
		case "top-ups":
			f.expect(stage, "topup.credited:"+w.idA, "topup.credited:"+w.idB)
		default:
			t.Fatalf("a stage the test does not know: %s", stage)
		}
	}
	payoutWorld(t, follow)
	e := w.e

	// A batch: two payments paid, one held, one rejected — the held and
	// the rejected move no money and are not facts.
	up := e.uploadBatch(w.idA, w.clerkA, payFile("feed-1",
		payRow(w.wA, w.taskA, `"3000.00"`), payRow(w.wA, w.taskA, `"2000.00"`),
		payRow(w.wA, w.taskA, `"19000.00"`), payRow(w.wB, w.taskB, `"1.00"`)))
	batch := up.body["batch"].(string)
	e.stepUp(w.bossA, "boss-a")
	if r := e.confirmed("POST", "/api/v1/payout-batches/"+batch+"/confirm", w.bossA, "", "confirm-feed-1"); r.status != 202 {
		t.Fatalf("confirm: %d %v", r.status, r.body)
	}
	if bt := e.settled(w.bossA, batch); fmt.Sprint(bt["counts"]) != "map[on_hold:1 paid:2 rejected:1]" {
		t.Fatalf("the batch settled: %v", bt)
	}
	f.expect("the batch", "payments.booked:"+w.idA, "payments.paid:"+w.idA)
	booked, paid := f.seen[len(f.seen)-2], f.seen[len(f.seen)-1]
	for _, e := range []feed.WireEntry{booked, paid} {
		for _, id := range []string{payouts.PaymentID(batch, 1), payouts.PaymentID(batch, 2)} {
			if strings.Count(e.Payload, `"payment":"`+id+`"`) != 1 {
				t.Errorf("%s lists %s %d times: %s", e.Type, id, strings.Count(e.Payload, id), e.Payload)
			}
		}
		if strings.Contains(e.Payload, payouts.PaymentID(batch, 3)) || strings.Contains(e.Payload, payouts.PaymentID(batch, 4)) {
			t.Errorf("%s lists a held or rejected payment: %s", e.Type, e.Payload)
		}
	}
	// The same confirmation again commits nothing new.
	if r := e.confirmed("POST", "/api/v1/payout-batches/"+batch+"/confirm", w.bossA, "", "confirm-feed-1"); r.status != 202 {
		t.Fatalf("the replayed confirm: %d %v", r.status, r.body)
	}
	f.expect("a replayed confirmation")

	// A declaration: the income report of the quarter, once it is over,
	// then voided — each a fact of the platform's office.
	q := reports.QuarterOf(e.clock.Now())
	e.clock.set(q.End().Add(time.Hour))
	op := e.loginMFA("operator-1").body["token"].(string)
	e.stepUp(op, "operator-1")
	rep := e.confirmed("POST", "/api/v1/gateway/reports", op, fmt.Sprintf(`{"kind":"income","quarter":%q,"format":"csv"}`, q), "feed-report")
	id, _ := rep.body["report"].(map[string]any)["id"].(string)
	if rep.status != 201 || id == "" {
		t.Fatalf("the income report: %d %v", rep.status, rep.body)
	}
	f.expect("a report", "report.issued")
	e.stepUp(op, "operator-1")
	if r := e.confirmed("POST", "/api/v1/gateway/reports/"+id+"/void", op, `{"reason":"filed again"}`, "feed-void"); r.status != 200 {
		t.Fatalf("void: %d %v", r.status, r.body)
	}
	f.expect("a void", "report.voided")
	if !strings.Contains(f.seen[len(f.seen)-1].Payload, id) || f.seen[len(f.seen)-1].Office != "" {
		t.Fatalf("the void's entry: %+v", f.seen[len(f.seen)-1])
	}

	// Each fact once: no entry twice, numbers without gaps.
	hashes := map[string]bool{}
	for i, e := range f.seen {
		if e.Seq != uint64(i+1) || hashes[e.Hash] {
			t.Fatalf("entry %d: numbered %d, or seen before", i+1, e.Seq)
		}
		hashes[e.Hash] = true
	}
}

// pageOf reads a feed page from an answer.
func pageOf(t *testing.T, r reply) *feed.Page {
	t.Helper()
	raw, _ := json.Marshal(r.body)
	var p feed.Page
	if err := json.Unmarshal(raw, &p); err != nil {
		t.Fatalf("not a page: %v", err)
	}
	return &p
}
