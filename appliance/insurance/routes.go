package insurance

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"cxt/appliance/api"
	"cxt/appliance/errs"
	"cxt/appliance/subjects"
	"cxt/appliance/tasks"
	"cxt/appliance/workers"
	"cxt/policy"
	"cxt/storage/state"
)

// Backend serves insurance over the API.
type Backend struct{}

// Register adds the insurance's buckets and commands.
func (b *Backend) Register(reg *state.Registry) { Register(reg) }

// Routes lists the insurance's endpoints: platform operators define
// products and rules and record social-insurance payments; merchants'
// users and workers read products and rules, ask for recommendations and
// enrol; a worker's records are theirs, platform staff's, and — their own
// enrolments only — the merchants linked to them.
func (b *Backend) Routes() []api.Route {
	const read, write = api.Read, api.Write
	p, w := productResource, workerResource
	return []api.Route{
		{Method: "POST", Path: "/api/v1/insurance/products", Action: "insurance.manage", Kind: write, Handle: b.createProduct},
		{Method: "GET", Path: "/api/v1/insurance/products", Action: "insurance.read", Kind: read, Handle: b.products},
		{Method: "GET", Path: "/api/v1/insurance/products/{product}", Action: "insurance.read", Kind: read, Resource: p, Handle: b.product},
		{Method: "POST", Path: "/api/v1/insurance/products/{product}/retire", Action: "insurance.manage", Kind: write, Resource: p, Handle: b.retire},
		{Method: "GET", Path: "/api/v1/insurance/rules", Action: "insurance.read", Kind: read, Handle: b.rules},
		{Method: "PUT", Path: "/api/v1/insurance/rules", Action: "insurance.manage", Kind: write, Handle: b.setRules, MaxBody: 256 << 10},
		{Method: "GET", Path: "/api/v1/workers/{id}/insurance/recommendations", Action: "insurance.recommend", Kind: read, Resource: w, Handle: b.recommend},
		{Method: "GET", Path: "/api/v1/workers/{id}/insurance", Action: "insurance.records", Kind: read, Resource: w, Handle: b.records},
		{Method: "POST", Path: "/api/v1/insurance/enrolments", Action: "insurance.enrol", Kind: write, Handle: b.enrol},
		{Method: "POST", Path: "/api/v1/insurance/social-payments", Action: "insurance.social", Kind: write, Handle: b.socialOne},
		{Method: "POST", Path: "/api/v1/insurance/social-payments/import", Action: "insurance.social", Kind: write, Handle: b.socialImport, MaxBody: MaxCSV},
	}
}

// productResource is a product: the platform's, public to the business.
func productResource(r *api.Request) (api.Resource, error) {
	res := api.Resource{Resource: policy.Resource{Label: 1, Owner: r.Var("product")}, Noun: "product"}
	found, err := r.Lookup(func(tx *state.ReadTx) (bool, error) {
		b, err := tx.Get(ProductBucket, []byte(r.Var("product")))
		return b != nil, err
	})
	res.Absent = !found
	return res, err
}

// workerResource is the worker a route names: theirs and each linked
// merchant's.
func workerResource(r *api.Request) (api.Resource, error) {
	return r.Tenancy(api.Resource{Resource: policy.Resource{Label: 1, Tenanted: true, Worker: r.Var("id")}, Noun: "worker"},
		func(tx *state.ReadTx) (policy.Resource, error) {
			w, err := workers.Get(tx, r.Var("id"))
			if err != nil {
				return policy.Resource{}, err
			}
			return w.Tenancy(), nil
		})
}

func invalid(op, field, format string, args ...any) error {
	return &errs.Error{Op: op, Kind: errs.Invalid, Code: errs.Invalid.Code(), Field: field, Msg: fmt.Sprintf(format, args...)}
}

func newID(prefix string, now time.Time) string {
	var b [4]byte
	rand.Read(b[:])
	return prefix + strconv.FormatInt(now.UnixMicro(), 36) + hex.EncodeToString(b[:])
}

// mine is the merchant of a merchant's user, or "".
func mine(r *api.Request) string {
	if policy.TenantBound(r.Subject) && r.Subject.Worker == "" {
		return r.Subject.Merchant
	}
	return ""
}

