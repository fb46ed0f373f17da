package workers

import (
	"encoding/hex"
	"encoding/json"
	"strings"
	"testing"

	"cxt/appliance/identity"
	"cxt/appliance/merchants"
	"cxt/appliance/notify"
	"cxt/appliance/subjects"
	"cxt/crypto/sm"
	"cxt/gateway/feed"
	"cxt/policy"
	"cxt/storage/state"
	"cxt/storage/state/statetest"
)

type world struct{ *statetest.Machine }

func newWorld(t testing.TB) *world {
	return &world{statetest.New(t, func(reg *state.Registry) {
		identity.Register(reg)
		notify.Register(reg)
		subjects.Register(reg, nil)
		feed.Register(reg) // merchants speak command set 6, which appends to the feed
		merchants.Register(reg)
		Register(reg)
	})}
}

// merchant applies for and, if approve, approves a merchant.
func (w *world) merchant(id string, approve bool) {
	k, fresh, _ := subjects.NewKey(w.Keys, id)
	priv, _ := subjects.Seal(k, merchants.PrivateAAD(id), merchants.Private{USCC: id})
	if res := w.Send(merchants.CmdApply, merchants.Application{ID: id, Name: "某某公司 " + id, Model: merchants.Intermediary,
		USCCIndex: "uscc-" + id, Private: priv, Key: fresh, Applicant: "acct-" + id}); res.Err != nil {
		panic(res.Err)
	}
	if approve {
		if res := w.Send(merchants.CmdReview, merchants.DirectApproval(id, "reviewer", "a test world")); res.Err != nil {
			panic(res.Err)
		}
	}
}

// fresh seals a new worker's fields as the API does.
func (w *world) fresh(id string, p Private) (uint32, Invitee) {
	k, f, err := subjects.NewKey(w.Keys, id)
	if err != nil {
		panic(err)
	}
	priv, _ := subjects.Seal(k, PrivateAAD(id), p)
	return k.ID(), Invitee{ID: id, IDIndex: idx("id-" + p.IDNumber), PhoneIndex: idx("ph-" + p.Phone), Key: &f, Private: priv}
}

// idx stands in for a blind index in tests of the state machine.
func idx(s string) []byte { h := sm.Sum([]byte(s)); return h[:] }

func (w *world) registration(id string, p Private, username string) Registration {
	_, in := w.fresh(id, p)
	acct := identity.Account{ID: "acct-" + username, Username: username, Roles: []string{identity.Worker}, Clearance: 1, Worker: id, MustChange: true}
	return Registration{ID: id, IDIndex: in.IDIndex, PhoneIndex: in.PhoneIndex, Key: *in.Key, Private: in.Private,
		Account: identity.CreateAccount{Account: acct, NameIndex: []byte("name-" + username)}, Risk: identityDecided(policy.Allow, "")}
}

// identityDecided is an identity rules' decision by rule (none: allow).
func identityDecided(outcome, rule string) *policy.Decided {
	d := &policy.Decided{Concern: policy.RiskWorker, Policy: "embedded", Settings: "1", InputSM3: "ab", Input: []byte(`{}`)}
	d.Outcome = outcome
	if rule != "" {
		d.Rule, d.Code, d.Reason = rule, "risk_x", "because"
		d.Hits = []policy.Hit{{Rule: rule, Outcome: outcome, Code: "risk_x", Reason: "because"}}
	}
	return d
}

func (w *world) worker(id string) *Worker {
	var out *Worker
	w.State.View(func(tx *state.ReadTx) error {
		var err error
		out, err = Get(tx, id)
		return err
	})
	return out
}

func (w *world) count(bucket string) int {
	n := 0
	w.State.View(func(tx *state.ReadTx) error {
		return tx.ForEach(bucket, func(_, _ []byte) error { n++; return nil })
	})
	return n
}

var (
	zhang = Private{Name: "张三", IDNumber: "11010519491231002X", Phone: "13800001111"}
	li    = Private{Name: "李四", IDNumber: "110105199003070014", Phone: "13800002222"}
)

