package workers

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"time"

	"cxt/appliance/errs"
	"cxt/appliance/subjects"
	"cxt/crypto/keyring"
	"cxt/crypto/sm"
	"cxt/crypto/subjectkey"
	"cxt/storage/state"
)

// Report statuses of a row besides the Outcome ones.
const (
	RowInvalid = "invalid" // refused before anything was proposed: see code
	RowFailed  = "failed"  // valid, but its batch was refused or not proposed: see code
)

// ReportRow is one row of an invitation's report.
type ReportRow struct {
	Row            int    `json:"row"`
	Status         string `json:"status"`
	Worker         string `json:"worker,omitempty"`
	Code           string `json:"code,omitempty"`
	Message        string `json:"message,omitempty"`
	DuplicateOfRow int    `json:"duplicate_of_row,omitempty"`
}

// Report is an invitation's outcome, row by row, with counts.
type Report struct {
	Merchant      string      `json:"merchant"`
	Rows          int         `json:"rows"`
	Created       int         `json:"created"`
	Linked        int         `json:"linked"`
	AlreadyLinked int         `json:"already_linked"`
	Invalid       int         `json:"invalid"`
	Failed        int         `json:"failed"`
	Report        []ReportRow `json:"report"`
}

// Inviter runs a merchant's bulk invitation against a state: it validates
// every row, finds who is registered already, seals and indexes the new
// workers on all cores, and proposes the valid rows in batches.
type Inviter struct {
	Keys *keyring.Keyring
	// View reads the state (linearizably, for the API).
	View func(func(*state.ReadTx) error) error
	// Propose replicates a command; first is true for the first batch
	// (the API makes it the request's audit record).
	Propose func(first bool, cmd *state.Command) ([]byte, error)
	Now     time.Time
	// Batch is the number of rows per command (DefaultBatch if 0);
	// InFlight the batches proposed at once (DefaultInFlight if 0).
	Batch, InFlight int
}

// DefaultBatch and DefaultInFlight are sized so that a 10,000-row file is
// a handful of commands, each well under a second to apply. More batches
// are in flight than the cluster proposes at once (four), so that while
// the state machine applies one, the next ones pile up and travel in one
// log entry: one state transaction then writes the random-keyed blind
// indexes' pages once for several batches.
const (
	DefaultBatch    = 1000
	DefaultInFlight = 8
)

// prepared is a row on its way to a command.
type prepared struct {
	Row
	report     *ReportRow
	idIndex    []byte
	phoneIndex []byte
	existing   string // the registered worker to link, if any
	id         string // the ID a new worker takes
	invitee    Invitee
}

