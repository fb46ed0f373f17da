package topups

import (
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"cxt/appliance/ledger"
	"cxt/appliance/merchants"
	"cxt/appliance/subjects"
	"cxt/storage/state"
)

// Buckets.
const (
	FundingBucket    = "topup-funding"         // merchant ID -> Funding
	CodesBucket      = "topup-codes"           // remittance code -> merchant ID
	PayersBucket     = "topup-payers"          // payer ID -> Payer
	PayerIndexBucket = "topup-payer-index"     // blind index of an account number -> payer ID (pending or active)
	CreditsBucket    = "topup-credits"         // blind index of a transaction ID -> Credit
	StatementsBucket = "topup-statements"      // statement ID -> Statement
	ReportsBucket    = "topup-statement-lines" // statement ID "/" row (4 bytes) -> LineReport
	SuspenseBucket   = "topup-suspense"        // item ID -> Suspense
	MerchantBucket   = "topup-merchant"        // merchant ID "/" posting (8 bytes) -> the Credit's key
)

// Command types (command set 4).
const (
	CmdOpen            = "topup.open"
	CmdPayerRegister   = "topup.payer_register"
	CmdPayerReview     = "topup.payer_review"
	CmdImport          = "topup.import"
	CmdSuspensePropose = "topup.suspense_propose"
	CmdSuspenseDecide  = "topup.suspense_decide"
)

// Refusals besides the general ones.
var (
	CodePayerTaken     = state.NewCode(state.KindConflict, "payer_account_taken")
	CodePayerStatus    = state.NewCode(state.KindConflict, "payer_account_status")
	CodeSuspenseStatus = state.NewCode(state.KindConflict, "suspense_status")
	CodeMakerChecker   = state.NewCode(state.KindPermission, "maker_checker")
	CodeAmountMismatch = state.NewCode(state.KindConflict, "amount_mismatch")
	codeMerchantStatus = state.NewCode(state.KindConflict, "merchant_status")
)

// MaxChunk bounds the lines of one import command; the API proposes
// ChunkLines at a time.
const (
	MaxChunk   = 5000
	ChunkLines = 2000
)

// FeeAtTopUp charges a merchant's service fee when a top-up is credited,
// for a merchant whose fee configuration charges before the work is paid
// (预收, on each top-up's amount). It runs inside the command that credits
// the top-up (event: topup.import or topup.suspense_decide), after the
// credit is posted, and books its own posting (Dr the merchant, Cr
// ledger.FeeIncome, cause fee) with ledger.Post; for a merchant charged
// otherwise it posts nothing. An error refuses the whole command: nothing of
// it is applied. The node composes it from package billing; nil charges
// nothing.
type FeeAtTopUp func(tx *state.Tx, event, merchant string, fen int64, ref string) error

// Register adds the buckets and commands; fee, if not nil, charges fees
// at top-up.
func Register(reg *state.Registry, fee FeeAtTopUp) {
	for _, b := range []string{FundingBucket, CodesBucket, PayersBucket, PayerIndexBucket, CreditsBucket,
		StatementsBucket, ReportsBucket, SuspenseBucket, MerchantBucket} {
		reg.Bucket(b)
	}
	h := &handlers{fee: fee}
	reg.HandleFrom(state.MoneySet, CmdOpen, open)
	reg.HandleFrom(state.MoneySet, CmdPayerRegister, registerPayer)
	reg.HandleFrom(state.MoneySet, CmdPayerReview, reviewPayer)
	reg.HandleFrom(state.MoneySet, CmdImport, h.importChunk)
	reg.HandleFrom(state.MoneySet, CmdSuspensePropose, proposeSuspense)
	reg.HandleFrom(state.MoneySet, CmdSuspenseDecide, h.decideSuspense)
}

type handlers struct{ fee FeeAtTopUp }

// Open is the body of CmdOpen.
type Open struct {
	Merchant string `json:"merchant"`
	By       string `json:"by"`
}

// approved reads a merchant and refuses one that is not approved.
func approved(tx *state.Tx, id, doing string) (*merchants.Merchant, error) {
	m, err := merchants.Get(tx, id)
	if err != nil {
		return nil, err
	}
	if m.Status != merchants.Approved {
		return nil, state.Reject(codeMerchantStatus, "a %s merchant cannot %s; only an approved one", m.Status, doing)
	}
	return m, nil
}

