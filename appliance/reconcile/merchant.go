package reconcile

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
	"time"

	"cxt/appliance/ledger"
	"cxt/appliance/payouts"
	"cxt/storage/state"
)

// A merchant's reconciliation file (商户对账单) lists, for one merchant
// and one day or month in China, every movement of its balance: each
// top-up, each fee charged outside a payment, each payment booked (its
// amount and its fee), each payment failed or returned and given back,
// each adjustment — each with the balance after it, from the opening
// balance to the closing one, so that opening + credits − debits =
// closing to the fen. UTF-8 CSV, LF, every line of the same eleven
// columns (a spreadsheet reads it whole):
//
//	time,kind,ref,payment,worker,amount,fee,debit,credit,balance,posting
//	<period start>,opening,,,,,,,,<opening balance>,
//	<one line per movement, in posting order>
//	#TOTAL,<movements>,,,,,,<debits>,<credits>,<closing balance>,
const MerchantHeader = "time,kind,ref,payment,worker,amount,fee,debit,credit,balance,posting"

// Kinds of a merchant file's line.
const (
	KindTopUp      = "top_up"
	KindFeeCharge  = "fee"
	KindPayment    = "payment"
	KindReversal   = "reversal" // a payment failed or returned: amount and fee back
	KindAdjustment = "adjustment"
	KindOther      = "other"   // any other movement (never expected: the tests hold the file to the ledger)
	KindOpening    = "opening" // the file's first line: the balance before the period
)

// MerchantLine is one movement of a merchant's balance.
type MerchantLine struct {
	Time      time.Time `json:"time"`
	Kind      string    `json:"kind"`
	Ref       string    `json:"ref"`
	Payment   string    `json:"payment,omitempty"`
	Worker    string    `json:"worker,omitempty"`
	AmountFen int64     `json:"-"`
	FeeFen    int64     `json:"-"`
	DebitFen  int64     `json:"-"`
	CreditFen int64     `json:"-"`
	// BalanceFen is the balance after the line.
	BalanceFen int64  `json:"-"`
	Posting    uint64 `json:"posting"`
}

// MerchantFile is a merchant's reconciliation of a period.
type MerchantFile struct {
	Merchant string
	Period   string // yyyy-mm or yyyy-mm-dd
	From, To time.Time
	Opening  int64
	Closing  int64
	Debits   int64
	Credits  int64
	Lines    []MerchantLine
}

// PeriodBounds reads a month (yyyy-mm) or a day (yyyy-mm-dd) into its
// bounds in China.
func PeriodBounds(s string) (from, to time.Time, ok bool) {
	if m, ok := ParsePeriod(s); ok {
		from = time.Date(m/100, time.Month(m%100), 1, 0, 0, 0, 0, payouts.China)
		return from, from.AddDate(0, 1, 0), true
	}
	if d, ok := ParseDay(s); ok {
		from = time.Date(int(d/10000), time.Month(d/100%100), int(d%100), 0, 0, 0, 0, payouts.China)
		return from, from.AddDate(0, 0, 1), true
	}
	return time.Time{}, time.Time{}, false
}

var causeKind = map[string]string{ledger.CauseTopUp: KindTopUp, ledger.CauseFee: KindFeeCharge, ledger.CauseAdjustment: KindAdjustment}