// Invite invites rows for merchant on behalf of by.
func (iv *Inviter) Invite(ctx context.Context, merchant, by string, rows []Row) (*Report, error) {
	indexKey, err := iv.Keys.IndexKey()
	if err != nil {
		return nil, err
	}
	rep := &Report{Merchant: merchant, Rows: len(rows), Report: make([]ReportRow, len(rows))}
	ps := make([]prepared, len(rows))
	for i := range rows {
		ps[i] = prepared{Row: rows[i], report: &rep.Report[i]}
		ps[i].report.Row = rows[i].Line
	}
	// Validate and index every row on all cores.
	parallel(len(ps), func(i int) {
		p := &ps[i]
		if p.Err != nil {
			p.refuse(p.Err)
			return
		}
		person, err := p.Person.Check(iv.Now)
		if err != nil {
			p.refuse(err)
			return
		}
		p.Person = person
		p.idIndex, p.phoneIndex = Indexes(indexKey, person.IDNumber, person.Phone)
	})
	// The same person twice in the file: the first row stands.
	byID, byPhone := map[string]int{}, map[string]int{}
	for i := range ps {
		p := &ps[i]
		if p.report.Status != "" {
			continue
		}
		if j, dup := byID[string(p.idIndex)]; dup {
			p.refuse(errs.Coded("", errs.Conflict, CodeDuplicate.String(), "the same ID number as row %d", ps[j].Line))
			p.report.DuplicateOfRow = ps[j].Line
			continue
		}
		if j, dup := byPhone[string(p.phoneIndex)]; dup {
			p.refuse(errs.Coded("", errs.Conflict, CodePhoneTaken.String(), "the same mobile number as row %d, with another ID number", ps[j].Line))
			p.report.DuplicateOfRow = ps[j].Line
			continue
		}
		byID[string(p.idIndex)], byPhone[string(p.phoneIndex)] = i, i
	}
	// Who is registered already, platform-wide.
	if err := iv.View(func(tx *state.ReadTx) error { return iv.lookup(tx, merchant, ps) }); err != nil {
		return nil, err
	}
	// The new ones are sealed under keys of their own batch by batch, just
	// before each is proposed: later batches are sealed while earlier ones
	// replicate and apply.
	ids := NewIDs(iv.Now, len(ps))
	for i := range ps {
		ps[i].id = ids[i]
	}
	seal := func(batch []*prepared) error {
		var sealErr error
		var mu sync.Mutex
		parallel(len(batch), func(i int) {
			p := batch[i]
			if p.existing != "" {
				p.invitee = Invitee{Row: p.Line, ID: p.existing}
				return
			}
			key, fresh, err := subjects.NewKey(iv.Keys, p.id)
			if err == nil {
				var priv subjects.Sealed
				var sum [sm.HashSize]byte
				if priv, sum, err = subjects.SealSum(key, PrivateAAD(p.id), Private(p.Person)); err == nil {
					p.invitee = Invitee{Row: p.Line, ID: p.id, IDIndex: p.idIndex, PhoneIndex: p.phoneIndex, Key: &fresh, Private: priv, PrivateSM3: sum[:]}
					if p.Person.BankCard != "" {
						p.invitee.CardIndex = CardIndex(indexKey, p.Person.BankCard)
					}
				}
			}
			if err != nil {
				mu.Lock()
				sealErr = err
				mu.Unlock()
			}
		})
		return sealErr
	}
	// Propose the valid rows in batches, each applied whole or not at all.
	var batches [][]*prepared
	size := iv.Batch
	if size <= 0 {
		size = DefaultBatch
	}
	var cur []*prepared
	for i := range ps {
		if ps[i].report.Status == "" {
			cur = append(cur, &ps[i])
		}
		if len(cur) == size || i == len(ps)-1 && len(cur) > 0 {
			batches = append(batches, cur)
			cur = nil
		}
	}
	inFlight := iv.InFlight
	if inFlight <= 0 {
		inFlight = DefaultInFlight
	}
	run := func(first bool, batch []*prepared) {
		if err := ctx.Err(); err != nil {
			fail(batch, errs.Wrap("", errs.Unavailable, err, "not proposed: the request ended first"))
			return
		}
		if err := seal(batch); err != nil {
			fail(batch, err)
			return
		}
		in := Invitation{Merchant: merchant, By: by, Rows: make([]Invitee, len(batch))}
		for i, p := range batch {
			in.Rows[i] = p.invitee
		}
		v, err := iv.Propose(first, state.NewCommand(CmdInvite, mustJSON(in), iv.Now))
		if err != nil {
			fail(batch, err)
			return
		}
		var out []Outcome
		if err := json.Unmarshal(v, &out); err != nil || len(out) != len(batch) {
			fail(batch, fmt.Errorf("workers: an invitation answered %d outcomes for %d rows", len(out), len(batch)))
			return
		}
		for i, o := range out {
			batch[i].report.Status, batch[i].report.Worker = o.Status, o.Worker
		}
	}
	if len(batches) > 0 {
		run(true, batches[0])
		sem := make(chan struct{}, inFlight)
		var wg sync.WaitGroup
		for _, b := range batches[1:] {
			sem <- struct{}{}
			wg.Add(1)
			go func() {
				defer func() { <-sem; wg.Done() }()
				run(false, b)
			}()
		}
		wg.Wait()
	}
	for _, r := range rep.Report {
		switch r.Status {
		case RowCreated:
			rep.Created++
		case RowLinked:
			rep.Linked++
		case RowAlreadyLinked:
			rep.AlreadyLinked++
		case RowInvalid:
			rep.Invalid++
		case RowFailed:
			rep.Failed++
		}
	}
	return rep, nil
}

