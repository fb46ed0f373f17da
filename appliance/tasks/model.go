package tasks

import (
	"time"

	"cxt/policy"
)

// Status is where a task is.
type Status string

// The task statuses.
const (
	Draft         Status = "draft"          // written, not published
	PendingReview Status = "pending_review" // published; the risk rule asked for a person
	Open          Status = "open"           // approved: workers apply, the merchant assigns
	Rejected      Status = "rejected"       // the platform refused it
	Completed     Status = "completed"      // every slot's work accepted
	Cancelled     Status = "cancelled"      // the merchant withdrew it
)

// WorkStatus is where a worker's work on a task is.
type WorkStatus string

// The work statuses.
const (
	Applied       WorkStatus = "applied"   // the worker applied
	Assigned      WorkStatus = "assigned"  // the merchant took them on
	Submitted     WorkStatus = "submitted" // completion proof filed
	WorkRejected  WorkStatus = "rejected"  // the merchant refused the work; proof may be filed again
	Accepted      WorkStatus = "accepted"  // the merchant accepted the work (验收)
	WorkCancelled WorkStatus = "cancelled" // the task was cancelled
)

// holdsSlot reports whether work in status s counts towards the headcount.
func (s WorkStatus) holdsSlot() bool {
	return s == Assigned || s == Submitted || s == WorkRejected || s == Accepted
}

// Categories are the kinds of task a merchant may publish; the risk rule
// lists those a person always reviews (data.cxt.risk_settings).
var Categories = []string{
	"delivery",       // 配送
	"logistics",      // 装卸搬运
	"cleaning",       // 保洁
	"event_staffing", // 活动执行
	"sales",          // 销售推广
	"design",         // 设计
	"software",       // 软件开发
	"data_labeling",  // 数据标注
	"translation",    // 翻译
	"tutoring",       // 教育辅导
	"consulting",     // 咨询
	"other",
}

// Period is when the work is to be done, as dates (YYYY-MM-DD).
type Period struct {
	Start string `json:"start"`
	End   string `json:"end"`
}

// Review is how a published task was reviewed: the risk rule's reasons for a
// person (none: approved by the policy itself), and the decision.
type Review struct {
	Reasons       []string  `json:"reasons"`
	Rule          string    `json:"rule"`           // the version of the rule's settings
	PolicyVersion string    `json:"policy_version"` // the policy in force when it was published
	Decision      string    `json:"decision,omitempty"`
	By            string    `json:"by,omitempty"` // "policy", or the reviewer's account
	Reason        string    `json:"reason,omitempty"`
	At            time.Time `json:"at,omitzero"`
	// Risk is the risk rules' decision the publication was made under
	// (command set 6 on), with its input for replay.
	Risk *policy.Decided `json:"risk,omitempty"`
}

// ByPolicy is who approved a task the risk rule gave no reason to review.
const ByPolicy = "policy"

// Review decisions.
const (
	Approve = "approve"
	Reject  = "reject"
)

// Event is one step of a task's or a work's history.
type Event struct {
	At     time.Time `json:"at"`
	By     string    `json:"by"` // account ID, or "policy"
	Action string    `json:"action"`
	From   string    `json:"from,omitempty"`
	To     string    `json:"to"`
	Reason string    `json:"reason,omitempty"`
}

// Task is a task's record in the state.
type Task struct {
	ID           string    `json:"id"`
	Merchant     string    `json:"merchant"`
	MerchantName string    `json:"merchant_name"`
	Title        string    `json:"title"`
	Category     string    `json:"category"`
	Description  string    `json:"description"`
	Budget       string    `json:"budget"` // the whole task's, in yuan
	Headcount    int       `json:"headcount"`
	Period       Period    `json:"period"`
	Location     string    `json:"location"`
	Status       Status    `json:"status"`
	Review       *Review   `json:"review,omitempty"`
	Assigned     int       `json:"assigned"` // works holding a slot
	Accepted     int       `json:"accepted"` // works accepted (验收)
	CreatedBy    string    `json:"created_by"`
	Created      time.Time `json:"created"`
	Published    time.Time `json:"published,omitzero"`
	History      []Event   `json:"history"`
}

// Tenancy is the task as the policy sees it: its merchant's. The route's
// resource adds a worker who may reach it.
func (t *Task) Tenancy() policy.Resource {
	return policy.Resource{Label: 1, Owner: t.ID, Tenanted: true, Merchants: []string{t.Merchant}}
}

// ProofRef is a completion proof document, kept in the blob store under the
// merchant's key.
type ProofRef struct {
	ID       string    `json:"id"`
	Type     string    `json:"type"` // its sniffed content type
	Size     int64     `json:"size"`
	SM3      string    `json:"sm3"`
	Uploaded time.Time `json:"uploaded"`
	By       string    `json:"by"`
}

// MaxProof bounds the documents one work's proof holds.
const MaxProof = 20

// Evaluation is one side's evaluation of an accepted work.
type Evaluation struct {
	Stars   int       `json:"stars"` // 1-5
	Comment string    `json:"comment,omitempty"`
	By      string    `json:"by"`
	At      time.Time `json:"at"`
}

// Work is a worker's application for, or assignment on, a task.
type Work struct {
	Task       string     `json:"task"`
	Worker     string     `json:"worker"`
	Merchant   string     `json:"merchant"`
	Status     WorkStatus `json:"status"`
	Note       string     `json:"note,omitempty"` // the worker's application note
	Applied    time.Time  `json:"applied,omitzero"`
	Assigned   time.Time  `json:"assigned,omitzero"`
	AssignedBy string     `json:"assigned_by,omitempty"`
	Proof      []ProofRef `json:"proof"`
	Submitted  time.Time  `json:"submitted,omitzero"`
	// Amount is what the merchant accepted the work for, in yuan: at most
	// the worker's share of the budget.
	Amount     string    `json:"amount,omitempty"`
	Accepted   time.Time `json:"accepted,omitzero"`
	AcceptedBy string    `json:"accepted_by,omitempty"`
	// ByMerchant is the merchant's evaluation of the worker, ByWorker the
	// worker's of the merchant.
	ByMerchant *Evaluation `json:"by_merchant,omitempty"`
	ByWorker   *Evaluation `json:"by_worker,omitempty"`
	History    []Event     `json:"history"`
}

// Tenancy is the work as the policy sees it: its merchant's and its
// worker's.
func (w *Work) Tenancy() policy.Resource {
	return policy.Resource{Label: 1, Owner: w.Task + "/" + w.Worker, Tenanted: true, Merchants: []string{w.Merchant}, Worker: w.Worker}
}

// WorkKey keys a work: by task first, so a task's works are one range.
func WorkKey(task, worker string) []byte { return []byte(task + "/" + worker) }
