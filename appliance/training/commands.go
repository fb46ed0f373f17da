package training

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"cxt/appliance/tasks"
	"cxt/appliance/workers"
	"cxt/storage/blob"
	"cxt/storage/state"
)

// Register adds the training's buckets and commands.
func Register(reg *state.Registry) {
	reg.Bucket(CourseBucket)
	reg.Bucket(RecordBucket)
	reg.Bucket(MetaBucket)
	reg.HandleFrom(state.ArchivesSet, CmdCourse, course)
	reg.HandleFrom(state.ArchivesSet, CmdStatus, status)
	reg.HandleFrom(state.ArchivesSet, CmdMaterial, material)
	reg.HandleFrom(state.ArchivesSet, CmdEnrol, enrol)
	reg.HandleFrom(state.ArchivesSet, CmdResult, result)
}

// CourseIn is the body of CmdCourse.
type CourseIn struct {
	ID          string   `json:"id"`
	Title       string   `json:"title"`
	Description string   `json:"description"`
	Category    string   `json:"category,omitempty"`
	RequiredFor []string `json:"required_for"`
	PassMark    int      `json:"pass_mark"`
	By          string   `json:"by"`
}

// Check refuses a course that breaks a rule of its own; the message names
// the field.
func (c *CourseIn) Check() (field string, err error) {
	switch {
	case strings.TrimSpace(c.Title) == "" || utf8.RuneCountInString(c.Title) > MaxTitle:
		return "title", fmt.Errorf("title: 1 to %d characters", MaxTitle)
	case utf8.RuneCountInString(c.Description) > MaxText:
		return "description", fmt.Errorf("description: at most %d characters", MaxText)
	case c.Category != "" && !slices.Contains(tasks.Categories, c.Category):
		return "category", fmt.Errorf("category: a task category (%s) or none", strings.Join(tasks.Categories, ", "))
	case c.PassMark < 0 || c.PassMark > 100:
		return "pass_mark", fmt.Errorf("pass_mark: 0 to 100")
	}
	seen := map[string]bool{}
	for _, cat := range c.RequiredFor {
		if !slices.Contains(tasks.Categories, cat) || seen[cat] {
			return "required_for", fmt.Errorf("required_for: task categories (%s), each once", strings.Join(tasks.Categories, ", "))
		}
		seen[cat] = true
	}
	return "", nil
}

func course(tx *state.Tx, cmd *state.Command) ([]byte, error) {
	var in CourseIn
	if err := json.Unmarshal(cmd.Body, &in); err != nil || in.ID == "" || in.By == "" {
		return nil, state.Reject(state.InvalidRequest, "a course names its ID and author")
	}
	if _, err := in.Check(); err != nil {
		return nil, state.Reject(state.InvalidRequest, "%v", err)
	}
	if prev, err := tx.Get(CourseBucket, []byte(in.ID)); err != nil {
		return nil, err
	} else if prev != nil {
		return nil, state.Reject(state.Conflict, "course %s exists", in.ID)
	}
	c := &Course{ID: in.ID, Title: strings.TrimSpace(in.Title), Description: in.Description, Category: in.Category,
		RequiredFor: slices.Clone(in.RequiredFor), PassMark: in.PassMark, Status: Draft, Materials: []Material{}, By: in.By, Created: tx.Time()}
	if c.RequiredFor == nil {
		c.RequiredFor = []string{}
	}
	slices.Sort(c.RequiredFor)
	return putCourse(tx, c)
}

// StatusIn is the body of CmdStatus.
type StatusIn struct {
	Course string `json:"course"`
	To     string `json:"to"` // published or retired
	By     string `json:"by"`
}

func status(tx *state.Tx, cmd *state.Command) ([]byte, error) {
	var in StatusIn
	if err := json.Unmarshal(cmd.Body, &in); err != nil || in.Course == "" {
		return nil, state.Reject(state.InvalidRequest, "a course status change names its course")
	}
	c, err := GetCourse(tx, in.Course)
	if err != nil {
		return nil, err
	}
	switch {
	case in.To == Published && c.Status == Draft:
		c.Published = tx.Time()
	case in.To == Retired && c.Status == Published:
		c.Retired = tx.Time()
	default:
		return nil, state.Reject(CodeStatus, "course %s is %s: a draft is published, a published course retired", c.ID, c.Status)
	}
	c.Status = in.To
	return putCourse(tx, c)
}

