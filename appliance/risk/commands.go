package risk

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"cxt/crypto/sm"
	"cxt/storage/state"
)

// Buckets.
const (
	JobsBucket    = "risk-jobs"             // job ID -> Job
	CasesBucket   = "risk-cases"            // case ID (from its key) -> Case
	SamplesBucket = "risk-samples"          // sample ID -> Sample
	SubjectBucket = "risk-subject-findings" // "<subject>/<sample>/<item, 4 digits>" -> SubjectFinding: a subject's sample findings, for its archive
	MetaBucket    = "risk-meta"             // "running" -> the ID of the job running, if any
)

// Command types (command set state.RiskSet).
const (
	CmdJobStart      = "risk.job_start"
	CmdJobStep       = "risk.job_step"
	CmdJobEnd        = "risk.job_end"
	CmdCaseAssign    = "risk.case_assign"
	CmdCaseEvidence  = "risk.case_evidence"
	CmdCaseClose     = "risk.case_close"
	CmdSampleDraw    = "risk.sample_draw"
	CmdSampleFinding = "risk.sample_finding"
)

// Refusals besides the general ones.
var (
	CodeRunning      = state.NewCode(state.KindConflict, "inspection_running")
	CodeJobStatus    = state.NewCode(state.KindConflict, "inspection_status")
	CodeCaseStatus   = state.NewCode(state.KindConflict, "case_status")
	CodeCaseAssignee = state.NewCode(state.KindPermission, "case_assignee")
	CodeItemReviewed = state.NewCode(state.KindConflict, "sample_item_reviewed")
	// CodeSampleOpen refuses a second draw of a population and month
	// while an earlier one has items without a finding: a reviewer cannot
	// draw again until the sample suits them (red team).
	CodeSampleOpen = state.NewCode(state.KindConflict, "sample_open")
)

// MaxNote bounds notes and reasons, in characters.
const MaxNote = 2000

var runningKey = []byte("running")

// Register adds the risk buckets and commands.
func Register(reg *state.Registry) {
	for _, b := range []string{JobsBucket, CasesBucket, SamplesBucket, SubjectBucket, MetaBucket} {
		reg.Bucket(b)
	}
	reg.HandleFrom(state.RiskSet, CmdJobStart, jobStart)
	reg.HandleFrom(state.RiskSet, CmdJobStep, jobStep)
	reg.HandleFrom(state.RiskSet, CmdJobEnd, jobEnd)
	reg.HandleFrom(state.RiskSet, CmdCaseAssign, caseAssign)
	reg.HandleFrom(state.RiskSet, CmdCaseEvidence, caseEvidence)
	reg.HandleFrom(state.RiskSet, CmdCaseClose, caseClose)
	reg.HandleFrom(state.RiskSet, CmdSampleDraw, sampleDraw)
	reg.HandleFrom(state.RiskSet, CmdSampleFinding, sampleFinding)
}

// JobStart is the body of CmdJobStart.
type JobStart struct {
	ID      string `json:"id"`
	Period  string `json:"period"`
	Trigger string `json:"trigger"`
	By      string `json:"by"`
}

// jobStart records a job as running: one at a time, each ID once (a
// scheduled job's ID is its day, so two leaders start it once).
func jobStart(tx *state.Tx, cmd *state.Command) ([]byte, error) {
	var in JobStart
	if err := json.Unmarshal(cmd.Body, &in); err != nil || in.ID == "" || in.By == "" || (in.Trigger != TriggerSchedule && in.Trigger != TriggerDemand) {
		return nil, state.Reject(state.InvalidRequest, "a job names its ID, its trigger (schedule or demand) and who starts it")
	}
	if _, _, err := Month(in.Period); err != nil {
		return nil, state.Reject(state.InvalidRequest, "%v", err)
	}
	if prev, err := GetJob(tx, in.ID); err != nil && !state.NotFound.Is(err) {
		return nil, err
	} else if prev != nil {
		return nil, state.Reject(state.Conflict, "inspection %s was started already", in.ID)
	}
	if running, err := tx.Get(MetaBucket, runningKey); err != nil {
		return nil, err
	} else if running != nil {
		return nil, state.Reject(CodeRunning, "inspection %s is running; one runs at a time", running)
	}
	j := &Job{ID: in.ID, Period: in.Period, Trigger: in.Trigger, By: in.By, Status: JobRunning, Started: tx.Time(), Steps: []Step{}}
	if err := tx.Put(MetaBucket, runningKey, []byte(j.ID)); err != nil {
		return nil, err
	}
	return putJSON(tx, JobsBucket, j.ID, j)
}

// JobStep is the body of CmdJobStep: what one detector found.
type JobStep struct {
	Job      string    `json:"job"`
	Step     Step      `json:"step"`
	Findings []Finding `json:"findings"`
}

