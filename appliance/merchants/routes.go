package merchants

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"cxt/appliance/api"
	"cxt/appliance/documents"
	"cxt/appliance/errs"
	"cxt/appliance/ident"
	"cxt/appliance/identity"
	"cxt/appliance/subjects"
	"cxt/crypto/sm"
	"cxt/crypto/subjectkey"
	"cxt/policy"
	"cxt/storage/auditlog"
	"cxt/storage/blob"
	"cxt/storage/state"
)

// Backend serves merchants over the API.
type Backend struct {
	// Hashing makes the applicant's and operators' password hashes.
	Hashing identity.Hashing
	// Documents is the node's blob store (nil until unsealed).
	Documents func() *blob.Store
	// Risk is the policy in force, whose rules decide a merchant's
	// qualification and rating; nil: the bundle stored in the state (the
	// embedded one when none is).
	Risk *policy.Authorizer
}

// rules are the risk rules the API decides by.
func (b *Backend) rules(tx policy.Getter) (*policy.RiskRules, error) {
	if b.Risk != nil {
		return b.Risk.Risk(), nil
	}
	return policy.StoredRiskRules(tx)
}

// Register adds the merchants' buckets and commands.
func (b *Backend) Register(reg *state.Registry) { Register(reg) }

// Routes lists the merchants' endpoints.
func (b *Backend) Routes() []api.Route {
	const read, write, important = api.Read, api.Write, api.Important
	m := Resource
	return []api.Route{
		{Method: "POST", Path: "/api/v1/merchants", Action: "merchants.apply", Kind: write, Handle: b.apply},
		{Method: "GET", Path: "/api/v1/merchants", Action: "merchants.list", Kind: read, Handle: b.list},
		{Method: "GET", Path: "/api/v1/merchants/{id}", Action: "merchants.read", Kind: read, Resource: m, Handle: b.read},
		{Method: "GET", Path: "/api/v1/merchants/{id}/rating", Action: "merchants.read", Kind: read, Resource: m, Handle: b.rating},
		{Method: "POST", Path: "/api/v1/merchants/{id}/review", Action: "merchants.review", Kind: write, Resource: m, Handle: b.review},
		{Method: "POST", Path: "/api/v1/merchants/{id}/resubmit", Action: "merchants.resubmit", Kind: write, Resource: m, Handle: b.resubmit},
		{Method: "POST", Path: "/api/v1/merchants/{id}/close", Action: "merchants.close", Kind: important, Resource: m, Prepare: b.close},
		{Method: "POST", Path: "/api/v1/merchants/{id}/unmask", Action: "merchants.unmask", Kind: important, Resource: m, Prepare: b.unmask},
		{Method: "POST", Path: "/api/v1/merchants/{id}/operators", Action: "merchants.operators", Kind: important, Resource: m, Prepare: b.addOperator},
		{Method: "POST", Path: "/api/v1/merchants/{id}/documents", Action: "merchants.documents", Kind: write, Resource: m, Handle: b.upload, MaxBody: documents.MaxSize + 1},
		{Method: "GET", Path: "/api/v1/merchants/{id}/documents/{doc}", Action: "merchants.read", Kind: read, Resource: m, Handle: b.download},
		{Method: "PUT", Path: "/api/v1/merchants/{id}/officers", Action: "merchants.officers", Kind: write, Resource: m, Handle: b.putOfficers},
	}
}

// Resource finds the merchant a route names by its {id}: a tenanted
// resource of that merchant, so that only its own users (and platform
// staff) reach it. The workers' and agreements' routes under a merchant use
// it too.
func Resource(r *api.Request) (api.Resource, error) {
	id := r.Var("id")
	res := api.Resource{Resource: policy.Resource{Label: 1, Owner: id, Tenanted: true, Merchants: []string{id}}, Noun: "merchant"}
	found, err := r.Lookup(func(tx *state.ReadTx) (bool, error) {
		b, err := tx.Get(Bucket, []byte(id))
		return b != nil, err
	})
	res.Absent = !found
	return res, err
}

// applicationIn is what an applicant sends.
type applicationIn struct {
	Name           string         `json:"name"`
	USCC           string         `json:"uscc"`
	OperatingModel OperatingModel `json:"operating_model"`
	TaxOffice      string         `json:"tax_office"`
	LegalRep       Person         `json:"legal_rep"`
	Contacts       []Contact      `json:"contacts"`
	Bank           Bank           `json:"bank"`
	Applicant      struct {
		Username string `json:"username"`
		Email    string `json:"email"`
		Phone    string `json:"phone"`
	} `json:"applicant"`
}

