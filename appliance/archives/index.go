package archives

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"cxt/appliance/agreements"
	"cxt/appliance/invoices"
	"cxt/appliance/merchants"
	"cxt/appliance/payouts"
	"cxt/appliance/risk"
	"cxt/appliance/tasks"
	"cxt/appliance/topups"
	"cxt/appliance/workers"
	"cxt/crypto/sm"
	"cxt/storage/state"
)

// Item is one record or document of an archive, as its index lists it:
// never its content.
type Item struct {
	Class  string    `json:"class"`
	Kind   string    `json:"kind"` // what it is: worker_record, consent, payment, document…
	Ref    string    `json:"ref"`  // the record's ID, or bucket/key
	Date   time.Time `json:"date"`
	Sealed bool      `json:"sealed,omitempty"` // under the subject's key: destroyed with it
	// SM3 is the hex SM3 of the item's ciphertext as last stored (a sealed
	// field's envelope): what the destruction certificate lists.
	SM3 string `json:"sm3,omitempty"`
	// Object marks a document in the blob store: its ciphertext is not in
	// the state, and the node that approves the destruction reads it there
	// for its SM3 (Decision.Objects).
	Object bool `json:"object,omitempty"`
}

// Reader reads the state as a command (state.Tx) or a request
// (state.ReadTx) sees it.
type Reader interface {
	Get(bucket string, key []byte) ([]byte, error)
	// Prefix calls fn with each record of bucket whose key starts with
	// prefix, in key order.
	Prefix(bucket, prefix string, fn func(k, v []byte) error) error
}

// FromTx reads as a command sees the state.
func FromTx(tx *state.Tx) Reader { return txReader{tx} }

// FromRead reads committed state.
func FromRead(tx *state.ReadTx) Reader { return readReader{tx} }

type txReader struct{ tx *state.Tx }

func (r txReader) Get(b string, k []byte) ([]byte, error) { return r.tx.Get(b, k) }

func (r txReader) Prefix(bucket, prefix string, fn func(k, v []byte) error) error {
	return r.tx.Prefix(bucket, []byte(prefix), fn)
}

type readReader struct{ tx *state.ReadTx }

func (r readReader) Get(b string, k []byte) ([]byte, error) { return r.tx.Get(b, k) }

func (r readReader) Prefix(bucket, prefix string, fn func(k, v []byte) error) error {
	return r.tx.Seek(bucket, []byte(prefix), false, func(k, v []byte) (bool, error) {
		if !bytes.HasPrefix(k, []byte(prefix)) {
			return false, nil
		}
		return true, fn(k, v)
	})
}

// Source adds another domain's items of a subject to its archive (training,
// insurance, privacy requests); kind is KindWorker or KindMerchant.
type Source func(r Reader, kind, subject string) ([]Item, error)

func sum(b []byte) string {
	s := sm.Sum(b)
	return hex.EncodeToString(s[:])
}

// SealedItem is an item sealed under its subject's key, with the SM3 of
// its envelope as the archive last held it.
func SealedItem(class, kind, ref string, at time.Time, envelope []byte) Item {
	return Item{Class: class, Kind: kind, Ref: ref, Date: at, Sealed: true, SM3: sum(envelope)}
}

// Subject is an archive's subject with the facts its retention runs from.
type Subject struct {
	ID      string
	Kind    string
	Created time.Time
	Facts   Facts
}

// Lookup finds a subject: a worker or a merchant, by its ID.
func Lookup(r Reader, id string) (*Subject, error) {
	switch {
	case strings.HasPrefix(id, "w_"):
		w, err := workers.Get(r, id)
		if err != nil {
			return nil, notFound(id, err)
		}
		s := &Subject{ID: id, Kind: KindWorker, Created: w.Created, Facts: Facts{Closed: w.Cancelled}}
		// A deletion decided (appliance/privacy) ends the processing as a
		// cancellation does: the retention runs from then.
		if s.Facts.Closed == nil && w.Restricted != nil && w.Restricted.Request != "" {
			since := w.Restricted.Since
			s.Facts.Closed = &since
		}
		year, err := paidYear(r, id)
		if err != nil {
			return nil, err
		}
		s.Facts.PaidYear, s.Facts.Transacted = year, year > 0
		return s, nil
	case strings.HasPrefix(id, "m_"):
		m, err := merchants.Get(r, id)
		if err != nil {
			return nil, notFound(id, err)
		}
		s := &Subject{ID: id, Kind: KindMerchant, Created: m.Created}
		// A closed merchant, or an applicant turned down, is closed from
		// that event on.
		if m.Status == merchants.Closed || m.Status == merchants.Rejected {
			for _, e := range m.History {
				if e.To == m.Status {
					at := e.At
					s.Facts.Closed = &at
				}
			}
		}
		// A merchant that was approved could pay: the platform keeps its
		// records for the year it closed in (or now, while open).
		if !m.Approved.IsZero() {
			s.Facts.Transacted = true
			if s.Facts.Closed != nil {
				s.Facts.PaidYear = s.Facts.Closed.In(China).Year()
			}
		}
		return s, nil
	}
	return nil, state.Reject(CodeSubject, "%s is no worker (w_…) or merchant (m_…)", id)
}