// jobStep records a detector's findings and opens a case for each anomaly
// that has none: the same kind, subject and period never opens a second.
// A step done already (by a leader before this one) is refused.
func jobStep(tx *state.Tx, cmd *state.Command) ([]byte, error) {
	var in JobStep
	if err := json.Unmarshal(cmd.Body, &in); err != nil || in.Job == "" || !slices.Contains(Detectors, in.Step.Detector) {
		return nil, state.Reject(state.InvalidRequest, "a job step names its job and one of the detectors %v", Detectors)
	}
	j, err := GetJob(tx, in.Job)
	if err != nil {
		return nil, err
	}
	if j.Status != JobRunning || j.Done(in.Step.Detector) {
		return nil, state.Reject(CodeJobStatus, "inspection %s is %s and has run %s: %v", j.ID, j.Status, in.Step.Detector, j.Done(in.Step.Detector))
	}
	now := tx.Time()
	step := in.Step
	step.Findings, step.Opened, step.At = len(in.Findings), 0, now
	for i := range in.Findings {
		f := in.Findings[i]
		if f.Kind != step.Detector || f.Subject == "" || f.Rule == "" {
			return nil, state.Reject(state.InvalidRequest, "finding %d: a %s finding names its subject and rule", i, step.Detector)
		}
		f.Job = j.ID
		id := CaseID(f.Key())
		if prev, err := getJSON[Case](tx, CasesBucket, id); err != nil {
			return nil, err
		} else if prev != nil {
			continue
		}
		c := &Case{ID: id, Key: f.Key(), Kind: f.Kind, Subject: f.Subject, Period: f.Period, Parties: orEmpty(f.Parties), Finding: f,
			Status: CaseOpen, Evidence: []Evidence{}, Opened: now, Updated: now,
			History: []Event{{At: now, By: j.By, Event: "opened", To: CaseOpen, Detail: "inspection " + j.ID + ": " + f.Reason}}}
		if _, err := putJSON(tx, CasesBucket, id, c); err != nil {
			return nil, err
		}
		step.Opened++
	}
	j.Steps = append(j.Steps, step)
	j.Findings += step.Findings
	j.Opened += step.Opened
	if step.Findings > 0 {
		if j.Counts == nil {
			j.Counts = map[string]int{}
		}
		j.Counts[step.Detector] += step.Findings
	}
	if !slices.Contains(j.Policies, step.Policy) {
		j.Policies = append(j.Policies, step.Policy)
	}
	return putJSON(tx, JobsBucket, j.ID, j)
}

// JobEnd is the body of CmdJobEnd.
type JobEnd struct {
	Job   string `json:"job"`
	Error string `json:"error,omitempty"`
}

// jobEnd ends a running job: done when every detector ran, failed with
// the error otherwise.
func jobEnd(tx *state.Tx, cmd *state.Command) ([]byte, error) {
	var in JobEnd
	if err := json.Unmarshal(cmd.Body, &in); err != nil || in.Job == "" {
		return nil, state.Reject(state.InvalidRequest, "a job's end names the job")
	}
	j, err := GetJob(tx, in.Job)
	if err != nil {
		return nil, err
	}
	if j.Status != JobRunning {
		return nil, state.Reject(CodeJobStatus, "inspection %s is %s already", j.ID, j.Status)
	}
	j.Status, j.Ended = JobDone, tx.Time()
	if in.Error != "" || len(j.Steps) != len(Detectors) {
		j.Status, j.Error = JobFailed, clip(in.Error)
		if j.Error == "" {
			j.Error = fmt.Sprintf("ended after %d of %d detectors", len(j.Steps), len(Detectors))
		}
	}
	if err := tx.Delete(MetaBucket, runningKey); err != nil {
		return nil, err
	}
	return putJSON(tx, JobsBucket, j.ID, j)
}

// CaseID names the case of a finding's key.
func CaseID(key string) string {
	h := sm.Sum([]byte(key))
	return "case-" + hex.EncodeToString(h[:10])
}

// Action is a step on a case, as its command asks it.
type Action struct {
	Case     string `json:"case"`
	Reviewer string `json:"reviewer,omitempty"` // assign: the account to assign
	Kind     string `json:"kind,omitempty"`     // evidence
	Ref      string `json:"ref,omitempty"`      // evidence
	Outcome  string `json:"outcome,omitempty"`  // close
	Note     string `json:"note,omitempty"`
	By       string `json:"by"`
}

