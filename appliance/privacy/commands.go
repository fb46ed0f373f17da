package privacy

import (
	"cmp"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"cxt/appliance/identity"
	"cxt/appliance/subjects"
	"cxt/appliance/workers"
	"cxt/crypto/sm"
	"cxt/storage/state"
)

// BasisErasing restricts a worker while their erasure is under way.
const BasisErasing = "erasure under way (PIPL art. 47)"

// Register adds the buckets and commands of the personal-information rights
// (command set 9). retention returns the Retention rule deletions are
// decided by, read when a decision applies (nil: none wired, and deletions
// are refused retention_unknown; the node wires archives.Backend.Retention).
func Register(reg *state.Registry, retention func() Retention) {
	reg.Bucket(Bucket)
	reg.Bucket(IDBucket)
	h := &handlers{retention: retention}
	reg.HandleFrom(state.ArchivesSet, CmdFile, file)
	reg.HandleFrom(state.ArchivesSet, CmdDecide, h.decide)
	reg.HandleFrom(state.ArchivesSet, CmdCancel, cancel)
}

type handlers struct{ retention func() Retention }

func file(tx *state.Tx, cmd *state.Command) ([]byte, error) {
	var q Request
	if err := json.Unmarshal(cmd.Body, &q); err != nil || q.ID == "" || q.Worker == "" || q.By == "" || strings.Contains(q.ID, "/") {
		return nil, state.Reject(state.InvalidRequest, "a privacy request names itself, the worker and who files it")
	}
	w, err := workers.Get(tx, q.Worker)
	if err != nil {
		return nil, err
	}
	if w.Cancelled != nil {
		return nil, state.Reject(CodeCancelled, "worker %s cancelled their account; their deletion request was filed then", w.ID)
	}
	switch q.Kind {
	case Correction:
		if q.Fields, err = correctable(q.Fields); err != nil {
			return nil, err
		}
		if len(q.Values) == 0 {
			return nil, state.Reject(state.InvalidRequest, "a correction carries its new values, sealed under the worker's key")
		}
		if err := subjects.Require(tx, w.ID, q.KeyID); err != nil {
			return nil, err
		}
	case Deletion:
		if len(q.Fields) > 0 || len(q.Values) > 0 {
			return nil, state.Reject(state.InvalidRequest, "a deletion request erases the worker's data whole: it names no fields")
		}
		if pending, err := pendingDeletion(tx, w.ID); err != nil {
			return nil, err
		} else if pending != nil {
			return nil, state.Reject(CodeOpen, "worker %s has a deletion request %s, %s", w.ID, pending.ID, pending.Status)
		}
	default:
		return nil, state.Reject(state.InvalidRequest, "a privacy request is a %s or a %s", Correction, Deletion)
	}
	if prev, err := tx.Get(IDBucket, []byte(q.ID)); err != nil {
		return nil, err
	} else if prev != nil {
		return nil, state.Reject(state.Conflict, "privacy request %s is on record already", q.ID)
	}
	return put(tx, open(q, tx.Time()))
}

// open is q as filed at now: open, due 30 days on, nothing decided.
func open(q Request, now time.Time) *Request {
	q.Status, q.Filed, q.Due = Open, now, Deadline(now)
	q.Decided, q.DecidedBy, q.Reason, q.Until, q.Basis, q.Notice = time.Time{}, "", "", time.Time{}, "", nil
	q.Certificate, q.Completed = "", time.Time{}
	return &q
}

// correctable sorts a correction's fields, refusing the ID number, the
// phone, repeats and anything unknown.
func correctable(fields []string) ([]string, error) {
	out := slices.Clone(fields)
	slices.Sort(out)
	if len(out) == 0 || len(slices.Compact(slices.Clone(out))) != len(out) {
		return nil, state.Reject(state.InvalidRequest, "a correction names each field it corrects once: %v", Correctable)
	}
	for _, f := range out {
		switch {
		case f == FieldIDNumber:
			return nil, state.Reject(CodeField, "the ID number is not corrected by request: it is the person's identity for tax and across merchants; ask the platform to review your registration")
		case f == FieldPhone:
			return nil, state.Reject(CodeField, "the mobile number is your login: ask the platform operator to change it")
		case !slices.Contains(Correctable, f):
			return nil, state.Reject(state.InvalidRequest, "a correction corrects %v, not %q", Correctable, f)
		}
	}
	return out, nil
}

// pendingDeletion is the worker's deletion request not yet done or
// refused, or nil.
func pendingDeletion(tx *state.Tx, worker string) (*Request, error) {
	var found *Request
	err := each(tx, worker, func(q *Request) (bool, error) {
		if q.Kind == Deletion && q.Status != Done && q.Status != Refused {
			found = q
			return false, nil
		}
		return true, nil
	})
	return found, err
}

