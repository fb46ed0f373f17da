package payouts

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"strconv"
	"strings"
	"time"

	"cxt/appliance/api"
	"cxt/appliance/errs"
	"cxt/appliance/ledger"
	"cxt/appliance/merchants"
	"cxt/policy"
	"cxt/storage/state"
)

// Backend serves payout batches, payments and the ledger over the API.
type Backend struct {
	Rules *Rules
	// Kick wakes the driver after a confirm or a release; nil: it finds the
	// work on its next round.
	Kick func()
	// Limits reads the risk rule's settings from the policy in force for a
	// release and a preview; nil: the rules' defaults.
	Limits func(context.Context) (*policy.PayoutLimits, error)
}

// Register adds the payouts' buckets and commands, and the ledger's.
func (b *Backend) Register(reg *state.Registry) {
	ledger.Register(reg)
	Register(reg, b.Rules)
}

// MaxFile bounds an uploaded batch: 100,000 rows of two IDs, an amount and a
// short memo.
const MaxFile = 24 << 20

// Routes lists the payouts' endpoints.
func (b *Backend) Routes() []api.Route {
	const read, write, important = api.Read, api.Write, api.Important
	m := merchants.Resource
	return []api.Route{
		{Method: "POST", Path: "/api/v1/merchants/{id}/payout-batches", Action: "payouts.upload", Kind: write, Resource: m, Handle: b.upload, MaxBody: MaxFile},
		{Method: "GET", Path: "/api/v1/merchants/{id}/payout-batches", Action: "payouts.list", Kind: read, Resource: m, Handle: b.list},
		{Method: "GET", Path: "/api/v1/payout-batches/{batch}", Action: "payouts.read", Kind: read, Resource: batchResource, Handle: b.read},
		{Method: "GET", Path: "/api/v1/payout-batches/{batch}/preview", Action: "payouts.read", Kind: read, Resource: batchResource, Handle: b.preview},
		{Method: "POST", Path: "/api/v1/payout-batches/{batch}/confirm", Action: "payouts.confirm", Kind: important, Resource: batchResource, Prepare: b.confirm},
		{Method: "POST", Path: "/api/v1/payout-batches/{batch}/release", Action: "payouts.release", Kind: write, Resource: batchResource, Handle: b.release},
		{Method: "POST", Path: "/api/v1/payout-batches/{batch}/discard", Action: "payouts.discard", Kind: write, Resource: batchResource, Handle: b.discard},
		{Method: "GET", Path: "/api/v1/payments", Action: "payments.list", Kind: read, Handle: b.payments},
		{Method: "GET", Path: "/api/v1/payments/{payment}", Action: "payments.read", Kind: read, Resource: PaymentResource, Handle: b.payment},
		{Method: "GET", Path: "/api/v1/payments/{payment}/risk", Action: "payments.risk", Kind: read, Resource: PaymentResource, Handle: b.explainRisk},
		{Method: "POST", Path: "/api/v1/payments/{payment}/risk/clear", Action: "payments.risk_clear", Kind: write, Resource: PaymentResource, Handle: b.clearRisk},
		{Method: "POST", Path: "/api/v1/payments/{payment}/cancel", Action: "payments.cancel", Kind: write, Resource: PaymentResource, Handle: b.cancel},
		{Method: "PUT", Path: "/api/v1/risk/blacklist/{worker}", Action: "risk.blacklist", Kind: write, Resource: api.PathOwner("worker"), Handle: b.block},
		{Method: "DELETE", Path: "/api/v1/risk/blacklist/{worker}", Action: "risk.blacklist", Kind: write, Resource: api.PathOwner("worker"), Handle: b.unblock},
		{Method: "POST", Path: "/api/v1/merchants/{id}/fee-statements", Action: "payouts.statement", Kind: write, Resource: m, Handle: b.statement},
		{Method: "GET", Path: "/api/v1/merchants/{id}/fee-statements", Action: "payouts.list", Kind: read, Resource: m, Handle: b.statements},
		{Method: "GET", Path: "/api/v1/ledger/balances", Action: "ledger.read", Kind: read, Handle: b.balances},
		{Method: "GET", Path: "/api/v1/ledger/postings", Action: "ledger.read", Kind: read, Handle: b.postings},
	}
}

