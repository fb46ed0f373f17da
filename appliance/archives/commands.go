package archives

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"cxt/appliance/merchants"
	"cxt/appliance/subjects"
	"cxt/appliance/workers"
	"cxt/crypto/sm"
	"cxt/gateway/feed"
	"cxt/storage/state"
)

// FactDestroyed is the feed's tombstone of a destroyed archive: the
// subject by its internal ID, the certificate and the SM3 of its manifest.
// The subject's earlier entries stay in the chain; their identities no
// longer open.
const FactDestroyed = "archive.destroyed"

// Register adds the buckets and commands.
func (b *Backend) Register(reg *state.Registry) {
	reg.Bucket(Bucket)
	reg.Bucket(UsesBucket)
	reg.Bucket(DestroyBuck)
	reg.HandleFrom(state.ArchivesSet, CmdHold, b.hold)
	reg.HandleFrom(state.ArchivesSet, CmdRelease, b.release)
	reg.HandleFrom(state.ArchivesSet, CmdUseRequest, b.useRequest)
	reg.HandleFrom(state.ArchivesSet, CmdUseDecide, b.useDecide)
	reg.HandleFrom(state.ArchivesSet, CmdUsed, b.used)
	reg.HandleFrom(state.ArchivesSet, CmdDestroyPropose, b.destroyPropose)
	reg.HandleFrom(state.ArchivesSet, CmdDestroyDecide, b.destroyDecide)
	reg.HandleFrom(state.ArchivesSet, CmdReapply, b.reapply)
	reg.OnReload(func(*state.ReadTx) error {
		if b.Reloaded != nil {
			b.Reloaded()
		}
		return nil
	})
}

func getJSON[T any](r Reader, bucket, key string) (*T, error) {
	return state.GetJSON[T](r, bucket, []byte(key))
}

