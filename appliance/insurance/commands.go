package insurance

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"cxt/appliance/ident"
	"cxt/appliance/workers"
	"cxt/storage/state"
)

// Register adds the insurance's buckets and commands.
func Register(reg *state.Registry) {
	reg.Bucket(ProductBucket)
	reg.Bucket(RulesBucket)
	reg.Bucket(RecordBucket)
	reg.HandleFrom(state.ArchivesSet, CmdProduct, product)
	reg.HandleFrom(state.ArchivesSet, CmdRetire, retire)
	reg.HandleFrom(state.ArchivesSet, CmdRules, setRules)
	reg.HandleFrom(state.ArchivesSet, CmdEnrol, enrol)
	reg.HandleFrom(state.ArchivesSet, CmdSocial, social)
}

// MaxPremiumFen bounds a premium per term: a million yuan.
const MaxPremiumFen = 100_000_000

// Check refuses a product that breaks a rule of its own; field names the
// field.
func (p *Product) Check() (field string, err error) {
	text := func(s string, n int) bool { return strings.TrimSpace(s) != "" && utf8.RuneCountInString(s) <= n }
	switch {
	case !text(p.Insurer, 100):
		return "insurer", fmt.Errorf("insurer: 1 to 100 characters")
	case !text(p.Name, 100):
		return "name", fmt.Errorf("name: 1 to 100 characters")
	case !slices.Contains(Kinds, p.Kind):
		return "kind", fmt.Errorf("kind: one of %s", strings.Join(Kinds, ", "))
	case p.PremiumFen <= 0 || p.PremiumFen > MaxPremiumFen:
		return "premium", fmt.Errorf("premium: more than 0 and at most %s yuan", Yuan(MaxPremiumFen))
	case maxUnits[p.Term] == 0:
		return "term", fmt.Errorf("term: day, month or year (what the premium is per)")
	case !text(p.Coverage, 4000):
		return "coverage", fmt.Errorf("coverage: 1 to 4000 characters")
	case p.MinAge < 0 || p.MaxAge < 0 || p.MinAge > 150 || p.MaxAge > 150 || (p.MaxAge != 0 && p.MinAge > p.MaxAge):
		return "min_age", fmt.Errorf("min_age and max_age: 0 (no bound) to 150, min_age not above max_age")
	}
	return "", nil
}

func product(tx *state.Tx, cmd *state.Command) ([]byte, error) {
	var p Product
	if err := json.Unmarshal(cmd.Body, &p); err != nil || p.ID == "" || p.By == "" {
		return nil, state.Reject(state.InvalidRequest, "a product names its ID and author")
	}
	if _, err := p.Check(); err != nil {
		return nil, state.Reject(state.InvalidRequest, "%v", err)
	}
	if prev, err := tx.Get(ProductBucket, []byte(p.ID)); err != nil {
		return nil, err
	} else if prev != nil {
		return nil, state.Reject(state.Conflict, "product %s exists", p.ID)
	}
	p.Status, p.Created, p.Retired = Active, tx.Time(), time.Time{}
	return putProduct(tx, &p)
}

// RetireIn is the body of CmdRetire.
type RetireIn struct {
	Product string `json:"product"`
	By      string `json:"by"`
}

func retire(tx *state.Tx, cmd *state.Command) ([]byte, error) {
	var in RetireIn
	if err := json.Unmarshal(cmd.Body, &in); err != nil || in.Product == "" {
		return nil, state.Reject(state.InvalidRequest, "a retirement names its product")
	}
	p, err := GetProduct(tx, in.Product)
	if err != nil {
		return nil, err
	}
	if p.Status == Retired {
		return nil, state.Reject(CodeRetired, "product %s is retired already", p.ID)
	}
	p.Status, p.Retired = Retired, tx.Time()
	return putProduct(tx, p)
}

func setRules(tx *state.Tx, cmd *state.Command) ([]byte, error) {
	var in Rules
	if err := json.Unmarshal(cmd.Body, &in); err != nil || in.By == "" {
		return nil, state.Reject(state.InvalidRequest, "rules name who set them")
	}
	if err := in.Check(); err != nil {
		return nil, state.Reject(state.InvalidRequest, "%v", err)
	}
	cur, err := CurrentRules(tx)
	if err != nil {
		return nil, err
	}
	if in.Version != cur.Version+1 {
		return nil, state.Reject(CodeVersion, "the rules in force are version %d: the next is %d, not %d", cur.Version, cur.Version+1, in.Version)
	}
	in.Set = tx.Time()
	b, err := json.Marshal(in)
	if err != nil {
		return nil, err
	}
	if err := tx.Put(RulesBucket, []byte(fmt.Sprintf("v/%08d", in.Version)), b); err != nil {
		return nil, err
	}
	return b, tx.Put(RulesBucket, []byte("current"), b)
}

