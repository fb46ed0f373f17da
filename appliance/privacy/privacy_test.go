package privacy_test

import (
	"bytes"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"cxt/appliance/archives"
	"cxt/appliance/identity"
	"cxt/appliance/merchants"
	"cxt/appliance/notify"
	"cxt/appliance/payouts"
	"cxt/appliance/payouts/payoutstest"
	"cxt/appliance/privacy"
	"cxt/appliance/risk"
	"cxt/appliance/subjects"
	"cxt/appliance/tax"
	"cxt/appliance/workers"
	"cxt/crypto/sm"
	"cxt/gateway/feed"
	"cxt/storage/state"
	"cxt/storage/state/statetest"
)

// cmdDestroy stands in for the archives' destruction: it completes the
// worker's deletions with a certificate, in its own command.
const cmdDestroy = "test.destroy"

type world struct {
	*statetest.Machine
	t *testing.T
	// rule is the retention deletions are decided by; nil: none wired.
	rule privacy.Retention
}

func newWorld(t *testing.T) *world {
	w := &world{t: t}
	w.Machine = statetest.New(t, func(reg *state.Registry) {
		identity.Register(reg)
		notify.Register(reg)
		subjects.Register(reg, nil)
		feed.Register(reg)
		merchants.Register(reg)
		workers.Register(reg)
		w.register(reg)
	})
	w.Now = time.Date(2026, 3, 10, 10, 0, 0, 0, time.UTC)
	return w
}

func (w *world) register(reg *state.Registry) {
	privacy.Register(reg, func() privacy.Retention { return w.rule })
	reg.HandleFrom(state.ArchivesSet, cmdDestroy, func(tx *state.Tx, cmd *state.Command) ([]byte, error) {
		var in struct{ Worker, Certificate string }
		if err := json.Unmarshal(cmd.Body, &in); err != nil {
			return nil, err
		}
		return nil, privacy.Complete(tx, in.Worker, in.Certificate)
	})
}

func (w *world) ok(typ string, body any) []byte {
	w.t.Helper()
	res := w.Send(typ, body)
	if res.Err != nil {
		w.t.Fatalf("%s: %v", typ, res.Err)
	}
	return res.Value
}

func (w *world) refused(typ string, body any, code string) {
	w.t.Helper()
	if res := w.Send(typ, body); statetest.Code(res.Err) != code {
		w.t.Fatalf("%s: %v (%v), want %s", typ, res.Err, res.Value, code)
	}
}

func idx(s string) []byte { h := sm.Sum([]byte(s)); return h[:] }

// person is a registered worker's fields, as the test knows them.
var person = workers.Private{Name: "张三", IDNumber: "110101199003070011", Phone: "13800001111", BankCard: "6222020200112233445"}

// registerWorker registers a person with their account, as the API does.
func (w *world) registerWorker(id string, p workers.Private) {
	w.t.Helper()
	k, fresh, err := subjects.NewKey(w.Keys, id)
	if err != nil {
		w.t.Fatal(err)
	}
	priv, _ := subjects.Seal(k, workers.PrivateAAD(id), p)
	acct := identity.Account{ID: "acct-" + id, Username: "u-" + id, Roles: []string{identity.Worker}, Clearance: 1, Worker: id, MustChange: true}
	w.ok(workers.CmdRegister, workers.Registration{ID: id, IDIndex: idx("id-" + p.IDNumber), PhoneIndex: idx("ph-" + p.Phone),
		Key: fresh, Private: priv, CardIndex: idx("card-" + p.BankCard),
		Account: identity.CreateAccount{Account: acct, NameIndex: []byte("name-" + id)}, Risk: workers.DirectIdentity("a test world")})
}

func (w *world) worker(id string) *workers.Worker {
	w.t.Helper()
	var out *workers.Worker
	w.view(func(tx *state.ReadTx) (err error) { out, err = workers.Get(tx, id); return })
	return out
}

func (w *world) request(id string) *privacy.Request {
	w.t.Helper()
	var out *privacy.Request
	w.view(func(tx *state.ReadTx) (err error) { out, err = privacy.Get(tx, id); return })
	return out
}

func (w *world) view(fn func(*state.ReadTx) error) {
	w.t.Helper()
	if err := w.State.View(fn); err != nil {
		w.t.Fatal(err)
	}
}