// open issues a merchant's remittance code, once: the first of its
// candidate codes no other merchant holds. Opening again answers the same.
func open(tx *state.Tx, cmd *state.Command) ([]byte, error) {
	var o Open
	if err := json.Unmarshal(cmd.Body, &o); err != nil || o.Merchant == "" || o.By == "" {
		return nil, state.Reject(state.InvalidRequest, "opening funding names the merchant and who opens it")
	}
	if f, err := GetFunding(tx, o.Merchant); err != nil || f != nil {
		return mustJSON(f), err
	}
	if _, err := approved(tx, o.Merchant, "be funded"); err != nil {
		return nil, err
	}
	for n := range 64 {
		code := candidateCode(o.Merchant, n)
		if held, err := tx.Get(CodesBucket, []byte(code)); err != nil {
			return nil, err
		} else if held != nil {
			continue
		}
		f := &Funding{Merchant: o.Merchant, Code: code, Opened: tx.Time(), By: o.By}
		if err := tx.Put(CodesBucket, []byte(code), []byte(o.Merchant)); err != nil {
			return nil, err
		}
		return putJSON(tx, FundingBucket, []byte(o.Merchant), f)
	}
	return nil, state.Reject(state.Conflict, "no free remittance code for merchant %s", o.Merchant)
}

// PayerRegistration is the body of CmdPayerRegister: the proposer sealed
// the details under the merchant's key and computed the account's index.
type PayerRegistration struct {
	ID       string          `json:"id"`
	Merchant string          `json:"merchant"`
	Index    []byte          `json:"index"`
	KeyID    uint32          `json:"key_id"`
	Details  subjects.Sealed `json:"details"`
	Masked   string          `json:"masked"`
	By       string          `json:"by"`
}

func registerPayer(tx *state.Tx, cmd *state.Command) ([]byte, error) {
	var p PayerRegistration
	if err := json.Unmarshal(cmd.Body, &p); err != nil || p.ID == "" || p.Merchant == "" || len(p.Index) == 0 || len(p.Details) == 0 || p.By == "" {
		return nil, state.Reject(state.InvalidRequest, "a payer account names its ID, merchant, index, sealed details and who registers it")
	}
	if _, err := approved(tx, p.Merchant, "register payer accounts"); err != nil {
		return nil, err
	}
	if err := subjects.Require(tx, p.Merchant, p.KeyID); err != nil {
		return nil, err
	}
	if held, err := tx.Get(PayerIndexBucket, p.Index); err != nil {
		return nil, err
	} else if held != nil {
		return nil, state.Reject(CodePayerTaken, "this account is registered already (one account pays for one merchant only)")
	}
	if old, err := tx.Get(PayersBucket, []byte(p.ID)); err != nil || old != nil {
		if err == nil {
			err = state.Reject(state.Conflict, "payer account %s exists", p.ID)
		}
		return nil, err
	}
	rec := &Payer{ID: p.ID, Merchant: p.Merchant, Index: p.Index, KeyID: p.KeyID, Details: p.Details, Masked: p.Masked,
		Status: PayerPending, By: p.By, Registered: tx.Time()}
	if err := tx.Put(PayerIndexBucket, p.Index, []byte(p.ID)); err != nil {
		return nil, err
	}
	return putJSON(tx, PayersBucket, []byte(p.ID), rec)
}

// Payer review decisions.
const (
	DecideConfirm = "confirm"
	DecideReject  = "reject"
	DecideRemove  = "remove"
)

// PayerReview is the body of CmdPayerReview.
type PayerReview struct {
	ID       string `json:"id"`
	Merchant string `json:"merchant"`
	Decision string `json:"decision"`
	Reason   string `json:"reason,omitempty"`
	By       string `json:"by"`
}

