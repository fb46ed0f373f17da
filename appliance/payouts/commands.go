package payouts

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"cxt/appliance/agreements"
	"cxt/appliance/callbacks"
	"cxt/appliance/merchants"
	"cxt/appliance/tax"
	"cxt/appliance/workers"
	"cxt/policy"
	"cxt/storage/state"
)

// Getter is a state transaction, read-only or not.
type Getter interface {
	Get(bucket string, key []byte) ([]byte, error)
}

// Rules are what a payment is decided by besides the records themselves.
// The node fills them in; every replica must be given the same.
type Rules struct {
	Tax *tax.Rules
	// Location is where the platform files VAT for workers, which sets the
	// city maintenance tax rate: city, county or other.
	Location string
	// Channel names the payment channel new payments go to.
	Channel string
	// MonthlyLimitFen bounds what one worker is paid on the platform in a
	// calendar month (risk rule; 0: no limit).
	MonthlyLimitFen int64
	// Task checks that the payment may reference the task: the merchant's,
	// with the worker's work accepted, and returns what the work was
	// accepted for (fen). A *state.Rejection refuses the row with its code
	// (task_not_accepted holds it instead). The payments of one work never
	// add up to more than it was accepted for.
	Task func(tx Getter, task, merchant, worker string) (int64, error)
	// Fee returns the fee the merchant pays on one payment and the fee
	// configuration's version; nil: no fee.
	Fee func(tx Getter, merchant string, at time.Time) (func(fen int64) int64, string, error)
	// Statement returns, for a merchant whose fees are charged after the
	// month (后收) under its configuration in force at t, the fee of a
	// month's payments and the configuration's version; nil: its fees are
	// not charged so.
	Statement func(tx Getter, merchant string, t time.Time) (func(fen []int64) int64, string, error)
	// Reversed, if set, is told of each payment whose money came back
	// (failed or returned), in the command that moved it and after the
	// move: appliance/invoices reverses the invoices covering it. A
	// payment moves so once, so it is told once.
	Reversed func(tx *state.Tx, p *Payment) error
}

// DefaultMonthlyLimitFen is the default per-worker monthly limit: 100,000.00,
// the line above which a worker's month stops being exempt from VAT.
const DefaultMonthlyLimitFen = 100_000_00

// Decision codes of rows refused or held (the payment's Code).
const (
	ReasonWorkerUnknown    = "worker_unknown"
	ReasonWorkerNotLinked  = "worker_not_linked"
	ReasonWorkerUnverified = "worker_unverified"
	ReasonWorkerRestricted = "worker_restricted"
	ReasonAgreement        = "agreement_unsigned"
	ReasonTaskNotAccepted  = "task_not_accepted"
	ReasonBlacklisted      = "risk_blacklisted"
	ReasonMonthlyLimit     = "risk_monthly_limit"
	ReasonMerchant         = "merchant_status"
	ReasonBalance          = "insufficient_balance"
	ReasonOverAccepted     = "task_amount_exceeded"
	ReasonTaxExceeds       = "tax_exceeds_payment"
)

// China is the calendar months and years are counted in.
var China = time.FixedZone("CST", 8*60*60)

// Register adds the payouts' buckets and commands, deciding by rules.
func Register(reg *state.Registry, rules *Rules) {
	for _, b := range []string{BatchBucket, BatchRefs, RowsBucket, PaymentBucket, TaxBucket, MetaBucket, ListBucket, ExecBucket, WorkBucket, RiskBucket} {
		reg.Bucket(b)
	}
	// The indexes and the outbox are IDs under IDs: nothing to seal.
	reg.KeysBucket(IndexBucket)
	reg.KeysBucket(OutboxBucket)
	h := &handlers{rules: rules}
	reg.HandleFrom(state.MoneySet, CmdUpload, h.upload)
	reg.HandleFrom(state.MoneySet, CmdRows, h.rows)
	reg.HandleFrom(state.MoneySet, CmdConfirm, h.confirm)
	reg.HandleFrom(state.MoneySet, CmdExecute, h.execute)
	reg.HandleFrom(state.MoneySet, CmdRelease, h.release)
	reg.HandleFrom(state.MoneySet, CmdCancel, h.cancel)
	reg.HandleFrom(state.MoneySet, CmdSent, h.sent)
	reg.HandleFrom(state.MoneySet, CmdResults, h.results)
	reg.HandleFrom(state.MoneySet, CmdBlock, h.block)
	reg.HandleFrom(state.MoneySet, CmdPreview, h.preview)
	reg.HandleFrom(state.MoneySet, CmdStatement, h.statement)
	reg.HandleFrom(state.MoneySet, CmdDiscard, h.discard)
	reg.HandleFrom(state.RiskSet, CmdRiskClear, riskClear)
}

