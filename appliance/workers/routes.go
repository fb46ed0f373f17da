package workers

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"io"
	"mime"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"cxt/appliance/api"
	"cxt/appliance/errs"
	"cxt/appliance/identity"
	"cxt/appliance/merchants"
	"cxt/appliance/subjects"
	"cxt/appliance/workers/realname"
	"cxt/crypto/keyring"
	"cxt/crypto/sm"
	"cxt/crypto/subjectkey"
	"cxt/policy"
	"cxt/storage/auditlog"
	"cxt/storage/state"
)

// Backend serves workers over the API.
type Backend struct {
	// Hashing makes the password hashes of workers' accounts.
	Hashing identity.Hashing
	// Verifier checks real names; nil is the sandbox.
	Verifier realname.Verifier
	// Batch and InFlight tune bulk invitations (see Inviter).
	Batch, InFlight int
	// Risk is the policy in force, whose identity rules decide a
	// registration; nil: the bundle stored in the state (the embedded one
	// when none is).
	Risk *policy.Authorizer
}

// IdentityInput is the identity rules' input (policy/risk/worker.rego).
type IdentityInput struct {
	Worker struct {
		IDBI     string `json:"id_bi"`
		DeviceBI string `json:"device_bi"` // "" when the client sent no X-Device-Id
	} `json:"worker"`
}

// identityDecision asks the identity rules about a person registering; a
// policy that answers nothing holds them for platform staff to look at.
func (b *Backend) identityDecision(r *api.Request, idIndex, deviceIndex []byte) (*policy.Decided, error) {
	var in IdentityInput
	in.Worker.IDBI, in.Worker.DeviceBI = hex.EncodeToString(idIndex), hex.EncodeToString(deviceIndex)
	var d policy.Decided
	err := r.View(func(tx *state.ReadTx) error {
		var rules *policy.RiskRules
		if b.Risk != nil {
			rules = b.Risk.Risk()
		} else {
			var err error
			if rules, err = policy.StoredRiskRules(tx); err != nil {
				return err
			}
		}
		var err error
		if d, err = rules.Decide(r.Ctx, policy.RiskWorker, in); err != nil {
			d.RiskDecision = merchants.NoDecision(err)
		}
		return nil
	})
	return &d, err
}

// Register adds the workers' buckets and commands.
func (b *Backend) Register(reg *state.Registry) { Register(reg) }

// MaxFile bounds an invitation file: 10,000 rows of a name, an ID number,
// a phone and a card fit in well under 1 MiB; 4 MiB leaves room for
// quoting and long names.
const MaxFile = 4 << 20

// Routes lists the workers' endpoints.
func (b *Backend) Routes() []api.Route {
	const read, write, important = api.Read, api.Write, api.Important
	w := resource
	return []api.Route{
		{Method: "POST", Path: "/api/v1/workers", Action: "workers.register", Kind: write, Handle: b.register},
		{Method: "GET", Path: "/api/v1/workers", Action: "workers.list", Kind: read, Handle: b.list},
		{Method: "GET", Path: "/api/v1/workers/{id}", Action: "workers.read", Kind: read, Resource: w, Handle: b.read},
		{Method: "POST", Path: "/api/v1/workers/{id}/unmask", Action: "workers.unmask", Kind: important, Resource: w, Prepare: b.unmask},
		{Method: "POST", Path: "/api/v1/merchants/{id}/workers", Action: "workers.invite", Kind: write, Resource: merchants.Resource, Handle: b.invite, MaxBody: MaxFile},
		{Method: "POST", Path: "/api/v1/workers/{id}/merchants/{merchant}/accept", Action: "workers.accept", Kind: write, Resource: w, Handle: b.accept},
		{Method: "POST", Path: "/api/v1/workers/{id}/real-name", Action: "workers.verify", Kind: write, Resource: w, Handle: b.verify},
		{Method: "POST", Path: "/api/v1/workers/{id}/liveness", Action: "workers.verify", Kind: write, Resource: w, Handle: b.liveness, MaxBody: 4 << 10},
		{Method: "POST", Path: "/api/v1/workers/{id}/consents", Action: "workers.consent", Kind: write, Resource: w, Handle: b.consent, MaxBody: 256 << 10},
		{Method: "GET", Path: "/api/v1/workers/{id}/consents", Action: "workers.read", Kind: read, Resource: w, Handle: b.consents},
		{Method: "POST", Path: "/api/v1/workers/{id}/consents/{consent}/withdraw", Action: "workers.consent", Kind: write, Resource: w, Handle: b.withdraw},
		{Method: "POST", Path: "/api/v1/workers/{id}/tax-registrations", Action: "workers.tax_file", Kind: write, Resource: w, Handle: b.taxFile},
		{Method: "GET", Path: "/api/v1/workers/{id}/tax-registrations", Action: "workers.read", Kind: read, Resource: w, Handle: b.taxList},
		{Method: "POST", Path: "/api/v1/workers/{id}/tax-registrations/{req}/result", Action: "workers.tax_result", Kind: write, Resource: w, Handle: b.taxResult},
	}
}