// correction is a correction request as the API files it: the new values
// sealed under the worker's key.
func (w *world) correction(worker, id string, v privacy.Values, fields ...string) privacy.Request {
	w.t.Helper()
	var q privacy.Request
	w.view(func(tx *state.ReadTx) error {
		k, err := subjects.Key(tx, w.Keys, worker)
		if err != nil {
			return err
		}
		q = privacy.Request{ID: id, Worker: worker, Kind: privacy.Correction, Fields: fields, KeyID: k.ID(), By: "acct-" + worker}
		q.Values, err = subjects.Seal(k, privacy.RequestAAD(worker, id), v)
		return err
	})
	return q
}

// applied is a correction's decision as the API prepares it: the record
// merged and re-sealed, the new card indexed.
func (w *world) applied(reqID string) privacy.Decision {
	w.t.Helper()
	d := privacy.Decision{Request: reqID, Outcome: privacy.Apply, By: "acct-ops"}
	w.view(func(tx *state.ReadTx) error {
		q, err := privacy.Get(tx, reqID)
		if err != nil {
			return err
		}
		wk, err := workers.Get(tx, q.Worker)
		if err != nil {
			return err
		}
		k, err := subjects.Key(tx, w.Keys, wk.ID)
		if err != nil {
			return err
		}
		p, err := wk.Open(k)
		if err != nil {
			return err
		}
		var v privacy.Values
		if err := subjects.Open(k, privacy.RequestAAD(q.Worker, q.ID), q.Values, &v); err != nil {
			return err
		}
		if slices.Contains(q.Fields, privacy.FieldName) {
			p.Name = v.Name
		}
		if slices.Contains(q.Fields, privacy.FieldBankCard) {
			p.BankCard = v.BankCard
			d.CardIndex = idx("card-" + v.BankCard)
		}
		d.Private, err = subjects.Seal(k, workers.PrivateAAD(wk.ID), p)
		d.KeyID, d.Base = k.ID(), workers.PrivateSM3(wk.Private)
		return err
	})
	return d
}

func TestARequestIsDueThirtyDaysAfterItIsFiledAndOverdueAfterThat(t *testing.T) {
	w := newWorld(t)
	w.registerWorker("w1", person)
	w.Now = time.Date(2026, 1, 31, 23, 30, 0, 0, time.UTC)
	w.ok(privacy.CmdFile, privacy.Request{ID: "pr1", Worker: "w1", Kind: privacy.Deletion, By: "acct-w1"})
	q := w.request("pr1")
	if want := time.Date(2026, 3, 2, 23, 30, 0, 0, time.UTC); !q.Due.Equal(want) || !q.Filed.Equal(w.Now) || q.Status != privacy.Open {
		t.Fatalf("filed %s due %s (%s), want due %s", q.Filed, q.Due, q.Status, want)
	}
	if q.Overdue(q.Due) || !q.Overdue(q.Due.Add(time.Second)) || q.Overdue(q.Filed) {
		t.Fatal("overdue: only once the due date has passed")
	}
	if got := privacy.Deadline(time.Date(2026, 2, 10, 0, 0, 0, 0, time.UTC)); !got.Equal(time.Date(2026, 3, 12, 0, 0, 0, 0, time.UTC)) {
		t.Fatalf("deadline of 10 February: %s", got)
	}
	// Decided, it is no longer overdue, however late.
	w.rule = func(*state.Tx, string, time.Time) (time.Time, string, error) {
		return time.Time{}, "", nil
	}
	w.ok(privacy.CmdDecide, privacy.Decision{Request: "pr1", Outcome: privacy.Refuse, Reason: "not the person", By: "acct-ops"})
	if q := w.request("pr1"); q.Overdue(q.Due.AddDate(1, 0, 0)) {
		t.Fatal("a refused request is overdue")
	}
}

