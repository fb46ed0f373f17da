package invoices_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"cxt/appliance/invoices"
	"cxt/appliance/merchants"
	"cxt/appliance/payouts"
	"cxt/appliance/payouts/payoutstest"
	"cxt/appliance/tax"
	"cxt/storage/state"
	"cxt/storage/state/statetest"
)

// The tests put merchants, workers and top-ups straight into a state
// machine (payoutstest), pay through the payouts' own commands, and ask
// for invoices with the invoices' commands, as the API and the driver do.

const cmdModel = "test.model"

// model sets merchants' operating models (onboarding's choice).
type model struct {
	Models map[string]merchants.OperatingModel `json:"models"`
}

func applyModel(tx *state.Tx, cmd *state.Command) ([]byte, error) {
	var in model
	if err := json.Unmarshal(cmd.Body, &in); err != nil {
		return nil, err
	}
	for id, mo := range in.Models {
		m, err := merchants.Get(tx, id)
		if err != nil {
			return nil, err
		}
		m.Model = mo
		v, _ := json.Marshal(m)
		if err := tx.Put(merchants.Bucket, []byte(id), v); err != nil {
			return nil, err
		}
	}
	return nil, nil
}

type world struct {
	*statetest.Machine
	t   *testing.T
	seq int
	log []*state.Command // every command applied, to replay
}

// feeBP is the test merchants' fee: 6.5 % of each payment, rounded half up
// to the fen — odd enough that totals are checked to the fen.
const feeBP = 650

func rules() *payouts.Rules {
	return &payouts.Rules{Tax: tax.Default(), Location: "city", Channel: "sandbox", MonthlyLimitFen: 0,
		Fee: func(payouts.Getter, string, time.Time) (func(int64) int64, string, error) {
			return func(fen int64) int64 { return (fen*feeBP*2 + 10_000) / 20_000 }, "test-v1", nil
		},
		Reversed: invoices.PaymentReversed}
}

func register(reg *state.Registry) {
	payoutstest.RegisterGateway(reg)
	payoutstest.Register(reg, rules())
	invoices.Register(reg)
	reg.HandleFrom(state.MoneySet, cmdModel, applyModel)
}

var testNow = time.Date(2026, 3, 10, 10, 0, 0, 0, payouts.China)

func newWorld(t *testing.T) *world {
	m := statetest.New(t, register)
	m.Now = testNow
	return &world{Machine: m, t: t}
}

// apply applies a command and keeps it for a replay.
func (w *world) apply(cmd *state.Command) state.Result {
	w.t.Helper()
	w.log = append(w.log, cmd)
	return w.Apply(cmd)
}

func (w *world) send(typ string, body any) state.Result {
	w.t.Helper()
	b, err := json.Marshal(body)
	if err != nil {
		w.t.Fatal(err)
	}
	return w.apply(state.NewCommand(typ, b, w.Now))
}

func (w *world) ok(typ string, body any) []byte {
	w.t.Helper()
	res := w.send(typ, body)
	if res.Err != nil {
		w.t.Fatalf("%s: %v", typ, res.Err)
	}
	return res.Value
}

func (w *world) refused(code, typ string, body any) {
	w.t.Helper()
	res := w.send(typ, body)
	if got := statetest.Code(res.Err); got != code {
		w.t.Fatalf("%s: refusal %q (%v), want %q", typ, got, res.Err, code)
	}
}

// setup makes merchants with the given models, workers w0000… linked to
// all, and tops each merchant up.
func (w *world) setup(models map[string]merchants.OperatingModel, workers int, offices map[string]string) {
	w.t.Helper()
	var ms []string
	for m := range models {
		ms = append(ms, m)
	}
	w.ok(payoutstest.CmdSeed, payoutstest.Seed{Merchants: ms, Workers: workerIDs(workers), Offices: offices})
	w.ok(cmdModel, model{Models: models})
	for _, m := range ms {
		w.ok(payoutstest.CmdTopUp, payoutstest.TopUp{Merchant: m, Fen: 100_000_000, Ref: "top-" + m})
	}
}

func workerIDs(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("w%04d", i)
	}
	return out
}