func propose(r *api.Request, typ string, body any) ([]byte, error) {
	b, err := json.Marshal(body)
	if err != nil {
		return nil, err
	}
	return r.Propose(state.NewCommand(typ, b, r.Now()))
}

// ProductView is a product as answered: the premium in yuan too.
type ProductView struct {
	Product
	Premium string `json:"premium"`
}

func view(p Product) ProductView { return ProductView{Product: p, Premium: Yuan(p.PremiumFen)} }

func (b *Backend) createProduct(r *api.Request) (int, any, error) {
	const op = "define product"
	var in struct {
		Insurer          string `json:"insurer"`
		Name             string `json:"name"`
		Kind             string `json:"kind"`
		Premium          string `json:"premium"`
		Term             string `json:"term"`
		Coverage         string `json:"coverage"`
		MinAge           int    `json:"min_age"`
		MaxAge           int    `json:"max_age"`
		RealNameRequired bool   `json:"real_name_required"`
	}
	if err := r.Decode(&in); err != nil {
		return 0, nil, err
	}
	fen, err := ParseYuan(in.Premium)
	if err != nil {
		return 0, nil, errs.Coded(op, errs.Invalid, "amount_invalid", "premium: %v", err)
	}
	p := Product{ID: newID("ip_", r.Now()), Insurer: strings.TrimSpace(in.Insurer), Name: strings.TrimSpace(in.Name), Kind: in.Kind, PremiumFen: fen,
		Term: in.Term, Coverage: in.Coverage, MinAge: in.MinAge, MaxAge: in.MaxAge, RealNameRequired: in.RealNameRequired, By: r.Subject.ID}
	if field, err := p.Check(); err != nil {
		return 0, nil, invalid(op, field, "%v", err)
	}
	r.Audit.Object = p.ID
	v, err := propose(r, CmdProduct, p)
	if err != nil {
		return 0, nil, err
	}
	var out Product
	if err := json.Unmarshal(v, &out); err != nil {
		return 0, nil, err
	}
	return 201, view(out), nil
}

func (b *Backend) retire(r *api.Request) (int, any, error) {
	r.Audit.Object = r.Var("product")
	v, err := propose(r, CmdRetire, RetireIn{Product: r.Var("product"), By: r.Subject.ID})
	if err != nil {
		return 0, nil, err
	}
	var out Product
	if err := json.Unmarshal(v, &out); err != nil {
		return 0, nil, err
	}
	return 200, view(out), nil
}

// allProducts reads every product, in ID order.
func allProducts(tx *state.ReadTx) ([]Product, error) {
	var out []Product
	err := tx.ForEach(ProductBucket, func(_, v []byte) error {
		var p Product
		if err := json.Unmarshal(v, &p); err != nil {
			return err
		}
		out = append(out, p)
		return nil
	})
	return out, err
}

// products answers the products: the active ones unless ?status= says
// otherwise (?kind= narrows them).
func (b *Backend) products(r *api.Request) (int, any, error) {
	q := r.HTTP.URL.Query()
	status, kind := q.Get("status"), q.Get("kind")
	if status == "" {
		status = Active
	}
	var all []Product
	if err := r.View(func(tx *state.ReadTx) (err error) { all, err = allProducts(tx); return }); err != nil {
		return 0, nil, err
	}
	out := []ProductView{}
	for _, p := range all {
		if (status == "all" || p.Status == status) && (kind == "" || p.Kind == kind) {
			out = append(out, view(p))
		}
	}
	return 200, map[string]any{"products": out}, nil
}

func (b *Backend) product(r *api.Request) (int, any, error) {
	var p *Product
	if err := r.View(func(tx *state.ReadTx) (err error) { p, err = GetProduct(tx, r.Var("product")); return }); err != nil {
		return 0, nil, err
	}
	return 200, view(*p), nil
}

func (b *Backend) rules(r *api.Request) (int, any, error) {
	var rs Rules
	if err := r.View(func(tx *state.ReadTx) (err error) { rs, err = CurrentRules(tx); return }); err != nil {
		return 0, nil, err
	}
	return 200, rs, nil
}