func TestACorrectionKeepsItsValuesSealedAndAppliesOnce(t *testing.T) {
	w := newWorld(t)
	w.registerWorker("w1", person)
	newName, newCard := "李四维", "6222020200998877665"
	q := w.correction("w1", "pr1", privacy.Values{Name: newName, BankCard: newCard}, privacy.FieldName, privacy.FieldBankCard)
	filed := w.ok(privacy.CmdFile, q)

	// What goes to the log and what the state keeps hold no plaintext:
	// the command body, its result, and every value of the buckets a
	// correction writes, opened by the keyring as any node could.
	body, _ := json.Marshal(q)
	d := w.applied("pr1")
	decision, _ := json.Marshal(d)
	// Two decisions of one request in one log entry, as two operators
	// pressing at once: exactly one applies.
	refusal := privacy.Decision{Request: "pr1", Outcome: privacy.Refuse, Reason: "the card is not yours", By: "acct-ops2"}
	rb, _ := json.Marshal(refusal)
	res := w.ApplyEntry(state.NewCommand(privacy.CmdDecide, decision, w.Now), state.NewCommand(privacy.CmdDecide, rb, w.Now))
	if res[0].Err != nil || statetest.Code(res[1].Err) != "privacy_request_status" {
		t.Fatalf("two decisions: %v / %v", res[0].Err, res[1].Err)
	}
	for what, b := range map[string][]byte{"file command": body, "filed result": filed, "decide command": decision, "decided result": res[0].Value} {
		for _, secret := range []string{newName, newCard} {
			if bytes.Contains(b, []byte(secret)) {
				t.Errorf("the %s holds %q in plaintext", what, secret)
			}
		}
	}
	w.view(func(tx *state.ReadTx) error {
		for _, b := range []string{privacy.Bucket, privacy.IDBucket, workers.Bucket, workers.CardBucket, identity.AccountsBucket} {
			if err := tx.ForEach(b, func(k, v []byte) error {
				for _, secret := range []string{newName, newCard} {
					if bytes.Contains(v, []byte(secret)) || bytes.Contains(k, []byte(secret)) {
						t.Errorf("bucket %s key %q holds %q in plaintext", b, k, secret)
					}
				}
				return nil
			}); err != nil {
				return err
			}
		}
		return nil
	})
	// Applied: the record opens to the new values, the card's blind index
	// moved, and the real-name check, made for the old name, is gone.
	got := w.worker("w1")
	var p workers.Private
	w.view(func(tx *state.ReadTx) error {
		k, err := subjects.Key(tx, w.Keys, "w1")
		if err == nil {
			p, err = got.Open(k)
		}
		return err
	})
	if p.Name != newName || p.BankCard != newCard || p.IDNumber != person.IDNumber || p.Phone != person.Phone {
		t.Fatalf("corrected record: %+v", p)
	}
	if got.CardIndex != hexOf(idx("card-"+newCard)) || got.RealName != nil {
		t.Fatalf("card index %s, real name %+v", got.CardIndex, got.RealName)
	}
	if q := w.request("pr1"); q.Status != privacy.Done || q.DecidedBy != "acct-ops" || q.Completed.IsZero() {
		t.Fatalf("request after the decision: %+v", q)
	}
	w.view(func(tx *state.ReadTx) error {
		old, _ := tx.Get(workers.CardBucket, append(idx("card-"+person.BankCard), "w1"...))
		now, _ := tx.Get(workers.CardBucket, append(idx("card-"+newCard), "w1"...))
		if old != nil || now == nil {
			t.Errorf("card sightings: old %v, new %v", old != nil, now != nil)
		}
		return nil
	})

	// A decision prepared from a record that changed since is refused, not
	// laid over it.
	w.ok(privacy.CmdFile, w.correction("w1", "pr2", privacy.Values{Name: "王五"}, privacy.FieldName))
	w.ok(privacy.CmdFile, w.correction("w1", "pr3", privacy.Values{BankCard: "6222020200112233445"}, privacy.FieldBankCard))
	stale := w.applied("pr2")
	w.ok(privacy.CmdDecide, w.applied("pr3"))
	w.refused(privacy.CmdDecide, stale, "worker_record_changed")
	if q := w.request("pr2"); q.Status != privacy.Open {
		t.Fatalf("a refused stale decision left the request %s", q.Status)
	}
}

func hexOf(b []byte) string {
	const digits = "0123456789abcdef"
	out := make([]byte, 0, 2*len(b))
	for _, c := range b {
		out = append(out, digits[c>>4], digits[c&15])
	}
	return string(out)
}

