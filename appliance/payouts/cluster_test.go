package payouts_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"sync"
	"testing"
	"time"

	"cxt/appliance/channel"
	"cxt/appliance/payouts"
	"cxt/appliance/payouts/payoutstest"
	"cxt/storage/cluster/loopback"
	"cxt/storage/state"
)

// crashing is a channel whose leader dies around the call: before it (the
// payments are booked, the channel never heard of them), or after it (the
// channel took them, the hand-over is not recorded).
type crashing struct {
	channel.Channel
	mu     sync.Mutex
	rng    *rand.Rand
	kill   func()
	kills  int
	active bool
}

var errDied = errors.New("test: the leader died")

func (c *crashing) Submit(ctx context.Context, orders []channel.Order) ([]channel.Ack, error) {
	c.mu.Lock()
	roll := c.rng.IntN(4)
	active := c.active
	c.mu.Unlock()
	if active && roll == 0 {
		c.died()
		return nil, errDied
	}
	acks, err := c.Channel.Submit(ctx, orders)
	if active && roll == 1 {
		c.died()
		return nil, errDied
	}
	return acks, err
}

func (c *crashing) died() {
	c.mu.Lock()
	c.kills++
	c.mu.Unlock()
	c.kill()
}

func TestACrashingLeaderNeverPaysTwiceNorLosesAPayment(t *testing.T) {
	seed := time.Now().UnixNano()
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(uint64(seed), 2))
	rules := defaultRules()
	c, err := loopback.New(t.TempDir, func(reg *state.Registry) {
		payoutstest.Register(reg, rules)
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if err := c.Start(ctx, 3); err != nil {
		t.Fatal(err)
	}
	propose := func(typ string, body any) []byte {
		t.Helper()
		for {
			l, err := c.Leader(ctx)
			if err != nil {
				t.Fatal(err)
			}
			v, err := l.ProposeOK(ctx, state.NewCommand(typ, mustJSON(body), time.Now()))
			var rej *state.Rejection
			if errors.As(err, &rej) {
				t.Fatalf("%s: %v", typ, err)
			} else if err == nil {
				return v
			}
		}
	}
	ws := workerIDs("w", 30)
	propose(cmdSeed, seed_(ws))
	propose(cmdTopUp, topUp{Merchant: "m1", Fen: 1_000_000_000, Ref: "t1"})
	sb, err := channel.NewSandbox("", seed)
	if err != nil {
		t.Fatal(err)
	}
	sb.FailRate, sb.ReturnRate, sb.Latency, sb.ReturnDelay = 0.05, 0.05, 0, 0
	var batches []string
	for b := range 4 {
		rows := make([]payouts.Row, 50)
		for i := range rows {
			rows[i] = payouts.Row{Worker: ws[rng.IntN(len(ws))], Task: "task-1", Amount: fmt.Sprintf("%d.%02d", 500+rng.IntN(9000), rng.IntN(100))}
		}
		cmds, err := payouts.UploadCommands(fmt.Sprintf("pb-%d", b), "m1", fmt.Sprintf("r%d", b), "acct-op", rows, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		for _, cmd := range cmds {
			l, _ := c.Leader(ctx)
			if _, err := l.ProposeOK(ctx, cmd); err != nil {
				t.Fatal(err)
			}
		}
		propose(payouts.CmdConfirm, payouts.Confirm{Batch: fmt.Sprintf("pb-%d", b), By: "acct-admin"})
		batches = append(batches, fmt.Sprintf("pb-%d", b))
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	ch := &crashing{Channel: sb, rng: rng, active: true}
	for round := 0; round < 40; round++ {
		l, err := c.Leader(ctx)
		if err != nil {
			t.Fatal(err)
		}
		ch.kill = func() { c.Stop(l) }
		d := &payouts.Driver{Node: l.Node, Leading: func() bool { return true }, Channel: ch, Log: log, Page: 9,
			Payee: func(*state.ReadTx, string) (channel.Payee, error) {
				return channel.Payee{Name: "n", Card: "6222000011112222"}, nil
			}}
		// Two batches' chunks race on one leader: their workers overlap.
		var wg sync.WaitGroup
		for _, b := range batches[:2] {
			wg.Add(1)
			go func() { defer wg.Done(); d.Execute(ctx, b) }()
		}
		wg.Wait()
		_ = d.Round(ctx)
		for _, n := range c.Nodes {
			if n.Node == nil {
				if err := c.Restart(n); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	ch.mu.Lock()
	ch.active = false
	kills := ch.kills
	ch.mu.Unlock()
	for settled := 0; settled < 3; {
		l, err := c.Leader(ctx)
		if err != nil {
			t.Fatal(err)
		}
		d := &payouts.Driver{Node: l.Node, Leading: func() bool { return true }, Channel: ch, Log: log, Page: 50,
			Payee: func(*state.ReadTx, string) (channel.Payee, error) {
				return channel.Payee{Name: "n", Card: "6222000011112222"}, nil
			}}
		if err := d.Round(ctx); err == nil {
			settled++
		}
	}
	if _, err := c.Converge(ctx); err != nil {
		t.Fatal(err)
	}
	t.Logf("the leader died %d times around the channel call", kills)
	if kills == 0 {
		t.Fatal("no leader died: the test proved nothing")
	}
	for _, n := range c.Running() {
		counts := map[payouts.Status]int{}
		err := n.State().View(func(r *state.ReadTx) error {
			return r.Scan(payouts.PaymentBucket, func(k, v []byte, openErr error) error {
				p, err := payouts.GetPayment(r, string(k))
				if err != nil {
					return err
				}
				counts[p.Status]++
				if !p.Status.Final() {
					t.Errorf("%s: %s is still %s", n.ID, p.ID, p.Status)
				}
				if paid := sb.Payouts(p.ID); paid > 1 || (p.Status == payouts.Paid || p.Status == payouts.Returned) != (paid == 1) {
					t.Errorf("%s: %s is %s and the bank paid it %d times", n.ID, p.ID, p.Status, paid)
				}
				return nil
			})
		})
		if err != nil {
			t.Fatal(err)
		}
		if counts[payouts.Paid]+counts[payouts.Failed]+counts[payouts.Returned] != 200 {
			t.Fatalf("%s: %v", n.ID, counts)
		}
		audit(t, n.State(), rules)
	}
}
