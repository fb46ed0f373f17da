package queries_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"cxt/appliance/agreements"
	"cxt/appliance/ident"
	"cxt/appliance/merchants"
	"cxt/appliance/payouts"
	"cxt/appliance/payouts/payoutstest"
	"cxt/appliance/subjects"
	"cxt/appliance/tasks"
	"cxt/appliance/tax"
	"cxt/appliance/workers"
	"cxt/appliance/workers/workerstest"
	"cxt/crypto/subjectkey"
	"cxt/storage/blob"
	"cxt/storage/state"
	"cxt/storage/state/statetest"
)

// The world: two tax offices, A (Beijing Chaoyang) and B (Shanghai
// Pudong), a merchant of each and one of none; workers paid by A's merchant
// only, by B's only, by both, one linked to nobody, and one of A's who is
// shredded. The parties are put as payoutstest puts them, then given what
// onboarding would have given them — subject keys, sealed identities,
// blind indexes, tax offices, signed agreements with their PDFs,
// qualification documents and completion proof in a blob store — and paid
// through the payouts' own commands.

const (
	officeA   = "11101050000"
	officeB   = "13101150000"
	cmdPeople = "test.gateway_people"
)

// people is what the test command writes: records as their packages keep
// them, with the subject keys their sealed fields are under.
type people struct {
	Merchants  []merchants.Merchant      `json:"merchants"`
	Workers    []workers.Worker          `json:"workers"`
	Keys       map[string]subjects.Fresh `json:"keys"`
	USCC       map[string]string         `json:"uscc"`     // merchant -> hex blind index
	IDIndex    map[string][]byte         `json:"id_index"` // worker -> blind index
	Agreements []agreements.Agreement    `json:"agreements"`
	Works      []tasks.Work              `json:"works"`
	Tasks      map[string]string         `json:"tasks"`    // task -> merchant
	Assigned   map[string][]string       `json:"assigned"` // task -> workers with work on it
}

func applyPeople(tx *state.Tx, cmd *state.Command) ([]byte, error) {
	var in people
	if err := json.Unmarshal(cmd.Body, &in); err != nil {
		return nil, err
	}
	put := func(bucket, key string, v any) error {
		b, err := json.Marshal(v)
		if err != nil {
			return err
		}
		return tx.Put(bucket, []byte(key), b)
	}
	for id, f := range in.Keys {
		if err := subjects.Install(tx, id, f); err != nil {
			return nil, err
		}
	}
	for _, m := range in.Merchants {
		if err := put(merchants.Bucket, m.ID, m); err != nil {
			return nil, err
		}
		if err := tx.Put(merchants.USCCBucket, []byte(in.USCC[m.ID]), []byte(m.ID)); err != nil {
			return nil, err
		}
	}
	for _, w := range in.Workers {
		if err := put(workers.Bucket, w.ID, w); err != nil {
			return nil, err
		}
		if err := tx.Put(workers.IDIndexBucket, in.IDIndex[w.ID], []byte(w.ID)); err != nil {
			return nil, err
		}
	}
	for _, a := range in.Agreements {
		if err := put(agreements.Bucket, a.ID, a); err != nil {
			return nil, err
		}
		key := "cooperation/" + a.Merchant
		if a.Kind == agreements.Tripartite {
			key = "tripartite/" + a.Merchant + "/" + a.Worker
		}
		if err := tx.Put(agreements.IndexBucket, []byte(key), []byte(a.ID)); err != nil {
			return nil, err
		}
	}
	for task, m := range in.Tasks {
		if err := tx.Put(tasks.MerchantBucket, []byte(m+"/"+task), []byte(task)); err != nil {
			return nil, err
		}
	}
	for task, ws := range in.Assigned {
		for _, w := range ws {
			if err := tx.Put(tasks.WorkerBucket, []byte(w+"/"+task), []byte(task)); err != nil {
				return nil, err
			}
		}
	}
	for _, w := range in.Works {
		if err := put(tasks.WorkBucket, string(tasks.WorkKey(w.Task, w.Worker)), w); err != nil {
			return nil, err
		}
		if err := tx.Put(tasks.WorkerBucket, []byte(w.Worker+"/"+w.Task), []byte(w.Task)); err != nil {
			return nil, err
		}
	}
	return nil, nil
}