// resource finds the worker a route names: theirs, and each linked
// merchant's.
func resource(r *api.Request) (api.Resource, error) {
	id := r.Var("id")
	res := api.Resource{Resource: policy.Resource{Label: 1, Owner: id, Tenanted: true, Worker: id}, Noun: "worker"}
	found, err := r.Lookup(func(tx *state.ReadTx) (bool, error) {
		b, err := tx.Get(Bucket, []byte(id))
		if err != nil || b == nil {
			return false, err
		}
		w, err := decode(b)
		if err == nil {
			res.Resource = w.Tenancy()
		}
		return true, err
	})
	res.Absent = !found
	return res, err
}

// registrationIn is what a person registering themselves sends.
type registrationIn struct {
	Name     string `json:"name"`
	IDNumber string `json:"id_number"`
	Phone    string `json:"phone"`
	BankCard string `json:"bank_card"`
	Username string `json:"username"`
}

// register takes a person's own registration and creates their worker
// account with it; a person a merchant invited takes their record over.
func (b *Backend) register(r *api.Request) (int, any, error) {
	const op = "register worker"
	var in registrationIn
	if err := r.Decode(&in); err != nil {
		return 0, nil, err
	}
	p, err := Person{Name: in.Name, IDNumber: in.IDNumber, Phone: in.Phone, BankCard: in.BankCard}.Check(r.Now())
	if err != nil {
		return 0, nil, err
	}
	indexKey, err := r.Node.Keys().IndexKey()
	if err != nil {
		return 0, nil, err
	}
	idIndex, phoneIndex := Indexes(indexKey, p.IDNumber, p.Phone)
	device := strings.TrimSpace(r.HTTP.Header.Get(DeviceHeader))
	if err := CheckDeviceID(device); err != nil {
		return 0, nil, errs.E(op, errs.Invalid, "%v", err)
	}
	var claim *Worker
	if err := r.View(func(tx *state.ReadTx) error {
		id, err := tx.Get(IDIndexBucket, idIndex)
		if err != nil || id == nil {
			return err
		}
		w, err := Get(tx, string(id))
		if err != nil {
			return err
		}
		if w.Account != "" {
			return errs.Coded(op, errs.Conflict, CodeDuplicate.String(), "a worker with this ID number is registered already; sign in instead")
		}
		priv, err := w.open(tx, r.Node.Keys())
		if err != nil {
			return err
		}
		if priv.Name != p.Name || priv.Phone != p.Phone {
			return errs.Coded(op, errs.Conflict, CodeDuplicate.String(), "a worker with this ID number is registered already; register with the name and mobile number the merchant invited you by")
		}
		claim = w
		return nil
	}); err != nil {
		return 0, nil, err
	}
	// Where the registration came from, as blind indexes, for post-hoc
	// inspection (one device registering many workers) and the identity
	// rules (a listed device).
	source := SourceIndexes(indexKey, r.Audit.Source, device)
	risk, err := b.identityDecision(r, idIndex, source.Device)
	if err != nil {
		return 0, nil, err
	}
	if risk.Outcome == policy.Reject {
		return 0, nil, errs.Coded(op, errs.Conflict, risk.Code, "the platform does not register this person: %s", risk.Reason)
	}
	reg := Registration{IDIndex: idIndex, PhoneIndex: phoneIndex, Source: source, Risk: risk}
	var key *subjectkey.Key
	if claim != nil {
		reg.ID, reg.Claim = claim.ID, true
	} else {
		reg.ID = NewID()
		var fresh subjects.Fresh
		if key, fresh, err = subjects.NewKey(r.Node.Keys(), reg.ID); err != nil {
			return 0, nil, err
		}
		if reg.Private, err = subjects.Seal(key, PrivateAAD(reg.ID), Private(p)); err != nil {
			return 0, nil, err
		}
		reg.Key = fresh
		if p.BankCard != "" {
			reg.CardIndex = CardIndex(indexKey, p.BankCard)
		}
	}
	// The account carries the phone its SMS login codes go to (identity's
	// rule for workers); everything else stays under the worker's key.
	acct, password, err := b.Hashing.TenantAccount(r, in.Username, identity.Worker, "", reg.ID, "", p.Phone)
	if err != nil {
		return 0, nil, err
	}
	reg.Account = acct
	r.Audit.Object = reg.ID
	v, err := r.Propose(state.NewCommand(CmdRegister, mustJSON(reg), r.Now()))
	if err != nil {
		return 0, nil, err
	}
	w, err := decode(v)
	if err != nil {
		return 0, nil, err
	}
	if key == nil {
		if key, err = b.key(r, w.ID); err != nil {
			return 0, nil, err
		}
	}
	return 201, map[string]any{
		"worker": w.public(key, false, nil), "account": acct.Account.Public(), "one_time_password": password,
		"next": "sign in as " + acct.Account.Username + " with the one-time password and an SMS code (POST /api/v1/sessions/sms), change the password, give your consent to real-name verification (POST /api/v1/workers/" + w.ID + "/consents) and verify (POST /api/v1/workers/" + w.ID + "/real-name)",
	}, nil
}

