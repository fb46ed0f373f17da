package queries

import (
	"sort"
	"strconv"
	"time"

	"cxt/appliance/agreements"
	"cxt/appliance/ledger"
	"cxt/appliance/payouts"
	"cxt/appliance/tasks"
	"cxt/storage/state"
)

// Destroyed marks a subject's identity that no longer opens: the subject
// was shredded, and with their key everything sealed under it.
type Destroyed struct {
	At time.Time `json:"at"`
}

// DocumentRef names a document a bureau may ask for with Document.
type DocumentRef struct {
	Ref  string `json:"ref"`  // "agreement:<id>:pdf", "agreement:<id>:evidence", "merchant:<id>:<doc>", "proof:<task>:<worker>:<doc>"
	Kind string `json:"kind"` // agreement_pdf, agreement_evidence, the merchant document's kind, task_proof
	Type string `json:"type"` // content type
	Size int64  `json:"size"`
	SM3  string `json:"sm3"` // hex, of the document itself
}

// Party is one party of an agreement.
type Party struct {
	Role     string     `json:"role"`
	Subject  string     `json:"subject"`
	Name     string     `json:"name"`
	SignedAt *time.Time `json:"signed_at,omitempty"`
}

// Agreement is a signed or signing agreement.
type Agreement struct {
	ID        string        `json:"id"`
	Kind      string        `json:"kind"`
	Status    string        `json:"status"`
	Merchant  string        `json:"merchant"`
	Worker    string        `json:"worker,omitempty"`
	Template  string        `json:"template"` // ID and version: "tripartite-service@3"
	Parties   []Party       `json:"parties"`
	Created   time.Time     `json:"created"`
	Signed    *time.Time    `json:"signed,omitempty"` // when the last party signed
	Sealed    *time.Time    `json:"sealed,omitempty"` // countersigned, evidence package stored
	Documents []DocumentRef `json:"documents"`
}

func agreementOf(a *agreements.Agreement) Agreement {
	out := Agreement{ID: a.ID, Kind: string(a.Kind), Status: string(a.Status), Merchant: a.Merchant, Worker: a.Worker,
		Template: a.Template.ID + "@" + strconv.Itoa(a.Template.Version), Created: a.Created,
		Documents: []DocumentRef{{Ref: "agreement:" + a.ID + ":pdf", Kind: "agreement_pdf", Type: "application/pdf", Size: a.PDF.Size, SM3: a.PDF.SM3}}}
	all := len(a.Parties) > 0
	var last time.Time
	for _, p := range a.Parties {
		party := Party{Role: p.Role, Subject: p.Subject, Name: p.Name}
		if p.SignedAt.IsZero() {
			all = false
		} else {
			at := p.SignedAt
			party.SignedAt = &at
			if at.After(last) {
				last = at
			}
		}
		out.Parties = append(out.Parties, party)
	}
	if all {
		out.Signed = &last
	}
	if a.Evidence != nil {
		at := a.SealedAt
		out.Sealed = &at
		out.Documents = append(out.Documents, DocumentRef{Ref: "agreement:" + a.ID + ":evidence", Kind: "agreement_evidence",
			Type: "application/zip", Size: a.Evidence.Size, SM3: a.Evidence.SM3})
	}
	return out
}

// Payment is one payment to a worker; money in yuan, as decimal strings.
type Payment struct {
	ID         string    `json:"id"`
	Batch      string    `json:"batch"`
	Merchant   string    `json:"merchant"`
	Worker     string    `json:"worker"`
	Task       string    `json:"task"`
	Agreement  string    `json:"agreement,omitempty"`
	Status     string    `json:"status"`
	Code       string    `json:"code,omitempty"` // why rejected, held, failed or returned
	Amount     string    `json:"amount"`         // what the merchant pays the worker, tax included
	Fee        string    `json:"fee"`            // the platform's service fee on top
	IIT        string    `json:"iit"`            // individual income tax withheld
	VAT        string    `json:"vat"`            // VAT withheld
	Surcharges string    `json:"surcharges"`     // surcharges withheld
	Net        string    `json:"net"`            // what reached the worker
	Month      int       `json:"month,omitempty"`
	Created    time.Time `json:"created"`
	Updated    time.Time `json:"updated"`
}