func TestARequestIsRefusedWhatItCannotAsk(t *testing.T) {
	w := newWorld(t)
	w.registerWorker("w1", person)
	w.refused(privacy.CmdFile, w.correction("w1", "pr1", privacy.Values{}, privacy.FieldIDNumber), "privacy_field_fixed")
	w.refused(privacy.CmdFile, w.correction("w1", "pr1", privacy.Values{}, privacy.FieldPhone), "privacy_field_fixed")
	w.refused(privacy.CmdFile, w.correction("w1", "pr1", privacy.Values{Name: "x"}, privacy.FieldName, privacy.FieldName), "invalid_request")
	w.refused(privacy.CmdFile, privacy.Request{ID: "pr1", Worker: "nobody", Kind: privacy.Deletion, By: "x"}, "not_found")
	w.ok(privacy.CmdFile, privacy.Request{ID: "pr1", Worker: "w1", Kind: privacy.Deletion, By: "acct-w1"})
	w.refused(privacy.CmdFile, privacy.Request{ID: "pr2", Worker: "w1", Kind: privacy.Deletion, By: "acct-w1"}, "privacy_request_open")
	w.refused(privacy.CmdDecide, privacy.Decision{Request: "pr1", Outcome: privacy.Refuse, By: "acct-ops"}, "invalid_request")
	// No retention rule wired: nothing is erased blind.
	w.refused(privacy.CmdDecide, privacy.Decision{Request: "pr1", Outcome: privacy.Apply, By: "acct-ops"}, "retention_unknown")
	if q := w.request("pr1"); q.Status != privacy.Open || w.worker("w1").Restricted != nil {
		t.Fatalf("a refused decision changed the request (%s) or the worker", q.Status)
	}
}

func TestADeletionUnderARetentionIsRestrictedAndExplained(t *testing.T) {
	w := newWorld(t)
	w.registerWorker("w1", person)
	until := time.Date(2031, 12, 31, 16, 0, 0, 0, time.UTC) // 2032-01-01 in China
	const basis = "《会计档案管理办法》第十四条（会计凭证保管30年）"
	var asked string
	w.rule = func(tx *state.Tx, worker string, now time.Time) (time.Time, string, error) {
		if b, err := tx.Get(workers.Bucket, []byte(worker)); err != nil || b == nil {
			t.Errorf("the rule reads no worker %s: %v", worker, err)
		}
		asked = worker
		return until, basis, nil
	}
	w.ok(privacy.CmdFile, privacy.Request{ID: "pr1", Worker: "w1", Kind: privacy.Deletion, By: "acct-w1"})
	w.ok(privacy.CmdDecide, privacy.Decision{Request: "pr1", Outcome: privacy.Apply, By: "acct-ops"})
	q := w.request("pr1")
	if asked != "w1" || q.Status != privacy.Restricted || !q.Until.Equal(until) || q.Basis != basis || q.Notice == nil {
		t.Fatalf("decided: %+v", q)
	}
	for _, s := range []string{q.Notice.ZH, q.Notice.EN} {
		if !strings.Contains(s, basis) || !strings.Contains(s, "2032-01-01") {
			t.Errorf("the notice does not say the basis and the date: %s", s)
		}
	}
	if !strings.Contains(q.Notice.ZH, "仅对其进行存储") || !strings.Contains(q.Notice.EN, "only store") {
		t.Errorf("the notice does not say what is done meanwhile: %+v", q.Notice)
	}
	r := w.worker("w1").Restricted
	if r == nil || r.Request != "pr1" || !r.Until.Equal(until) || r.Basis != basis || !r.Since.Equal(w.Now) {
		t.Fatalf("worker restriction: %+v", r)
	}
	// The destruction, when the retention ends, completes it.
	w.refused(cmdDestroy, map[string]string{"Worker": "w1"}, "invalid_request")
	w.ok(cmdDestroy, map[string]string{"Worker": "w1", "Certificate": "dc-0001"})
	if q := w.request("pr1"); q.Status != privacy.Done || q.Certificate != "dc-0001" || q.Completed.IsZero() {
		t.Fatalf("completed: %+v", q)
	}
}