// Assign moves a case to investigating under a reviewer: an open case, or
// one being investigated by another reviewer. A closed case stays closed.
func Assign(c *Case, a Action, at time.Time) error {
	if a.Reviewer == "" {
		return state.Reject(state.InvalidRequest, "an assignment names the reviewer")
	}
	switch {
	case c.Status == CaseClosed:
		return state.Reject(CodeCaseStatus, "case %s is closed", c.ID)
	case c.Status == CaseInvestigating && c.Reviewer == a.Reviewer:
		return state.Reject(CodeCaseStatus, "case %s is assigned to %s already", c.ID, a.Reviewer)
	}
	ev := Event{At: at, By: a.By, Event: "assigned", From: c.Status, To: CaseInvestigating, Detail: a.Reviewer}
	if c.Reviewer != "" {
		ev.Detail = c.Reviewer + " → " + a.Reviewer
	}
	c.Status, c.Reviewer, c.Updated = CaseInvestigating, a.Reviewer, at
	c.History = append(c.History, ev)
	return nil
}

// Attach adds evidence to a case that is not closed.
func Attach(c *Case, a Action, at time.Time) error {
	switch {
	case !slices.Contains(EvidenceKinds, a.Kind):
		return state.Reject(state.InvalidRequest, "evidence is one of %v", EvidenceKinds)
	case a.Kind == EvidenceNote && strings.TrimSpace(a.Note) == "":
		return state.Reject(state.InvalidRequest, "a note says something")
	case a.Kind != EvidenceNote && a.Ref == "":
		return state.Reject(state.InvalidRequest, "evidence of kind %s names the record (ref)", a.Kind)
	case utf8.RuneCountInString(a.Note) > MaxNote || len(a.Ref) > 200:
		return state.Reject(state.InvalidRequest, "a note is at most %d characters, a ref 200 bytes", MaxNote)
	case c.Status == CaseClosed:
		return state.Reject(CodeCaseStatus, "case %s is closed; its evidence is final", c.ID)
	}
	e := Evidence{N: len(c.Evidence) + 1, Kind: a.Kind, Ref: a.Ref, Note: a.Note, By: a.By, At: at}
	c.Evidence = append(c.Evidence, e)
	c.Updated = at
	c.History = append(c.History, Event{At: at, By: a.By, Event: "evidence", Detail: fmt.Sprintf("%d: %s %s", e.N, e.Kind, e.Ref)})
	return nil
}

// Close decides a case under investigation: by its reviewer, with an
// outcome and a note.
func Close(c *Case, a Action, at time.Time) error {
	switch {
	case !slices.Contains(Outcomes, a.Outcome):
		return state.Reject(state.InvalidRequest, "an outcome is one of %v", Outcomes)
	case strings.TrimSpace(a.Note) == "" || utf8.RuneCountInString(a.Note) > MaxNote:
		return state.Reject(state.InvalidRequest, "closing a case says why, in 1 to %d characters", MaxNote)
	case c.Status != CaseInvestigating:
		return state.Reject(CodeCaseStatus, "case %s is %s; only a case under investigation is closed", c.ID, c.Status)
	case c.Reviewer != a.By:
		return state.Reject(CodeCaseAssignee, "case %s is %s's to close", c.ID, c.Reviewer)
	}
	c.History = append(c.History, Event{At: at, By: a.By, Event: "closed", From: c.Status, To: CaseClosed, Detail: a.Outcome})
	c.Status, c.Outcome, c.Note, c.Closed, c.Updated = CaseClosed, a.Outcome, a.Note, at, at
	return nil
}

func caseAssign(tx *state.Tx, cmd *state.Command) ([]byte, error)   { return onCase(tx, cmd, Assign) }
func caseEvidence(tx *state.Tx, cmd *state.Command) ([]byte, error) { return onCase(tx, cmd, Attach) }
func caseClose(tx *state.Tx, cmd *state.Command) ([]byte, error)    { return onCase(tx, cmd, Close) }

// onCase applies a step to the case as the log orders it: of two racing
// steps, the second meets the case the first left.
func onCase(tx *state.Tx, cmd *state.Command, step func(*Case, Action, time.Time) error) ([]byte, error) {
	var a Action
	if err := json.Unmarshal(cmd.Body, &a); err != nil || a.Case == "" || a.By == "" {
		return nil, state.Reject(state.InvalidRequest, "a case step names the case and who takes it")
	}
	c, err := GetCase(tx, a.Case)
	if err != nil {
		return nil, err
	}
	if err := step(c, a, tx.Time()); err != nil {
		return nil, err
	}
	return putJSON(tx, CasesBucket, c.ID, c)
}

