package tasks

import (
	"time"

	"cxt/appliance/merchants"
	"cxt/gateway/feed"
	"cxt/storage/state"
)

// The facts about tasks that the tax bureaus' feed carries (payload schemas
// in docs/gateway.md), in the merchant's tax office's chain: a task
// published with its terms, every later change of its status, and each
// piece of work accepted (验收) with its amount — the task flow a payment
// refers to. Drafts never reach the feed.
const (
	FactPublished = "task.published"
	FactStatus    = "task.status"
	FactAccepted  = "task.work_accepted"
)

type publishedFact struct {
	Task      string `json:"task"`
	Status    Status `json:"status"` // pending_review, or open when no rule asked for a person
	Merchant  string `json:"merchant"`
	Title     string `json:"title"`
	Category  string `json:"category"`
	Budget    string `json:"budget"`
	Headcount int    `json:"headcount"`
	Period    Period `json:"period"`
	Location  string `json:"location"`
}

type acceptedFact struct {
	Task     string    `json:"task"`
	Merchant string    `json:"merchant"`
	Worker   string    `json:"worker"`
	Amount   string    `json:"amount"`
	Accepted time.Time `json:"accepted"`
}

// feedPublished records a task as published, with its terms.
func feedPublished(tx *state.Tx, t *Task) error {
	return appendFact(tx, t, FactPublished, "", publishedFact{Task: t.ID, Status: t.Status, Merchant: t.Merchant, Title: t.Title,
		Category: t.Category, Budget: t.Budget, Headcount: t.Headcount, Period: t.Period, Location: t.Location})
}

// feedStatus records the task's last move.
func feedStatus(tx *state.Tx, t *Task) error {
	e := t.History[len(t.History)-1]
	return appendFact(tx, t, FactStatus, "", map[string]string{"task": t.ID, "merchant": t.Merchant, "from": e.From, "to": e.To, "reason": e.Reason})
}

// appendFact appends a fact of t's in its merchant's office; subject is
// the worker it concerns, or "" for the merchant.
func appendFact(tx *state.Tx, t *Task, typ, subject string, payload any) error {
	m, err := merchants.Get(tx, t.Merchant)
	if err != nil {
		return err
	}
	if subject == "" {
		subject = t.Merchant
	}
	_, err = feed.Append(tx, feed.Fact{Type: typ, Version: 1, Office: m.TaxOffice, Subject: subject, Payload: payload})
	return err
}

func feedAccepted(tx *state.Tx, t *Task, w *Work) error {
	return appendFact(tx, t, FactAccepted, w.Worker,
		acceptedFact{Task: t.ID, Merchant: t.Merchant, Worker: w.Worker, Amount: w.Amount, Accepted: w.Accepted})
}