func TestADeletionWithoutARetentionErasesAndTheDestructionCompletesIt(t *testing.T) {
	w := newWorld(t)
	w.registerWorker("w1", person)
	w.registerWorker("w2", workers.Private{Name: "王五", IDNumber: "110101199003070038", Phone: "13800002222"})
	w.rule = func(*state.Tx, string, time.Time) (time.Time, string, error) {
		return w.Now, "ended today", nil // until == now: nothing holds it
	}
	for _, id := range []string{"w1", "w2"} {
		w.ok(privacy.CmdFile, privacy.Request{ID: "del-" + id, Worker: id, Kind: privacy.Deletion, By: "acct-" + id})
		w.ok(privacy.CmdDecide, privacy.Decision{Request: "del-" + id, Outcome: privacy.Apply, By: "acct-ops"})
	}
	w.ok(privacy.CmdFile, w.correction("w1", "cor-w1", privacy.Values{Name: "李四"}, privacy.FieldName))
	if q := w.request("del-w1"); q.Status != privacy.Erasing || q.Notice != nil {
		t.Fatalf("decided: %+v", q)
	}
	if r := w.worker("w1").Restricted; r == nil || r.Basis != privacy.BasisErasing || r.Request != "del-w1" {
		t.Fatalf("an erasing worker is restricted meanwhile: %+v", r)
	}
	w.ok(cmdDestroy, map[string]string{"Worker": "w1", "Certificate": "dc-7"})
	if q := w.request("del-w1"); q.Status != privacy.Done || q.Certificate != "dc-7" {
		t.Fatalf("completed: %+v", q)
	}
	// That worker's open correction ends with it (what it would correct is
	// erased; it must not go overdue); the other worker's erasure stays.
	if q := w.request("cor-w1"); q.Status != privacy.Done || q.Certificate != "dc-7" {
		t.Fatalf("the correction: %+v", q)
	}
	if q := w.request("del-w2"); q.Status != privacy.Erasing {
		t.Fatalf("another worker's deletion: %s", q.Status)
	}
	// Once done, a new deletion may be filed.
	w.ok(privacy.CmdFile, privacy.Request{ID: "del2-w1", Worker: "w1", Kind: privacy.Deletion, By: "acct-w1"})
}

func TestACancelledWorkerIsClosedSignedOutAndGetsNoNewLink(t *testing.T) {
	w := newWorld(t)
	w.registerWorker("w1", person)
	w.registerWorker("w2", workers.Private{Name: "王五", IDNumber: "110101199003070038", Phone: "13800002222"})
	w.registerWorker("w3", workers.Private{Name: "赵六", IDNumber: "110101199003070054", Phone: "13800003333"})
	k, fresh, _ := subjects.NewKey(w.Keys, "m1")
	priv, _ := subjects.Seal(k, merchants.PrivateAAD("m1"), merchants.Private{USCC: "m1"})
	w.ok(merchants.CmdApply, merchants.Application{ID: "m1", Name: "某某公司", Model: merchants.Intermediary, USCCIndex: "uscc-m1", Private: priv, Key: fresh, Applicant: "acct-boss"})
	w.ok(merchants.CmdReview, merchants.DirectApproval("m1", "reviewer", "a test world"))
	// w1 and w2 invited before anything happens to them.
	w.ok(workers.CmdInvite, workers.Invitation{Merchant: "m1", By: "acct-boss", Rows: []workers.Invitee{{Row: 1, ID: "w1"}, {Row: 2, ID: "w2"}}})

	// A session of w1's, to see it end.
	w.ok(identity.CmdLoginOK, identity.LoginOK{NameIndex: []byte("name-w1"), TokenHash: idx("token-w1"),
		Session: identity.Session{ID: "s-w1", Account: "acct-w1", Created: w.Now, LastSeen: w.Now, Expires: w.Now.Add(time.Hour)}})
	out := w.ok(privacy.CmdCancel, privacy.Cancel{Worker: "w1", By: "acct-w1", Request: "pr-cancel"})
	if !bytes.Contains(out, []byte(`"cancellation":true`)) {
		t.Fatalf("cancel answered %s", out)
	}
	if c := w.worker("w1").Cancelled; c == nil || !c.Equal(w.Now) {
		t.Fatalf("cancelled: %v", c)
	}
	w.view(func(tx *state.ReadTx) error {
		a, err := identity.AccountByID(tx, "acct-w1")
		if err != nil || a.Closed.IsZero() {
			t.Errorf("the account is not closed: %+v %v", a, err)
		}
		if s, err := identity.SessionByHash(tx, idx("token-w1")); err != nil || s != nil {
			t.Errorf("the session lives on: %+v %v", s, err)
		}
		return nil
	})
	if q := w.request("pr-cancel"); q.Kind != privacy.Deletion || q.Status != privacy.Open || !q.Cancellation || !q.Due.Equal(privacy.Deadline(w.Now)) {
		t.Fatalf("the deletion request a cancellation files: %+v", q)
	}
	w.refused(privacy.CmdCancel, privacy.Cancel{Worker: "w1", By: "acct-w1", Request: "pr-x"}, "worker_cancelled")
	w.refused(privacy.CmdFile, privacy.Request{ID: "pr-y", Worker: "w1", Kind: privacy.Deletion, By: "acct-w1"}, "worker_cancelled")

	// No new link: accepting an invitation made before, or a new one.
	w.refused(workers.CmdAccept, workers.Acceptance{Worker: "w1", Merchant: "m1", By: "acct-w1"}, "worker_restricted")
	w.ok(workers.CmdAccept, workers.Acceptance{Worker: "w2", Merchant: "m1", By: "acct-w2"})

	// Withdrawing personal_info restricts w3: no invitation reaches them
	// (the batch refused whole in the state machine; the API's report
	// marks the row first); giving it again lifts the restriction.
	consent := workers.Consent{ID: "c1", Worker: "w3", Purpose: workers.PurposePersonalInfo, NoticeSM3: strings.Repeat("a", 64), NoticeVersion: "v1", Channel: "app", By: "acct-w3"}
	w.ok(workers.CmdConsent, consent)
	w.ok(workers.CmdWithdraw, workers.Withdrawal{Worker: "w3", Consent: "c1", By: "acct-w3"})
	if r := w.worker("w3").Restricted; r == nil || r.Basis != workers.BasisWithdrawn {
		t.Fatalf("after the withdrawal: %+v", r)
	}
	w.refused(workers.CmdInvite, workers.Invitation{Merchant: "m1", By: "acct-boss", Rows: []workers.Invitee{{Row: 1, ID: "w3"}}}, "worker_restricted")
	consent.ID = "c2"
	w.ok(workers.CmdConsent, consent)
	if r := w.worker("w3").Restricted; r != nil {
		t.Fatalf("consent given again: still restricted %+v", r)
	}
	w.ok(workers.CmdInvite, workers.Invitation{Merchant: "m1", By: "acct-boss", Rows: []workers.Invitee{{Row: 1, ID: "w3"}}})
}

