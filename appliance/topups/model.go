package topups

import (
	"time"

	"cxt/appliance/subjects"
)

// Funding is a merchant's funding details: the remittance code issued to
// it. Its payer accounts are records of their own.
type Funding struct {
	Merchant string    `json:"merchant"`
	Code     string    `json:"remittance_code"`
	Opened   time.Time `json:"opened"`
	By       string    `json:"by"`
}

// Payer account statuses.
const (
	PayerPending  = "pending"  // registered, waiting for a platform operator
	PayerActive   = "active"   // confirmed: lines from it are the merchant's
	PayerRejected = "rejected" // refused by the operator; the account is free again
	PayerRemoved  = "removed"  // taken off by an operator; the account is free again
)

// Payer is a bank account a merchant pays its top-ups from. While pending or
// active it holds the account's blind index, so that one account belongs to
// one merchant.
type Payer struct {
	ID         string          `json:"id"`
	Merchant   string          `json:"merchant"`
	Index      []byte          `json:"index"`  // HMAC-SM3 of the account number
	KeyID      uint32          `json:"key_id"` // the merchant key Details is sealed under
	Details    subjects.Sealed `json:"details"`
	Masked     string          `json:"masked"` // the account number's last four digits behind stars
	Status     string          `json:"status"`
	By         string          `json:"registered_by"`
	Registered time.Time       `json:"registered"`
	ReviewedBy string          `json:"reviewed_by,omitempty"`
	Reviewed   time.Time       `json:"reviewed,omitzero"`
	Reason     string          `json:"reason,omitempty"`
}

// PayerDetails are what a payer account's record keeps sealed under the
// merchant's key.
type PayerDetails struct {
	Account string `json:"account"`
	Bank    string `json:"bank"`
	Name    string `json:"name"` // the account's name, normally the company's
}

// PayerAAD names a payer account's sealed details.
func PayerAAD(merchant, id string) string { return "merchant/" + merchant + "/payer/" + id }

// Credit is a statement line credited: the record whose key, the blind
// index of its transaction ID, makes sure no line is credited twice.
type Credit struct {
	Line
	Statement string    `json:"statement"`
	Credited  time.Time `json:"credited"`
	Posting   uint64    `json:"posting"` // the posting that brought it in
	// Merchant is whose it is: at once when recognised, or once a
	// suspense item is matched by hand.
	Merchant  string `json:"merchant,omitempty"`
	MatchedBy string `json:"matched_by,omitempty"`
	Suspense  string `json:"suspense,omitempty"` // its suspense item, if it went there
}

// Statement is an imported statement file: who imported it, how far the
// import has come, and its tallies.
type Statement struct {
	ID       string    `json:"id"`
	Name     string    `json:"name,omitempty"`
	SM3      string    `json:"sm3"`
	Bytes    int       `json:"bytes"`
	Rows     int       `json:"rows"`
	Chunks   int       `json:"chunks"`
	Done     []int     `json:"done"` // chunks applied
	Lines    int       `json:"lines_done"`
	By       string    `json:"by"`
	Started  time.Time `json:"started"`
	Updated  time.Time `json:"updated"`
	Finished time.Time `json:"finished,omitzero"`
	Tallies
}

// Tally counts lines and their money.
type Tally struct {
	Lines int   `json:"lines"`
	Fen   int64 `json:"fen"`
}

// Tallies are a statement's (or an import's) lines by what happened to them.
type Tallies struct {
	Matched   Tally `json:"matched"`
	Suspense  Tally `json:"suspense"`
	Duplicate Tally `json:"duplicate"`
	Skipped   Tally `json:"skipped"`
}

func (t *Tallies) add(rep *LineReport) {
	var to *Tally
	switch rep.Status {
	case LineMatched:
		to = &t.Matched
	case LineSuspense:
		to = &t.Suspense
	case LineDuplicate:
		to = &t.Duplicate
	default:
		to = &t.Skipped
	}
	to.Lines++
	to.Fen += abs(rep.Fen)
}

// What happened to a statement line.
const (
	LineMatched   = "matched"   // credited to its merchant
	LineSuspense  = "suspense"  // credited to suspense, waiting to be matched by hand
	LineDuplicate = "duplicate" // its transaction was imported before: nothing moved
	LineSkipped   = "skipped"   // money going out: not a top-up, nothing moved
)

// LineReport is what one line of an import did.
type LineReport struct {
	Row       int    `json:"row"`
	TxnID     string `json:"txn_id"`
	Fen       int64  `json:"fen"`
	Status    string `json:"status"`
	Merchant  string `json:"merchant,omitempty"`
	MatchedBy string `json:"matched_by,omitempty"`
	// Reason: why a line went to suspense, or "outgoing" for a skipped one.
	Reason     string   `json:"reason,omitempty"`
	Candidates []string `json:"candidates,omitempty"`
	Suspense   string   `json:"suspense,omitempty"`
	// A duplicate's first import: its statement and row.
	FirstStatement string `json:"first_statement,omitempty"`
	FirstRow       int    `json:"first_row,omitempty"`
	Posting        uint64 `json:"posting,omitempty"`
}

// Suspense item statuses.
const (
	SuspenseOpen     = "open"     // waiting for an operator's proposal
	SuspenseProposed = "proposed" // a proposal waits for a second person
	SuspenseMatched  = "matched"  // credited to a merchant by hand
	SuspenseReturned = "returned" // sent back to the payer
)

// What a suspense proposal would do.
const (
	ActMatch  = "match"
	ActReturn = "return"
)

// Suspense is money that came in and is nobody's yet.
type Suspense struct {
	ID         string          `json:"id"`
	Txn        []byte          `json:"txn"` // its Credit's key
	Fen        int64           `json:"fen"`
	Reason     string          `json:"reason"`
	Candidates []string        `json:"candidates,omitempty"`
	Status     string          `json:"status"`
	Proposal   *Proposal       `json:"proposal,omitempty"`
	Proposals  int             `json:"proposals"` // how many were made
	History    []SuspenseEvent `json:"history"`
	Created    time.Time       `json:"created"`
	Posting    uint64          `json:"posting"`           // the credit to suspense
	Settled    uint64          `json:"settled,omitempty"` // the posting that cleared it
}

// Proposal is a maker's proposal for a suspense item, waiting for a
// checker.
type Proposal struct {
	N        int       `json:"n"` // the item's proposal number
	Action   string    `json:"action"`
	Merchant string    `json:"merchant,omitempty"`
	Reason   string    `json:"reason"`
	By       string    `json:"by"`
	At       time.Time `json:"at"`
}

// SuspenseEvent is one step of a suspense item's history.
type SuspenseEvent struct {
	At       time.Time `json:"at"`
	By       string    `json:"by"`
	Event    string    `json:"event"` // proposed, approved, rejected
	Action   string    `json:"action,omitempty"`
	Merchant string    `json:"merchant,omitempty"`
	Reason   string    `json:"reason,omitempty"`
}
