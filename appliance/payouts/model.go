package payouts

import (
	"time"

	"cxt/policy"
	"cxt/storage/state"
)

// Buckets.
const (
	BatchBucket   = "payout-batches"   // batch ID -> Batch (JSON)
	BatchRefs     = "payout-refs"      // "<merchant>/<ref>" -> batch ID: a merchant's reference is used once; "b/<merchant>/<batch>" -> "" lists its batches
	RowsBucket    = "payout-rows"      // "<batch>/<chunk, 4 bytes>" -> packed rows
	PaymentBucket = "payments"         // payment ID ("<batch>-<row, 6 digits>") -> packed Payment
	IndexBucket   = "payment-index"    // "w/<worker>/<payment>", "t/<task>/<payment>": keys only
	TaxBucket     = "payout-tax"       // "<worker>/<year>" -> packed withholding state
	OutboxBucket  = "payout-outbox"    // sequence (8 bytes) + payment ID: keys only; accepted, not yet with the channel
	MetaBucket    = "payout-meta"      // "outbox" -> last outbox sequence; "cursor/<channel>" -> the channel's result cursor
	ListBucket    = "payout-lists"     // "block/<worker>" -> reason: the platform's blacklist
	ExecBucket    = "payout-executing" // batch ID -> "": confirmed batches with chunks to run
	WorkBucket    = "payout-work"      // "<task>/<worker>" -> fen paid (booked, not reversed) for that work
)

// Command types (command set 4).
const (
	CmdUpload  = "payout.upload"  // a batch's header
	CmdRows    = "payout.rows"    // one chunk of its rows
	CmdConfirm = "payout.confirm" // the merchant confirms: execution may start
	CmdExecute = "payout.execute" // execute one chunk
	CmdSent    = "payout.sent"    // the channel took payments
	CmdResults = "payout.results" // the channel reported results
	CmdRelease = "payout.release" // run a batch's held payments again
	CmdCancel  = "payout.cancel"  // cancel a held payment
	CmdBlock   = "payout.block"   // put a worker on the blacklist, or take them off
	CmdDiscard = "payout.discard" // drop a batch not confirmed: its rows, and its reference for use again
)

// Refusals besides the general ones.
var (
	CodeDuplicate   = state.NewCode(state.KindConflict, "batch_duplicate")
	CodeBatchStatus = state.NewCode(state.KindConflict, "batch_status")
	CodeTooLarge    = state.NewCode(state.KindInvalid, "batch_too_large")
	CodeBadRow      = state.NewCode(state.KindInvalid, "batch_row_invalid")
	CodePayment     = state.NewCode(state.KindConflict, "payment_status")
	// CodeUnknownRef refuses a channel's results that name a payment it
	// was never handed (command set 8 on).
	CodeUnknownRef = state.NewCode(state.KindInvalid, "result_unknown_ref")
)

// MaxRows is the most rows one batch holds; ChunkRows how many one chunk
// command executes.
const (
	MaxRows   = 100_000
	ChunkRows = 2_000
)

// Batch statuses.
const (
	Uploading = "uploading" // rows arriving
	Uploaded  = "uploaded"  // every row stored: preview, then confirm
	Executing = "executing" // confirmed; chunks running
	Executed  = "executed"  // every chunk ran (payments go on with the channel)
	Discarded = "discarded" // dropped before its confirm; its reference may be used again
)

