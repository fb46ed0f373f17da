// Package partiestest puts merchants and workers linked to them into a test
// state machine through their own commands — subject keys, sealed fields,
// accounts, invitations and acceptances as onboarding makes them — for the
// tests of the domains that build on them (training, insurance).
package partiestest

import (
	"fmt"
	"testing"

	"cxt/appliance/identity"
	"cxt/appliance/merchants"
	"cxt/appliance/notify"
	"cxt/appliance/privacy"
	"cxt/appliance/subjects"
	"cxt/appliance/workers"
	"cxt/crypto/sm"
	"cxt/gateway/feed"
	"cxt/storage/state"
	"cxt/storage/state/statetest"
)

// Register adds what the parties' commands need.
func Register(reg *state.Registry) {
	identity.Register(reg)
	notify.Register(reg)
	subjects.Register(reg, nil)
	feed.Register(reg)
	merchants.Register(reg)
	workers.Register(reg)
	privacy.Register(reg, nil)
}

func must(tb testing.TB, res state.Result) {
	tb.Helper()
	if res.Err != nil {
		tb.Fatalf("refused: %v", res.Err)
	}
}

// Merchant applies and approves merchant id.
func Merchant(tb testing.TB, m *statetest.Machine, id string) {
	tb.Helper()
	k, fresh, _ := subjects.NewKey(m.Keys, id)
	priv, _ := subjects.Seal(k, merchants.PrivateAAD(id), merchants.Private{USCC: id})
	must(tb, m.Send(merchants.CmdApply, merchants.Application{ID: id, Name: "某某公司 " + id, Model: merchants.Intermediary,
		USCCIndex: "uscc-" + id, Private: priv, Key: fresh, Applicant: "acct-" + id}))
	must(tb, m.Send(merchants.CmdReview, merchants.DirectApproval(id, "reviewer", "a test world")))
}

func idx(s string) []byte { h := sm.Sum([]byte(s)); return h[:] }

// Worker registers worker n (w_n, account acct-w_n), linked to merchant
// (invited by it and accepted), and returns its ID.
func Worker(tb testing.TB, m *statetest.Machine, n int, merchant string) string {
	tb.Helper()
	id := fmt.Sprintf("w_%d", n)
	p := workers.Private{Name: "工人", IDNumber: fmt.Sprintf("id-%d", n), Phone: fmt.Sprintf("1380000%04d", n)}
	k, f, _ := subjects.NewKey(m.Keys, id)
	priv, _ := subjects.Seal(k, workers.PrivateAAD(id), p)
	acct := identity.Account{ID: "acct-" + id, Username: id, Roles: []string{identity.Worker}, Clearance: 1, Worker: id, Phone: p.Phone}
	must(tb, m.Send(workers.CmdRegister, workers.Registration{ID: id, IDIndex: idx("id" + id), PhoneIndex: idx("ph" + id), Key: f, Private: priv,
		Account: identity.CreateAccount{Account: acct, NameIndex: []byte("name-" + id)}, Risk: workers.DirectIdentity("a test world")}))
	must(tb, m.Send(workers.CmdInvite, workers.Invitation{Merchant: merchant, By: "acct-" + merchant, Rows: []workers.Invitee{{Row: 1, ID: id}}}))
	must(tb, m.Send(workers.CmdAccept, workers.Acceptance{Worker: id, Merchant: merchant, By: "acct-" + id}))
	return id
}

// Cancel cancels worker's account as the worker does (appliance/privacy).
func Cancel(tb testing.TB, m *statetest.Machine, worker string) {
	tb.Helper()
	must(tb, m.Send(privacy.CmdCancel, privacy.Cancel{Worker: worker, By: "acct-" + worker, Request: "cancel-" + worker}))
}

// World is a test state machine with the parties' commands and a domain's
// own, and the steps its tests take.
type World struct {
	*statetest.Machine
	T testing.TB
}

// NewWorld registers the parties' commands and register's.
func NewWorld(tb testing.TB, register func(*state.Registry)) *World {
	return &World{Machine: statetest.New(tb, func(reg *state.Registry) {
		Register(reg)
		register(reg)
	}), T: tb}
}

// Must fails the test on a refusal and returns the command's answer.
func (w *World) Must(res state.Result) []byte {
	w.T.Helper()
	if res.Err != nil {
		w.T.Fatalf("refused: %v", res.Err)
	}
	return res.Value
}

// Refused checks that the command is refused with code.
func (w *World) Refused(typ string, body any, code string) {
	w.T.Helper()
	if got := statetest.Code(w.Send(typ, body).Err); got != code {
		w.T.Errorf("%s %+v: refused with %q, want %q", typ, body, got, code)
	}
}

// Merchant applies and approves merchant id.
func (w *World) Merchant(id string) { w.T.Helper(); Merchant(w.T, w.Machine, id) }

// Worker registers worker n, linked to merchant, and returns its ID.
func (w *World) Worker(n int, merchant string) string {
	w.T.Helper()
	return Worker(w.T, w.Machine, n, merchant)
}

// Getter reads the committed state.
func (w *World) Getter() func(bucket string, key []byte) ([]byte, error) {
	return func(bucket string, key []byte) (v []byte, err error) {
		w.State.View(func(tx *state.ReadTx) error { v, err = tx.Get(bucket, key); return nil })
		return v, err
	}
}