// setRules puts a new version of the rules in force: the body is the
// whole version, numbered one above the one in force.
func (b *Backend) setRules(r *api.Request) (int, any, error) {
	const op = "set insurance rules"
	var in Rules
	if err := r.Decode(&in); err != nil {
		return 0, nil, err
	}
	if in.By != "" || !in.Set.IsZero() {
		return 0, nil, invalid(op, "by", "who set the rules and when are the appliance's to record")
	}
	if in.Rules == nil {
		return 0, nil, invalid(op, "rules", "rules: the list of rules, every one of the new version ([] to recommend nothing)")
	}
	if err := in.Check(); err != nil {
		return 0, nil, invalid(op, "rules", "%v", err)
	}
	in.By = r.Subject.ID
	r.Audit.Object = fmt.Sprintf("rules v%d", in.Version)
	v, err := propose(r, CmdRules, in)
	if err != nil {
		return 0, nil, err
	}
	var out Rules
	if err := json.Unmarshal(v, &out); err != nil {
		return 0, nil, err
	}
	return 200, out, nil
}

// idNumber opens the worker's ID number under their key: "" for a worker
// whose personal data was shredded.
func idNumber(r *api.Request, tx *state.ReadTx, worker string) (string, error) {
	_, id, err := workers.Identity(tx, r.Node.Keys(), worker)
	if subjects.CodeShredded.Is(err) {
		return "", nil
	}
	return id, err
}

// taken lists the categories of the tasks a worker takes (work assigned or
// beyond), of merchant's tasks only unless merchant is "".
func taken(tx *state.ReadTx, worker, merchant string) ([]string, error) {
	var out []string
	prefix := worker + "/"
	err := tx.Seek(tasks.WorkerBucket, []byte(prefix), false, func(k, v []byte) (bool, error) {
		if !strings.HasPrefix(string(k), prefix) {
			return false, nil
		}
		t, err := tasks.Get(tx, string(v))
		if err != nil {
			return false, err
		}
		if merchant != "" && t.Merchant != merchant {
			return true, nil
		}
		wk, err := tasks.GetWork(tx, t.ID, worker)
		if err != nil {
			return false, err
		}
		if wk.Status != tasks.Applied && wk.Status != tasks.WorkCancelled && !slices.Contains(out, t.Category) {
			out = append(out, t.Category)
		}
		return true, nil
	})
	slices.Sort(out)
	return out, err
}