func (h *handlers) decide(tx *state.Tx, cmd *state.Command) ([]byte, error) {
	var d Decision
	if err := json.Unmarshal(cmd.Body, &d); err != nil || d.Request == "" || d.By == "" {
		return nil, state.Reject(state.InvalidRequest, "a decision names the request and who decides")
	}
	q, err := Get(tx, d.Request)
	if err != nil {
		return nil, err
	}
	if q.Status != Open {
		return nil, state.Reject(CodeStatus, "privacy request %s is %s already", q.ID, q.Status)
	}
	now := tx.Time()
	q.Decided, q.DecidedBy = now, d.By
	switch d.Outcome {
	case Refuse:
		if strings.TrimSpace(d.Reason) == "" {
			return nil, state.Reject(state.InvalidRequest, "a refusal says why")
		}
		q.Status, q.Reason = Refused, d.Reason
	case Apply:
		if q.Kind == Correction {
			err = correct(tx, q, d)
		} else {
			err = h.delete(tx, q)
		}
		if err != nil {
			return nil, err
		}
	default:
		return nil, state.Reject(state.InvalidRequest, "a decision is %s or %s", Apply, Refuse)
	}
	return put(tx, q)
}

// correct applies a correction: the proposer re-sealed the worker's record
// with the new values; the blind index of a new card goes with it, and a
// new name clears the real-name check, which verified the old one.
func correct(tx *state.Tx, q *Request, d Decision) error {
	card := slices.Contains(q.Fields, FieldBankCard)
	if card != (len(d.CardIndex) > 0) || card && len(d.CardIndex) != sm.HashSize {
		return state.Reject(state.InvalidRequest, "a correction of the bank card, and only one, carries the new card's blind index")
	}
	if _, err := workers.Amend(tx, workers.Amendment{Worker: q.Worker, KeyID: d.KeyID, Private: d.Private, Base: d.Base,
		CardIndex: d.CardIndex, Renamed: slices.Contains(q.Fields, FieldName)}); err != nil {
		return err
	}
	q.Status, q.Completed = Done, tx.Time()
	return nil
}

// delete decides a deletion by the legal retention: kept and restricted
// while it runs, erasing when none does.
func (h *handlers) delete(tx *state.Tx, q *Request) error {
	var rule Retention
	if h.retention != nil {
		rule = h.retention()
	}
	if rule == nil {
		return state.Reject(CodeRetention, "this node has no retention rule to decide a deletion by; nothing is erased without one")
	}
	now := tx.Time()
	until, basis, err := rule(tx, q.Worker, now)
	if err != nil {
		return err
	}
	w, err := workers.Get(tx, q.Worker)
	if err != nil {
		return err
	}
	if until.After(now) {
		q.Status, q.Until, q.Basis, q.Notice = Restricted, until, basis, explain(basis, until)
		w.Restricted = &workers.Restriction{Since: now, Basis: basis, Until: until, Request: q.ID}
	} else {
		q.Status = Erasing
		w.Restricted = &workers.Restriction{Since: now, Basis: BasisErasing, Request: q.ID}
	}
	return workers.Put(tx, w)
}

// explain tells the person why their data is kept and until when.
func explain(basis string, until time.Time) *Notice {
	day := until.In(china).Format("2006-01-02")
	return &Notice{
		ZH: fmt.Sprintf("依据%s，您的个人信息须保存至%s。在此之前，我们仅对其进行存储和采取必要的安全保护措施，不再作其他处理（《个人信息保护法》第四十七条第二款）；期满后予以删除，并告知您销毁凭证编号。", basis, day),
		EN: fmt.Sprintf("Under %s your personal information must be kept until %s. Until then we only store it and keep it secure, and process it in no other way (PIPL art. 47 ¶2); when the period ends it is erased and you are given the destruction certificate's number.", basis, day),
	}
}

// china is the calendar dates are told in.
var china = time.FixedZone("CST", 8*60*60)