type world struct {
	*statetest.Machine
	t     testing.TB
	store *blob.Store
	// The parties' IDs, and what identifies them outside.
	mA, mB, mNone              string
	wA, wB, wAB, wShred, wNone string
	uscc                       map[string]string // merchant -> credit code
	idNumber                   map[string]string // worker -> resident ID number
	// Documents: the bytes stored, by reference.
	docs map[string][]byte
	// What the world paid: payment IDs by merchant.
	paid map[string][]string
	// failed is a payment of A's to wA that the bank failed.
	failed string
}

var now = time.Date(2026, 3, 10, 10, 0, 0, 0, payouts.China)

func newWorld(t testing.TB) *world {
	t.Helper()
	m := statetest.New(t, func(reg *state.Registry) {
		payoutstest.Register(reg, &payouts.Rules{Tax: tax.Default(), Location: "city", Channel: "sandbox", MonthlyLimitFen: payouts.DefaultMonthlyLimitFen})
		subjects.Register(reg, nil)
		reg.HandleFrom(state.MoneySet, cmdPeople, applyPeople)
	})
	m.Now = now
	dir, err := blob.NewDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	w := &world{Machine: m, t: t, store: blob.New(dir, m.Keys),
		mA: "m_00000000000000a1", mB: "m_00000000000000b1", mNone: "m_0000000000000001",
		uscc: map[string]string{}, idNumber: map[string]string{}, docs: map[string][]byte{}, paid: map[string][]string{}}
	ids := workers.NewIDs(now, 5)
	w.wA, w.wB, w.wAB, w.wShred, w.wNone = ids[0], ids[1], ids[2], ids[3], ids[4]

	w.ok(payoutstest.CmdSeed, payoutstest.Seed{Merchants: []string{w.mA}, Workers: []string{w.wA, w.wAB, w.wShred}, Task: "task-a", AcceptedFen: 50_000_00})
	w.ok(payoutstest.CmdSeed, payoutstest.Seed{Merchants: []string{w.mB}, Workers: []string{w.wB, w.wAB}, Task: "task-b", AcceptedFen: 50_000_00})
	w.ok(payoutstest.CmdSeed, payoutstest.Seed{Merchants: []string{w.mNone}})

	p := people{Keys: map[string]subjects.Fresh{}, USCC: map[string]string{}, IDIndex: map[string][]byte{},
		Tasks:    map[string]string{"task-a": w.mA, "task-b": w.mB},
		Assigned: map[string][]string{"task-a": {w.wA, w.wAB, w.wShred}, "task-b": {w.wB, w.wAB}}}
	indexKey, err := m.Keys.IndexKey()
	if err != nil {
		t.Fatal(err)
	}
	keys := map[string]*subjectkey.Key{}
	newKey := func(id string) *subjectkey.Key {
		k, fresh, err := subjects.NewKey(m.Keys, id)
		if err != nil {
			t.Fatal(err)
		}
		keys[id], p.Keys[id] = k, fresh
		return k
	}
	for i, c := range []struct{ id, office, area string }{{w.mA, officeA, "110105"}, {w.mB, officeB, "310115"}, {w.mNone, "", "440300"}} {
		k := newKey(c.id)
		code := usccOf(t, c.area)
		w.uscc[c.id] = code
		p.USCC[c.id] = merchants.USCCIndex(indexKey, code)
		priv, err := subjects.Seal(k, merchants.PrivateAAD(c.id), merchants.Private{USCC: code,
			LegalRep: merchants.Person{Name: workerstest.Name(100 + i), IDNumber: workerstest.ID(100 + i)},
			Contacts: []merchants.Contact{{Name: workerstest.Name(200 + i), Phone: workerstest.Phone(200 + i)}},
			Bank:     merchants.Bank{Name: "工商银行", Account: workerstest.Card(300 + i), Holder: "商户 " + c.id}})
		if err != nil {
			t.Fatal(err)
		}
		licence := w.put(k, "licence-"+c.id, []byte("licence of "+c.id))
		p.Merchants = append(p.Merchants, merchants.Merchant{ID: c.id, Name: "商户 " + c.id, Model: merchants.Intermediary, TaxOffice: c.office,
			Status: merchants.Approved, KeyID: k.ID(), Private: priv, Applicant: "acct-" + c.id, Agreement: "agr_coop_" + c.id,
			Documents: []merchants.DocRef{{ID: licence.ID, Kind: merchants.DocBusinessLicence, Type: "application/pdf", Size: licence.Size, SM3: hexOf(licence.SM3)}},
			History:   []merchants.Event{{At: now, By: "acct-reviewer", Action: merchants.ActApprove, From: merchants.Applied, To: merchants.Approved}},
			Created:   now, Approved: now})
		w.docs["merchant:"+c.id+":"+licence.ID] = []byte("licence of " + c.id)
		p.Agreements = append(p.Agreements, w.agreement("agr_coop_"+c.id, agreements.Cooperation, c.id, ""))
	}
	links := map[string][]string{w.wA: {w.mA}, w.wB: {w.mB}, w.wAB: {w.mA, w.mB}, w.wShred: {w.mA}, w.wNone: nil}
	for i, id := range []string{w.wA, w.wB, w.wAB, w.wShred, w.wNone} {
		k := newKey(id)
		w.idNumber[id] = workerstest.ID(i + 1)
		p.IDIndex[id], _ = workers.Indexes(indexKey, w.idNumber[id], workerstest.Phone(i+1))
		priv, err := subjects.Seal(k, workers.PrivateAAD(id), workers.Private{Name: workerstest.Name(i + 1), IDNumber: w.idNumber[id],
			Phone: workerstest.Phone(i + 1), BankCard: workerstest.Card(i + 1)})
		if err != nil {
			t.Fatal(err)
		}
		p.Workers = append(p.Workers, workers.Worker{ID: id, KeyID: k.ID(), Private: priv, Merchants: links[id], Origin: workers.OriginInvited,
			RealName: &workers.Check{Status: workers.Verified, Provider: "sandbox", At: now}, Created: now})
		for _, mer := range links[id] {
			p.Agreements = append(p.Agreements, w.agreement("agr_"+mer+"_"+id, agreements.Tripartite, mer, id))
		}
	}
	// wA's work on A's task carries completion proof, under A's key.
	proof := w.put(keys[w.mA], "proof-a1", []byte("photo of the work done"))
	p.Works = append(p.Works, tasks.Work{Task: "task-a", Worker: w.wA, Merchant: w.mA, Status: tasks.Accepted, Amount: "50000.00", Accepted: now,
		Proof: []tasks.ProofRef{{ID: proof.ID, Type: "image/jpeg", Size: proof.Size, SM3: hexOf(proof.SM3), Uploaded: now, By: "acct-" + w.wA}}})
	w.docs["proof:task-a:"+w.wA+":"+proof.ID] = []byte("photo of the work done")
	w.ok(cmdPeople, p)

	for _, mer := range []string{w.mA, w.mB} {
		w.ok(payoutstest.CmdTopUp, payoutstest.TopUp{Merchant: mer, Fen: 1_000_000_00, Ref: "top-" + mer})
	}
	w.pay(w.mA, "task-a", map[string]int64{w.wA: 3_000_00, w.wAB: 20_000_00, w.wShred: 800_00})
	w.pay(w.mA, "task-a", map[string]int64{w.wA: 1_234_56})
	w.pay(w.mB, "task-b", map[string]int64{w.wB: 2_000_00, w.wAB: 7_000_00})
	// wA's second payment fails at the bank: reversed, its tax with it.
	w.failed = w.paid[w.mA][len(w.paid[w.mA])-1]
	pf := w.payment(w.failed)
	w.ok(payouts.CmdSent, payouts.Sent{Channel: pf.Channel, Items: []payouts.SentItem{{Outbox: pf.Outbox, Payment: pf.ID, ChannelRef: "bank-1"}}})
	w.ok(payouts.CmdResults, payouts.Results{Channel: pf.Channel, Cursor: "1", Items: []payouts.Result{{Payment: pf.ID, Status: payouts.Failed, Reason: "card closed", At: now}}})
	if p := w.payment(w.failed); p.Status != payouts.Failed {
		t.Fatalf("the failed payment is %s", p.Status)
	}
	w.ok(subjects.CmdShred, map[string]string{"subject": w.wShred, "reason": "the worker asked to be forgotten"})
	return w
}

