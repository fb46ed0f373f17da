package topups

import (
	"cxt/appliance/ledger"
	"cxt/appliance/merchants"
	"cxt/gateway/feed"
	"cxt/storage/state"
)

// FactCredited is the feed's fact of a merchant's top-up credited to its
// balance — by its statement line or by a suspense item matched by hand —
// in the merchant's tax office's chain: the money flow that pays for
// the payments.
const FactCredited = "topup.credited"

type creditedFact struct {
	Merchant string `json:"merchant"`
	Amount   string `json:"amount"` // yuan, two decimals
	Ref      string `json:"ref"`    // statement/row, or the suspense item
	Posting  uint64 `json:"posting"`
}

func feedCredited(tx *state.Tx, merchant string, fen int64, ref string, posting uint64, office *string) error {
	if office == nil {
		m, err := merchants.Get(tx, merchant)
		if err != nil {
			return err
		}
		office = &m.TaxOffice
	}
	_, err := feed.Append(tx, feed.Fact{Type: FactCredited, Version: 1, Office: *office, Subject: merchant,
		Payload: creditedFact{Merchant: merchant, Amount: ledger.Yuan(fen), Ref: ref, Posting: posting}})
	return err
}
