package risk

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"cxt/appliance/agreements"
	"cxt/appliance/payouts"
	"cxt/appliance/tasks"
	"cxt/crypto/sm"
	"cxt/storage/state"
)

// Method is how a sample is drawn, as every sample records it. Anyone with
// the seed and the population's IDs draws the same sample again (Draw).
const Method = "order the population's IDs by SM3(seed ‖ ID) — the seed's 32 bytes, then the ID's UTF-8 bytes — ascending, and take the first size; population_sm3 is the SM3 of the IDs sorted ascending, each followed by a newline"

// Draw is the sample of size out of ids under seed, in sample order.
func Draw(seed []byte, ids []string, size int) []string {
	type keyed struct {
		h  [sm.HashSize]byte
		id string
	}
	ks := make([]keyed, len(ids))
	for i, id := range ids {
		ks[i] = keyed{sm.Sum(append(slices.Clip(seed), id...)), id}
	}
	slices.SortFunc(ks, func(a, b keyed) int {
		if c := bytes.Compare(a.h[:], b.h[:]); c != 0 {
			return c
		}
		return strings.Compare(a.id, b.id)
	})
	out := make([]string, 0, min(size, len(ks)))
	for _, k := range ks[:min(size, len(ks))] {
		out = append(out, k.id)
	}
	return out
}

// ListSM3 is the digest of a population: its IDs sorted, each followed by
// a newline, hashed with SM3 (hex).
func ListSM3(ids []string) string {
	sorted := slices.Sorted(slices.Values(ids))
	var b strings.Builder
	for _, id := range sorted {
		b.WriteString(id)
		b.WriteByte('\n')
	}
	h := sm.Sum([]byte(b.String()))
	return hex.EncodeToString(h[:])
}

// NewSample draws a sample of a month's population under seed, as the
// records read by tx show it, each item with its checklist: the body of
// CmdSampleDraw.
func NewSample(tx *state.ReadTx, id, population, period string, size int, seed []byte, by string) (*Sample, error) {
	pop, err := Population(tx, population, period)
	if err != nil {
		return nil, err
	}
	ids := make([]string, 0, len(pop))
	for id := range pop {
		ids = append(ids, id)
	}
	s := &Sample{ID: id, Population: population, Period: period, Size: size, Seed: hex.EncodeToString(seed), By: by,
		Count: len(ids), ListSM3: ListSM3(ids), Method: Method, Items: []Item{}}
	for _, id := range Draw(seed, ids, size) {
		it := pop[id]
		if err := Checklist(tx, population, &it); err != nil {
			return nil, err
		}
		s.Items = append(s.Items, it)
	}
	return s, nil
}

// Population lists the members of a month's population as items with
// their merchant and worker, by ID: the payments booked in the month
// (accepted, submitted or paid, by when they were booked), or the works
// accepted (验收) in the month.
func Population(tx *state.ReadTx, population, period string) (map[string]Item, error) {
	from, to, err := Month(period)
	if err != nil {
		return nil, err
	}
	out := map[string]Item{}
	switch population {
	case PopulationPayments:
		err = payouts.Payments(tx, func(p *payouts.Payment) error {
			if p.Live() && !p.Created.Before(from) && p.Created.Before(to) {
				out[p.ID] = Item{Ref: p.ID, Merchant: p.Merchant, Worker: p.Worker, Task: p.Task}
			}
			return nil
		})
	case PopulationTasks:
		err = tx.ForEach(tasks.WorkBucket, func(k, v []byte) error {
			var w tasks.Work
			if err := json.Unmarshal(v, &w); err != nil {
				return fmt.Errorf("risk: work %s: %w", k, err)
			}
			if w.Status == tasks.Accepted && !w.Accepted.Before(from) && w.Accepted.Before(to) {
				out[string(k)] = Item{Ref: string(k), Merchant: w.Merchant, Worker: w.Worker, Task: w.Task}
			}
			return nil
		})
	default:
		err = fmt.Errorf("a population is %s or %s", PopulationTasks, PopulationPayments)
	}
	return out, err
}

// Checklist fills an item's evidence checklist from the records: the
// work's completion proof and its acceptance, the signed service agreement
// of merchant and worker, and for a payment its receipt.
func Checklist(tx *state.ReadTx, population string, it *Item) error {
	var list []Check
	work, err := tasks.GetWork(tx, it.Task, it.Worker)
	if err != nil && !state.NotFound.Is(err) {
		return err
	}
	proof := Check{Item: "proof_documents"}
	accept := Check{Item: "acceptance"}
	if work != nil {
		ids := make([]string, len(work.Proof))
		for i, p := range work.Proof {
			ids[i] = p.ID
		}
		proof.Present, proof.Ref = len(ids) > 0, strings.Join(ids, ",")
		proof.Detail = fmt.Sprintf("%d document(s)", len(ids))
		if work.Status == tasks.Accepted {
			accept.Present, accept.Ref = true, it.Task+"/"+it.Worker
			accept.Detail = fmt.Sprintf("accepted for %s yuan by %s on %s", work.Amount, work.AcceptedBy, work.Accepted.In(payouts.China).Format("2006-01-02"))
		} else {
			accept.Detail = "the work is " + string(work.Status)
		}
	} else {
		proof.Detail, accept.Detail = "no work on record", "no work on record"
	}
	list = append(list, proof, accept)
	agr := Check{Item: "agreement"}
	if id, err := agreements.SignedWith(tx, it.Merchant, it.Worker); err != nil {
		return err
	} else if id != "" {
		agr.Present, agr.Ref = true, id
	} else {
		agr.Detail = "no complete service agreement of merchant and worker"
	}
	list = append(list, agr)
	if population == PopulationPayments {
		p, err := payouts.GetPayment(tx, it.Ref)
		if err != nil {
			return err
		}
		rc := Check{Item: "receipt", Detail: "the payment is " + string(p.Status)}
		if p.Status == payouts.Paid {
			rc.Present, rc.Ref = true, "R-"+p.ID
		}
		list = append(list, rc)
	}
	it.Checklist = list
	return nil
}
