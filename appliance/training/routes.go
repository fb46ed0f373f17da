package training

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"cxt/appliance/agreements"
	"cxt/appliance/api"
	"cxt/appliance/contracts"
	"cxt/appliance/errs"
	"cxt/policy"
	"cxt/storage/blob"
	"cxt/storage/state"
)

// Backend serves the training over the API.
type Backend struct {
	contracts.Lazy // the certificates' renderer, its fonts loaded on first use
	// Documents is the node's blob store (nil until unsealed).
	Documents func() *blob.Store
}

// Register adds the training's buckets and commands.
func (b *Backend) Register(reg *state.Registry) { Register(reg) }

// Routes lists the training's endpoints: platform operators write,
// publish and retire courses; everyone signed in of the business reads
// the published ones; merchants enrol their workers and workers
// themselves; the enrolling merchant or an operator records the result;
// the worker, the enrolling merchant and platform staff download the
// certificate.
func (b *Backend) Routes() []api.Route {
	const read, write = api.Read, api.Write
	c, e := courseResource, enrolmentResource
	return []api.Route{
		{Method: "POST", Path: "/api/v1/training/courses", Action: "training.manage", Kind: write, Handle: b.create},
		{Method: "GET", Path: "/api/v1/training/courses", Action: "training.read", Kind: read, Handle: b.list},
		{Method: "GET", Path: "/api/v1/training/courses/{course}", Action: "training.read", Kind: read, Resource: c, Handle: b.read},
		{Method: "POST", Path: "/api/v1/training/courses/{course}/publish", Action: "training.manage", Kind: write, Resource: c, Handle: b.status(Published)},
		{Method: "POST", Path: "/api/v1/training/courses/{course}/retire", Action: "training.manage", Kind: write, Resource: c, Handle: b.status(Retired)},
		{Method: "POST", Path: "/api/v1/training/courses/{course}/materials", Action: "training.manage", Kind: write, Resource: c, Handle: b.upload, MaxBody: MaxMaterial + 1},
		{Method: "GET", Path: "/api/v1/training/courses/{course}/materials/{material}", Action: "training.read", Kind: read, Resource: c, Handle: b.download},
		{Method: "POST", Path: "/api/v1/training/courses/{course}/enrolments", Action: "training.enrol", Kind: write, Resource: c, Handle: b.enrol},
		{Method: "GET", Path: "/api/v1/training/enrolments", Action: "training.records", Kind: read, Handle: b.enrolments},
		{Method: "POST", Path: "/api/v1/training/courses/{course}/enrolments/{worker}/result", Action: "training.result", Kind: write, Resource: e, Handle: b.result},
		{Method: "GET", Path: "/api/v1/training/courses/{course}/enrolments/{worker}/certificate", Action: "training.records", Kind: read, Resource: e, Handle: b.certificate},
	}
}

// staff reports whether the caller is platform staff (no tenant).
func staff(r *api.Request) bool { return !policy.TenantBound(r.Subject) }

// visible reports whether the caller sees the course: staff every one, a
// tenant's users and workers the published and retired ones.
func visible(r *api.Request, c *Course) bool { return staff(r) || c.Status != Draft }

// courseResource is a course: the platform's; a draft is absent for
// tenants.
func courseResource(r *api.Request) (api.Resource, error) {
	res := api.Resource{Resource: policy.Resource{Label: 1, Owner: r.Var("course")}, Noun: "course"}
	found, err := r.Lookup(func(tx *state.ReadTx) (bool, error) {
		c, err := GetCourse(tx, r.Var("course"))
		if state.NotFound.Is(err) {
			return false, nil
		}
		return err == nil && visible(r, c), err
	})
	res.Absent = !found
	return res, err
}

// enrolmentResource is a worker's enrolment: the worker's and the
// enrolling merchant's; another tenant's is absent.
func enrolmentResource(r *api.Request) (api.Resource, error) {
	return r.Tenancy(api.Resource{Resource: policy.Resource{Label: 1, Tenanted: true, Worker: r.Var("worker")}, Noun: "enrolment"},
		func(tx *state.ReadTx) (policy.Resource, error) {
			e, err := GetEnrolment(tx, r.Var("course"), r.Var("worker"))
			if CodeNotEnrolled.Is(err) {
				// Absent, as the policy decides it: a role with no access
				// learns nothing of who is enrolled where.
				return policy.Resource{}, state.Reject(state.NotFound, "no enrolment")
			} else if err != nil {
				return policy.Resource{}, err
			}
			return e.Tenancy(), nil
		})
}

