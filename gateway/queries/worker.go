package queries

import (
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"cxt/appliance/agreements"
	"cxt/appliance/payouts"
	"cxt/appliance/subjects"
	"cxt/appliance/tasks"
	"cxt/appliance/workers"
	"cxt/crypto/keyring"
	"cxt/crypto/subjectkey"
	"cxt/storage/state"
)

// WorkerAnswer is what a bureau learns of a worker.
type WorkerAnswer struct {
	ID string `json:"id"`
	// Identity is the person's, opened from their record; nil, and
	// Destroyed set, once they were shredded.
	Identity         *WorkerIdentity   `json:"identity,omitempty"`
	Destroyed        *Destroyed        `json:"destroyed,omitempty"`
	Registration     Registration      `json:"registration"`
	Merchants        []MerchantLink    `json:"merchants"`
	Agreements       []Agreement       `json:"agreements"`
	Works            []Work            `json:"works"`
	Payments         []Payment         `json:"payments"`
	Withholding      []YearTotals      `json:"withholding"` // per year, from Payments
	TaxRegistrations []TaxRegistration `json:"tax_registrations"`
}

// WorkerIdentity is a worker's personal fields.
type WorkerIdentity struct {
	Name     string `json:"name"`
	IDType   string `json:"id_type"` // resident_id_card (居民身份证), as the feed names it
	IDNumber string `json:"id_number"`
	Phone    string `json:"phone"`
	BankCard string `json:"bank_card,omitempty"`
}

// Registration is how and when the worker came to the platform, and their
// checks.
type Registration struct {
	Origin   string    `json:"origin"` // self or invited
	Account  string    `json:"account,omitempty"`
	Created  time.Time `json:"created"`
	RealName *Check    `json:"real_name,omitempty"`
	Liveness *Check    `json:"liveness,omitempty"`
}

// Check is a provider's real-name or liveness answer.
type Check struct {
	Status   string    `json:"status"`
	Provider string    `json:"provider"`
	At       time.Time `json:"at"`
}

// MerchantLink is a merchant the worker is linked to.
type MerchantLink struct {
	Merchant  string     `json:"merchant"`
	Name      string     `json:"name"`
	TaxOffice string     `json:"tax_office,omitempty"`
	Status    string     `json:"status"` // invited or active
	Invited   time.Time  `json:"invited"`
	Accepted  *time.Time `json:"accepted,omitempty"`
}

// YearTotals are a year's payments to a worker: what was paid and
// withheld, by the month each payment's withholding counted in.
type YearTotals struct {
	Year int `json:"year"`
	Totals
}

// TaxRegistration is a tax registration filed on the worker's behalf.
type TaxRegistration struct {
	ID        string     `json:"id"`
	Kind      string     `json:"kind"`
	Status    string     `json:"status"`
	Merchant  string     `json:"merchant,omitempty"`
	Requested time.Time  `json:"requested"`
	Decided   *time.Time `json:"decided,omitempty"`
	Reference string     `json:"reference,omitempty"` // the tax office's registration number
}

