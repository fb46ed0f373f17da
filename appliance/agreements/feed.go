package agreements

import (
	"time"

	"cxt/appliance/merchants"
	"cxt/gateway/feed"
	"cxt/storage/state"
)

// FactSigned is the feed's fact of an agreement signed by every party and
// sealed by the platform, in the merchant's tax office's chain: the parties,
// the template, and the SM3 of the PDF and of the evidence package, so a
// bureau holding a downloaded copy checks it is the one signed.
const FactSigned = "agreement.signed"

type signedFact struct {
	Agreement   string    `json:"agreement"`
	Kind        Kind      `json:"kind"`
	Merchant    string    `json:"merchant"`
	Worker      string    `json:"worker,omitempty"`
	Template    string    `json:"template"`
	PDFSM3      string    `json:"pdf_sm3"`
	EvidenceSM3 string    `json:"evidence_sm3"`
	SealedAt    time.Time `json:"sealed_at"`
}

func feedSigned(tx *state.Tx, a *Agreement) error {
	m, err := merchants.Get(tx, a.Merchant)
	if err != nil {
		return err
	}
	subject := a.Merchant
	if a.Worker != "" {
		subject = a.Worker
	}
	_, err = feed.Append(tx, feed.Fact{Type: FactSigned, Version: 1, Office: m.TaxOffice, Subject: subject,
		Payload: signedFact{Agreement: a.ID, Kind: a.Kind, Merchant: a.Merchant, Worker: a.Worker, Template: a.Template.ID,
			PDFSM3: a.PDF.SM3, EvidenceSM3: a.Evidence.SM3, SealedAt: a.SealedAt}})
	return err
}
