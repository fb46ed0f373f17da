package reconcile

import (
	"time"

	"cxt/appliance/ledger"
	"cxt/storage/state"
)

// Buckets.
const (
	StatementsBucket  = "recon-statements"  // statement ID -> Statement
	KeysBucket        = "recon-keys"        // "sm3/<hex>" (a statement with lines), "day/<channel>/<yyyymmdd>" -> statement ID; "fee/<payment>", "missing/<channel>/<ref>" -> case ID
	CasesBucket       = "recon-cases"       // case ID -> Case
	AdjustmentsBucket = "recon-adjustments" // adjustment ID -> Adjustment
	MetaBucket        = "recon-meta"        // "case", "adjustment" -> the last number given
)

// Command types (command set state.FilingSet).
const (
	CmdImport        = "reconcile.import"         // a statement reconciled: its tallies and one case per difference
	CmdFeeCheck      = "reconcile.fee_check"      // fee differences found: one case per payment, once
	CmdCase          = "reconcile.case"           // a case moves: investigate, resolve, close
	CmdAdjustPropose = "reconcile.adjust_propose" // a maker proposes an adjustment
	CmdAdjustDecide  = "reconcile.adjust_decide"  // a checker approves (one posting) or rejects it
	// EventAdjust is the ledger event of an approved adjustment's posting.
	EventAdjust = "reconcile.adjust"
)

// Refusals besides the general ones (docs/errors.md).
var (
	CodeStatementImported = state.NewCode(state.KindConflict, "recon_statement_imported")
	CodeDayImported       = state.NewCode(state.KindConflict, "recon_day_imported")
	CodeDayOpen           = state.NewCode(state.KindConflict, "recon_day_open")
	CodeTooMany           = state.NewCode(state.KindInvalid, "recon_too_many_differences")
	CodeCaseStatus        = state.NewCode(state.KindConflict, "recon_case_status")
	CodeUnbalanced        = state.NewCode(state.KindInvalid, "recon_adjustment_unbalanced")
	CodeAccount           = state.NewCode(state.KindInvalid, "recon_adjustment_account")
	CodeAdjustmentStatus  = state.NewCode(state.KindConflict, "recon_adjustment_status")
	CodeMakerChecker      = state.NewCode(state.KindPermission, "maker_checker")
)

// Limits.
const (
	// MaxDifferences bounds one statement's differences: more is the wrong
	// file (another channel's, another day's), refused whole.
	MaxDifferences = 5_000
	// MaxFeeDifferences bounds one fee check's.
	MaxFeeDifferences = 5_000
	maxAdjustLines    = 20
	maxText           = 500 // reasons, notes, explanations, in characters
)

// Statement is an imported channel statement: its file, and what the
// reconciliation found.
type Statement struct {
	ID       string        `json:"id"` // rs-<channel>-<yyyymmdd>
	Channel  string        `json:"channel"`
	Day      Day           `json:"day"`
	Name     string        `json:"name,omitempty"`
	SM3      string        `json:"sm3"`
	Bytes    int           `json:"bytes"`
	Lines    int           `json:"lines"`
	TotalFen int64         `json:"total_fen"`
	Expected int           `json:"expected"` // the platform's payments settled that day
	Matched  int           `json:"matched"`
	Classes  map[Class]int `json:"classes"`
	Cases    []string      `json:"cases"` // one per difference, in the order found
	By       string        `json:"by"`
	At       time.Time     `json:"at"`
}

// Case kinds.
const (
	KindChannel = "channel" // a statement's difference
	KindFee     = "fee"     // a payment's booked fee is not what the billing rules make
)

// FeeClass is a fee case's class.
const FeeClass Class = "fee"

// Case states.
const (
	Open          = "open"
	Investigating = "investigating"
	Resolved      = "resolved" // by an adjustment, or an explanation
	Closed        = "closed"   // no correction: explained away
)

// Case actions (CmdCase).
const (
	ActInvestigate = "investigate"
	ActResolve     = "resolve"
	ActClose       = "close"
)

// Case is one difference, worked to an end (差错处理).
type Case struct {
	ID        string `json:"id"` // rc-000001
	Kind      string `json:"kind"`
	Class     Class  `json:"class"`
	Status    string `json:"status"`
	Statement string `json:"statement,omitempty"`
	Channel   string `json:"channel,omitempty"`
	Day       Day    `json:"day,omitempty"`
	Period    string `json:"period,omitempty"` // a fee case's month, yyyy-mm
	Difference
	Fee *FeeDifference `json:"fee,omitempty"`
	// Adjustment is the adjustment proposed for the case (while one waits)
	// or the one that resolved it; Explanation why it was resolved or
	// closed otherwise.
	Adjustment  string      `json:"adjustment,omitempty"`
	Explanation string      `json:"explanation,omitempty"`
	History     []CaseEvent `json:"history"`
	Created     time.Time   `json:"created"`
	Updated     time.Time   `json:"updated"`
}

// CaseEvent is one step of a case's history.
type CaseEvent struct {
	At     time.Time `json:"at"`
	By     string    `json:"by"`
	Event  string    `json:"event"` // opened, investigate, resolve, close, adjustment_proposed, adjustment_rejected, adjustment_approved
	From   string    `json:"from,omitempty"`
	To     string    `json:"to,omitempty"`
	Note   string    `json:"note,omitempty"`
	Adjust string    `json:"adjustment,omitempty"`
}

// Final reports whether a case is at an end.
func (c *Case) Final() bool { return c.Status == Resolved || c.Status == Closed }

// Adjustment states.
const (
	Proposed = "proposed"
	Approved = "approved"
	Rejected = "rejected"
)

// Adjustment is a correction of the books (调账): one balanced posting a
// maker proposes and a checker approves.
type Adjustment struct {
	ID       string        `json:"id"` // adj-000001
	Case     string        `json:"case"`
	Lines    []ledger.Line `json:"lines"`
	Reason   string        `json:"reason"`
	Status   string        `json:"status"`
	By       string        `json:"by"`
	Proposed time.Time     `json:"proposed"`
	// The checker's decision.
	DecidedBy string    `json:"decided_by,omitempty"`
	Decided   time.Time `json:"decided,omitzero"`
	Note      string    `json:"note,omitempty"`
	Posting   uint64    `json:"posting,omitempty"`
}
