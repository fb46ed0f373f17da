package payouts

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"cxt/appliance/callbacks"
	"cxt/appliance/ledger"
	"cxt/appliance/merchants"
	"cxt/appliance/tax"
	"cxt/policy"
	"cxt/storage/state"
)

// run decides and books payments inside one command. It reads each
// worker's checks and withholding once, keeps the merchant's balance as it
// goes, and writes the withholding, the batches and one aggregated posting
// when the command ends (finish).
type run struct {
	rules *Rules
	tx    *state.Tx
	now   time.Time
	month int // yyyymm in China
	rs    *tax.RuleSet
	// actual: a month that ends carries what was withheld in it, not the
	// engine's tax (withholding.withhold), from command set 8 on.
	actual   bool
	merchant *merchants.Merchant
	// available is the merchant's balance as the rows so far left it.
	available int64
	fee       func(int64) int64
	feeRule   string
	payees    map[string]payeeOf      // each worker's checks and blacklist entry, read once per command
	held      map[string]*withholding // "<worker>/<year>" -> state, written at finish
	ahead     map[string]*withholding // read by prefetch, not yet used by a row (never written)
	batches   map[string]*Batch
	booked    []string // payments booked: the posting lists them
	lines     lineSum
	// posting is the sequence number the command's posting will take.
	posting uint64
	// limit is the monthly limit the command decides under (0: none).
	limit int64
	// risk, when the payout rules decide (from command set 6), is what
	// they decide under; nil: the monthly limit above, in Go (riskCode).
	risk *riskRun
	// explain, in a preview, keeps each booked payment's tax working.
	explain map[string]*taxed
	// tasks caches the rules' answer for each work (task, worker).
	tasks map[string]taskChecked
	// works is what each work (task, worker) has been paid, as the rows
	// so far left it.
	works workPaid
	// notices are the callbacks the command sends when it ends: by
	// merchant, then event, the payments (or the batch) it is about.
	notices map[string]map[string][]any
	// listens caches, by merchant, whether any client has a callback URL.
	listens map[string]bool
	// facts are the payments moved in ways the bureaus' feed reports.
	facts []*Payment
}

// notify gathers a callback to the merchant's systems; finish enqueues one
// delivery per merchant and event, listing every payment the command moved
// — a batch of 100,000 rows makes a few dozen callbacks, not 100,000.
//
// about makes the payload, only for a merchant some client listens for: a
// chunk of 2,000 rows builds no views for a merchant without a callback URL.
func (r *run) notify(merchant, event string, about func() any) {
	if r.explain != nil {
		return // a preview tells no one
	}
	listens, known := r.listens[merchant]
	if !known {
		// A lookup that fails counts as a listener: Enqueue meets the error
		// again when the command ends, and the command fails with it.
		ok, err := callbacks.Subscribed(r.tx, merchant)
		listens = ok || err != nil
		if r.listens == nil {
			r.listens = map[string]bool{}
		}
		r.listens[merchant] = listens
	}
	if !listens {
		return
	}
	if r.notices == nil {
		r.notices = map[string]map[string][]any{}
	}
	if r.notices[merchant] == nil {
		r.notices[merchant] = map[string][]any{}
	}
	r.notices[merchant][event] = append(r.notices[merchant][event], about())
}

func (r *run) sendNotices() error {
	merchants := make([]string, 0, len(r.notices))
	for m := range r.notices {
		merchants = append(merchants, m)
	}
	sort.Strings(merchants)
	for _, m := range merchants {
		events := make([]string, 0, len(r.notices[m]))
		for e := range r.notices[m] {
			events = append(events, e)
		}
		sort.Strings(events)
		for _, e := range events {
			var payload any = map[string]any{"payments": r.notices[m][e]}
			if strings.HasPrefix(e, callbacks.EventBatchPrefix) {
				payload = r.notices[m][e][0]
			}
			if err := callbacks.Enqueue(r.tx, m, e, payload); err != nil {
				return err
			}
		}
	}
	return nil
}