// agreement is a complete agreement whose PDF is in the store under the
// platform's key, signed by every party.
func (w *world) agreement(id string, kind agreements.Kind, merchant, worker string) agreements.Agreement {
	w.t.Helper()
	body := []byte("%PDF-1.7 agreement " + id)
	info := w.put(nil, "pdf-"+id, body)
	w.docs["agreement:"+id+":pdf"] = body
	parties := []agreements.Party{{Role: "platform", Subject: "platform", Name: "平台", SignedAt: now},
		{Role: "merchant", Subject: merchant, Name: "商户 " + merchant, SignedAt: now.Add(time.Minute)}}
	if worker != "" {
		parties = append(parties, agreements.Party{Role: "worker", Subject: worker, Name: "工人 " + worker, SignedAt: now.Add(2 * time.Minute)})
	}
	return agreements.Agreement{ID: id, Kind: kind, Template: agreements.TemplateRef{ID: kind.Template(), Version: 1},
		Merchant: merchant, Worker: worker, PDF: agreements.DocRef{ID: info.ID, SM3: hexOf(info.SM3), Size: info.Size},
		Parties: parties, Status: agreements.Complete, CreatedBy: "acct-op", Created: now}
}

// put stores a document under key (nil: the platform's document key).
func (w *world) put(key *subjectkey.Key, id string, body []byte) blob.Info {
	w.t.Helper()
	s := w.store
	if key != nil {
		s = s.Under(key)
	}
	info, err := s.Put(context.Background(), id, bytes.NewReader(body), int64(len(body)))
	if err != nil {
		w.t.Fatal(err)
	}
	return info
}