// reviewPayer confirms a pending payer account (never by who registered
// it), rejects it, or removes an active one; the last two free the account.
func reviewPayer(tx *state.Tx, cmd *state.Command) ([]byte, error) {
	var r PayerReview
	if err := json.Unmarshal(cmd.Body, &r); err != nil || r.ID == "" || r.By == "" {
		return nil, state.Reject(state.InvalidRequest, "a payer account review names the account and the reviewer")
	}
	p, err := GetPayer(tx, r.ID)
	if err != nil {
		return nil, err
	}
	if p.Merchant != r.Merchant {
		return nil, state.Reject(state.NotFound, "merchant %s has no payer account %s", r.Merchant, r.ID)
	}
	from := p.Status
	switch {
	case r.Decision == DecideConfirm && from == PayerPending:
		if r.By == p.By {
			return nil, state.Reject(CodeMakerChecker, "who registered a payer account does not confirm it")
		}
		p.Status = PayerActive
	case r.Decision == DecideReject && from == PayerPending, r.Decision == DecideRemove && from == PayerActive:
		if strings.TrimSpace(r.Reason) == "" {
			return nil, state.Reject(state.InvalidRequest, "to %s a payer account, say why", r.Decision)
		}
		p.Status = map[string]string{DecideReject: PayerRejected, DecideRemove: PayerRemoved}[r.Decision]
		if err := tx.Delete(PayerIndexBucket, p.Index); err != nil {
			return nil, err
		}
	case r.Decision != DecideConfirm && r.Decision != DecideReject && r.Decision != DecideRemove:
		return nil, state.Reject(state.InvalidRequest, "decision %q is not confirm, reject or remove", r.Decision)
	default:
		return nil, state.Reject(CodePayerStatus, "a %s payer account cannot be %s", from, pastTense[r.Decision])
	}
	p.ReviewedBy, p.Reviewed, p.Reason = r.By, tx.Time(), r.Reason
	return putJSON(tx, PayersBucket, []byte(p.ID), p)
}

var pastTense = map[string]string{DecideConfirm: "confirmed", DecideReject: "rejected", DecideRemove: "removed"}

// ImportChunk is the body of CmdImport: some lines of one statement, with
// the blind indexes the proposer computed.
type ImportChunk struct {
	Statement StatementHead `json:"statement"`
	Chunk     int           `json:"chunk"` // 0-based
	Lines     []InLine      `json:"lines"`
}

// StatementHead is what every chunk of a statement says about its file.
type StatementHead struct {
	ID     string `json:"id"`
	Name   string `json:"name,omitempty"`
	SM3    string `json:"sm3"`
	Bytes  int    `json:"bytes"`
	Rows   int    `json:"rows"`
	Chunks int    `json:"chunks"`
	By     string `json:"by"`
}

// InLine is a statement line as an import command carries it.
type InLine struct {
	Line
	Txn         []byte `json:"txn"`             // HMAC-SM3 of the transaction ID
	Payer       []byte `json:"payer,omitempty"` // HMAC-SM3 of the payer account, if any
	DuplicateOf int    `json:"duplicate_of,omitempty"`
}

// ImportResult is what a chunk did.
type ImportResult struct {
	Statement *Statement   `json:"statement"`
	Lines     []LineReport `json:"lines"`
}

// importChunk credits a chunk of a statement's lines: each transaction
// once (a line whose transaction was credited before, by any statement, is
// a duplicate and moves nothing), to its merchant when recognised, to
// suspense otherwise. Outgoing lines are skipped. The chunk applies whole
// or not at all.
func (h *handlers) importChunk(tx *state.Tx, cmd *state.Command) ([]byte, error) {
	var c ImportChunk
	if err := json.Unmarshal(cmd.Body, &c); err != nil {
		return nil, state.Reject(state.InvalidRequest, "topup.import: %v", err)
	}
	head := c.Statement
	if head.ID == "" || head.By == "" || head.Chunks < 1 || c.Chunk < 0 || c.Chunk >= head.Chunks || len(c.Lines) > MaxChunk {
		return nil, state.Reject(state.InvalidRequest, "an import chunk names its statement, who imports it, its place among at most %d chunks and at most %d lines", head.Chunks, MaxChunk)
	}
	now := tx.Time()
	st, err := GetStatement(tx, head.ID)
	if err != nil {
		return nil, err
	}
	if st == nil {
		st = &Statement{ID: head.ID, Name: head.Name, SM3: head.SM3, Bytes: head.Bytes, Rows: head.Rows, Chunks: head.Chunks,
			Done: []int{}, By: head.By, Started: now}
	}
	if st.SM3 != head.SM3 || st.Chunks != head.Chunks || st.By != head.By {
		return nil, state.Reject(state.InvalidRequest, "chunk %d does not belong to statement %s", c.Chunk, st.ID)
	}
	if slices.Contains(st.Done, c.Chunk) {
		return nil, state.Reject(state.Conflict, "chunk %d of statement %s was imported already", c.Chunk, st.ID)
	}
	rec := &recogniser{tx: tx, status: map[string]bool{}, offices: map[string]string{}}
	out := ImportResult{Lines: make([]LineReport, 0, len(c.Lines))}
	for i := range c.Lines {
		rep, err := h.importLine(tx, rec, st.ID, &c.Lines[i])
		if err != nil {
			return nil, err
		}
		st.Tallies.add(rep)
		key := binary.BigEndian.AppendUint32([]byte(st.ID+"/"), uint32(rep.Row))
		if _, err := putJSON(tx, ReportsBucket, key, rep); err != nil {
			return nil, err
		}
		out.Lines = append(out.Lines, *rep)
	}
	if err := rec.credits.feed(tx, rec.offices); err != nil {
		return nil, err
	}
	st.Done = append(st.Done, c.Chunk)
	slices.Sort(st.Done)
	st.Lines += len(c.Lines)
	st.Updated = now
	if len(st.Done) == st.Chunks {
		st.Finished = now
	}
	if _, err := putJSON(tx, StatementsBucket, []byte(st.ID), st); err != nil {
		return nil, err
	}
	out.Statement = st
	return json.Marshal(out)
}