func TestAPersonRegistersOnceAndTakesOverTheirInvitation(t *testing.T) {
	w := newWorld(t)
	if res := w.Send(CmdRegister, w.registration("w_1", zhang, "zhang")); res.Err != nil {
		t.Fatalf("register: %v", res.Err)
	}
	if got := w.worker("w_1"); got.Account != "acct-zhang" || got.Origin != OriginSelf || len(got.Merchants) != 0 ||
		got.IDIndex != hex.EncodeToString(idx("id-"+zhang.IDNumber)) || got.Risk == nil || got.Risk.Outcome != policy.Allow {
		t.Fatalf("registered %+v", got)
	}
	cases := []struct {
		name string
		reg  Registration
		code string
	}{
		{"the same ID number again", w.registration("w_2", zhang, "zhang2"), "worker_duplicate"},
		{"another's phone", w.registration("w_3", Private{Name: "王五", IDNumber: "110105199003071459", Phone: zhang.Phone}, "wang"), "worker_phone_taken"},
		{"a blind index that is not an HMAC-SM3", func() Registration {
			g := w.registration("w_6", li, "li")
			g.IDIndex = g.IDIndex[:5]
			return g
		}(), "invalid_request"},
		{"no identity decision", func() Registration {
			g := w.registration("w_7", li, "li")
			g.Risk = nil
			return g
		}(), "invalid_request"},
		{"an identity the rules reject", func() Registration {
			g := w.registration("w_8", li, "li")
			g.Risk = identityDecided(policy.Reject, "lists.id")
			return g
		}(), "risk_refused"},
		{"a merchant's account", func() Registration {
			g := w.registration("w_4", li, "li")
			g.Account.Account.Merchant = "m_1"
			return g
		}(), "invalid_request"},
	}
	for _, c := range cases {
		if res := w.Send(CmdRegister, c.reg); statetest.Code(res.Err) != c.code {
			t.Errorf("%s: %v, want %s", c.name, res.Err, c.code)
		}
	}
	if n := w.count(Bucket); n != 1 {
		t.Fatalf("%d workers after refusals", n)
	}

	// 李四 is invited by a merchant first, then registers: a claim.
	w.merchant("m_1", true)
	_, in := w.fresh("w_5", li)
	in.Row = 2
	if res := w.Send(CmdInvite, Invitation{Merchant: "m_1", By: "acct-boss", Rows: []Invitee{in}}); res.Err != nil {
		t.Fatalf("invite: %v", res.Err)
	}
	claim := w.registration("w_5", li, "li")
	claim.Claim, claim.Key, claim.Private = true, subjects.Fresh{}, nil
	wrongPhone := claim
	wrongPhone.PhoneIndex = idx("ph-13900009999")
	if res := w.Send(CmdRegister, wrongPhone); statetest.Code(res.Err) != "worker_duplicate" {
		t.Fatalf("a claim with another phone: %v", res.Err)
	}
	if res := w.Send(CmdRegister, claim); res.Err != nil {
		t.Fatalf("claim: %v", res.Err)
	}
	if got := w.worker("w_5"); got.Account != "acct-li" || got.Origin != OriginInvited || len(got.Merchants) != 1 {
		t.Fatalf("claimed %+v", got)
	}
	again := claim
	again.Account.Account.ID, again.Account.NameIndex = "acct-li2", []byte("name-li2")
	if res := w.Send(CmdRegister, again); statetest.Code(res.Err) != "worker_duplicate" {
		t.Fatalf("a second claim: %v", res.Err)
	}
}