// batchResource is a batch: its merchant's; another tenant's is absent.
func batchResource(r *api.Request) (api.Resource, error) {
	return r.Tenancy(api.Resource{Resource: policy.Resource{Label: 1, Tenanted: true}, Noun: "payout batch"},
		func(tx *state.ReadTx) (policy.Resource, error) {
			bt, err := GetBatch(tx, r.Var("batch"))
			if err != nil {
				return policy.Resource{}, err
			}
			return bt.Tenancy(), nil
		})
}

// PaymentResource is a payment: its merchant's and its worker's; another
// tenant's is absent. Routes about a payment in other packages (its
// receipt) use it too.
func PaymentResource(r *api.Request) (api.Resource, error) {
	return r.Tenancy(api.Resource{Resource: policy.Resource{Label: 1, Tenanted: true}, Noun: "payment"},
		func(tx *state.ReadTx) (policy.Resource, error) {
			p, err := GetPayment(tx, r.Var("payment"))
			if err != nil {
				return policy.Resource{}, err
			}
			return p.Tenancy(), nil
		})
}

// upload stores a batch: JSON ({"ref", "rows"}) or CSV (text/csv, the
// reference in ?ref=).
func (b *Backend) upload(r *api.Request) (int, any, error) {
	const op = "upload payout batch"
	body, err := io.ReadAll(r.HTTP.Body)
	if err != nil {
		return 0, nil, errs.E(op, errs.TooLarge, "a batch file is at most %d MiB", MaxFile>>20)
	}
	ct, _, _ := mime.ParseMediaType(r.HTTP.Header.Get("Content-Type"))
	var ref string
	var rows []Row
	switch ct {
	case "text/csv":
		ref = r.HTTP.URL.Query().Get("ref")
		rows, err = ParseCSV(body)
	case "application/json":
		var f *File
		if f, err = ParseJSON(body); err == nil {
			ref, rows = f.Ref, f.Rows
		}
	default:
		return 0, nil, errs.E(op, errs.Unsupported, "a batch is application/json or text/csv")
	}
	if err == nil {
		err = check(rows)
	}
	if err != nil {
		return 0, nil, rowError(op, err)
	}
	ref = strings.TrimSpace(ref)
	if ref == "" || len(ref) > 64 || strings.ContainsAny(ref, "/\x00") {
		return 0, nil, errs.E(op, errs.Invalid, "ref: the batch's own reference, 1-64 characters without '/', unique for the merchant — it is how a repeated upload is recognised")
	}
	id := "pb-" + api.NewID()
	cmds, err := UploadCommands(id, r.Var("id"), ref, r.Subject.ID, rows, r.Now())
	if err != nil {
		return 0, nil, rowError(op, err)
	}
	r.Audit.Object = id
	if _, err := r.Propose(cmds[0]); err != nil {
		return 0, nil, err
	}
	for _, c := range cmds[1:] {
		if _, err := r.ProposeAside(c); err != nil {
			return 0, nil, err
		}
	}
	var total int64
	for _, row := range rows {
		total += row.Fen
	}
	return 201, map[string]any{"batch": id, "ref": ref, "rows": len(rows), "chunks": len(cmds) - 1, "total": ledger.Yuan(total), "status": Uploaded,
		"next": "GET /api/v1/payout-batches/" + id + "/preview, then POST /api/v1/payout-batches/" + id + "/confirm"}, nil
}

