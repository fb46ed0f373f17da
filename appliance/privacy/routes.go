package privacy

import (
	"crypto/rand"
	"encoding/hex"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"cxt/appliance/api"
	"cxt/appliance/errs"
	"cxt/appliance/ident"
	"cxt/appliance/payouts"
	"cxt/appliance/subjects"
	"cxt/appliance/workers"
	"cxt/crypto/subjectkey"
	"cxt/policy"
	"cxt/storage/state"
)

// Backend serves the personal-information rights over the API.
type Backend struct {
	// Retention is the legal retention a deletion is decided by (the
	// archives'); nil refuses deletions retention_unknown.
	Retention Retention
}

// Register adds the buckets and commands.
func (b *Backend) Register(reg *state.Registry) {
	Register(reg, func() Retention { return b.Retention })
}

// Routes lists the endpoints.
func (b *Backend) Routes() []api.Route {
	return []api.Route{
		{Method: "GET", Path: "/api/v1/workers/{id}/export", Action: "privacy.export", Kind: api.Read, Resource: workerResource, Handle: b.export},
		{Method: "POST", Path: "/api/v1/workers/{id}/privacy-requests", Action: "privacy.file", Kind: api.Write, Resource: workerResource, Handle: b.file, MaxBody: 4 << 10},
		{Method: "GET", Path: "/api/v1/workers/{id}/privacy-requests", Action: "privacy.read", Kind: api.Read, Resource: workerResource, Handle: b.list},
		{Method: "GET", Path: "/api/v1/privacy-requests", Action: "privacy.list", Kind: api.Read, Handle: b.listAll},
		{Method: "POST", Path: "/api/v1/privacy-requests/{req}/decide", Action: "privacy.decide", Kind: api.Write, Resource: requestResource, Handle: b.decide, MaxBody: 4 << 10},
		{Method: "POST", Path: "/api/v1/workers/{id}/cancel", Action: "privacy.cancel", Kind: api.Important, Resource: workerResource, Prepare: b.cancel},
	}
}

// workerResource is the worker a route names: their own, and no
// merchant's (a merchant's users are refused these actions by the policy;
// another worker finds no such worker).
func workerResource(r *api.Request) (api.Resource, error) {
	id := r.Var("id")
	return r.Tenancy(api.Resource{Resource: policy.Resource{Label: 1, Owner: id, Tenanted: true, Worker: id}, Noun: "worker"},
		func(tx *state.ReadTx) (policy.Resource, error) {
			w, err := workers.Get(tx, id)
			if err != nil {
				return policy.Resource{}, err
			}
			return w.Tenancy(), nil
		})
}

// requestResource is the worker whose request a route names.
func requestResource(r *api.Request) (api.Resource, error) {
	id := r.Var("req")
	return r.Tenancy(api.Resource{Resource: policy.Resource{Label: 1, Owner: id}, Noun: "privacy request"},
		func(tx *state.ReadTx) (policy.Resource, error) {
			q, err := Get(tx, id)
			if err != nil {
				return policy.Resource{}, err
			}
			w, err := workers.Get(tx, q.Worker)
			if err != nil {
				return policy.Resource{}, err
			}
			return w.Tenancy(), nil
		})
}

// export answers the worker's own copy of their data. Its audit record is
// the request's own, action privacy.export, with the reason below: a
// personal-data access like any other read, by the person themselves.
func (b *Backend) export(r *api.Request) (int, any, error) {
	id := r.Var("id")
	r.Audit.Object, r.Audit.Reason = id, "personal-data access: the worker's own copy (PIPL art. 45)"
	var out map[string]any
	if err := r.View(func(tx *state.ReadTx) error {
		var err error
		out, err = Export(tx, r.Node.Keys(), id, r.Now())
		return err
	}); err != nil {
		return 0, nil, err
	}
	out["next"] = "keep this file safe: it holds your ID number and bank card in full. To correct or delete, POST /api/v1/workers/" + id + "/privacy-requests"
	return 200, out, nil
}

// fileIn is what a worker sends to file a request.
type fileIn struct {
	Kind     string  `json:"kind"`
	Name     *string `json:"name"`
	BankCard *string `json:"bank_card"`
	IDNumber *string `json:"id_number"`
	Phone    *string `json:"phone"`
}

