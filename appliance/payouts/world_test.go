package payouts_test

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"cxt/appliance/ledger"
	"cxt/appliance/payouts"
	"cxt/appliance/payouts/payoutstest"
	"cxt/appliance/tax"
	"cxt/storage/state"
	"cxt/storage/state/statetest"
)

// The domain tests put the parties' records as their packages store them
// (the API tests make them through onboarding), top merchants up with a
// posting, and drive batches through the commands.

const (
	cmdSeed  = payoutstest.CmdSeed
	cmdTopUp = payoutstest.CmdTopUp
)

type (
	seed  = payoutstest.Seed
	topUp = payoutstest.TopUp
)

// world is a state machine with the parties' buckets, the payouts, and
// the test commands.
type world struct {
	*statetest.Machine
	t     *testing.T
	rules *payouts.Rules
	seq   int
}

func newWorld(t *testing.T, rules *payouts.Rules) *world {
	return newWorldOf(t, rules, nil)
}

// newWorldWith is a world with more test commands.
func newWorldWith(t *testing.T, more func(*state.Registry)) *world { return newWorldOf(t, nil, more) }

func newWorldOf(t *testing.T, rules *payouts.Rules, more func(*state.Registry)) *world {
	if rules == nil {
		rules = defaultRules()
	}
	m := statetest.New(t, func(reg *state.Registry) {
		if more != nil {
			more(reg)
		}
		payoutstest.Register(reg, rules)
	})
	m.Now = time.Date(2026, 3, 10, 10, 0, 0, 0, payouts.China)
	return &world{Machine: m, t: t, rules: rules}
}

func defaultRules() *payouts.Rules {
	return &payouts.Rules{Tax: tax.Default(), Location: "city", Channel: "sandbox", MonthlyLimitFen: payouts.DefaultMonthlyLimitFen}
}

func (w *world) ok(typ string, body any) []byte {
	w.t.Helper()
	res := w.Send(typ, body)
	if res.Err != nil {
		w.t.Fatalf("%s: %v", typ, res.Err)
	}
	return res.Value
}

func workerIDs(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s%04d", prefix, i)
	}
	return out
}

// upload stores a batch of rows and returns its ID.
func (w *world) upload(merchant, ref string, rows []payouts.Row) string {
	w.t.Helper()
	w.seq++
	id := fmt.Sprintf("pb-%s-%d", merchant, w.seq)
	cmds, err := payouts.UploadCommands(id, merchant, ref, "acct-op", rows, w.Now)
	if err != nil {
		w.t.Fatal(err)
	}
	for _, c := range cmds {
		if res := w.Apply(c); res.Err != nil {
			w.t.Fatalf("upload %s: %v", c.Type, res.Err)
		}
	}
	return id
}

// run confirms a batch and executes every chunk, as the driver would.
func (w *world) run(batch string) *payouts.Batch {
	w.t.Helper()
	w.ok(payouts.CmdConfirm, payouts.Confirm{Batch: batch, By: "acct-admin"})
	return w.execute(batch)
}

func (w *world) execute(batch string) *payouts.Batch {
	w.t.Helper()
	for {
		b := w.batch(batch)
		if b.Status != payouts.Executing {
			return b
		}
		w.ok(payouts.CmdExecute, payouts.Chunk{Batch: batch, Chunk: b.Done})
	}
}

func (w *world) batch(id string) *payouts.Batch {
	w.t.Helper()
	var b *payouts.Batch
	w.view(func(r *state.ReadTx) (err error) { b, err = payouts.GetBatch(r, id); return })
	return b
}

func (w *world) payment(id string) *payouts.Payment {
	w.t.Helper()
	var p *payouts.Payment
	w.view(func(r *state.ReadTx) (err error) { p, err = payouts.GetPayment(r, id); return })
	return p
}

func (w *world) balance(account string) int64 {
	w.t.Helper()
	var b int64
	w.view(func(r *state.ReadTx) (err error) { b, err = ledger.Balance(r, account); return })
	return b
}

func (w *world) view(fn func(*state.ReadTx) error) {
	w.t.Helper()
	if err := w.State.View(fn); err != nil {
		w.t.Fatal(err)
	}
}

var testNow = time.Date(2026, 3, 10, 10, 0, 0, 0, payouts.China)

func rowsFor(ws []string, fen int64) []payouts.Row {
	rows := make([]payouts.Row, len(ws))
	for i, wk := range ws {
		rows[i] = payouts.Row{No: i + 1, Worker: wk, Task: "task-1", Fen: fen}
	}
	return rows
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}
