package payouts_test

import (
	"fmt"
	"runtime"
	"syscall"
	"testing"
	"time"

	"cxt/appliance/node"
	"cxt/appliance/payouts"
)

// BenchmarkBatch executes a batch of b.N×1,000 payments to 10,000 workers in
// the state machine alone (no Raft): the ceiling the replicated run is
// measured against (ops/bench -only payouts measures that).
func BenchmarkBatch(b *testing.B) {
	rows := 100_000
	node.TuneRuntime() // as cxt serve runs
	w := newWorld(&testing.T{}, acceptedTaskRules())
	ws := workerIDs("w", 10_000)
	w.ok(cmdSeed, seed{Merchants: []string{"m1"}, Workers: ws, Task: "task-1", AcceptedFen: 1_000_000_000, Full: true})
	w.ok(cmdTopUp, topUp{Merchant: "m1", Fen: 1_000_000_000_000, Ref: "t1"})
	in := make([]payouts.Row, rows)
	for i := range in {
		in[i] = payouts.Row{Worker: ws[i%len(ws)], Task: "task-1", Fen: int64(10_000 + i%50_000)}
	}
	b.ResetTimer()
	for n := range b.N {
		var ru0, ru1 syscall.Rusage
		syscall.Getrusage(0, &ru0)
		start := time.Now()
		id := w.upload("m1", fmt.Sprintf("bench-%d", n), in)
		up := time.Since(start)
		w.run(id)
		took := time.Since(start)
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		syscall.Getrusage(0, &ru1)
		cpu := time.Duration(ru1.Utime.Nano() + ru1.Stime.Nano() - ru0.Utime.Nano() - ru0.Stime.Nano())
		// CPU per payment says more than payments/s on a machine shared
		// with others.
		b.ReportMetric(float64(cpu.Microseconds())/float64(rows), "cpu-µs/payment")
		b.ReportMetric(float64(rows)/took.Seconds(), "payments/s")
		b.ReportMetric(float64(ms.HeapInuse)/(1<<20), "heap-MiB")
		b.Logf("upload %v, execute %v", up, took-up)
	}
}
