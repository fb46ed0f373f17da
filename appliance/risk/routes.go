package risk

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"slices"
	"strconv"
	"strings"

	"cxt/appliance/api"
	"cxt/appliance/documents"
	"cxt/appliance/errs"
	"cxt/appliance/identity"
	"cxt/appliance/merchants"
	"cxt/appliance/payouts"
	"cxt/appliance/tasks"
	"cxt/appliance/workers"
	"cxt/storage/state"
)

// Backend serves inspection, cases and sampling to platform staff.
type Backend struct {
	// Kick tells the node's inspector a job was started (it runs on the
	// leader, which finds the job by itself within a poll if this node
	// is not it); nil: nothing to tell.
	Kick func()
}

// Register adds the risk buckets and commands.
func (b *Backend) Register(reg *state.Registry) { Register(reg) }

// Routes lists the endpoints. Every record here is the platform's (label
// 1, not tenanted): only platform staff's roles reach these actions.
func (b *Backend) Routes() []api.Route {
	const read, write = api.Read, api.Write
	job, cs, smp := api.StaffRecord(JobsBucket, "inspection"), api.StaffRecord(CasesBucket, "case"), api.StaffRecord(SamplesBucket, "sample")
	return []api.Route{
		{Method: "POST", Path: "/api/v1/risk/inspections", Action: "risk.inspect", Kind: write, Handle: b.inspect},
		{Method: "GET", Path: "/api/v1/risk/inspections", Action: "risk.read", Kind: read, Handle: b.jobs},
		{Method: "GET", Path: "/api/v1/risk/inspections/{id}", Action: "risk.read", Kind: read, Resource: job, Handle: b.job},
		{Method: "GET", Path: "/api/v1/risk/cases", Action: "risk.read", Kind: read, Handle: b.cases},
		{Method: "GET", Path: "/api/v1/risk/cases/{id}", Action: "risk.read", Kind: read, Resource: cs, Handle: b.getCase},
		{Method: "POST", Path: "/api/v1/risk/cases/{id}/assign", Action: "risk.case_assign", Kind: write, Resource: cs, Handle: b.assign},
		{Method: "POST", Path: "/api/v1/risk/cases/{id}/evidence", Action: "risk.case_evidence", Kind: write, Resource: cs, Handle: b.evidence},
		{Method: "POST", Path: "/api/v1/risk/cases/{id}/close", Action: "risk.case_close", Kind: write, Resource: cs, Handle: b.close},
		{Method: "POST", Path: "/api/v1/risk/samples", Action: "risk.sample", Kind: write, Handle: b.sample},
		{Method: "GET", Path: "/api/v1/risk/samples", Action: "risk.read", Kind: read, Handle: b.samples},
		{Method: "GET", Path: "/api/v1/risk/samples/{id}", Action: "risk.read", Kind: read, Resource: smp, Handle: b.getSample},
		{Method: "POST", Path: "/api/v1/risk/samples/{id}/items/{item}/finding", Action: "risk.sample_review", Kind: write, Resource: smp, Handle: b.review},
		{Method: "GET", Path: "/api/v1/risk/findings", Action: "risk.read", Kind: read, Handle: b.findings},
	}
}

func view[T any](r *api.Request, read func(*state.ReadTx) (T, error)) (T, error) {
	var v T
	err := r.View(func(tx *state.ReadTx) error {
		var err error
		v, err = read(tx)
		return err
	})
	return v, err
}

func invalid(op, field, format string, args ...any) error {
	e := errs.E(op, errs.Invalid, format, args...).(*errs.Error)
	e.Field = field
	return e
}

// inspect starts an inspection of a month (this month by default); the
// leader runs it, and GET …/inspections/{id} shows it as it goes.
func (b *Backend) inspect(r *api.Request) (int, any, error) {
	const op = "start inspection"
	var in struct {
		Period string `json:"period"`
	}
	if r.HTTP.ContentLength != 0 {
		if err := r.Decode(&in); err != nil {
			return 0, nil, err
		}
	}
	if in.Period == "" {
		in.Period = MonthOf(r.Now())
	}
	if _, _, err := Month(in.Period); err != nil {
		return 0, nil, invalid(op, "period", "%v", err)
	}
	start := JobStart{ID: NewJobID(), Period: in.Period, Trigger: TriggerDemand, By: r.Subject.ID}
	r.Audit.Object = start.ID
	v, err := r.Propose(state.NewCommand(CmdJobStart, mustJSON(start), r.Now()))
	if err != nil {
		return 0, nil, err
	}
	if b.Kick != nil {
		b.Kick()
	}
	return 202, rawJSON(v), nil
}

func (b *Backend) jobs(r *api.Request) (int, any, error) {
	list, err := view(r, Jobs)
	if err != nil {
		return 0, nil, err
	}
	slices.SortFunc(list, func(a, b *Job) int { return b.Started.Compare(a.Started) })
	return 200, map[string]any{"inspections": list}, nil
}