func TestAnInvitationBatchIsAppliedWholeOrNotAtAll(t *testing.T) {
	w := newWorld(t)
	w.merchant("m_1", true)
	w.merchant("m_2", true)
	w.merchant("m_new", false)
	w.Send(CmdRegister, w.registration("w_z", zhang, "zhang"))

	_, a := w.fresh("w_a", li)
	_, b := w.fresh("w_b", Private{Name: "王五", IDNumber: "110105199003071459", Phone: "13800003333"})
	_, dup := w.fresh("w_c", Private{Name: "张三", IDNumber: zhang.IDNumber, Phone: "13800004444"})
	a.Row, b.Row, dup.Row = 2, 3, 4
	short := b
	short.PhoneIndex = nil
	if res := w.Send(CmdInvite, Invitation{Merchant: "m_1", By: "x", Rows: []Invitee{a, short}}); statetest.Code(res.Err) != "invalid_request" {
		t.Fatalf("a row without its phone's index: %v", res.Err)
	}
	if res := w.Send(CmdInvite, Invitation{Merchant: "m_new", By: "x", Rows: []Invitee{a}}); statetest.Code(res.Err) != "merchant_status" {
		t.Fatalf("a merchant not approved: %v", res.Err)
	}
	res := w.Send(CmdInvite, Invitation{Merchant: "m_1", By: "acct-boss", Rows: []Invitee{a, b, dup}})
	if statetest.Code(res.Err) != "worker_duplicate" || !strings.Contains(res.Err.Message, "row 4") {
		t.Fatalf("a batch with a registered ID number: %v", res.Err)
	}
	if w.count(Bucket) != 1 || w.count(LinkBucket) != 0 || w.count(IDIndexBucket) != 1 || w.count(subjects.Bucket) != 4 {
		t.Fatalf("a refused batch left %d workers, %d links, %d indexes, %d subject keys", w.count(Bucket), w.count(LinkBucket), w.count(IDIndexBucket), w.count(subjects.Bucket))
	}
	// Without the duplicate, and with 张三 linked rather than created.
	res = w.Send(CmdInvite, Invitation{Merchant: "m_1", By: "acct-boss", Rows: []Invitee{a, b, {Row: 4, ID: "w_z"}}})
	if res.Err != nil {
		t.Fatalf("invite: %v", res.Err)
	}
	var out []Outcome
	json.Unmarshal(res.Value, &out)
	want := []Outcome{{2, "w_a", RowCreated}, {3, "w_b", RowCreated}, {4, "w_z", RowLinked}}
	if len(out) != 3 || out[0] != want[0] || out[1] != want[1] || out[2] != want[2] {
		t.Fatalf("outcomes %+v", out)
	}
	// Another merchant links the same person: one worker, two links.
	res = w.Send(CmdInvite, Invitation{Merchant: "m_2", By: "acct-boss2", Rows: []Invitee{{Row: 2, ID: "w_a"}}})
	json.Unmarshal(res.Value, &out)
	if res.Err != nil || out[0].Status != RowLinked {
		t.Fatalf("second merchant: %v %+v", res.Err, out)
	}
	res = w.Send(CmdInvite, Invitation{Merchant: "m_2", By: "acct-boss2", Rows: []Invitee{{Row: 2, ID: "w_a"}}})
	json.Unmarshal(res.Value, &out)
	if res.Err != nil || out[0].Status != RowAlreadyLinked {
		t.Fatalf("the same invitation again: %v %+v", res.Err, out)
	}
	// An invitation to a person already on record opens nothing of theirs
	// to the merchant until they accept it (the red team linked another
	// merchant's worker by name and ID number alone).
	if got := w.worker("w_a"); strings.Join(got.Merchants, ",") != "m_1" || got.Tenancy().Worker != "w_a" {
		t.Fatalf("w_a before accepting m_2: %+v", got.Merchants)
	}
	if res := w.Send(CmdAccept, Acceptance{Worker: "w_a", Merchant: "m_2", By: "acct-a"}); res.Err != nil {
		t.Fatalf("accept: %v", res.Err)
	}
	if got := w.worker("w_a"); strings.Join(got.Merchants, ",") != "m_1,m_2" {
		t.Fatalf("w_a after accepting m_2: %+v", got.Merchants)
	}
	if res := w.Send(CmdAccept, Acceptance{Worker: "w_a", Merchant: "m_2", By: "acct-a"}); statetest.Code(res.Err) != "conflict" {
		t.Fatalf("accept twice: %v", res.Err)
	}
	if res := w.Send(CmdAccept, Acceptance{Worker: "w_z", Merchant: "m_2", By: "acct-z"}); statetest.Code(res.Err) != "not_found" {
		t.Fatalf("accept an invitation never made: %v", res.Err)
	}
}

