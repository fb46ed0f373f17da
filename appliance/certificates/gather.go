package certificates

import (
	"errors"
	"fmt"
	"time"

	"github.com/shopspring/decimal"

	"cxt/appliance/agreements"
	"cxt/appliance/errs"
	"cxt/appliance/filing"
	"cxt/appliance/ident"
	"cxt/appliance/ledger"
	"cxt/appliance/merchants"
	"cxt/appliance/payouts"
	"cxt/appliance/subjects"
	"cxt/appliance/workers"
	"cxt/crypto/keyring"
	"cxt/storage/state"
)

// CodeUnpaid refuses a certificate for a month whose declared income tax
// is not paid in full; CodeUndeclared one for a month not declared, or
// declared without the worker (or, for a merchant, without a payment of
// its to them).
var (
	CodeUnpaid     = state.NewCode(state.KindConflict, "certificate_unpaid")
	CodeUndeclared = state.NewCode(state.KindNotFound, "certificate_undeclared")
)

// ShreddedName is the name on the certificate of a worker whose personal
// data was shredded.
const ShreddedName = "（个人信息已依法删除）"

// Gather reads what a worker's certificate for period shows — scoped to
// merchant's payments unless merchant is "" — and the authority whose
// platform key signs it.
func Gather(tx *state.ReadTx, keys *keyring.Keyring, agent, period, worker, merchant string) (*Certificate, *agreements.Authority, error) {
	const op = "tax certificate"
	wt, err := filing.WorkerPeriod(tx, agent, period, worker)
	if state.NotFound.Is(err) || filing.CodeNotDeclared.Is(err) {
		return nil, nil, state.Reject(CodeUndeclared, "%s has no declared income for %s: a certificate follows the month's declaration (cxt filing declare)", worker, period)
	} else if err != nil {
		return nil, nil, err
	}
	if !wt.Paid {
		return nil, nil, state.Reject(CodeUnpaid, "the income tax declared for %s (declaration v%d) is not paid in full: a certificate is made once it is (cxt filing pay)", period, wt.Version)
	}
	auth, err := agreements.GetAuthority(tx)
	if err != nil {
		return nil, nil, err
	}
	if auth == nil {
		return nil, nil, errs.E(op, errs.Conflict, "the e-signing authority is not set up: certificates are signed with the platform's key")
	}
	filed, _ := time.Parse(time.RFC3339, wt.Filed)
	c := &Certificate{PlatformName: auth.PlatformName, PlatformUSCC: auth.PlatformUSCC, Agent: agent, Period: period,
		Version: wt.Version, Filed: filed, Worker: worker, Method: wt.Line.Method, Receipts: wt.Receipts, Dates: wt.Dates}
	if c.PaidAt, err = lastPaid(tx, agent, period); err != nil {
		return nil, nil, err
	}
	if merchant == "" {
		if err := wholeMonth(tx, c, &wt.Line); err != nil {
			return nil, nil, err
		}
	} else if err := merchantPart(tx, c, merchant); err != nil {
		return nil, nil, err
	}
	name, id, err := workers.Identity(tx, keys, worker)
	var rej *state.Rejection
	switch {
	case errors.As(err, &rej) && rej.Code == subjects.CodeShredded.String():
		c.Name, c.IDNumber = ShreddedName, "—"
	case err != nil:
		return nil, nil, err
	default:
		c.Name, c.IDNumber = ident.MaskName(name), ident.MaskResidentID(id)
	}
	return c, auth, nil
}

// wholeMonth fills the worker's own certificate from their declaration
// line, and counts the payments behind it.
func wholeMonth(tx *state.ReadTx, c *Certificate, l *filing.Line) error {
	var err error
	if c.IncomeFen, err = fen(l.Income); err != nil {
		return err
	}
	if c.WithheldFen, err = fen(l.Withheld); err != nil {
		return err
	}
	c.Cumulative = &Cumulative{Income: l.CumulativeIncome, Cost: l.CumulativeCost, Deduction: l.CumulativeDeduction,
		Taxable: l.CumulativeTaxable, Rate: l.Rate, QuickDeduction: l.QuickDeduction, Withheld: l.CumulativeWithheld}
	return monthPayments(tx, c, "", func(*payouts.Payment) {})
}

// merchantPart fills a merchant's certificate from its own live payments
// to the worker counted in the month.
func merchantPart(tx *state.ReadTx, c *Certificate, merchant string) error {
	m, err := merchants.Get(tx, merchant)
	if err != nil {
		return err
	}
	c.Merchant, c.MerchantName = merchant, m.Name
	err = monthPayments(tx, c, merchant, func(p *payouts.Payment) {
		c.IncomeFen += p.AmountFen - p.VATFen
		c.WithheldFen += p.IITFen
	})
	if err == nil && c.Payments == 0 {
		return state.Reject(CodeUndeclared, "merchant %s paid %s nothing counted in %s", merchant, c.Worker, c.Period)
	}
	return err
}

// monthPayments calls add with the worker's live payments counted in the
// certificate's month (of merchant only, unless ""), counting them.
func monthPayments(tx *state.ReadTx, c *Certificate, merchant string, add func(*payouts.Payment)) error {
	p, err := filing.ParsePeriod(c.Period)
	if err != nil {
		return err
	}
	return payouts.WorkerPayments(tx, c.Worker, func(pm *payouts.Payment) error {
		live := pm.Status == payouts.Accepted || pm.Status == payouts.Submitted || pm.Status == payouts.Paid
		if live && pm.Month == p.YYYYMM() && (merchant == "" || pm.Merchant == merchant) {
			c.Payments++
			add(pm)
		}
		return nil
	})
}

// lastPaid is when the month's last income-tax payment was recorded: the
// certificate's date.
func lastPaid(tx *state.ReadTx, agent, period string) (time.Time, error) {
	ps, err := filing.TaxPayments(tx, agent, period)
	var at time.Time
	for _, p := range ps {
		if p.Kind == filing.KindIIT && p.Recorded.After(at) {
			at = p.Recorded
		}
	}
	return at, err
}

// fen reads a declaration's yuan string.
func fen(yuan string) (int64, error) {
	d, err := decimal.NewFromString(yuan)
	if err != nil {
		return 0, fmt.Errorf("certificates: amount %q: %w", yuan, err)
	}
	return ledger.Fen(d)
}
