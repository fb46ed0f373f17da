package tasks

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"cxt/appliance/identity"
	"cxt/appliance/merchants"
	"cxt/appliance/subjects"
	"cxt/appliance/workers"
	"cxt/policy"
	"cxt/storage/state"
)

// Buckets.
const (
	Bucket         = "tasks"         // task ID -> Task
	WorkBucket     = "task-works"    // task ID/worker ID -> Work
	MerchantBucket = "task-merchant" // merchant ID/task ID -> task ID: a merchant's tasks in order
	WorkerBucket   = "task-worker"   // worker ID/task ID -> task ID: the tasks a worker has work on
)

// Command types (command set 4).
const (
	CmdCreate   = "task.create"
	CmdPublish  = "task.publish"
	CmdReview   = "task.review"
	CmdCancel   = "task.cancel"
	CmdApply    = "task.apply"
	CmdAssign   = "task.assign"
	CmdProof    = "task.proof"
	CmdAccept   = "task.accept"
	CmdReject   = "task.reject"
	CmdEvaluate = "task.evaluate"
)

// Refusals besides the general ones.
var (
	CodeTaskStatus  = state.NewCode(state.KindConflict, "task_status")
	CodeWorkStatus  = state.NewCode(state.KindConflict, "work_status")
	CodeFull        = state.NewCode(state.KindConflict, "task_full")
	CodeOverShare   = state.NewCode(state.KindInvalid, "amount_over_share")
	CodeEvaluated   = state.NewCode(state.KindConflict, "already_evaluated")
	CodeNotFound    = state.NewCode(state.KindNotFound, "task_not_found")
	CodeNotAccepted = state.NewCode(state.KindConflict, "task_not_accepted")
)

// Limits of a task's fields.
const (
	MaxTitle       = 100
	MaxDescription = 2000
	MaxLocation    = 200
	MaxHeadcount   = 1000
	MaxNote        = 500
	MaxComment     = 500
	MaxReason      = 500
)

// Creation is the body of CmdCreate: a draft task of the merchant.
type Creation struct {
	ID          string `json:"id"`
	Merchant    string `json:"merchant"`
	By          string `json:"by"`
	Title       string `json:"title"`
	Category    string `json:"category"`
	Description string `json:"description"`
	Budget      string `json:"budget"`
	Headcount   int    `json:"headcount"`
	Period      Period `json:"period"`
	Location    string `json:"location"`
}

// Publication is the body of CmdPublish: the risk rules' decision, made by
// the proposer from the policy in force. From command set 6 it is Risk
// (policy/risk/task.rego: allow opens the task, hold waits for a person,
// reject refuses it for good), kept on the task's review with its input;
// Reasons, Rule and PolicyVersion are then the decision's hits, settings
// version and policy, as the older rule gave them.
type Publication struct {
	ID            string          `json:"id"`
	By            string          `json:"by"`
	Reasons       []string        `json:"reasons"`
	Rule          string          `json:"rule"`
	PolicyVersion string          `json:"policy_version"`
	Risk          *policy.Decided `json:"risk,omitempty"`
}

// Decision is the body of CmdReview (Approve or Reject) and CmdCancel.
type Decision struct {
	ID       string `json:"id"`
	By       string `json:"by"`
	Decision string `json:"decision,omitempty"`
	Reason   string `json:"reason"`
}

// Step is the body of the commands on one worker's work: CmdApply,
// CmdAssign, CmdAccept, CmdReject.
type Step struct {
	Task   string `json:"task"`
	Worker string `json:"worker"`
	By     string `json:"by"`
	// Note is an application's note; Reason a rejection's.
	Note   string `json:"note,omitempty"`
	Reason string `json:"reason,omitempty"`
	// Application: CmdAssign accepts the worker's application, which
	// must be on record; otherwise the merchant assigns them directly.
	Application bool `json:"application,omitempty"`
	// Amount is what CmdAccept accepts the work for; "" is the worker's
	// share of the budget.
	Amount string `json:"amount,omitempty"`
}