// key reads a worker's key outside a read's own view (after a write).
func (b *Backend) key(r *api.Request, id string) (*subjectkey.Key, error) {
	var key *subjectkey.Key
	err := r.Node.State().View(func(tx *state.ReadTx) error {
		var err error
		key, err = subjects.Key(tx, r.Node.Keys(), id)
		return err
	})
	return key, err
}

// invite takes a merchant's invitation file (text/csv) and answers its
// report, row by row.
func (b *Backend) invite(r *api.Request) (int, any, error) {
	const op = "invite workers"
	if mt, _, err := mime.ParseMediaType(r.HTTP.Header.Get("Content-Type")); err != nil || mt != "text/csv" {
		return 0, nil, errs.E(op, errs.Unsupported, "send the file as Content-Type: text/csv")
	}
	data, err := io.ReadAll(r.HTTP.Body)
	if err != nil {
		return 0, nil, errs.Coded(op, errs.TooLarge, "too_large", "an invitation file is at most %d bytes", MaxFile)
	}
	rows, err := ParseCSV(data)
	if err != nil {
		return 0, nil, err
	}
	merchant := r.Var("id")
	r.Audit.Object = merchant
	var status merchants.Status
	if err := r.View(func(tx *state.ReadTx) error {
		m, err := merchants.Get(tx, merchant)
		if err == nil {
			status = m.Status
		}
		return err
	}); err != nil {
		return 0, nil, err
	}
	if status != merchants.Approved {
		return 0, nil, errs.Coded(op, errs.Conflict, merchants.CodeStatus.String(), "a %s merchant invites no workers; it must be approved first", status)
	}
	iv := &Inviter{Keys: r.Node.Keys(), View: r.View, Now: r.Now(), Batch: b.Batch, InFlight: b.InFlight,
		Propose: func(first bool, cmd *state.Command) ([]byte, error) {
			if first {
				return r.Propose(cmd)
			}
			return r.ProposeAside(cmd)
		}}
	rep, err := iv.Invite(r.Ctx, merchant, r.Subject.ID, rows)
	if err != nil {
		return 0, nil, err
	}
	return 200, rep, nil
}

