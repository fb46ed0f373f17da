package invoices

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"cxt/appliance/ledger"
	"cxt/appliance/merchants"
	"cxt/appliance/payouts"
	"cxt/storage/state"
)

// Getter is a state transaction, read-only or not.
type Getter interface {
	Get(bucket string, key []byte) ([]byte, error)
}

// Register adds the invoices' buckets and commands.
func Register(reg *state.Registry) {
	reg.Bucket(Bucket)
	reg.Bucket(CoverBucket)
	reg.Bucket(MetaBucket)
	reg.KeysBucket(IndexBucket)
	reg.KeysBucket(OutboxName)
	reg.HandleFrom(state.FilingSet, CmdRequest, request)
	reg.HandleFrom(state.FilingSet, CmdIssue, issue)
	reg.HandleFrom(state.FilingSet, CmdIssued, issued)
	reg.HandleFrom(state.FilingSet, CmdDeliver, deliver)
	reg.HandleFrom(state.FilingSet, CmdReverse, reverseCmd)
}

// Request is the body of CmdRequest. The parties are what the API read
// (the merchant's credit code opens only at the edge); the amounts are
// computed here, from the payments.
type Request struct {
	Merchant string   `json:"merchant"`
	Kind     Kind     `json:"kind"`
	Worker   string   `json:"worker,omitempty"`
	Payments []string `json:"payments"`
	// TotalFen, if set, is the total the requester expects: a request
	// whose payments come to anything else is refused.
	TotalFen    *int64 `json:"total_fen,omitempty"`
	Seller      string `json:"seller"`
	SellerTaxID string `json:"seller_tax_id,omitempty"`
	Buyer       string `json:"buyer"`
	BuyerTaxID  string `json:"buyer_tax_id"`
	By          string `json:"by"`
}

// Live reports whether a payment's money is with the worker or on its way:
// accepted, submitted or paid.
func Live(s payouts.Status) bool {
	return s == payouts.Accepted || s == payouts.Submitted || s == payouts.Paid
}

// covers is what kind k of invoice covers of p (fen).
func covers(k Kind, p *payouts.Payment) int64 {
	switch k {
	case Full:
		return p.AmountFen + p.FeeFen
	case Fee:
		return p.FeeFen
	default:
		return p.AmountFen
	}
}