// recommend answers the products the rules recommend to the worker
// (?task= adds that task's category; ?on= the day, default today), with
// the rules that matched and why the others did not. The age is computed
// here from the ID number and never kept; a merchant's users are not
// shown it.
func (b *Backend) recommend(r *api.Request) (int, any, error) {
	const op = "recommend insurance"
	q := r.HTTP.URL.Query()
	on := r.Now().In(China)
	if s := q.Get("on"); s != "" {
		d, err := time.ParseInLocation(time.DateOnly, s, China)
		if err != nil {
			return 0, nil, invalid(op, "on", "on: a date, YYYY-MM-DD")
		}
		on = d
	}
	worker, merchant := r.Var("id"), mine(r)
	a := Attributes{Age: -1}
	var products []Product
	var rs Rules
	err := r.View(func(tx *state.ReadTx) error {
		w, err := workers.Get(tx, worker)
		if err != nil {
			return err
		}
		// Recommending opens the ID number (the age): processing a cancelled
		// or restricted worker's data is no longer allowed.
		if err := w.Usable(); err != nil {
			return err
		}
		id, err := idNumber(r, tx, worker)
		if err != nil {
			return err
		}
		if id != "" {
			a.Age = Age(id, on)
		}
		a.Verified = w.RealName != nil && w.RealName.Status == workers.Verified
		if a.Categories, err = taken(tx, worker, merchant); err != nil {
			return err
		}
		if task := q.Get("task"); task != "" {
			t, err := tasks.Get(tx, task)
			// A task is another tenant's for a merchant's user that is not
			// its own, and for the worker one of a merchant they are not
			// linked to: as absent as one that never was.
			if err == nil && ((merchant != "" && t.Merchant != merchant) || (r.Subject.Worker != "" && !slices.Contains(w.Merchants, t.Merchant))) {
				err = state.Reject(state.NotFound, "no task %s", task)
			}
			if err != nil {
				return err
			}
			if !slices.Contains(a.Categories, t.Category) {
				a.Categories = append(a.Categories, t.Category)
				slices.Sort(a.Categories)
			}
		}
		if products, err = allProducts(tx); err != nil {
			return err
		}
		rs, err = CurrentRules(tx)
		return err
	})
	if err != nil {
		return 0, nil, err
	}
	r.Audit.Object = worker
	recs, skips := Recommend(rs, products, a)
	views := make([]map[string]any, len(recs))
	for i, rec := range recs {
		views[i] = map[string]any{"product": view(rec.Product), "rules": rec.Rules}
	}
	attrs := map[string]any{"verified": a.Verified, "categories": nonNil(a.Categories)}
	if merchant == "" {
		attrs["age"] = a.Age // the worker and platform staff; -1: unknown
	}
	return 200, map[string]any{"worker": worker, "on": on.Format(time.DateOnly), "task": q.Get("task"), "rules_version": rs.Version,
		"attributes": attrs, "recommendations": views, "not_applied": skips}, nil
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// records answers the worker's enrolments and social-insurance payments:
// a merchant's users see only the enrolments the merchant made.
func (b *Backend) records(r *api.Request) (int, any, error) {
	var rec *Record
	if err := r.View(func(tx *state.ReadTx) (err error) { rec, err = getRecord(tx, r.Var("id")); return }); err != nil {
		return 0, nil, err
	}
	r.Audit.Object = r.Var("id")
	if m := mine(r); m != "" {
		rec.Enrolments = slices.DeleteFunc(rec.Enrolments, func(e Enrolment) bool { return e.Merchant != m })
		rec.Social = []SocialPayment{}
	}
	return 200, rec, nil
}

// enrol enrols a worker in a product for units terms from start: a
// merchant's user names one of its workers, a worker themself.
func (b *Backend) enrol(r *api.Request) (int, any, error) {
	const op = "enrol in insurance"
	var in struct {
		Product string `json:"product"`
		Worker  string `json:"worker"`
		Start   string `json:"start"`
		Units   int    `json:"units"`
	}
	if err := r.Decode(&in); err != nil {
		return 0, nil, err
	}
	cmd := EnrolIn{ID: newID("ie_", r.Now()), Product: in.Product, Worker: in.Worker, Merchant: r.Subject.Merchant, Start: in.Start, Units: in.Units, By: r.Subject.ID}
	switch {
	case r.Subject.Worker != "":
		if in.Worker != "" && in.Worker != r.Subject.Worker {
			return 0, nil, errs.Coded(op, errs.NotExist, CodeNotYours.String(), "a worker enrols only themself")
		}
		cmd.Worker, cmd.Merchant = r.Subject.Worker, ""
	case r.Subject.Merchant == "":
		return 0, nil, errs.E(op, errs.Permission, "a merchant's users enrol its workers, and workers themselves")
	case in.Worker == "":
		return 0, nil, invalid(op, "worker", "worker: the ID of the merchant's worker to enrol")
	}
	if in.Product == "" {
		return 0, nil, invalid(op, "product", "product: the product's ID")
	}
	start, err := time.ParseInLocation(time.DateOnly, in.Start, China)
	if err != nil {
		return 0, nil, invalid(op, "start", "start: the first day covered, YYYY-MM-DD")
	}
	err = r.View(func(tx *state.ReadTx) error {
		p, err := GetProduct(tx, in.Product)
		if err != nil {
			return err
		}
		if _, err := Period(in.Start, p.Term, in.Units); err != nil {
			return invalid(op, "units", "%v", err)
		}
		if p.MinAge == 0 && p.MaxAge == 0 {
			return nil
		}
		w, err := workers.Get(tx, cmd.Worker)
		if state.NotFound.Is(err) || (err == nil && cmd.Merchant != "" && !slices.Contains(w.Merchants, cmd.Merchant)) {
			return errs.Coded(op, errs.NotExist, CodeNotYours.String(), "merchant %s has no worker %s", cmd.Merchant, cmd.Worker)
		} else if err != nil {
			return err
		}
		id, err := idNumber(r, tx, cmd.Worker)
		if err != nil {
			return err
		}
		if age := Age(id, start); !ageFits(age, p.MinAge, p.MaxAge) {
			return errs.Coded(op, errs.Conflict, CodeIneligible.String(), "product %s insures workers aged %d to %d on the first day covered; worker %s is %s on %s",
				p.ID, p.MinAge, p.MaxAge, cmd.Worker, ageReason(age, p.MinAge, p.MaxAge), in.Start)
		}
		return nil
	})
	if err != nil {
		return 0, nil, err
	}
	r.Audit.Object = cmd.Worker + "/" + cmd.ID
	v, err := propose(r, CmdEnrol, cmd)
	if err != nil {
		return 0, nil, err
	}
	var e Enrolment
	if err := json.Unmarshal(v, &e); err != nil {
		return 0, nil, err
	}
	return 201, map[string]any{"enrolment": e, "premium": Yuan(e.PremiumFen)}, nil
}

// socialOne records one payment; amounts in yuan strings.
func (b *Backend) socialOne(r *api.Request) (int, any, error) {
	const op = "record social-insurance payment"
	var in struct {
		Worker       string `json:"worker"`
		Month        string `json:"month"`
		Place        string `json:"place"`
		Base         string `json:"base"`
		Pension      string `json:"pension"`
		Medical      string `json:"medical"`
		Unemployment string `json:"unemployment"`
		Injury       string `json:"injury"`
	}
	if err := r.Decode(&in); err != nil {
		return 0, nil, err
	}
	p := SocialPayment{Worker: in.Worker, Month: in.Month, Place: in.Place}
	for _, f := range []struct {
		name, value string
		to          *int64
	}{{"base", in.Base, &p.BaseFen}, {"pension", in.Pension, &p.PensionFen}, {"medical", in.Medical, &p.MedicalFen},
		{"unemployment", in.Unemployment, &p.UnemploymentFen}, {"injury", in.Injury, &p.InjuryFen}} {
		if f.value == "" && f.name != "base" {
			continue
		}
		fen, err := ParseYuan(f.value)
		if err != nil {
			return 0, nil, &errs.Error{Op: op, Kind: errs.Invalid, Code: "amount_invalid", Field: f.name, Msg: fmt.Sprintf("%s: %v", f.name, err)}
		}
		*f.to = fen
	}
	if p.Worker == "" {
		return 0, nil, invalid(op, "worker", "worker: the worker's ID")
	}
	if err := p.Check(); err != nil {
		return 0, nil, invalid(op, strings.SplitN(err.Error(), ":", 2)[0], "%v", err)
	}
	return b.recordSocial(r, SocialIn{Payments: []SocialPayment{p}})
}

// socialImport records a CSV of payments (CSVHeader), whole or not at
// all.
func (b *Backend) socialImport(r *api.Request) (int, any, error) {
	const op = "import social-insurance payments"
	data, err := io.ReadAll(r.HTTP.Body)
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		return 0, nil, errs.Coded(op, errs.TooLarge, "too_large", "a payments file is at most %d bytes", MaxCSV)
	} else if err != nil {
		return 0, nil, err
	}
	ps, lines, err := ParseCSV(data)
	if err != nil {
		return 0, nil, errs.Coded(op, errs.Invalid, CodeCSV.String(), "the file is refused whole, nothing recorded: %v", err)
	}
	return b.recordSocial(r, SocialIn{Payments: ps, Lines: lines})
}

func (b *Backend) recordSocial(r *api.Request, in SocialIn) (int, any, error) {
	in.Batch, in.By = newID("is_", r.Now()), r.Subject.ID
	r.Audit.Object = in.Batch
	v, err := propose(r, CmdSocial, in)
	if err != nil {
		return 0, nil, err
	}
	var out map[string]any
	if err := json.Unmarshal(v, &out); err != nil {
		return 0, nil, err
	}
	return 201, out, nil
}