func (b *Backend) job(r *api.Request) (int, any, error) {
	j, err := view(r, func(tx *state.ReadTx) (*Job, error) { return GetJob(tx, r.Var("id")) })
	if err != nil {
		return 0, nil, err
	}
	return 200, j, nil
}

func (b *Backend) cases(r *api.Request) (int, any, error) {
	status := r.HTTP.URL.Query().Get("status")
	if status != "" && status != CaseOpen && status != CaseInvestigating && status != CaseClosed {
		return 0, nil, invalid("list cases", "status", "status is %s, %s or %s", CaseOpen, CaseInvestigating, CaseClosed)
	}
	list, err := view(r, func(tx *state.ReadTx) ([]*Case, error) { return Cases(tx, status) })
	if err != nil {
		return 0, nil, err
	}
	slices.SortFunc(list, func(a, b *Case) int { return b.Opened.Compare(a.Opened) })
	return 200, map[string]any{"cases": list}, nil
}

func (b *Backend) getCase(r *api.Request) (int, any, error) {
	c, err := view(r, func(tx *state.ReadTx) (*Case, error) { return GetCase(tx, r.Var("id")) })
	if err != nil {
		return 0, nil, err
	}
	return 200, c, nil
}

// step proposes a case step and answers the case as it now is.
func (b *Backend) step(r *api.Request, typ string, a Action) (int, any, error) {
	a.Case, a.By = r.Var("id"), r.Subject.ID
	r.Audit.Object = a.Case
	v, err := r.Propose(state.NewCommand(typ, mustJSON(a), r.Now()))
	if err != nil {
		return 0, nil, err
	}
	return 200, rawJSON(v), nil
}

// assign puts a platform reviewer on a case: the one named, or the caller.
func (b *Backend) assign(r *api.Request) (int, any, error) {
	const op = "assign case"
	var in struct {
		Reviewer string `json:"reviewer"`
	}
	if r.HTTP.ContentLength != 0 {
		if err := r.Decode(&in); err != nil {
			return 0, nil, err
		}
	}
	if in.Reviewer == "" {
		in.Reviewer = r.Subject.ID
	}
	acct, err := view(r, func(tx *state.ReadTx) (*identity.Account, error) { return identity.AccountByID(tx, in.Reviewer) })
	if err != nil {
		return 0, nil, err
	}
	if acct == nil || !acct.Closed.IsZero() || !slices.Contains(acct.Roles, identity.PlatformReviewer) {
		return 0, nil, invalid(op, "reviewer", "reviewer: a case is assigned to an open account with the role %s", identity.PlatformReviewer)
	}
	return b.step(r, CmdCaseAssign, Action{Reviewer: in.Reviewer})
}

func (b *Backend) evidence(r *api.Request) (int, any, error) {
	var in struct {
		Kind string `json:"kind"`
		Ref  string `json:"ref"`
		Note string `json:"note"`
	}
	if err := r.Decode(&in); err != nil {
		return 0, nil, err
	}
	in.Ref = strings.TrimSpace(in.Ref)
	if err := checkEvidence(r, in.Kind, in.Ref, in.Note); err != nil {
		return 0, nil, err
	}
	return b.step(r, CmdCaseEvidence, Action{Kind: in.Kind, Ref: in.Ref, Note: in.Note})
}

// checkEvidence refuses a reference to a record that does not exist, and
// a note with control characters or bidirectional overrides, which could
// make a case file read other than it is (red team). A record's existence
// is read here, not in the state machine: evidence names a record, and a
// record is never deleted, only ended.
func checkEvidence(r *api.Request, kind, ref, note string) error {
	const op = "add evidence"
	for _, c := range note {
		if c < ' ' && c != '\n' && c != '\t' || c == 0x7f || c >= 0x202a && c <= 0x202e || c >= 0x2066 && c <= 0x2069 {
			return invalid(op, "note", "a note holds no control characters or bidirectional overrides (U+%04X)", c)
		}
	}
	if kind == EvidenceNote || ref == "" {
		return nil // the state machine refuses what is missing
	}
	return r.View(func(tx *state.ReadTx) error {
		var err error
		switch kind {
		case EvidencePayment:
			_, err = payouts.GetPayment(tx, ref)
		case EvidenceWorker:
			_, err = workers.Get(tx, ref)
		case EvidenceMerchant:
			_, err = merchants.Get(tx, ref)
		case EvidenceTask:
			_, err = tasks.Get(tx, ref)
		case EvidenceDocument:
			var d *documents.Record
			if d, err = documents.Get(tx, ref); err == nil && d == nil {
				err = state.Reject(state.NotFound, "no document %s", ref)
			}
		default:
			return nil // the state machine names the kinds
		}
		if state.NotFound.Is(err) {
			return invalid(op, "ref", "no %s %q", kind, ref)
		}
		return err
	})
}