// sampleDraw records a sample the proposer drew (sample.go): every input
// of the draw — the seed, the population's count and digest, the items
// and their checklists — is in the command.
func sampleDraw(tx *state.Tx, cmd *state.Command) ([]byte, error) {
	var s Sample
	if err := json.Unmarshal(cmd.Body, &s); err != nil || s.ID == "" || s.By == "" || len(s.Seed) != 64 {
		return nil, state.Reject(state.InvalidRequest, "a sample names its ID, its seed (32 bytes, hex) and who draws it")
	}
	if s.Population != PopulationTasks && s.Population != PopulationPayments {
		return nil, state.Reject(state.InvalidRequest, "a population is %s or %s", PopulationTasks, PopulationPayments)
	}
	if _, _, err := Month(s.Period); err != nil {
		return nil, state.Reject(state.InvalidRequest, "%v", err)
	}
	if s.Size < 1 || s.Size > MaxSample || len(s.Items) > s.Size || len(s.Items) > s.Count {
		return nil, state.Reject(state.InvalidRequest, "a sample is 1 to %d items of its population", MaxSample)
	}
	if prev, err := getJSON[Sample](tx, SamplesBucket, s.ID); err != nil {
		return nil, err
	} else if prev != nil {
		return nil, state.Reject(state.Conflict, "sample %s is drawn already", s.ID)
	}
	var open *Sample
	if _, err := tx.Scan(SamplesBucket, nil, 1<<31, func(_, v []byte) error {
		var o Sample
		if err := json.Unmarshal(v, &o); err != nil {
			return err
		}
		if o.Population == s.Population && o.Period == s.Period && o.Reviewed < len(o.Items) && open == nil {
			open = &o
		}
		return nil
	}); err != nil {
		return nil, err
	}
	if open != nil {
		return nil, state.Reject(CodeSampleOpen, "sample %s of the %s of %s has %d of %d items reviewed: review every item before drawing another", open.ID, open.Population, open.Period, open.Reviewed, len(open.Items))
	}
	for i := range s.Items {
		s.Items[i].N, s.Items[i].Finding = i+1, nil
	}
	if s.Items == nil {
		s.Items = []Item{}
	}
	s.Reviewed, s.Drawn, s.Method = 0, tx.Time(), Method
	return putJSON(tx, SamplesBucket, s.ID, &s)
}

// ItemReview is the body of CmdSampleFinding.
type ItemReview struct {
	Sample string `json:"sample"`
	Item   int    `json:"item"`
	Result string `json:"result"`
	Note   string `json:"note,omitempty"`
	By     string `json:"by"`
}

// sampleFinding records a reviewer's finding on a sampled item, once, and
// files it under the item's worker and merchant.
func sampleFinding(tx *state.Tx, cmd *state.Command) ([]byte, error) {
	var in ItemReview
	if err := json.Unmarshal(cmd.Body, &in); err != nil || in.Sample == "" || in.By == "" {
		return nil, state.Reject(state.InvalidRequest, "a finding names the sample, the item and who reviewed it")
	}
	switch {
	case in.Result != ResultOK && in.Result != ResultIssue:
		return nil, state.Reject(state.InvalidRequest, "a result is %s or %s", ResultOK, ResultIssue)
	case in.Result == ResultIssue && strings.TrimSpace(in.Note) == "":
		return nil, state.Reject(state.InvalidRequest, "an issue says what is wrong (note)")
	case utf8.RuneCountInString(in.Note) > MaxNote:
		return nil, state.Reject(state.InvalidRequest, "a note is at most %d characters", MaxNote)
	}
	s, err := GetSample(tx, in.Sample)
	if err != nil {
		return nil, err
	}
	if in.Item < 1 || in.Item > len(s.Items) {
		return nil, state.Reject(state.NotFound, "sample %s has no item %d", s.ID, in.Item)
	}
	it := &s.Items[in.Item-1]
	if it.Finding != nil {
		return nil, state.Reject(CodeItemReviewed, "item %d of sample %s was reviewed by %s", it.N, s.ID, it.Finding.By)
	}
	now := tx.Time()
	it.Finding = &ItemFinding{Result: in.Result, Note: in.Note, By: in.By, At: now}
	s.Reviewed++
	for _, subject := range []string{"worker/" + it.Worker, "merchant/" + it.Merchant} {
		rec := SubjectFinding{Subject: subject, Sample: s.ID, Item: it.N, Ref: it.Ref, Population: s.Population, Period: s.Period,
			Result: in.Result, Note: in.Note, By: in.By, At: now}
		if _, err := putJSON(tx, SubjectBucket, SubjectKey(subject, s.ID, it.N), rec); err != nil {
			return nil, err
		}
	}
	return putJSON(tx, SamplesBucket, s.ID, s)
}

// SubjectKey keys a subject's sample finding: by subject first, so a
// subject's findings are one range.
func SubjectKey(subject, sample string, item int) string {
	return fmt.Sprintf("%s/%s/%04d", subject, sample, item)
}

func clip(s string) string {
	if utf8.RuneCountInString(s) <= MaxNote {
		return s
	}
	return string([]rune(s)[:MaxNote])
}

func orEmpty(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func putJSON(tx *state.Tx, bucket, key string, v any) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return b, tx.Put(bucket, []byte(key), b)
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}
