package risk

import (
	"encoding/json"
	"time"
)

// Detectors, in the order a job runs them; each is also the kind of the
// findings it makes.
const (
	SharedCard          = "shared_card"          // one bank card on several workers
	RegistrationBurst   = "registration_burst"   // one address or device registering many workers within a window
	IncomeConcentration = "income_concentration" // one worker receiving most of a merchant's month
	VolumeSpike         = "volume_spike"         // a merchant's month far above its 3 months before
)

// Detectors lists the detectors in the order a job runs them.
var Detectors = []string{SharedCard, RegistrationBurst, IncomeConcentration, VolumeSpike}

// Job statuses.
const (
	JobRunning = "running" // started; the leader's inspector runs the detectors not done yet
	JobDone    = "done"
	JobFailed  = "failed"
)

// How a job was started.
const (
	TriggerSchedule = "schedule"
	TriggerDemand   = "demand"
)

// Job is one inspection run: which month it inspects, how far it came,
// and what each detector found.
type Job struct {
	ID       string         `json:"id"`
	Period   string         `json:"period"` // yyyy-mm, China's calendar
	Trigger  string         `json:"trigger"`
	By       string         `json:"by"`
	Status   string         `json:"status"`
	Started  time.Time      `json:"started"`
	Ended    time.Time      `json:"ended,omitzero"`
	Error    string         `json:"error,omitempty"`
	Steps    []Step         `json:"steps"`    // the detectors done, in order
	Findings int            `json:"findings"` // over all steps
	Opened   int            `json:"cases_opened"`
	Policies []string       `json:"policies,omitempty"` // the policy versions its steps were decided under
	Counts   map[string]int `json:"counts,omitempty"`   // findings by kind
}

// Step is what one detector did in a job.
type Step struct {
	Detector   string    `json:"detector"`
	Aggregates int       `json:"aggregates"` // what it counted and asked the policy about
	Findings   int       `json:"findings"`
	Opened     int       `json:"cases_opened"` // findings that opened a case (the rest had one)
	Policy     string    `json:"policy"`       // the policy bundle's version
	InputSM3   string    `json:"input_sm3"`    // SM3 of the policy's input, as JSON
	At         time.Time `json:"at"`
}

// Done reports whether the job ran detector already.
func (j *Job) Done(detector string) bool {
	for _, s := range j.Steps {
		if s.Detector == detector {
			return true
		}
	}
	return false
}

// Finding is an anomaly the policy found in one aggregate.
type Finding struct {
	Kind     string          `json:"kind"`
	Subject  string          `json:"subject"` // what is anomalous: "card:…", "device:…", "ip:…", "<merchant>/<worker>", "<merchant>"
	Period   string          `json:"period"`  // the month it is about; "" for a standing fact (a shared card)
	Rule     string          `json:"rule"`    // the rule that made it, with its settings' version
	Reason   string          `json:"reason"`
	Policy   string          `json:"policy"`    // the policy bundle's version
	InputSM3 string          `json:"input_sm3"` // SM3 of the input the policy decided on
	Facts    json.RawMessage `json:"facts"`     // the aggregate itself
	Parties  []string        `json:"parties"`   // "worker/<id>", "merchant/<id>": whom it concerns
	Job      string          `json:"job"`
}

// Key is what makes two findings the same anomaly: its kind, subject and
// period. One key opens one case, ever.
func (f *Finding) Key() string { return f.Kind + "|" + f.Subject + "|" + f.Period }

// Case statuses.
const (
	CaseOpen          = "open"          // opened by a finding, nobody on it yet
	CaseInvestigating = "investigating" // assigned to a reviewer
	CaseClosed        = "closed"        // decided, with an outcome
)

// Case outcomes.
const (
	NoIssue          = "no_issue"          // looked at: nothing wrong
	ConfirmedWarned  = "confirmed_warned"  // real; the parties were warned
	ConfirmedBlocked = "confirmed_blocked" // real; the parties were blocked
)

// Outcomes lists the outcomes a case closes with.
var Outcomes = []string{NoIssue, ConfirmedWarned, ConfirmedBlocked}

// Case is a review case a finding opened.
type Case struct {
	ID       string     `json:"id"`
	Key      string     `json:"key"`
	Kind     string     `json:"kind"`
	Subject  string     `json:"subject"`
	Period   string     `json:"period"`
	Parties  []string   `json:"parties"`
	Finding  Finding    `json:"finding"` // the finding that opened it
	Status   string     `json:"status"`
	Reviewer string     `json:"reviewer,omitempty"` // the account assigned
	Outcome  string     `json:"outcome,omitempty"`
	Note     string     `json:"note,omitempty"` // the closing note
	Evidence []Evidence `json:"evidence"`
	History  []Event    `json:"history"`
	Opened   time.Time  `json:"opened"`
	Updated  time.Time  `json:"updated"`
	Closed   time.Time  `json:"closed,omitzero"`
}