// MerchantReconciliation builds a merchant's file for a period from the
// postings (the truth of its balance) and, for the postings that sum
// payments, the payments themselves.
func MerchantReconciliation(tx *state.ReadTx, merchant, period string) (*MerchantFile, error) {
	from, to, ok := PeriodBounds(period)
	if !ok {
		return nil, state.Reject(state.InvalidRequest, "period %q: yyyy-mm or yyyy-mm-dd", period)
	}
	account := ledger.Merchant(merchant)
	mf := &MerchantFile{Merchant: merchant, Period: period, From: from, To: to, Lines: []MerchantLine{}}
	payments := map[string]*payouts.Payment{}
	err := tx.Scan(ledger.PostingsBucket, func(k, v []byte, openErr error) error {
		if openErr != nil {
			return openErr
		}
		p, err := ledger.Decode(v)
		if err != nil {
			return err
		}
		var effect int64
		for _, l := range p.Lines {
			if l.Account == account {
				effect += signed(l)
			}
		}
		touches := false
		for _, l := range p.Lines {
			touches = touches || l.Account == account
		}
		switch {
		case !touches || !p.Time.Before(to):
			return nil
		case p.Time.Before(from):
			mf.Opening += effect
			return nil
		}
		start := len(mf.Lines)
		if len(p.Payments) == 0 {
			for _, l := range p.Lines {
				if l.Account != account {
					continue
				}
				kind, ok := causeKind[l.Cause]
				if !ok {
					kind = KindOther
				}
				ml := MerchantLine{Time: p.Time, Kind: kind, Ref: p.Ref, Posting: p.Seq}
				if l.Debit {
					ml.DebitFen = l.Fen
				} else {
					ml.CreditFen = l.Fen
				}
				mf.Lines = append(mf.Lines, ml)
			}
		} else {
			for _, id := range p.Payments {
				pm, ok := payments[id]
				if !ok {
					if pm, err = payouts.GetPayment(tx, id); err != nil {
						return err
					}
					payments[id] = pm
				}
				if pm.Merchant != merchant {
					continue
				}
				ml := MerchantLine{Time: p.Time, Ref: p.Ref, Payment: pm.ID, Worker: pm.Worker, AmountFen: pm.AmountFen, FeeFen: pm.FeeFen, Posting: p.Seq}
				switch {
				case pm.Posting == p.Seq:
					ml.Kind, ml.DebitFen = KindPayment, pm.AmountFen+pm.FeeFen
				case (pm.Status == payouts.Failed || pm.Status == payouts.Returned) && pm.Updated.Equal(p.Time):
					ml.Kind, ml.CreditFen = KindReversal, pm.AmountFen+pm.FeeFen
				default:
					continue // moved with the channel: the merchant's balance did not
				}
				mf.Lines = append(mf.Lines, ml)
			}
		}
		// The lines of a posting add up to what it did to the balance;
		// what they do not explain is said as such, never dropped.
		var got int64
		for _, l := range mf.Lines[start:] {
			got += l.CreditFen - l.DebitFen
		}
		if rest := effect - got; rest != 0 {
			ml := MerchantLine{Time: p.Time, Kind: KindOther, Ref: p.Ref, Posting: p.Seq}
			if rest < 0 {
				ml.DebitFen = -rest
			} else {
				ml.CreditFen = rest
			}
			mf.Lines = append(mf.Lines, ml)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	mf.total()
	return mf, nil
}

// total adds the lines up and carries the balance through them.
func (mf *MerchantFile) total() {
	bal := mf.Opening
	mf.Debits, mf.Credits = 0, 0
	for i := range mf.Lines {
		l := &mf.Lines[i]
		mf.Debits += l.DebitFen
		mf.Credits += l.CreditFen
		bal += l.CreditFen - l.DebitFen
		l.BalanceFen = bal
	}
	mf.Closing = bal
}

// signed is a line's effect on a credit-normal account.
func signed(l ledger.Line) int64 {
	if l.Debit {
		return -l.Fen
	}
	return l.Fen
}

// CSV writes the file.
func (mf *MerchantFile) CSV() []byte {
	var b bytes.Buffer
	b.WriteString(MerchantHeader + "\n")
	opt := func(fen int64, show bool) string {
		if !show {
			return ""
		}
		return yuan(fen)
	}
	b.WriteString(mf.From.In(payouts.China).Format(time.RFC3339) + "," + KindOpening + ",,,,,,,," + yuan(mf.Opening) + ",\n")
	for _, l := range mf.Lines {
		pay := l.Payment != ""
		fmt.Fprintf(&b, "%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%d\n", l.Time.In(payouts.China).Format(time.RFC3339), l.Kind, csvField(l.Ref), l.Payment, l.Worker,
			opt(l.AmountFen, pay), opt(l.FeeFen, pay), opt(l.DebitFen, l.DebitFen != 0), opt(l.CreditFen, l.CreditFen != 0), yuan(l.BalanceFen), l.Posting)
	}
	b.WriteString("#TOTAL," + strconv.Itoa(len(mf.Lines)) + ",,,,,," + yuan(mf.Debits) + "," + yuan(mf.Credits) + "," + yuan(mf.Closing) + ",\n")
	return b.Bytes()
}

// csvField quotes a field that holds a comma or a quote (a posting's
// reference is the domain's, not ours).
func csvField(s string) string {
	for i := 0; i < len(s); i++ {
		if s[i] == ',' || s[i] == '"' || s[i] == '\n' || s[i] == '\r' {
			return `"` + strings.ReplaceAll(s, `"`, `""`) + `"`
		}
	}
	return s
}
