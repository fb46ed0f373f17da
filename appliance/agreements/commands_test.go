package agreements

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"cxt/appliance/esign"
	"cxt/appliance/identity"
	"cxt/appliance/merchants"
	"cxt/appliance/notify"
	"cxt/appliance/subjects"
	"cxt/crypto/subjectkey"
	"cxt/gateway/feed"
	"cxt/storage/state"
	"cxt/storage/state/statetest"
)

// world is a state machine with the domains agreements need, a merchant
// that is approved, a worker with a subject key, and their accounts.
type world struct {
	*statetest.Machine
	subj map[string]*subjectkey.Key
}

// cmdTestSubject installs a subject key, as the workers' own command will.
const cmdTestSubject = "test.subject"

func newWorld(t *testing.T) *world {
	w := &world{subj: map[string]*subjectkey.Key{}}
	w.Machine = statetest.New(t, func(reg *state.Registry) {
		identity.Register(reg)
		notify.Register(reg)
		subjects.Register(reg, nil)
		feed.Register(reg) // merchants speak command set 6, which appends to the feed
		merchants.Register(reg)
		Register(reg)
		reg.HandleFrom(state.PartiesSet, cmdTestSubject, func(tx *state.Tx, cmd *state.Command) ([]byte, error) {
			var in struct {
				ID    string         `json:"id"`
				Fresh subjects.Fresh `json:"fresh"`
			}
			json.Unmarshal(cmd.Body, &in)
			return nil, subjects.Install(tx, in.ID, in.Fresh)
		})
	})
	w.Now = time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	keys := w.Keys
	k, fresh, _ := subjects.NewKey(keys, "m_1")
	w.subj["m_1"] = k
	priv, _ := subjects.Seal(k, merchants.PrivateAAD("m_1"), merchants.Private{USCC: "91350100M000100Y43"})
	w.ok(merchants.CmdApply, merchants.Application{ID: "m_1", Name: "福州某某科技有限公司", Model: merchants.Intermediary, USCCIndex: "i", Private: priv, Key: fresh, Applicant: "acct-boss"})
	w.ok(merchants.CmdReview, merchants.DirectApproval("m_1", "reviewer", "a test world"))
	k, fresh, _ = subjects.NewKey(keys, "w_1")
	w.subj["w_1"] = k
	w.ok(cmdTestSubject, map[string]any{"id": "w_1", "fresh": fresh})
	for _, a := range []identity.Account{
		{ID: "acct-boss", Username: "boss", Roles: []string{identity.MerchantAdmin}, Merchant: "m_1", Phone: "13800001111"},
		{ID: "acct-op", Username: "op", Roles: []string{identity.PlatformOperator}, Phone: "13800002222"},
		{ID: "acct-w", Username: "zhang", Roles: []string{identity.Worker}, Worker: "w_1", Phone: "13800003333"},
	} {
		w.ok(identity.CmdCreateAccount, identity.CreateAccount{Account: a, NameIndex: []byte(a.Username)})
	}
	return w
}

func (w *world) ok(typ string, body any) []byte {
	w.TB.Helper()
	res := w.Send(typ, body)
	if res.Err != nil {
		w.TB.Fatalf("%s: %v", typ, res.Err)
	}
	return res.Value
}

func code(res state.Result) string {
	if res.Err == nil {
		return ""
	}
	return res.Err.Code
}

func (w *world) raw(bucket, key string) []byte {
	var out []byte
	w.State.View(func(r *state.ReadTx) error {
		b, err := r.Get(bucket, []byte(key))
		out = bytes.Clone(b)
		return err
	})
	return out
}

func (w *world) agreement(id string) *Agreement {
	a, err := decode(w.raw(Bucket, id))
	if err != nil {
		w.TB.Fatal(err)
	}
	return a
}

var pdfSM3 = strings.Repeat("ab", 32)