func (b *Backend) close(r *api.Request) (int, any, error) {
	var in struct {
		Outcome string `json:"outcome"`
		Note    string `json:"note"`
	}
	if err := r.Decode(&in); err != nil {
		return 0, nil, err
	}
	return b.step(r, CmdCaseClose, Action{Outcome: in.Outcome, Note: in.Note})
}

// sample draws a random sample of a month's tasks or payments: the seed is
// drawn here and recorded, the population read through the request's
// linearizable view, and each item's checklist filled from the records.
func (b *Backend) sample(r *api.Request) (int, any, error) {
	const op = "draw sample"
	var in struct {
		Population string `json:"population"`
		Period     string `json:"period"`
		Size       int    `json:"size"`
	}
	if err := r.Decode(&in); err != nil {
		return 0, nil, err
	}
	switch {
	case in.Population != PopulationTasks && in.Population != PopulationPayments:
		return 0, nil, invalid(op, "population", "population is %s or %s", PopulationTasks, PopulationPayments)
	case in.Size < 1 || in.Size > MaxSample:
		return 0, nil, invalid(op, "size", "size is 1 to %d", MaxSample)
	}
	if _, _, err := Month(in.Period); err != nil {
		return 0, nil, invalid(op, "period", "%v", err)
	}
	var seed [32]byte
	rand.Read(seed[:])
	var id [8]byte
	rand.Read(id[:])
	var s *Sample
	err := r.View(func(tx *state.ReadTx) (err error) {
		s, err = NewSample(tx, "smp-"+hex.EncodeToString(id[:]), in.Population, in.Period, in.Size, seed[:], r.Subject.ID)
		return
	})
	if err != nil {
		return 0, nil, err
	}
	r.Audit.Object = s.ID
	v, err := r.Propose(state.NewCommand(CmdSampleDraw, mustJSON(s), r.Now()))
	if err != nil {
		return 0, nil, err
	}
	return 201, rawJSON(v), nil
}

func (b *Backend) samples(r *api.Request) (int, any, error) {
	list, err := view(r, Samples)
	if err != nil {
		return 0, nil, err
	}
	out := make([]map[string]any, len(list))
	for i, s := range list {
		out[i] = map[string]any{"id": s.ID, "population": s.Population, "period": s.Period, "size": s.Size,
			"items": len(s.Items), "reviewed": s.Reviewed, "by": s.By, "drawn": s.Drawn}
	}
	slices.SortFunc(out, func(a, b map[string]any) int { return strings.Compare(a["id"].(string), b["id"].(string)) })
	return 200, map[string]any{"samples": out}, nil
}

func (b *Backend) getSample(r *api.Request) (int, any, error) {
	s, err := view(r, func(tx *state.ReadTx) (*Sample, error) { return GetSample(tx, r.Var("id")) })
	if err != nil {
		return 0, nil, err
	}
	return 200, s, nil
}

// review records a reviewer's finding on one sampled item.
func (b *Backend) review(r *api.Request) (int, any, error) {
	var in struct {
		Result string `json:"result"`
		Note   string `json:"note"`
	}
	if err := r.Decode(&in); err != nil {
		return 0, nil, err
	}
	item, err := strconv.Atoi(r.Var("item"))
	if err != nil {
		return 0, nil, invalid("review sample item", "item", "item: the item's number in the sample, 1 and up")
	}
	rev := ItemReview{Sample: r.Var("id"), Item: item, Result: in.Result, Note: in.Note, By: r.Subject.ID}
	r.Audit.Object = rev.Sample + "/" + r.Var("item")
	v, err := r.Propose(state.NewCommand(CmdSampleFinding, mustJSON(rev), r.Now()))
	if err != nil {
		return 0, nil, err
	}
	return 200, rawJSON(v), nil
}

// findings lists the sample findings filed under a worker or a merchant
// (?subject=worker/<id> or merchant/<id>).
func (b *Backend) findings(r *api.Request) (int, any, error) {
	subject := r.HTTP.URL.Query().Get("subject")
	kind, id, ok := strings.Cut(subject, "/")
	if !ok || id == "" || strings.Contains(id, "/") || (kind != "worker" && kind != "merchant") {
		return 0, nil, invalid("list findings", "subject", "subject is worker/<id> or merchant/<id>")
	}
	list, err := view(r, func(tx *state.ReadTx) ([]*SubjectFinding, error) { return SubjectFindings(tx, subject) })
	if err != nil {
		return 0, nil, err
	}
	return 200, map[string]any{"subject": subject, "findings": list}, nil
}

// rawJSON answers a command's result as it is: the record it wrote.
func rawJSON(b []byte) json.RawMessage { return b }