func TestACancelledOrRestrictedWorkerIsPaidNothingNew(t *testing.T) {
	m := statetest.New(t, func(reg *state.Registry) {
		payoutstest.Register(reg, &payouts.Rules{Tax: tax.Default(), Location: "city", Channel: "sandbox", MonthlyLimitFen: payouts.DefaultMonthlyLimitFen})
		privacy.Register(reg, func() privacy.Retention {
			return func(*state.Tx, string, time.Time) (time.Time, string, error) {
				return time.Date(2040, 1, 1, 0, 0, 0, 0, time.UTC), "税收征收管理法 第十九条", nil
			}
		})
	})
	m.Now = time.Date(2026, 3, 10, 10, 0, 0, 0, payouts.China)
	w := &world{Machine: m, t: t}
	w.ok(payoutstest.CmdSeed, payoutstest.Seed{Merchants: []string{"m1"}, Workers: []string{"w0", "w1", "w2"}, Task: "task-1", AcceptedFen: 100_000})
	w.ok(payoutstest.CmdTopUp, payoutstest.TopUp{Merchant: "m1", Fen: 1_000_000, Ref: "t1"})
	w.ok(privacy.CmdCancel, privacy.Cancel{Worker: "w1", By: "acct-w1", Request: "pr1"})
	w.ok(privacy.CmdFile, privacy.Request{ID: "pr2", Worker: "w2", Kind: privacy.Deletion, By: "acct-w2"})
	w.ok(privacy.CmdDecide, privacy.Decision{Request: "pr2", Outcome: privacy.Apply, By: "acct-ops"})

	rows := []payouts.Row{{Worker: "w0", Task: "task-1", Amount: "100.00"}, {Worker: "w1", Task: "task-1", Amount: "100.00"}, {Worker: "w2", Task: "task-1", Amount: "100.00"}}
	cmds, err := payouts.UploadCommands("pb1", "m1", "march", "acct-op", rows, w.Now)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cmds {
		if res := w.Apply(c); res.Err != nil {
			t.Fatal(res.Err)
		}
	}
	w.ok(payouts.CmdConfirm, payouts.Confirm{Batch: "pb1", By: "acct-admin"})
	for {
		var b *payouts.Batch
		w.view(func(tx *state.ReadTx) (err error) { b, err = payouts.GetBatch(tx, "pb1"); return })
		if b.Status != payouts.Executing {
			break
		}
		w.ok(payouts.CmdExecute, payouts.Chunk{Batch: "pb1", Chunk: b.Done})
	}
	want := map[int]string{1: "", 2: payouts.ReasonWorkerRestricted, 3: payouts.ReasonWorkerRestricted}
	for row, code := range want {
		var p *payouts.Payment
		w.view(func(tx *state.ReadTx) (err error) {
			p, err = payouts.GetPayment(tx, payouts.PaymentID("pb1", row))
			return
		})
		if p.Code != code || code != "" && p.Status != payouts.Rejected || code == "" && p.Status != payouts.Accepted {
			t.Errorf("row %d (%s): %s %s (%s), want code %q", row, p.Worker, p.Status, p.Code, p.Reason, code)
		}
	}
}

