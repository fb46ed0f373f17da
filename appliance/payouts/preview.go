package payouts

import (
	"encoding/json"
	"fmt"

	"cxt/appliance/ledger"
	"cxt/policy"
	"cxt/storage/state"
)

// CmdPreview executes a batch in a dry run (state.DryRun) and answers what
// execution would do now. It is never proposed: a replica refuses it.
const CmdPreview = "payout.preview"

// PreviewAsk is the body of CmdPreview: the batch, and which rows to show.
type PreviewAsk struct {
	Batch  string `json:"batch"`
	After  int    `json:"after,omitempty"`  // rows after this row number
	Limit  int    `json:"limit,omitempty"`  // at most this many; 0: 100
	Status Status `json:"status,omitempty"` // only rows that would end so
	// Limits are the risk settings in force, as an execution would carry.
	Limits *policy.PayoutLimits `json:"limits,omitempty"`
}

// Preview is what a batch would do if it ran now.
type Preview struct {
	Batch   string         `json:"batch"`
	Status  string         `json:"status"`
	Rows    int            `json:"rows"`
	Counts  map[Status]int `json:"counts"`
	Reasons map[string]int `json:"reasons"` // held and rejected rows by code
	// Totals are of the rows that would be paid now.
	Totals Totals       `json:"totals"`
	Page   []PreviewRow `json:"page"`
	Next   int          `json:"next,omitempty"` // the After of the next page; 0: none
	// Balance is the merchant's available balance before the batch, and
	// what the rows paid now would take from it.
	Balance string `json:"balance"`
	Needs   string `json:"needs"`
	// DuplicateOf names an earlier batch of the merchant with the very
	// same rows: the same file uploaded again under another reference.
	DuplicateOf string `json:"duplicate_of,omitempty"`
}

// Totals are money sums as decimal strings.
type Totals struct {
	Amount     string `json:"amount"`
	Fee        string `json:"fee"`
	IIT        string `json:"iit"`
	VAT        string `json:"vat"`
	Surcharges string `json:"surcharges"`
	Net        string `json:"net"`
}

// PreviewRow is one row's decision and, if paid, its fee and tax with the
// working.
type PreviewRow struct {
	Row        int     `json:"row"`
	Worker     string  `json:"worker"`
	Task       string  `json:"task"`
	Amount     string  `json:"amount"`
	Status     Status  `json:"status"`
	Code       string  `json:"code,omitempty"`
	Reason     string  `json:"reason,omitempty"`
	Fee        string  `json:"fee,omitempty"`
	FeeRule    string  `json:"fee_rule,omitempty"`
	IIT        string  `json:"iit,omitempty"`
	VAT        string  `json:"vat,omitempty"`
	Surcharges string  `json:"surcharges,omitempty"`
	Net        string  `json:"net,omitempty"`
	Tax        *Taxing `json:"tax,omitempty"`
}

// Taxing is the working of one payment's income tax.
type Taxing struct {
	Method  string `json:"method"`
	RuleSet string `json:"rule_set"`
	Month   int    `json:"month"`
	// For the cumulative method: the worker's cumulative figures with this
	// payment, and what the month withheld before it.
	CumulativeIncome string `json:"cumulative_income,omitempty"`
	Cost             string `json:"cost,omitempty"`
	Deduction        string `json:"deduction,omitempty"`
	Months           int    `json:"months,omitempty"`
	Base             string `json:"taxable,omitempty"`
	Rate             string `json:"rate,omitempty"`
	Quick            string `json:"quick_deduction,omitempty"`
	CumulativeTax    string `json:"cumulative_tax,omitempty"`
	WithheldBefore   string `json:"withheld_before,omitempty"`
	Formula          string `json:"formula,omitempty"`
}

