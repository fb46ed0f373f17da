package payouts

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"cxt/appliance/ledger"
	"cxt/storage/state"
)

// CmdStatement charges a merchant whose fees are charged after (后收) for
// a calendar month: its fee configuration's Statement over the month's
// payments, booked once.
const CmdStatement = "payout.statement"

// StatementAsk is the body of CmdStatement.
type StatementAsk struct {
	Merchant string `json:"merchant"`
	Period   string `json:"period"` // yyyy-mm, a month in China that has ended
	By       string `json:"by"`
}

// Statement is a month's fee statement, as booked.
type Statement struct {
	Merchant string    `json:"merchant"`
	Period   string    `json:"period"`
	Payments int       `json:"payments"` // the month's payments charged on
	Total    string    `json:"total"`    // their amounts
	Fee      string    `json:"fee"`
	Rule     string    `json:"rule"`              // the fee configuration's version; "" for none
	Posting  uint64    `json:"posting,omitempty"` // 0 when the fee was nothing
	By       string    `json:"by"`
	At       time.Time `json:"at"`
}

// CodeStatement refuses a statement already booked or of a month not over.
var CodeStatement = state.NewCode(state.KindConflict, "statement_status")

func statementKey(merchant, period string) []byte {
	return []byte("statement/" + merchant + "/" + period)
}

// period reads yyyy-mm as the month's first instant and the next month's,
// in China.
func period(s string) (time.Time, time.Time, error) {
	from, err := time.ParseInLocation("2006-01", s, China)
	if err != nil || from.Format("2006-01") != s {
		return time.Time{}, time.Time{}, fmt.Errorf("period %q is not a month written yyyy-mm", s)
	}
	return from, from.AddDate(0, 1, 0), nil
}

func (h *handlers) statement(tx *state.Tx, cmd *state.Command) ([]byte, error) {
	var in StatementAsk
	if err := json.Unmarshal(cmd.Body, &in); err != nil || in.Merchant == "" || in.By == "" {
		return nil, state.Reject(state.InvalidRequest, "a statement names its merchant, its month and who asks")
	}
	from, to, err := period(in.Period)
	if err != nil {
		return nil, state.Reject(state.InvalidRequest, "%v", err)
	}
	if tx.Time().Before(to) {
		return nil, state.Reject(CodeStatement, "the month %s is not over until %s", in.Period, to.Format(time.RFC3339))
	}
	if prev, err := tx.Get(MetaBucket, statementKey(in.Merchant, in.Period)); err != nil {
		return nil, err
	} else if prev != nil {
		return nil, state.Reject(CodeStatement, "merchant %s's statement of %s is booked already", in.Merchant, in.Period)
	}
	if h.rules.Statement == nil {
		return nil, state.Reject(state.Unavailable, "this appliance charges no fee after the month")
	}
	// The configuration in force on the month's last day charges it.
	charge, rule, err := h.rules.Statement(tx, in.Merchant, to.Add(-time.Nanosecond))
	if err != nil {
		return nil, err
	}
	if charge == nil {
		return nil, state.Reject(CodeStatement, "merchant %s's fees in %s are not charged after the month (后收)", in.Merchant, in.Period)
	}
	// The month's live payments: booked, and not failed or returned.
	var amounts []int64
	var total int64
	prefix := "b/" + in.Merchant + "/"
	err = scanPrefix(tx, BatchRefs, prefix, func(k, _ []byte) error {
		return batchPayments(tx, strings.TrimPrefix(string(k), prefix), func(p *Payment) error {
			live := p.Status == Accepted || p.Status == Submitted || p.Status == Paid
			if live && !p.Created.Before(from) && p.Created.Before(to) {
				amounts = append(amounts, p.AmountFen)
				total += p.AmountFen
			}
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	fee := charge(amounts)
	st := Statement{Merchant: in.Merchant, Period: in.Period, Payments: len(amounts), Total: ledger.Yuan(total), Fee: ledger.Yuan(fee),
		Rule: rule, By: in.By, At: tx.Time()}
	if fee > 0 {
		p := &ledger.Posting{Event: CmdStatement, Ref: in.Merchant + "/" + in.Period, Lines: []ledger.Line{
			{Account: ledger.Merchant(in.Merchant), Debit: true, Fen: fee, Cause: ledger.CauseFee},
			{Account: ledger.FeeIncome, Fen: fee, Cause: ledger.CauseFee}}}
		if err := ledger.Post(tx, p); err != nil {
			return nil, err
		}
		st.Posting = p.Seq
	}
	b, err := json.Marshal(st)
	if err != nil {
		return nil, err
	}
	return b, tx.Put(MetaBucket, statementKey(in.Merchant, in.Period), b)
}

// Statements lists a merchant's booked statements, oldest first.
func Statements(tx *state.ReadTx, merchant string) ([]Statement, error) {
	prefix := statementKey(merchant, "")
	out := []Statement{}
	err := tx.Seek(MetaBucket, prefix, false, func(k, v []byte) (bool, error) {
		if !strings.HasPrefix(string(k), string(prefix)) {
			return false, nil
		}
		var st Statement
		if err := json.Unmarshal(v, &st); err != nil {
			return false, err
		}
		out = append(out, st)
		return true, nil
	})
	return out, err
}