func (h *handlers) importLine(tx *state.Tx, rec *recogniser, statement string, l *InLine) (*LineReport, error) {
	rep := &LineReport{Row: l.Row, TxnID: l.TxnID, Fen: l.Fen}
	switch {
	case l.Fen <= 0:
		rep.Status, rep.Reason = LineSkipped, "outgoing"
		return rep, nil
	case len(l.Txn) == 0:
		return nil, state.Reject(state.InvalidRequest, "row %d has no transaction index", l.Row)
	case l.DuplicateOf > 0:
		rep.Status, rep.FirstStatement, rep.FirstRow = LineDuplicate, statement, l.DuplicateOf
		return rep, nil
	}
	if prev, err := getCredit(tx, l.Txn); err != nil {
		return nil, err
	} else if prev != nil {
		rep.Status, rep.FirstStatement, rep.FirstRow = LineDuplicate, prev.Statement, prev.Row
		return rep, nil
	}
	merchant, by, reason, candidates, err := rec.recognise(l)
	if err != nil {
		return nil, err
	}
	credit := &Credit{Line: l.Line, Statement: statement, Credited: tx.Time()}
	ref := statement + "/" + strconv.Itoa(l.Row)
	to := ledger.Suspense
	if merchant != "" {
		to = ledger.Merchant(merchant)
	}
	p := &ledger.Posting{Event: CmdImport, Ref: ref, Lines: []ledger.Line{
		{Account: ledger.Bank, Debit: true, Fen: l.Fen, Cause: ledger.CauseTopUp},
		{Account: to, Fen: l.Fen, Cause: ledger.CauseTopUp},
	}}
	if err := ledger.Post(tx, p); err != nil {
		return nil, err
	}
	credit.Posting, rep.Posting = p.Seq, p.Seq
	if merchant != "" {
		credit.Merchant, credit.MatchedBy = merchant, by
		rep.Status, rep.Merchant, rep.MatchedBy = LineMatched, merchant, by
		if err := h.credited(tx, CmdImport, merchant, l.Fen, ref, p.Seq, l.Txn, &rec.credits); err != nil {
			return nil, err
		}
	} else {
		item := &Suspense{ID: SuspenseID(l.Txn), Txn: l.Txn, Fen: l.Fen, Reason: reason, Candidates: candidates,
			Status: SuspenseOpen, History: []SuspenseEvent{}, Created: tx.Time(), Posting: p.Seq}
		if _, err := putJSON(tx, SuspenseBucket, []byte(item.ID), item); err != nil {
			return nil, err
		}
		credit.Suspense = item.ID
		rep.Status, rep.Reason, rep.Candidates, rep.Suspense = LineSuspense, reason, candidates, item.ID
	}
	if _, err := putJSON(tx, CreditsBucket, l.Txn, credit); err != nil {
		return nil, err
	}
	return rep, nil
}

// credited lists a top-up under its merchant and charges a fee due at
// top-up.
// Each credit joins the command's batch for the bureaus' feed (credits),
// which the command appends when it ends.
func (h *handlers) credited(tx *state.Tx, event, merchant string, fen int64, ref string, posting uint64, txn []byte, batch *credits) error {
	if err := tx.Put(MerchantBucket, MerchantKey(merchant, posting), txn); err != nil {
		return err
	}
	batch.add(merchant, creditFact{Amount: ledger.Yuan(fen), Ref: ref, Posting: posting})
	if h.fee != nil {
		return h.fee(tx, event, merchant, fen, ref)
	}
	return nil
}

