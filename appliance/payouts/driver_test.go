package payouts_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"testing"
	"time"

	"cxt/appliance/channel"
	"cxt/appliance/payouts"
	"cxt/storage/state"
)

// proposer applies commands to the world's state machine, failing the
// commands its fail func picks — a leader that stopped after the channel
// call and before its record.
type proposer struct {
	w    *world
	fail func(cmd *state.Command) bool
}

func (p *proposer) State() *state.State { return p.w.State }

func (p *proposer) ProposeOK(_ context.Context, cmd *state.Command) ([]byte, error) {
	if p.fail != nil && p.fail(cmd) {
		return nil, errors.New("test: the leader stopped")
	}
	res := p.w.Apply(cmd)
	if res.Err != nil {
		return nil, res.Err
	}
	return res.Value, nil
}

func TestTheDriverPaysEachPaymentOnceThroughCrashesAndReturns(t *testing.T) {
	seed := time.Now().UnixNano()
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(uint64(seed), 1))
	w := newWorld(t, nil)
	ws := workerIDs("w", 40)
	w.ok(cmdSeed, seed_(ws))
	w.ok(cmdTopUp, topUp{Merchant: "m1", Fen: 100_000_000, Ref: "t1"})
	clock := w.Now
	sb, err := channel.NewSandbox(t.TempDir()+"/bank.jsonl", seed)
	if err != nil {
		t.Fatal(err)
	}
	sb.FailRate, sb.ReturnRate, sb.Latency, sb.ReturnDelay = 0.1, 0.1, time.Second, time.Hour
	sb.Now = func() time.Time { return clock }
	p := &proposer{w: w}
	d := &payouts.Driver{Node: p, Leading: func() bool { return true }, Channel: sb, Page: 7,
		Payee: func(_ *state.ReadTx, worker string) (channel.Payee, error) {
			return channel.Payee{Name: "n-" + worker, Card: "6222" + worker}, nil
		},
		Now: func() time.Time { return clock }, Log: slog.New(slog.NewTextHandler(os.Stderr, nil))}
	for b := range 3 {
		rows := make([]payouts.Row, 0, 60)
		for i := range 60 {
			rows = append(rows, payouts.Row{Worker: ws[rng.IntN(len(ws))], Task: "task-1", Amount: fmt.Sprintf("%d.%02d", 100+rng.IntN(5000), rng.IntN(100))})
			_ = i
		}
		id := w.upload("m1", fmt.Sprintf("b%d", b), rows)
		w.ok(payouts.CmdConfirm, payouts.Confirm{Batch: id, By: "acct-admin"})
	}
	// Rounds in which the leader stops at random between the channel
	// call and its record, or before the results are recorded.
	for round := range 60 {
		p.fail = func(cmd *state.Command) bool {
			return (cmd.Type == payouts.CmdSent || cmd.Type == payouts.CmdResults) && rng.IntN(3) == 0
		}
		_ = d.Round(context.Background())
		clock = clock.Add(time.Duration(rng.IntN(120)) * time.Minute)
		_ = round
	}
	p.fail = nil
	clock = clock.Add(48 * time.Hour)
	for range 3 {
		if err := d.Round(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	counts := map[payouts.Status]int{}
	w.view(func(r *state.ReadTx) error {
		return r.Scan(payouts.PaymentBucket, func(k, v []byte, openErr error) error {
			pm, err := payouts.GetPayment(r, string(k))
			if err != nil {
				return err
			}
			counts[pm.Status]++
			if !pm.Status.Final() {
				t.Errorf("%s is still %s", pm.ID, pm.Status)
			}
			if n := sb.Payouts(pm.ID); n > 1 || (pm.Status == payouts.Paid || pm.Status == payouts.Returned) != (n == 1) {
				t.Errorf("%s is %s and the bank paid it %d times", pm.ID, pm.Status, n)
			}
			return nil
		})
	})
	if counts[payouts.Paid] == 0 || counts[payouts.Failed] == 0 || counts[payouts.Returned] == 0 {
		t.Fatalf("the run should see payments paid, failed and returned: %v", counts)
	}
	if sb.Orders() != counts[payouts.Paid]+counts[payouts.Failed]+counts[payouts.Returned] {
		t.Fatalf("the bank took %d orders for %v", sb.Orders(), counts)
	}
	t.Logf("payments: %v", counts)
	audit(t, w.State, w.rules)
}

func seed_(ws []string) seed { return seed{Merchants: []string{"m1"}, Workers: ws} }
