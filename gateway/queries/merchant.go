package queries

import (
	"fmt"
	"time"

	"cxt/appliance/agreements"
	"cxt/appliance/merchants"
	"cxt/appliance/payouts"
	"cxt/appliance/subjects"
	"cxt/appliance/tasks"
	"cxt/crypto/keyring"
	"cxt/storage/state"
)

// MerchantAnswer is what a bureau learns of a merchant.
type MerchantAnswer struct {
	ID             string     `json:"id"`
	Name           string     `json:"name"`
	OperatingModel string     `json:"operating_model"` // intermediary or operating
	TaxOffice      string     `json:"tax_office,omitempty"`
	Status         string     `json:"status"`
	Created        time.Time  `json:"created"`
	Approved       *time.Time `json:"approved,omitempty"`
	History        []Event    `json:"history"`
	// Identity is the merchant's registration and the people on its
	// record; nil, and Destroyed set, once it was shredded.
	Identity   *MerchantIdentity `json:"identity,omitempty"`
	Destroyed  *Destroyed        `json:"destroyed,omitempty"`
	Documents  []DocumentRef     `json:"documents"` // its qualification documents: business licence and others
	Agreements []Agreement       `json:"agreements"`
	Tasks      []Task            `json:"tasks"`
	Payments   []MonthTotals     `json:"payments"` // per month its payments' withholding counted in
}

// MerchantIdentity is what a merchant keeps sealed under its key.
type MerchantIdentity struct {
	USCC     string              `json:"uscc"`
	LegalRep merchants.Person    `json:"legal_rep"`
	Contacts []merchants.Contact `json:"contacts"`
	Bank     merchants.Bank      `json:"bank"`
}

// Event is a step of the merchant's review and life.
type Event struct {
	At     time.Time `json:"at"`
	Action string    `json:"action"`
	From   string    `json:"from"`
	To     string    `json:"to"`
	Reason string    `json:"reason,omitempty"`
}

// Task is one of the merchant's tasks with its works.
type Task struct {
	ID        string       `json:"id"`
	Title     string       `json:"title"`
	Category  string       `json:"category"`
	Status    string       `json:"status"`
	Budget    string       `json:"budget"`
	Headcount int          `json:"headcount"`
	Period    tasks.Period `json:"period"`
	Location  string       `json:"location"`
	Created   time.Time    `json:"created"`
	Published *time.Time   `json:"published,omitempty"`
	Works     []Work       `json:"works"`
}

// MonthTotals are a month's payments (yyyymm).
type MonthTotals struct {
	Month int `json:"month"`
	Totals
}

// Merchant answers one merchant: by the platform's merchant ID or its
// unified social credit code. A merchant outside scope — of another tax
// office, or of none for a bureau without the platform's office — or none
// is CodeOutOfScope.
func Merchant(r *state.ReadTx, keys *keyring.Keyring, scope Scope, by Identifier) (*MerchantAnswer, error) {
	const op = "gateway merchant query"
	m, err := findMerchant(op, r, keys, scope, by)
	if err != nil {
		return nil, err
	}
	out := &MerchantAnswer{ID: m.ID, Name: m.Name, OperatingModel: string(m.Model), TaxOffice: m.TaxOffice, Status: string(m.Status),
		Created: m.Created, History: []Event{}, Documents: []DocumentRef{}, Agreements: []Agreement{}, Tasks: []Task{}, Payments: []MonthTotals{}}
	if !m.Approved.IsZero() {
		at := m.Approved
		out.Approved = &at
	}
	for _, e := range m.History {
		out.History = append(out.History, Event{At: e.At, Action: string(e.Action), From: string(e.From), To: string(e.To), Reason: e.Reason})
	}
	for _, d := range m.Documents {
		out.Documents = append(out.Documents, DocumentRef{Ref: "merchant:" + m.ID + ":" + d.ID, Kind: d.Kind, Type: d.Type, Size: d.Size, SM3: d.SM3})
	}
	key, destroyed, err := subjectKey(r, keys, m.ID)
	if err != nil {
		return nil, err
	}
	out.Destroyed = destroyed
	if key != nil {
		var p merchants.Private
		if err := subjects.Open(key, merchants.PrivateAAD(m.ID), m.Private, &p); err != nil {
			return nil, fmt.Errorf("queries: merchant %s: %w", m.ID, err)
		}
		if p.Contacts == nil {
			p.Contacts = []merchants.Contact{}
		}
		out.Identity = &MerchantIdentity{USCC: p.USCC, LegalRep: p.LegalRep, Contacts: p.Contacts, Bank: p.Bank}
	}

	// Agreements: its cooperation agreement, each worker's latest complete
	// service agreement, and any other its payments rest on.
	agreed := map[string]bool{}
	if m.Agreement != "" {
		agreed[m.Agreement] = true
	}
	err = seek(r, agreements.IndexBucket, "tripartite/"+m.ID+"/", func(_ string, id []byte) error {
		agreed[string(id)] = true
		return nil
	})
	if err != nil {
		return nil, err
	}
	months := period{}
	err = seek(r, payouts.BatchRefs, "b/"+m.ID+"/", func(batch string, _ []byte) error {
		return seek(r, payouts.PaymentBucket, batch+"-", func(rest string, _ []byte) error {
			p, err := payouts.GetPayment(r, batch+"-"+rest)
			if err != nil || p.Batch != batch {
				return err
			}
			months.add(p.Month, p)
			if p.Agreement != "" {
				agreed[p.Agreement] = true
			}
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	for _, mo := range months.keys() {
		out.Payments = append(out.Payments, MonthTotals{Month: mo, Totals: months[mo].totals()})
	}
	for _, id := range sortedKeys(agreed) {
		a, err := agreements.Get(r, id)
		if err != nil {
			return nil, err
		}
		if a.Merchant == m.ID {
			out.Agreements = append(out.Agreements, agreementOf(a))
		}
	}

	err = seek(r, tasks.MerchantBucket, m.ID+"/", func(_ string, id []byte) error {
		t, err := tasks.Get(r, string(id))
		if err != nil {
			return err
		}
		task := Task{ID: t.ID, Title: t.Title, Category: t.Category, Status: string(t.Status), Budget: t.Budget, Headcount: t.Headcount,
			Period: t.Period, Location: t.Location, Created: t.Created, Works: []Work{}}
		if !t.Published.IsZero() {
			at := t.Published
			task.Published = &at
		}
		err = seek(r, tasks.WorkBucket, t.ID+"/", func(worker string, _ []byte) error {
			w, err := tasks.GetWork(r, t.ID, worker)
			if err != nil {
				return err
			}
			task.Works = append(task.Works, workOf(w))
			return nil
		})
		out.Tasks = append(out.Tasks, task)
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// findMerchant finds the merchant the bureau asks for, if it may see it.
func findMerchant(op string, r *state.ReadTx, keys *keyring.Keyring, scope Scope, by Identifier) (*merchants.Merchant, error) {
	l, err := parseMerchant(op, by, keys)
	if err != nil {
		return nil, err
	}
	id, err := l.resolve(r)
	if err != nil {
		return nil, err
	}
	if id == "" {
		return nil, outOfScope(op, "merchant")
	}
	v := newView(r, scope)
	m, err := v.merchant(id)
	if err != nil {
		return nil, err
	}
	if m == nil {
		return nil, outOfScope(op, "merchant")
	}
	if ok, err := v.sees(id); err != nil {
		return nil, err
	} else if !ok {
		return nil, outOfScope(op, "merchant")
	}
	return m, nil
}