type handlers struct{ rules *Rules }

// Upload is the body of CmdUpload.
type Upload struct {
	Digest   string `json:"digest,omitempty"` // SM3 of the packed rows, hex
	Batch    string `json:"batch"`
	Merchant string `json:"merchant"`
	Ref      string `json:"ref"`
	Rows     int    `json:"rows"`
	Chunks   int    `json:"chunks"`
	TotalFen int64  `json:"total_fen"`
	By       string `json:"by"`
}

func (h *handlers) upload(tx *state.Tx, cmd *state.Command) ([]byte, error) {
	var in Upload
	if err := json.Unmarshal(cmd.Body, &in); err != nil || in.Batch == "" || in.Merchant == "" || in.Ref == "" {
		return nil, state.Reject(state.InvalidRequest, "an upload names its batch, merchant and reference")
	}
	if in.Rows < 1 || in.Rows > MaxRows || in.Chunks != (in.Rows+ChunkRows-1)/ChunkRows {
		return nil, state.Reject(CodeTooLarge, "a batch holds 1 to %d rows in chunks of %d; this one says %d rows in %d chunks", MaxRows, ChunkRows, in.Rows, in.Chunks)
	}
	m, err := merchants.Get(tx, in.Merchant)
	if err != nil {
		return nil, err
	}
	if m.Status != merchants.Approved {
		return nil, state.Reject(merchants.CodeStatus, "a %s merchant pays no one; it must be approved", m.Status)
	}
	refKey := []byte(in.Merchant + "/" + in.Ref)
	if prev, err := tx.Get(BatchRefs, refKey); err != nil {
		return nil, err
	} else if prev != nil {
		return nil, state.Reject(CodeDuplicate, "merchant %s already uploaded batch %q as %s", in.Merchant, in.Ref, prev)
	}
	if prev, err := tx.Get(BatchBucket, []byte(in.Batch)); err != nil || prev != nil {
		return nil, errors.Join(err, state.Reject(state.Conflict, "batch %s exists", in.Batch))
	}
	b := &Batch{ID: in.Batch, Merchant: in.Merchant, Ref: in.Ref, Status: Uploading, Rows: in.Rows, Chunks: in.Chunks,
		TotalFen: in.TotalFen, By: in.By, Created: tx.Time(), Digest: in.Digest}
	if in.Digest != "" {
		dk := []byte("f/" + in.Merchant + "/" + in.Digest)
		prev, err := tx.Get(BatchRefs, dk)
		if err != nil {
			return nil, err
		}
		if len(prev) > 0 {
			b.DuplicateOf = string(prev)
		} else if err := tx.Put(BatchRefs, dk, []byte(in.Batch)); err != nil {
			return nil, err
		}
	}
	if err := tx.Put(BatchRefs, refKey, []byte(in.Batch)); err != nil {
		return nil, err
	}
	if err := tx.Put(BatchRefs, []byte("b/"+in.Merchant+"/"+in.Batch), nil); err != nil {
		return nil, err
	}
	return putBatch(tx, b)
}

// Chunk is the body of CmdRows and CmdExecute: a batch's chunk, with its
// rows when they are stored.
type Chunk struct {
	Batch string `json:"batch"`
	Chunk int    `json:"chunk"`
	Rows  []byte `json:"rows,omitempty"` // packed
	// Limits are the risk rule's settings the proposer read from the policy
	// in force (data.cxt.risk.payout_limits); nil: the rules' defaults.
	Limits *policy.PayoutLimits `json:"limits,omitempty"`
}

