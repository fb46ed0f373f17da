package invoices

import (
	"time"

	"cxt/appliance/ledger"
	"cxt/policy"
	"cxt/storage/state"
)

// Buckets.
const (
	Bucket      = "invoices"       // invoice ID -> Invoice (JSON)
	CoverBucket = "invoice-cover"  // "<kind>/<payment>" -> the live invoice of that kind covering it
	IndexBucket = "invoice-index"  // "m/<merchant>/<invoice>": keys only, a merchant's invoices
	OutboxName  = "invoice-outbox" // sequence (8 bytes) + invoice ID: keys only; to hand to the Issuer
	MetaBucket  = "invoice-meta"   // "seq" -> last invoice number; "outbox" -> last outbox sequence; "number/<number>" -> the invoice that bears it
)

// Command types (command set state.FilingSet).
const (
	CmdRequest = "invoice.request" // a merchant or the platform asks for an invoice
	CmdIssue   = "invoice.issue"   // the platform lets it be issued, or records the tax office's number (代开)
	CmdIssued  = "invoice.issued"  // the Issuer issued invoices (the driver)
	CmdDeliver = "invoice.deliver" // the invoice reached the buyer
	CmdReverse = "invoice.reverse" // red-letter reversal (红冲), or cancel of one not yet issued
)

// Refusals.
var (
	CodeAmount   = state.NewCode(state.KindInvalid, "invoice_amount_mismatch")
	CodeNotLive  = state.NewCode(state.KindConflict, "invoice_payment_not_live")
	CodeCovered  = state.NewCode(state.KindConflict, "invoice_payment_covered")
	CodeKind     = state.NewCode(state.KindInvalid, "invoice_kind")
	CodeStatus   = state.NewCode(state.KindConflict, "invoice_status")
	CodeTooLarge = state.NewCode(state.KindInvalid, "invoice_too_large")
	CodeNumber   = state.NewCode(state.KindConflict, "invoice_number_used")
)

// MaxPayments is the most payments one invoice covers.
const MaxPayments = 5_000

// Kind is whom an invoice is from and for what.
type Kind string

// The kinds.
const (
	// Full: the platform invoices the merchant the amounts and the fees of
	// the payments (参与经营型).
	Full Kind = "full"
	// Fee: the platform invoices the merchant its service fee on the
	// payments (中间介绍型).
	Fee Kind = "fee"
	// Worker: the tax office's invoice on a worker's behalf (代开) for the
	// worker's payments, the merchant its buyer (中间介绍型).
	Worker Kind = "worker"
)

// Valid reports whether k is a kind.
func (k Kind) Valid() bool { return k == Full || k == Fee || k == Worker }

// Item is the goods-or-service name the invoice carries (税收分类简称 between
// asterisks, then the name).
func (k Kind) Item() string {
	switch k {
	case Full:
		return "*现代服务*服务费"
	case Fee:
		return "*经纪代理服务*经纪代理服务费"
	default:
		return "*劳务*劳务报酬"
	}
}

// Rates in basis points: the platform's modern services (a general
// taxpayer, 6 %), and the worker's as a small-scale taxpayer (1 %; a worker
// whose month was exempt shows 免税 instead, its VAT being 0).
const (
	PlatformRateBP = 600
	WorkerRateBP   = 100
)

// Status is where an invoice is.
type Status string

// The statuses. An original goes requested → issuing → issued → delivered,
// and ends reversed (a reversal record names it) or, not yet handed to the
// tax system, cancelled. A reversal goes issuing → issued (the red-letter
// invoice from the tax-control system), or requested → issued for a 代开
// invoice, whose red-letter number the tax office gives.
const (
	Requested Status = "requested"
	Issuing   Status = "issuing" // in the outbox: the Issuer will issue it
	Issued    Status = "issued"
	Delivered Status = "delivered"
	Reversed  Status = "reversed"  // an original a red-letter reversal cancelled
	Cancelled Status = "cancelled" // an original reversed before it was issued: nothing to red-letter
)

// Live reports whether an invoice still covers its payments.
func (s Status) Live() bool { return s == Requested || s == Issuing || s == Issued || s == Delivered }

