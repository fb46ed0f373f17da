package payouts_test

import (
	"fmt"
	"strings"
	"testing"

	"cxt/appliance/node"
	"cxt/appliance/payouts"
	"cxt/appliance/workers"
	"cxt/storage/state"
)

// acceptedTaskRules are the default rules with the node's task check: a
// payment references the worker's accepted work on the merchant's task.
func acceptedTaskRules() *payouts.Rules {
	rules := defaultRules()
	rules.Task = node.PayoutRules().Task
	return rules
}

// A chunk reads its workers' records ahead on all cores, but writes only
// what its rows used: a withholding state only for the workers it paid —
// none for an unknown worker or one whose row the task check refused,
// whose archives would otherwise count the year as paid.
func TestAChunkWritesTheWithholdingOnlyOfTheWorkersItPays(t *testing.T) {
	w := newWorld(t, acceptedTaskRules())
	paid, refused := workerIDs("wp", 40), workerIDs("wr", 40)
	w.ok(cmdSeed, seed{Merchants: []string{"m1"}, Workers: append(append([]string{}, paid...), refused...), Task: "task-1", AcceptedFen: 1_000_000})
	w.ok(cmdTopUp, topUp{Merchant: "m1", Fen: 1_000_000_000, Ref: "t1"})
	var rows []payouts.Row
	for _, id := range paid {
		rows = append(rows, payouts.Row{Worker: id, Task: "task-1", Fen: 10_000})
	}
	for _, id := range refused {
		rows = append(rows, payouts.Row{Worker: id, Task: "task-none", Fen: 10_000})
	}
	for _, id := range workerIDs("nobody", 40) {
		rows = append(rows, payouts.Row{Worker: id, Task: "task-1", Fen: 10_000})
	}
	b := w.run(w.upload("m1", "mixed", rows))
	if b.Counts[payouts.Accepted] != len(paid) || b.Counts[payouts.Rejected]+b.Counts[payouts.OnHold] != len(rows)-len(paid) {
		t.Fatalf("the batch ended with %v", b.Counts)
	}
	var held []string
	w.view(func(r *state.ReadTx) error {
		return r.ForEach(payouts.TaxBucket, func(k, _ []byte) error { held = append(held, string(k)); return nil })
	})
	if len(held) != len(paid) {
		t.Fatalf("%d withholding states for %d workers paid: %v", len(held), len(paid), held)
	}
	for _, k := range held {
		if !strings.HasPrefix(k, "wp") {
			t.Errorf("a withholding state for %s, whom the batch did not pay", k)
		}
	}
	if got := fmt.Sprint(w.payment(payouts.PaymentID(b.ID, len(paid)+1)).Code); got != "task_not_found" {
		t.Errorf("the first refused row: %s", got)
	}
}

// The benchmarks seed workers and works at their real size (Seed.Full):
// a batch pays them exactly as it pays the small records the other tests
// seed, and a worker's record is about what onboarding leaves.
func TestAFullSeedIsPaidAsAPlainOne(t *testing.T) {
	ws := workerIDs("w", 30)
	var rows []payouts.Row
	for i, id := range append(ws, "w-unverified", "w-unsigned", "nobody") {
		rows = append(rows, payouts.Row{Worker: id, Task: "task-1", Fen: int64(300_000 + 7_919*i)})
	}
	pay := func(full bool) (*world, *payouts.Batch) {
		w := newWorld(t, acceptedTaskRules())
		w.ok(cmdSeed, seed{Merchants: []string{"m1"}, Workers: ws, Unverified: []string{"w-unverified"}, Unsigned: []string{"w-unsigned"},
			Task: "task-1", AcceptedFen: 10_000_000, Full: full})
		w.ok(cmdTopUp, topUp{Merchant: "m1", Fen: 1_000_000_000, Ref: "t1"})
		return w, w.run(w.upload("m1", "b", rows))
	}
	plainW, plain := pay(false)
	fullW, full := pay(true)
	if fmt.Sprint(plain.Counts) != fmt.Sprint(full.Counts) || plain.Counts[payouts.Accepted] != len(ws) {
		t.Fatalf("plain %v, full %v", plain.Counts, full.Counts)
	}
	for i := range rows {
		p, f := plainW.payment(payouts.PaymentID(plain.ID, i+1)), fullW.payment(payouts.PaymentID(full.ID, i+1))
		if p.Status != f.Status || p.Code != f.Code || p.IITFen != f.IITFen || p.NetFen != f.NetFen {
			t.Errorf("row %d: plain %s %s %d, full %s %s %d", i+1, p.Status, p.Code, p.IITFen, f.Status, f.Code, f.IITFen)
		}
	}
	var size int
	fullW.view(func(r *state.ReadTx) error {
		v, err := r.Get(workers.Bucket, []byte(ws[0]))
		size = len(v)
		return err
	})
	t.Logf("a full worker: %d bytes", size)
	if size < 900 {
		t.Errorf("a full worker's record is %d bytes", size)
	}
}