// file files the worker's correction or deletion request. A correction's
// new values are sealed under the worker's key here, before the command.
func (b *Backend) file(r *api.Request) (int, any, error) {
	const op = "file privacy request"
	var in fileIn
	if err := r.Decode(&in); err != nil {
		return 0, nil, err
	}
	worker := r.Var("id")
	q := Request{ID: NewID(r.Now()), Worker: worker, Kind: in.Kind, By: r.Subject.ID}
	r.Audit.Object = worker + "/" + q.ID
	switch in.Kind {
	case Correction:
		switch {
		case in.IDNumber != nil:
			return 0, nil, errs.Coded(op, errs.Invalid, CodeField.String(), "the ID number is not corrected by request: it is your identity for tax and across merchants; ask the platform to review your registration")
		case in.Phone != nil:
			return 0, nil, errs.Coded(op, errs.Invalid, CodeField.String(), "the mobile number is your login: ask the platform operator to change it")
		case in.Name == nil && in.BankCard == nil:
			return 0, nil, errs.E(op, errs.Invalid, "a correction gives the new name, the new bank_card, or both")
		}
		var v Values
		if in.Name != nil {
			v.Name = strings.TrimSpace(*in.Name)
			if err := workers.CheckName(v.Name); err != nil {
				return 0, nil, err
			}
			q.Fields = append(q.Fields, FieldName)
		}
		if in.BankCard != nil {
			v.BankCard = strings.TrimSpace(*in.BankCard)
			if _, err := ident.ParseBankCard(v.BankCard); err != nil {
				return 0, nil, err
			}
			q.Fields = append(q.Fields, FieldBankCard)
		}
		key, err := workerKey(r, worker)
		if err != nil {
			return 0, nil, err
		}
		if q.Values, err = subjects.Seal(key, RequestAAD(worker, q.ID), v); err != nil {
			return 0, nil, err
		}
		q.KeyID = key.ID()
		slices.Sort(q.Fields)
	case Deletion:
		if in.Name != nil || in.BankCard != nil || in.IDNumber != nil || in.Phone != nil {
			return 0, nil, errs.E(op, errs.Invalid, "a deletion request erases your data whole: send only {\"kind\":\"deletion\"}")
		}
	default:
		return 0, nil, errs.E(op, errs.Invalid, "kind: %s or %s", Correction, Deletion)
	}
	v, err := r.Propose(state.NewCommand(CmdFile, mustJSON(q), r.Now()))
	if err != nil {
		return 0, nil, err
	}
	got, err := decode(v)
	if err != nil {
		return 0, nil, err
	}
	out := view(got, nil, true, r.Now())
	out["next"] = "the platform answers by " + got.Due.In(china).Format("2006-01-02") + "; follow it with GET /api/v1/workers/" + worker + "/privacy-requests"
	return 201, out, nil
}

// list answers a worker's requests, new values masked.
func (b *Backend) list(r *api.Request) (int, any, error) {
	worker := r.Var("id")
	r.Audit.Object = worker
	var out []map[string]any
	err := r.View(func(tx *state.ReadTx) error {
		key, err := subjects.Key(tx, r.Node.Keys(), worker)
		if err != nil && !subjects.CodeShredded.Is(err) {
			return err
		}
		list, err := children[Request](tx, Bucket, worker)
		if err != nil {
			return err
		}
		out = make([]map[string]any, len(list))
		for i := range list {
			out[i] = view(&list[i], key, true, r.Now())
		}
		return nil
	})
	if err != nil {
		return 0, nil, err
	}
	return 200, map[string]any{"requests": out}, nil
}