// Filed is the body of CmdProof: a proof document stored under the
// merchant's key KeyID.
type Filed struct {
	Task   string   `json:"task"`
	Worker string   `json:"worker"`
	KeyID  uint32   `json:"key_id"`
	Doc    ProofRef `json:"document"`
}

// Evaluation sides.
const (
	SideMerchant = "merchant" // the merchant evaluates the worker
	SideWorker   = "worker"   // the worker evaluates the merchant
)

// Evaluated is the body of CmdEvaluate.
type Evaluated struct {
	Task    string `json:"task"`
	Worker  string `json:"worker"`
	Side    string `json:"side"`
	By      string `json:"by"`
	Stars   int    `json:"stars"`
	Comment string `json:"comment,omitempty"`
}

// Register adds the tasks' buckets and commands (command set 4).
func Register(reg *state.Registry) {
	for _, b := range []string{Bucket, WorkBucket, MerchantBucket, WorkerBucket} {
		reg.Bucket(b)
	}
	reg.HandleFrom(state.MoneySet, CmdCreate, create)
	reg.HandleFrom(state.MoneySet, CmdPublish, publish)
	reg.HandleFrom(state.MoneySet, CmdReview, review)
	reg.HandleFrom(state.MoneySet, CmdCancel, cancel)
	reg.HandleFrom(state.MoneySet, CmdApply, apply)
	reg.HandleFrom(state.MoneySet, CmdAssign, assign)
	reg.HandleFrom(state.MoneySet, CmdProof, proof)
	reg.HandleFrom(state.MoneySet, CmdAccept, inspect)
	reg.HandleFrom(state.MoneySet, CmdReject, inspect)
	reg.HandleFrom(state.MoneySet, CmdEvaluate, evaluate)
}

// CheckFields refuses a task's fields that break a rule of their own; the
// API checks the same before it proposes, field by field.
func (c *Creation) CheckFields() error {
	switch {
	case c.Title == "" || utf8.RuneCountInString(c.Title) > MaxTitle:
		return fmt.Errorf("title: 1-%d characters", MaxTitle)
	case !slices.Contains(Categories, c.Category):
		return fmt.Errorf("category: one of %s", strings.Join(Categories, ", "))
	case c.Description == "" || utf8.RuneCountInString(c.Description) > MaxDescription:
		return fmt.Errorf("description: 1-%d characters", MaxDescription)
	case c.Location == "" || utf8.RuneCountInString(c.Location) > MaxLocation:
		return fmt.Errorf("location: 1-%d characters", MaxLocation)
	case c.Headcount < 1 || c.Headcount > MaxHeadcount:
		return fmt.Errorf("headcount: 1 to %d workers", MaxHeadcount)
	}
	start, err := time.Parse(time.DateOnly, c.Period.Start)
	if err != nil {
		return fmt.Errorf("period.start: a date as YYYY-MM-DD")
	}
	end, err := time.Parse(time.DateOnly, c.Period.End)
	if err != nil || end.Before(start) {
		return fmt.Errorf("period.end: a date as YYYY-MM-DD, not before period.start")
	}
	return nil
}

func create(tx *state.Tx, cmd *state.Command) ([]byte, error) {
	var c Creation
	if err := json.Unmarshal(cmd.Body, &c); err != nil || c.ID == "" || c.Merchant == "" || c.By == "" {
		return nil, state.Reject(state.InvalidRequest, "a task names its ID, its merchant and who creates it")
	}
	if err := c.CheckFields(); err != nil {
		return nil, state.Reject(state.InvalidRequest, "%v", err)
	}
	if _, err := ParseAmount(c.Budget); err != nil {
		return nil, state.Reject(CodeAmount, "budget: %v", err)
	}
	m, err := approvedMerchant(tx, c.Merchant)
	if err != nil {
		return nil, err
	}
	if prev, err := tx.Get(Bucket, []byte(c.ID)); err != nil {
		return nil, err
	} else if prev != nil {
		return nil, state.Reject(state.Conflict, "task %s exists already", c.ID)
	}
	now := tx.Time()
	t := &Task{
		ID: c.ID, Merchant: m.ID, MerchantName: m.Name, Title: c.Title, Category: c.Category, Description: c.Description,
		Budget: c.Budget, Headcount: c.Headcount, Period: c.Period, Location: c.Location, Status: Draft,
		CreatedBy: c.By, Created: now, History: []Event{{At: now, By: c.By, Action: "create", To: string(Draft)}},
	}
	if err := tx.Put(MerchantBucket, childKey(t.Merchant, t.ID), []byte(t.ID)); err != nil {
		return nil, err
	}
	return putTask(tx, t)
}