func paymentOf(p *payouts.Payment) Payment {
	return Payment{ID: p.ID, Batch: p.Batch, Merchant: p.Merchant, Worker: p.Worker, Task: p.Task, Agreement: p.Agreement,
		Status: string(p.Status), Code: p.Code, Amount: ledger.Yuan(p.AmountFen), Fee: ledger.Yuan(p.FeeFen),
		IIT: ledger.Yuan(p.IITFen), VAT: ledger.Yuan(p.VATFen), Surcharges: ledger.Yuan(p.SurFen), Net: ledger.Yuan(p.NetFen),
		Month: p.Month, Created: p.Created, Updated: p.Updated}
}

// booked reports whether a payment's money and withholding stand: booked by
// its chunk and not reversed by a failure or a return.
func booked(p *payouts.Payment) bool {
	switch p.Status {
	case payouts.Accepted, payouts.Submitted, payouts.Paid:
		return true
	}
	return false
}

// reversed reports whether a payment was booked and then came back.
func reversed(p *payouts.Payment) bool {
	return p.Status == payouts.Failed || p.Status == payouts.Returned
}

// Totals sums payments: those whose money stands, and those that came back.
type Totals struct {
	Payments       int    `json:"payments"`
	Amount         string `json:"amount"`
	Fee            string `json:"fee"`
	IIT            string `json:"iit"`
	VAT            string `json:"vat"`
	Surcharges     string `json:"surcharges"`
	Net            string `json:"net"`
	Reversed       int    `json:"reversed"`        // failed or returned: reversed, not counted above
	ReversedAmount string `json:"reversed_amount"` // their amounts
}

// sums accumulates Totals in fen.
type sums struct {
	n, rev                                int
	amount, fee, iit, vat, sur, net, revA int64
}

func (s *sums) add(p *payouts.Payment) {
	switch {
	case booked(p):
		s.n++
		s.amount += p.AmountFen
		s.fee += p.FeeFen
		s.iit += p.IITFen
		s.vat += p.VATFen
		s.sur += p.SurFen
		s.net += p.NetFen
	case reversed(p):
		s.rev++
		s.revA += p.AmountFen
	}
}

func (s *sums) totals() Totals {
	return Totals{Payments: s.n, Amount: ledger.Yuan(s.amount), Fee: ledger.Yuan(s.fee), IIT: ledger.Yuan(s.iit),
		VAT: ledger.Yuan(s.vat), Surcharges: ledger.Yuan(s.sur), Net: ledger.Yuan(s.net), Reversed: s.rev, ReversedAmount: ledger.Yuan(s.revA)}
}

// period sums payments per period (a year or a month); a payment that was
// never booked counts in none.
type period map[int]*sums

func (pe period) add(key int, p *payouts.Payment) {
	if key == 0 || !booked(p) && !reversed(p) {
		return
	}
	s := pe[key]
	if s == nil {
		s = &sums{}
		pe[key] = s
	}
	s.add(p)
}

func (pe period) keys() []int {
	keys := make([]int, 0, len(pe))
	for k := range pe {
		keys = append(keys, k)
	}
	sort.Ints(keys)
	return keys
}

// Work is a worker's work on a task.
type Work struct {
	Task     string        `json:"task"`
	Worker   string        `json:"worker"`
	Merchant string        `json:"merchant"`
	Status   string        `json:"status"`
	Amount   string        `json:"amount,omitempty"` // what the merchant accepted it for
	Accepted *time.Time    `json:"accepted,omitempty"`
	Proof    []DocumentRef `json:"proof"`
}

func workOf(w *tasks.Work) Work {
	out := Work{Task: w.Task, Worker: w.Worker, Merchant: w.Merchant, Status: string(w.Status), Amount: w.Amount, Proof: []DocumentRef{}}
	if !w.Accepted.IsZero() {
		at := w.Accepted
		out.Accepted = &at
	}
	for _, d := range w.Proof {
		out.Proof = append(out.Proof, DocumentRef{Ref: "proof:" + w.Task + ":" + w.Worker + ":" + d.ID, Kind: "task_proof", Type: d.Type, Size: d.Size, SM3: d.SM3})
	}
	return out
}

// seek calls fn with the rest of each key of bucket under prefix, in
// order.
func seek(r *state.ReadTx, bucket, prefix string, fn func(rest string, v []byte) error) error {
	return r.Seek(bucket, []byte(prefix), false, func(k, v []byte) (bool, error) {
		if len(k) < len(prefix) || string(k[:len(prefix)]) != prefix {
			return false, nil
		}
		return true, fn(string(k[len(prefix):]), v)
	})
}
