package payouts_test

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"testing"
	"time"

	"cxt/appliance/channel"
	"cxt/appliance/payouts"
	"cxt/storage/state"
	"cxt/storage/state/statetest"
)

// A whole month of one platform: two merchants top up through the month,
// upload batches — one of 10,000 rows — with rows the checks reject and
// rows held for balance, upload some twice and confirm some twice; the
// bank pays, fails and, days later, returns; held rows are released after
// the next top-up. At the end the independent auditor rebuilds the books.
func TestAWholeMonth(t *testing.T) {
	seedN := time.Now().UnixNano()
	t.Logf("seed %d", seedN)
	rng := rand.New(rand.NewPCG(uint64(seedN), 3))
	w := newWorld(t, nil)
	ws := workerIDs("w", 400)
	w.ok(cmdSeed, seed{Merchants: []string{"m1", "m2"}, Workers: ws, Unverified: []string{"u1"}, Unsigned: []string{"s1"}})
	w.ok(payouts.CmdBlock, payouts.Block{Worker: ws[13], Reason: "identity fraud reported"})
	start := time.Date(2026, 12, 1, 9, 0, 0, 0, payouts.China)
	w.Now = start
	bank, err := channel.NewSandbox("", seedN)
	if err != nil {
		t.Fatal(err)
	}
	bank.FailRate, bank.ReturnRate, bank.Latency, bank.ReturnDelay = 0.02, 0.02, time.Hour, 3*24*time.Hour
	bank.Now = func() time.Time { return w.Now }
	d := &payouts.Driver{Node: &proposer{w: w}, Leading: func() bool { return true }, Channel: bank, Page: 500,
		Payee: func(*state.ReadTx, string) (channel.Payee, error) {
			return channel.Payee{Name: "n", Card: "6222000011112222"}, nil
		},
		Now: func() time.Time { return w.Now }, Log: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))}
	batches := 0
	rowsOf := func(n int) []payouts.Row {
		rows := make([]payouts.Row, n)
		for i := range rows {
			worker := ws[rng.IntN(len(ws))]
			switch rng.IntN(200) {
			case 0:
				worker = "ghost" // rejected: unknown
			case 1:
				worker = "u1" // held: unverified
			case 2:
				worker = "s1" // held: no agreement
			}
			rows[i] = payouts.Row{Worker: worker, Task: "task-1", Amount: fmt.Sprintf("%d.%02d", 50+rng.IntN(2000), rng.IntN(100))}
		}
		return rows
	}
	var ids []string
	for day := 0; day < 31; day++ {
		w.Now = start.Add(time.Duration(day) * 24 * time.Hour)
		m := []string{"m1", "m2"}[day%2]
		if day%3 == 0 {
			w.ok(cmdTopUp, topUp{Merchant: m, Fen: int64(5_000_000_00 + rng.IntN(5_000_000_00)), Ref: fmt.Sprintf("d%d", day)})
		}
		n := 200 + rng.IntN(300)
		if day == 10 {
			n = 10_000
		}
		batches++
		ref := fmt.Sprintf("dec-%d", day)
		id := w.upload(m, ref, rowsOf(n))
		ids = append(ids, id)
		// The same file uploaded again is refused; so is a second confirm.
		cmds, err := payouts.UploadCommands("pb-again", m, ref, "acct-op", rowsOf(3), w.Now)
		if err != nil {
			t.Fatal(err)
		}
		if res := w.Apply(cmds[0]); statetest.Code(res.Err) != "batch_duplicate" {
			t.Fatalf("day %d: a repeated upload: %+v", day, res)
		}
		w.ok(payouts.CmdConfirm, payouts.Confirm{Batch: id, By: "acct-admin"})
		if res := w.Send(payouts.CmdConfirm, payouts.Confirm{Batch: id, By: "acct-admin"}); statetest.Code(res.Err) != "batch_status" {
			t.Fatalf("day %d: a replayed confirm: %+v", day, res)
		}
		for hour := 0; hour < 4; hour++ {
			w.Now = w.Now.Add(2 * time.Hour)
			if err := d.Round(context.Background()); err != nil {
				t.Fatal(err)
			}
		}
		if day%7 == 6 {
			for _, b := range ids {
				if w.batch(b).Counts[payouts.OnHold] > 0 {
					w.ok(payouts.CmdRelease, payouts.Release{Batch: b})
				}
			}
		}
	}
	// The month's end: a last top-up, the holds released; the returns
	// arrive days later.
	for _, m := range []string{"m1", "m2"} {
		w.ok(cmdTopUp, topUp{Merchant: m, Fen: 20_000_000_00, Ref: "end-" + m})
	}
	for _, b := range ids {
		if w.batch(b).Counts[payouts.OnHold] > 0 {
			w.ok(payouts.CmdRelease, payouts.Release{Batch: b})
		}
	}
	w.Now = start.Add(35 * 24 * time.Hour)
	for range 3 {
		if err := d.Round(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	// What stays held (unverified, unsigned) is given up: every payment
	// ends in one final state.
	var held []string
	w.view(func(r *state.ReadTx) error {
		return r.Scan(payouts.PaymentBucket, func(k, v []byte, openErr error) error {
			p, err := payouts.GetPayment(r, string(k))
			if err == nil && p.Status == payouts.OnHold {
				held = append(held, p.ID)
			}
			return err
		})
	})
	for _, id := range held {
		w.ok(payouts.CmdCancel, payouts.Cancel{Payment: id, Reason: "the worker never signed"})
	}
	total := map[payouts.Status]int{}
	for _, b := range ids {
		for s, n := range w.batch(b).Counts {
			total[s] += n
		}
	}
	t.Logf("%d batches: %v", batches, total)
	if total[payouts.Rejected] == 0 || total[payouts.Cancelled] == 0 || total[payouts.Paid] < 10_000 || total[payouts.Failed] == 0 || total[payouts.Returned] == 0 {
		t.Fatalf("the month should show every outcome: %v", total)
	}
	if total[payouts.Accepted]+total[payouts.Submitted]+total[payouts.OnHold] != 0 || total[payouts.Cancelled] != len(held) {
		t.Fatalf("payments still with the channel at the month's end: %v", total)
	}
	audit(t, w.State, w.rules)
}