// approvedMerchant reads a merchant that may publish work.
func approvedMerchant(tx *state.Tx, id string) (*merchants.Merchant, error) {
	m, err := merchants.Get(tx, id)
	if err != nil {
		return nil, err
	}
	if m.Status != merchants.Approved {
		return nil, state.Reject(merchants.CodeStatus, "a %s merchant publishes no tasks; it must be approved", m.Status)
	}
	return m, nil
}

func publish(tx *state.Tx, cmd *state.Command) ([]byte, error) {
	var p Publication
	if err := json.Unmarshal(cmd.Body, &p); err != nil || p.ID == "" || p.By == "" || p.PolicyVersion == "" && p.Risk == nil {
		return nil, state.Reject(state.InvalidRequest, "a publication names the task, who publishes it and the policy that reviewed it")
	}
	t, err := Get(tx, p.ID)
	if err != nil {
		return nil, err
	}
	if t.Status != Draft {
		return nil, state.Reject(CodeTaskStatus, "task %s is %s; only a draft is published", t.ID, t.Status)
	}
	if _, err := approvedMerchant(tx, t.Merchant); err != nil {
		return nil, err
	}
	now := tx.Time()
	rv := &Review{Reasons: slices.Clip(append([]string{}, p.Reasons...)), Rule: p.Rule, PolicyVersion: p.PolicyVersion}
	t.Published = now
	t.move(now, p.By, "publish", PendingReview, "")
	decided, err := tx.Speaks(state.RiskSet)
	if err != nil {
		return nil, err
	}
	if decided {
		if err := riskPublish(t, rv, p, now); err != nil {
			return nil, err
		}
		if t.Status == Rejected {
			if err := identity.Notify(tx, t.CreatedBy, "task.reject", "任务审核未通过 / Task rejected",
				fmt.Sprintf("任务「%s」未通过风控规则。/ The risk rules refused the task %q.", t.Title, t.Title)+"\n原因 / Reason: "+rv.Reason); err != nil {
				return nil, err
			}
		}
	} else if len(rv.Reasons) == 0 {
		rv.Decision, rv.By, rv.At = Approve, ByPolicy, now
		t.move(now, ByPolicy, Approve, Open, "no risk rule asked for a person (rule "+p.Rule+", policy "+p.PolicyVersion+")")
	}
	t.Review = rv
	if err := feedPublished(tx, t); err != nil {
		return nil, err
	}
	return putTask(tx, t)
}

// riskPublish moves a task just published by its risk decision (command
// set 6 on): allow opens it, approved by the policy; reject refuses it, the
// rule's reason on record; hold leaves it for a person. The review keeps
// the decision and the reasons of its hits.
func riskPublish(t *Task, rv *Review, p Publication, now time.Time) error {
	d := p.Risk
	if d == nil {
		return state.Reject(state.InvalidRequest, "a publication carries its risk decision")
	}
	rv.Risk, rv.Reasons = d, []string{}
	for _, h := range d.Hits {
		rv.Reasons = append(rv.Reasons, h.Reason)
	}
	rv.Rule, rv.PolicyVersion = d.Settings, d.Policy
	switch d.Outcome {
	case policy.Allow:
		rv.Decision, rv.By, rv.At = Approve, ByPolicy, now
		t.move(now, ByPolicy, Approve, Open, "no risk rule asked for a person (rules "+d.Settings+", policy "+d.Policy+")")
	case policy.Reject:
		rv.Decision, rv.By, rv.At, rv.Reason = Reject, ByPolicy, now, d.Reason
		t.move(now, ByPolicy, Reject, Rejected, d.Reason+" ("+d.Rule+")")
	case policy.Hold:
	default:
		return state.Reject(state.InvalidRequest, "a risk decision is allow, hold or reject, not %q", d.Outcome)
	}
	return nil
}