// invalid refuses a field of the request.
func invalid(op, field, format string, args ...any) error {
	return &errs.Error{Op: op, Kind: errs.Invalid, Code: errs.Invalid.Code(), Field: field, Msg: fmt.Sprintf(format, args...)}
}

func newID(now time.Time) string {
	var b [4]byte
	rand.Read(b[:])
	return "crs_" + strconv.FormatInt(now.UnixMicro(), 36) + hex.EncodeToString(b[:])
}

// propose sends a command and answers the record it returns.
func propose[T any](r *api.Request, status int, typ string, body any) (int, any, error) {
	b, err := json.Marshal(body)
	if err != nil {
		return 0, nil, err
	}
	v, err := r.Propose(state.NewCommand(typ, b, r.Now()))
	if err != nil {
		return 0, nil, err
	}
	var out T
	if err := json.Unmarshal(v, &out); err != nil {
		return 0, nil, err
	}
	return status, out, nil
}

func (b *Backend) create(r *api.Request) (int, any, error) {
	const op = "create course"
	var in CourseIn
	if err := r.Decode(&in); err != nil {
		return 0, nil, err
	}
	if in.ID != "" || in.By != "" {
		return 0, nil, invalid(op, "id", "the course's ID and author are the appliance's to set")
	}
	if field, err := in.Check(); err != nil {
		return 0, nil, invalid(op, field, "%v", err)
	}
	in.ID, in.By = newID(r.Now()), r.Subject.ID
	r.Audit.Object = in.ID
	return propose[Course](r, 201, CmdCourse, in)
}

func (b *Backend) status(to string) func(r *api.Request) (int, any, error) {
	return func(r *api.Request) (int, any, error) {
		r.Audit.Object = r.Var("course")
		return propose[Course](r, 200, CmdStatus, StatusIn{Course: r.Var("course"), To: to, By: r.Subject.ID})
	}
}

// list answers the courses, oldest first: tenants the published ones
// (?status= narrows it; ?category= keeps the courses of that category or
// required for it).
func (b *Backend) list(r *api.Request) (int, any, error) {
	q := r.HTTP.URL.Query()
	want, category := q.Get("status"), q.Get("category")
	out := []Course{}
	err := r.View(func(tx *state.ReadTx) error {
		return tx.ForEach(CourseBucket, func(_, v []byte) error {
			var c Course
			if err := json.Unmarshal(v, &c); err != nil {
				return err
			}
			if !visible(r, &c) || (want != "" && c.Status != want) || (!staff(r) && want == "" && c.Status != Published) {
				return nil
			}
			if category != "" && c.Category != category && !slices.Contains(c.RequiredFor, category) {
				return nil
			}
			out = append(out, c)
			return nil
		})
	})
	if err != nil {
		return 0, nil, err
	}
	return 200, map[string]any{"courses": out}, nil
}

func (b *Backend) read(r *api.Request) (int, any, error) {
	var c *Course
	if err := r.View(func(tx *state.ReadTx) (err error) { c, err = GetCourse(tx, r.Var("course")); return }); err != nil {
		return 0, nil, err
	}
	return 200, c, nil
}

// upload adds a material: the body is the file, its type read from its
// bytes, its name from ?name=.
func (b *Backend) upload(r *api.Request) (int, any, error) {
	const op = "upload material"
	name := strings.TrimSpace(r.HTTP.URL.Query().Get("name"))
	if name == "" || utf8.RuneCountInString(name) > MaxTitle || strings.ContainsAny(name, "/\\\r\n") {
		return 0, nil, invalid(op, "name", "?name=: the material's name, 1 to %d characters without slashes or line breaks", MaxTitle)
	}
	body, typ, err := received(r.HTTP.Body, op)
	if err != nil {
		return 0, nil, err
	}
	s := b.Documents()
	id, info, err := store(r.Ctx, s, body, op)
	if err != nil {
		return 0, nil, err
	}
	m := Material{ID: id, Name: name, Type: typ, Size: info.Size, SM3: hex.EncodeToString(info.SM3[:]), By: r.Subject.ID}
	r.Audit.Object = r.Var("course") + "/" + id
	status, out, err := propose[Course](r, 201, CmdMaterial, MaterialIn{Course: r.Var("course"), Material: m})
	if err != nil {
		s.Delete(r.Ctx, id) // nothing half-applied: the stored bytes go with the refused record
	}
	return status, out, err
}