func newRun(rules *Rules, tx *state.Tx, merchant string, limits *policy.PayoutLimits) (*run, error) {
	now := tx.Time()
	cn := now.In(China)
	rs, err := rules.Tax.For(cn.Year())
	if err != nil {
		// A refusal, not a fault: every replica refuses alike, and the
		// batch waits for a cxt that knows the year's rules, instead of
		// the cluster stopping at the year's first payment.
		return nil, state.Reject(state.Unavailable, "cxt has no tax rules for %d (%v): a cxt that has them must run before payments of %d are executed", cn.Year(), err, cn.Year())
	}
	m, err := merchants.Get(tx, merchant)
	if err != nil {
		return nil, err
	}
	bal, err := ledger.Balance(tx, ledger.Merchant(merchant))
	if err != nil {
		return nil, err
	}
	seq, err := ledger.NextSeq(tx)
	if err != nil {
		return nil, err
	}
	r := &run{rules: rules, tx: tx, now: now, month: cn.Year()*100 + int(cn.Month()), rs: rs, merchant: m, available: bal,
		payees: map[string]payeeOf{}, held: map[string]*withholding{}, batches: map[string]*Batch{}, lines: lineSum{}, posting: seq}
	if r.actual, err = tx.Speaks(state.FilingSet); err != nil {
		return nil, err
	}
	r.limit = rules.MonthlyLimitFen
	if limits != nil {
		r.limit = limits.MonthlyLimitFen
		if limits.Rules != "" {
			if r.risk, err = openRisk(tx, limits.Rules, m, r); err != nil {
				return nil, err
			}
		}
	}
	if rules.Fee != nil {
		r.fee, r.feeRule, err = rules.Fee(tx, merchant, now)
		if err != nil {
			return nil, err
		}
	}
	return r, nil
}

// decide runs one payment's checks and, if it passes them all, books it.
// p arrives with its row; it leaves rejected, held or accepted, and
// written.
func (r *run) decide(p *Payment) error {
	p.Updated = r.now
	code, reason, hold, err := r.check(p)
	if err != nil {
		return err
	}
	switch {
	case code != "" && hold:
		p.Status, p.Code, p.Reason = OnHold, code, reason
		r.notify(p.Merchant, callbacks.EventPaymentOnHold, func() any { return p.View() })
	case code != "":
		p.Status, p.Code, p.Reason = Rejected, code, reason
	default:
		var te *taxExceeds
		switch err := r.book(p); {
		case errors.As(err, &te):
			p.FeeFen, p.FeeRule = 0, ""
			p.Status, p.Code, p.Reason = OnHold, ReasonTaxExceeds, te.Error()
			r.notify(p.Merchant, callbacks.EventPaymentOnHold, func() any { return p.View() })
		case err != nil:
			return err
		}
	}
	r.count(p, 1)
	return putPayment(r.tx, p)
}