// move records a step of t's history and its new status.
func (t *Task) move(at time.Time, by, action string, to Status, reason string) {
	t.History = append(t.History, Event{At: at, By: by, Action: action, From: string(t.Status), To: string(to), Reason: reason})
	t.Status = to
}

func review(tx *state.Tx, cmd *state.Command) ([]byte, error) {
	var d Decision
	if err := json.Unmarshal(cmd.Body, &d); err != nil || d.ID == "" || d.By == "" || strings.TrimSpace(d.Reason) == "" {
		return nil, state.Reject(state.InvalidRequest, "a review names the task, the reviewer and the reason for the decision")
	}
	to := map[string]Status{Approve: Open, Reject: Rejected}[d.Decision]
	if to == "" {
		return nil, state.Reject(state.InvalidRequest, "a review approves or rejects")
	}
	t, err := Get(tx, d.ID)
	if err != nil {
		return nil, err
	}
	if t.Status != PendingReview || t.Review == nil {
		return nil, state.Reject(CodeTaskStatus, "task %s is %s; only one waiting for review is reviewed", t.ID, t.Status)
	}
	now := tx.Time()
	t.Review.Decision, t.Review.By, t.Review.Reason, t.Review.At = d.Decision, d.By, d.Reason, now
	t.move(now, d.By, d.Decision, to, d.Reason)
	if err := feedStatus(tx, t); err != nil {
		return nil, err
	}
	subject, body := "任务审核通过 / Task approved", "任务「%s」已通过审核，可以接受报名。/ The task %q was approved and is open."
	if to == Rejected {
		subject, body = "任务审核未通过 / Task rejected", "任务「%s」未通过审核。/ The task %q was rejected."
	}
	if err := identity.Notify(tx, t.CreatedBy, "task."+d.Decision, subject, fmt.Sprintf(body, t.Title, t.Title)+"\n原因 / Reason: "+d.Reason); err != nil {
		return nil, err
	}
	return putTask(tx, t)
}

func cancel(tx *state.Tx, cmd *state.Command) ([]byte, error) {
	var d Decision
	if err := json.Unmarshal(cmd.Body, &d); err != nil || d.ID == "" || d.By == "" || strings.TrimSpace(d.Reason) == "" {
		return nil, state.Reject(state.InvalidRequest, "a cancellation names the task, who cancels it and why")
	}
	t, err := Get(tx, d.ID)
	if err != nil {
		return nil, err
	}
	if t.Status != Draft && t.Status != PendingReview && t.Status != Open {
		return nil, state.Reject(CodeTaskStatus, "task %s is %s and cannot be cancelled", t.ID, t.Status)
	}
	if t.Accepted > 0 {
		return nil, state.Reject(CodeTaskStatus, "task %s has accepted work, which a payment may reference: it cannot be cancelled", t.ID)
	}
	now := tx.Time()
	var works []*Work
	if err := scanWorks(tx, t.ID, func(w *Work) error { works = append(works, w); return nil }); err != nil {
		return nil, err
	}
	for _, w := range works {
		w.move(now, d.By, "cancel", WorkCancelled, d.Reason)
		if _, err := putWork(tx, w); err != nil {
			return nil, err
		}
		if err := notifyWorker(tx, w.Worker, "task.cancel", "任务已取消 / Task cancelled",
			fmt.Sprintf("任务「%s」已被商户取消。/ The task %q was cancelled by the merchant.\n原因 / Reason: %s", t.Title, t.Title, d.Reason)); err != nil {
			return nil, err
		}
	}
	t.Assigned = 0
	// A draft never reached the feed; its cancellation does not either.
	drafted := t.Status == Draft
	t.move(now, d.By, "cancel", Cancelled, d.Reason)
	if !drafted {
		if err := feedStatus(tx, t); err != nil {
			return nil, err
		}
	}
	return putTask(tx, t)
}

