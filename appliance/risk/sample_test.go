package risk_test

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"slices"
	"sort"
	"testing"

	"cxt/appliance/payouts/payoutstest"
	"cxt/appliance/risk"
	"cxt/crypto/sm"
	"cxt/storage/state"
	"cxt/storage/state/statetest"
)

// redo draws a sample again from its record and the population's IDs, by
// the method the record states, without the risk package's code.
func redo(seed string, ids []string, size int) []string {
	s, _ := hex.DecodeString(seed)
	type keyed struct {
		h  []byte
		id string
	}
	var ks []keyed
	for _, id := range ids {
		h := sm.Sum(append(append([]byte{}, s...), []byte(id)...))
		ks = append(ks, keyed{h[:], id})
	}
	sort.Slice(ks, func(i, j int) bool { return bytes.Compare(ks[i].h, ks[j].h) < 0 })
	var out []string
	for i := 0; i < size && i < len(ks); i++ {
		out = append(out, ks[i].id)
	}
	return out
}

func TestASampleIsRedoneFromItsSeedAndThePopulation(t *testing.T) {
	w := newWorld(t)
	var ws []string
	for i := range 20 {
		ws = append(ws, fmt.Sprintf("w%02d", i))
	}
	w.Now = day(3, 1, 9)
	w.ok(payoutstest.CmdSeed, payoutstest.Seed{Merchants: []string{"m1"}, Workers: ws, Task: "task-m1", AcceptedFen: 100_000_00})
	w.ok(payoutstest.CmdTopUp, payoutstest.TopUp{Merchant: "m1", Fen: 1_000_000_00, Ref: "t1"})
	w.pay("m1", day(3, 20, 10), even("w0", 5, 5_000_00)) // March: not April's
	amounts := map[string]int64{}
	for _, wk := range ws {
		amounts[wk] = 1_000_00
	}
	w.pay("m1", day(4, 2, 10), amounts)
	w.pay("m1", day(4, 12, 10), amounts)

	var pop map[string]risk.Item
	w.view(func(tx *state.ReadTx) (err error) {
		pop, err = risk.Population(tx, risk.PopulationPayments, "2026-04")
		return
	})
	if len(pop) != 40 {
		t.Fatalf("April's payments: %d", len(pop))
	}
	ids := slices.Sorted(func(yield func(string) bool) {
		for id := range pop {
			if !yield(id) {
				return
			}
		}
	})
	seed := make([]byte, 32)
	rand.Read(seed)
	var s *risk.Sample
	w.view(func(tx *state.ReadTx) (err error) {
		s, err = risk.NewSample(tx, "smp-1", risk.PopulationPayments, "2026-04", 7, seed, "acct-op")
		return
	})
	w.ok(risk.CmdSampleDraw, s)
	var rec *risk.Sample
	w.view(func(tx *state.ReadTx) (err error) { rec, err = risk.GetSample(tx, "smp-1"); return })
	if rec.Count != 40 || rec.ListSM3 != risk.ListSM3(ids) || rec.Method != risk.Method || len(rec.Items) != 7 {
		t.Fatalf("sample record: %d of %d, %s", len(rec.Items), rec.Count, rec.ListSM3)
	}
	var got []string
	for _, it := range rec.Items {
		got = append(got, it.Ref)
	}
	if want := redo(rec.Seed, ids, rec.Size); !slices.Equal(got, want) {
		t.Fatalf("the sample redone from its seed differs:\n got  %v\n want %v", got, want)
	}
	// Another seed draws another sample (7 of 40: the same one by chance
	// about once in 18 million).
	other := make([]byte, 32)
	rand.Read(other)
	if slices.Equal(redo(hex.EncodeToString(other), ids, 7), got) {
		t.Fatal("two seeds drew one sample")
	}
	// The checklist is the records': accepted work on the task, the signed
	// agreement, and no receipt while the payment is only accepted.
	it := rec.Items[0]
	want := map[string]bool{"proof_documents": false, "acceptance": true, "agreement": true, "receipt": false}
	for _, c := range it.Checklist {
		if present, ok := want[c.Item]; !ok || present != c.Present {
			t.Errorf("checklist %s: %+v", c.Item, c)
		}
		if c.Item == "agreement" && c.Ref != "agr-m1-"+it.Worker {
			t.Errorf("agreement %q", c.Ref)
		}
	}
	if len(it.Checklist) != 4 {
		t.Fatalf("checklist: %+v", it.Checklist)
	}

	// The works accepted in April are a population too: the seeded works
	// were accepted in March.
	w.view(func(tx *state.ReadTx) (err error) {
		pop, err = risk.Population(tx, risk.PopulationTasks, "2026-04")
		return
	})
	if len(pop) != 0 {
		t.Fatalf("April's accepted works: %d", len(pop))
	}
	w.view(func(tx *state.ReadTx) (err error) {
		pop, err = risk.Population(tx, risk.PopulationTasks, "2026-03")
		return
	})
	if len(pop) != 20 || pop["task-m1/w03"].Worker != "w03" {
		t.Fatalf("March's accepted works: %v", pop)
	}
}