func (h *handlers) rows(tx *state.Tx, cmd *state.Command) ([]byte, error) {
	var in Chunk
	if err := json.Unmarshal(cmd.Body, &in); err != nil {
		return nil, state.Reject(state.InvalidRequest, "rows name their batch and chunk")
	}
	b, err := GetBatch(tx, in.Batch)
	if err != nil {
		return nil, err
	}
	if b.Status != Uploading || in.Chunk != b.Stored {
		return nil, state.Reject(CodeBatchStatus, "batch %s (%s) takes chunk %d next, not %d", b.ID, b.Status, b.Stored, in.Chunk)
	}
	rows, err := unpackRows(in.Rows)
	if err != nil {
		return nil, state.Reject(state.InvalidRequest, "chunk %d of batch %s does not unpack", in.Chunk, b.ID)
	}
	want := min(ChunkRows, b.Rows-in.Chunk*ChunkRows)
	if len(rows) != want {
		return nil, state.Reject(state.InvalidRequest, "chunk %d of batch %s has %d rows, not %d", in.Chunk, b.ID, len(rows), want)
	}
	if err := tx.Put(RowsBucket, chunkKey(b.ID, in.Chunk), in.Rows); err != nil {
		return nil, err
	}
	b.Stored++
	if b.Stored == b.Chunks {
		b.Status = Uploaded
	}
	return putBatch(tx, b)
}

// Confirm is the body of CmdConfirm.
type Confirm struct {
	Batch string `json:"batch"`
	By    string `json:"by"`
}

func (h *handlers) confirm(tx *state.Tx, cmd *state.Command) ([]byte, error) {
	var in Confirm
	if err := json.Unmarshal(cmd.Body, &in); err != nil || in.Batch == "" {
		return nil, state.Reject(state.InvalidRequest, "a confirm names its batch")
	}
	b, err := GetBatch(tx, in.Batch)
	if err != nil {
		return nil, err
	}
	if b.Status != Uploaded {
		return nil, state.Reject(CodeBatchStatus, "batch %s is %s; only an uploaded batch is confirmed, once", b.ID, b.Status)
	}
	b.Status, b.ConfirmedBy, b.Confirmed = Executing, in.By, tx.Time()
	if err := tx.Put(ExecBucket, []byte(b.ID), nil); err != nil {
		return nil, err
	}
	return putBatch(tx, b)
}

func (h *handlers) execute(tx *state.Tx, cmd *state.Command) ([]byte, error) {
	var in Chunk
	if err := json.Unmarshal(cmd.Body, &in); err != nil {
		return nil, state.Reject(state.InvalidRequest, "an execution names its batch and chunk")
	}
	b, err := GetBatch(tx, in.Batch)
	if err != nil {
		return nil, err
	}
	if b.Status != Executing || in.Chunk != b.Done {
		return nil, state.Reject(CodeBatchStatus, "batch %s (%s) runs chunk %d next, not %d", b.ID, b.Status, b.Done, in.Chunk)
	}
	packed, err := tx.Get(RowsBucket, chunkKey(b.ID, in.Chunk))
	if err != nil {
		return nil, err
	}
	rows, err := unpackRows(packed)
	if err != nil {
		return nil, fmt.Errorf("payouts: batch %s chunk %d: %w", b.ID, in.Chunk, err)
	}
	r, err := newRun(h.rules, tx, b.Merchant, in.Limits)
	if err != nil {
		return nil, err
	}
	r.batches[b.ID] = b
	r.prefetch(b.Merchant, rows)
	for _, row := range rows {
		p := &Payment{ID: PaymentID(b.ID, row.No), Batch: b.ID, Row: row.No, Merchant: b.Merchant, Worker: row.Worker,
			Task: row.Task, AmountFen: row.Fen, Created: r.now}
		if err := r.decide(p); err != nil {
			return nil, err
		}
		if err := r.index(p); err != nil {
			return nil, err
		}
	}
	b.Done++
	if b.Done == b.Chunks {
		b.Status, b.Finished = Executed, r.now
		r.notify(b.Merchant, callbacks.EventBatchPrefix+Executed, func() any { return b.view() })
		if err := tx.Delete(ExecBucket, []byte(b.ID)); err != nil {
			return nil, err
		}
	}
	if err := r.finish(CmdExecute, fmt.Sprintf("%s/%d", b.ID, in.Chunk)); err != nil {
		return nil, err
	}
	return json.Marshal(map[string]any{"batch": b.ID, "chunk": in.Chunk, "done": b.Done, "chunks": b.Chunks})
}

