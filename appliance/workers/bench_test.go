package workers_test

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"syscall"
	"testing"
	"time"

	"cxt/appliance/merchants"
	"cxt/appliance/node"
	"cxt/appliance/subjects"
	"cxt/appliance/workers"
	"cxt/appliance/workers/workerstest"
	"cxt/crypto/sm"
	"cxt/storage/cluster"
	"cxt/storage/cluster/loopback"
	"cxt/storage/state"
)

// approvedMerchant puts an approved merchant straight into a cluster.
func approvedMerchant(ctx context.Context, n *cluster.Node, id string) error {
	k, fresh, err := subjects.NewKey(n.Keys(), id)
	if err != nil {
		return err
	}
	priv, err := subjects.Seal(k, merchants.PrivateAAD(id), merchants.Private{USCC: id})
	if err != nil {
		return err
	}
	idx := sm.Sum([]byte(id))
	app, _ := json.Marshal(merchants.Application{ID: id, Name: "基准测试有限公司", Model: merchants.Intermediary,
		USCCIndex: hex.EncodeToString(idx[:]), Private: priv, Key: fresh, Applicant: "acct-" + id})
	if _, err := n.ProposeOK(ctx, state.NewCommand(merchants.CmdApply, app, time.Now())); err != nil {
		return err
	}
	rev, _ := json.Marshal(merchants.DirectApproval(id, "bench", "a bench"))
	_, err = n.ProposeOK(ctx, state.NewCommand(merchants.CmdReview, rev, time.Now()))
	return err
}

// BenchmarkBulkRegistration invites files of 10,000 new workers into a
// one-node cluster: validation, blind indexes, keys and sealing, and the
// replicated batches (go run ./ops/bench -only workers measures it through
// the API, next to the raw replicated writes).
func BenchmarkBulkRegistration(b *testing.B) {
	ctx := context.Background()
	node.TuneRuntime() // as cxt serve runs
	c, err := loopback.New(b.TempDir, node.Register)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	if err := c.Start(ctx, 1); err != nil {
		b.Fatal(err)
	}
	leader, err := c.Leader(ctx)
	if err != nil {
		b.Fatal(err)
	}
	n := leader.Node
	if err := approvedMerchant(ctx, n, "m_bench"); err != nil {
		b.Fatal(err)
	}
	const rows = 10000
	files := 0
	var ru0, ru1 syscall.Rusage
	syscall.Getrusage(0, &ru0)
	for b.Loop() {
		b.StopTimer()
		parsed, err := workers.ParseCSV(workerstest.CSV(files*rows, rows))
		if err != nil {
			b.Fatal(err)
		}
		files++
		b.StartTimer()
		iv := &workers.Inviter{Keys: n.Keys(), Now: time.Now(),
			View: func(fn func(*state.ReadTx) error) error {
				if err := n.ReadBarrier(ctx); err != nil {
					return err
				}
				return n.State().View(fn)
			},
			Propose: func(_ bool, cmd *state.Command) ([]byte, error) { return n.ProposeOK(ctx, cmd) },
		}
		rep, err := iv.Invite(ctx, "m_bench", "acct-bench", parsed)
		if err != nil || rep.Created != rows {
			b.Fatalf("%+v %v", rep.Report[:1], err)
		}
	}
	syscall.Getrusage(0, &ru1)
	cpu := time.Duration(ru1.Utime.Nano() + ru1.Stime.Nano() - ru0.Utime.Nano() - ru0.Stime.Nano())
	// CPU per file (making the file included) says more than rows/s on a
	// machine shared with others.
	b.ReportMetric(float64(cpu.Milliseconds())/float64(files), "cpu-ms/file")
	b.ReportMetric(float64(files*rows)/b.Elapsed().Seconds(), "rows/s")
}
