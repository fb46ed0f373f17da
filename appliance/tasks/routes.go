package tasks

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"cxt/appliance/api"
	"cxt/appliance/documents"
	"cxt/appliance/errs"
	"cxt/appliance/merchants"
	"cxt/appliance/subjects"
	"cxt/appliance/workers"
	"cxt/crypto/subjectkey"
	"cxt/policy"
	"cxt/storage/blob"
	"cxt/storage/state"
)

// Backend serves tasks over the API.
type Backend struct {
	// Risk is the policy in force, whose task review rule decides what a
	// person reviews; nil sends every task to a person.
	Risk *policy.Authorizer
	// Documents is the node's blob store (nil until unsealed).
	Documents func() *blob.Store
}

// Register adds the tasks' buckets and commands.
func (b *Backend) Register(reg *state.Registry) { Register(reg) }

// Routes lists the tasks' endpoints.
func (b *Backend) Routes() []api.Route {
	const read, write = api.Read, api.Write
	t, w := resource, workResource
	return []api.Route{
		{Method: "POST", Path: "/api/v1/tasks", Action: "tasks.create", Kind: write, Handle: b.create},
		{Method: "GET", Path: "/api/v1/tasks", Action: "tasks.list", Kind: read, Handle: b.list},
		{Method: "GET", Path: "/api/v1/tasks/{id}", Action: "tasks.read", Kind: read, Resource: t, Handle: b.read},
		{Method: "POST", Path: "/api/v1/tasks/{id}/publish", Action: "tasks.publish", Kind: write, Resource: t, Handle: b.publish},
		{Method: "POST", Path: "/api/v1/tasks/{id}/review", Action: "tasks.review", Kind: write, Resource: t, Handle: b.review},
		{Method: "POST", Path: "/api/v1/tasks/{id}/cancel", Action: "tasks.cancel", Kind: write, Resource: t, Handle: b.cancel},
		{Method: "POST", Path: "/api/v1/tasks/{id}/apply", Action: "tasks.apply", Kind: write, Resource: t, Handle: b.apply},
		{Method: "POST", Path: "/api/v1/tasks/{id}/assign", Action: "tasks.assign", Kind: write, Resource: t, Handle: b.assign},
		{Method: "POST", Path: "/api/v1/tasks/{id}/applications/{worker}/accept", Action: "tasks.assign", Kind: write, Resource: w, Handle: b.acceptApplication},
		{Method: "POST", Path: "/api/v1/tasks/{id}/works/{worker}/proof", Action: "tasks.submit", Kind: write, Resource: w, Handle: b.proof, MaxBody: documents.MaxSize + 1},
		{Method: "GET", Path: "/api/v1/tasks/{id}/works/{worker}/proof/{doc}", Action: "tasks.read", Kind: read, Resource: w, Handle: b.download},
		{Method: "POST", Path: "/api/v1/tasks/{id}/works/{worker}/accept", Action: "tasks.inspect", Kind: write, Resource: w, Handle: b.accept},
		{Method: "POST", Path: "/api/v1/tasks/{id}/works/{worker}/reject", Action: "tasks.inspect", Kind: write, Resource: w, Handle: b.reject},
		{Method: "POST", Path: "/api/v1/tasks/{id}/works/{worker}/evaluate", Action: "tasks.evaluate", Kind: write, Resource: w, Handle: b.evaluate},
	}
}

// resource finds the task a route names: its merchant's, and a worker's
// who may reach it (visible); another tenant's is absent.
func resource(r *api.Request) (api.Resource, error) {
	id := r.Var("id")
	res := api.Resource{Resource: policy.Resource{Label: 1, Owner: id, Tenanted: true}, Noun: "task"}
	found, err := r.Lookup(func(tx *state.ReadTx) (bool, error) {
		b, err := tx.Get(Bucket, []byte(id))
		if err != nil || b == nil {
			return false, err
		}
		t, err := decodeTask(b)
		if err != nil {
			return false, err
		}
		res.Resource = t.Tenancy()
		if wk := r.Subject.Worker; wk != "" {
			ok, err := visible(tx, t, wk)
			if err != nil {
				return false, err
			}
			if ok {
				res.Resource.Worker = wk
			}
		}
		return true, nil
	})
	res.Absent = !found
	return res, err
}

