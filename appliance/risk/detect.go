package risk

import (
	"cmp"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"cxt/appliance/payouts"
	"cxt/appliance/workers"
	"cxt/crypto/sm"
	"cxt/storage/state"
)

// The detectors count in Go, over the records as one read sees them; the
// policy (data.cxt.risk.inspection.findings) decides which counts are
// anomalies. What a detector sends is every aggregate that could be one
// under some setting: a card or a source with at least two workers, every
// merchant–worker pair of the month, every merchant that paid in the month.

// Aggregate is one count a detector asks the policy about.
type Aggregate struct {
	Subject string `json:"subject"`
	// shared_card, registration_burst
	Source      string    `json:"source,omitempty"` // ip or device
	Workers     int       `json:"workers,omitempty"`
	WorkerIDs   []string  `json:"worker_ids,omitempty"`
	WindowHours int       `json:"window_hours,omitempty"`
	WindowStart time.Time `json:"window_start,omitzero"`
	// income_concentration, volume_spike
	Merchant    string  `json:"merchant,omitempty"`
	Worker      string  `json:"worker,omitempty"`
	WorkerFen   int64   `json:"worker_fen,omitempty"`
	MerchantFen int64   `json:"merchant_fen,omitempty"`
	MonthFen    int64   `json:"month_fen,omitempty"`
	PreviousFen int64   `json:"previous_fen,omitempty"`
	Months      []int64 `json:"previous_months_fen,omitempty"` // the 3 months before, oldest first
}

// parties names whom an aggregate concerns.
func (a *Aggregate) parties() []string {
	var out []string
	if a.Merchant != "" {
		out = append(out, "merchant/"+a.Merchant)
	}
	if a.Worker != "" {
		out = append(out, "worker/"+a.Worker)
	}
	for _, w := range a.WorkerIDs {
		out = append(out, "worker/"+w)
	}
	return out
}

// inputKey is the key of a detector's aggregates in the policy's input.
var inputKey = map[string]string{SharedCard: "shared_cards", RegistrationBurst: "registrations", IncomeConcentration: "concentration", VolumeSpike: "volume"}

// Input is what the policy decides one detector's findings on.
type Input struct {
	Period     string
	Detector   string
	Aggregates []Aggregate
}

// MarshalJSON writes the policy's input: {"period", "<key>": [...]}.
func (in *Input) MarshalJSON() ([]byte, error) {
	return json.Marshal(map[string]any{"period": in.Period, inputKey[in.Detector]: in.Aggregates})
}

// SM3 is the digest of the input as the policy got it.
func (in *Input) SM3() (string, []byte, error) {
	b, err := json.Marshal(in)
	if err != nil {
		return "", nil, err
	}
	h := sm.Sum(b)
	return hex.EncodeToString(h[:]), b, nil
}

// Count computes a detector's aggregates for a month. window is the
// registration window (registration_burst only).
func Count(tx *state.ReadTx, detector, period string, window time.Duration) (*Input, error) {
	from, to, err := Month(period)
	if err != nil {
		return nil, err
	}
	in := &Input{Period: period, Detector: detector}
	switch detector {
	case SharedCard:
		in.Aggregates, err = sharedCards(tx)
	case RegistrationBurst:
		if window <= 0 {
			return nil, fmt.Errorf("risk: a registration window of %v", window)
		}
		in.Aggregates, err = bursts(tx, from, to, window)
	case IncomeConcentration:
		in.Aggregates, err = concentration(tx, from, to)
	case VolumeSpike:
		in.Aggregates, err = volume(tx, from)
	default:
		err = fmt.Errorf("risk: no detector %q", detector)
	}
	if in.Aggregates == nil {
		in.Aggregates = []Aggregate{}
	}
	return in, err
}

// handle names a blind index in a subject: its first 8 bytes, in hex.
func handle(kind string, index []byte) string { return kind + ":" + hex.EncodeToString(index[:8]) }

func sharedCards(tx *state.ReadTx) ([]Aggregate, error) {
	by := map[string][]string{}
	err := workers.Cards(tx, func(card []byte, s workers.Sighting) error {
		k := handle("card", card)
		by[k] = append(by[k], s.Worker)
		return nil
	})
	var out []Aggregate
	for k, ws := range by {
		if len(ws) >= 2 {
			slices.Sort(ws)
			out = append(out, Aggregate{Subject: k, Workers: len(ws), WorkerIDs: ws})
		}
	}
	slices.SortFunc(out, func(a, b Aggregate) int { return cmp.Compare(a.Subject, b.Subject) })
	return out, err
}

