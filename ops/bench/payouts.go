package main

import (
	"context"
	"encoding/json"
	"fmt"
	"runtime"
	"strings"
	"time"

	"cxt/appliance/node"
	"cxt/appliance/payouts"
	"cxt/appliance/payouts/payoutstest"
	"cxt/gateway/feed"
	"cxt/storage/cluster/loopback"
	"cxt/storage/state"
)

// payoutRows is the size of the measured batch; payoutWorkers how many
// workers it pays (ten payments each).
const (
	payoutRows    = 100_000
	payoutWorkers = 10_000
)

// payoutResult is one configuration's measurement.
type payoutResult struct {
	nodes    int
	feed     bool // the cluster speaks the gateway's set: every chunk appends its feed entry
	perSec   float64
	upload   time.Duration
	execute  time.Duration
	heapMiB  float64
	baseline float64 // raw replicated writes/s of this cluster size in this run
}

// payoutBatch measures a batch of payoutRows payments end to end on a fresh
// loopback cluster of nodes: upload, confirm, then every chunk executed by
// the driver through Raft — payee checks, risk, fee, tax from each worker's
// replicated year, ledger posting, payment records, indexes, outbox, audit
// hook — until the batch is executed. Heap is the peak in-use heap
// sampled while it runs.
func payoutBatch(tempDir func() string, nodes int, withFeed bool) (payoutResult, error) {
	res := payoutResult{nodes: nodes, feed: withFeed}
	// The node's own rules: the task check (appliance/tasks) and the fee
	// (appliance/billing, none configured) included.
	rules := node.PayoutRules()
	c, err := loopback.New(tempDir, func(reg *state.Registry) {
		payoutstest.Register(reg, rules)
		if withFeed {
			payoutstest.RegisterGateway(reg)
		}
	})
	if err != nil {
		return res, err
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	if err := c.Start(ctx, nodes); err != nil {
		return res, err
	}
	leader, err := c.Leader(ctx)
	if err != nil {
		return res, err
	}
	propose := func(typ string, body any) error {
		b, _ := json.Marshal(body)
		_, err := leader.ProposeOK(ctx, state.NewCommand(typ, b, time.Now()))
		return err
	}
	ws := make([]string, payoutWorkers)
	for i := range ws {
		ws[i] = fmt.Sprintf("wk-%05d", i)
	}
	for i := 0; i < len(ws); i += 2000 {
		if err := propose(payoutstest.CmdSeed, payoutstest.Seed{Merchants: []string{"m-bench"}, Workers: ws[i:min(len(ws), i+2000)],
			Task: "task-bench", AcceptedFen: 1_000_000_000, Full: true}); err != nil {
			return res, fmt.Errorf("seed: %w", err)
		}
	}
	if err := propose(payoutstest.CmdTopUp, payoutstest.TopUp{Merchant: "m-bench", Fen: 1_000_000_000_000, Ref: "bench"}); err != nil {
		return res, err
	}
	rows := make([]payouts.Row, payoutRows)
	for i := range rows {
		rows[i] = payouts.Row{Worker: ws[i%len(ws)], Task: "task-bench", Fen: int64(10_000 + i%500_000)}
	}
	stop := make(chan struct{})
	peak := make(chan uint64)
	go func() {
		var max uint64
		var ms runtime.MemStats
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			runtime.ReadMemStats(&ms)
			if ms.HeapInuse > max {
				max = ms.HeapInuse
			}
			select {
			case <-stop:
				peak <- max
				return
			case <-t.C:
			}
		}
	}()
	start := time.Now()
	cmds, err := payouts.UploadCommands("pb-bench", "m-bench", "bench", "acct-bench", rows, time.Now())
	if err != nil {
		return res, err
	}
	for _, cmd := range cmds {
		if _, err := leader.ProposeOK(ctx, cmd); err != nil {
			return res, fmt.Errorf("upload: %w", err)
		}
	}
	res.upload = time.Since(start)
	if err := propose(payouts.CmdConfirm, payouts.Confirm{Batch: "pb-bench", By: "acct-bench"}); err != nil {
		return res, err
	}
	d := &payouts.Driver{Node: leader.Node, Leading: func() bool { return true }}
	exec := time.Now()
	if err := d.Execute(ctx, "pb-bench"); err != nil {
		return res, fmt.Errorf("execute: %w", err)
	}
	res.execute = time.Since(exec)
	close(stop)
	res.heapMiB = float64(<-peak) / (1 << 20)
	var b *payouts.Batch
	if err := leader.State().View(func(r *state.ReadTx) (err error) { b, err = payouts.GetBatch(r, "pb-bench"); return }); err != nil {
		return res, err
	}
	if b.Status != payouts.Executed || b.Counts[payouts.Accepted] != payoutRows {
		return res, fmt.Errorf("the batch ended %s with %v", b.Status, b.Counts)
	}
	res.perSec = payoutRows / time.Since(start).Seconds()
	var tip feed.Tip
	if err := leader.State().View(func(r *state.ReadTx) (err error) { tip, err = feed.ReadTip(r, feed.Platform); return }); err != nil {
		return res, err
	}
	if chunks := uint64(payoutRows / payouts.ChunkRows); withFeed && tip.Seq < chunks || !withFeed && tip.Seq != 0 {
		return res, fmt.Errorf("the feed holds %d entries after %d chunks (feed %v)", tip.Seq, chunks, withFeed)
	}
	return res, nil
}