func putJSON(tx *state.Tx, bucket, key string, v any) ([]byte, error) {
	return state.PutJSON(tx, bucket, []byte(key), v)
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

// archive reads a subject's archive record, or a fresh one.
func archive(r Reader, s *Subject) (*Archive, error) {
	a, err := getJSON[Archive](r, Bucket, s.ID)
	if err != nil || a != nil {
		return a, err
	}
	return &Archive{Subject: s.ID, Kind: s.Kind}, nil
}

// alive refuses what a destroyed archive no longer allows: a hold, a use, a
// second destruction.
func (a *Archive) alive() error {
	if a.Destroyed != nil {
		return state.Reject(CodeDestroyed, "the archive of %s was destroyed (certificate %s)", a.Subject, a.Destroyed.Certificate)
	}
	return nil
}

func (a *Archive) activeHolds() []Hold {
	var out []Hold
	for _, h := range a.Holds {
		if h.Active() {
			out = append(out, h)
		}
	}
	return out
}

func decode(cmd *state.Command, v any) error {
	if err := json.Unmarshal(cmd.Body, v); err != nil {
		return state.Reject(state.InvalidRequest, "%s: %v", cmd.Type, err)
	}
	return nil
}

// HoldIn is a legal hold to place.
type HoldIn struct {
	Subject   string `json:"subject"`
	ID        string `json:"id"`
	Reason    string `json:"reason"`
	Authority string `json:"authority"`
	By        string `json:"by"`
}

func (b *Backend) hold(tx *state.Tx, cmd *state.Command) ([]byte, error) {
	var in HoldIn
	if err := decode(cmd, &in); err != nil {
		return nil, err
	}
	if strings.TrimSpace(in.Reason) == "" || strings.TrimSpace(in.Authority) == "" || in.ID == "" {
		return nil, state.Reject(state.InvalidRequest, "a legal hold names its reason and the authority that ordered it")
	}
	r := FromTx(tx)
	s, err := Lookup(r, in.Subject)
	if err != nil {
		return nil, err
	}
	a, err := archive(r, s)
	if err != nil {
		return nil, err
	}
	if err := a.alive(); err != nil {
		return nil, err
	}
	a.Holds = append(a.Holds, Hold{ID: in.ID, Reason: in.Reason, Authority: in.Authority, By: in.By, Placed: tx.Time()})
	return putJSON(tx, Bucket, s.ID, a)
}

// ReleaseIn releases a hold.
type ReleaseIn struct {
	Subject string `json:"subject"`
	Hold    string `json:"hold"`
	Reason  string `json:"reason"`
	By      string `json:"by"`
}

func (b *Backend) release(tx *state.Tx, cmd *state.Command) ([]byte, error) {
	var in ReleaseIn
	if err := decode(cmd, &in); err != nil {
		return nil, err
	}
	if strings.TrimSpace(in.Reason) == "" {
		return nil, state.Reject(state.InvalidRequest, "releasing a legal hold says why")
	}
	a, err := getJSON[Archive](FromTx(tx), Bucket, in.Subject)
	if err != nil {
		return nil, err
	}
	i := -1
	if a != nil {
		i = slices.IndexFunc(a.Holds, func(h Hold) bool { return h.ID == in.Hold })
	}
	if i < 0 {
		return nil, state.Reject(CodeNoHold, "%s has no legal hold %s", in.Subject, in.Hold)
	}
	h := &a.Holds[i]
	if !h.Active() {
		return nil, state.Reject(CodeStatus, "legal hold %s was released at %s", h.ID, h.Released.Format(time.RFC3339))
	}
	if h.By == in.By {
		return nil, state.Reject(CodeMakerChecker, "who placed legal hold %s does not release it", h.ID)
	}
	h.Released, h.ReleasedBy, h.ReleaseWhy = tx.Time(), in.By, in.Reason
	return putJSON(tx, Bucket, in.Subject, a)
}

// UseIn asks to use an archive.
type UseIn struct {
	ID      string   `json:"id"`
	Subject string   `json:"subject"`
	Purpose string   `json:"purpose"`
	Classes []string `json:"classes"`
	By      string   `json:"by"`
}

func (b *Backend) useRequest(tx *state.Tx, cmd *state.Command) ([]byte, error) {
	var in UseIn
	if err := decode(cmd, &in); err != nil {
		return nil, err
	}
	if len([]rune(strings.TrimSpace(in.Purpose))) < 5 || in.ID == "" {
		return nil, state.Reject(state.InvalidRequest, "purpose: say what the archive is used for (at least 5 characters)")
	}
	for _, c := range in.Classes {
		if _, ok := b.rules().Classes[c]; !ok {
			return nil, state.Reject(state.InvalidRequest, "classes: unknown class %q", c)
		}
	}
	r := FromTx(tx)
	s, err := Lookup(r, in.Subject)
	if err != nil {
		return nil, err
	}
	if a, err := archive(r, s); err != nil {
		return nil, err
	} else if err := a.alive(); err != nil {
		return nil, err
	}
	u := Use{ID: in.ID, Subject: s.ID, Purpose: in.Purpose, Classes: in.Classes, By: in.By, Requested: tx.Time(), Status: Pending}
	return putJSON(tx, UsesBucket, u.ID, u)
}

// Decision approves or rejects a use or a destruction proposal.
type Decision struct {
	ID      string `json:"id"`
	Approve bool   `json:"approve"`
	Note    string `json:"note"`
	By      string `json:"by"`
	// Objects are, for a destruction approved, the hex SM3 of each document
	// object's ciphertext as the blob store held it when the approving node
	// read it (ObjectMissing: not there), by the item's ref.
	Objects map[string]string `json:"objects,omitempty"`
}

// check refuses a decision on a request (noun id, made by maker) that is
// decided already or decided by its own maker, and a rejection that does
// not say why.
func (in *Decision) check(noun, id, status, maker, makerChecker string) error {
	switch {
	case status != Pending:
		return state.Reject(CodeStatus, "%s %s is %s already", noun, id, status)
	case maker == in.By:
		return state.Reject(CodeMakerChecker, "%s", makerChecker)
	case !in.Approve && strings.TrimSpace(in.Note) == "":
		return state.Reject(state.InvalidRequest, "a rejection says why")
	}
	return nil
}

// ObjectMissing stands for a document object the blob store did not hold.
const ObjectMissing = "missing"

func (b *Backend) useDecide(tx *state.Tx, cmd *state.Command) ([]byte, error) {
	var in Decision
	if err := decode(cmd, &in); err != nil {
		return nil, err
	}
	u, err := getJSON[Use](FromTx(tx), UsesBucket, in.ID)
	if err != nil {
		return nil, err
	}
	if u == nil {
		return nil, state.Reject(state.NotFound, "no archive use %s", in.ID)
	}
	if err := in.check("archive use", u.ID, u.Status, u.By, "who asked to use archive "+u.Subject+" does not approve the use"); err != nil {
		return nil, err
	}
	u.Status, u.DecidedBy, u.Decided, u.Note = Rejected, in.By, tx.Time(), in.Note
	if in.Approve {
		u.Status, u.Expires = Approved, tx.Time().Add(UseTTL)
	}
	return putJSON(tx, UsesBucket, u.ID, u)
}

// UsedIn records one read under an approved use.
type UsedIn struct {
	Use string `json:"use"`
	By  string `json:"by"`
}

// used counts a read of an archive's contents under an approved use, and
// refuses one its requester may not make: the audit record of the read is
// this command's.
func (b *Backend) used(tx *state.Tx, cmd *state.Command) ([]byte, error) {
	var in UsedIn
	if err := decode(cmd, &in); err != nil {
		return nil, err
	}
	u, err := getJSON[Use](FromTx(tx), UsesBucket, in.Use)
	if err != nil {
		return nil, err
	}
	if u == nil || u.By != in.By || u.Status != Approved || !tx.Time().Before(u.Expires) {
		return nil, state.Reject(CodeUseRequired, "no approved, unexpired use %s of yours", in.Use)
	}
	if a, err := getJSON[Archive](FromTx(tx), Bucket, u.Subject); err != nil {
		return nil, err
	} else if a != nil {
		if err := a.alive(); err != nil {
			return nil, err
		}
	}
	u.Reads++
	return putJSON(tx, UsesBucket, u.ID, u)
}

// ProposeIn proposes a destruction.
type ProposeIn struct {
	ID      string `json:"id"`
	Subject string `json:"subject"`
	Reason  string `json:"reason"`
	By      string `json:"by"`
}

// Appraisal is an archive's appraisal at a moment: each class's retention,
// when the whole archive is due, and whether something blocks it.
type Appraisal struct {
	Subject   *Subject    `json:"-"`
	Classes   []Retention `json:"classes"`
	Due       time.Time   `json:"due,omitzero"` // when the classes the key seals are all due; zero while the subject is open
	Open      bool        `json:"open,omitempty"`
	Destroyed bool        `json:"destroyed,omitempty"`
	Holds     []Hold      `json:"holds,omitempty"`
	Items     []Item      `json:"-"`
}

// Appraise computes an archive's retention from its items and the rules.
func (b *Backend) Appraise(r Reader, s *Subject, a *Archive) (*Appraisal, error) {
	items, err := Index(r, s, b.Sources)
	if err != nil {
		return nil, err
	}
	out := &Appraisal{Subject: s, Open: s.Facts.Closed == nil, Destroyed: a.Destroyed != nil, Holds: a.activeHolds(), Items: items}
	newest := map[string]time.Time{}
	var classes []string
	for _, it := range items {
		if t, seen := newest[it.Class]; !seen {
			classes = append(classes, it.Class)
			newest[it.Class] = it.Date
		} else if it.Date.After(t) {
			newest[it.Class] = it.Date
		}
	}
	for _, c := range classes {
		// A class kept from each item's date is kept until its newest
		// item's end: a later date never falls under a shorter rule.
		rt := b.rules().Compute(c, s.Facts, newest[c])
		out.Classes = append(out.Classes, rt)
		if b.rules().Classes[c].Shred && !out.Open && rt.Until.After(out.Due) {
			out.Due = rt.Until
		}
	}
	if !out.Open && out.Due.IsZero() {
		out.Due = *s.Facts.Closed
	}
	return out, nil
}

// appraise looks subject id up and appraises its archive, in a command or
// a request.
func (b *Backend) appraise(r Reader, id string) (*Appraisal, *Archive, error) {
	s, err := Lookup(r, id)
	if err != nil {
		return nil, nil, err
	}
	a, err := archive(r, s)
	if err != nil {
		return nil, nil, err
	}
	ap, err := b.Appraise(r, s, a)
	return ap, a, err
}

// check refuses a destruction that is not allowed at now.
func (ap *Appraisal) check(now time.Time, a *Archive) error {
	if err := a.alive(); err != nil {
		return err
	}
	switch {
	case len(ap.Holds) > 0:
		return state.Reject(CodeHeld, "the archive of %s is under legal hold %s (%s): nothing of it is destroyed while a hold is in force", a.Subject, ap.Holds[0].ID, ap.Holds[0].Authority)
	case ap.Open:
		return state.Reject(CodeRetention, "%s is still open (account not cancelled, merchant not closed): its archive is in use", a.Subject)
	case now.Before(ap.Due):
		return state.Reject(CodeRetention, "the archive of %s is kept until %s", a.Subject, ap.Due.In(China).Format(time.RFC3339))
	}
	return nil
}

func (b *Backend) destroyPropose(tx *state.Tx, cmd *state.Command) ([]byte, error) {
	var in ProposeIn
	if err := decode(cmd, &in); err != nil {
		return nil, err
	}
	if len([]rune(strings.TrimSpace(in.Reason))) < 5 || in.ID == "" {
		return nil, state.Reject(state.InvalidRequest, "reason: say why the archive is destroyed (at least 5 characters)")
	}
	ap, a, err := b.appraise(FromTx(tx), in.Subject)
	if err != nil {
		return nil, err
	}
	if err := ap.check(tx.Time(), a); err != nil {
		return nil, err
	}
	s := ap.Subject
	if err := eachOf[Proposal](tx, DestroyBuck, func(q *Proposal) error {
		if q.Subject == s.ID && q.Status == Pending {
			return state.Reject(CodeProposed, "the destruction of %s is proposed already (%s): a second person approves or rejects it", s.ID, q.ID)
		}
		return nil
	}); err != nil {
		return nil, err
	}
	p := Proposal{ID: in.ID, Subject: s.ID, Kind: s.Kind, Reason: in.Reason, By: in.By, Proposed: tx.Time(), Due: ap.Due, Status: Pending}
	return putJSON(tx, DestroyBuck, p.ID, p)
}

func (b *Backend) destroyDecide(tx *state.Tx, cmd *state.Command) ([]byte, error) {
	var in Decision
	if err := decode(cmd, &in); err != nil {
		return nil, err
	}
	r := FromTx(tx)
	p, err := getJSON[Proposal](r, DestroyBuck, in.ID)
	if err != nil {
		return nil, err
	}
	if p == nil {
		return nil, state.Reject(state.NotFound, "no destruction proposal %s", in.ID)
	}
	if err := in.check("destruction proposal", p.ID, p.Status, p.By, "who proposed destroying archive "+p.Subject+" does not approve it: a second person does"); err != nil {
		return nil, err
	}
	now := tx.Time()
	p.DecidedBy, p.Decided, p.Note = in.By, now, in.Note
	if !in.Approve {
		p.Status = Rejected
		return putJSON(tx, DestroyBuck, p.ID, p)
	}
	ap, a, err := b.appraise(r, p.Subject)
	if err != nil {
		return nil, err
	}
	if err := ap.check(now, a); err != nil {
		return nil, err
	}
	s := ap.Subject
	for i := range ap.Items {
		it := &ap.Items[i]
		if !it.Object {
			continue
		}
		sum := in.Objects[it.Ref]
		if sum != ObjectMissing && !isSM3(sum) {
			return nil, state.Reject(state.Conflict, "the approval of destroying %s carries no SM3 of document %s's stored ciphertext (filed since it was read?): approve again", s.ID, it.Ref)
		}
		it.SM3 = sum
	}
	m := b.manifest(ap, p, now)
	raw := mustJSON(m)
	// What finds the subject by its identifiers goes first, while its key
	// still opens them; then the key.
	forget := workers.Forget
	if s.Kind == KindMerchant {
		forget = merchants.Forget
	}
	if err := forget(tx, s.ID); err != nil {
		return nil, err
	}
	if _, err := subjects.Shred(tx, s.ID, "archive destroyed: certificate "+m.Certificate); err != nil {
		return nil, err
	}
	if err := closeUses(tx, s.ID, m.Certificate); err != nil {
		return nil, err
	}
	a.Destroyed = &Destruction{Certificate: m.Certificate, Proposal: p.ID, At: now, Manifest: raw}
	if _, err := putJSON(tx, Bucket, s.ID, a); err != nil {
		return nil, err
	}
	p.Status, p.Certificate = Done, m.Certificate
	out, err := putJSON(tx, DestroyBuck, p.ID, p)
	if err != nil {
		return nil, err
	}
	if b.Complete != nil && s.Kind == KindWorker {
		if err := b.Complete(tx, s.ID, m.Certificate); err != nil {
			return nil, err
		}
	}
	if err := tombstone(tx, s, m.Certificate, raw); err != nil {
		return nil, err
	}
	if b.OnDestroyed != nil {
		subject := s.ID
		tx.OnCommit(func() error { b.OnDestroyed(subject); return nil })
	}
	return out, nil
}

func tombstone(tx *state.Tx, s *Subject, certificate string, manifest []byte) error {
	if ok, err := tx.Speaks(state.GatewaySet); err != nil || !ok {
		return err
	}
	_, err := feed.Append(tx, feed.Fact{Type: FactDestroyed, Version: 1, Subject: s.ID, Payload: map[string]string{
		"subject": s.ID, "kind": s.Kind, "certificate": certificate, "manifest_sm3": sum(manifest), "destroyed_at": feed.TimeText(tx.Time()),
	}})
	return err
}

// Retention is the legal retention a worker's deletion request is decided
// by (appliance/privacy), in the state machine: when the archive of worker,
// closed at now if it is still open, becomes due, and the basis of the rule
// that keeps it longest. A due archive (until at or before now) is erased by
// its destruction, which completes the request.
func (b *Backend) Retention(tx *state.Tx, worker string, now time.Time) (time.Time, string, error) {
	r := FromTx(tx)
	s, err := Lookup(r, worker)
	if err != nil {
		return time.Time{}, "", err
	}
	if s.Kind != KindWorker {
		return time.Time{}, "", state.Reject(CodeSubject, "%s is no worker", worker)
	}
	if s.Facts.Closed == nil {
		s.Facts.Closed = &now
	}
	a, err := archive(r, s)
	if err != nil {
		return time.Time{}, "", err
	}
	if err := a.alive(); err != nil {
		return time.Time{}, "", err
	}
	ap, err := b.Appraise(r, s, a)
	if err != nil {
		return time.Time{}, "", err
	}
	basis := ""
	for _, c := range ap.Classes {
		if b.rules().Classes[c.Class].Shred && c.Until.Equal(ap.Due) && c.Longest != "" {
			basis = c.Longest
			break
		}
	}
	return ap.Due, basis, nil
}

// isSM3 reports whether s is a hex SM3 digest.
func isSM3(s string) bool {
	b, err := hex.DecodeString(s)
	return err == nil && len(b) == sm.HashSize
}

// eachOf calls fn with every record of bucket, decoded, as the command
// sees the state.
func eachOf[T any](tx *state.Tx, bucket string, fn func(*T) error) error {
	return tx.Prefix(bucket, nil, func(k, v []byte) error {
		var rec T
		if err := json.Unmarshal(v, &rec); err != nil {
			return fmt.Errorf("archives: %s/%s: %w", bucket, k, err)
		}
		return fn(&rec)
	})
}

// closeUses rejects the subject's uses still waiting for a decision once
// its archive is destroyed: nothing is left to read under them. (A use
// approved already answers archive_destroyed to every read.)
func closeUses(tx *state.Tx, subject, certificate string) error {
	var open []*Use
	if err := eachOf[Use](tx, UsesBucket, func(u *Use) error {
		if u.Subject == subject && u.Status == Pending {
			open = append(open, u)
		}
		return nil
	}); err != nil {
		return err
	}
	for _, u := range open {
		u.Status, u.Decided, u.Note = Rejected, tx.Time(), "the archive was destroyed (certificate "+certificate+")"
		if _, err := putJSON(tx, UsesBucket, u.ID, u); err != nil {
			return err
		}
	}
	return nil
}
