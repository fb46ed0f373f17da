package workers

import (
	"time"

	"cxt/appliance/subjects"
	"cxt/gateway/feed"
	"cxt/storage/state"
)

// The facts about workers that the tax bureaus' feed carries (payload
// schemas in docs/gateway.md). A worker's own facts reach the platform's
// office; a link to a merchant also reaches that merchant's office.
const (
	FactRegistered = "worker.registered" // a new person; identity: Private
	FactAccount    = "worker.account"    // an invited worker opened their account
	FactLinked     = "worker.linked"     // invited by a merchant, or accepted
	FactChecked    = "worker.checked"    // a real-name or liveness check's outcome
)

// registeredFact is worker.registered's payload, version 1.
type registeredFact struct {
	Worker   string    `json:"worker"`
	Account  string    `json:"account,omitempty"`
	Origin   string    `json:"origin"`
	Merchant string    `json:"merchant,omitempty"` // who invited them
	IDType   string    `json:"id_type"`            // 居民身份证: the only kind registered
	Created  time.Time `json:"created"`
}

// IDTypeResident is the ID type every worker registers with.
const IDTypeResident = "resident_id_card"

// feedRegistered appends a self-registered worker's registration (no
// merchant invited them; the state machine hashes their private fields).
func feedRegistered(tx *state.Tx, w *Worker) error {
	_, err := feed.Append(tx, registered(tx, w, "", nil))
	return err
}

// registered is the fact of w's registration; privateSM3, if the proposer
// gave it, is the SM3 of the private fields' plaintext.
func registered(tx *state.Tx, w *Worker, merchant string, privateSM3 []byte) feed.Fact {
	id := subjects.FeedIdentity(tx, w.ID, PrivateAAD(w.ID), w.Private)
	id.SM3 = privateSM3
	return feed.Fact{Type: FactRegistered, Version: 1, Subject: w.ID,
		Payload:  registeredFact{Worker: w.ID, Account: w.Account, Origin: w.Origin, Merchant: merchant, IDType: IDTypeResident, Created: w.Created},
		Identity: id}
}

func feedAccount(tx *state.Tx, w *Worker) error {
	_, err := feed.Append(tx, feed.Fact{Type: FactAccount, Version: 1, Subject: w.ID,
		Payload: map[string]string{"worker": w.ID, "account": w.Account}})
	return err
}

func feedLinked(tx *state.Tx, l Link, office string) error {
	_, err := feed.Append(tx, linked(l, office))
	return err
}

// linked is the fact of l as it stands.
func linked(l Link, office string) feed.Fact {
	return feed.Fact{Type: FactLinked, Version: 1, Office: office, Subject: l.Worker,
		Payload: map[string]string{"worker": l.Worker, "merchant": l.Merchant, "status": l.Status}}
}

func feedChecked(tx *state.Tx, w *Worker, kind string, c *Check) error {
	_, err := feed.Append(tx, feed.Fact{Type: FactChecked, Version: 1, Subject: w.ID,
		Payload: map[string]any{"worker": w.ID, "kind": kind, "status": c.Status, "provider": c.Provider, "at": c.At}})
	return err
}