// MaterialIn is the body of CmdMaterial: a material already in the blob
// store.
type MaterialIn struct {
	Course   string   `json:"course"`
	Material Material `json:"material"`
}

func material(tx *state.Tx, cmd *state.Command) ([]byte, error) {
	var in MaterialIn
	if err := json.Unmarshal(cmd.Body, &in); err != nil || in.Course == "" || in.Material.SM3 == "" || in.Material.Size <= 0 {
		return nil, state.Reject(state.InvalidRequest, "a material names its course, its size and its SM3")
	}
	if err := blob.CheckID(in.Material.ID); err != nil {
		return nil, state.Reject(state.InvalidRequest, "%v", err)
	}
	c, err := GetCourse(tx, in.Course)
	if err != nil {
		return nil, err
	}
	if c.Status == Retired {
		return nil, state.Reject(CodeStatus, "course %s is retired", c.ID)
	}
	if len(c.Materials) >= MaxMaterials {
		return nil, state.Reject(state.InvalidRequest, "a course holds at most %d materials", MaxMaterials)
	}
	m := in.Material
	m.Uploaded = tx.Time()
	c.Materials = append(c.Materials, m)
	return putCourse(tx, c)
}

// EnrolIn is the body of CmdEnrol.
type EnrolIn struct {
	Course   string `json:"course"`
	Worker   string `json:"worker"`
	Merchant string `json:"merchant,omitempty"` // the caller's merchant; "" for a worker enrolling themself
	By       string `json:"by"`
}

func enrol(tx *state.Tx, cmd *state.Command) ([]byte, error) {
	var in EnrolIn
	if err := json.Unmarshal(cmd.Body, &in); err != nil || in.Course == "" || in.Worker == "" || in.By == "" {
		return nil, state.Reject(state.InvalidRequest, "an enrolment names its course, its worker and who enrolled")
	}
	c, err := GetCourse(tx, in.Course)
	if err != nil {
		return nil, err
	}
	if c.Status != Published {
		return nil, state.Reject(CodeNotOpen, "course %s is %s: only a published course takes enrolments", c.ID, c.Status)
	}
	w, err := workers.Get(tx, in.Worker)
	if state.NotFound.Is(err) || (err == nil && in.Merchant != "" && !slices.Contains(w.Merchants, in.Merchant)) {
		// Another merchant's worker is as absent as one that never was.
		return nil, state.Reject(CodeNotYours, "merchant %s has no worker %s", in.Merchant, in.Worker)
	} else if err != nil {
		return nil, err
	}
	if err := w.Usable(); err != nil { // a cancelled or restricted worker is enrolled in nothing new
		return nil, err
	}
	rec, err := getRecord(tx, in.Worker)
	if err != nil {
		return nil, err
	}
	if i := rec.find(c.ID); i >= 0 {
		return nil, state.Reject(CodeEnrolled, "worker %s is enrolled on course %s already (%s)", in.Worker, c.ID, rec.Enrolments[i].Status)
	}
	e := Enrolment{Course: c.ID, Worker: in.Worker, Merchant: in.Merchant, By: in.By, Status: Enrolled, Enrolled: tx.Time(), PassMark: c.PassMark}
	rec.Enrolments = append(rec.Enrolments, e)
	if err := putRecord(tx, rec); err != nil {
		return nil, err
	}
	return json.Marshal(e)
}

// ResultIn is the body of CmdResult.
type ResultIn struct {
	Course   string `json:"course"`
	Worker   string `json:"worker"`
	Score    int    `json:"score"`
	Merchant string `json:"merchant,omitempty"` // the recording merchant; "" for a platform operator
	By       string `json:"by"`
}