// Evidence kinds: a reference to a record, or a note.
const (
	EvidencePayment  = "payment"
	EvidenceWorker   = "worker"
	EvidenceMerchant = "merchant"
	EvidenceTask     = "task"
	EvidenceDocument = "document" // an agreement, a proof document or a receipt, by its ID
	EvidenceNote     = "note"
)

// EvidenceKinds lists the kinds of evidence.
var EvidenceKinds = []string{EvidencePayment, EvidenceWorker, EvidenceMerchant, EvidenceTask, EvidenceDocument, EvidenceNote}

// Evidence is one thing attached to a case.
type Evidence struct {
	N    int       `json:"n"` // 1, 2, … in the order attached
	Kind string    `json:"kind"`
	Ref  string    `json:"ref,omitempty"` // the record's ID; none for a note
	Note string    `json:"note,omitempty"`
	By   string    `json:"by"`
	At   time.Time `json:"at"`
}

// Event is one step of a case's history.
type Event struct {
	At     time.Time `json:"at"`
	By     string    `json:"by"`
	Event  string    `json:"event"` // opened, assigned, evidence, closed
	From   string    `json:"from,omitempty"`
	To     string    `json:"to,omitempty"`
	Detail string    `json:"detail,omitempty"`
}

// Sampling populations.
const (
	PopulationTasks    = "tasks"    // the works of tasks accepted (验收) in the month: one worker's work on one task
	PopulationPayments = "payments" // the payments booked in the month (accepted, submitted or paid)
)

// MaxSample bounds a sample's size.
const MaxSample = 500

// Sample is a random sample of a month's tasks or payments, reproducible
// from its seed and the population (sample.go).
type Sample struct {
	ID         string    `json:"id"`
	Population string    `json:"population"`
	Period     string    `json:"period"`
	Size       int       `json:"size"` // asked for
	Seed       string    `json:"seed"` // hex, drawn by the proposer
	Count      int       `json:"population_count"`
	ListSM3    string    `json:"population_sm3"` // SM3 of the population's IDs, sorted, one a line
	Method     string    `json:"method"`
	Items      []Item    `json:"items"`
	Reviewed   int       `json:"reviewed"` // items with a finding
	By         string    `json:"by"`
	Drawn      time.Time `json:"drawn"`
}

// Item is one sampled record, its evidence checklist and the reviewer's
// finding.
type Item struct {
	N         int          `json:"n"`   // 1-based, in sample order
	Ref       string       `json:"ref"` // the payment's ID, or "<task>/<worker>"
	Merchant  string       `json:"merchant"`
	Worker    string       `json:"worker"`
	Task      string       `json:"task,omitempty"`
	Checklist []Check      `json:"checklist"`
	Finding   *ItemFinding `json:"finding,omitempty"`
}

// Check is one line of an item's evidence checklist, as the records showed
// it when the sample was drawn.
type Check struct {
	Item    string `json:"item"` // proof_documents, acceptance, agreement, receipt
	Present bool   `json:"present"`
	Ref     string `json:"ref,omitempty"` // the record that is the evidence
	Detail  string `json:"detail,omitempty"`
}

// Sample finding results.
const (
	ResultOK    = "ok"    // the evidence holds
	ResultIssue = "issue" // something is missing or wrong: say what in the note
)

// ItemFinding is a reviewer's finding on one sampled item.
type ItemFinding struct {
	Result string    `json:"result"`
	Note   string    `json:"note,omitempty"`
	By     string    `json:"by"`
	At     time.Time `json:"at"`
}

// SubjectFinding is a sample finding as a record of the worker or merchant
// it concerns (SubjectBucket), for their archive (一户一档, 一企一档).
type SubjectFinding struct {
	Subject    string    `json:"subject"` // "worker/<id>" or "merchant/<id>"
	Sample     string    `json:"sample"`
	Item       int       `json:"item"`
	Ref        string    `json:"ref"`
	Population string    `json:"population"`
	Period     string    `json:"period"`
	Result     string    `json:"result"`
	Note       string    `json:"note,omitempty"`
	By         string    `json:"by"`
	At         time.Time `json:"at"`
}