func (b *Backend) download(r *api.Request) (int, any, error) {
	const op = "download material"
	var c *Course
	if err := r.View(func(tx *state.ReadTx) (err error) { c, err = GetCourse(tx, r.Var("course")); return }); err != nil {
		return 0, nil, err
	}
	i := slices.IndexFunc(c.Materials, func(m Material) bool { return m.ID == r.Var("material") })
	if i < 0 {
		return 0, nil, errs.E(op, errs.NotExist, "course %s has no material %s", c.ID, r.Var("material"))
	}
	m := c.Materials[i]
	r.Audit.Object = c.ID + "/" + m.ID
	body, err := load(r.Ctx, b.Documents(), &m, op)
	if err != nil {
		return 0, nil, err
	}
	return 200, &api.Raw{ContentType: m.Type, Name: m.ID + extension(m.Type), Body: body}, nil
}

// enrol enrols a worker: a merchant's user names one of its workers, a
// worker themself (the body may be empty).
func (b *Backend) enrol(r *api.Request) (int, any, error) {
	const op = "enrol"
	var in struct {
		Worker string `json:"worker"`
	}
	if r.HTTP.ContentLength != 0 {
		if err := r.Decode(&in); err != nil {
			return 0, nil, err
		}
	}
	cmd := EnrolIn{Course: r.Var("course"), Worker: in.Worker, Merchant: r.Subject.Merchant, By: r.Subject.ID}
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
	r.Audit.Object = cmd.Worker + "/" + cmd.Course
	return propose[Enrolment](r, 201, CmdEnrol, cmd)
}

// enrolments lists enrolments (?course=, ?worker= narrow them): a worker
// their own, a merchant's users those the merchant made, staff every one.
func (b *Backend) enrolments(r *api.Request) (int, any, error) {
	q := r.HTTP.URL.Query()
	course, worker := q.Get("course"), q.Get("worker")
	if r.Subject.Worker != "" {
		if worker != "" && worker != r.Subject.Worker {
			return 200, map[string]any{"enrolments": []Enrolment{}}, nil
		}
		worker = r.Subject.Worker
	} else if policy.TenantBound(r.Subject) && r.Subject.Merchant == "" {
		return 200, map[string]any{"enrolments": []Enrolment{}}, nil
	}
	mine := ""
	if policy.TenantBound(r.Subject) && r.Subject.Worker == "" {
		mine = r.Subject.Merchant
	}
	out := []Enrolment{}
	keep := func(rec *Record) {
		for _, e := range rec.Enrolments {
			if (course == "" || e.Course == course) && (mine == "" || e.Merchant == mine) {
				out = append(out, e)
			}
		}
	}
	err := r.View(func(tx *state.ReadTx) error {
		if worker != "" {
			rec, err := getRecord(tx, worker)
			if err == nil {
				keep(rec)
			}
			return err
		}
		return tx.ForEach(RecordBucket, func(_, v []byte) error {
			var rec Record
			if err := json.Unmarshal(v, &rec); err != nil {
				return err
			}
			keep(&rec)
			return nil
		})
	})
	if err != nil {
		return 0, nil, err
	}
	return 200, map[string]any{"enrolments": out}, nil
}

// result records a score: the enrolling merchant's users, or a platform
// operator.
func (b *Backend) result(r *api.Request) (int, any, error) {
	const op = "record result"
	var in struct {
		Score *int `json:"score"`
	}
	if err := r.Decode(&in); err != nil {
		return 0, nil, err
	}
	if in.Score == nil || *in.Score < 0 || *in.Score > 100 {
		return 0, nil, invalid(op, "score", "score: a whole number from 0 to 100")
	}
	r.Audit.Object = r.Var("worker") + "/" + r.Var("course")
	return propose[Enrolment](r, 200, CmdResult, ResultIn{Course: r.Var("course"), Worker: r.Var("worker"), Score: *in.Score,
		Merchant: r.Subject.Merchant, By: r.Subject.ID})
}

// certificate answers the completion certificate: a zip of the signed PDF,
// the platform's certificate chain and a README with the OpenSSL lines.
func (b *Backend) certificate(r *api.Request) (int, any, error) {
	r.Audit.Object = r.Var("worker") + "/" + r.Var("course")
	var c *Certificate
	var auth *agreements.Authority
	err := r.View(func(tx *state.ReadTx) (err error) {
		c, auth, err = Gather(tx, r.Node.Keys(), r.Var("course"), r.Var("worker"))
		return err
	})
	if err != nil {
		return 0, nil, api.Classify(err)
	}
	ren, err := b.Renderer()
	if err != nil {
		return 0, nil, err
	}
	keys, err := auth.Open(r.Node.Keys(), r.Now)
	if err != nil {
		return 0, nil, err
	}
	zip, err := Bundle(ren, c, keys.Platform, keys.CA.Cert, r.Now())
	if err != nil {
		return 0, nil, err
	}
	return 200, &api.Raw{ContentType: "application/zip", Name: c.Number + ".zip", Body: zip}, nil
}