func notFound(id string, err error) error {
	if state.NotFound.Is(err) {
		return state.Reject(CodeSubject, "no archive of %s: no such worker or merchant", id)
	}
	return err
}

// paidYear is the last year a worker was paid in: the years their
// withholding state exists for ("<worker>/<year>").
func paidYear(r Reader, worker string) (int, error) {
	year := 0
	err := r.Prefix(payouts.TaxBucket, worker+"/", func(k, _ []byte) error {
		if y, err := strconv.Atoi(strings.TrimPrefix(string(k), worker+"/")); err == nil && y > year {
			year = y
		}
		return nil
	})
	return year, err
}

// Index lists a subject's items, in class then date order.
func Index(r Reader, s *Subject, extra []Source) ([]Item, error) {
	var items []Item
	var err error
	if s.Kind == KindWorker {
		items, err = workerItems(r, s.ID)
	} else {
		items, err = merchantItems(r, s.ID)
	}
	if err != nil {
		return nil, err
	}
	for _, src := range extra {
		more, err := src(r, s.Kind, s.ID)
		if err != nil {
			return nil, err
		}
		items = append(items, more...)
	}
	if signer, err := agreements.GetSignerKey(r, s.ID); err != nil {
		return nil, err
	} else if signer != nil {
		items = append(items, SealedItem("signing", "signer_key", agreements.SignerKeysBucket+"/"+s.ID, s.Created, signer.Sealed))
	}
	if err := r.Prefix(risk.SubjectBucket, s.Kind+"/"+s.ID+"/", func(k, v []byte) error {
		var f risk.SubjectFinding
		if err := json.Unmarshal(v, &f); err != nil {
			return err
		}
		items = append(items, Item{Class: "risk", Kind: "sample_finding", Ref: string(k), Date: f.At})
		return nil
	}); err != nil {
		return nil, err
	}
	sort.SliceStable(items, func(i, j int) bool {
		if items[i].Class != items[j].Class {
			return items[i].Class < items[j].Class
		}
		return items[i].Date.Before(items[j].Date)
	})
	return items, nil
}