// newAgreement records an agreement of kind with a made-up PDF.
func (w *world) newAgreement(id string, kind Kind) state.Result {
	owner := "m_1"
	parties := []Party{{Role: esign.RolePlatform, Subject: esign.PlatformSubject, Name: "诚薪通"}, {Role: esign.RoleMerchant, Subject: "m_1", Name: "福州某某"}}
	a := Agreement{ID: id, Kind: kind, Merchant: "m_1", PDF: DocRef{ID: id + ".pdf", SM3: pdfSM3, Size: 1}, CreatedBy: "acct-op"}
	if kind == Tripartite {
		owner, a.Worker = "w_1", "w_1"
		parties = append(parties, Party{Role: esign.RoleWorker, Subject: "w_1", Name: "张伟"})
	}
	a.Parties = parties
	a.Values, _ = subjects.Seal(w.subj[owner], ValuesAAD(id), map[string]string{"x": "y"})
	a.ValuesOwner, a.ValuesKeyID = owner, w.subj[owner].ID()
	return w.Send(CmdCreate, a)
}

// codeFor issues an SMS code for subject's account and returns its proof.
func (w *world) codeFor(agreement, subject, account string) esign.Proof {
	w.TB.Helper()
	id := "sc_" + subject + w.Now.Format("150405")
	w.ok(CmdCode, IssueCode{Code: Code{ID: id, Agreement: agreement, Subject: subject, Account: account, DocumentSM3: pdfSM3, MAC: []byte{1}}, Text: "签署验证码 123456"})
	return esign.Proof{ID: id, Subject: subject, Account: account, Method: esign.MethodSMS, DocumentSM3: pdfSM3, VerifiedAt: w.Now, ExpiresAt: w.Now.Add(CodeLifetime)}
}

func (w *world) signBody(agreement, subject, account, proof string) SignBody {
	ev := Evidence{Subject: subject}
	if subject == esign.PlatformSubject {
		ev.Plain = []byte(`{}`)
	} else {
		ev.Sealed, _ = subjects.Seal(w.subj[subject], EvidenceAAD(agreement, subject), map[string]string{})
		ev.KeyID = w.subj[subject].ID()
	}
	return SignBody{Agreement: agreement, Subject: subject, Proof: proof, Account: account, Method: esign.MethodSMS, Evidence: ev}
}

// signAll has subject sign agreement with a fresh SMS code.
func (w *world) signWithCode(agreement, subject, account string) state.Result {
	w.TB.Helper()
	w.Now = w.Now.Add(CodeEvery)
	p := w.codeFor(agreement, subject, account)
	w.ok(CmdConsume, Consume{Agreement: agreement, Proof: p})
	return w.Send(CmdSign, w.signBody(agreement, subject, account, p.ID))
}