// With the archives' retention wired, as the node wires it: a worker paid
// in 2026 asks for deletion and is restricted until the end of 2036, ten
// years after the last year they were paid (征管法实施细则第二十九条), told
// so; a worker never paid is erasing at once.
func TestADeletionIsDecidedByTheArchivesRetention(t *testing.T) {
	ar := &archives.Backend{}
	m := statetest.New(t, func(reg *state.Registry) {
		payoutstest.Register(reg, &payouts.Rules{Tax: tax.Default(), Location: "city", Channel: "sandbox", MonthlyLimitFen: payouts.DefaultMonthlyLimitFen})
		ar.Register(reg)
		reg.Bucket(risk.SubjectBucket) // what the archive's index reads besides
		privacy.Register(reg, func() privacy.Retention { return ar.Retention })
	})
	m.Now = time.Date(2026, 3, 10, 10, 0, 0, 0, payouts.China)
	w := &world{Machine: m, t: t}
	w.ok(payoutstest.CmdSeed, payoutstest.Seed{Merchants: []string{"m1"}, Workers: []string{"w_paid", "w_never"}, Task: "task-1", AcceptedFen: 100_000})
	w.ok(payoutstest.CmdTopUp, payoutstest.TopUp{Merchant: "m1", Fen: 1_000_000, Ref: "t1"})
	cmds, err := payouts.UploadCommands("pb1", "m1", "march", "acct-op", []payouts.Row{{Worker: "w_paid", Task: "task-1", Amount: "100.00"}}, w.Now)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cmds {
		if res := w.Apply(c); res.Err != nil {
			t.Fatal(res.Err)
		}
	}
	w.ok(payouts.CmdConfirm, payouts.Confirm{Batch: "pb1", By: "acct-admin"})
	w.ok(payouts.CmdExecute, payouts.Chunk{Batch: "pb1"})

	for _, id := range []string{"w_paid", "w_never"} {
		w.ok(privacy.CmdFile, privacy.Request{ID: "del-" + id, Worker: id, Kind: privacy.Deletion, By: "acct-" + id})
		w.ok(privacy.CmdDecide, privacy.Decision{Request: "del-" + id, Outcome: privacy.Apply, By: "acct-ops"})
	}
	paid := w.request("del-w_paid")
	end := time.Date(2036, 12, 31, 23, 59, 59, 0, payouts.China)
	if paid.Status != privacy.Restricted || !paid.Until.Equal(end) || !strings.Contains(paid.Basis, "税收征收管理法实施细则第二十九条") ||
		paid.Notice == nil || !strings.Contains(paid.Notice.ZH, "2036-12-31") {
		t.Fatalf("the paid worker's deletion: %+v", paid)
	}
	if r := w.worker("w_paid").Restricted; r == nil || !r.Until.Equal(end) || r.Request != "del-w_paid" {
		t.Fatalf("the paid worker's restriction: %+v", r)
	}
	if never := w.request("del-w_never"); never.Status != privacy.Erasing || !never.Until.IsZero() {
		t.Fatalf("the unpaid worker's deletion: %+v", never)
	}
}
