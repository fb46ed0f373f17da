package invoices

import (
	"cxt/appliance/ledger"
	"cxt/appliance/merchants"
	"cxt/gateway/feed"
	"cxt/storage/state"
)

// The invoice facts the tax bureaus' feed carries, in the merchant's tax
// office's chain: the fourth flow (发票流) next to the agreement, the task
// and the money of each payment.
const (
	FactIssued   = "invoices.issued"   // an invoice was issued (or a 代开 one recorded)
	FactReversed = "invoices.reversed" // its red-letter reversal was issued
)

// factPayload is an invoice fact's payload, version 1: no personal data —
// the worker of a 代开 invoice by cxt's ID only.
type factPayload struct {
	Invoice  string   `json:"invoice"`
	Kind     Kind     `json:"kind"`
	Merchant string   `json:"merchant"`
	Worker   string   `json:"worker,omitempty"`
	Number   string   `json:"number"`
	Reverses string   `json:"reverses,omitempty"`
	Payments []string `json:"payments"`
	Amount   string   `json:"amount"`
	Tax      string   `json:"tax"`
	Total    string   `json:"total"`
	Rate     string   `json:"rate"`
}

// appendFact appends the issue of inv (a reversal's: invoices.reversed).
func appendFact(tx *state.Tx, inv *Invoice) error {
	if ok, err := tx.Speaks(state.GatewaySet); err != nil || !ok {
		return err
	}
	m, err := merchants.Get(tx, inv.Merchant)
	if err != nil {
		return err
	}
	typ := FactIssued
	if inv.Reverses != "" {
		typ = FactReversed
	}
	_, err = feed.Append(tx, feed.Fact{Type: typ, Version: 1, Office: m.TaxOffice, Subject: inv.Merchant, Payload: factPayload{
		Invoice: inv.ID, Kind: inv.Kind, Merchant: inv.Merchant, Worker: inv.Worker, Number: inv.Number, Reverses: inv.Reverses,
		Payments: inv.Payments, Amount: ledger.Yuan(inv.AmountFen), Tax: ledger.Yuan(inv.TaxFen), Total: ledger.Yuan(inv.TotalFen), Rate: inv.Rate()}})
	return err
}