const maxName = 100

// check validates an application the way the API answers it: the first
// field that is wrong, with a stable code.
func (in *applicationIn) check(now time.Time) error {
	const op = "merchant application"
	in.Name = strings.TrimSpace(in.Name)
	if in.Name == "" || len([]rune(in.Name)) > maxName {
		return errs.E(op, errs.Invalid, "name: the company's registered name, 1-%d characters", maxName)
	}
	u, err := ident.ParseUSCC(strings.TrimSpace(in.USCC))
	if err != nil {
		return err
	}
	in.USCC = u.Code
	if in.TaxOffice = strings.TrimSpace(in.TaxOffice); in.TaxOffice == "" {
		in.TaxOffice = ident.TaxOfficeOf(u)
	} else if err := ident.CheckTaxOffice(in.TaxOffice); err != nil {
		return err
	}
	if !in.OperatingModel.Valid() {
		return errs.E(op, errs.Invalid, "operating_model: intermediary (中间介绍型) or operating (参与经营型)")
	}
	if strings.TrimSpace(in.LegalRep.Name) == "" {
		return errs.E(op, errs.Invalid, "legal_rep.name is required")
	}
	if in.LegalRep.IDNumber != "" {
		id, err := ident.ParseResidentID(in.LegalRep.IDNumber, now)
		if err != nil {
			return err
		}
		in.LegalRep.IDNumber = id.Number
	}
	if len(in.Contacts) == 0 || len(in.Contacts) > 5 {
		return errs.E(op, errs.Invalid, "contacts: 1 to 5 people the platform can reach")
	}
	for i := range in.Contacts {
		c := &in.Contacts[i]
		if strings.TrimSpace(c.Name) == "" {
			return errs.E(op, errs.Invalid, "contacts[%d].name is required", i)
		}
		p, err := ident.ParsePhone(c.Phone)
		if err != nil {
			return err
		}
		c.Phone = p
		if c.Email != "" {
			if err := identity.CheckEmail(c.Email); err != nil {
				return errs.E(op, errs.Invalid, "contacts[%d].email: %v", i, err)
			}
		}
	}
	if strings.TrimSpace(in.Bank.Name) == "" || strings.TrimSpace(in.Bank.Holder) == "" || !accountNumber(in.Bank.Account) {
		return errs.E(op, errs.Invalid, "bank: the bank and branch, the account holder, and an account number of 6-32 digits")
	}
	return nil
}