// MerchantKey is a top-up's key in MerchantBucket: in posting order.
func MerchantKey(merchant string, posting uint64) []byte {
	return binary.BigEndian.AppendUint64([]byte(merchant+"/"), posting)
}

// SuspenseID names the suspense item of a transaction, from its index.
func SuspenseID(txn []byte) string { return "sus-" + hex.EncodeToString(txn[:min(len(txn), 8)]) }

// recogniser finds whom a line points at, caching merchants' statuses for
// the chunk.
type recogniser struct {
	tx      *state.Tx
	status  map[string]bool   // merchant -> approved
	offices map[string]string // merchant -> its tax office, for the feed
	credits credits           // the chunk's credits, for the feed
}

func (r *recogniser) recognise(l *InLine) (merchant, by, reason string, candidates []string, err error) {
	var account string
	if len(l.Payer) > 0 {
		if account, err = payerMerchant(r.tx, l.Payer); err != nil {
			return
		}
	}
	var codes []string
	for _, code := range CodesIn(l.Memo) {
		m, err := r.tx.Get(CodesBucket, []byte(code))
		if err != nil {
			return "", "", "", nil, err
		}
		if m != nil && !slices.Contains(codes, string(m)) {
			codes = append(codes, string(m))
		}
	}
	merchant, by, reason, candidates = Recognise(account, codes)
	if merchant == "" {
		return
	}
	ok, seen := r.status[merchant]
	if !seen {
		m, err := merchants.Get(r.tx, merchant)
		if err != nil {
			return "", "", "", nil, err
		}
		ok = m.Status == merchants.Approved
		r.status[merchant], r.offices[merchant] = ok, m.TaxOffice
	}
	if !ok {
		return "", "", ReasonInactive, []string{merchant}, nil
	}
	return
}

// payerMerchant is the merchant an active payer account with this index
// is registered to, or "".
func payerMerchant(tx getter, index []byte) (string, error) {
	id, err := tx.Get(PayerIndexBucket, index)
	if err != nil || id == nil {
		return "", err
	}
	p, err := GetPayer(tx, string(id))
	if err != nil || p.Status != PayerActive {
		return "", err
	}
	return p.Merchant, nil
}

// SuspenseProposal is the body of CmdSuspensePropose: a maker proposes
// what to do with a suspense item, restating its amount.
type SuspenseProposal struct {
	Item     string `json:"item"`
	Action   string `json:"action"`
	Merchant string `json:"merchant,omitempty"`
	Fen      int64  `json:"fen"`
	Reason   string `json:"reason"`
	By       string `json:"by"`
}

func proposeSuspense(tx *state.Tx, cmd *state.Command) ([]byte, error) {
	var p SuspenseProposal
	if err := json.Unmarshal(cmd.Body, &p); err != nil || p.Item == "" || p.By == "" || strings.TrimSpace(p.Reason) == "" {
		return nil, state.Reject(state.InvalidRequest, "a suspense proposal names the item, who proposes and why")
	}
	item, err := GetSuspense(tx, p.Item)
	if err != nil {
		return nil, err
	}
	if item.Status != SuspenseOpen {
		return nil, state.Reject(CodeSuspenseStatus, "suspense item %s is %s; only an open item takes a proposal", item.ID, item.Status)
	}
	if p.Fen != item.Fen {
		return nil, state.Reject(CodeAmountMismatch, "suspense item %s holds %s, not %s", item.ID, ledger.Yuan(item.Fen), ledger.Yuan(p.Fen))
	}
	switch p.Action {
	case ActMatch:
		if _, err := approved(tx, p.Merchant, "be credited"); err != nil {
			return nil, err
		}
	case ActReturn:
		if p.Merchant != "" {
			return nil, state.Reject(state.InvalidRequest, "a return names no merchant")
		}
	default:
		return nil, state.Reject(state.InvalidRequest, "action %q is not match or return", p.Action)
	}
	now := tx.Time()
	item.Proposals++
	item.Proposal = &Proposal{N: item.Proposals, Action: p.Action, Merchant: p.Merchant, Reason: p.Reason, By: p.By, At: now}
	item.Status = SuspenseProposed
	item.History = append(item.History, SuspenseEvent{At: now, By: p.By, Event: "proposed", Action: p.Action, Merchant: p.Merchant, Reason: p.Reason})
	return putJSON(tx, SuspenseBucket, []byte(item.ID), item)
}