// check returns why p is refused or held, or nothing: the payee, the task
// and its accepted amount, then the risk rule (riskCode), then the balance.
func (r *run) check(p *Payment) (code, reason string, hold bool, err error) {
	pe, ok := r.payees[p.Worker]
	if !ok {
		if pe, err = r.payee(r.tx, p.Merchant, p.Worker); err != nil {
			return "", "", false, err
		}
		r.payees[p.Worker] = pe
	}
	if pe.code != "" && (r.risk == nil || pe.code != ReasonWorkerUnverified && pe.code != ReasonAgreement) {
		return pe.code, pe.reason, pe.hold, nil
	}
	p.Agreement = pe.agreement
	// The task as the rules see it: present when the payment names a task
	// whose accepted amount the platform keeps (rules.Task), accepted when
	// the work on it was.
	var accepted int64
	taskKnown := p.Task != "" && r.rules.Task != nil
	taskAccepted := taskKnown
	if r.rules.Task != nil {
		var rej *state.Rejection
		if accepted, rej, err = r.taskCheck(p); err != nil {
			return "", "", false, err
		} else if rej != nil && (r.risk == nil || rej.Code != ReasonTaskNotAccepted) {
			return rej.Code, rej.Message, rej.Code == ReasonTaskNotAccepted, nil
		} else if rej != nil {
			taskAccepted = false
		}
		paid, err := r.works.get(r.tx, p.Task, p.Worker)
		if err != nil {
			return "", "", false, err
		}
		if taskAccepted && paid+p.AmountFen > accepted {
			return ReasonOverAccepted, fmt.Sprintf("the work of %s on task %s was accepted for %s; %s is paid or on its way, so %s more would exceed it",
				p.Worker, p.Task, ledger.Yuan(accepted), ledger.Yuan(paid), ledger.Yuan(p.AmountFen)), false, nil
		}
	}
	why := pe.blocked
	w, err := r.withholding(p.Worker)
	if err != nil {
		return "", "", false, err
	}
	var month int64
	if w.Month == r.month%100 {
		month = w.Income
	}
	if r.risk != nil {
		d, err := r.decideRisk(p, pe, month, accepted, taskKnown, taskAccepted)
		if err != nil {
			return "", "", false, err
		}
		if d.Outcome != policy.Allow {
			return d.Code, d.Reason, d.Outcome == policy.Hold, nil
		}
	} else {
		switch code := riskCode(string(r.merchant.Status), why != "", month, p.AmountFen, r.limit); code {
		case ReasonMerchant:
			return code, "merchant " + r.merchant.ID + " is " + string(r.merchant.Status), false, nil
		case ReasonBlacklisted:
			return code, "worker " + p.Worker + " is on the platform's blacklist: " + why, false, nil
		case ReasonMonthlyLimit:
			return code, fmt.Sprintf("worker %s would be paid %s this month on the platform, over the limit of %s",
				p.Worker, ledger.Yuan(month+p.AmountFen), ledger.Yuan(r.limit)), false, nil
		}
	}
	if r.fee != nil {
		p.FeeFen, p.FeeRule = r.fee(p.AmountFen), r.feeRule
	}
	if cost := p.AmountFen + p.FeeFen; cost > r.available {
		p.FeeFen, p.FeeRule = 0, ""
		return ReasonBalance, fmt.Sprintf("merchant %s holds %s; the payment and its fee need %s", p.Merchant, ledger.Yuan(r.available), ledger.Yuan(cost)), true, nil
	}
	return "", "", false, nil
}

// payee reads what a worker's rows are checked against: their checks, and
// — when they pass, or the payout rules decide — the blacklist and whether
// they are one of the merchant's officers.
func (r *run) payee(g Getter, merchant, worker string) (payeeOf, error) {
	pe, err := checkPayee(g, merchant, worker)
	if err != nil {
		return payeeOf{}, err
	}
	if pe.code == "" || r.risk != nil {
		if pe.blocked, err = Blocked(g, worker); err != nil {
			return payeeOf{}, err
		}
		pe.officer = r.merchant.HasOfficer(pe.idIndex)
	}
	return pe, nil
}