// list answers the workers the caller may see: all for platform staff,
// those linked to their merchant for its users, themselves for a worker.
// id_number or phone finds one person by its blind index.
func (b *Backend) list(r *api.Request) (int, any, error) {
	const op = "list workers"
	q := r.HTTP.URL.Query()
	limit := 100
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 1000 {
			return 0, nil, errs.E(op, errs.Invalid, "limit: 1 to 1000")
		}
		limit = n
	}
	after := q.Get("after")
	var byBucket string // a blind index's bucket, and the index
	var byIndex []byte
	if s := q.Get("id_number"); s != "" {
		id, err := normalID(s, r.Now())
		if err != nil {
			return 0, nil, err
		}
		k, err := r.Node.Keys().IndexKey()
		if err != nil {
			return 0, nil, err
		}
		byBucket = IDIndexBucket
		byIndex, _ = Indexes(k, id, "")
	} else if s := q.Get("phone"); s != "" {
		phone, err := parsePhone(s)
		if err != nil {
			return 0, nil, err
		}
		k, err := r.Node.Keys().IndexKey()
		if err != nil {
			return 0, nil, err
		}
		byBucket = PhoneBucket
		_, byIndex = Indexes(k, "", phone)
	}
	mine := tenantMerchant(r)
	out := []map[string]any{}
	var next string
	err := r.View(func(tx *state.ReadTx) error {
		add := func(w *Worker) (bool, error) {
			if policy.CheckTenant(policy.Input{Subject: r.Subject, Resource: w.Tenancy()}) != nil {
				return true, nil
			}
			if len(out) == limit {
				next = out[len(out)-1]["id"].(string)
				return false, nil
			}
			key, err := subjects.Key(tx, r.Node.Keys(), w.ID)
			if err != nil {
				return false, err
			}
			links, err := visibleLinks(tx, w, mine)
			if err != nil {
				return false, err
			}
			out = append(out, w.public(key, false, links))
			return true, nil
		}
		switch {
		case byIndex != nil:
			id, err := tx.Get(byBucket, byIndex)
			if err != nil || id == nil {
				return err
			}
			w, err := Get(tx, string(id))
			if err != nil {
				return err
			}
			_, err = add(w)
			return err
		case r.Subject.Worker != "":
			w, err := Get(tx, r.Subject.Worker)
			if err != nil {
				return err
			}
			_, err = add(w)
			return err
		case mine != "":
			start := string(LinkKey(mine, after))
			return tx.Seek(LinkBucket, []byte(start), false, func(k, _ []byte) (bool, error) {
				key := string(k)
				if !strings.HasPrefix(key, mine+"/") {
					return false, nil
				}
				if key == start && after != "" {
					return true, nil
				}
				w, err := Get(tx, strings.TrimPrefix(key, mine+"/"))
				if err != nil {
					return false, err
				}
				return add(w)
			})
		case policy.TenantBound(r.Subject):
			return nil // a tenant role without a tenant sees nobody
		default:
			return tx.Seek(Bucket, []byte(after), false, func(k, v []byte) (bool, error) {
				if string(k) == after {
					return true, nil
				}
				w, err := decode(v)
				if err != nil {
					return false, err
				}
				return add(w)
			})
		}
	})
	if err != nil {
		return 0, nil, err
	}
	resp := map[string]any{"workers": out}
	if next != "" {
		resp["next"] = next
	}
	return 200, resp, nil
}

// tenantMerchant is the merchant of a merchant's user, or "".
func tenantMerchant(r *api.Request) string {
	if policy.TenantBound(r.Subject) {
		return r.Subject.Merchant
	}
	return ""
}

// visibleLinks are the worker's links the caller may see: a merchant's
// users see their own merchant's only.
func visibleLinks(tx *state.ReadTx, w *Worker, mine string) ([]Link, error) {
	out := []Link{}
	for _, m := range w.Merchants {
		if mine != "" && m != mine {
			continue
		}
		l, err := GetLink(tx, m, w.ID)
		if err != nil {
			return nil, err
		}
		out = append(out, *l)
	}
	return out, nil
}