// SuspenseDecision is the body of CmdSuspenseDecide: a checker approves or
// rejects the proposal they were shown (its number).
type SuspenseDecision struct {
	Item     string `json:"item"`
	Proposal int    `json:"proposal"`
	Approve  bool   `json:"approve"`
	Reason   string `json:"reason,omitempty"`
	By       string `json:"by"`
}

// decideSuspense carries out or turns down a proposal: never by its maker,
// once (the item leaves "proposed"), and only the proposal the checker saw.
func (h *handlers) decideSuspense(tx *state.Tx, cmd *state.Command) ([]byte, error) {
	var d SuspenseDecision
	if err := json.Unmarshal(cmd.Body, &d); err != nil || d.Item == "" || d.By == "" {
		return nil, state.Reject(state.InvalidRequest, "a suspense decision names the item and who decides")
	}
	item, err := GetSuspense(tx, d.Item)
	if err != nil {
		return nil, err
	}
	p := item.Proposal
	if item.Status != SuspenseProposed || p == nil {
		return nil, state.Reject(CodeSuspenseStatus, "suspense item %s is %s: there is no proposal to decide", item.ID, item.Status)
	}
	if p.N != d.Proposal {
		return nil, state.Reject(CodeSuspenseStatus, "the proposal for suspense item %s changed since it was shown (now number %d)", item.ID, p.N)
	}
	if d.By == p.By {
		return nil, state.Reject(CodeMakerChecker, "who proposed a suspense %s does not approve or reject it", p.Action)
	}
	now := tx.Time()
	ev := SuspenseEvent{At: now, By: d.By, Action: p.Action, Merchant: p.Merchant, Reason: d.Reason}
	if !d.Approve {
		if strings.TrimSpace(d.Reason) == "" {
			return nil, state.Reject(state.InvalidRequest, "to reject a proposal, say why")
		}
		ev.Event = "rejected"
		item.Status, item.Proposal = SuspenseOpen, nil
		item.History = append(item.History, ev)
		return putJSON(tx, SuspenseBucket, []byte(item.ID), item)
	}
	ev.Event = "approved"
	credit, err := getCredit(tx, item.Txn)
	if err != nil {
		return nil, err
	}
	if credit == nil {
		return nil, fmt.Errorf("topups: suspense item %s has no credited line", item.ID)
	}
	posting := &ledger.Posting{Event: CmdSuspenseDecide, Ref: item.ID}
	switch p.Action {
	case ActMatch:
		if _, err := approved(tx, p.Merchant, "be credited"); err != nil {
			return nil, err
		}
		posting.Lines = []ledger.Line{
			{Account: ledger.Suspense, Debit: true, Fen: item.Fen, Cause: ledger.CauseTopUp},
			{Account: ledger.Merchant(p.Merchant), Fen: item.Fen, Cause: ledger.CauseTopUp},
		}
		item.Status = SuspenseMatched
	case ActReturn:
		posting.Lines = []ledger.Line{
			{Account: ledger.Suspense, Debit: true, Fen: item.Fen, Cause: ledger.CauseReturn},
			{Account: ledger.Bank, Fen: item.Fen, Cause: ledger.CauseReturn},
		}
		item.Status = SuspenseReturned
	}
	if err := ledger.Post(tx, posting); err != nil {
		return nil, err
	}
	item.Settled = posting.Seq
	item.History = append(item.History, ev)
	if p.Action == ActMatch {
		credit.Merchant, credit.MatchedBy = p.Merchant, ByHand
		if _, err := putJSON(tx, CreditsBucket, item.Txn, credit); err != nil {
			return nil, err
		}
		var batch credits
		if err := h.credited(tx, CmdSuspenseDecide, p.Merchant, item.Fen, item.ID, posting.Seq, item.Txn, &batch); err != nil {
			return nil, err
		}
		if err := batch.feed(tx, nil); err != nil {
			return nil, err
		}
	}
	return putJSON(tx, SuspenseBucket, []byte(item.ID), item)
}

func putJSON(tx *state.Tx, bucket string, key []byte, v any) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return b, tx.Put(bucket, key, b)
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}
