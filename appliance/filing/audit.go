package filing

import (
	"encoding/json"
	"fmt"

	"cxt/appliance/ledger"
	"cxt/storage/state"
)

// Audit holds the tax payments against the books, for the auditor (`cxt
// ledger verify`, after payouts.Verify): every recorded payment names a
// filing.pay posting that debits its kind's account by its amount and
// credits the bank, no such posting is without its record, and each
// receipt maps to its payment. It returns the problems found. (A period
// paid beyond what a later correction declares is no problem of the books:
// the tax was paid, and its refund is claimed outside cxt.)
func Audit(r *state.ReadTx) ([]string, error) {
	var problems []string
	bad := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	posted := map[uint64]*ledger.Posting{}
	err := r.Scan(ledger.PostingsBucket, func(k, v []byte, openErr error) error {
		if openErr != nil {
			return nil // ledger.Verify reports it
		}
		p, err := ledger.Decode(v)
		if err == nil && p.Event == CmdPay {
			posted[p.Seq] = p
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	err = r.Scan(PaymentBucket, func(k, v []byte, openErr error) error {
		var tp TaxPayment
		if openErr != nil || json.Unmarshal(v, &tp) != nil {
			bad("tax payment %s does not open", k)
			return nil
		}
		p := posted[tp.Posting]
		delete(posted, tp.Posting)
		switch {
		case p == nil:
			bad("tax payment %s (receipt %s) names posting %d, which is not a tax payment's", k, tp.Receipt, tp.Posting)
		case len(p.Lines) != 2 || p.Lines[0].Account != account(tp.Kind) || !p.Lines[0].Debit || p.Lines[0].Fen != tp.Fen ||
			p.Lines[1].Account != ledger.Bank || p.Lines[1].Debit || p.Lines[1].Fen != tp.Fen:
			bad("tax payment %s (%s %s) and its posting %d disagree", k, tp.Kind, ledger.Yuan(tp.Fen), tp.Posting)
		}
		if got, err := r.Get(ReceiptBucket, []byte(tp.Receipt)); err != nil {
			return err
		} else if string(got) != string(k) {
			bad("receipt %s maps to %q, not to its payment %s", tp.Receipt, got, k)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	for seq := range posted {
		bad("posting %d pays tax (filing.pay) and no tax payment names it", seq)
	}
	return problems, nil
}