// load reads the route's worker, its key and the links the caller may see
// (audited: a read).
func load(r *api.Request) (*Worker, *subjectkey.Key, []Link, error) {
	var w *Worker
	var key *subjectkey.Key
	var links []Link
	err := r.View(func(tx *state.ReadTx) error {
		var err error
		if w, err = Get(tx, r.Var("id")); err != nil {
			return err
		}
		if key, err = subjects.Key(tx, r.Node.Keys(), w.ID); err != nil {
			return err
		}
		links, err = visibleLinks(tx, w, tenantMerchant(r))
		return err
	})
	r.Audit.Object = r.Var("id")
	return w, key, links, err
}

func (b *Backend) read(r *api.Request) (int, any, error) {
	w, key, links, err := load(r)
	if err != nil {
		return 0, nil, err
	}
	out := w.public(key, false, links)
	if platformStaff(r) && w.Risk != nil {
		out["risk"] = w.Risk // the registration's decision: platform staff only
	}
	return 200, out, nil
}

// platformStaff reports whether the caller is platform staff: neither a
// merchant's user nor a worker.
func platformStaff(r *api.Request) bool { return r.Subject.Merchant == "" && r.Subject.Worker == "" }

// unmask shows a worker's identifiers in full (an important operation:
// audited with its reason, after a step-up and a confirm).
func (b *Backend) unmask(r *api.Request) (*api.Op, error) {
	var in struct {
		Reason string `json:"reason"`
	}
	if err := r.Decode(&in); err != nil {
		return nil, err
	}
	if utf8.RuneCountInString(strings.TrimSpace(in.Reason)) < 5 {
		return nil, errs.E("unmask worker", errs.Invalid, "reason: say why the full details are needed (at least 5 characters)")
	}
	w, key, links, err := load(r)
	if err != nil {
		return nil, err
	}
	r.Audit.Object, r.Audit.Reason = w.ID, in.Reason
	return &api.Op{
		Impact:  map[string]any{"worker": w.ID, "shows": "the name, ID number, mobile number, bank card and provider references in full"},
		Risks:   []string{"personal information is shown unmasked; the audit log keeps who asked and why"},
		Command: auditlog.RecordCommand(auditlog.Context{Event: "worker.unmask"}, r.Now()),
		Status:  200, Response: w.public(key, true, links),
		Secrets: []string{"name", "id_number", "phone", "bank_card", "real_name", "liveness"},
	}, nil
}

// accept is the worker's acceptance of a merchant's invitation.
func (b *Backend) accept(r *api.Request) (int, any, error) {
	var in struct{}
	if r.HTTP.ContentLength != 0 {
		if err := r.Decode(&in); err != nil {
			return 0, nil, err
		}
	}
	r.Audit.Object = r.Var("id") + "/" + r.Var("merchant")
	v, err := r.Propose(state.NewCommand(CmdAccept, mustJSON(Acceptance{Worker: r.Var("id"), Merchant: r.Var("merchant"), By: r.Subject.ID}), r.Now()))
	if err != nil {
		return 0, nil, err
	}
	return 200, jsonValue(v), nil
}

// verify checks the worker's real name with the verifier and records the
// answer, matched or not. The worker's consent to real-name verification
// must be on record first: no third party is asked without it.
func (b *Backend) verify(r *api.Request) (int, any, error) {
	const op = "verify real name"
	if r.HTTP.ContentLength != 0 {
		var in struct{}
		if err := r.Decode(&in); err != nil {
			return 0, nil, err
		}
	}
	w, key, _, err := load(r)
	if err != nil {
		return 0, nil, err
	}
	if err := r.View(func(tx *state.ReadTx) error { return hasConsent(tx, w.ID, PurposeRealName) }); err != nil {
		return 0, nil, err
	}
	priv, err := w.openWith(key)
	if err != nil {
		return 0, nil, err
	}
	v := b.Verifier
	if v == nil {
		v = realname.Sandbox{}
	}
	ctx, cancel := context.WithTimeout(r.Ctx, 20*time.Second)
	defer cancel()
	res, err := v.Verify(ctx, priv.Name, priv.IDNumber, priv.Phone)
	if err != nil {
		return 0, nil, errs.Wrap(op, errs.Unavailable, err, "the real-name service did not answer; nothing was recorded, try again")
	}
	status := Failed
	if res.Match {
		status = Verified
	}
	return b.record(r, w, key, CheckRealName, Check{Status: status, Provider: res.Provider, Score: res.Score, Reason: res.Reason}, res.Reference)
}