// EnrolIn is the body of CmdEnrol. The age rules were checked by the API,
// which alone opens the ID number; the state machine checks what it holds.
type EnrolIn struct {
	ID       string `json:"id"`
	Product  string `json:"product"`
	Worker   string `json:"worker"`
	Merchant string `json:"merchant,omitempty"` // the caller's merchant; "" for a worker enrolling themself
	Start    string `json:"start"`
	Units    int    `json:"units"`
	By       string `json:"by"`
}

// Period is the last day an enrolment of units terms from start covers.
func Period(start string, term string, units int) (string, error) {
	s, err := time.Parse(time.DateOnly, start)
	if err != nil {
		return "", fmt.Errorf("start: a date, YYYY-MM-DD")
	}
	if units < 1 || units > maxUnits[term] {
		return "", fmt.Errorf("units: 1 to %d %ss", maxUnits[term], term)
	}
	var end time.Time
	switch term {
	case Day:
		end = s.AddDate(0, 0, units-1)
	case Month:
		end = s.AddDate(0, units, -1)
	default:
		end = s.AddDate(units, 0, -1)
	}
	return end.Format(time.DateOnly), nil
}

func enrol(tx *state.Tx, cmd *state.Command) ([]byte, error) {
	var in EnrolIn
	if err := json.Unmarshal(cmd.Body, &in); err != nil || in.ID == "" || in.Product == "" || in.Worker == "" || in.By == "" {
		return nil, state.Reject(state.InvalidRequest, "an enrolment names its ID, product, worker and who enrolled")
	}
	p, err := GetProduct(tx, in.Product)
	if err != nil {
		return nil, err
	}
	if p.Status != Active {
		return nil, state.Reject(CodeRetired, "product %s is retired: it takes no enrolments", p.ID)
	}
	end, err := Period(in.Start, p.Term, in.Units)
	if err != nil {
		return nil, state.Reject(state.InvalidRequest, "%v", err)
	}
	w, err := workers.Get(tx, in.Worker)
	if state.NotFound.Is(err) || (err == nil && in.Merchant != "" && !slices.Contains(w.Merchants, in.Merchant)) {
		// Another merchant's worker is as absent as one that never was.
		return nil, state.Reject(CodeNotYours, "merchant %s has no worker %s", in.Merchant, in.Worker)
	} else if err != nil {
		return nil, err
	}
	if err := w.Usable(); err != nil { // a cancelled or restricted worker is enrolled in nothing new
		return nil, err
	}
	if p.RealNameRequired && (w.RealName == nil || w.RealName.Status != workers.Verified) {
		return nil, state.Reject(CodeIneligible, "product %s requires a verified real name; worker %s has none", p.ID, w.ID)
	}
	rec, err := getRecord(tx, in.Worker)
	if err != nil {
		return nil, err
	}
	for _, e := range rec.Enrolments {
		if e.Product == p.ID && e.Start <= end && in.Start <= e.End {
			return nil, state.Reject(CodeEnrolled, "worker %s is insured by %s from %s to %s already (%s)", w.ID, p.ID, e.Start, e.End, e.ID)
		}
	}
	e := Enrolment{ID: in.ID, Product: p.ID, Kind: p.Kind, Worker: w.ID, Merchant: in.Merchant, Start: in.Start, End: end, Units: in.Units,
		PremiumFen: p.PremiumFen * int64(in.Units), By: in.By, Enrolled: tx.Time()}
	rec.Enrolments = append(rec.Enrolments, e)
	if err := putRecord(tx, rec); err != nil {
		return nil, err
	}
	return json.Marshal(e)
}

// MaxPayments bounds one recording of social-insurance payments.
const MaxPayments = 10_000

// SocialIn is the body of CmdSocial: payments recorded together, whole or
// not at all. Lines, if set, are the CSV lines they came from, for the
// refusals to name.
type SocialIn struct {
	Batch    string          `json:"batch"`
	Payments []SocialPayment `json:"payments"`
	Lines    []int           `json:"lines,omitempty"`
	By       string          `json:"by"`
}

// Check refuses a payment that breaks a rule of its own.
func (p *SocialPayment) Check() error {
	if _, err := time.Parse("2006-01", p.Month); err != nil || len(p.Month) != 7 {
		return fmt.Errorf("month: YYYY-MM")
	}
	if known, _ := ident.LookupRegion(p.Place); len(p.Place) != 6 || !known {
		return fmt.Errorf("place: the insured place's GB/T 2260 region code (six digits)")
	}
	for _, f := range []int64{p.BaseFen, p.PensionFen, p.MedicalFen, p.UnemploymentFen, p.InjuryFen} {
		if f < 0 || f > 100_000_000_000 {
			return fmt.Errorf("amounts: 0 to 1,000,000,000.00 yuan")
		}
	}
	if p.BaseFen == 0 {
		return fmt.Errorf("base: the contribution base is more than 0")
	}
	if p.PensionFen+p.MedicalFen+p.UnemploymentFen+p.InjuryFen == 0 {
		return fmt.Errorf("amounts: a payment pays something")
	}
	return nil
}