func result(tx *state.Tx, cmd *state.Command) ([]byte, error) {
	var in ResultIn
	if err := json.Unmarshal(cmd.Body, &in); err != nil || in.Course == "" || in.Worker == "" || in.By == "" {
		return nil, state.Reject(state.InvalidRequest, "a result names its course, its worker and who recorded it")
	}
	if in.Score < 0 || in.Score > 100 {
		return nil, state.Reject(state.InvalidRequest, "score: 0 to 100")
	}
	if w, err := workers.Get(tx, in.Worker); err != nil {
		return nil, err
	} else if err := w.Usable(); err != nil { // a cancelled or restricted worker gets no new result (or certificate)
		return nil, err
	}
	rec, err := getRecord(tx, in.Worker)
	if err != nil {
		return nil, err
	}
	i := rec.find(in.Course)
	if i < 0 || (in.Merchant != "" && rec.Enrolments[i].Merchant != in.Merchant) {
		// A merchant records results only of the enrolments it made.
		return nil, state.Reject(CodeNotEnrolled, "worker %s is not enrolled on course %s by %s", in.Worker, in.Course, or(in.Merchant, "anyone"))
	}
	e := &rec.Enrolments[i]
	if e.Status == Passed {
		return nil, state.Reject(CodeCompleted, "worker %s passed course %s already (certificate %s)", in.Worker, in.Course, e.Certificate)
	}
	c, err := GetCourse(tx, in.Course)
	if err != nil {
		return nil, err
	}
	score := in.Score
	e.Score, e.PassMark, e.RecordedBy, e.Completed = &score, c.PassMark, in.By, tx.Time()
	e.Attempts++
	e.Status = Failed
	if score >= c.PassMark {
		e.Status = Passed
		if e.Certificate, err = nextCertificate(tx); err != nil {
			return nil, err
		}
	}
	if err := putRecord(tx, rec); err != nil {
		return nil, err
	}
	return json.Marshal(e)
}

// China is the time zone certificates are dated in.
var China = time.FixedZone("CST", 8*60*60)

// nextCertificate draws the next certificate number: the day and a
// sequence the state machine keeps, the same on every replica.
func nextCertificate(tx *state.Tx) (string, error) {
	v, err := tx.Get(MetaBucket, []byte("certificates"))
	if err != nil {
		return "", err
	}
	var n uint64
	if len(v) == 8 {
		n = binary.BigEndian.Uint64(v)
	}
	n++
	if err := tx.Put(MetaBucket, []byte("certificates"), binary.BigEndian.AppendUint64(nil, n)); err != nil {
		return "", err
	}
	return fmt.Sprintf("TRC-%s-%06d", tx.Time().In(China).Format("20060102"), n), nil
}

func or(s, alt string) string {
	if s == "" {
		return alt
	}
	return s
}

// Getter is a state transaction, read-only or not.
type Getter = state.Getter

// GetCourse reads a course; not_found if there is none.
func GetCourse(tx Getter, id string) (*Course, error) {
	v, err := state.GetJSON[Course](tx, CourseBucket, []byte(id))
	if err != nil || v != nil {
		return v, err
	}
	return nil, state.Reject(state.NotFound, "no course %s", id)
}

// GetEnrolment reads a worker's enrolment on a course; not_found
// (training_not_enrolled) if there is none.
func GetEnrolment(tx Getter, course, worker string) (*Enrolment, error) {
	rec, err := getRecord(tx, worker)
	if err != nil {
		return nil, err
	}
	i := rec.find(course)
	if i < 0 {
		return nil, state.Reject(CodeNotEnrolled, "worker %s is not enrolled on course %s", worker, course)
	}
	return &rec.Enrolments[i], nil
}

// ForWorker returns a worker's enrolments with their dates (enrolled,
// completed), oldest first: what the archives index per worker. get is a
// state transaction's Get; a worker with none has an empty list.
func ForWorker(get func(bucket string, key []byte) ([]byte, error), worker string) ([]Enrolment, error) {
	rec, err := getRecord(getFunc(get), worker)
	if err != nil {
		return nil, err
	}
	return rec.Enrolments, nil
}

type getFunc func(bucket string, key []byte) ([]byte, error)

func (f getFunc) Get(bucket string, key []byte) ([]byte, error) { return f(bucket, key) }

func getRecord(tx Getter, worker string) (*Record, error) {
	rec, err := state.GetJSON[Record](tx, RecordBucket, []byte(worker))
	if err != nil || rec != nil {
		return rec, err
	}
	return &Record{Worker: worker, Enrolments: []Enrolment{}}, nil
}

func putRecord(tx *state.Tx, rec *Record) error {
	_, err := state.PutJSON(tx, RecordBucket, []byte(rec.Worker), rec)
	return err
}

func putCourse(tx *state.Tx, c *Course) ([]byte, error) {
	return state.PutJSON(tx, CourseBucket, []byte(c.ID), c)
}