// liveness records a face-liveness check done by a provider's SDK: its
// reference and score only. The body is small on purpose: no image fits.
func (b *Backend) liveness(r *api.Request) (int, any, error) {
	const op = "record liveness"
	var in struct {
		Provider  string  `json:"provider"`
		Reference string  `json:"reference"`
		Score     float64 `json:"score"`
		Passed    bool    `json:"passed"`
	}
	if err := r.Decode(&in); err != nil {
		return 0, nil, err
	}
	if in.Provider == "" || len(in.Provider) > 64 || in.Reference == "" || len(in.Reference) > 128 || in.Score < 0 || in.Score > 1 {
		return 0, nil, errs.E(op, errs.Invalid, "provider (1-64), reference (1-128 characters) and score (0 to 1): the provider's result, never an image")
	}
	w, key, _, err := load(r)
	if err != nil {
		return 0, nil, err
	}
	status := Failed
	if in.Passed {
		status = Verified
	}
	return b.record(r, w, key, CheckLiveness, Check{Status: status, Provider: in.Provider, Score: in.Score}, in.Reference)
}

func (b *Backend) record(r *api.Request, w *Worker, key *subjectkey.Key, kind string, c Check, reference string) (int, any, error) {
	sealed, err := subjects.Seal(key, ReferenceAAD(w.ID, kind), reference)
	if err != nil {
		return 0, nil, err
	}
	c.Reference, c.By = sealed, r.Subject.ID
	v, err := r.Propose(state.NewCommand(CmdCheck, mustJSON(Checked{Worker: w.ID, KeyID: key.ID(), Kind: kind, Check: c}), r.Now()))
	if err != nil {
		return 0, nil, err
	}
	nw, err := decode(v)
	if err != nil {
		return 0, nil, err
	}
	if kind == CheckRealName {
		return 200, nw.RealName.public(key, nw.ID, kind, false), nil
	}
	return 200, nw.Liveness.public(key, nw.ID, kind, false), nil
}

// hasConsent refuses unless the worker's consent to purpose is live.
func hasConsent(tx *state.ReadTx, worker, purpose string) error {
	found := false
	err := tx.Seek(ConsentBucket, ChildKey(worker, ""), false, func(k, v []byte) (bool, error) {
		if !strings.HasPrefix(string(k), worker+"/") {
			return false, nil
		}
		var c Consent
		if err := jsonUnmarshal(v, &c); err != nil {
			return false, err
		}
		found = c.Purpose == purpose && c.Live()
		return !found, nil
	})
	if err == nil && !found {
		err = errs.Coded("", errs.Conflict, CodeConsent.String(), "the worker has not consented to %s (or withdrew it); record the consent first", purpose)
	}
	return err
}