// prefetch reads, on all cores, what deciding a chunk's rows may ask of
// the state for each of its workers and works — the payee's checks, the
// year's withholding, the task's acceptance and what the work was paid,
// the risk counters — and leaves it where the rows look first. The command
// writes none of these before it finishes, so what is read at its start is
// what a row would read on its way; the rows are then decided in order, as
// before. It only reads ahead: a withholding waits apart until a row uses
// it (finish writes those the rows used), and an item whose read fails is
// left for the row that needs it, which meets the failure only if the
// serial order reaches it.
func (r *run) prefetch(merchant string, rows []Row) {
	type found struct {
		ok        bool
		payee     payeeOf
		held      *withholding
		day       *riskDay
		year      int64
		hasCounts bool
	}
	var workers []string
	seen := map[string]bool{}
	type work struct{ task, worker string }
	var works []work
	seenWork := map[string]bool{}
	for _, row := range rows {
		if !seen[row.Worker] {
			if _, cached := r.payees[row.Worker]; !cached {
				workers = append(workers, row.Worker)
			}
			seen[row.Worker] = true
		}
		if k := workKey(row.Task, row.Worker); r.rules.Task != nil && !seenWork[k] {
			works = append(works, work{row.Task, row.Worker})
			seenWork[k] = true
		}
	}
	year := r.month / 100
	out := make([]found, len(workers))
	r.tx.Parallel(len(workers), func(i int, g state.Getter) error {
		f := found{}
		var err error
		if f.payee, err = r.payee(g, merchant, workers[i]); err != nil {
			return nil
		}
		if f.held, err = loadWithholding(g, map[string]*withholding{}, workers[i], year); err != nil {
			return nil
		}
		if rr := r.risk; rr != nil {
			c := riskCounters{days: map[string]*riskDay{}, fens: map[string]int64{}}
			if f.day, err = c.day(g, "w/"+workers[i]+"/d/"+rr.day); err != nil {
				return nil
			}
			if f.year, err = c.fen(g, "w/"+workers[i]+"/y/"+rr.year); err != nil {
				return nil
			}
			f.hasCounts = true
		}
		f.ok = true
		out[i] = f
		return nil
	})
	if r.ahead == nil {
		r.ahead = map[string]*withholding{}
	}
	for i, w := range workers {
		f := out[i]
		if !f.ok {
			continue
		}
		r.payees[w] = f.payee
		r.ahead[string(taxKey(w, year))] = f.held
		if f.hasCounts {
			r.risk.counters.days["w/"+w+"/d/"+r.risk.day] = f.day
			r.risk.counters.fens["w/"+w+"/y/"+r.risk.year] = f.year
		}
	}
	if len(works) == 0 {
		return
	}
	type workFound struct {
		ok      bool
		checked taskChecked
		paid    int64
	}
	wout := make([]workFound, len(works))
	r.tx.Parallel(len(works), func(i int, g state.Getter) error {
		checked, err := r.checkTask(g, works[i].task, merchant, works[i].worker)
		if err != nil {
			return nil
		}
		var w workPaid
		paid, err := w.get(g, works[i].task, works[i].worker)
		if err != nil {
			return nil
		}
		wout[i] = workFound{true, checked, paid}
		return nil
	})
	if r.tasks == nil {
		r.tasks = map[string]taskChecked{}
	}
	if r.works.fen == nil {
		r.works.fen, r.works.dirty = map[string]int64{}, map[string]bool{}
	}
	for i, w := range works {
		if !wout[i].ok {
			continue
		}
		k := workKey(w.task, w.worker)
		r.tasks[k] = wout[i].checked
		if _, moved := r.works.fen[k]; !moved {
			r.works.fen[k] = wout[i].paid
		}
	}
}

// riskCode is the payout rule of policy/risk/risk.rego (data.cxt.risk.
// payout_row) in Go, decided per row inside the state machine under the
// limits the chunk's command carries: the merchant approved, the worker
// off the blacklist, the worker's month within the limit — the first that
// fails decides. TestTheRiskRuleInGoIsTheRego holds it to the rego on
// random rows.
func riskCode(merchantStatus string, blacklisted bool, monthFen, amountFen, limitFen int64) string {
	switch {
	case merchantStatus != string(merchants.Approved):
		return ReasonMerchant
	case blacklisted:
		return ReasonBlacklisted
	case limitFen > 0 && monthFen+amountFen > limitFen:
		return ReasonMonthlyLimit
	}
	return ""
}

// taskCheck asks the rules about p's task once per command for each work:
// a task's record is read and decoded once, not once per row.
func (r *run) taskCheck(p *Payment) (int64, *state.Rejection, error) {
	k := workKey(p.Task, p.Worker)
	if c, ok := r.tasks[k]; ok {
		return c.accepted, c.rej, nil
	}
	c, err := r.checkTask(r.tx, p.Task, p.Merchant, p.Worker)
	if err != nil {
		return 0, nil, err
	}
	if r.tasks == nil {
		r.tasks = map[string]taskChecked{}
	}
	r.tasks[k] = c
	return c.accepted, c.rej, nil
}

// checkTask asks the rules about a work: its accepted amount, or why it
// cannot be paid.
func (r *run) checkTask(g Getter, task, merchant, worker string) (taskChecked, error) {
	accepted, err := r.rules.Task(g, task, merchant, worker)
	var rej *state.Rejection
	if err != nil && !errors.As(err, &rej) {
		return taskChecked{}, err
	}
	return taskChecked{accepted, rej}, nil
}