// pay runs a batch of merchant's paying each row and returns its payments'
// IDs in row order.
func (w *world) pay(merchant string, rows ...payouts.Row) []string {
	w.t.Helper()
	w.seq++
	id := fmt.Sprintf("pb-%s-%d", merchant, w.seq)
	for i := range rows {
		rows[i].No = i + 1
		if rows[i].Task == "" {
			rows[i].Task = "task-1"
		}
	}
	cmds, err := payouts.UploadCommands(id, merchant, fmt.Sprintf("ref-%d", w.seq), "acct-op", rows, w.Now)
	if err != nil {
		w.t.Fatal(err)
	}
	for _, c := range cmds {
		if res := w.apply(c); res.Err != nil {
			w.t.Fatalf("upload: %v", res.Err)
		}
	}
	w.ok(payouts.CmdConfirm, payouts.Confirm{Batch: id, By: "acct-admin"})
	for {
		var b *payouts.Batch
		w.view(func(r *state.ReadTx) (err error) { b, err = payouts.GetBatch(r, id); return })
		if b.Status != payouts.Executing {
			break
		}
		w.ok(payouts.CmdExecute, payouts.Chunk{Batch: id, Chunk: b.Done})
	}
	out := make([]string, len(rows))
	for i := range rows {
		out[i] = payouts.PaymentID(id, i+1)
	}
	return out
}

// settle hands the outbox to the channel and reports each payment paid.
func (w *world) settle() {
	w.t.Helper()
	var items []payouts.SentItem
	w.view(func(r *state.ReadTx) (err error) { items, err = payouts.Outbox(r, 0, 10_000); return })
	if len(items) == 0 {
		return
	}
	w.ok(payouts.CmdSent, payouts.Sent{Channel: "sandbox", Items: items})
	res := payouts.Results{Channel: "sandbox", Cursor: fmt.Sprintf("c%d", w.seq)}
	for _, it := range items {
		res.Items = append(res.Items, payouts.Result{Payment: it.Payment, Status: payouts.Paid, At: w.Now})
	}
	w.ok(payouts.CmdResults, res)
}

// returned reports payments returned (退汇) by the channel.
func (w *world) returned(cursor string, ids ...string) payouts.Outcome {
	w.t.Helper()
	res := payouts.Results{Channel: "sandbox", Cursor: cursor}
	for _, id := range ids {
		res.Items = append(res.Items, payouts.Result{Payment: id, Status: payouts.Returned, Reason: "account closed", At: w.Now})
	}
	var out payouts.Outcome
	if err := json.Unmarshal(w.ok(payouts.CmdResults, res), &out); err != nil {
		w.t.Fatal(err)
	}
	return out
}

func (w *world) payment(id string) *payouts.Payment {
	w.t.Helper()
	var p *payouts.Payment
	w.view(func(r *state.ReadTx) (err error) { p, err = payouts.GetPayment(r, id); return })
	return p
}

func (w *world) invoice(id string) *invoices.Invoice {
	w.t.Helper()
	var inv *invoices.Invoice
	w.view(func(r *state.ReadTx) (err error) { inv, err = invoices.Get(r, id); return })
	return inv
}

// request asks for an invoice and returns it.
func (w *world) request(in invoices.Request) *invoices.Invoice {
	w.t.Helper()
	if in.Seller == "" {
		in.Seller, in.SellerTaxID = "灵活用工平台有限公司", "91110000MA01ABCD2X"
	}
	if in.Buyer == "" {
		in.Buyer, in.BuyerTaxID = "商户 "+in.Merchant, "91310000MA1FL0000K"
	}
	var inv invoices.Invoice
	if err := json.Unmarshal(w.ok(invoices.CmdRequest, in), &inv); err != nil {
		w.t.Fatal(err)
	}
	return &inv
}

func (w *world) view(fn func(*state.ReadTx) error) {
	w.t.Helper()
	if err := w.State.View(fn); err != nil {
		w.t.Fatal(err)
	}
}

func fen(v int64) *int64 { return &v }

// proposer is the world as the driver proposes to it; drop, if set, loses
// a command after it was decided on, as a leader that stops would.
type proposer struct {
	w    *world
	drop func(*state.Command) bool
}

func (p *proposer) ProposeOK(_ context.Context, cmd *state.Command) ([]byte, error) {
	if p.drop != nil && p.drop(cmd) {
		return nil, errors.New("leader stopped")
	}
	res := p.w.apply(cmd)
	if res.Err != nil {
		return nil, res.Err
	}
	return res.Value, nil
}

func (p *proposer) State() *state.State { return p.w.State }