// consent records a worker's consent: the SM3 of the notice shown is
// computed here from its text.
func (b *Backend) consent(r *api.Request) (int, any, error) {
	const op = "record consent"
	var in struct {
		Purpose       string `json:"purpose"`
		Notice        string `json:"notice"`
		NoticeVersion string `json:"notice_version"`
		Channel       string `json:"channel"`
	}
	if err := r.Decode(&in); err != nil {
		return 0, nil, err
	}
	switch {
	case !slices.Contains(Purposes, in.Purpose):
		return 0, nil, errs.E(op, errs.Invalid, "purpose: one of %s", strings.Join(Purposes, ", "))
	case !slices.Contains(Channels, in.Channel):
		return 0, nil, errs.E(op, errs.Invalid, "channel: one of %s", strings.Join(Channels, ", "))
	case strings.TrimSpace(in.Notice) == "":
		return 0, nil, errs.E(op, errs.Invalid, "notice: the text shown to the worker")
	case in.NoticeVersion == "" || len(in.NoticeVersion) > 32:
		return 0, nil, errs.E(op, errs.Invalid, "notice_version: 1-32 characters")
	}
	sum := sm.Sum([]byte(in.Notice))
	c := Consent{ID: childID("c_", r.Now()), Worker: r.Var("id"), Purpose: in.Purpose, NoticeSM3: hex.EncodeToString(sum[:]),
		NoticeVersion: in.NoticeVersion, Channel: in.Channel, By: r.Subject.ID}
	r.Audit.Object = c.Worker + "/" + c.ID
	v, err := r.Propose(state.NewCommand(CmdConsent, mustJSON(c), r.Now()))
	if err != nil {
		return 0, nil, err
	}
	return 201, jsonValue(v), nil
}

func (b *Backend) consents(r *api.Request) (int, any, error) {
	list, err := children[Consent](r, ConsentBucket)
	if err != nil {
		return 0, nil, err
	}
	return 200, map[string]any{"consents": list}, nil
}

func (b *Backend) withdraw(r *api.Request) (int, any, error) {
	if r.HTTP.ContentLength != 0 {
		var in struct{}
		if err := r.Decode(&in); err != nil {
			return 0, nil, err
		}
	}
	r.Audit.Object = r.Var("id") + "/" + r.Var("consent")
	v, err := r.Propose(state.NewCommand(CmdWithdraw, mustJSON(Withdrawal{Worker: r.Var("id"), Consent: r.Var("consent"), By: r.Subject.ID}), r.Now()))
	if err != nil {
		return 0, nil, err
	}
	return 200, jsonValue(v), nil
}

// taxFile files a request to register the worker for tax on their behalf.
// A merchant's user files for their own merchant's work.
func (b *Backend) taxFile(r *api.Request) (int, any, error) {
	var in struct {
		Kind     string `json:"kind"`
		Merchant string `json:"merchant"`
	}
	if err := r.Decode(&in); err != nil {
		return 0, nil, err
	}
	if in.Kind != TaxTemporary && in.Kind != TaxIndividual {
		return 0, nil, errs.E("file tax registration", errs.Invalid, "kind: %s (临时税务登记) or %s (个体工商户)", TaxTemporary, TaxIndividual)
	}
	if mine := tenantMerchant(r); mine != "" {
		in.Merchant = mine
	}
	t := TaxRegistration{ID: childID("t_", r.Now()), Worker: r.Var("id"), Kind: in.Kind, Merchant: in.Merchant, By: r.Subject.ID}
	r.Audit.Object = t.Worker + "/" + t.ID
	v, err := r.Propose(state.NewCommand(CmdTaxFile, mustJSON(t), r.Now()))
	if err != nil {
		return 0, nil, err
	}
	var got TaxRegistration
	if err := jsonUnmarshal(v, &got); err != nil {
		return 0, nil, err
	}
	return 201, got.public(nil), nil
}

func (b *Backend) taxList(r *api.Request) (int, any, error) {
	list, err := children[TaxRegistration](r, TaxBucket)
	if err != nil {
		return 0, nil, err
	}
	key, err := b.key(r, r.Var("id"))
	if err != nil {
		return 0, nil, err
	}
	out := make([]map[string]any, len(list))
	for i := range list {
		out[i] = list[i].public(key)
	}
	return 200, map[string]any{"tax_registrations": out}, nil
}

