package risk_test

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"testing"
	"time"

	"cxt/appliance/identity"
	"cxt/appliance/payouts"
	"cxt/appliance/payouts/payoutstest"
	"cxt/appliance/risk"
	"cxt/appliance/subjects"
	"cxt/appliance/tax"
	"cxt/appliance/workers"
	"cxt/policy"
	"cxt/storage/state"
	"cxt/storage/state/statetest"
)

// world is a state machine with the parties, the payouts (no monthly
// limit, so a month's volume is whatever a test pays) and the risk
// commands; the policy is the embedded one.
type world struct {
	*statetest.Machine
	t     *testing.T
	authz *policy.Authorizer
	seq   int
}

func newWorld(t *testing.T) *world {
	rules := &payouts.Rules{Tax: tax.Default(), Location: "city", Channel: "sandbox"}
	m := statetest.New(t, func(reg *state.Registry) {
		subjects.Register(reg, nil)
		payoutstest.Register(reg, rules)
		risk.Register(reg)
	})
	m.Now = time.Date(2026, 4, 10, 10, 0, 0, 0, payouts.China)
	b, err := policy.Embedded()
	if err != nil {
		t.Fatal(err)
	}
	authz, err := policy.New(context.Background(), b)
	if err != nil {
		t.Fatal(err)
	}
	return &world{Machine: m, t: t, authz: authz}
}

func (w *world) ok(typ string, body any) []byte {
	w.t.Helper()
	res := w.Send(typ, body)
	if res.Err != nil {
		w.t.Fatalf("%s: %v", typ, res.Err)
	}
	return res.Value
}

func (w *world) view(fn func(*state.ReadTx) error) {
	w.t.Helper()
	if err := w.State.View(fn); err != nil {
		w.t.Fatal(err)
	}
}

// node is the world as the inspector's cluster.
type node struct{ w *world }

func (n node) ProposeOK(_ context.Context, cmd *state.Command) ([]byte, error) {
	res := n.w.Apply(cmd)
	if res.Err != nil {
		return nil, res.Err
	}
	return res.Value, nil
}
func (n node) ReadBarrier(context.Context) error { return nil }
func (n node) State() *state.State               { return n.w.Machine.State }

func (w *world) inspector() *risk.Inspector {
	return &risk.Inspector{Node: node{w}, Leading: func() bool { return true }, Policy: w.authz, Now: func() time.Time { return w.Now }}
}

// inspect starts a job for period and runs it as the leader would.
func (w *world) inspect(period string) *risk.Job {
	w.t.Helper()
	w.seq++
	id := fmt.Sprintf("insp-test-%d", w.seq)
	w.ok(risk.CmdJobStart, risk.JobStart{ID: id, Period: period, Trigger: risk.TriggerDemand, By: "acct-op"})
	if err := w.inspector().RunJob(context.Background(), id); err != nil {
		w.t.Fatal(err)
	}
	return w.job(id)
}

func (w *world) job(id string) *risk.Job {
	w.t.Helper()
	var j *risk.Job
	w.view(func(tx *state.ReadTx) (err error) { j, err = risk.GetJob(tx, id); return })
	return j
}

func (w *world) cases() []*risk.Case {
	w.t.Helper()
	var cs []*risk.Case
	w.view(func(tx *state.ReadTx) (err error) { cs, err = risk.Cases(tx, ""); return })
	return cs
}

// pay runs a batch of merchant's paying each worker its amount, at when.
func (w *world) pay(merchant string, when time.Time, amounts map[string]int64) {
	w.t.Helper()
	w.Now = when
	var rows []payouts.Row
	for _, wk := range sortedKeys(amounts) {
		rows = append(rows, payouts.Row{No: len(rows) + 1, Worker: wk, Task: "task-" + merchant, Fen: amounts[wk]})
	}
	w.seq++
	id := fmt.Sprintf("pb-%s-%d", merchant, w.seq)
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
		w.view(func(tx *state.ReadTx) (err error) { b, err = payouts.GetBatch(tx, id); return })
		if b.Status != payouts.Executing {
			if b.Counts[payouts.Accepted] != len(rows) {
				w.t.Fatalf("batch %s of %s: %+v", id, merchant, b.Counts)
			}
			return
		}
		w.ok(payouts.CmdExecute, payouts.Chunk{Batch: id, Chunk: b.Done})
	}
}

// register self-registers a worker from ip (and device, if any) at when,
// with the bank card given, as the API proposes it.
func (w *world) register(id, card, ip, device string, when time.Time) {
	w.t.Helper()
	w.Now = when
	idx, err := w.Keys.IndexKey()
	if err != nil {
		w.t.Fatal(err)
	}
	k, fresh, err := subjects.NewKey(w.Keys, id)
	if err != nil {
		w.t.Fatal(err)
	}
	n := w.seq + 1000
	w.seq++
	priv, _ := subjects.Seal(k, workers.PrivateAAD(id), workers.Private{Name: "工人" + id, IDNumber: fmt.Sprintf("id-%d", n), Phone: fmt.Sprintf("139%08d", n), BankCard: card})
	idIdx, phIdx := workers.Indexes(idx, fmt.Sprintf("id-%d", n), fmt.Sprintf("139%08d", n))
	acct := identity.Account{ID: "acct-" + id, Username: "u-" + id, Roles: []string{identity.Worker}, Clearance: 1, Worker: id, MustChange: true}
	g := workers.Registration{ID: id, IDIndex: idIdx, PhoneIndex: phIdx, Key: fresh, Private: priv,
		Account: identity.CreateAccount{Account: acct, NameIndex: []byte("name-" + id)}, Source: workers.SourceIndexes(idx, ip, device),
		Risk: workers.DirectIdentity("a test world")}
	if card != "" {
		g.CardIndex = workers.CardIndex(idx, card)
	}
	w.ok(workers.CmdRegister, g)
}

// handle is how the risk package names a blind index in a subject.
func (w *world) handle(kind, value string) string {
	idx, _ := w.Keys.IndexKey()
	var b []byte
	switch kind {
	case "card":
		b = workers.CardIndex(idx, value)
	case "ip":
		b = workers.SourceIndexes(idx, value, "").IP
	case "device":
		b = workers.SourceIndexes(idx, "", value).Device
	}
	return kind + ":" + hex.EncodeToString(b[:8])
}

func sortedKeys[V any](m map[string]V) []string { return slices.Sorted(maps.Keys(m)) }

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}
