package archives

import (
	"time"

	"cxt/storage/state"
)

// Buckets.
const (
	Bucket      = "archives"             // subject ID -> Archive: holds and destruction; absent for an archive nobody touched
	UsesBucket  = "archive-uses"         // use ID -> Use
	DestroyBuck = "archive-destructions" // proposal ID -> Proposal
)

// Commands.
const (
	CmdHold           = "archive.hold"            // place a legal hold
	CmdRelease        = "archive.release"         // release a legal hold (not by who placed it)
	CmdUseRequest     = "archive.use_request"     // ask to use an archive's contents
	CmdUseDecide      = "archive.use_decide"      // another person approves or rejects the use
	CmdDestroyPropose = "archive.destroy_propose" // the maker proposes destruction after retention
	CmdDestroyDecide  = "archive.destroy_decide"  // the checker rejects, or approves and the archive is destroyed
	CmdUsed           = "archive.used"            // an approved use read the contents (audited)
)

// Subject kinds.
const (
	KindWorker   = "worker"
	KindMerchant = "merchant"
)

// Archive is what the state keeps of an archive beyond its records.
type Archive struct {
	Subject   string       `json:"subject"`
	Kind      string       `json:"kind"`
	Holds     []Hold       `json:"holds,omitempty"`
	Destroyed *Destruction `json:"destroyed,omitempty"`
}

// Hold is a legal hold (法律保全): while one is in force nothing of the
// archive is destroyed, whatever its retention.
type Hold struct {
	ID         string    `json:"id"`
	Reason     string    `json:"reason"`
	Authority  string    `json:"authority"` // who ordered it: a court, a tax bureau, the platform's counsel, with its reference
	By         string    `json:"by"`
	Placed     time.Time `json:"placed"`
	ReleasedBy string    `json:"released_by,omitempty"`
	Released   time.Time `json:"released,omitzero"`
	ReleaseWhy string    `json:"release_reason,omitempty"`
}

// Active reports whether the hold is in force.
func (h *Hold) Active() bool { return h.Released.IsZero() }

// Destruction is a destroyed archive's record: its certificate's manifest,
// byte for byte as signed.
type Destruction struct {
	Certificate string    `json:"certificate"` // the certificate's number
	Proposal    string    `json:"proposal"`
	At          time.Time `json:"at"`
	Manifest    []byte    `json:"manifest"` // certificate.json: the canonical manifest the platform signs
}

// Decision states of uses and proposals.
const (
	Pending  = "pending"
	Approved = "approved"
	Rejected = "rejected"
	Done     = "destroyed"
)

// UseTTL is how long an approved use lets its requester read the contents.
const UseTTL = 7 * 24 * time.Hour

// Use is a request to use (利用) an archive's contents: its purpose, who
// asked, who decided; approved, it opens the contents to its requester
// until Expires, each read audited.
type Use struct {
	ID        string    `json:"id"`
	Subject   string    `json:"subject"`
	Purpose   string    `json:"purpose"`
	Classes   []string  `json:"classes"`
	By        string    `json:"by"`
	Requested time.Time `json:"requested"`
	Status    string    `json:"status"`
	DecidedBy string    `json:"decided_by,omitempty"`
	Decided   time.Time `json:"decided,omitzero"`
	Note      string    `json:"note,omitempty"`
	Expires   time.Time `json:"expires,omitzero"`
	Reads     int       `json:"reads"`
}

// Proposal is a proposal to destroy an archive.
type Proposal struct {
	ID          string    `json:"id"`
	Subject     string    `json:"subject"`
	Kind        string    `json:"kind"`
	Reason      string    `json:"reason"`
	By          string    `json:"by"`
	Proposed    time.Time `json:"proposed"`
	Due         time.Time `json:"due"` // when retention ended, as the proposal saw it
	Status      string    `json:"status"`
	DecidedBy   string    `json:"decided_by,omitempty"`
	Decided     time.Time `json:"decided,omitzero"`
	Note        string    `json:"note,omitempty"`
	Certificate string    `json:"certificate,omitempty"`
}

// Refusals.
var (
	CodeRetention    = state.NewCode(state.KindConflict, "archive_retention_running")
	CodeHeld         = state.NewCode(state.KindConflict, "archive_on_hold")
	CodeMakerChecker = state.NewCode(state.KindPermission, "archive_maker_checker")
	CodeDestroyed    = state.NewCode(state.KindConflict, "archive_destroyed")
	CodeNotDestroyed = state.NewCode(state.KindNotFound, "archive_not_destroyed")
	CodeStatus       = state.NewCode(state.KindConflict, "archive_request_closed")
	CodeUseRequired  = state.NewCode(state.KindPermission, "archive_use_not_approved")
	CodeNoHold       = state.NewCode(state.KindNotFound, "archive_hold_unknown")
	CodeSubject      = state.NewCode(state.KindNotFound, "archive_unknown")
	CodeProposed     = state.NewCode(state.KindConflict, "archive_destruction_pending")
)
