package reconcile_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"cxt/appliance/billing"
	"cxt/appliance/ledger"
	"cxt/appliance/payouts"
	"cxt/appliance/payouts/payoutstest"
	"cxt/appliance/reconcile"
	"cxt/appliance/tax"
	"cxt/storage/state"
	"cxt/storage/state/statetest"
)

// The tests run the payouts and the reconciliation in one state machine
// speaking command set 8, with the parties seeded as payoutstest puts
// them. cmdPost books any posting: how a test puts in what no command of
// the product would (a bad adjustment), to show that the auditor sees it.
const cmdPost = "test.post"

type world struct {
	*statetest.Machine
	t     *testing.T
	rules *payouts.Rules
	seq   int
}

func newWorld(t *testing.T, fee func(merchant string, fen int64, cfg *billing.Config) int64) *world {
	rules := &payouts.Rules{Tax: tax.Default(), Location: "city", Channel: "sandbox", MonthlyLimitFen: payouts.DefaultMonthlyLimitFen}
	// The fee per payout, as the node computes it from billing (its
	// payoutFee); fee, if set, may compute it wrong on purpose.
	rules.Fee = func(tx payouts.Getter, merchant string, at time.Time) (func(int64) int64, string, error) {
		cfg, err := billing.Current(tx, merchant, at)
		if err != nil || cfg == nil || cfg.Timing != billing.During {
			return nil, "", err
		}
		return func(fen int64) int64 {
			if fee != nil {
				return fee(merchant, fen, cfg)
			}
			f, _ := cfg.Fee(ledger.Decimal(fen))
			return f.Shift(2).IntPart()
		}, fmt.Sprintf("%s/v%d", merchant, cfg.Version), nil
	}
	m := statetest.New(t, func(reg *state.Registry) {
		payoutstest.Register(reg, rules)
		reconcile.Register(reg)
		reg.HandleFrom(state.FilingSet, cmdPost, func(tx *state.Tx, cmd *state.Command) ([]byte, error) {
			var p ledger.Posting
			if err := json.Unmarshal(cmd.Body, &p); err != nil {
				return nil, err
			}
			return nil, ledger.Post(tx, &p)
		})
		reg.HandleFrom(state.FilingSet, cmdPut, putHandler)
	})
	m.Now = time.Date(2026, 12, 1, 9, 0, 0, 0, payouts.China)
	return &world{Machine: m, t: t, rules: rules}
}

func (w *world) ok(typ string, body any) []byte {
	w.t.Helper()
	res := w.Send(typ, body)
	if res.Err != nil {
		w.t.Fatalf("%s: %v", typ, res.Err)
	}
	return res.Value
}

// refused sends a command that must be refused with code, and returns
// the refusal's message.
func (w *world) refused(code, typ string, body any) string {
	w.t.Helper()
	res := w.Send(typ, body)
	if got := statetest.Code(res.Err); got != code {
		w.t.Fatalf("%s: %v, want %s", typ, res.Err, code)
	}
	return res.Err.Error()
}

func (w *world) view(fn func(*state.ReadTx) error) {
	w.t.Helper()
	if err := w.State.View(fn); err != nil {
		w.t.Fatal(err)
	}
}

func (w *world) upload(merchant string, rows []payouts.Row) string {
	w.t.Helper()
	w.seq++
	id := fmt.Sprintf("pb-%s-%d", merchant, w.seq)
	cmds, err := payouts.UploadCommands(id, merchant, fmt.Sprintf("ref-%d", w.seq), "acct-op", rows, w.Now)
	if err != nil {
		w.t.Fatal(err)
	}
	for _, c := range cmds {
		if res := w.Apply(c); res.Err != nil {
			w.t.Fatalf("upload: %v", res.Err)
		}
	}
	return id
}

// verify is the independent auditor's report.
func (w *world) verify() *payouts.Report {
	w.t.Helper()
	var rep *payouts.Report
	w.view(func(r *state.ReadTx) (err error) { rep, err = payouts.Verify(r); return })
	return rep
}

func (w *world) green() {
	w.t.Helper()
	if rep := w.verify(); !rep.OK {
		w.t.Fatalf("the auditor: %v", rep.Problems)
	}
}

// importFile reconciles a statement file as the API does: parsed, held
// against a read of the payments, proposed as one command.
func (w *world) importFile(ch string, day reconcile.Day, data []byte) (*reconcile.Statement, *state.Rejection, error) {
	w.t.Helper()
	f, err := reconcile.ParseStatement(data)
	if err != nil {
		return nil, nil, err
	}
	var in *reconcile.Import
	w.view(func(r *state.ReadTx) (err error) {
		in, _, err = reconcile.Prepare(r, ch, day, "test.csv", data, f, "op-1")
		return
	})
	res := w.Send(reconcile.CmdImport, in)
	if res.Err != nil {
		return nil, res.Err, nil
	}
	var st reconcile.Statement
	if err := json.Unmarshal(res.Value, &st); err != nil {
		w.t.Fatal(err)
	}
	return &st, nil, nil
}

func (w *world) cases() []*reconcile.Case {
	w.t.Helper()
	var out []*reconcile.Case
	w.view(func(r *state.ReadTx) error {
		return r.ForEach(reconcile.CasesBucket, func(_, v []byte) error {
			var c reconcile.Case
			if err := json.Unmarshal(v, &c); err != nil {
				return err
			}
			out = append(out, &c)
			return nil
		})
	})
	return out
}

type proposer struct{ w *world }

func (p *proposer) State() *state.State { return p.w.State }

func (p *proposer) ProposeOK(_ context.Context, cmd *state.Command) ([]byte, error) {
	res := p.w.Apply(cmd)
	if res.Err != nil {
		return nil, res.Err
	}
	return res.Value, nil
}

func unmarshal(t *testing.T, b []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatal(err)
	}
}
