package payouts_test

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"sort"
	"testing"

	"github.com/shopspring/decimal"

	"cxt/appliance/ledger"
	"cxt/appliance/payouts"
	"cxt/appliance/tax"
	"cxt/storage/state"
)

// audit is the independent auditor: it rebuilds every balance from the
// postings alone, then checks the payments against the books — what each
// account must hold given where every payment is — and every payment's tax
// against the tax engine. It shares no code with the package but its
// record readers.
func audit(t *testing.T, st *state.State, rules *payouts.Rules) {
	t.Helper()
	var problems []string
	bad := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	err := st.View(func(r *state.ReadTx) error {
		// 1. The books from the postings alone.
		books := map[string]int64{}
		topUps := map[string]int64{}
		charged := map[string]int64{}          // fees charged outside payments (at top-up, on statements), by account
		listed := map[string]map[uint64]bool{} // payment -> postings that name it
		err := r.Scan(ledger.PostingsBucket, func(k, v []byte, openErr error) error {
			if openErr != nil {
				return openErr
			}
			var p ledger.Posting
			if err := json.Unmarshal(v, &p); err != nil {
				return err
			}
			var dr, cr int64
			for _, l := range p.Lines {
				if l.Fen <= 0 {
					bad("posting %d has a line of %d fen", p.Seq, l.Fen)
				}
				effect := l.Fen
				if l.Debit {
					dr += l.Fen
				} else {
					cr += l.Fen
				}
				if l.Debit != (l.Account == ledger.Bank) {
					effect = -effect
				}
				books[l.Account] += effect
				if l.Cause == ledger.CauseTopUp && !l.Debit {
					topUps[l.Account] += l.Fen
				}
				if l.Cause == ledger.CauseFee && len(p.Payments) == 0 {
					charged[l.Account] += l.Fen
				}
			}
			if dr != cr {
				bad("posting %d: debits %d, credits %d", p.Seq, dr, cr)
			}
			for a, b := range books {
				if b < 0 {
					bad("posting %d takes %s to %d", p.Seq, a, b)
				}
			}
			for _, id := range p.Payments {
				if listed[id] == nil {
					listed[id] = map[uint64]bool{}
				}
				listed[id][p.Seq] = true
			}
			return nil
		})
		if err != nil {
			return err
		}
		for a, want := range books {
			if got, err := ledger.Balance(r, a); err != nil || got != want {
				bad("%s: the state keeps %d, the postings make %d (%v)", a, got, want, err)
			}
		}
		// 2. The payments against the books.
		want := map[string]int64{}
		spent := map[string]int64{}
		accepted := map[string]bool{}
		type month struct {
			worker string
			year   int
		}
		byWorker := map[month]map[int][]*payouts.Payment{}
		reversed := map[month]bool{}
		err = r.Scan(payouts.PaymentBucket, func(k, v []byte, openErr error) error {
			if openErr != nil {
				return openErr
			}
			p, err := payouts.GetPayment(r, string(k))
			if err != nil {
				return err
			}
			live := p.Status == payouts.Accepted || p.Status == payouts.Submitted || p.Status == payouts.Paid
			switch p.Status {
			case payouts.Accepted:
				want[ledger.WorkerPayable] += p.NetFen
				accepted[p.ID] = true
			case payouts.Submitted:
				want[ledger.Clearing(p.Channel)] += p.NetFen
			case payouts.Paid:
				want["paid"] += p.NetFen
			case payouts.Rejected, payouts.OnHold, payouts.Cancelled:
				if p.Posting != 0 || p.IITFen+p.VATFen+p.SurFen+p.FeeFen != 0 {
					bad("%s is %s but carries a posting or amounts: %+v", p.ID, p.Status, p)
				}
			case payouts.Failed, payouts.Returned:
				reversed[month{p.Worker, p.Month / 100}] = true
			default:
				bad("%s has no known status: %q", p.ID, p.Status)
			}
			if p.Posting != 0 && !listed[p.ID][p.Posting] {
				bad("%s names posting %d, which does not list it", p.ID, p.Posting)
			}
			if !live {
				return nil
			}
			if p.Task == "" || p.Agreement == "" {
				bad("%s is not traceable to a task and an agreement: %q %q", p.ID, p.Task, p.Agreement)
			}
			if p.NetFen != p.AmountFen-p.IITFen-p.VATFen-p.SurFen || p.NetFen < 0 {
				bad("%s: net %d is not amount − taxes", p.ID, p.NetFen)
			}
			want[ledger.IIT] += p.IITFen
			want[ledger.VAT] += p.VATFen
			want[ledger.Surcharges] += p.SurFen
			want[ledger.FeeIncome] += p.FeeFen
			spent[ledger.Merchant(p.Merchant)] += p.AmountFen + p.FeeFen
			m := month{p.Worker, p.Month / 100}
			if byWorker[m] == nil {
				byWorker[m] = map[int][]*payouts.Payment{}
			}
			byWorker[m][p.Month%100] = append(byWorker[m][p.Month%100], p)
			return nil
		})
		if err != nil {
			return err
		}
		want[ledger.FeeIncome] += charged[ledger.FeeIncome]
		for _, a := range []string{ledger.WorkerPayable, ledger.IIT, ledger.VAT, ledger.Surcharges, ledger.FeeIncome, ledger.Clearing(rules.Channel)} {
			if books[a] != want[a] {
				bad("%s holds %d; the payments say %d", a, books[a], want[a])
			}
		}
		var allTopUps int64
		for a, in := range topUps {
			allTopUps += in
			if books[a] != in-spent[a]-charged[a] {
				bad("%s holds %d; top-ups %d less payments %d and fees %d make %d", a, books[a], in, spent[a], charged[a], in-spent[a]-charged[a])
			}
		}
		if books[ledger.Bank] != allTopUps-want["paid"] {
			bad("the bank holds %d; top-ups %d less paid %d", books[ledger.Bank], allTopUps, want["paid"])
		}
		// 3. The outbox holds exactly the accepted payments.
		err = r.Scan(payouts.OutboxBucket, func(k, v []byte, openErr error) error {
			if openErr != nil {
				return openErr
			}
			id := string(k[8:])
			if !accepted[id] || len(v) != 0 {
				bad("outbox %d holds %s (%q), which is not accepted", binary.BigEndian.Uint64(k[:8]), id, v)
			}
			delete(accepted, id)
			return nil
		})
		if err != nil {
			return err
		}
		for id := range accepted {
			bad("accepted %s is not in the outbox", id)
		}
		// 4. Each worker's tax is the engine's for their months.
		for m, months := range byWorker {
			if reversed[m] {
				continue // a reversal changes the history the engine would see; TestAReturnReversesTheWithholding checks it
			}
			rs, err := rules.Tax.For(m.year)
			if err != nil {
				return err
			}
			nums := make([]int, 0, len(months))
			for n := range months {
				nums = append(nums, n)
			}
			sort.Ints(nums)
			var in []tax.MonthIncome
			withheld := map[int][3]int64{}
			for _, n := range nums {
				var sum int64
				var got [3]int64
				for _, p := range months[n] {
					sum += p.AmountFen
					got[0] += p.IITFen
					got[1] += p.VATFen
					got[2] += p.SurFen
				}
				vat, _, err := rs.AgentVAT(tax.VATInput{Income: ledger.Decimal(sum), Location: rules.Location, Filing: tax.FilingMonthly})
				if err != nil {
					return err
				}
				if fen(vat.VAT) != got[1] || fen(vat.Total.Sub(vat.VAT)) != got[2] {
					bad("%s %d-%02d: VAT %d and surcharges %d withheld; the engine says %s and %s", m.worker, m.year, n, got[1], got[2], vat.VAT, vat.Total.Sub(vat.VAT))
				}
				in = append(in, tax.MonthIncome{Month: n, Income: ledger.Decimal(sum).Sub(vat.VAT)})
				withheld[n] = got
			}
			res, _, err := rs.WithholdCumulative(in, "")
			if err != nil {
				return err
			}
			for _, mq := range res {
				if mq.NoIncome {
					continue
				}
				if fen(mq.IIT) != withheld[mq.Month][0] {
					bad("%s %d-%02d: IIT %d withheld; the engine says %s", m.worker, m.year, mq.Month, withheld[mq.Month][0], mq.IIT)
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var rep *payouts.Report
	if err := st.View(func(r *state.ReadTx) (err error) { rep, err = payouts.Verify(r); return }); err != nil {
		t.Fatal(err)
	}
	if !rep.OK {
		problems = append(problems, rep.Problems...)
	}
	if len(problems) > 0 {
		if len(problems) > 20 {
			problems = problems[:20]
		}
		t.Fatalf("the auditor found:\n%v", problems)
	}
}

func fen(d decimal.Decimal) int64 { return d.Shift(2).Round(0).IntPart() }