func TestConsentsGateChecksAndTaxRegistrations(t *testing.T) {
	w := newWorld(t)
	w.merchant("m_1", true)
	w.Send(CmdRegister, w.registration("w_1", zhang, "zhang"))
	k, err := func() (uint32, error) {
		var id uint32
		err := w.State.View(func(tx *state.ReadTx) error {
			key, err := subjects.Key(tx, w.Keys, "w_1")
			if err == nil {
				id = key.ID()
			}
			return err
		})
		return id, err
	}()
	if err != nil {
		t.Fatal(err)
	}
	ref := subjects.Sealed("sealed-ref")
	check := Checked{Worker: "w_1", KeyID: k, Kind: CheckRealName, Check: Check{Status: Verified, Provider: "sandbox", Reference: ref, Score: 0.99, By: "acct-zhang"}}
	consent := Consent{ID: "c_1", Worker: "w_1", Purpose: PurposeRealName, NoticeSM3: strings.Repeat("ab", 32), NoticeVersion: "v1", Channel: "app", By: "acct-zhang"}
	tax := TaxRegistration{ID: "t_1", Worker: "w_1", Kind: TaxTemporary, By: "acct-zhang"}
	taxConsent := consent
	taxConsent.ID, taxConsent.Purpose = "c_2", PurposeTaxRegister
	badPurpose := consent
	badPurpose.ID, badPurpose.Purpose = "c_9", "marketing"
	otherMerchant := tax
	otherMerchant.ID, otherMerchant.Merchant = "t_9", "m_1"
	steps := []struct {
		name string
		typ  string
		body any
		code string
	}{
		{"a check without consent", CmdCheck, check, "consent_required"},
		{"a consent to an unknown purpose", CmdConsent, badPurpose, "invalid_request"},
		{"the consent", CmdConsent, consent, ""},
		{"the same consent again", CmdConsent, consent, "conflict"},
		{"a check under the wrong key", CmdCheck, func() Checked { c := check; c.KeyID++; return c }(), "subject_key_mismatch"},
		{"a check with a score above 1", CmdCheck, func() Checked { c := check; c.Check.Score = 2; return c }(), "invalid_request"},
		{"the check", CmdCheck, check, ""},
		{"a liveness check without its own consent", CmdCheck, func() Checked { c := check; c.Kind = CheckLiveness; return c }(), "consent_required"},
		{"the withdrawal", CmdWithdraw, Withdrawal{Worker: "w_1", Consent: "c_1", By: "acct-zhang"}, ""},
		{"a withdrawal again", CmdWithdraw, Withdrawal{Worker: "w_1", Consent: "c_1", By: "acct-zhang"}, "consent_withdrawn"},
		{"a check after the withdrawal", CmdCheck, check, "consent_required"},
		{"a tax registration without consent", CmdTaxFile, tax, "consent_required"},
		{"the tax consent", CmdConsent, taxConsent, ""},
		{"for a merchant the worker has no link to", CmdTaxFile, otherMerchant, "not_found"},
		{"the tax registration", CmdTaxFile, tax, ""},
		{"a second one of the kind", CmdTaxFile, func() TaxRegistration { x := tax; x.ID = "t_2"; return x }(), "tax_registration_exists"},
		{"a result without reference", CmdTaxResult, TaxResult{Worker: "w_1", ID: "t_1", Status: TaxRegistered, KeyID: k, By: "op"}, "invalid_request"},
		{"the result", CmdTaxResult, TaxResult{Worker: "w_1", ID: "t_1", Status: TaxRegistered, KeyID: k, Reference: ref, By: "op"}, ""},
		{"a second result", CmdTaxResult, TaxResult{Worker: "w_1", ID: "t_1", Status: TaxRefused, Reason: "x", KeyID: k, By: "op"}, "tax_registration_status"},
		{"a result for no request", CmdTaxResult, TaxResult{Worker: "w_1", ID: "t_8", Status: TaxRefused, Reason: "x", By: "op"}, "not_found"},
	}
	for _, s := range steps {
		if res := w.Send(s.typ, s.body); statetest.Code(res.Err) != s.code {
			t.Errorf("%s: %v, want %q", s.name, res.Err, s.code)
		}
	}
	got := w.worker("w_1")
	if got.RealName == nil || got.RealName.Status != Verified || got.RealName.At.IsZero() || got.Liveness != nil {
		t.Fatalf("checks on record: %+v %+v", got.RealName, got.Liveness)
	}
}

func TestAnAgreementFindsOnlyAVerifiedWorkerOfTheMerchant(t *testing.T) {
	w := newWorld(t)
	w.merchant("m_1", true)
	w.merchant("m_2", true)
	keyID, in := w.fresh("w_1", zhang)
	in.Row = 2
	w.Send(CmdInvite, Invitation{Merchant: "m_1", By: "acct-boss", Rows: []Invitee{in}})
	find := func(merchant, worker string) (*Party, error) {
		var p *Party
		err := w.State.View(func(tx *state.ReadTx) error {
			var err error
			p, err = FindParty(tx, w.Keys, merchant, worker)
			return err
		})
		return p, err
	}
	for _, c := range []struct{ merchant, worker string }{{"m_2", "w_1"}, {"m_1", "w_nobody"}} {
		if p, err := find(c.merchant, c.worker); p != nil || err != nil {
			t.Errorf("%s finds %s: %+v %v", c.merchant, c.worker, p, err)
		}
	}
	if _, err := find("m_1", "w_1"); errCode(err) != CodeUnverified {
		t.Fatalf("an unverified worker: %v", err)
	}
	w.Send(CmdConsent, Consent{ID: "c_1", Worker: "w_1", Purpose: PurposeRealName, NoticeSM3: strings.Repeat("ab", 32), NoticeVersion: "v1", Channel: "app", By: "x"})
	if res := w.Send(CmdCheck, Checked{Worker: "w_1", KeyID: keyID, Kind: CheckRealName, Check: Check{Status: Verified, Provider: "sandbox", Reference: []byte("r"), Score: 0.99, By: "x"}}); res.Err != nil {
		t.Fatal(res.Err)
	}
	if p, err := find("m_1", "w_1"); err != nil || p == nil || p.Name != zhang.Name || p.IDNumber != zhang.IDNumber || p.ID != "w_1" {
		t.Fatalf("the verified worker: %+v %v", p, err)
	}
}