// move records a step of w's history and its new status.
func (w *Work) move(at time.Time, by, action string, to WorkStatus, reason string) {
	w.History = append(w.History, Event{At: at, By: by, Action: action, From: string(w.Status), To: string(to), Reason: reason})
	w.Status = to
}

// openTask reads a task that takes applications, assignments and proof.
func openTask(tx *state.Tx, id string) (*Task, error) {
	t, err := Get(tx, id)
	if err != nil {
		return nil, err
	}
	if t.Status != Open {
		return nil, state.Reject(CodeTaskStatus, "task %s is %s, not open", t.ID, t.Status)
	}
	return t, nil
}

// linked refuses a worker who is not actively linked to the merchant: as
// for a worker who does not exist, so that a merchant learns nothing of
// other merchants' workers.
func linked(tx *state.Tx, merchant, worker string) error {
	l, err := workers.GetLink(tx, merchant, worker)
	if err != nil {
		return err
	}
	if l.Status != workers.Active {
		return state.Reject(state.NotFound, "worker %s is not linked to merchant %s", worker, merchant)
	}
	return nil
}

func apply(tx *state.Tx, cmd *state.Command) ([]byte, error) {
	var s Step
	if err := json.Unmarshal(cmd.Body, &s); err != nil || s.Task == "" || s.Worker == "" || s.By == "" || utf8.RuneCountInString(s.Note) > MaxNote {
		return nil, state.Reject(state.InvalidRequest, "an application names the task, the worker and who applies, with a note of at most %d characters", MaxNote)
	}
	t, err := openTask(tx, s.Task)
	if err != nil {
		return nil, err
	}
	if err := linked(tx, t.Merchant, s.Worker); err != nil {
		return nil, err
	}
	if w, err := GetWork(tx, t.ID, s.Worker); err == nil {
		return nil, state.Reject(CodeWorkStatus, "worker %s has %s work on task %s already", s.Worker, w.Status, t.ID)
	} else if !state.NotFound.Is(err) {
		return nil, err
	}
	if t.Assigned >= t.Headcount {
		return nil, state.Reject(CodeFull, "task %s has all its %d workers", t.ID, t.Headcount)
	}
	now := tx.Time()
	w := &Work{Task: t.ID, Worker: s.Worker, Merchant: t.Merchant, Status: Applied, Note: s.Note, Applied: now, Proof: []ProofRef{},
		History: []Event{{At: now, By: s.By, Action: "apply", To: string(Applied)}}}
	if err := tx.Put(WorkerBucket, childKey(w.Worker, t.ID), []byte(t.ID)); err != nil {
		return nil, err
	}
	return putWork(tx, w)
}