// rowError answers rows that cannot be payments, naming them.
func rowError(op string, err error) error {
	var rows RowErrors
	if errors.As(err, &rows) {
		parts := make([]string, 0, len(rows))
		for _, e := range rows {
			parts = append(parts, "row "+strconv.Itoa(e.Row)+": "+e.Field+": "+e.Message)
		}
		return errs.Coded(op, errs.Invalid, CodeBadRow.String(), "%d row(s) cannot be payments, nothing was stored: %s", len(rows), strings.Join(parts, "; "))
	}
	return err
}

// view is a batch as the API shows it.
func (bt *Batch) view() map[string]any {
	sums := map[Status]string{}
	for s, v := range bt.Sums {
		sums[s] = ledger.Yuan(v)
	}
	counts := bt.Counts
	if counts == nil {
		counts = map[Status]int{}
	}
	out := map[string]any{"id": bt.ID, "merchant": bt.Merchant, "ref": bt.Ref, "status": bt.Status, "rows": bt.Rows,
		"chunks": bt.Chunks, "chunks_done": bt.Done, "total": ledger.Yuan(bt.TotalFen), "counts": counts, "sums": sums,
		"created": bt.Created, "created_by": bt.By}
	if !bt.Confirmed.IsZero() {
		out["confirmed"], out["confirmed_by"] = bt.Confirmed, bt.ConfirmedBy
	}
	if !bt.Finished.IsZero() {
		out["finished"] = bt.Finished
	}
	if bt.DuplicateOf != "" {
		out["duplicate_of"] = bt.DuplicateOf
	}
	return out
}

func (b *Backend) read(r *api.Request) (int, any, error) {
	var bt *Batch
	err := r.View(func(tx *state.ReadTx) (err error) { bt, err = GetBatch(tx, r.Var("batch")); return })
	if err != nil {
		return 0, nil, err
	}
	return 200, bt.view(), nil
}

func (b *Backend) list(r *api.Request) (int, any, error) {
	limit, err := pageLimit(r)
	if err != nil {
		return 0, nil, err
	}
	prefix := "b/" + r.Var("id") + "/"
	after := r.HTTP.URL.Query().Get("after")
	out := []map[string]any{}
	next := ""
	err = r.View(func(tx *state.ReadTx) error {
		start := []byte(prefix + after + "\x00")
		if after == "" {
			start = []byte(prefix)
		}
		return tx.Seek(BatchRefs, start, false, func(k, _ []byte) (bool, error) {
			if !strings.HasPrefix(string(k), prefix) {
				return false, nil
			}
			if len(out) == limit {
				next = out[len(out)-1]["id"].(string)
				return false, nil
			}
			bt, err := GetBatch(tx, strings.TrimPrefix(string(k), prefix))
			if err != nil {
				return false, err
			}
			out = append(out, bt.view())
			return true, nil
		})
	})
	if err != nil {
		return 0, nil, err
	}
	res := map[string]any{"batches": out}
	if next != "" {
		res["next"] = next
	}
	return 200, res, nil
}

