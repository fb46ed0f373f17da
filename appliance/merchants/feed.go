package merchants

import (
	"time"

	"cxt/appliance/subjects"
	"cxt/gateway/feed"
	"cxt/storage/state"
)

// The facts about merchants that the tax bureaus' feed carries (payload
// schemas in docs/gateway.md), in the merchant's own tax office's chain.
const (
	FactRegistered = "merchant.registered" // applied; identity: Private
	FactStatus     = "merchant.status"     // every review or closure
)

type registeredFact struct {
	Merchant string         `json:"merchant"`
	Name     string         `json:"name"`
	Model    OperatingModel `json:"operating_model"`
	Created  time.Time      `json:"created"`
}

type statusFact struct {
	Merchant string `json:"merchant"`
	Action   Action `json:"action"`
	From     Status `json:"from"`
	To       Status `json:"to"`
	Reason   string `json:"reason,omitempty"`
}

func feedRegistered(tx *state.Tx, m *Merchant) error {
	_, err := feed.Append(tx, feed.Fact{Type: FactRegistered, Version: 1, Office: m.TaxOffice, Subject: m.ID,
		Payload:  registeredFact{Merchant: m.ID, Name: m.Name, Model: m.Model, Created: m.Created},
		Identity: subjects.FeedIdentity(tx, m.ID, PrivateAAD(m.ID), m.Private)})
	return err
}

func feedStatus(tx *state.Tx, m *Merchant, e Event) error {
	_, err := feed.Append(tx, feed.Fact{Type: FactStatus, Version: 1, Office: m.TaxOffice, Subject: m.ID,
		Payload: statusFact{Merchant: m.ID, Action: e.Action, From: e.From, To: e.To, Reason: e.Reason}})
	return err
}
