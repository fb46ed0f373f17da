package agreements

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"regexp"
	"strings"
	"time"

	"cxt/appliance/api"
	"cxt/appliance/contracts"
	"cxt/appliance/errs"
	"cxt/appliance/esign"
	"cxt/appliance/ident"
	"cxt/appliance/identity"
	"cxt/appliance/merchants"
	"cxt/appliance/subjects"
	"cxt/crypto/sm"
	"cxt/crypto/subjectkey"
	"cxt/policy"
	"cxt/storage/blob"
	"cxt/storage/state"
)

// Worker is what a tripartite agreement needs of a worker's record.
type Worker struct {
	ID       string
	Name     string // as on their ID card
	IDNumber string // resident ID number
}

// Workers finds a worker the merchant may sign a tripartite agreement with
// (nil, nil if there is none, or none of the merchant's). The node wires
// appliance/workers' lookup; until then no worker is found.
type Workers func(r *api.Request, tx *state.ReadTx, merchant, worker string) (*Worker, error)

// Factors checks a caller's authenticator code for a signing (identity's
// Backend).
type Factors interface {
	CheckTOTP(r *api.Request, code string) (*identity.TOTPUsed, error)
	ReleaseTOTP(r *api.Request, u *identity.TOTPUsed) error
}

// Backend serves agreements over the API.
type Backend struct {
	// Documents is the node's blob store (nil until unsealed).
	Documents      func() *blob.Store
	Factors        Factors
	Workers        Workers
	contracts.Lazy // the contracts' renderer, its fonts loaded on first use
}

// Register adds the agreements' buckets and commands.
func (b *Backend) Register(reg *state.Registry) { Register(reg) }

// Routes lists the agreements' endpoints.
func (b *Backend) Routes() []api.Route {
	const read, write = api.Read, api.Write
	a, m := resource, merchants.Resource
	return []api.Route{
		{Method: "GET", Path: "/api/v1/esign/authority", Action: "esign.authority_read", Kind: read, Handle: b.authority},
		{Method: "POST", Path: "/api/v1/esign/authority", Action: "esign.authority", Kind: write, Handle: b.setUp},
		{Method: "POST", Path: "/api/v1/merchants/{id}/agreements", Action: "agreements.cooperation", Kind: write, Resource: m, Handle: b.cooperation},
		{Method: "POST", Path: "/api/v1/merchants/{id}/workers/{worker}/agreements", Action: "agreements.tripartite", Kind: write, Resource: m, Handle: b.tripartite},
		{Method: "GET", Path: "/api/v1/agreements", Action: "agreements.list", Kind: read, Handle: b.list},
		{Method: "GET", Path: "/api/v1/agreements/{id}", Action: "agreements.read", Kind: read, Resource: a, Handle: b.read},
		{Method: "GET", Path: "/api/v1/agreements/{id}/pdf", Action: "agreements.read", Kind: read, Resource: a, Handle: b.pdf},
		{Method: "GET", Path: "/api/v1/agreements/{id}/evidence", Action: "agreements.read", Kind: read, Resource: a, Handle: b.evidence},
		{Method: "POST", Path: "/api/v1/agreements/{id}/code", Action: "agreements.sign", Kind: write, Resource: a, Handle: b.code},
		{Method: "POST", Path: "/api/v1/agreements/{id}/sign", Action: "agreements.sign", Kind: write, Resource: a, Handle: b.sign},
		{Method: "POST", Path: "/api/v1/agreements/{id}/countersign", Action: "agreements.countersign", Kind: write, Resource: a, Handle: b.countersignRoute},
	}
}