func (h *handlers) preview(tx *state.Tx, cmd *state.Command) ([]byte, error) {
	if !tx.Dry() {
		return nil, state.Reject(state.InvalidRequest, "%s is a dry run only", CmdPreview)
	}
	var in PreviewAsk
	if err := json.Unmarshal(cmd.Body, &in); err != nil || in.Batch == "" {
		return nil, state.Reject(state.InvalidRequest, "a preview names its batch")
	}
	if in.Limit <= 0 || in.Limit > 1000 {
		in.Limit = 100
	}
	b, err := GetBatch(tx, in.Batch)
	if err != nil {
		return nil, err
	}
	if b.Status != Uploaded {
		return nil, state.Reject(CodeBatchStatus, "batch %s is %s; a preview is of an uploaded batch, before its confirm (its payments show what happened)", b.ID, b.Status)
	}
	r, err := newRun(h.rules, tx, b.Merchant, in.Limits)
	if err != nil {
		return nil, err
	}
	r.batches[b.ID] = b
	r.explain = map[string]*taxed{}
	out := Preview{Batch: b.ID, Status: b.Status, Rows: b.Rows, Counts: map[Status]int{}, Reasons: map[string]int{}, Balance: ledger.Yuan(r.available),
		DuplicateOf: b.DuplicateOf}
	start := r.available
	var sum [6]int64
	for c := range b.Chunks {
		packed, err := tx.Get(RowsBucket, chunkKey(b.ID, c))
		if err != nil {
			return nil, err
		}
		rows, err := unpackRows(packed)
		if err != nil {
			return nil, fmt.Errorf("payouts: batch %s chunk %d: %w", b.ID, c, err)
		}
		for _, row := range rows {
			p := &Payment{ID: PaymentID(b.ID, row.No), Batch: b.ID, Row: row.No, Merchant: b.Merchant, Worker: row.Worker, Task: row.Task, AmountFen: row.Fen, Created: r.now}
			if err := r.decide(p); err != nil {
				return nil, err
			}
			out.Counts[p.Status]++
			if p.Code != "" {
				out.Reasons[p.Code]++
			}
			if p.Status == Accepted {
				for i, v := range []int64{p.AmountFen, p.FeeFen, p.IITFen, p.VATFen, p.SurFen, p.NetFen} {
					sum[i] += v
				}
			}
			if row.No > in.After && len(out.Page) < in.Limit && (in.Status == "" || in.Status == p.Status) {
				out.Page = append(out.Page, previewRow(p, r.explain[p.ID]))
			} else if row.No > in.After && len(out.Page) == in.Limit && out.Next == 0 && (in.Status == "" || in.Status == p.Status) {
				out.Next = out.Page[len(out.Page)-1].Row
			}
		}
	}
	out.Totals = Totals{Amount: ledger.Yuan(sum[0]), Fee: ledger.Yuan(sum[1]), IIT: ledger.Yuan(sum[2]), VAT: ledger.Yuan(sum[3]), Surcharges: ledger.Yuan(sum[4]), Net: ledger.Yuan(sum[5])}
	out.Needs = ledger.Yuan(start - r.available)
	return json.Marshal(out)
}

func previewRow(p *Payment, t *taxed) PreviewRow {
	pr := PreviewRow{Row: p.Row, Worker: p.Worker, Task: p.Task, Amount: ledger.Yuan(p.AmountFen), Status: p.Status, Code: p.Code, Reason: p.Reason}
	if p.Status != Accepted {
		return pr
	}
	pr.Fee, pr.FeeRule = ledger.Yuan(p.FeeFen), p.FeeRule
	pr.IIT, pr.VAT, pr.Surcharges, pr.Net = ledger.Yuan(p.IITFen), ledger.Yuan(p.VATFen), ledger.Yuan(p.SurFen), ledger.Yuan(p.NetFen)
	if t == nil {
		return pr
	}
	pr.Tax = &Taxing{Method: t.Method, RuleSet: p.RuleSet, Month: p.Month}
	if cm := t.Cumulative; cm != nil {
		tx := pr.Tax
		tx.CumulativeIncome, tx.Cost, tx.Deduction, tx.Months = cm.Cumul.StringFixed(2), cm.Cost.StringFixed(2), cm.Deducted.StringFixed(2), cm.Months
		tx.Base, tx.Rate, tx.Quick, tx.CumulativeTax = cm.Base.StringFixed(2), cm.Row.Rate.String(), cm.Row.Quick.StringFixed(2), cm.Tax.StringFixed(2)
		tx.WithheldBefore = ledger.Yuan(fenOf(cm.Prior) + t.before)
		tx.Formula = fmt.Sprintf("max(0, (%s − %s − %s) × %s − %s) − %s withheld before = %s",
			tx.CumulativeIncome, tx.Cost, tx.Deduction, tx.Rate, tx.Quick, tx.WithheldBefore, pr.IIT)
	}
	return pr
}