func assign(tx *state.Tx, cmd *state.Command) ([]byte, error) {
	var s Step
	if err := json.Unmarshal(cmd.Body, &s); err != nil || s.Task == "" || s.Worker == "" || s.By == "" {
		return nil, state.Reject(state.InvalidRequest, "an assignment names the task, the worker and who assigns")
	}
	t, err := openTask(tx, s.Task)
	if err != nil {
		return nil, err
	}
	if err := linked(tx, t.Merchant, s.Worker); err != nil {
		return nil, err
	}
	w, err := GetWork(tx, t.ID, s.Worker)
	switch {
	case err != nil && !state.NotFound.Is(err):
		return nil, err
	case err != nil && s.Application:
		return nil, state.Reject(state.NotFound, "worker %s has not applied for task %s", s.Worker, t.ID)
	case err == nil && w.Status != Applied:
		return nil, state.Reject(CodeWorkStatus, "worker %s's work on task %s is %s already", s.Worker, t.ID, w.Status)
	}
	// The one check that keeps the headcount: the task's own counter, in
	// the record every assignment rewrites.
	if t.Assigned >= t.Headcount {
		return nil, state.Reject(CodeFull, "task %s has all its %d workers", t.ID, t.Headcount)
	}
	now := tx.Time()
	if w == nil {
		w = &Work{Task: t.ID, Worker: s.Worker, Merchant: t.Merchant, Proof: []ProofRef{}}
		if err := tx.Put(WorkerBucket, childKey(w.Worker, t.ID), []byte(t.ID)); err != nil {
			return nil, err
		}
	}
	w.Assigned, w.AssignedBy = now, s.By
	w.move(now, s.By, "assign", Assigned, "")
	t.Assigned++
	if _, err := putTask(tx, t); err != nil {
		return nil, err
	}
	if err := notifyWorker(tx, w.Worker, "task.assign", "您已被录用 / You were taken on",
		fmt.Sprintf("%s 录用您完成任务「%s」。/ %s took you on for the task %q.", t.MerchantName, t.Title, t.MerchantName, t.Title)); err != nil {
		return nil, err
	}
	return putWork(tx, w)
}

func proof(tx *state.Tx, cmd *state.Command) ([]byte, error) {
	var f Filed
	if err := json.Unmarshal(cmd.Body, &f); err != nil || f.Task == "" || f.Worker == "" || f.Doc.ID == "" || f.Doc.By == "" || len(f.Doc.SM3) != 64 {
		return nil, state.Reject(state.InvalidRequest, "filed proof names the task, the worker, the document with its SM3 and who filed it")
	}
	t, err := openTask(tx, f.Task)
	if err != nil {
		return nil, err
	}
	w, err := GetWork(tx, t.ID, f.Worker)
	if err != nil {
		return nil, err
	}
	if w.Status != Assigned && w.Status != Submitted && w.Status != WorkRejected {
		return nil, state.Reject(CodeWorkStatus, "work that is %s takes no proof", w.Status)
	}
	if len(w.Proof) >= MaxProof {
		return nil, state.Reject(state.Conflict, "a work's proof holds at most %d documents", MaxProof)
	}
	if slices.ContainsFunc(w.Proof, func(d ProofRef) bool { return d.ID == f.Doc.ID }) {
		return nil, state.Reject(state.Conflict, "document %s is filed already", f.Doc.ID)
	}
	if err := subjects.Require(tx, t.Merchant, f.KeyID); err != nil {
		return nil, err
	}
	now := tx.Time()
	f.Doc.Uploaded = now
	w.Proof = append(w.Proof, f.Doc)
	w.Submitted = now
	if w.Status != Submitted {
		w.move(now, f.Doc.By, "submit", Submitted, "")
	}
	return putWork(tx, w)
}