func TestATripartiteAgreementWaitsForTheCooperationAgreementAndEveryParty(t *testing.T) {
	w := newWorld(t)
	if res := w.newAgreement("agr_t0", Tripartite); code(res) != "merchant_status" {
		t.Fatalf("a tripartite agreement before the cooperation agreement: %v", res.Err)
	}
	if w.raw(Bucket, "agr_t0") != nil {
		t.Fatal("a refused agreement was recorded")
	}
	if res := w.newAgreement("agr_c1", Cooperation); res.Err != nil {
		t.Fatal(res.Err)
	}
	if res := w.newAgreement("agr_c2", Cooperation); code(res) != "conflict" {
		t.Fatalf("a second cooperation agreement while one is signed: %v", res.Err)
	}
	for _, s := range []struct{ subject, account string }{{esign.PlatformSubject, "acct-op"}, {"m_1", "acct-boss"}} {
		if res := w.signWithCode("agr_c1", s.subject, s.account); res.Err != nil {
			t.Fatalf("%s signs: %v", s.subject, res.Err)
		}
	}
	if a := w.agreement("agr_c1"); a.Status != Signed || len(a.Signatures) != 2 {
		t.Fatalf("after both signed: %+v", a)
	}
	w.ok(CmdSeal, SealBody{Agreement: "agr_c1", Evidence: DocRef{ID: "e1", SM3: pdfSM3, Size: 1}, SealedAt: w.Now})
	if res := w.Send(CmdSeal, SealBody{Agreement: "agr_c1", Evidence: DocRef{ID: "e2", SM3: pdfSM3, Size: 1}, SealedAt: w.Now}); code(res) != "conflict" {
		t.Fatalf("sealing twice: %v", res.Err)
	}
	var m merchants.Merchant
	json.Unmarshal(w.raw(merchants.Bucket, "m_1"), &m)
	if m.Agreement != "agr_c1" || w.agreement("agr_c1").Status != Complete {
		t.Fatalf("after the seal: merchant %q, agreement %s", m.Agreement, w.agreement("agr_c1").Status)
	}

	// Now the tripartite agreement: three parties, the worker's values
	// under the worker's key.
	if res := w.newAgreement("agr_t1", Tripartite); res.Err != nil {
		t.Fatal(res.Err)
	}
	if a := w.agreement("agr_t1"); len(a.Parties) != 3 || a.ValuesOwner != "w_1" || a.Tenancy().Worker != "w_1" || a.Tenancy().Merchants[0] != "m_1" {
		t.Fatalf("tripartite: %+v", a)
	}
	if res := w.signWithCode("agr_t1", "w_1", "acct-w"); res.Err != nil {
		t.Fatal(res.Err)
	}
	if res := w.Send(CmdSeal, SealBody{Agreement: "agr_t1", Evidence: DocRef{ID: "e3", SM3: pdfSM3, Size: 1}, SealedAt: w.Now}); code(res) != "signing_incomplete" {
		t.Fatalf("sealing before everyone signed: %v", res.Err)
	}
	for _, s := range []struct{ subject, account string }{{"m_1", "acct-boss"}, {esign.PlatformSubject, "acct-op"}} {
		if res := w.signWithCode("agr_t1", s.subject, s.account); res.Err != nil {
			t.Fatalf("%s signs: %v", s.subject, res.Err)
		}
	}
	if a := w.agreement("agr_t1"); a.Status != Signed || a.Signatures[0].Subject != "w_1" || a.Parties[2].Account != "acct-w" {
		t.Fatalf("after all signed: %+v", a)
	}
}