func request(tx *state.Tx, cmd *state.Command) ([]byte, error) {
	var in Request
	if err := json.Unmarshal(cmd.Body, &in); err != nil || in.Merchant == "" || len(in.Payments) == 0 || in.Buyer == "" || in.Seller == "" {
		return nil, state.Reject(state.InvalidRequest, "an invoice request names its merchant, seller, buyer and payments")
	}
	if len(in.Payments) > MaxPayments {
		return nil, state.Reject(CodeTooLarge, "an invoice covers at most %d payments; this asks for %d", MaxPayments, len(in.Payments))
	}
	m, err := merchants.Get(tx, in.Merchant)
	if err != nil {
		return nil, err
	}
	if err := kindFits(m.Model, in.Kind); err != nil {
		return nil, err
	}
	if (in.Kind == Worker) != (in.Worker != "") {
		return nil, state.Reject(state.InvalidRequest, "a 代开 invoice (kind worker) names its worker; the platform's do not")
	}
	inv := &Invoice{Kind: in.Kind, Model: string(m.Model), Merchant: m.ID, Worker: in.Worker, Status: Requested, Item: in.Kind.Item(),
		Seller: in.Seller, SellerTaxID: in.SellerTaxID, Buyer: in.Buyer, BuyerTaxID: in.BuyerTaxID, By: in.By, Requested: tx.Time()}
	seen := make(map[string]bool, len(in.Payments))
	var vat int64
	for _, id := range in.Payments {
		if seen[id] {
			return nil, state.Reject(state.InvalidRequest, "payment %s is named twice", id)
		}
		seen[id] = true
		p, err := payouts.GetPayment(tx, id)
		if state.NotFound.Is(err) || (err == nil && p.Merchant != m.ID) {
			// Another merchant's payment is as absent as one that never was.
			return nil, state.Reject(CodeNotLive, "merchant %s has no payment %s", m.ID, id)
		} else if err != nil {
			return nil, err
		}
		if !Live(p.Status) {
			return nil, state.Reject(CodeNotLive, "payment %s is %s; only an accepted, submitted or paid payment is invoiced", id, p.Status)
		}
		if in.Kind == Worker && p.Worker != in.Worker {
			return nil, state.Reject(CodeNotLive, "payment %s paid worker %s, not %s", id, p.Worker, in.Worker)
		}
		if prev, err := tx.Get(CoverBucket, coverKey(in.Kind, id)); err != nil {
			return nil, err
		} else if prev != nil {
			return nil, state.Reject(CodeCovered, "payment %s is already on %s invoice %s", id, in.Kind, prev)
		}
		inv.TotalFen += covers(in.Kind, p)
		vat += p.VATFen
	}
	if in.TotalFen != nil && *in.TotalFen != inv.TotalFen {
		return nil, state.Reject(CodeAmount, "the request states %s; its %d payment(s) come to %s under kind %s", ledger.Yuan(*in.TotalFen), len(in.Payments), ledger.Yuan(inv.TotalFen), in.Kind)
	}
	if inv.TotalFen <= 0 {
		return nil, state.Reject(CodeAmount, "the payments come to %s under kind %s: nothing to invoice (a fee charged by statement after the month is not on its payments)", ledger.Yuan(inv.TotalFen), in.Kind)
	}
	inv.Payments = slices.Clone(in.Payments)
	if in.Kind == Worker {
		// What the worker's VAT was withheld at is what the invoice shows.
		inv.TaxFen = vat
		if vat > 0 {
			inv.RateBP = WorkerRateBP
		}
	} else {
		inv.RateBP = PlatformRateBP
		inv.TaxFen = taxOf(inv.TotalFen, inv.RateBP)
	}
	inv.AmountFen = inv.TotalFen - inv.TaxFen
	if inv.ID, err = nextID(tx); err != nil {
		return nil, err
	}
	if err := cover(tx, inv); err != nil {
		return nil, err
	}
	if err := tx.Put(IndexBucket, []byte("m/"+inv.Merchant+"/"+inv.ID), nil); err != nil {
		return nil, err
	}
	return put(tx, inv)
}

// kindFits checks that the merchant's operating model takes kind k.
func kindFits(model merchants.OperatingModel, k Kind) error {
	switch {
	case !k.Valid():
		return state.Reject(CodeKind, "kind: full, fee or worker, not %q", k)
	case model == merchants.Operating && k != Full:
		return state.Reject(CodeKind, "a 参与经营型 (operating) merchant is invoiced the full amount (kind full), not %s", k)
	case model == merchants.Intermediary && k == Full:
		return state.Reject(CodeKind, "a 中间介绍型 (intermediary) merchant is invoiced the platform's fee (kind fee); its workers' invoices are kind worker")
	case !model.Valid():
		return state.Reject(CodeKind, "the merchant has no operating model on record, so no invoice kind fits")
	}
	return nil
}

// Issue is the body of CmdIssue. For the platform's kinds it lets the
// Issuer issue the invoice; for a 代开 invoice it records the number the
// tax office gave.
type Issue struct {
	Invoice string `json:"invoice"`
	Number  string `json:"number,omitempty"`
	By      string `json:"by"`
}

func issue(tx *state.Tx, cmd *state.Command) ([]byte, error) {
	var in Issue
	if err := json.Unmarshal(cmd.Body, &in); err != nil || in.Invoice == "" {
		return nil, state.Reject(state.InvalidRequest, "an issue names its invoice")
	}
	inv, err := Get(tx, in.Invoice)
	if err != nil {
		return nil, err
	}
	if inv.Status != Requested {
		return nil, state.Reject(CodeStatus, "invoice %s is %s; only a requested invoice is issued", inv.ID, inv.Status)
	}
	inv.IssuedBy = in.By
	if inv.Kind == Worker {
		if !ValidNumber(in.Number) {
			return nil, state.Reject(state.InvalidRequest, "a 代开 invoice is recorded with the tax office's number: 20 digits")
		}
		if in.Number[2:4] == SandboxProvince {
			return nil, state.Reject(state.InvalidRequest, "number %s: province code %s is the sandbox tax-control system's, never a tax office's", in.Number, SandboxProvince)
		}
		if err := markIssued(tx, inv, in.Number); err != nil {
			return nil, err
		}
		return put(tx, inv)
	}
	if in.Number != "" {
		return nil, state.Reject(state.InvalidRequest, "the platform's invoices take their number from the tax-control system, not from the request")
	}
	if err := enqueue(tx, inv); err != nil {
		return nil, err
	}
	return put(tx, inv)
}

