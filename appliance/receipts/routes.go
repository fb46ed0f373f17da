package receipts

import (
	"errors"
	"slices"
	"time"

	"cxt/appliance/agreements"
	"cxt/appliance/api"
	"cxt/appliance/contracts"
	"cxt/appliance/errs"
	"cxt/appliance/ident"
	"cxt/appliance/ledger"
	"cxt/appliance/merchants"
	"cxt/appliance/payouts"
	"cxt/appliance/subjects"
	"cxt/appliance/workers"
	"cxt/crypto/keyring"
	"cxt/storage/state"
)

// Payee opens a worker's name and card (appliance/workers' Payee).
type Payee func(tx *state.ReadTx, keys *keyring.Keyring, worker string) (name, card string, err error)

// Backend serves receipts over the API. It has no commands or buckets of
// its own: a receipt is made from the records.
type Backend struct {
	contracts.Lazy // the PDF's renderer, its fonts loaded on first use
	// Payee opens the payee; nil: workers.Payee.
	Payee Payee
}

// Register adds nothing: receipts keep no state.
func (b *Backend) Register(*state.Registry) {}

// Routes lists the receipt's endpoint: whoever may read a payment may have
// its receipt.
func (b *Backend) Routes() []api.Route {
	return []api.Route{
		{Method: "GET", Path: "/api/v1/payments/{payment}/receipt", Action: "payments.read", Kind: api.Read, Resource: payouts.PaymentResource, Handle: b.receipt},
	}
}

func (b *Backend) receipt(r *api.Request) (int, any, error) {
	payee := b.Payee
	if payee == nil {
		payee = workers.Payee
	}
	var rc *Receipt
	var auth *agreements.Authority
	err := r.View(func(tx *state.ReadTx) (err error) {
		rc, auth, err = Gather(tx, r.Node.Keys(), payee, r.Var("payment"))
		return err
	})
	if err != nil {
		return 0, nil, api.Classify(err)
	}
	ren, err := b.Renderer()
	if err != nil {
		return 0, nil, err
	}
	pdf, err := Render(ren, rc)
	if err != nil {
		return 0, nil, err
	}
	keys, err := auth.Open(r.Node.Keys(), r.Now)
	if err != nil {
		return 0, nil, err
	}
	zip, err := Bundle(rc, pdf.PDF, keys.Platform, keys.CA.Cert, r.Now())
	if err != nil {
		return 0, nil, err
	}
	return 200, &api.Raw{ContentType: "application/zip", Name: rc.ID() + ".zip", Body: zip}, nil
}

// ShreddedPayee is the payee's name on the receipt of a worker whose
// personal data was shredded.
const ShreddedPayee = "（个人信息已依法删除）"

// Gather reads what a payment's receipt shows, and the authority whose
// platform key signs it. A payment that is not paid or returned has no
// receipt (payment_status); without the e-signing authority nothing signs
// one (409).
func Gather(tx *state.ReadTx, keys *keyring.Keyring, payee Payee, id string) (*Receipt, *agreements.Authority, error) {
	const op = "receipt"
	p, err := payouts.GetPayment(tx, id)
	if err != nil {
		return nil, nil, err
	}
	if p.Status != payouts.Paid && p.Status != payouts.Returned {
		return nil, nil, errs.Coded(op, errs.Conflict, payouts.CodePayment.String(), "payment %s is %s: its receipt is made once it is paid", id, p.Status)
	}
	auth, err := agreements.GetAuthority(tx)
	if err != nil {
		return nil, nil, err
	}
	if auth == nil {
		return nil, nil, errs.E(op, errs.Conflict, "the e-signing authority is not set up: receipts are signed with the platform's key")
	}
	m, err := merchants.Get(tx, p.Merchant)
	if err != nil {
		return nil, nil, err
	}
	rc := &Receipt{PlatformName: auth.PlatformName, PlatformUSCC: auth.PlatformUSCC, Payment: p.ID, Batch: p.Batch, Merchant: p.Merchant,
		MerchantName: m.Name, Worker: p.Worker, Status: p.Status, AmountFen: p.AmountFen, IITFen: p.IITFen, VATFen: p.VATFen, SurFen: p.SurFen,
		NetFen: p.NetFen, Month: p.Month, Channel: p.Channel, ChannelRef: p.ChannelRef, Posting: p.Posting, Task: p.Task, Agreement: p.Agreement}
	name, card, err := payee(tx, keys, p.Worker)
	var rej *state.Rejection
	switch {
	case errors.As(err, &rej) && rej.Code == subjects.CodeShredded.String():
		rc.PayeeName, rc.PayeeCard = ShreddedPayee, "—"
	case err != nil:
		return nil, nil, err
	default:
		rc.PayeeName, rc.PayeeCard = ident.MaskName(name), ident.MaskBankCard(card)
	}
	if p.Status == payouts.Paid {
		rc.PaidAt = p.Updated
		return rc, auth, nil
	}
	rc.ReturnedAt, rc.ReturnReason = p.Updated, p.Reason
	rc.PaidAt, err = paidAt(tx, p)
	return rc, auth, err
}

// maxScan bounds the postings a returned payment's paid time is looked
// for in: after so many the receipt shows no paid time rather than read on.
const maxScan = 100_000

// paidAt finds when a returned payment was recorded paid: the first
// results posting after the one that booked it that names it.
func paidAt(tx *state.ReadTx, p *payouts.Payment) (t0 time.Time, err error) {
	for seq := p.Posting + 1; seq <= p.Posting+maxScan; seq++ {
		post, err := ledger.Get(tx, seq)
		if state.NotFound.Is(err) {
			return t0, nil
		} else if err != nil {
			return t0, err
		}
		if post.Event == payouts.CmdResults && slices.Contains(post.Payments, p.ID) {
			return post.Time, nil
		}
	}
	return t0, nil
}