// The state is the ledger: a code is consumed once, in time, for its own
// party, account and PDF, and a signature needs such a consumed code; every
// refusal leaves the records as they were.
func TestASignatureNeedsItsOwnFreshCodeConsumedOnce(t *testing.T) {
	w := newWorld(t)
	if res := w.newAgreement("agr_c1", Cooperation); res.Err != nil {
		t.Fatal(res.Err)
	}
	p := w.codeFor("agr_c1", "m_1", "acct-boss")
	if res := w.Send(CmdCode, IssueCode{Code: Code{ID: "sc_again", Agreement: "agr_c1", Subject: "m_1", Account: "acct-boss", DocumentSM3: pdfSM3, MAC: []byte{1}}, Text: "x"}); code(res) != "conflict" {
		t.Fatalf("a second code within a minute: %v", res.Err)
	}
	if res := w.Send(CmdCode, IssueCode{Code: Code{ID: "sc_other", Agreement: "agr_c1", Subject: "m_1", Account: "acct-boss", DocumentSM3: strings.Repeat("0", 64), MAC: []byte{1}}, Text: "x"}); code(res) != "authentication_mismatch" {
		t.Fatalf("a code for another PDF: %v", res.Err)
	}
	before := w.raw(Bucket, "agr_c1")
	codeBefore := w.raw(CodesBucket, p.ID)
	other := p
	other.DocumentSM3 = strings.Repeat("0", 64)
	stranger := p
	stranger.Account = "acct-w"
	late := p
	for _, c := range []struct {
		name string
		typ  string
		body any
		at   time.Duration
		want string
	}{
		{"a signature without a consumed code", CmdSign, w.signBody("agr_c1", "m_1", "acct-boss", p.ID), 0, "authentication_required"},
		{"a code consumed for a modified PDF", CmdConsume, Consume{Agreement: "agr_c1", Proof: other}, 0, "authentication_mismatch"},
		{"a code consumed by another account", CmdConsume, Consume{Agreement: "agr_c1", Proof: stranger}, 0, "authentication_mismatch"},
		{"a code consumed for another agreement", CmdConsume, Consume{Agreement: "agr_c9", Proof: p}, 0, "authentication_mismatch"},
		{"an expired code", CmdConsume, Consume{Agreement: "agr_c1", Proof: late}, CodeLifetime, "authentication_expired"},
		{"an unknown code", CmdConsume, Consume{Agreement: "agr_c1", Proof: esign.Proof{ID: "sc_nope", Method: esign.MethodSMS}}, 0, "authentication_required"},
	} {
		saved := w.Now
		w.Now = w.Now.Add(c.at)
		if res := w.Send(c.typ, c.body); code(res) != c.want {
			t.Fatalf("%s: %v, want %s", c.name, res.Err, c.want)
		}
		w.Now = saved
		if !bytes.Equal(w.raw(Bucket, "agr_c1"), before) || !bytes.Equal(w.raw(CodesBucket, p.ID), codeBefore) || w.raw(ProofsBucket, p.ID) != nil {
			t.Fatalf("%s changed the records", c.name)
		}
	}
	w.ok(CmdConsume, Consume{Agreement: "agr_c1", Proof: p})
	if res := w.Send(CmdConsume, Consume{Agreement: "agr_c1", Proof: p}); code(res) != "authentication_reused" {
		t.Fatalf("a replayed code: %v", res.Err)
	}
	// The consumed proof is the merchant's: it signs for nobody else.
	if res := w.Send(CmdSign, w.signBody("agr_c1", esign.PlatformSubject, "acct-boss", p.ID)); code(res) != "authentication_required" {
		t.Fatalf("another party's proof: %v", res.Err)
	}
	w.ok(CmdSign, w.signBody("agr_c1", "m_1", "acct-boss", p.ID))
	if res := w.Send(CmdSign, w.signBody("agr_c1", "m_1", "acct-boss", p.ID)); code(res) != "already_signed" {
		t.Fatalf("signing twice: %v", res.Err)
	}
	// A party's evidence is sealed under its own key, and that key only.
	bad := w.signBody("agr_c1", esign.PlatformSubject, "acct-op", "x")
	bad.Evidence = Evidence{Subject: esign.PlatformSubject, Sealed: []byte{1}, KeyID: 1}
	if res := w.Send(CmdSign, bad); code(res) != "invalid_request" {
		t.Fatalf("sealed platform evidence: %v", res.Err)
	}
	// Wrong codes burn a code after MaxMisses.
	w.Now = w.Now.Add(CodeEvery)
	q := w.codeFor("agr_c1", esign.PlatformSubject, "acct-op")
	for range MaxMisses {
		w.ok(CmdMiss, Miss{ID: q.ID})
	}
	if res := w.Send(CmdConsume, Consume{Agreement: "agr_c1", Proof: q}); code(res) != "authentication_reused" {
		t.Fatalf("a burnt code: %v", res.Err)
	}
	// A code goes to a phone by SMS only, the code in the SMS alone.
	var n notify.Notification
	w.State.View(func(r *state.ReadTx) error {
		return r.ForEach(notify.NotificationsBucket, func(_, v []byte) error {
			var x notify.Notification
			json.Unmarshal(v, &x)
			if x.Event == "agreement.code" && x.Account == "acct-op" {
				n = x
			}
			return nil
		})
	})
	if _, ok := n.Deliveries[notify.SMS]; !ok || len(n.Deliveries) != 2 || strings.Contains(n.Body, "123456") {
		t.Fatalf("the code's notification: %+v", n)
	}
}