// bursts finds, for each address and device, the most workers it
// registered within one window that starts at a registration in the month.
func bursts(tx *state.ReadTx, from, to time.Time, window time.Duration) ([]Aggregate, error) {
	type group struct {
		kind string
		seen []workers.Sighting
	}
	by := map[string]*group{}
	var order []string
	err := workers.Sources(tx, func(kind string, idx []byte, s workers.Sighting) error {
		k := handle(kind, idx)
		g := by[k]
		if g == nil {
			g = &group{kind: kind}
			by[k] = g
			order = append(order, k)
		}
		g.seen = append(g.seen, s) // in time order: the bucket's keys are
		return nil
	})
	if err != nil {
		return nil, err
	}
	var out []Aggregate
	for _, k := range order {
		g := by[k]
		best, start := 0, 0
		for i, s := range g.seen {
			if s.At.Before(from) || !s.At.Before(to) {
				continue
			}
			n := 0
			for _, t := range g.seen[i:] {
				if !t.At.Before(s.At.Add(window)) {
					break
				}
				n++
			}
			if n > best {
				best, start = n, i
			}
		}
		if best < 2 {
			continue
		}
		var ids []string
		for _, s := range g.seen[start : start+best] {
			ids = append(ids, s.Worker)
		}
		slices.Sort(ids)
		ids = slices.Compact(ids)
		out = append(out, Aggregate{Subject: k, Source: g.kind, Workers: len(ids), WorkerIDs: ids,
			WindowHours: int(window / time.Hour), WindowStart: g.seen[start].At.UTC()})
	}
	slices.SortFunc(out, func(a, b Aggregate) int { return cmp.Compare(a.Subject, b.Subject) })
	return out, nil
}

// live calls fn with each live payment booked in [from, to).
func live(tx *state.ReadTx, from, to time.Time, fn func(p *payouts.Payment)) error {
	return payouts.Payments(tx, func(p *payouts.Payment) error {
		if p.Live() && !p.Created.Before(from) && p.Created.Before(to) {
			fn(p)
		}
		return nil
	})
}

func concentration(tx *state.ReadTx, from, to time.Time) ([]Aggregate, error) {
	merchant := map[string]int64{}
	pair := map[[2]string]int64{}
	err := live(tx, from, to, func(p *payouts.Payment) {
		merchant[p.Merchant] += p.AmountFen
		pair[[2]string{p.Merchant, p.Worker}] += p.AmountFen
	})
	out := make([]Aggregate, 0, len(pair))
	for k, fen := range pair {
		out = append(out, Aggregate{Subject: k[0] + "/" + k[1], Merchant: k[0], Worker: k[1], WorkerFen: fen, MerchantFen: merchant[k[0]]})
	}
	slices.SortFunc(out, func(a, b Aggregate) int { return cmp.Compare(a.Subject, b.Subject) })
	return out, err
}

// volume compares each merchant's month with the 3 months before it.
func volume(tx *state.ReadTx, from time.Time) ([]Aggregate, error) {
	start := from.AddDate(0, -3, 0)
	to := from.AddDate(0, 1, 0)
	months := map[string]*[4]int64{} // merchant -> fen of month −3, −2, −1, 0
	err := live(tx, start, to, func(p *payouts.Payment) {
		m := months[p.Merchant]
		if m == nil {
			m = &[4]int64{}
			months[p.Merchant] = m
		}
		for i := 3; i >= 0; i-- {
			if !p.Created.Before(start.AddDate(0, i, 0)) {
				m[i] += p.AmountFen
				break
			}
		}
	})
	var out []Aggregate
	for merchant, m := range months {
		if m[3] == 0 {
			continue
		}
		out = append(out, Aggregate{Subject: merchant, Merchant: merchant, MonthFen: m[3], PreviousFen: m[0] + m[1] + m[2], Months: []int64{m[0], m[1], m[2]}})
	}
	slices.SortFunc(out, func(a, b Aggregate) int { return cmp.Compare(a.Subject, b.Subject) })
	return out, err
}

// Decide turns the policy's answer to in into findings: each names the
// aggregate it was found in. An answer naming no aggregate of in is an
// error: the policy and this code disagree about the input.
func Decide(in *Input, answer any, policy, inputSM3 string) ([]Finding, error) {
	list, ok := answer.([]any)
	if !ok {
		return nil, fmt.Errorf("risk: the policy's findings are %T, not a list", answer)
	}
	by := make(map[string]*Aggregate, len(in.Aggregates))
	for i := range in.Aggregates {
		by[in.Aggregates[i].Subject] = &in.Aggregates[i]
	}
	period := in.Period
	if in.Detector == SharedCard {
		period = "" // a card shared is a standing fact, not a month's
	}
	out := make([]Finding, 0, len(list))
	for _, v := range list {
		m, _ := v.(map[string]any)
		kind, _ := m["kind"].(string)
		subject, _ := m["subject"].(string)
		rule, _ := m["rule"].(string)
		reason, _ := m["reason"].(string)
		a := by[subject]
		if kind != in.Detector || a == nil || rule == "" {
			return nil, fmt.Errorf("risk: the policy found %q in %q (rule %q), which the %s detector did not send", kind, subject, rule, in.Detector)
		}
		facts, err := json.Marshal(a)
		if err != nil {
			return nil, err
		}
		out = append(out, Finding{Kind: kind, Subject: subject, Period: period, Rule: rule, Reason: reason, Policy: policy,
			InputSM3: inputSM3, Facts: facts, Parties: a.parties()})
	}
	slices.SortFunc(out, func(a, b Finding) int { return cmp.Compare(a.Subject, b.Subject) })
	return out, nil
}
