package payouts

import (
	"fmt"
	"strconv"

	"github.com/shopspring/decimal"

	"cxt/appliance/ledger"
	"cxt/appliance/tax"
)

// withholding is one worker's year on this platform, as the state machine
// keeps it to withhold each payment's tax: the cumulative state after the
// worker's last completed month with income, and the current month's totals
// so far. A payment's tax is what the month's total tax comes to with it,
// less what the month's earlier payments withheld — so two batches racing
// for one worker withhold, together, exactly what one payment of their sum
// would.
type withholding struct {
	Before tax.CumulativeState
	Month  int   // the current month with income, 1..12; 0: none yet
	Income int64 // the current month's income so far, fen
	IIT    int64 // withheld this month so far
	VAT    int64
	Sur    int64
}

// taxed is one payment's withholding and its working.
type taxed struct {
	IIT, VAT, Sur int64
	Month         int // the month it counted in
	Cumulative    *tax.CumulativeMonth
	Method        string
	before        int64 // IIT the month withheld before this payment
}

// withhold computes the tax of a payment of fen in month under rs and adds
// it to w. IIT is computed on the income excluding the VAT withheld with it
// (个人所得税 is charged on income net of VAT). A payment dated before the
// worker's current month — a proposer's clock behind a month's turn — counts
// in the current month: a month once passed never reopens.
//
// When the month turns, the month that ended joins the cumulative state.
// With actual (command set 8 on) it joins with what was withheld in it —
// the cumulative method's "already withheld" (已预扣预缴税额) — not with the
// engine's tax on its income: they differ when a payment came back in its
// own month after later payments were taxed with its income counted, and
// only the withheld figure lets the next months offset what the month
// withheld too much (or too little, by a rounding fen). Before set 8 the
// engine's figure was carried, and replays keep it.
func (w *withholding) withhold(rs *tax.RuleSet, month int, fen int64, location string, actual bool) (taxed, error) {
	// Work on a copy: a payment its tax exceeds (taxExceeds) changes
	// nothing of the worker's year.
	nw := *w
	t, err := nw.add(rs, month, fen, location, actual)
	if err == nil {
		*w = nw
	}
	return t, err
}

// taxExceeds is a payment whose tax is more than the payment: the month's
// VAT falls due in full with the payment that reaches the threshold (the
// 2026 VAT Law taxes a month that reaches it in full), and a small one
// cannot carry it. The row is held (tax_exceeds_payment), never booked:
// nothing can be withheld beyond what is paid.
type taxExceeds struct{ tax, fen int64 }

func (e *taxExceeds) Error() string {
	return fmt.Sprintf("the tax due with this payment is %s — the month's VAT falls due in full with the payment that reaches the monthly threshold — more than the payment of %s: pay at least that much, or release it next month",
		ledger.Yuan(e.tax), ledger.Yuan(e.fen))
}

func (w *withholding) add(rs *tax.RuleSet, month int, fen int64, location string, actual bool) (taxed, error) {
	if month < w.Month {
		month = w.Month
	}
	if month != w.Month {
		if w.Month != 0 {
			ended, after, err := rs.NextMonth(w.Before, w.Month, ledger.Decimal(w.Income-w.VAT), rs.LaborCumulative.GapPolicy)
			if err != nil {
				return taxed{}, err
			}
			if actual {
				after.Withheld = after.Withheld.Sub(ended.IIT).Add(ledger.Decimal(w.IIT))
			}
			w.Before = after
		}
		*w = withholding{Before: w.Before, Month: month}
	}
	income := w.Income + fen
	vat, sur, err := rs.MonthlyAgentVAT(ledger.Decimal(income), location)
	if err != nil {
		return taxed{}, err
	}
	vatFen, surFen := fenOf(vat), fenOf(sur)
	t := taxed{Month: month, VAT: max(vatFen-w.VAT, 0), Sur: max(surFen-w.Sur, 0), before: w.IIT}
	if lc := &rs.LaborCumulative; month >= lc.FromMonth {
		cm, _, err := rs.NextMonth(w.Before, month, ledger.Decimal(income-vatFen), rs.LaborCumulative.GapPolicy)
		if err != nil {
			return taxed{}, err
		}
		t.IIT, t.Cumulative, t.Method = max(fenOf(cm.IIT)-w.IIT, 0), &cm, "labor_cumulative"
	} else {
		iit, _, err := rs.WithholdPerPayment(ledger.Decimal(fen-t.VAT), decimal.Zero)
		if err != nil {
			return taxed{}, err
		}
		t.IIT, t.Method = fenOf(iit), "labor_per_payment"
	}
	if t.IIT+t.VAT+t.Sur > fen {
		return taxed{}, &taxExceeds{tax: t.IIT + t.VAT + t.Sur, fen: fen}
	}
	w.Income, w.IIT, w.VAT, w.Sur = income, w.IIT+t.IIT, w.VAT+t.VAT, w.Sur+t.Sur
	return t, nil
}

// reverse takes a payment that came back out of w: out of the current
// month's totals if it counted in it, else out of the cumulative state.
func (w *withholding) reverse(p *Payment) {
	month := p.Month % 100
	if month == w.Month {
		w.Income -= p.AmountFen
		w.IIT -= p.IITFen
		w.VAT -= p.VATFen
		w.Sur -= p.SurFen
		return
	}
	w.Before.Income = w.Before.Income.Sub(ledger.Decimal(p.AmountFen - p.VATFen))
	w.Before.Withheld = w.Before.Withheld.Sub(ledger.Decimal(p.IITFen))
}

// fenOf converts a tax amount, already rounded to the fen, to fen.
func fenOf(d decimal.Decimal) int64 { return d.Shift(2).Round(0).IntPart() }

func taxKey(worker string, year int) []byte { return []byte(worker + "/" + strconv.Itoa(year)) }

func (w *withholding) pack() []byte {
	p := packer{b: make([]byte, 0, 64)}
	p.uint(packVersion)
	p.int(fenOf(w.Before.Income))
	p.int(fenOf(w.Before.Withheld))
	for _, v := range []int{w.Before.Months, w.Before.LastMonth, w.Before.IncomeMons, w.Month} {
		p.int(int64(v))
	}
	for _, v := range []int64{w.Income, w.IIT, w.VAT, w.Sur} {
		p.int(v)
	}
	return p.b
}

func unpackWithholding(b []byte) (*withholding, error) {
	u := unpacker{b: b}
	if v := u.uint(); v != packVersion {
		return nil, fmt.Errorf("%w: withholding format %d", errPacked, v)
	}
	w := &withholding{}
	w.Before.Income = ledger.Decimal(u.int())
	w.Before.Withheld = ledger.Decimal(u.int())
	for _, v := range []*int{&w.Before.Months, &w.Before.LastMonth, &w.Before.IncomeMons, &w.Month} {
		*v = int(u.int())
	}
	for _, v := range []*int64{&w.Income, &w.IIT, &w.VAT, &w.Sur} {
		*v = u.int()
	}
	if u.err != nil || len(u.b) != 0 {
		return nil, errPacked
	}
	return w, nil
}
