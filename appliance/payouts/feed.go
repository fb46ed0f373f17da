package payouts

import (
	"sort"
	"time"

	"cxt/appliance/ledger"
	"cxt/appliance/merchants"
	"cxt/gateway/feed"
)

// The payment facts the tax bureaus' feed carries (payload schemas in
// docs/gateway.md). A command that moves payments appends one entry per
// merchant and kind of move, listing every payment it moved that way — a
// chunk of 2,000 payments is one entry, not 2,000 — in the merchant's tax
// office's chain. Holds, cancellations and rejections move no money and
// are not facts for the bureau; the hand-over to the channel is internal.
const (
	FactBooked   = "payments.booked"   // accepted: the merchant paid, the tax withheld
	FactPaid     = "payments.paid"     // the channel paid the worker
	FactFailed   = "payments.failed"   // the channel could not pay: reversed
	FactReturned = "payments.returned" // 退汇: paid, then came back: reversed
)

var factOf = map[Status]string{Accepted: FactBooked, Paid: FactPaid, Failed: FactFailed, Returned: FactReturned}

// paymentsFact is the payload of each payments.* entry, version 1.
type paymentsFact struct {
	Merchant string        `json:"merchant"`
	Command  string        `json:"command"` // payout.execute, payout.results, …
	Ref      string        `json:"ref"`     // the batch and chunk, or the channel
	Payments []paymentFact `json:"payments"`
}

// paymentFact is one payment as the bureau sees it: the four flows it ties
// together (agreement, task, money; the invoice follows), the amounts in
// yuan with two decimals, and the withholding.
type paymentFact struct {
	Payment    string    `json:"payment"`
	Batch      string    `json:"batch"`
	Worker     string    `json:"worker"`
	Task       string    `json:"task,omitempty"`
	Agreement  string    `json:"agreement,omitempty"`
	Status     Status    `json:"status"`
	Reason     string    `json:"reason,omitempty"`
	Amount     string    `json:"amount"`
	Fee        string    `json:"fee"`
	IIT        string    `json:"iit"`
	VAT        string    `json:"vat"`
	Surcharges string    `json:"surcharges"`
	Net        string    `json:"net"`
	Month      int       `json:"month"` // yyyymm the withholding counts it in
	RuleSet    string    `json:"rule_set"`
	Channel    string    `json:"channel"`
	ChannelRef string    `json:"channel_ref,omitempty"`
	At         time.Time `json:"at"`
}

// moved notes a payment the command moved in a way the feed reports.
func (r *run) moved(p *Payment) {
	if _, ok := factOf[p.Status]; ok {
		r.facts = append(r.facts, p)
	}
}

// feedFacts appends the command's payment facts, by merchant and kind.
func (r *run) feedFacts(command, ref string) error {
	type group struct {
		merchant string
		status   Status
	}
	groups := map[group][]paymentFact{}
	for _, p := range r.facts {
		g := group{p.Merchant, p.Status}
		groups[g] = append(groups[g], paymentFact{Payment: p.ID, Batch: p.Batch, Worker: p.Worker, Task: p.Task, Agreement: p.Agreement,
			Status: p.Status, Reason: p.Reason, Amount: ledger.Yuan(p.AmountFen), Fee: ledger.Yuan(p.FeeFen), IIT: ledger.Yuan(p.IITFen),
			VAT: ledger.Yuan(p.VATFen), Surcharges: ledger.Yuan(p.SurFen), Net: ledger.Yuan(p.NetFen), Month: p.Month, RuleSet: p.RuleSet,
			Channel: p.Channel, ChannelRef: p.ChannelRef, At: p.Updated})
	}
	keys := make([]group, 0, len(groups))
	for g := range groups {
		keys = append(keys, g)
	}
	sort.Slice(keys, func(i, j int) bool {
		if keys[i].merchant != keys[j].merchant {
			return keys[i].merchant < keys[j].merchant
		}
		return factOf[keys[i].status] < factOf[keys[j].status]
	})
	offices := map[string]string{}
	if r.merchant != nil {
		offices[r.merchant.ID] = r.merchant.TaxOffice
	}
	for _, g := range keys {
		office, ok := offices[g.merchant]
		if !ok {
			m, err := merchants.Get(r.tx, g.merchant)
			if err != nil {
				return err
			}
			office, offices[g.merchant] = m.TaxOffice, m.TaxOffice
		}
		if _, err := feed.Append(r.tx, feed.Fact{Type: factOf[g.status], Version: 1, Office: office, Subject: g.merchant,
			Payload: paymentsFact{Merchant: g.merchant, Command: command, Ref: ref, Payments: groups[g]}}); err != nil {
			return err
		}
	}
	return nil
}