// ValidNumber reports whether s is a 数电票 number: 20 digits.
func ValidNumber(s string) bool {
	if len(s) != 20 {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// Results is the body of CmdIssued: what the Issuer issued.
type Results struct {
	Items []IssuedItem `json:"items"`
}

// IssuedItem is one issued invoice.
type IssuedItem struct {
	Invoice string `json:"invoice"`
	Outbox  uint64 `json:"outbox"`
	Number  string `json:"number"`
}

func issued(tx *state.Tx, cmd *state.Command) ([]byte, error) {
	var in Results
	if err := json.Unmarshal(cmd.Body, &in); err != nil {
		return nil, state.Reject(state.InvalidRequest, "issued invoices are a list")
	}
	n := 0
	for _, it := range in.Items {
		inv, err := Get(tx, it.Invoice)
		if err != nil {
			return nil, err
		}
		if inv.Status != Issuing || inv.Outbox != it.Outbox {
			continue // recorded before: the Issuer answered the same request twice
		}
		if !ValidNumber(it.Number) {
			return nil, state.Reject(state.InvalidRequest, "invoice %s: the Issuer's number %q is not 20 digits", it.Invoice, it.Number)
		}
		if err := tx.Delete(OutboxName, outboxKey(inv.Outbox, inv.ID)); err != nil {
			return nil, err
		}
		inv.Outbox = 0
		if by, err := numberBorne(tx, it.Number); err != nil {
			return nil, err
		} else if by != "" && by != inv.ID {
			// The tax-control system answered a number another invoice
			// bears: this one goes back to requested, saying so, and the
			// rest of the page — and the outbox behind it — goes on.
			inv.Status = Requested
			inv.Reason = fmt.Sprintf("the tax-control system answered number %s, which %s bears: let it through again once the system is put right", it.Number, by)
			if _, err := put(tx, inv); err != nil {
				return nil, err
			}
			continue
		}
		if err := markIssued(tx, inv, it.Number); err != nil {
			return nil, err
		}
		if _, err := put(tx, inv); err != nil {
			return nil, err
		}
		n++
	}
	return json.Marshal(map[string]int{"issued": n})
}

// markIssued gives inv its number; a reversal issued marks its original
// reversed. Both are facts for the bureaus' feed. A number is borne by one
// invoice only — a red letter has a number of its own, never its
// original's — so a number already borne is refused (invoice_number_used):
// typed in twice for 代开 invoices, or an Issuer answering one number for
// two requests, which the driver's page then waits on.
func markIssued(tx *state.Tx, inv *Invoice, number string) error {
	if by, err := numberBorne(tx, number); err != nil {
		return err
	} else if by != "" && by != inv.ID {
		return state.Reject(CodeNumber, "invoice number %s is borne by %s already: each invoice, a red letter too, has a number of its own", number, by)
	}
	if err := tx.Put(MetaBucket, []byte("number/"+number), []byte(inv.ID)); err != nil {
		return err
	}
	inv.Number, inv.Issued = number, tx.Time()
	if inv.ReversedBy != "" {
		// Reversed while it was being issued: the reversal follows it.
		inv.Status = Reversed
	} else {
		inv.Status = Issued
	}
	return appendFact(tx, inv)
}

// numberBorne returns the invoice that bears number, or "".
func numberBorne(tx *state.Tx, number string) (string, error) {
	v, err := tx.Get(MetaBucket, []byte("number/"+number))
	return string(v), err
}

// Deliver is the body of CmdDeliver.
type Deliver struct {
	Invoice string `json:"invoice"`
	To      string `json:"to,omitempty"` // where it went: an e-mail address, a mailbox
	By      string `json:"by"`
}

func deliver(tx *state.Tx, cmd *state.Command) ([]byte, error) {
	var in Deliver
	if err := json.Unmarshal(cmd.Body, &in); err != nil || in.Invoice == "" {
		return nil, state.Reject(state.InvalidRequest, "a delivery names its invoice")
	}
	inv, err := Get(tx, in.Invoice)
	if err != nil {
		return nil, err
	}
	if inv.Status != Issued {
		return nil, state.Reject(CodeStatus, "invoice %s is %s; only an issued invoice is delivered", inv.ID, inv.Status)
	}
	inv.Status, inv.Delivered, inv.DeliverTo = Delivered, tx.Time(), in.To
	return put(tx, inv)
}

// Reverse is the body of CmdReverse.
type Reverse struct {
	Invoice string `json:"invoice"`
	Reason  string `json:"reason"`
	By      string `json:"by"`
}

func reverseCmd(tx *state.Tx, cmd *state.Command) ([]byte, error) {
	var in Reverse
	if err := json.Unmarshal(cmd.Body, &in); err != nil || in.Invoice == "" || strings.TrimSpace(in.Reason) == "" {
		return nil, state.Reject(state.InvalidRequest, "a reversal names its invoice and why")
	}
	inv, err := Get(tx, in.Invoice)
	if err != nil {
		return nil, err
	}
	rev, err := reverse(tx, inv, in.Reason, in.By)
	if err != nil {
		return nil, err
	}
	out := map[string]any{"invoice": inv.ID, "status": inv.Status}
	if rev != nil {
		out["reversal"] = rev.ID
	}
	return json.Marshal(out)
}

// reverse ends a live original: one not yet with the tax system is
// cancelled; any other gets a red-letter reversal record, which it
// returns. The payments it covered are free to be invoiced again.
func reverse(tx *state.Tx, inv *Invoice, reason, by string) (*Invoice, error) {
	if inv.Reverses != "" {
		return nil, state.Reject(CodeStatus, "invoice %s is itself a reversal (of %s); it is not reversed", inv.ID, inv.Reverses)
	}
	if !inv.Status.Live() || inv.ReversedBy != "" {
		return nil, state.Reject(CodeStatus, "invoice %s is %s already%s", inv.ID, inv.Status, reversedBy(inv.ReversedBy))
	}
	if err := uncover(tx, inv); err != nil {
		return nil, err
	}
	inv.Reason = reason
	if inv.Status == Requested {
		inv.Status, inv.Ended = Cancelled, tx.Time()
		_, err := put(tx, inv)
		return nil, err
	}
	rev := &Invoice{Kind: inv.Kind, Model: inv.Model, Merchant: inv.Merchant, Worker: inv.Worker, Status: Requested,
		Payments: inv.Payments, AmountFen: -inv.AmountFen, TaxFen: -inv.TaxFen, TotalFen: -inv.TotalFen, RateBP: inv.RateBP,
		Item: inv.Item, Seller: inv.Seller, SellerTaxID: inv.SellerTaxID, Buyer: inv.Buyer, BuyerTaxID: inv.BuyerTaxID,
		Reverses: inv.ID, Reason: reason, By: by, Requested: tx.Time()}
	var err error
	if rev.ID, err = nextID(tx); err != nil {
		return nil, err
	}
	if rev.Kind != Worker {
		// The platform's own red letter goes to the tax-control system at
		// once; the tax office gives a 代开 one's number (CmdIssue).
		if err := enqueue(tx, rev); err != nil {
			return nil, err
		}
	}
	if err := tx.Put(IndexBucket, []byte("m/"+rev.Merchant+"/"+rev.ID), nil); err != nil {
		return nil, err
	}
	inv.ReversedBy = rev.ID
	if inv.Status != Issuing {
		// Issuing: it stays so until its number comes, then is reversed.
		inv.Status, inv.Ended = Reversed, tx.Time()
	}
	if _, err := put(tx, inv); err != nil {
		return nil, err
	}
	if _, err := put(tx, rev); err != nil {
		return nil, err
	}
	return rev, nil
}

// PaymentReversed is the payouts' hook (payouts.Rules.Reversed): a payment whose
// money came back — failed or returned (退汇) — reverses every live
// invoice covering it, in the command that moved it. The payment moves so
// once, so its invoices are reversed once, on every replica alike.
func PaymentReversed(tx *state.Tx, p *payouts.Payment) error {
	if ok, err := tx.Speaks(state.FilingSet); err != nil || !ok {
		return err // an older cluster has no invoices
	}
	for _, k := range []Kind{Full, Fee, Worker} {
		id, err := tx.Get(CoverBucket, coverKey(k, p.ID))
		if err != nil {
			return err
		}
		if id == nil {
			continue
		}
		inv, err := Get(tx, string(id))
		if err != nil {
			return err
		}
		if _, err := reverse(tx, inv, fmt.Sprintf("payment %s %s: %s", p.ID, p.Status, p.Reason), "system"); err != nil {
			return err
		}
	}
	return nil
}

func reversedBy(reversal string) string {
	if reversal == "" {
		return ""
	}
	return ", reversed by " + reversal
}

func coverKey(k Kind, payment string) []byte { return []byte(string(k) + "/" + payment) }

func cover(tx *state.Tx, inv *Invoice) error {
	for _, p := range inv.Payments {
		if err := tx.Put(CoverBucket, coverKey(inv.Kind, p), []byte(inv.ID)); err != nil {
			return err
		}
	}
	return nil
}

func uncover(tx *state.Tx, inv *Invoice) error {
	for _, p := range inv.Payments {
		k := coverKey(inv.Kind, p)
		if v, err := tx.Get(CoverBucket, k); err != nil {
			return err
		} else if string(v) == inv.ID {
			if err := tx.Delete(CoverBucket, k); err != nil {
				return err
			}
		}
	}
	return nil
}

// nextID numbers invoices in the order they are made: inv-00000001, …
func nextID(tx *state.Tx) (string, error) {
	n, err := next(tx, "seq")
	return fmt.Sprintf("inv-%08d", n), err
}

func next(tx *state.Tx, name string) (uint64, error) {
	v, err := tx.Get(MetaBucket, []byte(name))
	if err != nil {
		return 0, err
	}
	var n uint64
	if len(v) == 8 {
		n = binary.BigEndian.Uint64(v)
	}
	n++
	return n, tx.Put(MetaBucket, []byte(name), binary.BigEndian.AppendUint64(nil, n))
}

// enqueue puts inv in the outbox for the Issuer.
func enqueue(tx *state.Tx, inv *Invoice) error {
	seq, err := next(tx, "outbox")
	if err != nil {
		return err
	}
	inv.Status, inv.Outbox = Issuing, seq
	return tx.Put(OutboxName, outboxKey(seq, inv.ID), nil)
}

func outboxKey(seq uint64, id string) []byte {
	return append(binary.BigEndian.AppendUint64(nil, seq), id...)
}

// Get reads an invoice; not_found if there is none.
func Get(tx Getter, id string) (*Invoice, error) {
	v, err := tx.Get(Bucket, []byte(id))
	if err != nil {
		return nil, err
	}
	if v == nil {
		return nil, state.Reject(state.NotFound, "no invoice %s", id)
	}
	var inv Invoice
	if err := json.Unmarshal(v, &inv); err != nil {
		return nil, fmt.Errorf("invoices: %s: %w", id, err)
	}
	return &inv, nil
}

// CoveredBy returns the live invoice of kind k covering a payment, "" if
// none.
func CoveredBy(tx Getter, k Kind, payment string) (string, error) {
	v, err := tx.Get(CoverBucket, coverKey(k, payment))
	return string(v), err
}

func put(tx *state.Tx, inv *Invoice) ([]byte, error) {
	v, err := json.Marshal(inv)
	if err != nil {
		return nil, err
	}
	return v, tx.Put(Bucket, []byte(inv.ID), v)
}
