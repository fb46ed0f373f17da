package reports_test

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"cxt/appliance/ledger"
	"cxt/appliance/merchants"
	"cxt/appliance/payouts"
	"cxt/appliance/payouts/payoutstest"
	"cxt/appliance/subjects"
	"cxt/appliance/tax"
	"cxt/appliance/workers"
	"cxt/crypto/sm"
	"cxt/gateway/reports"
	"cxt/storage/state"
	"cxt/storage/state/statetest"
)

// The world is the payouts' domain world (payoutstest) with the gateway's
// feed and reports, and two test commands: one gives a seeded worker a
// subject key and sealed identity as registration would, one gives a
// merchant its competent tax office.

const (
	cmdIdentity = "test.identity"
	cmdOffice   = "test.office"
)

// Tax offices of two areas (GB/T 2260 310101 Shanghai Huangpu, 440106
// Guangzhou Tianhe), as merchants are presumed to have from their credit
// codes.
const (
	officeA = "13101010000"
	officeB = "14401060000"
)

type identityBody struct {
	Worker  string          `json:"worker"`
	Key     subjects.Fresh  `json:"key"`
	Private subjects.Sealed `json:"private"`
}

type officeBody struct {
	Merchant string `json:"merchant"`
	Office   string `json:"office"`
}

func putJSON(tx *state.Tx, bucket, key string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return tx.Put(bucket, []byte(key), b)
}

func applyIdentity(tx *state.Tx, cmd *state.Command) ([]byte, error) {
	var in identityBody
	if err := json.Unmarshal(cmd.Body, &in); err != nil {
		return nil, err
	}
	if err := subjects.Install(tx, in.Worker, in.Key); err != nil {
		return nil, err
	}
	w, err := workers.Get(tx, in.Worker)
	if err != nil {
		return nil, err
	}
	w.KeyID, w.Private = in.Key.KeyID, in.Private
	return nil, putJSON(tx, workers.Bucket, w.ID, w)
}

func applyOffice(tx *state.Tx, cmd *state.Command) ([]byte, error) {
	var in officeBody
	if err := json.Unmarshal(cmd.Body, &in); err != nil {
		return nil, err
	}
	m, err := merchants.Get(tx, in.Merchant)
	if err != nil {
		return nil, err
	}
	m.TaxOffice = in.Office
	return nil, putJSON(tx, merchants.Bucket, m.ID, m)
}

type world struct {
	*statetest.Machine
	t   *testing.T
	seq int
	key *sm.PrivateKey
}

// feeRate is the test's fee: 1% of each payment, charged per payment.
func testRules() *payouts.Rules {
	return &payouts.Rules{Tax: tax.Default(), Location: "city", Channel: "sandbox", MonthlyLimitFen: payouts.DefaultMonthlyLimitFen,
		Fee: func(payouts.Getter, string, time.Time) (func(int64) int64, string, error) {
			return func(fen int64) int64 { return fen / 100 }, "test-1pct", nil
		}}
}

func newWorld(t *testing.T) *world {
	t.Helper()
	m := statetest.New(t, func(reg *state.Registry) {
		subjects.Register(reg, nil)
		reports.Register(reg)
		payoutstest.Register(reg, testRules())
		reg.HandleFrom(state.GatewaySet, cmdIdentity, applyIdentity)
		reg.HandleFrom(state.GatewaySet, cmdOffice, applyOffice)
	})
	key, err := sm.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	m.Now = time.Date(2026, 7, 6, 10, 0, 0, 0, reports.China)
	return &world{Machine: m, t: t, key: key}
}

func (w *world) ok(typ string, body any) []byte {
	w.t.Helper()
	res := w.Send(typ, body)
	if res.Err != nil {
		w.t.Fatalf("%s: %v", typ, res.Err)
	}
	return res.Value
}