// visible reports whether a worker may reach task t: they have work on it,
// or it is open and they are actively linked to its merchant.
func visible(tx *state.ReadTx, t *Task, worker string) (bool, error) {
	if b, err := tx.Get(WorkBucket, WorkKey(t.ID, worker)); err != nil || b != nil {
		return b != nil, err
	}
	if t.Status != Open {
		return false, nil
	}
	l, err := workers.GetLink(tx, t.Merchant, worker)
	if state.NotFound.Is(err) {
		return false, nil
	}
	return err == nil && l.Status == workers.Active, err
}

// workResource finds the work a route names by its task and worker: its
// merchant's and its worker's.
func workResource(r *api.Request) (api.Resource, error) {
	id, worker := r.Var("id"), r.Var("worker")
	return r.Tenancy(api.Resource{Resource: policy.Resource{Label: 1, Owner: id + "/" + worker, Tenanted: true}, Noun: "work"},
		func(tx *state.ReadTx) (policy.Resource, error) {
			w, err := GetWork(tx, id, worker)
			if err != nil {
				return policy.Resource{}, err
			}
			return w.Tenancy(), nil
		})
}

// newID draws a task's ID: time-ordered, so that lists read oldest first.
func newID(now time.Time) string {
	var b [4]byte
	rand.Read(b[:])
	return "t_" + strconv.FormatInt(now.UnixMicro(), 36) + hex.EncodeToString(b[:])
}

// invalid is a refusal of a field of the request.
func invalid(op, field, format string, args ...any) error {
	return &errs.Error{Op: op, Kind: errs.Invalid, Code: errs.Invalid.Code(), Field: field, Msg: fmt.Sprintf(format, args...)}
}

// decodeOptional decodes a body that may be absent.
func decodeOptional(r *api.Request, v any) error {
	if r.HTTP.ContentLength == 0 {
		return nil
	}
	return r.Decode(v)
}

// taskIn is what a merchant sends to create a task.
type taskIn struct {
	Title       string          `json:"title"`
	Category    string          `json:"category"`
	Description string          `json:"description"`
	Budget      json.RawMessage `json:"budget"`
	Headcount   int             `json:"headcount"`
	Period      Period          `json:"period"`
	Location    string          `json:"location"`
}

// create writes a draft task of the caller's merchant.
func (b *Backend) create(r *api.Request) (int, any, error) {
	const op = "create task"
	var in taskIn
	if err := r.Decode(&in); err != nil {
		return 0, nil, err
	}
	merchant := r.Subject.Merchant
	if merchant == "" {
		return 0, nil, errs.E(op, errs.Permission, "tasks are created by a merchant's users, for their merchant")
	}
	budget, err := amountField("budget", in.Budget)
	if err != nil {
		return 0, nil, err
	}
	c := Creation{ID: newID(r.Now()), Merchant: merchant, By: r.Subject.ID, Title: strings.TrimSpace(in.Title), Category: in.Category,
		Description: strings.TrimSpace(in.Description), Budget: Yuan(budget), Headcount: in.Headcount, Period: in.Period,
		Location: strings.TrimSpace(in.Location)}
	if err := c.CheckFields(); err != nil {
		field, _, _ := strings.Cut(err.Error(), ":")
		return 0, nil, invalid(op, field, "%v", err)
	}
	r.Audit.Object = c.ID
	v, err := r.Propose(state.NewCommand(CmdCreate, mustJSON(c), r.Now()))
	if err != nil {
		return 0, nil, err
	}
	t, err := decodeTask(v)
	if err != nil {
		return 0, nil, err
	}
	return 201, t.view(), nil
}