func renderPayouts(results []payoutResult, floors []floorResult) string {
	if len(results) == 0 {
		return ""
	}
	var b strings.Builder
	b.WriteString("\n## Payout batches\n\n")
	fmt.Fprintf(&b, "A batch of %d payments to %d workers (records of their real size: payoutstest.Seed.Full), end to end on a loopback\n", payoutRows, payoutWorkers)
	fmt.Fprintf(&b, "cluster: upload (rows stored once, in chunks of %d),\n", payouts.ChunkRows)
	b.WriteString("confirm, then every chunk executed through Raft — payee checks, the task and its accepted amount, blacklist, monthly limit, balance, tax from each\n")
	b.WriteString("worker's replicated year, one aggregated ledger posting per chunk, a packed record, two index entries and an outbox\n")
	b.WriteString("entry per payment, the audit hook, and — with the feed — the chunk's entry in the tax bureaus' feed (docs/gateway.md).\n")
	b.WriteString("Goal: ≥ 100,000 payments/s on 1 node, ≥ 50,000/s on 3; the feed at most 15 % slower (every cluster writes it since the risk\n")
	b.WriteString("command set, which includes the gateway's: there is no configuration without it left to compare with).\n\n")
	b.WriteString("| nodes | feed | payments/s | upload | execute | peak heap | raw replicated writes/s (1 KiB, 1024 writers) |\n|---|---|---|---|---|---|---|\n")
	var without float64
	for _, r := range results {
		feed := "no"
		if r.feed {
			feed = "yes"
			if r.nodes == 1 && without > 0 {
				feed = fmt.Sprintf("yes (%+.1f %%)", 100*(r.perSec-without)/without)
			}
		} else if r.nodes == 1 {
			without = r.perSec
		}
		fmt.Fprintf(&b, "| %d | %s | %.0f | %s | %s | %.0f MiB | %.0f |\n", r.nodes, feed, r.perSec, r.upload.Round(time.Millisecond), r.execute.Round(time.Millisecond), r.heapMiB, r.baseline)
	}
	if len(floors) > 0 {
		b.WriteString("\nThe store's floor, in the same run (best of 3): the least a payment costs any design whose records are sealed and\n")
		b.WriteString("digested — read the payee (440 bytes) and their year's withholding (64 bytes), write one packed payment record\n")
		b.WriteString("(140 bytes, sequential key) and the withholding back; reads on all cores, nothing decoded; one state, no Raft, ledger,\n")
		b.WriteString("index, outbox, audit or feed (ops/bench/floor.go). Without the payee's read, as if every worker's checks were in memory:\n\n")
		b.WriteString("| | payments/s | CPU µs per payment |\n|---|---|---|\n")
		for _, f := range floors {
			fmt.Fprintf(&b, "| floor (%s) | %.0f | %.1f |\n", f.what, f.perSec, f.cpuUS)
		}
		b.WriteString("| the 1-node goal, 2 cores fully busy | 100000 | ≤ 20.0 |\n")
		b.WriteString("| the 3-node goal, each payment applied 3 times on 2 cores | 50000 | ≤ 13.3 per apply |\n")
	}
	return b.String()
}