// An officer of a merchant and a worker who are one person have one blind
// index: the payouts compare merchants.IsOfficer with IDIndexOf.
func TestAWorkersIDIndexIsTheOneMerchantsIndexOfficersBy(t *testing.T) {
	key := []byte("an index key of thirty-two bytes")
	id, _ := Indexes(key, zhang.IDNumber, zhang.Phone)
	if merchants.PersonIndex(key, zhang.IDNumber) != hex.EncodeToString(id) {
		t.Fatal("the officers' index differs from the workers'")
	}
	w := newWorld(t)
	g := w.registration("w_1", zhang, "zhang")
	if res := w.Send(CmdRegister, g); res.Err != nil {
		t.Fatal(res.Err)
	}
	w.State.View(func(tx *state.ReadTx) error {
		if got, err := IDIndexOf(tx, "w_1"); err != nil || got != hex.EncodeToString(g.IDIndex) {
			t.Errorf("IDIndexOf: %q %v", got, err)
		}
		if _, err := IDIndexOf(tx, "w_9"); err == nil {
			t.Error("an unknown worker has an index")
		}
		return nil
	})
}

// A registration's feed entry hashes the worker's private fields: from the
// SM3 its proposer sends beside them, or — an invitation proposed before
// that was sent — by opening them in the state machine; the two agree, and a
// sum of the wrong size refuses the whole batch.
func TestAnInvitationsFeedEntryHashesThePrivateFields(t *testing.T) {
	w := newWorld(t)
	w.merchant("m_1", true)
	summed := func(id string, p Private) Invitee {
		k, f, err := subjects.NewKey(w.Keys, id)
		if err != nil {
			t.Fatal(err)
		}
		priv, sum, err := subjects.SealSum(k, PrivateAAD(id), p)
		if err != nil {
			t.Fatal(err)
		}
		return Invitee{ID: id, IDIndex: idx("id-" + p.IDNumber), PhoneIndex: idx("ph-" + p.Phone), Key: &f, Private: priv, PrivateSM3: sum[:]}
	}
	bad := summed("w_bad", zhang)
	bad.PrivateSM3 = bad.PrivateSM3[:31]
	if res := w.Send(CmdInvite, Invitation{Merchant: "m_1", By: "acct-boss", Rows: []Invitee{summed("w_ok", li), bad}}); statetest.Code(res.Err) != "invalid_request" {
		t.Fatalf("a 31-byte sum: %v", res.Err)
	}
	if n := w.count(Bucket); n != 0 {
		t.Fatalf("the refused batch left %d workers", n)
	}
	_, old := w.fresh("w_old", zhang) // no sum: the state machine opens the fields
	if res := w.Send(CmdInvite, Invitation{Merchant: "m_1", By: "acct-boss", Rows: []Invitee{summed("w_new", li), old}}); res.Err != nil {
		t.Fatal(res.Err)
	}
	want := map[string]Private{"w_new": li, "w_old": zhang}
	w.State.View(func(r *state.ReadTx) error {
		_, entries, err := feed.Read(r, feed.Platform, 0, 100, subjects.FeedOpener(r, w.Keys))
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			if e.Type != FactRegistered {
				continue
			}
			p, ok := want[e.Subject]
			if !ok {
				t.Fatalf("a registration of %s", e.Subject)
			}
			delete(want, e.Subject)
			plain, _ := json.Marshal(p)
			sum := sm.Sum(plain)
			if e.Identity == nil || *e.Identity != string(plain) || e.IdentitySM3 != hex.EncodeToString(sum[:]) {
				t.Errorf("%s: identity %v, sm3 %s; want %s, %x", e.Subject, e.Identity, e.IdentitySM3, plain, sum)
			}
		}
		return nil
	})
	if len(want) != 0 {
		t.Errorf("no registration entries for %v", want)
	}
}