func accountNumber(s string) bool {
	if len(s) < 6 || len(s) > 32 {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// newID draws a merchant ID.
func newID() string {
	var b [8]byte
	rand.Read(b[:])
	return "m_" + hex.EncodeToString(b[:])
}

// usccIndex is the blind index of a credit code.
func usccIndex(r *api.Request, code string) (string, error) {
	key, err := r.Node.Keys().IndexKey()
	if err != nil {
		return "", err
	}
	return USCCIndex(key, code), nil
}

// USCCIndex is the blind index of a credit code under the keyring's index
// key, as USCCBucket keys it: hex HMAC-SM3, label cxt/merchant-uscc/v1.
func USCCIndex(indexKey []byte, code string) string {
	mac := sm.HMAC(indexKey, []byte("cxt/merchant-uscc/v1\x00"), []byte(code))
	return hex.EncodeToString(mac[:])
}

// apply takes an application: anonymous (the applicant applies for
// themselves and gets the merchant's first administrator account) or from a
// platform operator on the applicant's behalf (the same).
func (b *Backend) apply(r *api.Request) (int, any, error) {
	var in applicationIn
	if err := r.Decode(&in); err != nil {
		return 0, nil, err
	}
	if err := in.check(r.Now()); err != nil {
		return 0, nil, err
	}
	id := newID()
	acct, password, err := b.Hashing.TenantAccount(r, in.Applicant.Username, identity.MerchantAdmin, id, "", in.Applicant.Email, in.Applicant.Phone)
	if err != nil {
		return 0, nil, err
	}
	if in.Applicant.Email == "" && in.Applicant.Phone == "" {
		return 0, nil, errs.E("merchant application", errs.Invalid, "applicant: an e-mail or a phone to be told of the review")
	}
	idx, err := usccIndex(r, in.USCC)
	if err != nil {
		return 0, nil, err
	}
	key, fresh, err := subjects.NewKey(r.Node.Keys(), id)
	if err != nil {
		return 0, nil, err
	}
	priv, err := subjects.Seal(key, PrivateAAD(id), Private{USCC: in.USCC, LegalRep: in.LegalRep, Contacts: in.Contacts, Bank: in.Bank})
	if err != nil {
		return 0, nil, err
	}
	app := Application{ID: id, Name: in.Name, Model: in.OperatingModel, TaxOffice: in.TaxOffice, USCCIndex: idx, Private: priv, Key: fresh,
		Applicant: acct.Account.ID, Account: &acct}
	r.Audit.Object = id
	v, err := r.Propose(state.NewCommand(CmdApply, mustJSON(app), r.Now()))
	if err != nil {
		return 0, nil, err
	}
	m, err := decode(v)
	if err != nil {
		return 0, nil, err
	}
	return 201, map[string]any{
		"merchant": m.public(key, false), "account": acct.Account.Public(), "one_time_password": password,
		"next": "sign in as " + acct.Account.Username + " with the one-time password, change it, upload the business licence (POST /api/v1/merchants/" + id + "/documents?kind=business_licence) and wait for the review",
	}, nil
}

// list answers the merchants the caller may see: all for platform staff,
// their own for a merchant's users.
func (b *Backend) list(r *api.Request) (int, any, error) {
	status := Status(r.HTTP.URL.Query().Get("status"))
	out := []map[string]any{}
	err := r.View(func(tx *state.ReadTx) error {
		return tx.ForEach(Bucket, func(_, v []byte) error {
			m, err := decode(v)
			if err != nil {
				return err
			}
			if policy.CheckTenant(policy.Input{Subject: r.Subject, Resource: m.tenancy()}) != nil || status != "" && m.Status != status {
				return nil
			}
			key, err := subjects.Key(tx, r.Node.Keys(), m.ID)
			if err != nil {
				return err
			}
			out = append(out, m.public(key, false))
			return nil
		})
	})
	if err != nil {
		return 0, nil, err
	}
	return 200, map[string]any{"merchants": out}, nil
}

func (m *Merchant) tenancy() policy.Resource {
	return policy.Resource{Label: 1, Owner: m.ID, Tenanted: true, Merchants: []string{m.ID}}
}

// load reads the route's merchant and its key, for the caller (audited).
func load(r *api.Request) (*Merchant, *subjectkey.Key, error) {
	var m *Merchant
	var key *subjectkey.Key
	err := r.View(func(tx *state.ReadTx) error {
		var err error
		if m, err = Get(tx, r.Var("id")); err != nil {
			return err
		}
		key, err = subjects.Key(tx, r.Node.Keys(), m.ID)
		return err
	})
	return m, key, err
}

func (b *Backend) read(r *api.Request) (int, any, error) {
	m, key, err := load(r)
	if err != nil {
		return 0, nil, err
	}
	return 200, m.public(key, false), nil
}

// rating answers the merchant's rating computed now, from its current
// facts, by the policy's rating rules, with each input explained.
func (b *Backend) rating(r *api.Request) (int, any, error) {
	var out policy.Rating
	var m *Merchant
	err := r.View(func(tx *state.ReadTx) error {
		var err error
		if m, err = Get(tx, r.Var("id")); err != nil {
			return err
		}
		rules, err := b.rules(tx)
		if err != nil {
			return err
		}
		out, err = Rate(r.Ctx, rules, tx, m, r.Now())
		return err
	})
	if err != nil {
		return 0, nil, err
	}
	return 200, map[string]any{"merchant": m.ID, "rating": out}, nil
}

// review is a platform reviewer's decision on an application. An approval
// is decided by the qualification rules first: a reject refuses it with
// the rule's reason and code; a hold lets it through only when the request
// acknowledges each held rule by name ("acknowledge": ["officers.missing"]).
func (b *Backend) review(r *api.Request) (int, any, error) {
	const op = "review merchant"
	var in struct {
		Decision    Action   `json:"decision"`
		Reason      string   `json:"reason"`
		Acknowledge []string `json:"acknowledge"`
	}
	if err := r.Decode(&in); err != nil {
		return 0, nil, err
	}
	if in.Decision != ActApprove && in.Decision != ActReject && in.Decision != ActAskMore {
		return 0, nil, errs.E(op, errs.Invalid, "decision: approve, reject or ask_more")
	}
	rv := Review{ID: r.Var("id"), Action: in.Decision, By: r.Subject.ID, Reason: in.Reason}
	if in.Decision != ActApprove {
		if len(in.Acknowledge) > 0 {
			return 0, nil, &errs.Error{Op: op, Kind: errs.Invalid, Code: errs.Invalid.Code(), Field: "acknowledge", Msg: "acknowledge: only an approval acknowledges held rules"}
		}
		return b.decide(r, CmdReview, rv)
	}
	d, err := b.qualify(r)
	if err != nil {
		return 0, nil, err
	}
	switch d.Outcome {
	case policy.Reject:
		return 0, nil, errs.Coded(op, errs.Conflict, d.Code, "the qualification rules refuse the approval (%s): %s", d.Rule, d.Reason)
	case policy.Hold:
		held := map[string]bool{}
		for _, h := range d.Hits {
			held[h.Rule] = h.Outcome == policy.Hold
		}
		for _, a := range in.Acknowledge {
			if !held[a] {
				return 0, nil, &errs.Error{Op: op, Kind: errs.Invalid, Code: errs.Invalid.Code(), Field: "acknowledge",
					Msg: fmt.Sprintf("acknowledge: %q is not a rule that holds this approval", a)}
			}
		}
		if missing := Unacknowledged(d, in.Acknowledge); len(missing) > 0 {
			var lines []string
			for _, h := range d.Hits {
				if slices.Contains(missing, h.Rule) {
					lines = append(lines, h.Rule+" ("+h.Reason+")")
				}
			}
			return 0, nil, errs.Coded(op, errs.Conflict, CodeAcknowledge.String(),
				"the qualification rules hold the approval: %s; to approve, acknowledge each: \"acknowledge\": [\"%s\"]",
				strings.Join(lines, "; "), strings.Join(missing, `", "`))
		}
		rv.Acknowledged = slices.Clone(in.Acknowledge)
		slices.Sort(rv.Acknowledged)
	default:
		if len(in.Acknowledge) > 0 {
			return 0, nil, &errs.Error{Op: op, Kind: errs.Invalid, Code: errs.Invalid.Code(), Field: "acknowledge", Msg: "acknowledge: no rule holds this approval"}
		}
	}
	rv.Risk = d
	return b.decide(r, CmdReview, rv)
}

// qualify decides the route's merchant's qualification by the policy in
// force. A policy that gives no decision holds the approval for the
// reviewer to acknowledge, never lets it through unseen.
func (b *Backend) qualify(r *api.Request) (*policy.Decided, error) {
	var d policy.Decided
	err := r.View(func(tx *state.ReadTx) error {
		m, err := Get(tx, r.Var("id"))
		if err != nil {
			return err
		}
		key, err := subjects.Key(tx, r.Node.Keys(), m.ID)
		if err != nil {
			return err
		}
		rules, err := b.rules(tx)
		if err != nil {
			return err
		}
		in, err := m.qualification(key, r.Now())
		if err != nil {
			return err
		}
		d, err = rules.Decide(r.Ctx, policy.RiskMerchant, in)
		if err != nil {
			d.RiskDecision = NoDecision(err)
		}
		return nil
	})
	return &d, err
}

// NoDecision is what a decision point records when the policy gives none:
// a hold for a person, naming why.
func NoDecision(err error) policy.RiskDecision {
	h := policy.Hit{Rule: "policy.no_decision", Outcome: policy.Hold, Code: "risk_no_decision",
		Reason: "the risk policy gave no decision, so a person decides: " + err.Error()}
	return policy.RiskDecision{Outcome: h.Outcome, Rule: h.Rule, Code: h.Code, Reason: h.Reason, Hits: []policy.Hit{h}}
}

// QualificationInput is the qualification rules' input
// (policy/risk/merchant.rego).
type QualificationInput struct {
	Merchant struct {
		ID             string         `json:"id"`
		OperatingModel OperatingModel `json:"operating_model"`
		USCCValid      bool           `json:"uscc_valid"`
		Officers       int            `json:"officers"`
	} `json:"merchant"`
	Documents []QualificationDoc `json:"documents"`
	Today     string             `json:"today"`
}

// QualificationDoc is a document as the qualification rules see it.
type QualificationDoc struct {
	Kind    string `json:"kind"`
	Expires string `json:"expires"`
}

// qualification builds the qualification rules' input from the record: the
// credit code on record is checked again (GB 32100) by appliance/ident.
func (m *Merchant) qualification(key *subjectkey.Key, now time.Time) (QualificationInput, error) {
	var in QualificationInput
	var p Private
	if err := subjects.Open(key, PrivateAAD(m.ID), m.Private, &p); err != nil {
		return in, err
	}
	_, err := ident.ParseUSCC(p.USCC)
	in.Merchant.ID, in.Merchant.OperatingModel, in.Merchant.USCCValid, in.Merchant.Officers = m.ID, m.Model, err == nil, len(m.OfficerIndex)
	in.Documents = []QualificationDoc{}
	for _, d := range m.Documents {
		in.Documents = append(in.Documents, QualificationDoc{Kind: d.Kind, Expires: d.Expires})
	}
	in.Today = Day(now)
	return in, nil
}

// resubmit sends an application back for review after more information.
func (b *Backend) resubmit(r *api.Request) (int, any, error) {
	var in struct {
		Note string `json:"note"`
	}
	if err := r.Decode(&in); err != nil {
		return 0, nil, err
	}
	return b.decide(r, CmdReview, Review{ID: r.Var("id"), Action: ActResubmit, By: r.Subject.ID, Reason: in.Note})
}

func (b *Backend) decide(r *api.Request, cmd string, rv Review) (int, any, error) {
	r.Audit.Object = r.Var("id")
	v, err := r.Propose(state.NewCommand(cmd, mustJSON(rv), r.Now()))
	if err != nil {
		return 0, nil, err
	}
	m, err := decode(v)
	if err != nil {
		return 0, nil, err
	}
	var key *subjectkey.Key
	if err := r.Node.State().View(func(tx *state.ReadTx) error {
		key, err = subjects.Key(tx, r.Node.Keys(), m.ID)
		return err
	}); err != nil {
		return 0, nil, err
	}
	return 200, m.public(key, false), nil
}

// close ends a merchant (an important operation). Once money exists a
// closure will also need a zero balance.
func (b *Backend) close(r *api.Request) (*api.Op, error) {
	var in struct {
		Reason string `json:"reason"`
	}
	if err := r.Decode(&in); err != nil {
		return nil, err
	}
	if strings.TrimSpace(in.Reason) == "" {
		return nil, errs.E("close merchant", errs.Invalid, "reason: say why the merchant is closed")
	}
	m, _, err := load(r)
	if err != nil {
		return nil, err
	}
	if m.Status != Approved {
		return nil, errs.Coded("close merchant", errs.Conflict, "merchant_status", "a %s merchant cannot be closed; only an approved one", m.Status)
	}
	r.Audit.Object = m.ID
	return &api.Op{
		Impact:  map[string]any{"merchant": m.ID, "name": m.Name, "status": "approved → closed", "reason": in.Reason},
		Risks:   []string{"a closed merchant publishes no tasks and is paid nothing; it cannot be reopened"},
		Command: state.NewCommand(CmdClose, mustJSON(Review{ID: m.ID, Action: ActClose, By: r.Subject.ID, Reason: in.Reason}), r.Now()),
		Status:  200, Response: map[string]any{"merchant": m.ID, "status": Closed},
	}, nil
}

// unmask shows a merchant's private fields in full (an important
// operation: audited with its reason, after a step-up and a confirm).
func (b *Backend) unmask(r *api.Request) (*api.Op, error) {
	var in struct {
		Reason string `json:"reason"`
	}
	if err := r.Decode(&in); err != nil {
		return nil, err
	}
	if len([]rune(strings.TrimSpace(in.Reason))) < 5 {
		return nil, errs.E("unmask merchant", errs.Invalid, "reason: say why the full details are needed (at least 5 characters)")
	}
	m, key, err := load(r)
	if err != nil {
		return nil, err
	}
	r.Audit.Object, r.Audit.Reason = m.ID, in.Reason
	return &api.Op{
		Impact:  map[string]any{"merchant": m.ID, "shows": "the legal representative, contacts and bank account in full"},
		Risks:   []string{"personal information is shown unmasked; the audit log keeps who asked and why"},
		Command: auditlog.RecordCommand(auditlog.Context{Event: "merchant.unmask"}, r.Now()),
		Status:  200, Response: m.public(key, true), Secrets: []string{"legal_rep", "contacts", "bank"},
	}, nil
}

// addOperator creates an operator account of the merchant (an important
// operation), its one-time password shown once.
func (b *Backend) addOperator(r *api.Request) (*api.Op, error) {
	var in struct {
		Username string `json:"username"`
		Email    string `json:"email"`
		Phone    string `json:"phone"`
	}
	if err := r.Decode(&in); err != nil {
		return nil, err
	}
	m, _, err := load(r)
	if err != nil {
		return nil, err
	}
	if m.Status != Approved {
		return nil, errs.Coded("add operator", errs.Conflict, "merchant_status", "a %s merchant has no operators yet; it must be approved first", m.Status)
	}
	acct, password, err := b.Hashing.TenantAccount(r, in.Username, identity.MerchantOperator, m.ID, "", in.Email, in.Phone)
	if err != nil {
		return nil, err
	}
	r.Audit.Object = acct.Account.ID
	return &api.Op{
		Impact:  map[string]any{"merchant": m.ID, "username": acct.Account.Username, "role": identity.MerchantOperator},
		Risks:   []string{"the one-time password is shown once, in the answer to the confirm"},
		Command: state.NewCommand(identity.CmdCreateAccount, mustJSON(acct), r.Now()),
		Status:  201, Response: map[string]any{"account": acct.Account.Public(), "one_time_password": password},
		Secrets: []string{"one_time_password"},
	}, nil
}

// upload files a qualification document: the body is the document, its type
// read from its bytes; it is sealed under the merchant's key before it is
// stored.
func (b *Backend) upload(r *api.Request) (int, any, error) {
	const op = "upload document"
	kind := r.HTTP.URL.Query().Get("kind")
	if !slices.Contains(DocumentKinds, kind) {
		return 0, nil, errs.E(op, errs.Invalid, "kind: one of %s", strings.Join(DocumentKinds, ", "))
	}
	expires := r.HTTP.URL.Query().Get("expires")
	if expires != "" {
		if t, err := time.Parse(time.DateOnly, expires); err != nil || t.Format(time.DateOnly) != expires {
			return 0, nil, &errs.Error{Op: op, Kind: errs.Invalid, Code: errs.Invalid.Code(), Field: "expires", Msg: "expires: the last day the document is in force, YYYY-MM-DD"}
		}
	}
	body, typ, err := documents.Received(r.HTTP.Body, op)
	if err != nil {
		return 0, nil, err
	}
	m, key, err := load(r)
	if err != nil {
		return 0, nil, err
	}
	store := b.Documents()
	docID, info, err := documents.Write(r.Ctx, store, key, "doc-", body, op)
	if err != nil {
		return 0, nil, err
	}
	ref := DocRef{ID: docID, Kind: kind, Type: typ, Size: info.Size, SM3: hex.EncodeToString(info.SM3[:]), Expires: expires}
	r.Audit.Object = m.ID + "/" + docID
	v, err := r.Propose(state.NewCommand(CmdDocument, mustJSON(Filed{ID: m.ID, KeyID: key.ID(), Doc: ref}), r.Now()))
	if err != nil {
		store.Delete(r.Ctx, docID) // nothing half-applied: the stored bytes go with the refused record
		return 0, nil, err
	}
	if m, err = decode(v); err != nil {
		return 0, nil, err
	}
	for _, d := range m.Documents {
		if d.ID == docID {
			return 201, d, nil
		}
	}
	return 0, nil, fmt.Errorf("merchants: document %s not on record after filing", docID)
}

// download answers a document as stored, after its SM3 digest is checked:
// the whole document is read and verified before a byte is sent.
func (b *Backend) download(r *api.Request) (int, any, error) {
	const op = "download document"
	m, key, err := load(r)
	if err != nil {
		return 0, nil, err
	}
	i := slices.IndexFunc(m.Documents, func(d DocRef) bool { return d.ID == r.Var("doc") })
	if i < 0 {
		return 0, nil, errs.E(op, errs.NotExist, "merchant %s has no document %s", m.ID, r.Var("doc"))
	}
	d := m.Documents[i]
	body, err := documents.Read(r.Ctx, b.Documents(), key, d.ID, d.SM3, op)
	if err != nil {
		return 0, nil, err
	}
	return 200, &api.Raw{ContentType: d.Type, Name: d.Kind + "-" + d.ID + documents.Extension(d.Type), Body: body}, nil
}

func decode(v []byte) (*Merchant, error) {
	var m Merchant
	if err := json.Unmarshal(v, &m); err != nil {
		return nil, fmt.Errorf("merchants: %w", err)
	}
	return &m, nil
}