// Release is the body of CmdRelease: run a batch's held payments again.
type Release struct {
	Batch  string               `json:"batch"`
	Limits *policy.PayoutLimits `json:"limits,omitempty"`
}

func (h *handlers) release(tx *state.Tx, cmd *state.Command) ([]byte, error) {
	var in Release
	if err := json.Unmarshal(cmd.Body, &in); err != nil || in.Batch == "" {
		return nil, state.Reject(state.InvalidRequest, "a release names its batch")
	}
	b, err := GetBatch(tx, in.Batch)
	if err != nil {
		return nil, err
	}
	if b.Status != Executed {
		return nil, state.Reject(CodeBatchStatus, "batch %s is %s; its holds are released once every chunk ran", b.ID, b.Status)
	}
	r, err := newRun(h.rules, tx, b.Merchant, in.Limits)
	if err != nil {
		return nil, err
	}
	r.batches[b.ID] = b
	released := 0
	var held []*Payment
	err = batchPayments(tx, b.ID, func(p *Payment) error {
		if p.Status == OnHold {
			held = append(held, p)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	for _, p := range held {
		r.count(p, -1)
		p.Status, p.Reason, p.Code = "", "", ""
		if err := r.decide(p); err != nil {
			return nil, err
		}
		if p.Status == Accepted {
			released++
		}
	}
	if err := r.finish(CmdRelease, b.ID); err != nil {
		return nil, err
	}
	return json.Marshal(map[string]any{"batch": b.ID, "held": len(held), "released": released})
}

var errStop = errors.New("stop")

// scanPrefix calls fn with each record of bucket whose key starts with
// prefix, in key order, as the command sees them.
func scanPrefix(tx *state.Tx, bucket, prefix string, fn func(k, v []byte) error) error {
	_, err := tx.Scan(bucket, []byte(prefix), 1<<31, func(k, v []byte) error {
		if !strings.HasPrefix(string(k), prefix) {
			return errStop
		}
		return fn(k, v)
	})
	if errors.Is(err, errStop) {
		return nil
	}
	return err
}

// batchPayments calls fn with each payment of a batch, in row order.
func batchPayments(tx *state.Tx, batch string, fn func(*Payment) error) error {
	return scanPrefix(tx, PaymentBucket, batch+"-", func(_, v []byte) error {
		p, err := unpackPayment(v)
		if err != nil {
			return err
		}
		return fn(p)
	})
}

// Cancel is the body of CmdCancel.
type Cancel struct {
	Payment string `json:"payment"`
	Reason  string `json:"reason"`
}

func (h *handlers) cancel(tx *state.Tx, cmd *state.Command) ([]byte, error) {
	var in Cancel
	if err := json.Unmarshal(cmd.Body, &in); err != nil || in.Payment == "" {
		return nil, state.Reject(state.InvalidRequest, "a cancel names its payment")
	}
	p, err := GetPayment(tx, in.Payment)
	if err != nil {
		return nil, err
	}
	if p.Status != OnHold {
		return nil, state.Reject(CodePayment, "payment %s is %s; only a held payment is cancelled", p.ID, p.Status)
	}
	r := &run{tx: tx, now: tx.Time(), batches: map[string]*Batch{}}
	r.count(p, -1)
	p.Status, p.Reason, p.Updated = Cancelled, in.Reason, r.now
	r.count(p, 1)
	if err := putPayment(tx, p); err != nil {
		return nil, err
	}
	return nil, r.saveBatches()
}

// Block is the body of CmdBlock.
type Block struct {
	Worker  string `json:"worker"`
	Reason  string `json:"reason"`
	Unblock bool   `json:"unblock,omitempty"`
}

func (h *handlers) block(tx *state.Tx, cmd *state.Command) ([]byte, error) {
	var in Block
	if err := json.Unmarshal(cmd.Body, &in); err != nil || in.Worker == "" || (!in.Unblock && in.Reason == "") {
		return nil, state.Reject(state.InvalidRequest, "a blacklist entry names its worker and why")
	}
	key := []byte("block/" + in.Worker)
	if in.Unblock {
		return nil, tx.Delete(ListBucket, key)
	}
	return nil, tx.Put(ListBucket, key, []byte(in.Reason))
}

// GetBatch reads a batch; not_found if there is none.
func GetBatch(tx Getter, id string) (*Batch, error) {
	v, err := tx.Get(BatchBucket, []byte(id))
	if err != nil {
		return nil, err
	}
	if v == nil {
		return nil, state.Reject(state.NotFound, "no payout batch %s", id)
	}
	var b Batch
	if err := json.Unmarshal(v, &b); err != nil {
		return nil, fmt.Errorf("payouts: batch %s: %w", id, err)
	}
	return &b, nil
}

func putBatch(tx *state.Tx, b *Batch) ([]byte, error) {
	v, err := json.Marshal(b)
	if err != nil {
		return nil, err
	}
	return nil, tx.Put(BatchBucket, []byte(b.ID), v)
}

// GetPayment reads a payment; not_found if there is none.
func GetPayment(tx Getter, id string) (*Payment, error) {
	v, err := tx.Get(PaymentBucket, []byte(id))
	if err != nil {
		return nil, err
	}
	if v == nil {
		return nil, state.Reject(state.NotFound, "no payment %s", id)
	}
	return unpackPayment(v)
}

func putPayment(tx *state.Tx, p *Payment) error { return tx.Put(PaymentBucket, []byte(p.ID), p.pack()) }

// Blocked returns why a worker is on the blacklist, "" if not.
func Blocked(tx Getter, worker string) (string, error) {
	v, err := tx.Get(ListBucket, []byte("block/"+worker))
	return string(v), err
}

// nextOutbox appends a payment to the outbox and returns the entry's
// sequence number.
func nextOutbox(tx *state.Tx, payment string) (uint64, error) {
	v, err := tx.Get(MetaBucket, []byte("outbox"))
	if err != nil {
		return 0, err
	}
	var seq uint64
	if len(v) == 8 {
		seq = binary.BigEndian.Uint64(v)
	}
	seq++
	if err := tx.Put(MetaBucket, []byte("outbox"), binary.BigEndian.AppendUint64(nil, seq)); err != nil {
		return 0, err
	}
	return seq, tx.Put(OutboxBucket, outboxKey(seq, payment), nil)
}

// outboxKey is an outbox entry: its sequence number, then the payment.
func outboxKey(seq uint64, payment string) []byte {
	return append(binary.BigEndian.AppendUint64(nil, seq), payment...)
}

// parseOutbox splits an outbox key.
func parseOutbox(k []byte) (uint64, string, bool) {
	if len(k) <= 8 {
		return 0, "", false
	}
	return binary.BigEndian.Uint64(k[:8]), string(k[8:]), true
}

// payeeOf is what the checks found of one worker for one merchant.
type payeeOf struct {
	code, reason string // a refusal or hold; "" if payable
	hold         bool
	agreement    string
	blocked      string // why the worker is on the blacklist; "" if not
	// The identity facts the payout rules decide on (risk.go): the Go
	// checks above hold an unverified or unsigned payee only without them.
	verified                        bool
	idIndex, cardIndex, deviceIndex string
	officer                         bool
}

func checkPayee(tx Getter, merchant, worker string) (payeeOf, error) {
	// Only the fields decided on are decoded: a worker's record carries
	// its sealed private fields, which the checks never need.
	var w struct {
		RealName *struct {
			Status string `json:"status"`
		} `json:"real_name"`
		IDIndex     string `json:"id_index"`
		CardIndex   string `json:"card_index"`
		DeviceIndex string `json:"device_index"`
		// A cancelled or restricted worker (command set 9) is paid nothing
		// new: their data is only stored now (PIPL art. 47 ¶2).
		Cancelled  *json.RawMessage `json:"cancelled"`
		Restricted *json.RawMessage `json:"restricted"`
	}
	v, err := tx.Get(workers.Bucket, []byte(worker))
	if err != nil {
		return payeeOf{}, err
	}
	if v == nil {
		return payeeOf{code: ReasonWorkerUnknown, reason: "no worker " + worker}, nil
	}
	if err := json.Unmarshal(v, &w); err != nil {
		return payeeOf{}, fmt.Errorf("payouts: worker %s: %w", worker, err)
	}
	if w.Cancelled != nil || w.Restricted != nil {
		return payeeOf{code: ReasonWorkerRestricted, reason: "worker " + worker + " cancelled their account or had the processing of their personal information restricted"}, nil
	}
	var l struct {
		Status string `json:"status"`
	}
	if v, err = tx.Get(workers.LinkBucket, workers.LinkKey(merchant, worker)); err != nil {
		return payeeOf{}, err
	}
	if v != nil {
		if err := json.Unmarshal(v, &l); err != nil {
			return payeeOf{}, fmt.Errorf("payouts: link %s/%s: %w", merchant, worker, err)
		}
	}
	if l.Status != workers.Active {
		return payeeOf{code: ReasonWorkerNotLinked, reason: "worker " + worker + " has not joined this merchant"}, nil
	}
	pe := payeeOf{verified: w.RealName != nil && w.RealName.Status == workers.Verified,
		idIndex: w.IDIndex, cardIndex: w.CardIndex, deviceIndex: w.DeviceIndex}
	if pe.agreement, err = agreements.SignedWith(tx, merchant, worker); err != nil {
		return payeeOf{}, err
	}
	switch {
	case !pe.verified:
		pe.code, pe.hold, pe.reason = ReasonWorkerUnverified, true, "worker "+worker+" has not passed real-name verification"
	case pe.agreement == "":
		pe.code, pe.hold, pe.reason = ReasonAgreement, true, "worker "+worker+" has no complete service agreement with this merchant"
	}
	return pe, nil
}

// Discard is the body of CmdDiscard.
type Discard struct {
	Batch string `json:"batch"`
	By    string `json:"by"`
}

// discard drops a batch that was not confirmed — an upload cut off part
// way, or the wrong file: its stored rows go, its reference may be used
// again, its record stays, discarded.
func (h *handlers) discard(tx *state.Tx, cmd *state.Command) ([]byte, error) {
	var in Discard
	if err := json.Unmarshal(cmd.Body, &in); err != nil || in.Batch == "" {
		return nil, state.Reject(state.InvalidRequest, "a discard names its batch")
	}
	b, err := GetBatch(tx, in.Batch)
	if err != nil {
		return nil, err
	}
	if b.Status != Uploading && b.Status != Uploaded {
		return nil, state.Reject(CodeBatchStatus, "batch %s is %s; only a batch not confirmed is discarded", b.ID, b.Status)
	}
	for c := range b.Stored {
		if err := tx.Delete(RowsBucket, chunkKey(b.ID, c)); err != nil {
			return nil, err
		}
	}
	if err := tx.Delete(BatchRefs, []byte(b.Merchant+"/"+b.Ref)); err != nil {
		return nil, err
	}
	if b.Digest != "" {
		dk := []byte("f/" + b.Merchant + "/" + b.Digest)
		if v, err := tx.Get(BatchRefs, dk); err != nil {
			return nil, err
		} else if string(v) == b.ID {
			if err := tx.Delete(BatchRefs, dk); err != nil {
				return nil, err
			}
		}
	}
	b.Status, b.Finished = Discarded, tx.Time()
	return putBatch(tx, b)
}