// lookup finds each valid row's registered worker, if any: a row whose ID
// number is registered links that worker, if the name matches; one whose
// phone is another registered worker's is refused.
func (iv *Inviter) lookup(tx *state.ReadTx, merchant string, ps []prepared) error {
	for i := range ps {
		p := &ps[i]
		if p.report.Status != "" {
			continue
		}
		id, err := tx.Get(IDIndexBucket, p.idIndex)
		if err != nil {
			return err
		}
		if id == nil {
			if other, err := tx.Get(PhoneBucket, p.phoneIndex); err != nil {
				return err
			} else if other != nil {
				p.refuse(errs.Coded("", errs.Conflict, CodePhoneTaken.String(), "this mobile number is another registered worker's"))
			}
			continue
		}
		w, err := Get(tx, string(id))
		if err != nil {
			return err
		}
		priv, err := w.open(tx, iv.Keys)
		if subjects.CodeShredded.Is(err) {
			p.refuse(errs.Coded("", errs.Conflict, CodeRestricted.String(), notLinkable))
			continue
		} else if err != nil {
			return err
		}
		if priv.Name != p.Name {
			p.refuse(errs.Coded("", errs.Conflict, CodeMismatch, "this ID number is registered under another name"))
			continue
		}
		// A cancelled or restricted worker gets no new link; the merchant is
		// not told why, nor who: that is the person's own business.
		if w.Usable() != nil {
			p.refuse(errs.Coded("", errs.Conflict, CodeRestricted.String(), notLinkable))
			continue
		}
		p.existing = w.ID
	}
	return nil
}

// notLinkable is the refusal of a row whose person cannot be linked: it
// names neither the worker nor why.
const notLinkable = "this person cannot be linked now; they can contact the platform"

// CodeMismatch refuses an invitation row whose ID number is registered
// under another name: it is not linked, so that a wrong or guessed number
// reaches nobody's record.
const CodeMismatch = "worker_mismatch"

func (p *prepared) refuse(err error) {
	e := errs.Of(err)
	p.report.Status, p.report.Code, p.report.Message = RowInvalid, e.Code, e.Msg
}

func fail(batch []*prepared, err error) {
	e := errs.Of(classify(err))
	for _, p := range batch {
		p.report.Status, p.report.Code, p.report.Message = RowFailed, e.Code, e.Msg
	}
}

// classify turns a command's rejection into an error with its code; the
// API does the same (api.Classify), which this package's core does not
// import.
func classify(err error) error {
	var rej *state.Rejection
	if errors.As(err, &rej) {
		return errs.Coded("", errs.Conflict, rej.Code, "%s", rej.Message)
	}
	return err
}

// open reads the worker's private fields.
func (w *Worker) open(tx *state.ReadTx, keys *keyring.Keyring) (Private, error) {
	key, err := subjects.Key(tx, keys, w.ID)
	if err != nil {
		return Private{}, err
	}
	return w.openWith(key)
}

func (w *Worker) openWith(key *subjectkey.Key) (Private, error) {
	var p Private
	err := subjects.Open(key, PrivateAAD(w.ID), w.Private, &p)
	return p, err
}

// Indexes are the blind indexes of a resident ID number and a mobile
// number: HMAC-SM3 under the keyring's index key, each with its own label,
// kept as the raw 32 bytes (the buckets' keys; half the size of hex).
func Indexes(key []byte, idNumber, phone string) (idIndex, phoneIndex []byte) {
	a := sm.HMAC(key, []byte("cxt/worker-id/v1\x00"), []byte(idNumber))
	b := sm.HMAC(key, []byte("cxt/worker-phone/v1\x00"), []byte(phone))
	return a[:], b[:]
}

// NewID draws a worker ID.
func NewID() string { return NewIDs(time.Now(), 1)[0] }

// NewIDs draws n worker IDs: "w_", 11 hex digits of the Unix time in
// milliseconds and 13 of a random 52-bit number, incremented for each ID.
// They sort by time and, within one call, follow each other, so the
// buckets keyed by worker ID grow at their end: a bulk invitation writes a
// few pages of the B+tree, not one in every leaf. Two calls in the same
// millisecond collide only if their random ranges overlap (about n in
// 2^52); the state machine refuses such a worker (its subject key exists),
// never overwrites one.
func NewIDs(now time.Time, n int) []string {
	var b [8]byte
	rand.Read(b[:])
	base := binary.BigEndian.Uint64(b[:]) >> 12
	ms := uint64(now.UnixMilli()) & (1<<44 - 1)
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("w_%011x%013x", ms, (base+uint64(i))&(1<<52-1))
	}
	return out
}

// parallel runs fn(0..n-1) on all cores.
func parallel(n int, fn func(i int)) {
	workers := min(runtime.GOMAXPROCS(0), max(1, n/64))
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < n; i += workers {
				fn(i)
			}
		}()
	}
	wg.Wait()
}