func inspect(tx *state.Tx, cmd *state.Command) ([]byte, error) {
	var s Step
	if err := json.Unmarshal(cmd.Body, &s); err != nil || s.Task == "" || s.Worker == "" || s.By == "" {
		return nil, state.Reject(state.InvalidRequest, "an inspection names the task, the worker and who inspects")
	}
	if cmd.Type == CmdReject && (strings.TrimSpace(s.Reason) == "" || utf8.RuneCountInString(s.Reason) > MaxReason) {
		return nil, state.Reject(state.InvalidRequest, "a rejection says why, in at most %d characters", MaxReason)
	}
	t, err := openTask(tx, s.Task)
	if err != nil {
		return nil, err
	}
	w, err := GetWork(tx, t.ID, s.Worker)
	if err != nil {
		return nil, err
	}
	if w.Status != Submitted {
		return nil, state.Reject(CodeWorkStatus, "work that is %s is not waiting for acceptance", w.Status)
	}
	now := tx.Time()
	if cmd.Type == CmdReject {
		w.move(now, s.By, "reject", WorkRejected, s.Reason)
		if err := notifyWorker(tx, w.Worker, "task.reject", "验收未通过 / Work not accepted",
			fmt.Sprintf("任务「%s」的完工证明未通过验收，请补充后重新提交。/ The work on %q was not accepted; file more proof.\n原因 / Reason: %s", t.Title, t.Title, s.Reason)); err != nil {
			return nil, err
		}
		return putWork(tx, w)
	}
	share, err := t.share()
	if err != nil {
		return nil, err
	}
	amount := share
	if s.Amount != "" {
		if amount, err = ParseAmount(s.Amount); err != nil {
			return nil, state.Reject(CodeAmount, "amount: %v", err)
		}
		if amount.GreaterThan(share) {
			return nil, state.Reject(CodeOverShare, "amount: %s yuan is more than the worker's share of the budget, %s yuan", Yuan(amount), Yuan(share))
		}
	}
	w.Amount, w.Accepted, w.AcceptedBy = Yuan(amount), now, s.By
	w.move(now, s.By, "accept", Accepted, "")
	t.Accepted++
	if err := feedAccepted(tx, t, w); err != nil {
		return nil, err
	}
	if t.Accepted >= t.Headcount {
		t.move(now, s.By, "complete", Completed, "")
		if err := feedStatus(tx, t); err != nil {
			return nil, err
		}
	}
	if _, err := putTask(tx, t); err != nil {
		return nil, err
	}
	if err := notifyWorker(tx, w.Worker, "task.accept", "验收通过 / Work accepted",
		fmt.Sprintf("任务「%s」已验收，金额 %s 元。/ The work on %q was accepted for %s yuan.", t.Title, w.Amount, t.Title, w.Amount)); err != nil {
		return nil, err
	}
	return putWork(tx, w)
}

func evaluate(tx *state.Tx, cmd *state.Command) ([]byte, error) {
	var e Evaluated
	if err := json.Unmarshal(cmd.Body, &e); err != nil || e.Task == "" || e.Worker == "" || e.By == "" {
		return nil, state.Reject(state.InvalidRequest, "an evaluation names the task, the worker and who evaluates")
	}
	if e.Stars < 1 || e.Stars > 5 || utf8.RuneCountInString(e.Comment) > MaxComment || e.Side != SideMerchant && e.Side != SideWorker {
		return nil, state.Reject(state.InvalidRequest, "an evaluation is 1 to 5 stars with a comment of at most %d characters, by the merchant or the worker", MaxComment)
	}
	w, err := GetWork(tx, e.Task, e.Worker)
	if err != nil {
		return nil, err
	}
	if w.Status != Accepted {
		return nil, state.Reject(CodeWorkStatus, "work that is %s is not evaluated; only accepted work is", w.Status)
	}
	slot := &w.ByMerchant
	if e.Side == SideWorker {
		slot = &w.ByWorker
	}
	if *slot != nil {
		return nil, state.Reject(CodeEvaluated, "the %s evaluated this work already", e.Side)
	}
	*slot = &Evaluation{Stars: e.Stars, Comment: e.Comment, By: e.By, At: tx.Time()}
	return putWork(tx, w)
}

// notifyWorker tells a worker's account, if they have one.
func notifyWorker(tx *state.Tx, worker, event, subject, body string) error {
	wk, err := workers.Get(tx, worker)
	if err != nil || wk.Account == "" {
		return err
	}
	return identity.Notify(tx, wk.Account, event, subject, body)
}

// getter is a state transaction, read-only or not.
type getter interface {
	Get(bucket string, key []byte) ([]byte, error)
}

// Get reads a task, inside a command or a read; not_found if there is none.
func Get(tx getter, id string) (*Task, error) {
	b, err := tx.Get(Bucket, []byte(id))
	if err != nil {
		return nil, err
	}
	if b == nil {
		return nil, state.Reject(state.NotFound, "no task %s", id)
	}
	return decodeTask(b)
}

// GetWork reads a worker's work on a task; not_found if there is none.
func GetWork(tx getter, task, worker string) (*Work, error) {
	b, err := tx.Get(WorkBucket, WorkKey(task, worker))
	if err != nil {
		return nil, err
	}
	if b == nil {
		return nil, state.Reject(state.NotFound, "worker %s has no work on task %s", worker, task)
	}
	return decodeWork(b)
}

