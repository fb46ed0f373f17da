package payouts

import (
	"sort"
	"strconv"

	"cxt/appliance/ledger"
	"cxt/appliance/merchants"
	"cxt/gateway/feed"
	"cxt/storage/state"
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

// The payload of each payments.* entry, version 1, is
//
//	{"merchant":…,"command":…,"ref":…,"payments":[{…},…]}
//
// command being payout.execute, payout.results, …, and ref the batch and
// chunk or the channel. Each payment is what the bureau needs of it: the
// four flows it ties together (agreement, task, money; the invoice
// follows), the amounts in yuan with two decimals and the withholding —
// payment, batch, worker, task, agreement, reason (failed and returned),
// amount, fee, iit, vat, surcharges, net, month (yyyymm the withholding
// counts it in), rule_set, channel, channel_ref. Its status is the entry's
// type and its time the entry's. appendPayments writes it by hand: a chunk
// lists 2,000.
func appendPayments(b []byte, merchant, command, ref string, ps []*Payment) []byte {
	b = append(b, `{"merchant":`...)
	b = feed.AppendString(b, merchant)
	b = append(b, `,"command":`...)
	b = feed.AppendString(b, command)
	b = append(b, `,"ref":`...)
	b = feed.AppendString(b, ref)
	b = append(b, `,"payments":[`...)
	for i, p := range ps {
		if i > 0 {
			b = append(b, ',')
		}
		for j, f := range [...]struct{ name, value string }{{"payment", p.ID}, {"batch", p.Batch}, {"worker", p.Worker}, {"task", p.Task},
			{"agreement", p.Agreement}, {"reason", p.Reason}, {"amount", ledger.Yuan(p.AmountFen)}, {"fee", ledger.Yuan(p.FeeFen)},
			{"iit", ledger.Yuan(p.IITFen)}, {"vat", ledger.Yuan(p.VATFen)}, {"surcharges", ledger.Yuan(p.SurFen)}, {"net", ledger.Yuan(p.NetFen)},
			{"rule_set", p.RuleSet}, {"channel", p.Channel}, {"channel_ref", p.ChannelRef}} {
			if f.value == "" && (f.name == "task" || f.name == "agreement" || f.name == "reason" || f.name == "channel_ref") {
				continue
			}
			if j == 0 {
				b = append(b, `{"`...)
			} else {
				b = append(b, `,"`...)
			}
			b = append(append(b, f.name...), `":`...)
			b = feed.AppendString(b, f.value)
		}
		b = append(b, `,"month":`...)
		b = strconv.AppendInt(b, int64(p.Month), 10)
		b = append(b, '}')
	}
	return append(b, "]}"...)
}

// moved notes a payment the command moved in a way the feed reports.
func (r *run) moved(p *Payment) {
	if _, ok := factOf[p.Status]; ok {
		r.facts = append(r.facts, p)
	}
}

// feedFacts appends the command's payment facts, by merchant and kind.
func (r *run) feedFacts(command, ref string) error {
	if len(r.facts) == 0 {
		return nil
	}
	if ok, err := r.tx.Speaks(state.GatewaySet); err != nil || !ok {
		return err // an older cluster: no entries, and no work building them
	}
	type group struct {
		merchant string
		status   Status
	}
	groups := map[group][]*Payment{}
	for _, p := range r.facts {
		g := group{p.Merchant, p.Status}
		groups[g] = append(groups[g], p)
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
			Payload: feed.Raw(appendPayments(make([]byte, 0, 320*len(groups[g])), g.merchant, command, ref, groups[g]))}); err != nil {
			return err
		}
	}
	return nil
}
