package payouts

import (
	"fmt"
	"strings"

	"cxt/appliance/ledger"
	"cxt/storage/state"
)

// EventTaxPayment is the posting event of a tax payment to the authority
// (appliance/filing's command): the auditor counts what it settled.
const EventTaxPayment = "filing.pay"

// Report is what Verify found.
type Report struct {
	OK       bool     `json:"ok"`
	Postings int      `json:"postings"`
	Accounts int      `json:"accounts"`
	Payments int      `json:"payments"`
	Problems []string `json:"problems"`
}

// Verify is the auditor's check of a state (`cxt ledger verify`): the
// ledger rebuilt from its postings alone (ledger.Verify), then the payments
// held against it — every payment in one known status; what worker payable,
// each channel's clearing account, the tax payables and fee income (with
// the fees booked outside payouts: at top-up, on statements) hold is
// what the payments where they are say, less the tax paid to the
// authority (EventTaxPayment postings, each debiting a tax account and
// crediting the bank, checked for that shape); each merchant's balance is its
// top-ups and adjustments less what its live payments took; every booked
// payment names a posting that lists it, a task and an agreement; the
// outbox holds exactly the accepted payments; no adjustment (cause
// adjustment) moves an account ledger.NotAdjustable refuses (whose detail
// is the payments, the suspense items or the bank's statement), and a
// channel's clearing account no payment is with holds nothing. Suspense is
// held against its items by topups.Audit.
func Verify(r *state.ReadTx) (*Report, error) {
	lr, err := ledger.Verify(r)
	if err != nil {
		return nil, err
	}
	rep := &Report{Postings: lr.Postings, Accounts: lr.Accounts, Problems: lr.Problems}
	bad := func(format string, args ...any) { rep.Problems = append(rep.Problems, fmt.Sprintf(format, args...)) }

	// What the postings say of each payment, and what moved each merchant
	// other than payments.
	listed := map[string]map[uint64]bool{}
	other := map[string]int64{}   // merchant account -> top-ups, fees charged outside payouts and adjustments, net
	var fees int64                // fee income booked outside payouts (at top-up, on statements)
	paidOut := map[string]int64{} // tax account -> paid to the authority (filing.pay)
	// taxPayment checks a payment to the tax authority's shape — tax
	// accounts debited, the bank credited, cause tax — and counts what it
	// settled.
	taxPayment := func(p *ledger.Posting) {
		var dr, cr int64
		for _, l := range p.Lines {
			switch {
			case l.Cause != ledger.CauseTax:
				bad("posting %d (%s) moves %s for %s, not tax", p.Seq, p.Event, l.Account, l.Cause)
			case l.Debit && (l.Account == ledger.IIT || l.Account == ledger.VAT || l.Account == ledger.Surcharges):
				paidOut[l.Account] += l.Fen
				dr += l.Fen
			case !l.Debit && l.Account == ledger.Bank:
				cr += l.Fen
			default:
				bad("posting %d (%s) moves %s: a tax payment debits a tax account and credits the bank", p.Seq, p.Event, l.Account)
			}
		}
		if dr != cr {
			bad("posting %d (%s) pays %s of tax out of %s from the bank", p.Seq, p.Event, ledger.Yuan(dr), ledger.Yuan(cr))
		}
	}
	err = r.Scan(ledger.PostingsBucket, func(k, v []byte, openErr error) error {
		if openErr != nil {
			return nil // ledger.Verify reported it
		}
		p, err := ledger.Decode(v)
		if err != nil {
			return nil // ledger.Verify reported it
		}
		for _, id := range p.Payments {
			if listed[id] == nil {
				listed[id] = map[uint64]bool{}
			}
			listed[id][p.Seq] = true
		}
		if len(p.Payments) > 0 {
			return nil
		}
		if p.Event == EventTaxPayment {
			taxPayment(p)
			return nil
		}
		for _, l := range p.Lines {
			// An adjustment (调账) never moves an account whose detail is
			// the payments: the payments could no longer account for it.
			if l.Cause == ledger.CauseAdjustment {
				if paymentDetail(l.Account) {
					bad("posting %d (%s %s) adjusts %s, whose detail is the payments", p.Seq, p.Event, p.Ref, l.Account)
				} else if why := ledger.NotAdjustable(l.Account, l.Debit); why != "" {
					bad("posting %d (%s %s) adjusts %s (debit %t): %s", p.Seq, p.Event, p.Ref, l.Account, l.Debit, why)
				}
			}
			if l.Account == ledger.FeeIncome {
				if l.Debit {
					fees -= l.Fen
				} else {
					fees += l.Fen
				}
			}
			if _, ok := ledger.MerchantOf(l.Account); ok {
				if l.Debit {
					other[l.Account] -= l.Fen
				} else {
					other[l.Account] += l.Fen
				}
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}

	want := map[string]int64{}
	spent := map[string]int64{}
	accepted := map[string]bool{}
	err = r.Scan(PaymentBucket, func(k, v []byte, openErr error) error {
		rep.Payments++
		if openErr != nil {
			bad("payment %s does not open: %v", k, openErr)
			return nil
		}
		p, err := unpackPayment(v)
		if err != nil || p.ID != string(k) {
			bad("payment %s does not unpack (%v)", k, err)
			return nil
		}
		live := false
		switch p.Status {
		case Accepted:
			want[ledger.WorkerPayable] += p.NetFen
			accepted[p.ID], live = true, true
		case Submitted:
			want[ledger.Clearing(p.Channel)] += p.NetFen
			live = true
		case Paid:
			live = true
		case Rejected, OnHold, Cancelled:
			if p.Posting != 0 {
				bad("%s is %s but was booked by posting %d", p.ID, p.Status, p.Posting)
			}
		case Failed, Returned:
		default:
			bad("%s has no known status %q", p.ID, p.Status)
		}
		if p.Posting != 0 && !listed[p.ID][p.Posting] {
			bad("%s names posting %d, which does not list it", p.ID, p.Posting)
		}
		if !live {
			return nil
		}
		if p.Posting == 0 || p.Task == "" || p.Agreement == "" {
			bad("%s is %s without a posting, a task or an agreement", p.ID, p.Status)
		}
		if p.NetFen != p.AmountFen-p.IITFen-p.VATFen-p.SurFen || p.NetFen < 0 {
			bad("%s: net %s is not its amount less its taxes", p.ID, ledger.Yuan(p.NetFen))
		}
		want[ledger.IIT] += p.IITFen
		want[ledger.VAT] += p.VATFen
		want[ledger.Surcharges] += p.SurFen
		want[ledger.FeeIncome] += p.FeeFen
		spent[ledger.Merchant(p.Merchant)] += p.AmountFen + p.FeeFen
		return nil
	})
	if err != nil {
		return nil, err
	}
	if fees != 0 || want[ledger.FeeIncome] != 0 {
		want[ledger.FeeIncome] += fees
	}
	for a, fen := range paidOut {
		want[a] -= fen // withheld, then paid to the authority
	}
	for a, fen := range want {
		if got := lr.Balances[a]; got != fen {
			bad("%s holds %s; the payments where they are say %s", a, ledger.Yuan(got), ledger.Yuan(fen))
		}
	}
	for _, a := range []string{ledger.WorkerPayable, ledger.IIT, ledger.VAT, ledger.Surcharges, ledger.FeeIncome} {
		if _, ok := want[a]; !ok && lr.Balances[a] != 0 {
			bad("%s holds %s; no payment accounts for it", a, ledger.Yuan(lr.Balances[a]))
		}
	}
	for a, bal := range lr.Balances {
		if _, ok := want[a]; !ok && strings.HasPrefix(a, "channel/") && bal != 0 {
			bad("%s holds %s; no payment with the channel accounts for it", a, ledger.Yuan(bal))
		}
	}
	for a, bal := range lr.Balances {
		if _, ok := ledger.MerchantOf(a); ok && bal != other[a]-spent[a] {
			bad("%s holds %s; its top-ups and adjustments %s less its payments %s make %s", a, ledger.Yuan(bal),
				ledger.Yuan(other[a]), ledger.Yuan(spent[a]), ledger.Yuan(other[a]-spent[a]))
		}
	}
	err = r.Scan(OutboxBucket, func(k, _ []byte, openErr error) error {
		_, id, ok := parseOutbox(k)
		if openErr != nil || !ok {
			bad("outbox entry %x is damaged", k)
			return nil
		}
		if !accepted[id] {
			bad("the outbox holds %s, which is not accepted", id)
		}
		delete(accepted, id)
		return nil
	})
	if err != nil {
		return nil, err
	}
	for id := range accepted {
		bad("accepted %s is not in the outbox: it would never be paid", id)
	}
	rep.OK = len(rep.Problems) == 0
	return rep, nil
}

// paymentDetail reports whether an account's balance is what the payments
// where they are say: worker payable, the tax payables, a channel's
// clearing account.
func paymentDetail(account string) bool {
	switch account {
	case ledger.WorkerPayable, ledger.IIT, ledger.VAT, ledger.Surcharges:
		return true
	}
	return strings.HasPrefix(account, "channel/")
}
