package topups

import (
	"cxt/appliance/merchants"
	"cxt/gateway/feed"
	"cxt/storage/state"
)

// FactCredited is the feed's fact of a merchant's top-ups credited to its
// balance — by statement lines or by a suspense item matched by hand — in
// the merchant's tax office's chain: the money flow that pays for the
// payments. A command appends one entry per merchant listing the credits
// it made, in the order it made them: a chunk of a statement of thousands
// of lines is a few entries, not thousands.
const FactCredited = "topup.credited"

// creditedFact is topup.credited's payload, version 1.
type creditedFact struct {
	Merchant string       `json:"merchant"`
	Credits  []creditFact `json:"credits"`
}

type creditFact struct {
	Amount  string `json:"amount"` // yuan, two decimals
	Ref     string `json:"ref"`    // statement/row, or the suspense item
	Posting uint64 `json:"posting"`
}

// credits are a command's credits by merchant, in the order merchants
// were first credited.
type credits struct {
	order []string
	by    map[string][]creditFact
}

func (c *credits) add(merchant string, f creditFact) {
	if c.by == nil {
		c.by = map[string][]creditFact{}
	}
	if _, ok := c.by[merchant]; !ok {
		c.order = append(c.order, merchant)
	}
	c.by[merchant] = append(c.by[merchant], f)
}

// feed appends the entries; offices may name merchants' tax offices
// already read, others are read.
func (c *credits) feed(tx *state.Tx, offices map[string]string) error {
	for _, merchant := range c.order {
		office, ok := offices[merchant]
		if !ok {
			m, err := merchants.Get(tx, merchant)
			if err != nil {
				return err
			}
			office = m.TaxOffice
		}
		if _, err := feed.Append(tx, feed.Fact{Type: FactCredited, Version: 1, Office: office, Subject: merchant,
			Payload: creditedFact{Merchant: merchant, Credits: c.by[merchant]}}); err != nil {
			return err
		}
	}
	return nil
}
