package topups

import (
	"fmt"

	"cxt/appliance/ident"
	"cxt/appliance/ledger"
	"cxt/appliance/subjects"
	"cxt/crypto/subjectkey"
)

// Money in answers is a string of yuan with two decimals (ledger.Yuan),
// never a JSON number.

func tallyView(t Tally) map[string]any {
	return map[string]any{"lines": t.Lines, "amount": ledger.Yuan(t.Fen)}
}

func (s *Statement) view() map[string]any {
	status := "importing"
	if !s.Finished.IsZero() {
		status = "done"
	}
	out := map[string]any{
		"id": s.ID, "sm3": s.SM3, "bytes": s.Bytes, "rows": s.Rows, "lines_done": s.Lines, "chunks": s.Chunks,
		"chunks_done": len(s.Done), "status": status, "progress": fmt.Sprintf("%d of %d lines", s.Lines, s.Rows),
		"by": s.By, "started": s.Started, "updated": s.Updated,
		"matched": tallyView(s.Matched), "suspense": tallyView(s.Suspense),
		"duplicate": tallyView(s.Duplicate), "skipped": tallyView(s.Skipped),
	}
	if s.Name != "" {
		out["name"] = s.Name
	}
	if !s.Finished.IsZero() {
		out["finished"] = s.Finished
	}
	return out
}

func (l *LineReport) view() map[string]any {
	out := map[string]any{"row": l.Row, "txn_id": l.TxnID, "amount": ledger.Yuan(l.Fen), "status": l.Status}
	for k, v := range map[string]string{"merchant": l.Merchant, "matched_by": l.MatchedBy, "reason": l.Reason,
		"suspense": l.Suspense, "first_statement": l.FirstStatement} {
		if v != "" {
			out[k] = v
		}
	}
	if len(l.Candidates) > 0 {
		out["candidates"] = l.Candidates
	}
	if l.FirstRow > 0 {
		out["first_row"] = l.FirstRow
	}
	if l.Posting > 0 {
		out["posting"] = l.Posting
	}
	return out
}

// lineView is what the bank said of a credited line. The payer's account
// number is masked; its name is a company's or a person's as the bank
// printed it.
func (c *Credit) lineView() map[string]any {
	out := map[string]any{
		"txn_id": c.TxnID, "value_date": c.ValueDate, "amount": ledger.Yuan(c.Fen), "statement": c.Statement, "row": c.Row,
		"payer_name": c.PayerName, "payer_bank": c.PayerBank, "memo": c.Memo, "credited": c.Credited,
	}
	if c.PayerAccount != "" {
		out["payer_account"] = ident.MaskBankCard(c.PayerAccount)
	}
	return out
}

// topUpView is a merchant's top-up, as its users see it.
func (c *Credit) topUpView(posting uint64) map[string]any {
	out := c.lineView()
	out["matched_by"], out["posting"] = c.MatchedBy, posting
	return out
}

func (s *Suspense) view(c *Credit) map[string]any {
	out := map[string]any{
		"id": s.ID, "amount": ledger.Yuan(s.Fen), "reason": s.Reason, "status": s.Status, "history": s.History,
		"created": s.Created, "posting": s.Posting,
	}
	if len(s.Candidates) > 0 {
		out["candidates"] = s.Candidates
	}
	if s.Proposal != nil {
		out["proposal"] = s.Proposal
	}
	if s.Settled > 0 {
		out["settled"] = s.Settled
	}
	if c != nil {
		out["line"] = c.lineView()
		if c.Merchant != "" {
			out["merchant"] = c.Merchant
		}
	}
	return out
}

// view shows a payer account with its number masked; key opens its details
// (nil: the details are not shown).
func (p *Payer) view(key *subjectkey.Key) map[string]any {
	out := map[string]any{
		"id": p.ID, "merchant": p.Merchant, "account": p.Masked, "status": p.Status,
		"registered_by": p.By, "registered": p.Registered,
	}
	if key != nil {
		var d PayerDetails
		if err := subjects.Open(key, PayerAAD(p.Merchant, p.ID), p.Details, &d); err != nil {
			out["details"] = "unreadable"
		} else {
			out["bank"], out["name"] = d.Bank, d.Name
		}
	}
	if p.ReviewedBy != "" {
		out["reviewed_by"], out["reviewed"] = p.ReviewedBy, p.Reviewed
	}
	if p.Reason != "" {
		out["reason"] = p.Reason
	}
	return out
}
