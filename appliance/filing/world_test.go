package filing_test

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"cxt/appliance/filing"
	"cxt/appliance/ledger"
	"cxt/appliance/payouts"
	"cxt/appliance/payouts/payoutstest"
	"cxt/appliance/tax"
	"cxt/storage/state"
	"cxt/storage/state/statetest"
)

// world is a state machine with the parties, the payouts and the filing.
type world struct {
	*statetest.Machine
	t       *testing.T
	seq     int
	holdsOK bool // pay may leave rows held or rejected
}

const office = "office-test"

// cmdPost books any posting: what a bug, or a hand at the books, could.
const cmdPost = "test.post"

func newWorld(t *testing.T) *world {
	rules := &payouts.Rules{Tax: tax.Default(), Location: "city", Channel: "sandbox", MonthlyLimitFen: 0} // no risk limit: a month above 100,000.00 shows VAT
	m := statetest.New(t, func(reg *state.Registry) {
		payoutstest.Register(reg, rules)
		filing.Register(reg, &filing.Rules{Tax: tax.Default(), Office: office})
		reg.HandleFrom(state.FilingSet, cmdPost, func(tx *state.Tx, cmd *state.Command) ([]byte, error) {
			var p ledger.Posting
			if err := json.Unmarshal(cmd.Body, &p); err != nil {
				return nil, err
			}
			return nil, ledger.Post(tx, &p)
		})
	})
	m.Now = time.Date(2026, 1, 5, 10, 0, 0, 0, payouts.China)
	return &world{Machine: m, t: t}
}

func (w *world) ok(typ string, body any) []byte {
	w.t.Helper()
	res := w.Send(typ, body)
	if res.Err != nil {
		w.t.Fatalf("%s: %v", typ, res.Err)
	}
	return res.Value
}

// refused sends a command and wants it refused with code.
func (w *world) refused(code, typ string, body any) *state.Rejection {
	w.t.Helper()
	res := w.Send(typ, body)
	if statetest.Code(res.Err) != code {
		w.t.Fatalf("%s: want %s, got %+v", typ, code, res.Err)
	}
	return res.Err
}

// pay uploads a batch of rows (worker, yuan) for m1, confirms it and runs
// every chunk; it returns the payment IDs in row order.
func (w *world) pay(rows ...string) []string {
	w.t.Helper()
	w.seq++
	id := fmt.Sprintf("pb-%d", w.seq)
	var rs []payouts.Row
	for i := 0; i+1 < len(rows); i += 2 {
		rs = append(rs, payouts.Row{Worker: rows[i], Task: "task-1", Amount: rows[i+1]})
	}
	cmds, err := payouts.UploadCommands(id, "m1", id, "acct-op", rs, w.Now)
	if err != nil {
		w.t.Fatal(err)
	}
	for _, c := range cmds {
		if res := w.Apply(c); res.Err != nil {
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
	ids := make([]string, len(rs))
	for i := range rs {
		ids[i] = payouts.PaymentID(id, i+1)
		if p := w.payment(ids[i]); p.Status != payouts.Accepted && !w.holdsOK {
			w.t.Fatalf("%s is %s (%s)", ids[i], p.Status, p.Reason)
		}
	}
	return ids
}

// result reports the channel's word on payments.
func (w *world) result(status payouts.Status, ids ...string) {
	w.t.Helper()
	in := payouts.Results{Channel: "sandbox", Cursor: fmt.Sprint(w.seq)}
	for _, id := range ids {
		in.Items = append(in.Items, payouts.Result{Payment: id, Status: status, ChannelRef: "ch-" + id, At: w.Now})
	}
	var out payouts.Outcome
	if err := json.Unmarshal(w.ok(payouts.CmdResults, in), &out); err != nil || out.Applied != len(ids) {
		w.t.Fatalf("results %s: %+v %v", status, out, err)
	}
}

func (w *world) payment(id string) *payouts.Payment {
	w.t.Helper()
	var p *payouts.Payment
	w.view(func(r *state.ReadTx) (err error) { p, err = payouts.GetPayment(r, id); return })
	return p
}

func (w *world) view(fn func(*state.ReadTx) error) {
	w.t.Helper()
	if err := w.State.View(fn); err != nil {
		w.t.Fatal(err)
	}
}

func (w *world) declaration(period string, version int) *filing.Declaration {
	w.t.Helper()
	var d *filing.Declaration
	w.view(func(r *state.ReadTx) (err error) { d, err = filing.Get(r, filing.Platform, period, version); return })
	return d
}

func (w *world) declare(period, reason string) filing.Summary {
	w.t.Helper()
	var s filing.Summary
	if err := json.Unmarshal(w.ok(filing.CmdDeclare, filing.Declare{Agent: filing.Platform, Period: period, Reason: reason, By: "acct-op"}), &s); err != nil {
		w.t.Fatal(err)
	}
	return s
}

func (w *world) ledgerIIT(period string) int64 {
	w.t.Helper()
	p, err := filing.ParsePeriod(period)
	if err != nil {
		w.t.Fatal(err)
	}
	var fen int64
	w.view(func(r *state.ReadTx) (err error) { fen, err = filing.LedgerIIT(r, p); return })
	return fen
}

func (w *world) balance(account string) int64 {
	w.t.Helper()
	var b int64
	w.view(func(r *state.ReadTx) (err error) { b, err = ledger.Balance(r, account); return })
	return b
}

// audit runs the independent auditor.
func (w *world) audit() {
	w.t.Helper()
	var rep *payouts.Report
	w.view(func(r *state.ReadTx) (err error) { rep, err = payouts.Verify(r); return })
	if !rep.OK {
		w.t.Fatalf("the auditor: %v", rep.Problems)
	}
	var more []string
	w.view(func(r *state.ReadTx) (err error) { more, err = filing.Audit(r); return })
	if len(more) != 0 {
		w.t.Fatalf("the tax payments' audit: %v", more)
	}
}

func fen(t *testing.T, yuan string) int64 {
	t.Helper()
	p, err := ledger.Fen(mustDecimal(t, yuan))
	if err != nil {
		t.Fatal(err)
	}
	return p
}