type taskChecked struct {
	accepted int64
	rej      *state.Rejection
}

// book withholds p's tax and books it: merchant → worker payable, taxes
// and fee; the payment enters the outbox.
func (r *run) book(p *Payment) error {
	w, err := r.withholding(p.Worker)
	if err != nil {
		return err
	}
	t, err := w.withhold(r.rs, r.month%100, p.AmountFen, r.rules.Location, r.actual)
	if err != nil {
		return err
	}
	if r.explain != nil {
		r.explain[p.ID] = &t
	}
	p.IITFen, p.VATFen, p.SurFen = t.IIT, t.VAT, t.Sur
	p.NetFen = p.AmountFen - t.IIT - t.VAT - t.Sur
	p.Month = r.month/100*100 + t.Month
	p.RuleSet = r.rs.Version
	p.Status, p.Channel, p.Posting = Accepted, r.rules.Channel, r.posting
	r.available -= p.AmountFen + p.FeeFen
	merchant := ledger.Merchant(p.Merchant)
	r.lines.add(merchant, true, p.AmountFen, ledger.CausePayment)
	r.lines.add(ledger.WorkerPayable, false, p.NetFen, ledger.CausePayment)
	r.lines.add(ledger.IIT, false, p.IITFen, ledger.CauseTax)
	r.lines.add(ledger.VAT, false, p.VATFen, ledger.CauseTax)
	r.lines.add(ledger.Surcharges, false, p.SurFen, ledger.CauseTax)
	r.lines.add(merchant, true, p.FeeFen, ledger.CauseFee)
	r.lines.add(ledger.FeeIncome, false, p.FeeFen, ledger.CauseFee)
	r.booked = append(r.booked, p.ID)
	r.moved(p)
	if r.risk != nil {
		if err := r.countRisk(p); err != nil {
			return err
		}
	}
	if r.rules.Task != nil {
		if err := r.works.add(r.tx, p.Task, p.Worker, p.AmountFen); err != nil {
			return err
		}
	}
	p.Outbox, err = nextOutbox(r.tx, p.ID)
	return err
}

// withholding reads a worker's withholding state for this year once per
// command — or takes what prefetch read ahead — and finish writes it.
func (r *run) withholding(worker string) (*withholding, error) {
	key := string(taxKey(worker, r.month/100))
	if w, ok := r.ahead[key]; ok { // prefetch ran before any row: nothing in held yet
		delete(r.ahead, key)
		r.held[key] = w
	}
	return loadWithholding(r.tx, r.held, worker, r.month/100)
}

func loadWithholding(tx Getter, held map[string]*withholding, worker string, year int) (*withholding, error) {
	key := string(taxKey(worker, year))
	if w, ok := held[key]; ok {
		return w, nil
	}
	v, err := tx.Get(TaxBucket, []byte(key))
	if err != nil {
		return nil, err
	}
	w := &withholding{}
	if v != nil {
		if w, err = unpackWithholding(v); err != nil {
			return nil, fmt.Errorf("payouts: withholding of %s: %w", key, err)
		}
	}
	held[key] = w
	return w, nil
}

// index adds a new payment to the indexes by worker and by task.
func (r *run) index(p *Payment) error {
	if err := r.tx.Put(IndexBucket, []byte("w/"+p.Worker+"/"+p.ID), nil); err != nil {
		return err
	}
	if p.Task == "" {
		return nil
	}
	return r.tx.Put(IndexBucket, []byte("t/"+p.Task+"/"+p.ID), nil)
}

// count moves p's batch's counters: by +1 when p takes its status, -1
// when it leaves it.
func (r *run) count(p *Payment, by int) {
	b, ok := r.batches[p.Batch]
	if !ok {
		var err error
		if b, err = GetBatch(r.tx, p.Batch); err != nil {
			return // a payment's batch is always there; Verify would say otherwise
		}
		r.batches[p.Batch] = b
	}
	if b.Counts == nil {
		b.Counts, b.Sums = map[Status]int{}, map[Status]int64{}
	}
	b.Counts[p.Status] += by
	b.Sums[p.Status] += int64(by) * p.AmountFen
	if b.Counts[p.Status] == 0 {
		delete(b.Counts, p.Status)
		delete(b.Sums, p.Status)
	}
}

