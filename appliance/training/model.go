package training

import (
	"slices"
	"time"

	"cxt/policy"
	"cxt/storage/state"
)

// Buckets.
const (
	CourseBucket = "training-courses" // course ID -> Course
	RecordBucket = "training-records" // worker ID -> Record: the worker's enrolments
	MetaBucket   = "training-meta"    // "certificates" -> the last certificate sequence (8 bytes)
)

// Command types (command set state.ArchivesSet).
const (
	CmdCourse   = "training.course"   // a platform operator writes a course (a draft)
	CmdStatus   = "training.status"   // a course published or retired
	CmdMaterial = "training.material" // a material stored in the blob store added to a course
	CmdEnrol    = "training.enrol"    // a worker enrolled, by a merchant or by themself
	CmdResult   = "training.result"   // an enrolment's result recorded
)

// Refusals.
var (
	CodeNotOpen     = state.NewCode(state.KindConflict, "training_course_not_open")
	CodeNotYours    = state.NewCode(state.KindNotFound, "training_worker_not_yours")
	CodeEnrolled    = state.NewCode(state.KindConflict, "training_enrolled")
	CodeNotEnrolled = state.NewCode(state.KindNotFound, "training_not_enrolled")
	CodeCompleted   = state.NewCode(state.KindConflict, "training_completed")
	CodeNotPassed   = state.NewCode(state.KindConflict, "training_not_passed")
	CodeStatus      = state.NewCode(state.KindConflict, "training_course_status")
)

// Course statuses.
const (
	Draft     = "draft"
	Published = "published"
	Retired   = "retired"
)

// Limits.
const (
	MaxMaterials = 20
	MaxTitle     = 100
	MaxText      = 4000
)

// Course is a course in the state.
type Course struct {
	ID          string     `json:"id"`
	Title       string     `json:"title"`
	Description string     `json:"description"`
	Category    string     `json:"category,omitempty"` // a task category it teaches, or "" (general)
	RequiredFor []string   `json:"required_for"`       // task categories whose workers need it
	PassMark    int        `json:"pass_mark"`          // 0-100
	Status      string     `json:"status"`
	Materials   []Material `json:"materials"`
	By          string     `json:"by"`
	Created     time.Time  `json:"created"`
	Published   time.Time  `json:"published,omitzero"`
	Retired     time.Time  `json:"retired,omitzero"`
}

// Material is a course's document or video in the blob store.
type Material struct {
	ID       string    `json:"id"`
	Name     string    `json:"name"`
	Type     string    `json:"type"` // sniffed from its bytes
	Size     int64     `json:"size"`
	SM3      string    `json:"sm3"`
	By       string    `json:"by"`
	Uploaded time.Time `json:"uploaded"`
}

// Enrolment statuses.
const (
	Enrolled = "enrolled"
	Passed   = "passed"
	Failed   = "failed"
)

// Enrolment is a worker on a course and its result.
type Enrolment struct {
	Course   string    `json:"course"`
	Worker   string    `json:"worker"`
	Merchant string    `json:"merchant,omitempty"` // the enrolling merchant; "" when the worker enrolled themself
	By       string    `json:"by"`                 // the account that enrolled
	Status   string    `json:"status"`
	Enrolled time.Time `json:"enrolled"`
	// The latest result: its score, the course's pass mark then, who
	// recorded it and when; Attempts counts results recorded.
	Score       *int      `json:"score,omitempty"`
	PassMark    int       `json:"pass_mark"`
	Attempts    int       `json:"attempts"`
	RecordedBy  string    `json:"recorded_by,omitempty"`
	Completed   time.Time `json:"completed,omitzero"`
	Certificate string    `json:"certificate,omitempty"` // its number, once passed
}

// Tenancy is the enrolment as the policy sees it: the worker's, and the
// enrolling merchant's — not every merchant the worker is linked to.
func (e *Enrolment) Tenancy() policy.Resource {
	r := policy.Resource{Label: 1, Owner: e.Worker + "/" + e.Course, Tenanted: true, Worker: e.Worker}
	if e.Merchant != "" {
		r.Merchants = []string{e.Merchant}
	}
	return r
}

// Record is all of a worker's enrolments, in the order they were made.
type Record struct {
	Worker     string      `json:"worker"`
	Enrolments []Enrolment `json:"enrolments"`
}

// find returns the index of the worker's enrolment on course, or -1.
func (r *Record) find(course string) int {
	return slices.IndexFunc(r.Enrolments, func(e Enrolment) bool { return e.Course == course })
}