// Invoice is one invoice's record. Amounts are fen: Amount before tax, Tax,
// Total = Amount + Tax, which equals what the covered payments add up to;
// a reversal's are the original's negated.
type Invoice struct {
	ID       string   `json:"id"`
	Kind     Kind     `json:"kind"`
	Model    string   `json:"operating_model"`
	Merchant string   `json:"merchant"`
	Worker   string   `json:"worker,omitempty"` // kind worker: the seller
	Status   Status   `json:"status"`
	Payments []string `json:"payments"`
	// Amounts.
	AmountFen int64  `json:"amount_fen"`
	TaxFen    int64  `json:"tax_fen"`
	TotalFen  int64  `json:"total_fen"`
	RateBP    int    `json:"rate_bp"` // 0 with TaxFen 0 on a worker's: exempt
	Item      string `json:"item"`
	// The parties as the request named them: the seller is the platform
	// (kind worker: the worker, by ID), the buyer the merchant.
	Seller      string `json:"seller"`
	SellerTaxID string `json:"seller_tax_id,omitempty"`
	Buyer       string `json:"buyer"`
	BuyerTaxID  string `json:"buyer_tax_id"`
	// Number is the tax system's invoice number (数电票: 20 digits).
	Number string `json:"number,omitempty"`
	// Reverses names the original of a reversal; ReversedBy the reversal
	// of an original.
	Reverses   string    `json:"reverses,omitempty"`
	ReversedBy string    `json:"reversed_by,omitempty"`
	Reason     string    `json:"reason,omitempty"` // why reversed or cancelled
	Outbox     uint64    `json:"outbox,omitempty"` // while issuing
	DeliverTo  string    `json:"deliver_to,omitempty"`
	By         string    `json:"by"` // who requested it ("system" for an automatic reversal)
	IssuedBy   string    `json:"issued_by,omitempty"`
	Requested  time.Time `json:"requested"`
	Issued     time.Time `json:"issued,omitzero"`
	Delivered  time.Time `json:"delivered,omitzero"`
	Ended      time.Time `json:"ended,omitzero"` // reversed or cancelled
}

// Tenancy is the invoice as the policy sees it: its merchant's.
func (inv *Invoice) Tenancy() policy.Resource {
	return policy.Resource{Label: 1, Owner: inv.Merchant, Tenanted: true, Merchants: []string{inv.Merchant}}
}

// Rate is the tax rate as printed: "6%", "1%", or "免税".
func (inv *Invoice) Rate() string {
	if inv.RateBP == 0 {
		return "免税"
	}
	s := itoa(inv.RateBP / 100)
	if r := inv.RateBP % 100; r != 0 {
		s += "." + itoa(r/10)
		if r%10 != 0 {
			s += itoa(r % 10)
		}
	}
	return s + "%"
}

func itoa(n int) string {
	if n < 10 {
		return string(rune('0' + n))
	}
	return itoa(n/10) + string(rune('0'+n%10))
}

// View is the invoice as the API shows it: money as yuan strings.
func (inv *Invoice) View() map[string]any {
	out := map[string]any{
		"id": inv.ID, "kind": inv.Kind, "operating_model": inv.Model, "merchant": inv.Merchant, "status": inv.Status,
		"payments": inv.Payments, "amount": ledger.Yuan(inv.AmountFen), "tax": ledger.Yuan(inv.TaxFen), "total": ledger.Yuan(inv.TotalFen),
		"rate": inv.Rate(), "item": inv.Item, "seller": inv.Seller, "buyer": inv.Buyer, "buyer_tax_id": inv.BuyerTaxID,
		"by": inv.By, "requested": inv.Requested,
	}
	for k, v := range map[string]string{"worker": inv.Worker, "seller_tax_id": inv.SellerTaxID, "number": inv.Number, "reverses": inv.Reverses,
		"reversed_by": inv.ReversedBy, "reason": inv.Reason, "deliver_to": inv.DeliverTo, "issued_by": inv.IssuedBy} {
		if v != "" {
			out[k] = v
		}
	}
	for k, v := range map[string]time.Time{"issued": inv.Issued, "delivered": inv.Delivered, "ended": inv.Ended} {
		if !v.IsZero() {
			out[k] = v
		}
	}
	return out
}

// taxOf splits a tax-inclusive total at rate (basis points): the tax is
// total × r / (1 + r), rounded half away from zero to the fen.
func taxOf(total int64, rateBP int) int64 {
	if rateBP == 0 {
		return 0
	}
	neg := total < 0
	if neg {
		total = -total
	}
	d := int64(10_000 + rateBP)
	t := (total*int64(rateBP)*2 + d) / (2 * d)
	if neg {
		return -t
	}
	return t
}

// china is the calendar dates are given in.
var china = time.FixedZone("CST", 8*60*60)