func social(tx *state.Tx, cmd *state.Command) ([]byte, error) {
	var in SocialIn
	if err := json.Unmarshal(cmd.Body, &in); err != nil || in.Batch == "" || in.By == "" || len(in.Payments) == 0 {
		return nil, state.Reject(state.InvalidRequest, "social-insurance payments name their batch and who recorded them")
	}
	if len(in.Payments) > MaxPayments {
		return nil, state.Reject(CodeCSV, "at most %d payments at once", MaxPayments)
	}
	where := func(i int) string {
		if i < len(in.Lines) {
			return fmt.Sprintf("line %d", in.Lines[i])
		}
		return fmt.Sprintf("payment %d", i+1)
	}
	recs := map[string]*Record{}
	var order []string
	for i := range in.Payments {
		p := &in.Payments[i]
		if err := p.Check(); err != nil {
			return nil, state.Reject(CodeCSV, "%s: %v", where(i), err)
		}
		rec, ok := recs[p.Worker]
		if !ok {
			if w, err := workers.Get(tx, p.Worker); state.NotFound.Is(err) {
				return nil, state.Reject(CodeCSV, "%s: no worker %s", where(i), p.Worker)
			} else if err != nil {
				return nil, err
			} else if w.Usable() != nil { // nothing new is recorded of a cancelled or restricted worker
				return nil, state.Reject(workers.CodeRestricted, "%s: worker %s cancelled their account or is restricted: nothing new is recorded of them", where(i), p.Worker)
			}
			var err error
			if rec, err = getRecord(tx, p.Worker); err != nil {
				return nil, err
			}
			recs[p.Worker] = rec
			order = append(order, p.Worker)
		}
		if rec.hasMonth(p.Month) {
			return nil, state.Reject(CodeDuplicate, "%s: the payment of worker %s for %s is recorded already", where(i), p.Worker, p.Month)
		}
		p.TotalFen = p.PensionFen + p.MedicalFen + p.UnemploymentFen + p.InjuryFen
		p.Batch, p.By, p.Recorded = in.Batch, in.By, tx.Time()
		rec.Social = append(rec.Social, *p)
	}
	var total int64
	for _, w := range order {
		if err := putRecord(tx, recs[w]); err != nil {
			return nil, err
		}
	}
	for _, p := range in.Payments {
		total += p.TotalFen
	}
	return json.Marshal(map[string]any{"batch": in.Batch, "payments": len(in.Payments), "workers": len(order), "total_fen": total, "total": Yuan(total)})
}

// Getter is a state transaction, read-only or not.
type Getter = state.Getter

// GetProduct reads a product; not_found if there is none.
func GetProduct(tx Getter, id string) (*Product, error) {
	v, err := state.GetJSON[Product](tx, ProductBucket, []byte(id))
	if err != nil || v != nil {
		return v, err
	}
	return nil, state.Reject(state.NotFound, "no product %s", id)
}

// CurrentRules reads the recommendation rules in force: the last version
// set, or DefaultRules.
func CurrentRules(tx Getter) (Rules, error) {
	b, err := tx.Get(RulesBucket, []byte("current"))
	if err != nil || b == nil {
		return DefaultRules(), err
	}
	var r Rules
	if err := json.Unmarshal(b, &r); err != nil {
		return Rules{}, fmt.Errorf("insurance: rules: %w", err)
	}
	return r, nil
}

// ForWorker returns a worker's enrolments (with their periods and the day
// each was made) and social-insurance payments (with their months and the
// day each was recorded), in the order they were recorded: what the
// archives index per worker. get is a state transaction's Get; a worker
// with none has empty lists.
func ForWorker(get func(bucket string, key []byte) ([]byte, error), worker string) (*Record, error) {
	return getRecord(getFunc(get), worker)
}

type getFunc func(bucket string, key []byte) ([]byte, error)

func (f getFunc) Get(bucket string, key []byte) ([]byte, error) { return f(bucket, key) }

func getRecord(tx Getter, worker string) (*Record, error) {
	rec, err := state.GetJSON[Record](tx, RecordBucket, []byte(worker))
	if err != nil || rec != nil {
		return rec, err
	}
	return &Record{Worker: worker, Enrolments: []Enrolment{}, Social: []SocialPayment{}}, nil
}

func putRecord(tx *state.Tx, rec *Record) error {
	_, err := state.PutJSON(tx, RecordBucket, []byte(rec.Worker), rec)
	return err
}

func putProduct(tx *state.Tx, p *Product) ([]byte, error) {
	return state.PutJSON(tx, ProductBucket, []byte(p.ID), p)
}
