package filing

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"cxt/storage/state"
)

// Getter is a state transaction, read-only or not.
type Getter interface {
	Get(bucket string, key []byte) ([]byte, error)
}

// CurrentVersion returns the number of an agent's period's current
// version; 0 if it was never declared.
func CurrentVersion(tx Getter, agent, period string) (int, error) {
	v, err := tx.Get(CurrentBucket, periodKey(agent, period))
	if err != nil || v == nil {
		return 0, err
	}
	n, err := strconv.Atoi(string(v))
	if err != nil {
		return 0, fmt.Errorf("filing: current version of %s/%s: %q", agent, period, v)
	}
	return n, nil
}

// Get returns one version of an agent's period; version 0 is the current
// one. declaration_not_found if there is none.
func Get(tx Getter, agent, period string, version int) (*Declaration, error) {
	if version == 0 {
		cur, err := CurrentVersion(tx, agent, period)
		if err != nil {
			return nil, err
		}
		if cur == 0 {
			return nil, state.Reject(CodeNotDeclared, "%s has not declared %s", agent, period)
		}
		version = cur
	}
	v, err := tx.Get(DeclBucket, versionKey(agent, period, version))
	if err != nil {
		return nil, err
	}
	if v == nil {
		return nil, state.Reject(CodeNotDeclared, "%s has no version %d of %s", agent, version, period)
	}
	var d Declaration
	if err := json.Unmarshal(v, &d); err != nil {
		return nil, fmt.Errorf("filing: declaration %s/%s v%d: %w", agent, period, version, err)
	}
	return &d, nil
}

// Versions returns every version of an agent's period, oldest first.
func Versions(tx Getter, agent, period string) ([]*Declaration, error) {
	cur, err := CurrentVersion(tx, agent, period)
	if err != nil {
		return nil, err
	}
	out := make([]*Declaration, 0, cur)
	for v := 1; v <= cur; v++ {
		d, err := Get(tx, agent, period, v)
		if err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, nil
}

// Periods lists the periods an agent declared, oldest first, with their
// current version.
func Periods(tx *state.ReadTx, agent string) ([]Declared, error) {
	var out []Declared
	err := tx.ForEach(CurrentBucket, func(k, v []byte) error {
		a, period, ok := strings.Cut(string(k), "/")
		if !ok || a != agent {
			return nil // "pay/…" counters, other agents
		}
		n, err := strconv.Atoi(string(v))
		if err != nil {
			return fmt.Errorf("filing: current version of %s: %q", k, v)
		}
		out = append(out, Declared{Period: period, Version: n})
		return nil
	})
	return out, err
}

// Declared is a period and its current version.
type Declared struct {
	Period  string `json:"period"`
	Version int    `json:"version"`
}

// TaxPayments returns the tax payments recorded for an agent's period, in
// the order recorded.
func TaxPayments(tx Getter, agent, period string) ([]*TaxPayment, error) {
	last, err := lastPayment(tx, agent, period)
	if err != nil {
		return nil, err
	}
	out := make([]*TaxPayment, 0, last)
	for n := 1; n <= last; n++ {
		v, err := tx.Get(PaymentBucket, paymentKey(agent, period, n))
		if err != nil {
			return nil, err
		}
		if v == nil {
			return nil, fmt.Errorf("filing: tax payment %s/%s #%d is missing", agent, period, n)
		}
		var p TaxPayment
		if err := json.Unmarshal(v, &p); err != nil {
			return nil, fmt.Errorf("filing: tax payment %s/%s #%d: %w", agent, period, n, err)
		}
		out = append(out, &p)
	}
	return out, nil
}

func lastPayment(tx Getter, agent, period string) (int, error) {
	v, err := tx.Get(CurrentBucket, []byte("pay/"+agent+"/"+period))
	if err != nil || v == nil {
		return 0, err
	}
	n, err := strconv.Atoi(string(v))
	if err != nil {
		return 0, fmt.Errorf("filing: tax payments of %s/%s: %q", agent, period, v)
	}
	return n, nil
}

// Paid sums tax payments by kind, fen.
func Paid(ps []*TaxPayment) map[string]int64 {
	out := map[string]int64{KindIIT: 0, KindVAT: 0, KindSurcharges: 0}
	for _, p := range ps {
		out[p.Kind] += p.Fen
	}
	return out
}

// WorkerTax is one worker's month as the current declaration files it, and
// whether the month's income tax is paid: what a tax-payment certificate
// (完税证明) states.
type WorkerTax struct {
	Agent   string `json:"agent"`
	Period  string `json:"period"`
	Version int    `json:"version"` // the current version, whose line this is
	Filed   string `json:"filed"`   // when that version was filed (RFC 3339)
	Line    Line   `json:"line"`
	// Paid: the tax payments of kind iit for the period cover all the
	// current version declares. Receipts are their receipt numbers, in
	// the order recorded; Dates the days they were paid.
	Paid     bool     `json:"paid"`
	Receipts []string `json:"receipts"`
	Dates    []string `json:"dates"`
}

// WorkerPeriod returns a worker's line of the current version of an
// agent's period and whether the period's income tax is paid: the
// certificates' read. agent_unknown for another agent; not_found when the
// period is not declared or has no line for the worker.
func WorkerPeriod(tx Getter, agent, period, worker string) (*WorkerTax, error) {
	if err := checkAgent(agent); err != nil {
		return nil, err
	}
	if _, err := ParsePeriod(period); err != nil {
		return nil, err
	}
	d, err := Get(tx, agent, period, 0)
	if err != nil {
		return nil, err
	}
	i, found := lineOf(d.IIT.Lines, worker)
	if !found {
		return nil, state.Reject(state.NotFound, "%s %s v%d has no line for worker %s", agent, period, d.Version, worker)
	}
	ps, err := TaxPayments(tx, agent, period)
	if err != nil {
		return nil, err
	}
	out := &WorkerTax{Agent: agent, Period: period, Version: d.Version, Filed: d.Filed.Format("2006-01-02T15:04:05Z07:00"),
		Line: d.IIT.Lines[i], Receipts: []string{}, Dates: []string{}}
	for _, p := range ps {
		if p.Kind == KindIIT {
			out.Receipts = append(out.Receipts, p.Receipt)
			out.Dates = append(out.Dates, p.Date)
		}
	}
	out.Paid = Paid(ps)[KindIIT] >= d.IITFen
	return out, nil
}

// lineOf finds a worker's line: lines are sorted by worker.
func lineOf(lines []Line, worker string) (int, bool) {
	lo, hi := 0, len(lines)
	for lo < hi {
		m := (lo + hi) / 2
		if lines[m].Worker < worker {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo, lo < len(lines) && lines[lo].Worker == worker
}