// taxResult records the tax office's answer to a request (a platform
// operator); the registration number is sealed under the worker's key.
func (b *Backend) taxResult(r *api.Request) (int, any, error) {
	var in struct {
		Status    string `json:"status"`
		Reference string `json:"reference"`
		Reason    string `json:"reason"`
	}
	if err := r.Decode(&in); err != nil {
		return 0, nil, err
	}
	if len(in.Reference) > 64 || len(in.Reason) > 500 {
		return 0, nil, errs.E("record tax registration", errs.Invalid, "reference: at most 64 characters; reason: at most 500")
	}
	key, err := b.key(r, r.Var("id"))
	if err != nil {
		return 0, nil, err
	}
	res := TaxResult{Worker: r.Var("id"), ID: r.Var("req"), Status: in.Status, KeyID: key.ID(), Reason: in.Reason, By: r.Subject.ID}
	if in.Reference != "" {
		if res.Reference, err = subjects.Seal(key, ReferenceAAD(res.Worker, "tax/"+res.ID), in.Reference); err != nil {
			return 0, nil, err
		}
	}
	r.Audit.Object = res.Worker + "/" + res.ID
	v, err := r.Propose(state.NewCommand(CmdTaxResult, mustJSON(res), r.Now()))
	if err != nil {
		return 0, nil, err
	}
	var got TaxRegistration
	if err := jsonUnmarshal(v, &got); err != nil {
		return 0, nil, err
	}
	return 200, got.public(key), nil
}

// children reads the route's worker's records of bucket (audited).
func children[T any](r *api.Request, bucket string) ([]T, error) {
	id := r.Var("id")
	r.Audit.Object = id
	out := []T{}
	err := r.View(func(tx *state.ReadTx) error {
		return tx.Seek(bucket, ChildKey(id, ""), false, func(k, v []byte) (bool, error) {
			if !strings.HasPrefix(string(k), id+"/") {
				return false, nil
			}
			var t T
			if err := jsonUnmarshal(v, &t); err != nil {
				return false, err
			}
			out = append(out, t)
			return true, nil
		})
	})
	return out, err
}

// childID draws a consent's or a tax request's ID: time-ordered, so a
// worker's list reads oldest first.
func childID(prefix string, now time.Time) string {
	var b [4]byte
	rand.Read(b[:])
	return prefix + strconv.FormatInt(now.UnixMicro(), 36) + hex.EncodeToString(b[:])
}

// Party is a worker as an agreement names them.
type Party struct {
	ID, Name, IDNumber string
}

// CodeUnverified refuses an agreement with a worker whose real name is not
// verified.
const CodeUnverified = "worker_unverified"

// FindParty finds the worker a merchant may sign a tripartite agreement
// with: one linked to the merchant (nil, nil for any other, as for none),
// whose real name was verified (worker_unverified otherwise).
func FindParty(tx *state.ReadTx, keys *keyring.Keyring, merchant, worker string) (*Party, error) {
	w, err := Get(tx, worker)
	if state.NotFound.Is(err) {
		return nil, nil
	} else if err != nil {
		return nil, err
	}
	if !slices.Contains(w.Merchants, merchant) {
		return nil, nil
	}
	if w.RealName == nil || w.RealName.Status != Verified {
		return nil, errs.Coded("", errs.Conflict, CodeUnverified, "worker %s has not passed real-name verification (POST /api/v1/workers/%s/real-name)", w.ID, w.ID)
	}
	priv, err := w.open(tx, keys)
	if err != nil {
		return nil, err
	}
	return &Party{ID: w.ID, Name: priv.Name, IDNumber: priv.IDNumber}, nil
}

// Payee opens what a payment channel needs of a worker: their name and bank
// card. The payouts' driver calls it on the leader while it hands orders
// over; the plaintext lives only in that call.
func Payee(tx *state.ReadTx, keys *keyring.Keyring, worker string) (name, card string, err error) {
	w, err := Get(tx, worker)
	if err != nil {
		return "", "", err
	}
	priv, err := w.open(tx, keys)
	if err != nil {
		return "", "", err
	}
	return priv.Name, priv.BankCard, nil
}

// Identity opens a worker's name and resident ID number: what a tax
// certificate names them by (masked there).
func Identity(tx *state.ReadTx, keys *keyring.Keyring, worker string) (name, idNumber string, err error) {
	w, err := Get(tx, worker)
	if err != nil {
		return "", "", err
	}
	priv, err := w.open(tx, keys)
	if err != nil {
		return "", "", err
	}
	return priv.Name, priv.IDNumber, nil
}