// Payable returns the task a payment to worker by merchant may reference: the merchant's task,
// with that worker's work accepted (验收). Otherwise a *state.Rejection with a stable code
// (task_not_found, task_not_accepted ...). tx is anything with Get(bucket string, key []byte) ([]byte, error).
func Payable(tx interface {
	Get(string, []byte) ([]byte, error)
}, taskID, merchant, worker string) (*Task, *Work, error) {
	t, err := Get(tx, taskID)
	if state.NotFound.Is(err) || err == nil && t.Merchant != merchant {
		return nil, nil, state.Reject(CodeNotFound, "merchant %s has no task %s", merchant, taskID)
	} else if err != nil {
		return nil, nil, err
	}
	w, err := GetWork(tx, taskID, worker)
	if state.NotFound.Is(err) {
		return nil, nil, state.Reject(CodeNotAccepted, "worker %s has no work on task %s to be paid for", worker, taskID)
	} else if err != nil {
		return nil, nil, err
	}
	if w.Status != Accepted {
		return nil, nil, state.Reject(CodeNotAccepted, "worker %s's work on task %s is %s, not accepted (验收)", worker, taskID, w.Status)
	}
	return t, w, nil
}

// AcceptedAmount is Payable for a payout row, which needs only what the
// work was accepted for (in yuan): it reads the work's own record — which
// names its merchant, and which a task's cancellation never leaves
// accepted — decoded into those fields alone (its proofs and history grow
// with every step), and reads the task's record only to word a refusal as
// Payable does.
func AcceptedAmount(tx interface {
	Get(string, []byte) ([]byte, error)
}, taskID, merchant, worker string) (string, error) {
	b, err := tx.Get(WorkBucket, WorkKey(taskID, worker))
	if err != nil {
		return "", err
	}
	if b != nil {
		var w struct {
			Merchant string     `json:"merchant"`
			Status   WorkStatus `json:"status"`
			Amount   string     `json:"amount"`
		}
		if err := json.Unmarshal(b, &w); err != nil {
			return "", fmt.Errorf("tasks: work: %w", err)
		}
		if w.Status == Accepted && w.Merchant == merchant {
			return w.Amount, nil
		}
	}
	_, work, err := Payable(tx, taskID, merchant, worker)
	if err != nil {
		return "", err
	}
	return work.Amount, nil
}

// childKey keys an index entry: by owner first, so that an owner's entries
// are one range, in the order of the child's time-ordered ID.
func childKey(owner, child string) []byte { return []byte(owner + "/" + child) }

// scanWorks calls fn with each work of a task as the command sees the
// state.
func scanWorks(tx *state.Tx, task string, fn func(*Work) error) error {
	return tx.Prefix(WorkBucket, []byte(task+"/"), func(_, v []byte) error {
		w, err := decodeWork(v)
		if err != nil {
			return err
		}
		return fn(w)
	})
}

func decodeTask(b []byte) (*Task, error) {
	var t Task
	if err := json.Unmarshal(b, &t); err != nil {
		return nil, fmt.Errorf("tasks: %w", err)
	}
	return &t, nil
}

func decodeWork(b []byte) (*Work, error) {
	var w Work
	if err := json.Unmarshal(b, &w); err != nil {
		return nil, fmt.Errorf("tasks: work: %w", err)
	}
	return &w, nil
}

func putTask(tx *state.Tx, t *Task) ([]byte, error) {
	b, err := json.Marshal(t)
	if err != nil {
		return nil, err
	}
	return b, tx.Put(Bucket, []byte(t.ID), b)
}

func putWork(tx *state.Tx, w *Work) ([]byte, error) {
	b, err := json.Marshal(w)
	if err != nil {
		return nil, err
	}
	return b, tx.Put(WorkBucket, WorkKey(w.Task, w.Worker), b)
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}