func (r *run) saveBatches() error {
	ids := make([]string, 0, len(r.batches))
	for id := range r.batches {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		if _, err := putBatch(r.tx, r.batches[id]); err != nil {
			return err
		}
	}
	return nil
}

// finish writes what the command changed: the withholding states, the
// batches, and the one posting of every payment it booked.
func (r *run) finish(event, ref string) error {
	keys := make([]string, 0, len(r.held))
	for k := range r.held {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if err := r.tx.Put(TaxBucket, []byte(k), r.held[k].pack()); err != nil {
			return err
		}
	}
	if err := r.saveBatches(); err != nil {
		return err
	}
	if err := r.works.save(r.tx); err != nil {
		return err
	}
	if r.risk != nil {
		if err := r.risk.counters.save(r.tx); err != nil {
			return err
		}
	}
	if err := r.sendNotices(); err != nil {
		return err
	}
	if err := r.feedFacts(event, ref); err != nil {
		return err
	}
	return r.post(event, ref)
}

// post books the lines gathered, naming the payments they sum; each of
// those recorded the sequence number the posting takes.
func (r *run) post(event, ref string) error {
	lines := r.lines.lines()
	if len(lines) == 0 {
		return nil
	}
	p := &ledger.Posting{Event: event, Ref: ref, Lines: lines, Payments: r.booked}
	if err := ledger.Post(r.tx, p); err != nil {
		return err
	}
	if p.Seq != r.posting {
		return fmt.Errorf("payouts: the posting took %d, the payments recorded %d", p.Seq, r.posting)
	}
	return nil
}

// lineSum gathers a command's ledger lines by account, side and cause.
type lineSum map[lineKey]int64

type lineKey struct {
	account string
	debit   bool
	cause   string
}

func (s lineSum) add(account string, debit bool, fen int64, cause string) {
	if fen != 0 {
		s[lineKey{account, debit, cause}] += fen
	}
}

// lines returns the sums in a fixed order: debits first, then by account
// and cause.
func (s lineSum) lines() []ledger.Line {
	out := make([]ledger.Line, 0, len(s))
	for k, fen := range s {
		out = append(out, ledger.Line{Account: k.account, Debit: k.debit, Fen: fen, Cause: k.cause})
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Debit != b.Debit {
			return a.Debit
		}
		if a.Account != b.Account {
			return a.Account < b.Account
		}
		return a.Cause < b.Cause
	})
	return out
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

// workPaid is what each work has been paid, read once per command and
// written when it ends: the totals, and which of them moved.
type workPaid struct {
	fen   map[string]int64
	dirty map[string]bool
}

func workKey(task, worker string) string { return task + "/" + worker }

func (w *workPaid) get(tx Getter, task, worker string) (int64, error) {
	if w.fen == nil {
		w.fen, w.dirty = map[string]int64{}, map[string]bool{}
	}
	k := workKey(task, worker)
	if fen, ok := w.fen[k]; ok {
		return fen, nil
	}
	v, err := tx.Get(WorkBucket, []byte(k))
	if err != nil {
		return 0, err
	}
	var fen int64
	if len(v) == 8 {
		fen = int64(binary.BigEndian.Uint64(v))
	}
	w.fen[k] = fen
	return fen, nil
}

func (w *workPaid) add(tx Getter, task, worker string, fen int64) error {
	cur, err := w.get(tx, task, worker)
	if err != nil {
		return err
	}
	k := workKey(task, worker)
	w.fen[k], w.dirty[k] = cur+fen, true
	return nil
}

func (w *workPaid) save(tx *state.Tx) error {
	keys := make([]string, 0, len(w.dirty))
	for k := range w.dirty {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if err := tx.Put(WorkBucket, []byte(k), binary.BigEndian.AppendUint64(nil, uint64(w.fen[k]))); err != nil {
			return err
		}
	}
	return nil
}
