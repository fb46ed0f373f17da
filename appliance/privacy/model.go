package privacy

import (
	"time"

	"cxt/appliance/subjects"
	"cxt/storage/state"
)

// Buckets.
const (
	Bucket   = "privacy-requests"    // worker ID/request ID -> Request
	IDBucket = "privacy-request-ids" // request ID -> worker ID
)

// Command types (command set 9).
const (
	CmdFile   = "privacy.file"
	CmdDecide = "privacy.decide"
	CmdCancel = "privacy.cancel"
)

// Refusals besides the general ones.
var (
	CodeStatus    = state.NewCode(state.KindConflict, "privacy_request_status")
	CodeOpen      = state.NewCode(state.KindConflict, "privacy_request_open")
	CodeField     = state.NewCode(state.KindInvalid, "privacy_field_fixed")
	CodeCancelled = state.NewCode(state.KindConflict, "worker_cancelled")
	CodeInFlight  = state.NewCode(state.KindConflict, "payment_in_flight")
	// CodeRetention refuses a deletion decided on a node with no retention
	// rule wired: nothing is erased blind.
	CodeRetention = state.NewCode(state.KindConflict, "retention_unknown")
)

// Kinds of request.
const (
	Correction = "correction" // PIPL art. 46
	Deletion   = "deletion"   // PIPL art. 47
)

// Statuses of a request.
const (
	Open       = "open"       // filed, waiting for a platform operator
	Done       = "done"       // corrected, or erased (with its destruction certificate)
	Refused    = "refused"    // refused, with a reason
	Restricted = "restricted" // a deletion the law's retention defers: only storage and security meanwhile
	Erasing    = "erasing"    // a deletion under way: the archives' destruction finishes it
)

// Outcomes an operator decides.
const (
	Apply  = "apply"
	Refuse = "refuse"
)

// Fields a correction may change.
const (
	FieldName     = "name"
	FieldBankCard = "bank_card"
	FieldIDNumber = "id_number" // refused: see the package doc
	FieldPhone    = "phone"     // refused: see the package doc
)

// Correctable lists the fields a correction may change.
var Correctable = []string{FieldBankCard, FieldName}

// Window is how long the platform has to answer a request (PIPL art. 50
// asks for a timely answer; GB/T 35273 §8.7 sets 30 days).
const Window = 30 * 24 * time.Hour

// Deadline is when a request filed at filed is due.
func Deadline(filed time.Time) time.Time { return filed.Add(Window) }

// Notice is an explanation to the person, in Chinese and English.
type Notice struct {
	ZH string `json:"zh"`
	EN string `json:"en"`
}

// Request is a worker's correction or deletion request.
type Request struct {
	ID     string   `json:"id"`
	Worker string   `json:"worker"`
	Kind   string   `json:"kind"`
	Fields []string `json:"fields,omitempty"` // a correction's, sorted
	// Values are a correction's new values (a Values), sealed under the
	// worker's key KeyID for RequestAAD.
	KeyID  uint32          `json:"key_id,omitempty"`
	Values subjects.Sealed `json:"values,omitempty"`
	Status string          `json:"status"`
	Filed  time.Time       `json:"filed"`
	Due    time.Time       `json:"due"`
	By     string          `json:"by"` // the account that filed, or cancelled
	// Cancellation marks the deletion an account cancellation filed.
	Cancellation bool      `json:"cancellation,omitempty"`
	Decided      time.Time `json:"decided,omitzero"`
	DecidedBy    string    `json:"decided_by,omitempty"`
	Reason       string    `json:"reason,omitempty"` // a refusal's
	// A deletion kept under a retention: until when, on what basis, and
	// what the person is told.
	Until  time.Time `json:"until,omitzero"`
	Basis  string    `json:"basis,omitempty"`
	Notice *Notice   `json:"notice,omitempty"`
	// Certificate is the destruction certificate that finished a deletion.
	Certificate string    `json:"certificate,omitempty"`
	Completed   time.Time `json:"completed,omitzero"`
}

// Values are a correction's new values, as sealed.
type Values struct {
	Name     string `json:"name,omitempty"`
	BankCard string `json:"bank_card,omitempty"`
}

// RequestAAD binds a correction's sealed values to their request.
func RequestAAD(worker, id string) string { return "worker/" + worker + "/privacy/" + id }

// Key is a request's key in Bucket: by worker first, so each worker's are
// one range.
func Key(worker, id string) []byte { return []byte(worker + "/" + id) }

// Overdue reports whether the request is still open past its due date.
func (q *Request) Overdue(now time.Time) bool { return q.Status == Open && now.After(q.Due) }

// Retention is the legal retention of a worker's data, as the archives
// compute it from the state (appliance/archives' Backend.Retention): until
// when it must be kept and on what basis; until at or before now means
// nothing holds it. It runs in the state machine: deterministic, only
// reading tx; a refusal it returns is a state.Rejection, any other error
// stops the node.
type Retention func(tx *state.Tx, worker string, now time.Time) (until time.Time, basis string, err error)

// Decision is the body of CmdDecide.
type Decision struct {
	Request string `json:"request"`
	Outcome string `json:"outcome"` // apply or refuse
	Reason  string `json:"reason,omitempty"`
	By      string `json:"by"`
	// A correction applied: the worker's record re-sealed by the proposer
	// (see workers.Amendment).
	KeyID     uint32          `json:"key_id,omitempty"`
	Private   subjects.Sealed `json:"private,omitempty"`
	Base      string          `json:"base,omitempty"`
	CardIndex []byte          `json:"card_index,omitempty"`
}

// Cancel is the body of CmdCancel: the worker cancels their account, which
// files a deletion request (Request) as GB/T 35273 §8.5 asks.
type Cancel struct {
	Worker  string `json:"worker"`
	By      string `json:"by"`
	Request string `json:"request"` // the deletion request's ID
}