// resource finds the agreement a route names: its merchant's and, if
// tripartite, its worker's; another tenant's is absent.
func resource(r *api.Request) (api.Resource, error) {
	id := r.Var("id")
	return r.Tenancy(api.Resource{Resource: policy.Resource{Label: 1, Owner: id}, Noun: "agreement"},
		func(tx *state.ReadTx) (policy.Resource, error) {
			a, err := Get(tx, id)
			if err != nil {
				return policy.Resource{}, err
			}
			return a.Tenancy(), nil
		})
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

func newID(prefix string) string {
	var b [8]byte
	rand.Read(b[:])
	return prefix + hex.EncodeToString(b[:])
}

func sm3hex(b []byte) string {
	s := sm.Sum(b)
	return hex.EncodeToString(s[:])
}

// authority answers the e-signing authority's public part: the CA a
// verifier compares an evidence package's ca.pem with.
func (b *Backend) authority(r *api.Request) (int, any, error) {
	var a *Authority
	if err := r.View(func(tx *state.ReadTx) error {
		var err error
		a, err = GetAuthority(tx)
		return err
	}); err != nil {
		return 0, nil, err
	}
	if a == nil {
		return 0, nil, errs.E("e-signing authority", errs.NotExist, "the e-signing authority is not set up yet (POST /api/v1/esign/authority)")
	}
	return 200, a.Public(), nil
}

// setUp makes the e-signing authority once: the CA, the time-stamping key
// and the platform's signing key, for the platform's legal name and credit
// code.
func (b *Backend) setUp(r *api.Request) (int, any, error) {
	const op = "set up e-signing"
	var in struct {
		PlatformName string `json:"platform_name"`
		PlatformUSCC string `json:"platform_uscc"`
	}
	if err := r.Decode(&in); err != nil {
		return 0, nil, err
	}
	in.PlatformName = strings.TrimSpace(in.PlatformName)
	if in.PlatformName == "" || len([]rune(in.PlatformName)) > 100 || strings.ContainsAny(in.PlatformName, "\r\n") {
		return 0, nil, errs.E(op, errs.Invalid, "platform_name: the platform company's registered name, 1-100 characters")
	}
	u, err := ident.ParseUSCC(strings.TrimSpace(in.PlatformUSCC))
	if err != nil {
		return 0, nil, err
	}
	a, err := NewAuthority(r.Node.Keys(), in.PlatformName, u.Code, r.Now())
	if err != nil {
		return 0, nil, errs.Wrap(op, errs.Internal, err, "make the keys")
	}
	r.Audit.Object = "e-signing authority"
	if _, err := r.Propose(state.NewCommand(CmdAuthority, mustJSON(a), r.Now())); err != nil {
		return 0, nil, err
	}
	return 201, a.Public(), nil
}

// Values a cooperation agreement takes from its creator.
var (
	feeRate   = regexp.MustCompile(`^[0-9]{1,2}(\.[0-9]{1,2})?%$`)
	billing   = map[string]string{"prepaid": "预收", "realtime": "实时", "postpaid": "后收"}
	modelName = map[merchants.OperatingModel]string{merchants.Intermediary: "中间介绍型", merchants.Operating: "参与经营型"}
)

// term checks an agreement's start and end dates.
func term(start, end string) error {
	const op = "agreement term"
	s, err := time.Parse(time.DateOnly, start)
	if err != nil {
		return errs.E(op, errs.Invalid, "start_date: a date as YYYY-MM-DD")
	}
	e, err := time.Parse(time.DateOnly, end)
	if err != nil || !e.After(s) {
		return errs.E(op, errs.Invalid, "end_date: a date as YYYY-MM-DD after start_date")
	}
	return nil
}

// parties is what a new agreement is made from, read in one view.
type parties struct {
	authority *Authority
	merchant  *merchants.Merchant
	uscc      string
	mkey      *subjectkey.Key
	worker    *Worker
	wkey      *subjectkey.Key
}

// load reads the merchant the route names (approved), its credit code, the
// authority and, if named, the worker.
func (b *Backend) load(r *api.Request, worker string) (*parties, error) {
	const op = "new agreement"
	var p parties
	err := r.View(func(tx *state.ReadTx) error {
		var err error
		if p.authority, err = GetAuthority(tx); err != nil {
			return err
		}
		if p.merchant, err = merchants.Get(tx, r.Var("id")); err != nil {
			return err
		}
		if p.mkey, err = subjects.Key(tx, r.Node.Keys(), p.merchant.ID); err != nil {
			return err
		}
		if worker == "" {
			return nil
		}
		if b.Workers != nil {
			if p.worker, err = b.Workers(r, tx, p.merchant.ID, worker); err != nil {
				return err
			}
		}
		if p.worker == nil {
			return errs.E(op, errs.NotExist, "no worker %s", worker)
		}
		p.wkey, err = subjects.Key(tx, r.Node.Keys(), p.worker.ID)
		return err
	})
	if err != nil {
		return nil, api.Classify(err)
	}
	if p.authority == nil {
		return nil, errs.E(op, errs.Conflict, "the e-signing authority is not set up yet: a system administrator sets it up (POST /api/v1/esign/authority)")
	}
	if p.merchant.Status != merchants.Approved {
		return nil, errs.Coded(op, errs.Conflict, "merchant_status", "a %s merchant signs no agreement; it must be approved", p.merchant.Status)
	}
	var priv merchants.Private
	if err := subjects.Open(p.mkey, merchants.PrivateAAD(p.merchant.ID), p.merchant.Private, &priv); err != nil {
		return nil, errs.Wrap(op, errs.Internal, err, "merchant %s's record does not open", p.merchant.ID)
	}
	p.uscc = priv.USCC
	return &p, nil
}

// cooperation starts the merchant–platform cooperation agreement of an
// approved merchant (a platform operator).
func (b *Backend) cooperation(r *api.Request) (int, any, error) {
	const op = "cooperation agreement"
	var in struct {
		ServiceFeeRate string `json:"service_fee_rate"`
		BillingTiming  string `json:"billing_timing"`
		StartDate      string `json:"start_date"`
		EndDate        string `json:"end_date"`
	}
	if err := r.Decode(&in); err != nil {
		return 0, nil, err
	}
	if !feeRate.MatchString(in.ServiceFeeRate) {
		return 0, nil, errs.E(op, errs.Invalid, "service_fee_rate: a percentage such as 6.00%%")
	}
	timing, ok := billing[in.BillingTiming]
	if !ok {
		return 0, nil, errs.E(op, errs.Invalid, "billing_timing: prepaid, realtime or postpaid")
	}
	if err := term(in.StartDate, in.EndDate); err != nil {
		return 0, nil, err
	}
	p, err := b.load(r, "")
	if err != nil {
		return 0, nil, err
	}
	values := map[string]string{
		"platform_name": p.authority.PlatformName, "platform_uscc": p.authority.PlatformUSCC,
		"merchant_name": p.merchant.Name, "merchant_uscc": p.uscc, "operating_model": modelName[p.merchant.Model],
		"service_fee_rate": in.ServiceFeeRate, "billing_timing": timing, "start_date": in.StartDate, "end_date": in.EndDate,
	}
	a := &Agreement{Kind: Cooperation, Merchant: p.merchant.ID, Parties: []Party{
		{Role: esign.RolePlatform, Subject: esign.PlatformSubject, Name: p.authority.PlatformName},
		{Role: esign.RoleMerchant, Subject: p.merchant.ID, Name: p.merchant.Name},
	}}
	return b.start(r, a, values, p.mkey)
}

// tripartite starts the service agreement of the platform, the merchant
// and one of its workers (the merchant's administrator or operator).
func (b *Backend) tripartite(r *api.Request) (int, any, error) {
	const op = "tripartite agreement"
	var in struct {
		ServiceDescription string `json:"service_description"`
		StartDate          string `json:"start_date"`
		EndDate            string `json:"end_date"`
	}
	if err := r.Decode(&in); err != nil {
		return 0, nil, err
	}
	if strings.TrimSpace(in.ServiceDescription) == "" {
		return 0, nil, errs.E(op, errs.Invalid, "service_description: what the worker does for the merchant")
	}
	if err := term(in.StartDate, in.EndDate); err != nil {
		return 0, nil, err
	}
	p, err := b.load(r, r.Var("worker"))
	if err != nil {
		return 0, nil, err
	}
	if p.merchant.Agreement == "" {
		return 0, nil, errs.Coded(op, errs.Conflict, "merchant_status", "merchant %s has not signed the cooperation agreement yet: it engages no worker before", p.merchant.ID)
	}
	values := map[string]string{
		"platform_name": p.authority.PlatformName, "platform_uscc": p.authority.PlatformUSCC,
		"merchant_name": p.merchant.Name, "merchant_uscc": p.uscc,
		"worker_name": p.worker.Name, "worker_id_number": p.worker.IDNumber,
		"service_description": in.ServiceDescription, "start_date": in.StartDate, "end_date": in.EndDate,
	}
	a := &Agreement{Kind: Tripartite, Merchant: p.merchant.ID, Worker: p.worker.ID, Parties: []Party{
		{Role: esign.RolePlatform, Subject: esign.PlatformSubject, Name: p.authority.PlatformName},
		{Role: esign.RoleMerchant, Subject: p.merchant.ID, Name: p.merchant.Name},
		{Role: esign.RoleWorker, Subject: p.worker.ID, Name: p.worker.Name},
	}}
	return b.start(r, a, values, p.wkey)
}

// template returns the shipped template of a kind.
func template(k Kind) (contracts.Template, error) {
	ts, err := contracts.Builtin()
	if err != nil {
		return contracts.Template{}, err
	}
	for _, t := range ts {
		if t.ID == k.Template() {
			return t, nil
		}
	}
	return contracts.Template{}, fmt.Errorf("agreements: no template %s", k.Template())
}

// start renders a new agreement's PDF, stores it under the platform's
// document key, and records the agreement with its values sealed under
// valuesKey. A refused record takes its PDF with it.
func (b *Backend) start(r *api.Request, a *Agreement, values map[string]string, valuesKey *subjectkey.Key) (int, any, error) {
	const op = "new agreement"
	tmpl, err := template(a.Kind)
	if err != nil {
		return 0, nil, err
	}
	rd, err := b.Renderer()
	if err != nil {
		return 0, nil, err
	}
	a.ID = newID("agr_")
	out, err := rd.Render(contracts.Contract{ID: a.ID, Template: tmpl, Values: values, Created: r.Now()})
	if err != nil {
		return 0, nil, err
	}
	if a.Values, err = subjects.Seal(valuesKey, ValuesAAD(a.ID), values); err != nil {
		return 0, nil, err
	}
	a.ValuesOwner, a.ValuesKeyID = valuesKey.Subject(), valuesKey.ID()
	a.Template = TemplateRef{ID: tmpl.ID, Version: tmpl.Version, SM3: tmpl.Digest(), Title: out.Text.Title}
	a.CreatedBy = r.Subject.ID
	store := b.Documents()
	if store == nil {
		return 0, nil, errs.E(op, errs.Unavailable, "the document store is not open yet")
	}
	pdfID := a.ID + ".pdf"
	info, err := store.Put(r.Ctx, pdfID, bytes.NewReader(out.PDF), int64(len(out.PDF)))
	if err != nil {
		return 0, nil, errs.Wrap(op, errs.Unavailable, err, "the PDF could not be stored")
	}
	a.PDF = DocRef{ID: pdfID, SM3: hex.EncodeToString(info.SM3[:]), Size: info.Size}
	if a.PDF.SM3 != out.SM3 {
		store.Delete(r.Ctx, pdfID)
		return 0, nil, errs.E(op, errs.Internal, "the stored PDF is not the rendered one")
	}
	r.Audit.Object = a.ID
	v, err := r.Propose(state.NewCommand(CmdCreate, mustJSON(a), r.Now()))
	if err != nil {
		store.Delete(r.Ctx, pdfID) // nothing half-applied
		return 0, nil, err
	}
	if a, err = decode(v); err != nil {
		return 0, nil, err
	}
	return 201, a.view(), nil
}

// view is an agreement as the API shows it. Its values are not shown: the
// PDF says them, to those who may read it.
func (a *Agreement) view() map[string]any {
	parties := make([]map[string]any, len(a.Parties))
	for i, p := range a.Parties {
		parties[i] = map[string]any{"role": p.Role, "subject": p.Subject, "name": p.Name, "signed": !p.SignedAt.IsZero()}
		if !p.SignedAt.IsZero() {
			parties[i]["signed_at"], parties[i]["method"] = p.SignedAt, p.Method
		}
	}
	out := map[string]any{
		"id": a.ID, "kind": a.Kind, "status": a.Status, "template": a.Template, "merchant": a.Merchant,
		"document_sm3": a.PDF.SM3, "pdf_size": a.PDF.Size, "parties": parties,
		"created": a.Created, "created_by": a.CreatedBy,
	}
	if a.Worker != "" {
		out["worker"] = a.Worker
	}
	if a.Evidence != nil {
		out["evidence_sm3"], out["sealed_at"] = a.Evidence.SM3, a.SealedAt
	}
	return out
}

// list answers the agreements the caller may see: all for platform staff,
// their merchant's for its users, their own for a worker.
func (b *Backend) list(r *api.Request) (int, any, error) {
	q := r.HTTP.URL.Query()
	merchant, status := q.Get("merchant"), Status(q.Get("status"))
	out := []map[string]any{}
	err := r.View(func(tx *state.ReadTx) error {
		return tx.ForEach(Bucket, func(_, v []byte) error {
			a, err := decode(v)
			if err != nil {
				return err
			}
			if policy.CheckTenant(policy.Input{Subject: r.Subject, Resource: a.Tenancy()}) != nil ||
				merchant != "" && a.Merchant != merchant || status != "" && a.Status != status {
				return nil
			}
			out = append(out, a.view())
			return nil
		})
	})
	if err != nil {
		return 0, nil, err
	}
	return 200, map[string]any{"agreements": out}, nil
}

// get reads the route's agreement for the caller (audited).
func get(r *api.Request) (*Agreement, error) {
	var a *Agreement
	err := r.View(func(tx *state.ReadTx) error {
		var err error
		a, err = Get(tx, r.Var("id"))
		return err
	})
	return a, err
}

func (b *Backend) read(r *api.Request) (int, any, error) {
	a, err := get(r)
	if err != nil {
		return 0, nil, err
	}
	return 200, a.view(), nil
}

// document reads a stored document whole, checked against its SM3.
func (b *Backend) document(r *api.Request, d DocRef) ([]byte, error) {
	const op = "read document"
	var want [sm.HashSize]byte
	if raw, err := hex.DecodeString(d.SM3); err != nil || len(raw) != sm.HashSize {
		return nil, fmt.Errorf("agreements: document %s: bad digest on record", d.ID)
	} else {
		copy(want[:], raw)
	}
	store := b.Documents()
	if store == nil {
		return nil, errs.E(op, errs.Unavailable, "the document store is not open yet")
	}
	rc, err := store.Get(r.Ctx, d.ID, want)
	if err != nil {
		return nil, errs.Wrap(op, errs.Unavailable, err, "document %s could not be read", d.ID)
	}
	defer rc.Close()
	body, err := io.ReadAll(rc)
	if err != nil {
		return nil, errs.Wrap(op, errs.Internal, err, "document %s failed its integrity check", d.ID)
	}
	return body, nil
}

func (b *Backend) pdf(r *api.Request) (int, any, error) {
	a, err := get(r)
	if err != nil {
		return 0, nil, err
	}
	body, err := b.document(r, a.PDF)
	if err != nil {
		return 0, nil, err
	}
	return 200, &api.Raw{ContentType: "application/pdf", Name: a.ID + ".pdf", Body: body}, nil
}

func (b *Backend) evidence(r *api.Request) (int, any, error) {
	a, err := get(r)
	if err != nil {
		return 0, nil, err
	}
	if a.Evidence == nil {
		return 0, nil, errs.Coded("evidence", errs.Conflict, esign.CodeSigningIncomplete, "agreement %s is %s: its evidence package is sealed once every party signed", a.ID, a.Status)
	}
	body, err := b.document(r, *a.Evidence)
	if err != nil {
		return 0, nil, err
	}
	return 200, &api.Raw{ContentType: "application/zip", Name: a.ID + "-evidence.zip", Body: body}, nil
}