var batches int

// pay runs one batch of merchant's for task, through upload, confirm and
// every chunk, and checks that each row was booked.
func (w *world) pay(merchant, task string, amounts map[string]int64) {
	w.t.Helper()
	batches++
	id := fmt.Sprintf("pb-%s-%d", merchant, batches)
	var rows []payouts.Row
	for _, wk := range []string{w.wA, w.wB, w.wAB, w.wShred} {
		if fen, ok := amounts[wk]; ok {
			rows = append(rows, payouts.Row{No: len(rows) + 1, Worker: wk, Task: task, Fen: fen})
		}
	}
	cmds, err := payouts.UploadCommands(id, merchant, "ref-"+id, "acct-op", rows, w.Now)
	if err != nil {
		w.t.Fatal(err)
	}
	for _, c := range cmds {
		if res := w.Apply(c); res.Err != nil {
			w.t.Fatalf("upload %s: %v", c.Type, res.Err)
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
	for _, row := range rows {
		pid := payouts.PaymentID(id, row.No)
		p := w.payment(pid)
		if p.Status != payouts.Accepted {
			w.t.Fatalf("payment %s to %s is %s: %s %s", pid, row.Worker, p.Status, p.Code, p.Reason)
		}
		w.paid[merchant] = append(w.paid[merchant], pid)
	}
}

func (w *world) payment(id string) *payouts.Payment {
	w.t.Helper()
	var p *payouts.Payment
	w.view(func(r *state.ReadTx) (err error) { p, err = payouts.GetPayment(r, id); return })
	return p
}

func (w *world) ok(typ string, body any) {
	w.t.Helper()
	if res := w.Send(typ, body); res.Err != nil {
		w.t.Fatalf("%s: %v", typ, res.Err)
	}
}

func (w *world) view(fn func(*state.ReadTx) error) {
	w.t.Helper()
	if err := w.State.View(fn); err != nil {
		w.t.Fatal(err)
	}
}

// usccOf is a valid credit code of an enterprise registered in area.
func usccOf(t testing.TB, area string) string {
	first := "91" + area + "M000100Y4"
	c, err := ident.USCCCheckChar(first)
	if err != nil {
		t.Fatal(err)
	}
	return first + string(c)
}

func hexOf(b [32]byte) string { return fmt.Sprintf("%x", b[:]) }