func TestASampleFindingIsRecordedOnceUnderTheItemsWorkerAndMerchant(t *testing.T) {
	w := newWorld(t)
	w.Now = day(4, 1, 9)
	w.ok(payoutstest.CmdSeed, payoutstest.Seed{Merchants: []string{"m1"}, Workers: []string{"w1", "w2"}})
	w.ok(payoutstest.CmdTopUp, payoutstest.TopUp{Merchant: "m1", Fen: 1_000_000_00, Ref: "t1"})
	w.pay("m1", day(4, 2, 10), map[string]int64{"w1": 1_000_00, "w2": 2_000_00})
	var s *risk.Sample
	w.view(func(tx *state.ReadTx) (err error) {
		s, err = risk.NewSample(tx, "smp-1", risk.PopulationPayments, "2026-04", 5, make([]byte, 32), "acct-op")
		return
	})
	w.ok(risk.CmdSampleDraw, s)
	if res := w.Send(risk.CmdSampleDraw, s); statetest.Code(res.Err) != "conflict" {
		t.Fatalf("the same sample twice: %v", res.Err)
	}
	item := s.Items[0]
	for _, c := range []struct {
		name string
		rev  risk.ItemReview
		code string
	}{
		{"an issue says what", risk.ItemReview{Sample: "smp-1", Item: 1, Result: risk.ResultIssue, By: "acct-rev"}, "invalid_request"},
		{"no such item", risk.ItemReview{Sample: "smp-1", Item: 3, Result: risk.ResultOK, By: "acct-rev"}, "not_found"},
		{"a known result", risk.ItemReview{Sample: "smp-1", Item: 1, Result: "meh", By: "acct-rev"}, "invalid_request"},
		{"a finding", risk.ItemReview{Sample: "smp-1", Item: 1, Result: risk.ResultIssue, Note: "no proof of the work", By: "acct-rev"}, ""},
		{"a second finding on the item", risk.ItemReview{Sample: "smp-1", Item: 1, Result: risk.ResultOK, By: "acct-rev2"}, "sample_item_reviewed"},
	} {
		if res := w.Send(risk.CmdSampleFinding, c.rev); statetest.Code(res.Err) != c.code {
			t.Errorf("%s: %v, want %q", c.name, res.Err, c.code)
		}
	}
	for _, subject := range []string{"worker/" + item.Worker, "merchant/m1"} {
		var fs []*risk.SubjectFinding
		w.view(func(tx *state.ReadTx) (err error) { fs, err = risk.SubjectFindings(tx, subject); return })
		if len(fs) != 1 || fs[0].Result != risk.ResultIssue || fs[0].Ref != item.Ref || fs[0].Sample != "smp-1" {
			t.Fatalf("%s's findings: %+v", subject, fs)
		}
	}
	var other []*risk.SubjectFinding
	w.view(func(tx *state.ReadTx) (err error) {
		other, err = risk.SubjectFindings(tx, "worker/"+s.Items[1].Worker)
		return
	})
	if len(other) != 0 {
		t.Fatalf("the other worker has findings: %+v", other)
	}
	// No second draw of the month's payments while an item waits for its
	// finding; once every item has one, a new draw is taken.
	var again *risk.Sample
	w.view(func(tx *state.ReadTx) (err error) {
		again, err = risk.NewSample(tx, "smp-2", risk.PopulationPayments, "2026-04", 5, append(make([]byte, 31), 1), "acct-op")
		return
	})
	if res := w.Send(risk.CmdSampleDraw, again); statetest.Code(res.Err) != "sample_open" {
		t.Fatalf("a redraw with an item unreviewed: %v", res.Err)
	}
	w.ok(risk.CmdSampleFinding, risk.ItemReview{Sample: "smp-1", Item: 2, Result: risk.ResultOK, By: "acct-rev"})
	w.ok(risk.CmdSampleDraw, again)
}