// Worker answers one worker: by the platform's worker ID or their resident
// ID number. A worker outside scope, or none, is CodeOutOfScope.
func Worker(r *state.ReadTx, keys *keyring.Keyring, scope Scope, by Identifier) (*WorkerAnswer, error) {
	const op = "gateway worker query"
	w, v, err := findWorker(op, r, keys, scope, by)
	if err != nil {
		return nil, err
	}
	out := &WorkerAnswer{ID: w.ID, Merchants: []MerchantLink{}, Agreements: []Agreement{}, Works: []Work{}, Payments: []Payment{},
		Withholding: []YearTotals{}, TaxRegistrations: []TaxRegistration{},
		Registration: Registration{Origin: w.Origin, Account: w.Account, Created: w.Created, RealName: checkOf(w.RealName), Liveness: checkOf(w.Liveness)}}
	key, destroyed, err := subjectKey(r, keys, w.ID)
	if err != nil {
		return nil, err
	}
	out.Destroyed = destroyed
	if key != nil {
		var p workers.Private
		if err := subjects.Open(key, workers.PrivateAAD(w.ID), w.Private, &p); err != nil {
			return nil, fmt.Errorf("queries: worker %s: %w", w.ID, err)
		}
		out.Identity = &WorkerIdentity{Name: p.Name, IDType: workers.IDTypeResident, IDNumber: p.IDNumber, Phone: p.Phone, BankCard: p.BankCard}
	}

	agreed := map[string]bool{} // agreement IDs to answer
	for _, m := range w.Merchants {
		if ok, err := v.sees(m); err != nil {
			return nil, err
		} else if !ok {
			continue
		}
		l, err := workers.GetLink(r, m, w.ID)
		if err != nil {
			return nil, err
		}
		rec, err := v.merchant(m)
		if err != nil {
			return nil, err
		}
		link := MerchantLink{Merchant: m, Name: rec.Name, TaxOffice: rec.TaxOffice, Status: l.Status, Invited: l.Invited}
		if !l.Accepted.IsZero() {
			at := l.Accepted
			link.Accepted = &at
		}
		out.Merchants = append(out.Merchants, link)
		id, err := agreements.SignedWith(r, m, w.ID)
		if err != nil {
			return nil, err
		}
		if id != "" {
			agreed[id] = true
		}
	}

	years := period{}
	err = seek(r, payouts.IndexBucket, "w/"+w.ID+"/", func(id string, _ []byte) error {
		p, err := payouts.GetPayment(r, id)
		if err != nil {
			return err
		}
		if ok, err := v.sees(p.Merchant); err != nil || !ok {
			return err
		}
		out.Payments = append(out.Payments, paymentOf(p))
		years.add(p.Month/100, p)
		if p.Agreement != "" {
			agreed[p.Agreement] = true
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	for _, y := range years.keys() {
		out.Withholding = append(out.Withholding, YearTotals{Year: y, Totals: years[y].totals()})
	}

	for _, id := range sortedKeys(agreed) {
		a, err := agreements.Get(r, id)
		if err != nil {
			return nil, err
		}
		if ok, err := v.sees(a.Merchant); err != nil {
			return nil, err
		} else if ok && a.Worker == w.ID {
			out.Agreements = append(out.Agreements, agreementOf(a))
		}
	}

	err = seek(r, tasks.WorkerBucket, w.ID+"/", func(_ string, task []byte) error {
		wk, err := tasks.GetWork(r, string(task), w.ID)
		if err != nil {
			return err
		}
		if ok, err := v.sees(wk.Merchant); err != nil || !ok {
			return err
		}
		out.Works = append(out.Works, workOf(wk))
		return nil
	})
	if err != nil {
		return nil, err
	}

	err = seek(r, workers.TaxBucket, w.ID+"/", func(_ string, b []byte) error {
		var t workers.TaxRegistration
		if err := json.Unmarshal(b, &t); err != nil {
			return err
		}
		// One filed for a merchant's work is that merchant's office's; one
		// for none is the platform's.
		if t.Merchant == "" && !scope.Platform {
			return nil
		}
		if t.Merchant != "" {
			if ok, err := v.sees(t.Merchant); err != nil || !ok {
				return err
			}
		}
		out.TaxRegistrations = append(out.TaxRegistrations, taxRegistrationOf(&t, key))
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// findWorker finds the worker the bureau asks for, if it may see them: one
// a merchant of its offices linked or paid, or anyone for the platform's
// office. Every other case — none such included — is the one refusal.
//
// The links decide: a payment rests on a service agreement, which only a
// linked merchant signs, and a link is never taken back, so whoever paid a
// worker is on their list. Reading only the list also keeps an
// out-of-scope answer about as quick as an absent one, whatever the worker
// was paid.
func findWorker(op string, r *state.ReadTx, keys *keyring.Keyring, scope Scope, by Identifier) (*workers.Worker, *view, error) {
	l, err := parseWorker(op, by, keys)
	if err != nil {
		return nil, nil, err
	}
	id, err := l.resolve(r)
	if err != nil {
		return nil, nil, err
	}
	if id == "" {
		return nil, nil, outOfScope(op, "worker")
	}
	w, err := workers.Get(r, id)
	if state.NotFound.Is(err) {
		return nil, nil, outOfScope(op, "worker")
	} else if err != nil {
		return nil, nil, err
	}
	v := newView(r, scope)
	if scope.Platform {
		return w, v, nil
	}
	for _, m := range w.Merchants {
		if ok, err := v.sees(m); err != nil {
			return nil, nil, err
		} else if ok {
			return w, v, nil
		}
	}
	return nil, nil, outOfScope(op, "worker")
}

// subjectKey opens a subject's key; nil and the time of its destruction if
// it was shredded.
func subjectKey(r *state.ReadTx, keys *keyring.Keyring, subject string) (*subjectkey.Key, *Destroyed, error) {
	b, err := r.Get(subjects.Bucket, []byte(subject))
	if err != nil {
		return nil, nil, err
	}
	if b != nil {
		var rec subjects.Record
		if err := json.Unmarshal(b, &rec); err != nil {
			return nil, nil, err
		}
		if rec.Shredded != nil {
			return nil, &Destroyed{At: *rec.Shredded}, nil
		}
	}
	k, err := subjects.Key(r, keys, subject)
	return k, nil, err
}

func checkOf(c *workers.Check) *Check {
	if c == nil {
		return nil
	}
	return &Check{Status: c.Status, Provider: c.Provider, At: c.At}
}

func taxRegistrationOf(t *workers.TaxRegistration, key *subjectkey.Key) TaxRegistration {
	out := TaxRegistration{ID: t.ID, Kind: t.Kind, Status: t.Status, Merchant: t.Merchant, Requested: t.Requested}
	if !t.Decided.IsZero() {
		at := t.Decided
		out.Decided = &at
	}
	if key != nil && len(t.Reference) > 0 {
		var ref string
		if subjects.Open(key, workers.ReferenceAAD(t.Worker, "tax/"+t.ID), t.Reference, &ref) == nil {
			out.Reference = ref
		}
	}
	return out
}

func sortedKeys(set map[string]bool) []string {
	out := make([]string, 0, len(set))
	for k := range set {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