// listAll answers platform staff every request, oldest due first:
// ?overdue=1 keeps those open past their due date, ?status= one status.
func (b *Backend) listAll(r *api.Request) (int, any, error) {
	const op = "list privacy requests"
	qs := r.HTTP.URL.Query()
	overdue := qs.Get("overdue") == "1" || qs.Get("overdue") == "true"
	status := qs.Get("status")
	if status != "" && !slices.Contains([]string{Open, Done, Refused, Restricted, Erasing}, status) {
		return 0, nil, errs.E(op, errs.Invalid, "status: %s, %s, %s, %s or %s", Open, Done, Refused, Restricted, Erasing)
	}
	limit := 100
	if s := qs.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 1000 {
			return 0, nil, errs.E(op, errs.Invalid, "limit: 1 to 1000")
		}
		limit = n
	}
	now := r.Now()
	var found []*Request
	err := r.View(func(tx *state.ReadTx) error {
		return tx.ForEach(Bucket, func(_, v []byte) error {
			q, err := decode(v)
			if err != nil {
				return err
			}
			if overdue && !q.Overdue(now) || status != "" && q.Status != status {
				return nil
			}
			found = append(found, q)
			return nil
		})
	})
	if err != nil {
		return 0, nil, err
	}
	slices.SortFunc(found, func(a, b *Request) int { return a.Due.Compare(b.Due) })
	out := []map[string]any{}
	late := 0
	for _, q := range found {
		if q.Overdue(now) {
			late++
		}
		if len(out) < limit {
			out = append(out, view(q, nil, true, now))
		}
	}
	return 200, map[string]any{"requests": out, "total": len(found), "overdue": late}, nil
}

// decideIn is a platform operator's decision.
type decideIn struct {
	Outcome string `json:"outcome"`
	Reason  string `json:"reason"`
}

// decide applies or refuses a request. A correction applied is merged
// into the worker's record here and re-sealed under their key; the state
// machine checks the record is still the one it was merged into.
func (b *Backend) decide(r *api.Request) (int, any, error) {
	const op = "decide privacy request"
	var in decideIn
	if err := r.Decode(&in); err != nil {
		return 0, nil, err
	}
	id := r.Var("req")
	r.Audit.Object = id
	d := Decision{Request: id, Outcome: in.Outcome, Reason: strings.TrimSpace(in.Reason), By: r.Subject.ID}
	switch in.Outcome {
	case Refuse:
		if utf8.RuneCountInString(d.Reason) < 5 || len(d.Reason) > 1000 {
			return 0, nil, errs.E(op, errs.Invalid, "reason: why the request is refused, 5 to 1000 characters; the person reads it")
		}
		r.Audit.Reason = d.Reason
	case Apply:
		if d.Reason != "" {
			return 0, nil, errs.E(op, errs.Invalid, "reason: only a refusal gives one")
		}
		if err := b.prepareCorrection(r, &d); err != nil {
			return 0, nil, err
		}
	default:
		return 0, nil, errs.E(op, errs.Invalid, "outcome: %s or %s", Apply, Refuse)
	}
	v, err := r.Propose(state.NewCommand(CmdDecide, mustJSON(d), r.Now()))
	if err != nil {
		return 0, nil, err
	}
	got, err := decode(v)
	if err != nil {
		return 0, nil, err
	}
	out := view(got, nil, true, r.Now())
	out["next"] = next(got)
	return 200, out, nil
}

// next says what follows a decision.
func next(q *Request) string {
	switch q.Status {
	case Restricted:
		return "the worker's data is kept under " + q.Basis + " until " + q.Until.In(china).Format("2006-01-02") + " and only stored meanwhile; the archives destroy it then and the request is done with the certificate"
	case Erasing:
		return "the worker is restricted; run the archive destruction for worker " + q.Worker + ": it completes this request with its certificate"
	case Refused:
		return "the worker sees the refusal and its reason in GET /api/v1/workers/" + q.Worker + "/privacy-requests"
	}
	return "the correction is applied; the worker sees it in GET /api/v1/workers/" + q.Worker + "/export"
}