func pageLimit(r *api.Request) (int, error) {
	s := r.HTTP.URL.Query().Get("limit")
	if s == "" {
		return 100, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > 1000 {
		return 0, errs.E("page", errs.Invalid, "limit: 1 to 1000")
	}
	return n, nil
}

// preview answers what the batch would do if confirmed now.
func (b *Backend) preview(r *api.Request) (int, any, error) {
	q := r.HTTP.URL.Query()
	ask := PreviewAsk{Batch: r.Var("batch"), Status: Status(q.Get("status"))}
	var err error
	if ask.Limit, err = pageLimit(r); err != nil {
		return 0, nil, err
	}
	if s := q.Get("after"); s != "" {
		if ask.After, err = strconv.Atoi(s); err != nil || ask.After < 0 {
			return 0, nil, errs.E("preview", errs.Invalid, "after: a row number")
		}
	}
	pv, err := b.dryRun(r, ask)
	if err != nil {
		return 0, nil, err
	}
	return 200, pv, nil
}

func (b *Backend) dryRun(r *api.Request, ask PreviewAsk) (*Preview, error) {
	// The read's record first: it is the read point the dry run sees past.
	if err := r.View(func(*state.ReadTx) error { return nil }); err != nil {
		return nil, err
	}
	if b.Limits != nil {
		var err error
		if ask.Limits, err = b.Limits(r.Ctx); err != nil {
			return nil, err
		}
	}
	res, err := r.Node.State().DryRun(state.NewCommand(CmdPreview, mustJSON(ask), r.Now()))
	if err != nil {
		return nil, err
	}
	if res.Err != nil {
		return nil, api.Classify(res.Err)
	}
	var pv Preview
	if err := json.Unmarshal(res.Value, &pv); err != nil {
		return nil, err
	}
	return &pv, nil
}

// confirm executes the batch (an important operation): the preview's
// totals are the impact shown before the confirm.
func (b *Backend) confirm(r *api.Request) (*api.Op, error) {
	pv, err := b.dryRun(r, PreviewAsk{Batch: r.Var("batch"), Limit: 1})
	if err != nil {
		return nil, err
	}
	r.Audit.Object = pv.Batch
	impact := map[string]any{"batch": pv.Batch, "rows": pv.Rows, "paid_now": pv.Counts[Accepted], "held": pv.Counts[OnHold],
		"rejected": pv.Counts[Rejected], "reasons": pv.Reasons, "totals": pv.Totals, "balance": pv.Balance, "takes": pv.Needs}
	risks := []string{"the payments are booked and handed to the payment channel; money that has left is not recalled",
		"held rows wait for a release; rejected rows are never paid"}
	if pv.DuplicateOf != "" {
		impact["duplicate_of"] = pv.DuplicateOf
		risks = append([]string{"these rows are exactly those of batch " + pv.DuplicateOf + ": the same file uploaded twice pays twice"}, risks...)
	}
	return &api.Op{
		Impact:  impact,
		Risks:   risks,
		Command: state.NewCommand(CmdConfirm, mustJSON(Confirm{Batch: pv.Batch, By: r.Subject.ID}), r.Now()),
		Status:  202, Response: map[string]any{"batch": pv.Batch, "status": Executing, "next": "GET /api/v1/payout-batches/" + pv.Batch + " shows the chunks done; GET /api/v1/payments?batch=" + pv.Batch + " the payments"},
	}, nil
}

func (b *Backend) release(r *api.Request) (int, any, error) {
	r.Audit.Object = r.Var("batch")
	rel := Release{Batch: r.Var("batch")}
	if b.Limits != nil {
		var err error
		if rel.Limits, err = b.Limits(r.Ctx); err != nil {
			return 0, nil, err
		}
	}
	v, err := r.Propose(state.NewCommand(CmdRelease, mustJSON(rel), r.Now()))
	if err != nil {
		return 0, nil, err
	}
	if b.Kick != nil {
		b.Kick()
	}
	return 200, json.RawMessage(v), nil
}

func (b *Backend) cancel(r *api.Request) (int, any, error) {
	var in struct {
		Reason string `json:"reason"`
	}
	if err := r.Decode(&in); err != nil {
		return 0, nil, err
	}
	if strings.TrimSpace(in.Reason) == "" {
		return 0, nil, errs.E("cancel payment", errs.Invalid, "reason: say why the held payment is given up")
	}
	r.Audit.Object, r.Audit.Reason = r.Var("payment"), in.Reason
	if _, err := r.Propose(state.NewCommand(CmdCancel, mustJSON(Cancel{Payment: r.Var("payment"), Reason: in.Reason}), r.Now())); err != nil {
		return 0, nil, err
	}
	return 200, map[string]any{"payment": r.Var("payment"), "status": Cancelled}, nil
}

// View is a payment as the API shows it; money as decimal strings.
func (p *Payment) View() map[string]any {
	out := map[string]any{"id": p.ID, "batch": p.Batch, "row": p.Row, "merchant": p.Merchant, "worker": p.Worker, "task": p.Task,
		"status": p.Status, "amount": ledger.Yuan(p.AmountFen), "created": p.Created, "updated": p.Updated}
	if p.Code != "" {
		out["code"], out["reason"] = p.Code, p.Reason
	} else if p.Reason != "" {
		out["reason"] = p.Reason
	}
	if p.Risk != nil {
		out["risk"] = p.Risk.view()
	}
	if p.Posting != 0 {
		out["agreement"], out["fee"], out["iit"], out["vat"], out["surcharges"], out["net"] = p.Agreement,
			ledger.Yuan(p.FeeFen), ledger.Yuan(p.IITFen), ledger.Yuan(p.VATFen), ledger.Yuan(p.SurFen), ledger.Yuan(p.NetFen)
		out["month"], out["rule_set"], out["posting"], out["channel"] = p.Month, p.RuleSet, p.Posting, p.Channel
		if p.FeeRule != "" {
			out["fee_rule"] = p.FeeRule
		}
		if p.ChannelRef != "" {
			out["channel_ref"] = p.ChannelRef
		}
	}
	return out
}

func (b *Backend) payment(r *api.Request) (int, any, error) {
	var p *Payment
	err := r.View(func(tx *state.ReadTx) (err error) { p, err = GetPayment(tx, r.Var("payment")); return })
	if err != nil {
		return 0, nil, err
	}
	return 200, p.View(), nil
}

// payments lists payments by batch, worker or task (one of them), or a
// merchant's, filtered by status and by date; a merchant's users see their
// merchant's only, a worker their own.
func (b *Backend) payments(r *api.Request) (int, any, error) {
	const op = "list payments"
	q := r.HTTP.URL.Query()
	limit, err := pageLimit(r)
	if err != nil {
		return 0, nil, err
	}
	merchant, worker := q.Get("merchant"), q.Get("worker")
	if policy.TenantBound(r.Subject) {
		switch {
		case r.Subject.Merchant != "" && merchant != "" && merchant != r.Subject.Merchant,
			r.Subject.Worker != "" && worker != "" && worker != r.Subject.Worker:
			return 200, map[string]any{"payments": []any{}}, nil // another tenant's: none to see
		case r.Subject.Merchant != "":
			merchant = r.Subject.Merchant
		case r.Subject.Worker != "":
			worker = r.Subject.Worker
		}
	}
	var from, to time.Time
	for _, f := range []struct {
		name string
		t    *time.Time
	}{{"from", &from}, {"to", &to}} {
		if s := q.Get(f.name); s != "" {
			if *f.t, err = time.Parse(time.RFC3339, s); err != nil {
				return 0, nil, errs.E(op, errs.Invalid, "%s: an RFC 3339 time like 2026-03-01T00:00:00+08:00", f.name)
			}
		}
	}
	status := Status(q.Get("status"))
	batch, task := q.Get("batch"), q.Get("task")
	// One filter picks the keys walked; every filter given is held to, so
	// that a worker's ?task= (walked by the worker) still means the task.
	keep := func(p *Payment) bool {
		return (merchant == "" || p.Merchant == merchant) && (worker == "" || p.Worker == worker) &&
			(batch == "" || p.Batch == batch) && (task == "" || p.Task == task) &&
			(status == "" || p.Status == status) && (from.IsZero() || !p.Created.Before(from)) && (to.IsZero() || p.Created.Before(to))
	}
	after := q.Get("after")
	out := []map[string]any{}
	next := ""
	add := func(tx *state.ReadTx, id string) (bool, error) {
		if len(out) == limit {
			next = out[len(out)-1]["id"].(string)
			return false, nil
		}
		p, err := GetPayment(tx, id)
		if err != nil {
			return false, err
		}
		if keep(p) {
			out = append(out, p.View())
		}
		return true, nil
	}
	err = r.View(func(tx *state.ReadTx) error {
		byID := func(k string) (bool, error) { return add(tx, k) }
		switch {
		case batch != "":
			return seekPrefix(tx, PaymentBucket, batch+"-", after, byID)
		case worker != "":
			return seekIndex(tx, "w/"+worker+"/", after, byID)
		case task != "":
			return seekIndex(tx, "t/"+task+"/", after, byID)
		case merchant != "":
			// The merchant's batches in order, each batch's payments in
			// order: a payment ID names its batch, so after resumes both.
			afterBatch, _, _ := strings.Cut(strings.TrimPrefix(after, "pb-"), "-")
			if after != "" {
				afterBatch = "pb-" + afterBatch
			}
			more := true
			err := seekIndexOf(tx, BatchRefs, "b/"+merchant+"/", "", func(bt string) (bool, error) {
				if afterBatch != "" && bt < afterBatch {
					return true, nil
				}
				resume := ""
				if bt == afterBatch {
					resume = after
				}
				err := seekPrefix(tx, PaymentBucket, bt+"-", resume, func(k string) (bool, error) {
					more, err = add(tx, k)
					return more, err
				})
				return more, err
			})
			return err
		}
		return errs.E(op, errs.Invalid, "name a batch, worker, task or merchant")
	})
	if err != nil {
		return 0, nil, err
	}
	res := map[string]any{"payments": out}
	if next != "" {
		res["next"] = next
	}
	return 200, res, nil
}

// seekPrefix calls fn with each key of bucket that starts with prefix, in
// order, after the key after (a whole key; "" from the first).
func seekPrefix(tx *state.ReadTx, bucket, prefix, after string, fn func(key string) (bool, error)) error {
	start := []byte(prefix)
	if after != "" && strings.HasPrefix(after, prefix) {
		start = []byte(after + "\x00")
	}
	return tx.Seek(bucket, start, false, func(k, _ []byte) (bool, error) {
		if !strings.HasPrefix(string(k), prefix) {
			return false, nil
		}
		return fn(string(k))
	})
}

// seekIndexOf calls fn with the rest of each key of bucket under prefix,
// after the rest after.
func seekIndexOf(tx *state.ReadTx, bucket, prefix, after string, fn func(rest string) (bool, error)) error {
	resume := ""
	if after != "" {
		resume = prefix + after
	}
	return seekPrefix(tx, bucket, prefix, resume, func(k string) (bool, error) { return fn(strings.TrimPrefix(k, prefix)) })
}

// seekIndex walks the payment index under prefix: the rest of each key is
// a payment ID.
func seekIndex(tx *state.ReadTx, prefix, after string, fn func(payment string) (bool, error)) error {
	return seekIndexOf(tx, IndexBucket, prefix, after, fn)
}

func (b *Backend) block(r *api.Request) (int, any, error) {
	var in struct {
		Reason string `json:"reason"`
	}
	if err := r.Decode(&in); err != nil {
		return 0, nil, err
	}
	if len([]rune(strings.TrimSpace(in.Reason))) < 5 {
		return 0, nil, errs.E("blacklist worker", errs.Invalid, "reason: say why the worker is not to be paid (at least 5 characters)")
	}
	r.Audit.Object, r.Audit.Reason = r.Var("worker"), in.Reason
	if _, err := r.Propose(state.NewCommand(CmdBlock, mustJSON(Block{Worker: r.Var("worker"), Reason: in.Reason}), r.Now())); err != nil {
		return 0, nil, err
	}
	return 200, map[string]any{"worker": r.Var("worker"), "blacklisted": true, "reason": in.Reason}, nil
}

func (b *Backend) unblock(r *api.Request) (int, any, error) {
	r.Audit.Object = r.Var("worker")
	if _, err := r.Propose(state.NewCommand(CmdBlock, mustJSON(Block{Worker: r.Var("worker"), Unblock: true}), r.Now())); err != nil {
		return 0, nil, err
	}
	return 200, map[string]any{"worker": r.Var("worker"), "blacklisted": false}, nil
}

// balances lists every account's balance (platform staff).
func (b *Backend) balances(r *api.Request) (int, any, error) {
	out := map[string]string{}
	err := r.View(func(tx *state.ReadTx) error {
		return tx.Scan(ledger.BalancesBucket, func(k, _ []byte, openErr error) error {
			if openErr != nil {
				return openErr
			}
			bal, err := ledger.Balance(tx, string(k))
			out[string(k)] = ledger.Yuan(bal)
			return err
		})
	})
	if err != nil {
		return 0, nil, err
	}
	return 200, map[string]any{"balances": out}, nil
}

// postings pages through the journal (platform staff).
func (b *Backend) postings(r *api.Request) (int, any, error) {
	limit, err := pageLimit(r)
	if err != nil {
		return 0, nil, err
	}
	var after uint64
	if s := r.HTTP.URL.Query().Get("after"); s != "" {
		if after, err = strconv.ParseUint(s, 10, 64); err != nil {
			return 0, nil, errs.E("list postings", errs.Invalid, "after: a posting's sequence number")
		}
	}
	out := []map[string]any{}
	err = r.View(func(tx *state.ReadTx) error {
		for seq := after + 1; len(out) < limit; seq++ {
			p, err := ledger.Get(tx, seq)
			if state.NotFound.Is(err) {
				return nil
			} else if err != nil {
				return err
			}
			lines := make([]map[string]any, len(p.Lines))
			for i, l := range p.Lines {
				side := "credit"
				if l.Debit {
					side = "debit"
				}
				lines[i] = map[string]any{"account": l.Account, "side": side, "amount": ledger.Yuan(l.Fen), "cause": l.Cause}
			}
			out = append(out, map[string]any{"seq": p.Seq, "time": p.Time, "event": p.Event, "ref": p.Ref, "lines": lines, "payments": len(p.Payments)})
		}
		return nil
	})
	if err != nil {
		return 0, nil, err
	}
	return 200, map[string]any{"postings": out}, nil
}

// statement books a merchant's fees for a month that has ended, when they
// are charged after the month (后收).
func (b *Backend) statement(r *api.Request) (int, any, error) {
	var in struct {
		Period string `json:"period"`
	}
	if err := r.Decode(&in); err != nil {
		return 0, nil, err
	}
	if _, _, err := period(in.Period); err != nil {
		return 0, nil, errs.E("fee statement", errs.Invalid, "period: %v", err)
	}
	r.Audit.Object = r.Var("id") + "/" + in.Period
	v, err := r.Propose(state.NewCommand(CmdStatement, mustJSON(StatementAsk{Merchant: r.Var("id"), Period: in.Period, By: r.Subject.ID}), r.Now()))
	if err != nil {
		return 0, nil, err
	}
	return 201, json.RawMessage(v), nil
}

func (b *Backend) statements(r *api.Request) (int, any, error) {
	var out []Statement
	err := r.View(func(tx *state.ReadTx) (err error) { out, err = Statements(tx, r.Var("id")); return })
	if err != nil {
		return 0, nil, err
	}
	return 200, map[string]any{"statements": out}, nil
}

// discard drops a batch not confirmed: an upload cut off part way, or the
// wrong file. Its reference may be used again.
func (b *Backend) discard(r *api.Request) (int, any, error) {
	r.Audit.Object = r.Var("batch")
	if _, err := r.Propose(state.NewCommand(CmdDiscard, mustJSON(Discard{Batch: r.Var("batch"), By: r.Subject.ID}), r.Now())); err != nil {
		return 0, nil, err
	}
	return 200, map[string]any{"batch": r.Var("batch"), "status": Discarded}, nil
}