// parties seeds merchants and workers, gives each worker an identity
// (names[i] for worker i, if given) and each merchant its office.
func (w *world) parties(offices map[string]string, ws []string, names map[string]string) {
	w.t.Helper()
	ms := make([]string, 0, len(offices))
	for m := range offices {
		ms = append(ms, m)
	}
	w.ok(payoutstest.CmdSeed, payoutstest.Seed{Merchants: ms, Workers: ws})
	for m, office := range offices {
		w.ok(cmdOffice, officeBody{Merchant: m, Office: office})
		w.ok(payoutstest.CmdTopUp, payoutstest.TopUp{Merchant: m, Fen: 100_000_000, Ref: "top-" + m})
	}
	for i, id := range ws {
		k, fresh, err := subjects.NewKey(w.Keys, id)
		if err != nil {
			w.t.Fatal(err)
		}
		name := names[id]
		if name == "" {
			name = "工人" + id
		}
		sealed, err := subjects.Seal(k, workers.PrivateAAD(id), workers.Private{Name: name,
			IDNumber: fmt.Sprintf("11010519900101%04d", i), Phone: fmt.Sprintf("1380000%04d", i)})
		if err != nil {
			w.t.Fatal(err)
		}
		w.ok(cmdIdentity, identityBody{Worker: id, Key: fresh, Private: sealed})
	}
}

// pay uploads, confirms and executes a batch at the world's clock and
// returns its payment IDs in row order.
func (w *world) pay(merchant string, rows ...payouts.Row) []string {
	w.t.Helper()
	w.seq++
	id := fmt.Sprintf("pb-%s-%d", merchant, w.seq)
	for i := range rows {
		rows[i].No, rows[i].Task = i+1, "task-1"
	}
	cmds, err := payouts.UploadCommands(id, merchant, id, "acct-op", rows, w.Now)
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
	ids := make([]string, len(rows))
	for i := range rows {
		ids[i] = payouts.PaymentID(id, i+1)
		if p := w.payment(ids[i]); p.Status != payouts.Accepted {
			w.t.Fatalf("%s is %s (%s)", ids[i], p.Status, p.Reason)
		}
	}
	return ids
}

func row(worker string, fen int64) payouts.Row { return payouts.Row{Worker: worker, Fen: fen} }

// result reports the channel's word on payments at the world's clock.
func (w *world) result(status payouts.Status, ids ...string) {
	w.t.Helper()
	items := make([]payouts.Result, len(ids))
	for i, id := range ids {
		items[i] = payouts.Result{Payment: id, Status: status, Reason: "test", At: w.Now}
	}
	w.seq++
	w.ok(payouts.CmdResults, payouts.Results{Channel: "sandbox", Cursor: fmt.Sprint(w.seq), Items: items})
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

func (w *world) compute(q, office string) *reports.Dataset {
	w.t.Helper()
	qq, err := reports.ParseQuarter(q)
	if err != nil {
		w.t.Fatal(err)
	}
	var d *reports.Dataset
	w.view(func(r *state.ReadTx) (err error) { d, err = reports.Compute(r, w.Keys, qq, office); return })
	return d
}

func (w *world) generate(req reports.Request) (*reports.Report, error) {
	w.t.Helper()
	if req.ID == "" {
		req.ID = reports.NewID()
	}
	if req.Generated.IsZero() {
		req.Generated = w.Now
	}
	var rep *reports.Report
	err := w.State.View(func(r *state.ReadTx) (err error) {
		rep, err = reports.Generate(r, w.Keys, req, w.key.Sign)
		return
	})
	return rep, err
}

func (w *world) mustGenerate(req reports.Request) *reports.Report {
	w.t.Helper()
	rep, err := w.generate(req)
	if err != nil {
		w.t.Fatalf("generate %+v: %v", req, err)
	}
	return rep
}

// at moves the world's clock to a time in China Standard Time.
func (w *world) at(y int, m time.Month, d, h, min, s int) {
	w.Now = time.Date(y, m, d, h, min, s, 0, reports.China)
}

func yuan(fen int64) string { return ledger.Yuan(fen) }