// Batch is a payout batch's header and progress.
type Batch struct {
	ID       string `json:"id"`
	Merchant string `json:"merchant"`
	Ref      string `json:"ref"` // the merchant's own reference, unique per merchant
	Status   string `json:"status"`
	Rows     int    `json:"rows"`
	Chunks   int    `json:"chunks"`
	Stored   int    `json:"stored"`    // chunks stored
	Done     int    `json:"done"`      // chunks executed
	TotalFen int64  `json:"total_fen"` // sum of the rows' amounts
	// Digest is the SM3 of the rows as stored; DuplicateOf names an earlier
	// batch of the merchant with the very same rows (a file uploaded twice
	// under two references), which the preview and the confirm show.
	Digest      string    `json:"digest,omitempty"`
	DuplicateOf string    `json:"duplicate_of,omitempty"`
	By          string    `json:"by"`
	Created     time.Time `json:"created"`
	// Confirmed is set by the confirm.
	ConfirmedBy string    `json:"confirmed_by,omitempty"`
	Confirmed   time.Time `json:"confirmed,omitzero"`
	Finished    time.Time `json:"finished,omitzero"`
	// Counts by the payments' current status, and their amounts.
	Counts map[Status]int   `json:"counts,omitempty"`
	Sums   map[Status]int64 `json:"sums,omitempty"`
}

// Tenancy is the batch as the policy sees it: its merchant's.
func (b *Batch) Tenancy() policy.Resource {
	return policy.Resource{Label: 1, Owner: b.Merchant, Tenanted: true, Merchants: []string{b.Merchant}}
}

// Row is one payment asked for: who, how much, for which task.
type Row struct {
	No     int    `json:"row"`
	Worker string `json:"worker"`
	Task   string `json:"task"`
	Fen    int64  `json:"-"`
	Amount string `json:"amount"`
	Memo   string `json:"memo,omitempty"`
}

// Status is where a payment is.
type Status string

// The statuses. Rejected, Cancelled, Paid, Failed and Returned are final
// (Paid until a return arrives).
const (
	Rejected  Status = "rejected"  // the checks refused it; nothing was booked
	OnHold    Status = "on_hold"   // 挂单: waits (balance, agreement…); nothing booked; release or cancel
	Cancelled Status = "cancelled" // a hold the merchant gave up
	Accepted  Status = "accepted"  // booked: merchant → worker payable; waits in the outbox
	Submitted Status = "submitted" // the channel took it: worker payable → clearing
	Paid      Status = "paid"      // the channel paid it: clearing → bank
	Failed    Status = "failed"    // the channel could not pay: reversed to the merchant
	Returned  Status = "returned"  // 退汇: paid, then came back: reversed to the merchant
)

// Final reports whether a payment stays where it is (a paid one may still
// come back).
func (s Status) Final() bool {
	switch s {
	case Rejected, Cancelled, Paid, Failed, Returned:
		return true
	}
	return false
}

// Payment is one payment's record: the row, what was decided and computed,
// and where it is with the channel.
type Payment struct {
	ID         string
	Batch      string
	Row        int
	Merchant   string
	Worker     string
	Task       string
	Agreement  string // the tripartite agreement the payment rests on
	Status     Status
	Reason     string // why rejected, held, failed or returned
	Code       string // the reason's stable code
	AmountFen  int64  // what the merchant pays the worker, tax included
	FeeFen     int64  // the platform's fee on top
	IITFen     int64  // individual income tax withheld
	VATFen     int64  // VAT withheld
	SurFen     int64  // surcharges withheld
	NetFen     int64  // what reaches the worker: amount − taxes
	Month      int    // yyyymm the withholding counted it in
	RuleSet    string // the tax rule set
	FeeRule    string // the fee configuration version, "" for none
	Posting    uint64 // the posting that booked it
	Channel    string
	ChannelRef string // the channel's own reference, once it took it
	Outbox     uint64 // its outbox entry's sequence number, while accepted; once paid, the bank's if it gave one
	Created    time.Time
	Updated    time.Time
	// Risk is the payout rules' decision on the row, from command set
	// state.RiskSet on; nil before.
	Risk *Risk
}

// Tenancy is the payment as the policy sees it: its merchant's and its
// worker's.
func (p *Payment) Tenancy() policy.Resource {
	return policy.Resource{Label: 1, Owner: p.Merchant, Tenanted: true, Merchants: []string{p.Merchant}, Worker: p.Worker}
}