// read answers a task with the works the caller may see: all of them for
// its merchant's users and platform staff, their own for a worker.
func (b *Backend) read(r *api.Request) (int, any, error) {
	id := r.Var("id")
	r.Audit.Object = id
	var out taskDetail
	err := r.View(func(tx *state.ReadTx) error {
		t, err := Get(tx, id)
		if err != nil {
			return err
		}
		out = taskDetail{taskView: t.view(), Works: []*Work{}}
		if wk := r.Subject.Worker; wk != "" {
			w, err := GetWork(tx, id, wk)
			if err == nil {
				out.Works = append(out.Works, w)
			} else if !state.NotFound.Is(err) {
				return err
			}
			return nil
		}
		return tx.Seek(WorkBucket, WorkKey(id, ""), false, func(k, v []byte) (bool, error) {
			if !strings.HasPrefix(string(k), id+"/") {
				return false, nil
			}
			w, err := decodeWork(v)
			if err != nil {
				return false, err
			}
			out.Works = append(out.Works, w)
			return true, nil
		})
	})
	if err != nil {
		return 0, nil, err
	}
	return 200, out, nil
}

// list answers the tasks the caller may see, oldest first, a page at a
// time: all for platform staff, their merchant's for its users, and for a
// worker the open tasks of the merchants they are actively linked to and
// those they have work on.
func (b *Backend) list(r *api.Request) (int, any, error) {
	const op = "list tasks"
	q := r.HTTP.URL.Query()
	limit := 100
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 1000 {
			return 0, nil, invalid(op, "limit", "limit: 1 to 1000")
		}
		limit = n
	}
	after, status, merchant := q.Get("after"), Status(q.Get("status")), q.Get("merchant")
	out := []taskView{}
	var next string
	// add keeps t if it passes the filters; false once the page is full.
	add := func(t *Task) bool {
		if status != "" && t.Status != status || merchant != "" && t.Merchant != merchant {
			return true
		}
		if len(out) == limit {
			next = out[len(out)-1].ID
			return false
		}
		out = append(out, t.view())
		return true
	}
	err := r.View(func(tx *state.ReadTx) error {
		switch {
		case r.Subject.Worker != "":
			ids, err := workerTasks(tx, r.Subject.Worker)
			if err != nil {
				return err
			}
			for _, id := range ids {
				if id <= after {
					continue
				}
				t, err := Get(tx, id)
				if err != nil {
					return err
				}
				if ok, err := visible(tx, t, r.Subject.Worker); err != nil {
					return err
				} else if ok && !add(t) {
					break
				}
			}
			return nil
		case policy.TenantBound(r.Subject) && r.Subject.Merchant == "":
			return nil // a tenant role without a tenant sees nothing
		case policy.TenantBound(r.Subject):
			mine := r.Subject.Merchant
			start := string(childKey(mine, after))
			return tx.Seek(MerchantBucket, []byte(start), false, func(k, v []byte) (bool, error) {
				if !strings.HasPrefix(string(k), mine+"/") {
					return false, nil
				}
				if string(k) == start && after != "" {
					return true, nil
				}
				t, err := Get(tx, string(v))
				if err != nil {
					return false, err
				}
				return add(t), nil
			})
		default:
			return tx.Seek(Bucket, []byte(after), false, func(k, v []byte) (bool, error) {
				if string(k) == after {
					return true, nil
				}
				t, err := decodeTask(v)
				if err != nil {
					return false, err
				}
				return add(t), nil
			})
		}
	})
	if err != nil {
		return 0, nil, err
	}
	resp := map[string]any{"tasks": out}
	if next != "" {
		resp["next"] = next
	}
	return 200, resp, nil
}