func workerItems(r Reader, id string) ([]Item, error) {
	w, err := workers.Get(r, id)
	if err != nil {
		return nil, err
	}
	items := []Item{SealedItem("identity", "worker_record", "workers/"+id, w.Created, w.Private)}
	for _, c := range []*workers.Check{w.RealName, w.Liveness} {
		if c != nil {
			items = append(items, SealedItem("verification", "check_"+c.Provider, "workers/"+id+"/check", c.At, c.Reference))
		}
	}
	err = r.Prefix(workers.ConsentBucket, id+"/", func(k, v []byte) error {
		var c workers.Consent
		if err := json.Unmarshal(v, &c); err != nil {
			return err
		}
		items = append(items, Item{Class: "consent", Kind: "consent_" + c.Purpose, Ref: c.ID, Date: c.Given})
		return nil
	})
	if err != nil {
		return nil, err
	}
	err = r.Prefix(workers.TaxBucket, id+"/", func(k, v []byte) error {
		var t workers.TaxRegistration
		if err := json.Unmarshal(v, &t); err != nil {
			return err
		}
		if len(t.Reference) > 0 {
			items = append(items, SealedItem("tax", "tax_registration", t.ID, t.Requested, t.Reference))
		} else {
			items = append(items, Item{Class: "tax", Kind: "tax_registration", Ref: t.ID, Date: t.Requested})
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	err = r.Prefix(payouts.TaxBucket, id+"/", func(k, _ []byte) error {
		y := strings.TrimPrefix(string(k), id+"/")
		year, _ := strconv.Atoi(y)
		items = append(items, Item{Class: "tax", Kind: "withholding_year", Ref: y, Date: time.Date(year, 12, 31, 0, 0, 0, 0, China)})
		return nil
	})
	if err != nil {
		return nil, err
	}
	err = r.Prefix(payouts.IndexBucket, "w/"+id+"/", func(k, _ []byte) error {
		pid := strings.TrimPrefix(string(k), "w/"+id+"/")
		p, err := payouts.GetPayment(r, pid)
		if err != nil {
			return err
		}
		items = append(items, Item{Class: "transactions", Kind: "payment_" + string(p.Status), Ref: pid, Date: p.Created})
		return nil
	})
	if err != nil {
		return nil, err
	}
	for _, m := range w.Merchants {
		if err := agreementItem(r, "tripartite/"+m+"/"+id, &items); err != nil {
			return nil, err
		}
	}
	return items, nil
}

func agreementItem(r Reader, indexKey string, items *[]Item) error {
	ref, err := r.Get(agreements.IndexBucket, []byte(indexKey))
	if err != nil || ref == nil {
		return err
	}
	a, err := agreements.Get(r, string(ref))
	if err != nil {
		return err
	}
	*items = append(*items, Item{Class: "agreements", Kind: "agreement_" + string(a.Kind), Ref: a.ID, Date: a.Created})
	if len(a.Values) > 0 {
		*items = append(*items, SealedItem("signing", "agreement_values", a.ID+"/values", a.Created, a.Values))
	}
	return nil
}

func merchantItems(r Reader, id string) ([]Item, error) {
	m, err := merchants.Get(r, id)
	if err != nil {
		return nil, err
	}
	items := []Item{SealedItem("identity", "merchant_record", "merchants/"+id, m.Created, m.Private)}
	if len(m.Officers) > 0 {
		items = append(items, SealedItem("identity", "officers", "merchants/"+id+"/officers", m.Created, m.Officers))
	}
	for _, d := range m.Documents {
		items = append(items, Item{Class: "qualification", Kind: "document_" + d.Kind, Ref: d.ID, Date: d.Uploaded, Sealed: true, Object: true})
	}
	// The completion proofs filed on its tasks are sealed under its key too.
	err = r.Prefix(tasks.MerchantBucket, id+"/", func(_, task []byte) error {
		return r.Prefix(tasks.WorkBucket, string(task)+"/", func(k, v []byte) error {
			var w tasks.Work
			if err := json.Unmarshal(v, &w); err != nil {
				return fmt.Errorf("archives: work %s: %w", k, err)
			}
			for _, p := range w.Proof {
				items = append(items, Item{Class: "transactions", Kind: "proof", Ref: p.ID, Date: p.Uploaded, Sealed: true, Object: true})
			}
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	if err := agreementItem(r, "cooperation/"+id, &items); err != nil {
		return nil, err
	}
	err = r.Prefix(topups.MerchantBucket, id+"/", func(k, _ []byte) error {
		items = append(items, Item{Class: "transactions", Kind: "topup", Ref: hex.EncodeToString(k[len(id)+1:])})
		return nil
	})
	if err != nil {
		return nil, err
	}
	err = r.Prefix(invoices.IndexBucket, "m/"+id+"/", func(k, _ []byte) error {
		inv := strings.TrimPrefix(string(k), "m/"+id+"/")
		items = append(items, Item{Class: "invoices", Kind: "invoice", Ref: inv})
		return nil
	})
	if err != nil {
		return nil, err
	}
	err = r.Prefix(topups.PayersBucket, "", func(k, v []byte) error {
		var p topups.Payer
		if err := json.Unmarshal(v, &p); err != nil || p.Merchant != id {
			return err
		}
		items = append(items, SealedItem("identity", "payer_account", p.ID, p.Registered, p.Details))
		return nil
	})
	if err != nil {
		return nil, err
	}
	err = r.Prefix(payouts.BatchBucket, "", func(k, v []byte) error {
		var b payouts.Batch
		if err := json.Unmarshal(v, &b); err != nil || b.Merchant != id {
			return err
		}
		items = append(items, Item{Class: "transactions", Kind: "payout_batch", Ref: b.ID, Date: b.Created})
		return nil
	})
	return items, err
}