// prepareCorrection merges an open correction's values into the worker's
// record and seals it, for the decision to carry; a deletion needs
// nothing here.
func (b *Backend) prepareCorrection(r *api.Request, d *Decision) error {
	return r.View(func(tx *state.ReadTx) error {
		q, err := Get(tx, d.Request)
		if err != nil || q.Kind != Correction || q.Status != Open {
			return err // the state machine refuses what is not open
		}
		w, err := workers.Get(tx, q.Worker)
		if err != nil {
			return err
		}
		key, err := subjects.Key(tx, r.Node.Keys(), w.ID)
		if err != nil {
			return err
		}
		p, err := w.Open(key)
		if err != nil {
			return err
		}
		var v Values
		if err := subjects.Open(key, RequestAAD(q.Worker, q.ID), q.Values, &v); err != nil {
			return err
		}
		if slices.Contains(q.Fields, FieldName) {
			p.Name = v.Name
		}
		if slices.Contains(q.Fields, FieldBankCard) {
			p.BankCard = v.BankCard
			ik, err := r.Node.Keys().IndexKey()
			if err != nil {
				return err
			}
			d.CardIndex = workers.CardIndex(ik, p.BankCard)
		}
		if d.Private, err = subjects.Seal(key, workers.PrivateAAD(w.ID), p); err != nil {
			return err
		}
		d.KeyID, d.Base = key.ID(), workers.PrivateSM3(w.Private)
		return nil
	})
}

// cancel cancels the worker's own account (an important operation): the
// worker is cancelled, their login closed and its sessions ended, and a
// deletion request filed. A payment to them still under way is refused
// first (payment_in_flight): checked on the proposer, where the payment
// index is cheap to read; one uploaded in between is refused on its own
// row (worker_restricted), and one accepted in between goes on to the
// channel, which still opens the payee.
func (b *Backend) cancel(r *api.Request) (*api.Op, error) {
	const op = "cancel account"
	if r.HTTP.ContentLength != 0 {
		var in struct{}
		if err := r.Decode(&in); err != nil {
			return nil, err
		}
	}
	id := r.Var("id")
	r.Audit.Object = id
	var w *workers.Worker
	var flight []string
	if err := r.View(func(tx *state.ReadTx) error {
		var err error
		if w, err = workers.Get(tx, id); err != nil {
			return err
		}
		return payouts.WorkerPayments(tx, id, func(p *payouts.Payment) error {
			if !p.Status.Final() {
				flight = append(flight, p.ID+" ("+string(p.Status)+")")
			}
			return nil
		})
	}); err != nil {
		return nil, err
	}
	if w.Cancelled != nil {
		return nil, errs.Coded(op, errs.Conflict, CodeCancelled.String(), "the account was cancelled at %s", w.Cancelled.Format(time.RFC3339))
	}
	if len(flight) > 0 {
		return nil, errs.Coded(op, errs.Conflict, CodeInFlight.String(), "payments to you are under way: %s; cancel once they are paid, failed or cancelled by the merchant", strings.Join(flight, ", "))
	}
	return &api.Op{
		Impact: map[string]any{"worker": w.ID, "account": w.Account, "closes": "your login account and every session of it",
			"files": "a deletion request, decided within 30 days; data the law makes the platform keep is restricted until its retention ends"},
		Risks: []string{"you cannot sign in again, and no merchant can link or pay you; this cannot be undone here",
			"records kept for tax and accounting stay, restricted, until their retention ends"},
		Command: state.NewCommand(CmdCancel, mustJSON(Cancel{Worker: w.ID, By: r.Subject.ID, Request: NewID(r.Now())}), r.Now()),
		Status:  200,
		Response: map[string]any{"worker": w.ID, "cancelled": true,
			"next": "you are signed out; the platform answers your deletion request within 30 days (an operator lists it in GET /api/v1/privacy-requests)"},
	}, nil
}

// workerKey reads a worker's key after a read barrier.
func workerKey(r *api.Request, worker string) (*subjectkey.Key, error) {
	var key *subjectkey.Key
	err := r.View(func(tx *state.ReadTx) error {
		var err error
		key, err = subjects.Key(tx, r.Node.Keys(), worker)
		return err
	})
	return key, err
}

// NewID draws a request's ID: time-ordered, so a worker's list reads
// oldest first.
func NewID(now time.Time) string {
	var b [4]byte
	rand.Read(b[:])
	return "pr_" + strconv.FormatInt(now.UnixMicro(), 36) + hex.EncodeToString(b[:])
}

// masked is the values as lists show them.
func (v Values) masked() Values {
	if v.Name != "" {
		v.Name = ident.MaskName(v.Name)
	}
	if v.BankCard != "" {
		v.BankCard = ident.MaskBankCard(v.BankCard)
	}
	return v
}