// workerTasks lists, in ID order, the tasks a worker may be shown: those of
// each merchant they are actively linked to, and those they have work on.
// The caller filters them with visible.
func workerTasks(tx *state.ReadTx, worker string) ([]string, error) {
	w, err := workers.Get(tx, worker)
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	collect := func(bucket, owner string) error {
		return tx.Seek(bucket, childKey(owner, ""), false, func(k, v []byte) (bool, error) {
			if !strings.HasPrefix(string(k), owner+"/") {
				return false, nil
			}
			seen[string(v)] = true
			return true, nil
		})
	}
	for _, m := range w.Merchants {
		l, err := workers.GetLink(tx, m, worker)
		if err != nil {
			return nil, err
		}
		if l.Status != workers.Active {
			continue
		}
		if err := collect(MerchantBucket, m); err != nil {
			return nil, err
		}
	}
	if err := collect(WorkerBucket, worker); err != nil {
		return nil, err
	}
	ids := make([]string, 0, len(seen))
	for id := range seen {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids, nil
}

// publish puts a draft up for review: the risk rule decides whether a
// person must look first.
func (b *Backend) publish(r *api.Request) (int, any, error) {
	const op = "publish task"
	var in struct{}
	if err := decodeOptional(r, &in); err != nil {
		return 0, nil, err
	}
	var t *Task
	var d policy.Decided
	if err := r.View(func(tx *state.ReadTx) error {
		var err error
		if t, err = Get(tx, r.Var("id")); err != nil {
			return err
		}
		if t.Status != Draft {
			return errs.Coded(op, errs.Conflict, CodeTaskStatus.String(), "task %s is %s; only a draft is published", t.ID, t.Status)
		}
		d, err = b.riskDecide(r, tx, t)
		return err
	}); err != nil {
		return 0, nil, err
	}
	p := Publication{ID: t.ID, By: r.Subject.ID, Rule: d.Settings, PolicyVersion: d.Policy, Reasons: []string{}, Risk: &d}
	for _, h := range d.Hits {
		p.Reasons = append(p.Reasons, h.Reason)
	}
	return b.proposeTask(r, CmdPublish, p)
}

// TaskInput is the task rules' input (policy/risk/task.rego).
type TaskInput struct {
	Task struct {
		Category  string `json:"category"`
		BudgetFen int64  `json:"budget_fen"`
		Headcount int    `json:"headcount"`
	} `json:"task"`
	Merchant struct {
		ID    string `json:"id"`
		Score string `json:"score"`
		Grade string `json:"grade"`
	} `json:"merchant"`
}

// riskDecide asks the task rules of the policy in force, with the
// merchant's rating computed now by the same policy. A policy that answers
// nothing — none in force, or no rule — holds the task for a person.
func (b *Backend) riskDecide(r *api.Request, tx *state.ReadTx, t *Task) (policy.Decided, error) {
	var rules *policy.RiskRules
	if b.Risk != nil {
		rules = b.Risk.Risk()
	} else {
		var err error
		if rules, err = policy.StoredRiskRules(tx); err != nil {
			return policy.Decided{}, err
		}
	}
	m, err := merchants.Get(tx, t.Merchant)
	if err != nil {
		return policy.Decided{}, err
	}
	var in TaskInput
	in.Task.Category, in.Task.Headcount = t.Category, t.Headcount
	if in.Task.BudgetFen, err = parseFen(t.Budget); err != nil {
		return policy.Decided{}, err
	}
	in.Merchant.ID = m.ID
	rating, rateErr := merchants.Rate(r.Ctx, rules, tx, m, r.Now())
	in.Merchant.Score, in.Merchant.Grade = rating.Score, rating.Grade
	d, err := rules.Decide(r.Ctx, policy.RiskTask, in)
	if err == nil && rateErr != nil {
		err = fmt.Errorf("the merchant's rating: %w", rateErr)
	}
	if err != nil {
		d.RiskDecision = merchants.NoDecision(err)
	}
	return d, nil
}

func (b *Backend) proposeTask(r *api.Request, cmd string, body any) (int, any, error) {
	r.Audit.Object = r.Var("id")
	v, err := r.Propose(state.NewCommand(cmd, mustJSON(body), r.Now()))
	if err != nil {
		return 0, nil, err
	}
	t, err := decodeTask(v)
	if err != nil {
		return 0, nil, err
	}
	return 200, t.view(), nil
}

// reasonIn is a body that says why.
type reasonIn struct {
	Decision string `json:"decision,omitempty"`
	Reason   string `json:"reason"`
}

func (in *reasonIn) check(op string) error {
	in.Reason = strings.TrimSpace(in.Reason)
	if in.Reason == "" || len([]rune(in.Reason)) > MaxReason {
		return invalid(op, "reason", "reason: say why, in 1-%d characters", MaxReason)
	}
	return nil
}

// review is a platform reviewer's or operator's decision on a task the
// risk rule sent to a person.
func (b *Backend) review(r *api.Request) (int, any, error) {
	const op = "review task"
	var in reasonIn
	if err := r.Decode(&in); err != nil {
		return 0, nil, err
	}
	if in.Decision != Approve && in.Decision != Reject {
		return 0, nil, invalid(op, "decision", "decision: approve or reject")
	}
	if err := in.check(op); err != nil {
		return 0, nil, err
	}
	return b.proposeTask(r, CmdReview, Decision{ID: r.Var("id"), By: r.Subject.ID, Decision: in.Decision, Reason: in.Reason})
}

// cancel withdraws a task that has no accepted work.
func (b *Backend) cancel(r *api.Request) (int, any, error) {
	var in reasonIn
	if err := r.Decode(&in); err != nil {
		return 0, nil, err
	}
	if in.Decision != "" {
		return 0, nil, invalid("cancel task", "decision", "a cancellation takes only a reason")
	}
	if err := in.check("cancel task"); err != nil {
		return 0, nil, err
	}
	return b.proposeTask(r, CmdCancel, Decision{ID: r.Var("id"), By: r.Subject.ID, Reason: in.Reason})
}

func (b *Backend) proposeWork(r *api.Request, status int, cmd string, body any, worker string) (int, any, error) {
	r.Audit.Object = r.Var("id") + "/" + worker
	v, err := r.Propose(state.NewCommand(cmd, mustJSON(body), r.Now()))
	if err != nil {
		return 0, nil, err
	}
	w, err := decodeWork(v)
	if err != nil {
		return 0, nil, err
	}
	return status, w, nil
}

// apply is a worker's application for an open task of a merchant they
// work with.
func (b *Backend) apply(r *api.Request) (int, any, error) {
	var in struct {
		Note string `json:"note"`
	}
	if err := decodeOptional(r, &in); err != nil {
		return 0, nil, err
	}
	if len([]rune(in.Note)) > MaxNote {
		return 0, nil, invalid("apply", "note", "note: at most %d characters", MaxNote)
	}
	wk := r.Subject.Worker
	if wk == "" {
		return 0, nil, errs.E("apply", errs.Permission, "a worker applies for themselves")
	}
	return b.proposeWork(r, 201, CmdApply, Step{Task: r.Var("id"), Worker: wk, By: r.Subject.ID, Note: strings.TrimSpace(in.Note)}, wk)
}

// assign takes a worker linked to the merchant on, without an application.
func (b *Backend) assign(r *api.Request) (int, any, error) {
	var in struct {
		Worker string `json:"worker"`
	}
	if err := r.Decode(&in); err != nil {
		return 0, nil, err
	}
	if in.Worker == "" {
		return 0, nil, invalid("assign", "worker", "worker: the ID of a worker linked to the merchant")
	}
	return b.proposeWork(r, 200, CmdAssign, Step{Task: r.Var("id"), Worker: in.Worker, By: r.Subject.ID}, in.Worker)
}

// acceptApplication takes an applicant on.
func (b *Backend) acceptApplication(r *api.Request) (int, any, error) {
	var in struct{}
	if err := decodeOptional(r, &in); err != nil {
		return 0, nil, err
	}
	wk := r.Var("worker")
	return b.proposeWork(r, 200, CmdAssign, Step{Task: r.Var("id"), Worker: wk, By: r.Subject.ID, Application: true}, wk)
}

// accept accepts submitted work (验收), for the worker's share of the
// budget or the amount given, which may not exceed it.
func (b *Backend) accept(r *api.Request) (int, any, error) {
	var in struct {
		Amount json.RawMessage `json:"amount"`
	}
	if err := decodeOptional(r, &in); err != nil {
		return 0, nil, err
	}
	s := Step{Task: r.Var("id"), Worker: r.Var("worker"), By: r.Subject.ID}
	if len(in.Amount) > 0 {
		a, err := amountField("amount", in.Amount)
		if err != nil {
			return 0, nil, err
		}
		s.Amount = Yuan(a)
	}
	return b.proposeWork(r, 200, CmdAccept, s, s.Worker)
}

// reject refuses submitted work with a reason; the worker files more proof.
func (b *Backend) reject(r *api.Request) (int, any, error) {
	var in reasonIn
	if err := r.Decode(&in); err != nil {
		return 0, nil, err
	}
	if in.Decision != "" {
		return 0, nil, invalid("reject work", "decision", "a rejection takes only a reason")
	}
	if err := in.check("reject work"); err != nil {
		return 0, nil, err
	}
	s := Step{Task: r.Var("id"), Worker: r.Var("worker"), By: r.Subject.ID, Reason: in.Reason}
	return b.proposeWork(r, 200, CmdReject, s, s.Worker)
}

// evaluate records one side's evaluation of accepted work: the merchant's
// of the worker, or the worker's of the merchant.
func (b *Backend) evaluate(r *api.Request) (int, any, error) {
	const op = "evaluate"
	var in struct {
		Stars   int    `json:"stars"`
		Comment string `json:"comment"`
	}
	if err := r.Decode(&in); err != nil {
		return 0, nil, err
	}
	if in.Stars < 1 || in.Stars > 5 {
		return 0, nil, invalid(op, "stars", "stars: 1 to 5")
	}
	in.Comment = strings.TrimSpace(in.Comment)
	if len([]rune(in.Comment)) > MaxComment {
		return 0, nil, invalid(op, "comment", "comment: at most %d characters", MaxComment)
	}
	side := SideMerchant
	if r.Subject.Worker != "" {
		side = SideWorker
	}
	e := Evaluated{Task: r.Var("id"), Worker: r.Var("worker"), Side: side, By: r.Subject.ID, Stars: in.Stars, Comment: in.Comment}
	return b.proposeWork(r, 200, CmdEvaluate, e, e.Worker)
}

// proof files a completion proof document: the body is the document, its
// type read from its bytes, sealed under the merchant's key before it is
// stored. Each document filed submits the work for acceptance.
func (b *Backend) proof(r *api.Request) (int, any, error) {
	const op = "file proof"
	body, typ, err := documents.Received(r.HTTP.Body, op)
	if err != nil {
		return 0, nil, err
	}
	t, w, key, err := loadWork(r)
	if err != nil {
		return 0, nil, err
	}
	store := b.Documents()
	docID, info, err := documents.Write(r.Ctx, store, key, "proof-", body, op)
	if err != nil {
		return 0, nil, err
	}
	ref := ProofRef{ID: docID, Type: typ, Size: info.Size, SM3: hex.EncodeToString(info.SM3[:]), By: r.Subject.ID}
	r.Audit.Object = t.ID + "/" + w.Worker + "/" + docID
	v, err := r.Propose(state.NewCommand(CmdProof, mustJSON(Filed{Task: t.ID, Worker: w.Worker, KeyID: key.ID(), Doc: ref}), r.Now()))
	if err != nil {
		store.Delete(r.Ctx, docID) // nothing half-applied: the stored bytes go with the refused record
		return 0, nil, err
	}
	nw, err := decodeWork(v)
	if err != nil {
		return 0, nil, err
	}
	return 201, nw, nil
}

// loadWork reads the route's task, work and the merchant's key.
func loadWork(r *api.Request) (*Task, *Work, *subjectkey.Key, error) {
	var t *Task
	var w *Work
	var key *subjectkey.Key
	err := r.View(func(tx *state.ReadTx) error {
		var err error
		if t, err = Get(tx, r.Var("id")); err != nil {
			return err
		}
		if w, err = GetWork(tx, t.ID, r.Var("worker")); err != nil {
			return err
		}
		key, err = subjects.Key(tx, r.Node.Keys(), t.Merchant)
		return err
	})
	r.Audit.Object = r.Var("id") + "/" + r.Var("worker")
	return t, w, key, err
}

// download answers a proof document as stored, after its SM3 digest is
// checked: the whole document is read and verified before a byte is sent.
func (b *Backend) download(r *api.Request) (int, any, error) {
	const op = "download proof"
	_, w, key, err := loadWork(r)
	if err != nil {
		return 0, nil, err
	}
	i := slices.IndexFunc(w.Proof, func(d ProofRef) bool { return d.ID == r.Var("doc") })
	if i < 0 {
		return 0, nil, errs.E(op, errs.NotExist, "the work has no document %s", r.Var("doc"))
	}
	d := w.Proof[i]
	body, err := documents.Read(r.Ctx, b.Documents(), key, d.ID, d.SM3, op)
	if err != nil {
		return 0, nil, err
	}
	r.Audit.Object = w.Task + "/" + w.Worker + "/" + d.ID
	return 200, &api.Raw{ContentType: d.Type, Name: d.ID + documents.Extension(d.Type), Body: body}, nil
}