func cancel(tx *state.Tx, cmd *state.Command) ([]byte, error) {
	var c Cancel
	if err := json.Unmarshal(cmd.Body, &c); err != nil || c.Worker == "" || c.By == "" || c.Request == "" || strings.Contains(c.Request, "/") {
		return nil, state.Reject(state.InvalidRequest, "a cancellation names the worker, who cancels and the deletion request it files")
	}
	w, err := workers.Get(tx, c.Worker)
	if err != nil {
		return nil, err
	}
	if w.Cancelled != nil {
		return nil, state.Reject(CodeCancelled, "worker %s cancelled their account at %s", w.ID, w.Cancelled.Format(time.RFC3339))
	}
	now := tx.Time()
	w.Cancelled = &now
	if err := workers.Put(tx, w); err != nil {
		return nil, err
	}
	if w.Account != "" {
		if err := closeAccount(tx, w.Account); err != nil {
			return nil, err
		}
	}
	// Cancelling an account asks for its data to be deleted (GB/T 35273
	// §8.5): a deletion request is filed unless one is pending already.
	q, err := pendingDeletion(tx, w.ID)
	if err != nil {
		return nil, err
	}
	if q == nil {
		if prev, err := tx.Get(IDBucket, []byte(c.Request)); err != nil {
			return nil, err
		} else if prev != nil {
			return nil, state.Reject(state.Conflict, "privacy request %s is on record already", c.Request)
		}
		q = open(Request{ID: c.Request, Worker: w.ID, Kind: Deletion, By: c.By, Cancellation: true}, now)
		if _, err := put(tx, q); err != nil {
			return nil, err
		}
	}
	return json.Marshal(map[string]any{"worker": w.ID, "cancelled": now, "account": w.Account, "request": q})
}

// closeAccount closes the worker's login account and ends its sessions, as
// identity's account.close does, unless it is closed already.
func closeAccount(tx *state.Tx, account string) error {
	b, err := tx.Get(identity.AccountsBucket, []byte(account))
	if err != nil || b == nil {
		return err
	}
	var a identity.Account
	if err := json.Unmarshal(b, &a); err != nil {
		return fmt.Errorf("privacy: account %s: %w", account, err)
	}
	if !a.Closed.IsZero() {
		return nil
	}
	_, err = tx.Run(identity.CmdClose, mustJSON(identity.AccountRef{Account: account}))
	return err
}

// Complete marks the worker's erasing and restricted deletion requests, and
// any request still open, done with the certificate of the destruction that
// erased their data, and closes the worker's login account: nobody signs in
// as a person whose data is gone. The archives' destruction command calls
// it in its own transaction.
func Complete(tx *state.Tx, worker, certificate string) error {
	if worker == "" || certificate == "" {
		return state.Reject(state.InvalidRequest, "a completed deletion names the worker and the destruction certificate")
	}
	w, err := workers.Get(tx, worker)
	if err != nil {
		return err
	}
	if w.Account != "" {
		if err := closeAccount(tx, w.Account); err != nil {
			return err
		}
	}
	var done []*Request
	if err := each(tx, worker, func(q *Request) (bool, error) {
		// A request still open ends too: what it asked about is erased.
		if q.Status == Open || q.Kind == Deletion && (q.Status == Erasing || q.Status == Restricted) {
			done = append(done, q)
		}
		return true, nil
	}); err != nil {
		return err
	}
	for _, q := range done {
		q.Status, q.Certificate, q.Completed = Done, certificate, tx.Time()
		if _, err := put(tx, q); err != nil {
			return err
		}
	}
	return nil
}

// Get reads a request by its ID, in a command or a read; not_found if
// there is none.
func Get(tx interface {
	Get(bucket string, key []byte) ([]byte, error)
}, id string) (*Request, error) {
	worker, err := tx.Get(IDBucket, []byte(id))
	if err != nil {
		return nil, err
	}
	if worker == nil {
		return nil, state.Reject(state.NotFound, "no privacy request %s", id)
	}
	b, err := tx.Get(Bucket, Key(string(worker), id))
	if err != nil {
		return nil, err
	}
	if b == nil {
		return nil, fmt.Errorf("privacy: request %s indexed under worker %s is missing", id, worker)
	}
	return decode(b)
}

// each calls fn with the worker's requests, oldest ID first, as the
// command sees the state, until fn returns false.
func each(tx *state.Tx, worker string, fn func(*Request) (bool, error)) error {
	return tx.Prefix(Bucket, []byte(worker+"/"), func(_, v []byte) error {
		q, err := decode(v)
		if err != nil {
			return err
		}
		if more, err := fn(q); err != nil || !more {
			return cmp.Or(err, state.ErrStop)
		}
		return nil
	})
}

func decode(b []byte) (*Request, error) {
	var q Request
	if err := json.Unmarshal(b, &q); err != nil {
		return nil, fmt.Errorf("privacy: %w", err)
	}
	return &q, nil
}

func put(tx *state.Tx, q *Request) ([]byte, error) {
	b := mustJSON(q)
	if err := tx.Put(Bucket, Key(q.Worker, q.ID), b); err != nil {
		return nil, err
	}
	return b, tx.Put(IDBucket, []byte(q.ID), []byte(q.Worker))
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}
