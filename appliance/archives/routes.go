package archives

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"cxt/appliance/agreements"
	"cxt/appliance/api"
	"cxt/appliance/errs"
	"cxt/appliance/esign"
	"cxt/appliance/merchants"
	"cxt/appliance/subjects"
	"cxt/appliance/workers"
	"cxt/crypto/sm"
	"cxt/policy"
	"cxt/storage/blob"
	"cxt/storage/state"
)

// Routes lists the archives' endpoints: platform staff keep the archives;
// audit administrators read their index, statistics and certificates.
func (b *Backend) Routes() []api.Route {
	const read, write, important = api.Read, api.Write, api.Important
	subject := func(r *api.Request) (api.Resource, error) {
		id := r.Var("subject")
		found, err := r.Lookup(func(tx *state.ReadTx) (bool, error) {
			_, err := Lookup(FromRead(tx), id)
			if CodeSubject.Is(err) {
				return false, nil
			}
			return err == nil, err
		})
		return api.Resource{Resource: policy.Resource{Label: 1}, Noun: "archive", Absent: !found}, err
	}
	use, destruction := api.StaffRecord(UsesBucket, "archive use"), api.StaffRecord(DestroyBuck, "destruction proposal")
	return []api.Route{
		{Method: "GET", Path: "/api/v1/archives/stats", Action: "archives.read", Kind: read, Handle: b.stats},
		{Method: "GET", Path: "/api/v1/archives/{subject}", Action: "archives.read", Kind: read, Resource: subject, Handle: b.index},
		{Method: "POST", Path: "/api/v1/archives/{subject}/holds", Action: "archives.hold", Kind: write, Resource: subject, Handle: b.placeHold},
		{Method: "POST", Path: "/api/v1/archives/{subject}/holds/{hold}/release", Action: "archives.hold_release", Kind: important, Resource: subject, Prepare: b.releaseHold},
		{Method: "POST", Path: "/api/v1/archives/{subject}/uses", Action: "archives.use_request", Kind: write, Resource: subject, Handle: b.requestUse},
		{Method: "GET", Path: "/api/v1/archives/{subject}/contents", Action: "archives.use", Kind: read, Resource: subject, Handle: b.contents},
		{Method: "POST", Path: "/api/v1/archives/{subject}/destruction", Action: "archives.destroy_propose", Kind: important, Resource: subject, Prepare: b.propose},
		{Method: "GET", Path: "/api/v1/archives/{subject}/certificate", Action: "archives.certificate", Kind: read, Resource: subject, Handle: b.certificate},
		{Method: "GET", Path: "/api/v1/archive-uses", Action: "archives.read", Kind: read, Handle: b.listUses},
		{Method: "POST", Path: "/api/v1/archive-uses/{id}/decision", Action: "archives.use_decide", Kind: write, Resource: use, Handle: b.decideUse},
		{Method: "GET", Path: "/api/v1/archive-destructions", Action: "archives.read", Kind: read, Handle: b.listDestructions},
		{Method: "POST", Path: "/api/v1/archive-destructions/{id}/decision", Action: "archives.destroy_decide", Kind: important, Resource: destruction, Prepare: b.decideDestruction},
	}
}

// View is an archive as its index shows it: the subject, its state, each
// class's retention, the items (no content), holds and the destruction.
type View struct {
	Subject   string      `json:"subject"`
	Kind      string      `json:"kind"`
	State     string      `json:"state"`
	Created   string      `json:"created"`
	Closed    string      `json:"closed,omitempty"`
	Due       string      `json:"due,omitempty"`
	Classes   []Retention `json:"classes"`
	Items     []Item      `json:"items"`
	Holds     []Hold      `json:"holds"`
	Destroyed *struct {
		Certificate string `json:"certificate"`
		At          string `json:"at"`
		Link        string `json:"link"`
	} `json:"destroyed,omitempty"`
}

// Archive states.
const (
	StateActive    = "active"    // the subject is open: in use
	StateRetained  = "retained"  // closed; retention running
	StateDue       = "due"       // retention ended: may be destroyed
	StateHeld      = "held"      // under a legal hold
	StateDestroyed = "destroyed" // its key is gone
)

// State is an archive's state at now.
func (ap *Appraisal) State(now time.Time) string {
	switch {
	case ap.Destroyed:
		return StateDestroyed
	case len(ap.Holds) > 0:
		return StateHeld
	case ap.Open:
		return StateActive
	case now.Before(ap.Due):
		return StateRetained
	}
	return StateDue
}

// appraise reads a subject's archive and appraises it.
func (b *Backend) view(ap *Appraisal, a *Archive, now time.Time) *View {
	v := &View{Subject: a.Subject, Kind: a.Kind, State: ap.State(now), Created: stamp(ap.Subject.Created),
		Classes: ap.Classes, Items: ap.Items, Holds: a.Holds}
	if v.Items == nil {
		v.Items = []Item{}
	}
	if v.Holds == nil {
		v.Holds = []Hold{}
	}
	if c := ap.Subject.Facts.Closed; c != nil {
		v.Closed, v.Due = stamp(*c), stamp(ap.Due)
	}
	if d := a.Destroyed; d != nil {
		v.Destroyed = &struct {
			Certificate string `json:"certificate"`
			At          string `json:"at"`
			Link        string `json:"link"`
		}{d.Certificate, stamp(d.At), "/api/v1/archives/" + a.Subject + "/certificate"}
	}
	return v
}

func (b *Backend) index(r *api.Request) (int, any, error) {
	var v *View
	err := r.View(func(tx *state.ReadTx) error {
		ap, a, err := b.appraise(FromRead(tx), r.Var("subject"))
		if err == nil {
			v = b.view(ap, a, r.Now())
		}
		return err
	})
	if err != nil {
		return 0, nil, api.Classify(err)
	}
	return 200, v, nil
}

func (b *Backend) placeHold(r *api.Request) (int, any, error) {
	var in struct {
		Reason    string `json:"reason"`
		Authority string `json:"authority"`
	}
	if err := r.Decode(&in); err != nil {
		return 0, nil, err
	}
	if err := text("legal hold", "reason", in.Reason, 5, "say why the archive is held"); err != nil {
		return 0, nil, err
	}
	if err := text("legal hold", "authority", in.Authority, 1, "who ordered the hold, with its reference (a court, a tax bureau, counsel)"); err != nil {
		return 0, nil, err
	}
	id := "hold-" + api.NewID()
	r.Audit.Object, r.Audit.Reason = r.Var("subject"), in.Reason
	v, err := r.Propose(state.NewCommand(CmdHold, mustJSON(HoldIn{Subject: r.Var("subject"), ID: id, Reason: in.Reason, Authority: in.Authority, By: r.Subject.ID}), r.Now()))
	if err != nil {
		return 0, nil, err
	}
	var a Archive
	if err := json.Unmarshal(v, &a); err != nil {
		return 0, nil, err
	}
	i := slices.IndexFunc(a.Holds, func(h Hold) bool { return h.ID == id })
	return 201, a.Holds[i], nil
}

func (b *Backend) releaseHold(r *api.Request) (*api.Op, error) {
	var in struct {
		Reason string `json:"reason"`
	}
	if err := r.Decode(&in); err != nil {
		return nil, err
	}
	if err := text("release hold", "reason", in.Reason, 5, "say why the hold ends"); err != nil {
		return nil, err
	}
	subject, hold := r.Var("subject"), r.Var("hold")
	var h *Hold
	if err := r.View(func(tx *state.ReadTx) error {
		a, err := getJSON[Archive](FromRead(tx), Bucket, subject)
		if err != nil || a == nil {
			return err
		}
		if i := slices.IndexFunc(a.Holds, func(x Hold) bool { return x.ID == hold }); i >= 0 {
			h = &a.Holds[i]
		}
		return nil
	}); err != nil {
		return nil, err
	}
	if h == nil {
		return nil, errs.Coded("release hold", errs.NotExist, CodeNoHold.String(), "%s has no legal hold %s", subject, hold)
	}
	r.Audit.Object, r.Audit.Reason = subject, in.Reason
	return &api.Op{
		Impact:  map[string]any{"subject": subject, "hold": h.ID, "placed_by": h.By, "authority": h.Authority, "hold_reason": h.Reason},
		Risks:   []string{"once no hold is in force, an archive past its retention can be destroyed"},
		Command: state.NewCommand(CmdRelease, mustJSON(ReleaseIn{Subject: subject, Hold: hold, Reason: in.Reason, By: r.Subject.ID}), r.Now()),
		Status:  200, Response: map[string]any{"subject": subject, "hold": hold, "released": true},
	}, nil
}

func (b *Backend) requestUse(r *api.Request) (int, any, error) {
	var in struct {
		Purpose string   `json:"purpose"`
		Classes []string `json:"classes"`
	}
	if err := r.Decode(&in); err != nil {
		return 0, nil, err
	}
	if err := text("use archive", "purpose", in.Purpose, 5, "say what the archive is used for"); err != nil {
		return 0, nil, err
	}
	if len(in.Classes) == 0 {
		in.Classes = []string{"identity"}
	}
	slices.Sort(in.Classes)
	in.Classes = slices.Compact(in.Classes)
	for _, c := range in.Classes {
		if _, ok := b.rules().Classes[c]; !ok {
			return 0, nil, errs.OnField(errs.E("use archive", errs.Invalid, "classes: unknown class %q (docs/archives.md lists them)", c), "classes")
		}
	}
	r.Audit.Object, r.Audit.Reason = r.Var("subject"), in.Purpose
	v, err := r.Propose(state.NewCommand(CmdUseRequest, mustJSON(UseIn{ID: "use-" + api.NewID(), Subject: r.Var("subject"), Purpose: in.Purpose, Classes: in.Classes, By: r.Subject.ID}), r.Now()))
	if err != nil {
		return 0, nil, err
	}
	return 201, json.RawMessage(v), nil
}

func (b *Backend) decideUse(r *api.Request) (int, any, error) {
	var in struct {
		Decision string `json:"decision"`
		Note     string `json:"note"`
	}
	if err := r.Decode(&in); err != nil {
		return 0, nil, err
	}
	if in.Decision != "approve" && in.Decision != "reject" {
		return 0, nil, errs.OnField(errs.E("decide use", errs.Invalid, "decision: approve or reject"), "decision")
	}
	if err := note("decide use", in.Decision, in.Note); err != nil {
		return 0, nil, err
	}
	r.Audit.Object, r.Audit.Reason = r.Var("id"), in.Note
	v, err := r.Propose(state.NewCommand(CmdUseDecide, mustJSON(Decision{ID: r.Var("id"), Approve: in.Decision == "approve", Note: in.Note, By: r.Subject.ID}), r.Now()))
	if err != nil {
		return 0, nil, err
	}
	return 200, json.RawMessage(v), nil
}

// contents opens an archive's personal records for the requester of an
// approved use (?use=): the read is a command, counted and audited, before
// anything is opened.
func (b *Backend) contents(r *api.Request) (int, any, error) {
	useID := r.HTTP.URL.Query().Get("use")
	if useID == "" {
		return 0, nil, errs.OnField(errs.E("use archive", errs.Invalid, "use: the approved use this read is made under (?use=)"), "use")
	}
	subject := r.Var("subject")
	var u *Use
	if err := r.View(func(tx *state.ReadTx) (err error) { u, err = getJSON[Use](FromRead(tx), UsesBucket, useID); return }); err != nil {
		return 0, nil, err
	}
	if u == nil || u.Subject != subject {
		return 0, nil, errs.Coded("use archive", errs.Permission, CodeUseRequired.String(), "no approved use %s of archive %s", useID, subject)
	}
	r.Audit.Object, r.Audit.Reason = subject, u.Purpose
	if _, err := r.Propose(state.NewCommand(CmdUsed, mustJSON(UsedIn{Use: useID, By: r.Subject.ID}), r.Now())); err != nil {
		return 0, nil, err
	}
	out := map[string]any{"subject": subject, "use": useID, "purpose": u.Purpose, "classes": u.Classes}
	err := r.View(func(tx *state.ReadTx) error {
		ap, _, err := b.appraise(FromRead(tx), subject)
		if err != nil {
			return err
		}
		var items []Item
		for _, it := range ap.Items {
			if slices.Contains(u.Classes, it.Class) {
				items = append(items, it)
			}
		}
		out["items"] = items
		if !slices.Contains(u.Classes, "identity") {
			return nil
		}
		k, err := subjects.Key(tx, r.Node.Keys(), subject)
		if err != nil {
			return err
		}
		if ap.Subject.Kind == KindWorker {
			w, err := workers.Get(tx, subject)
			if err != nil {
				return err
			}
			var p workers.Private
			if err := subjects.Open(k, workers.PrivateAAD(subject), w.Private, &p); err != nil {
				return err
			}
			out["identity"] = p
			return nil
		}
		m, err := merchants.Get(tx, subject)
		if err != nil {
			return err
		}
		var p merchants.Private
		if err := subjects.Open(k, merchants.PrivateAAD(subject), m.Private, &p); err != nil {
			return err
		}
		out["identity"] = p
		return nil
	})
	if err != nil {
		return 0, nil, api.Classify(err)
	}
	return 200, out, nil
}

func (b *Backend) propose(r *api.Request) (*api.Op, error) {
	var in struct {
		Reason string `json:"reason"`
	}
	if err := r.Decode(&in); err != nil {
		return nil, err
	}
	if err := text("propose destruction", "reason", in.Reason, 5, "say why the archive is destroyed"); err != nil {
		return nil, err
	}
	subject := r.Var("subject")
	var ap *Appraisal
	var a *Archive
	if err := r.View(func(tx *state.ReadTx) (err error) { ap, a, err = b.appraise(FromRead(tx), subject); return }); err != nil {
		return nil, api.Classify(err)
	}
	if err := ap.check(r.Now(), a); err != nil {
		return nil, api.Classify(err)
	}
	destroyed, kept := map[string]int{}, map[string]int{}
	for _, it := range ap.Items {
		if it.Sealed {
			destroyed[it.Class]++
		} else {
			kept[it.Class]++
		}
	}
	r.Audit.Object, r.Audit.Reason = subject, in.Reason
	id := "destroy-" + api.NewID()
	return &api.Op{
		Impact: map[string]any{"subject": subject, "kind": ap.Subject.Kind, "retention_ended": stamp(ap.Due), "items_destroyed": destroyed, "records_kept": kept},
		Risks: []string{"a second person must approve; once approved the subject's key is destroyed on every node and nothing sealed under it can ever be read again",
			"what the law keeps without personal data (ledger, payments, declarations, agreements, audit) stays, by the subject's internal ID"},
		Command: state.NewCommand(CmdDestroyPropose, mustJSON(ProposeIn{ID: id, Subject: subject, Reason: in.Reason, By: r.Subject.ID}), r.Now()),
		Status:  202, Response: map[string]any{"id": id, "subject": subject, "status": Pending, "next": "a second platform operator or reviewer approves it: POST /api/v1/archive-destructions/" + id + "/decision"},
	}, nil
}

func (b *Backend) decideDestruction(r *api.Request) (*api.Op, error) {
	var in struct {
		Decision string `json:"decision"`
		Note     string `json:"note"`
	}
	if err := r.Decode(&in); err != nil {
		return nil, err
	}
	if in.Decision != "approve" && in.Decision != "reject" {
		return nil, errs.OnField(errs.E("decide destruction", errs.Invalid, "decision: approve or reject"), "decision")
	}
	if err := note("decide destruction", in.Decision, in.Note); err != nil {
		return nil, err
	}
	var p *Proposal
	var ap *Appraisal
	var a *Archive
	err := r.View(func(tx *state.ReadTx) (err error) {
		if p, err = getJSON[Proposal](FromRead(tx), DestroyBuck, r.Var("id")); err != nil || p == nil {
			return err
		}
		ap, a, err = b.appraise(FromRead(tx), p.Subject)
		return err
	})
	if err != nil {
		return nil, api.Classify(err)
	}
	if p == nil {
		return nil, errs.E("decide destruction", errs.NotExist, "no destruction proposal %s", r.Var("id"))
	}
	if p.Status != Pending {
		return nil, errs.Coded("decide destruction", errs.Conflict, CodeStatus.String(), "destruction proposal %s is %s already", p.ID, p.Status)
	}
	if p.By == r.Subject.ID {
		return nil, errs.Coded("decide destruction", errs.Permission, CodeMakerChecker.String(), "who proposed destroying archive %s does not approve it: a second person does", p.Subject)
	}
	var objects map[string]string
	if in.Decision == "approve" {
		if err := ap.check(r.Now(), a); err != nil {
			return nil, api.Classify(err)
		}
		if objects, err = b.objectSums(r, ap.Items); err != nil {
			return nil, err
		}
	}
	sealedItems := 0
	for _, it := range ap.Items {
		if it.Sealed {
			sealedItems++
		}
	}
	r.Audit.Object, r.Audit.Reason = p.Subject, in.Note
	impact := map[string]any{"proposal": p.ID, "subject": p.Subject, "proposed_by": p.By, "reason": p.Reason, "decision": in.Decision, "items_destroyed": sealedItems}
	risks := []string{"rejecting keeps the archive; a new proposal can follow"}
	status := Rejected
	if in.Decision == "approve" {
		status = Done
		risks = []string{"the subject's key is destroyed on every node at once: this cannot be undone"}
	}
	return &api.Op{
		Impact: impact, Risks: risks,
		Command: state.NewCommand(CmdDestroyDecide, mustJSON(Decision{ID: p.ID, Approve: in.Decision == "approve", Note: in.Note, By: r.Subject.ID, Objects: objects}), r.Now()),
		Status:  200, Response: map[string]any{"proposal": p.ID, "subject": p.Subject, "status": status, "certificate": "/api/v1/archives/" + p.Subject + "/certificate"},
	}, nil
}

func list[T any](r *api.Request, bucket string, keep func(*T) bool) ([]*T, error) {
	out := []*T{}
	err := r.View(func(tx *state.ReadTx) error {
		return tx.ForEach(bucket, func(_, v []byte) error {
			var x T
			if err := json.Unmarshal(v, &x); err != nil {
				return err
			}
			if keep(&x) {
				out = append(out, &x)
			}
			return nil
		})
	})
	return out, err
}

// filters reads a list's ?status= (one of statuses) and ?subject=.
func filters(r *api.Request, statuses ...string) (status, subject string, err error) {
	q := r.HTTP.URL.Query()
	status, subject = q.Get("status"), q.Get("subject")
	if status != "" && !slices.Contains(statuses, status) {
		return "", "", errs.OnField(errs.E("list", errs.Invalid, "status: one of %s", strings.Join(statuses, ", ")), "status")
	}
	return status, subject, nil
}

func (b *Backend) listUses(r *api.Request) (int, any, error) {
	status, subject, err := filters(r, Pending, Approved, Rejected)
	if err != nil {
		return 0, nil, err
	}
	out, err := list(r, UsesBucket, func(u *Use) bool {
		return (status == "" || u.Status == status) && (subject == "" || u.Subject == subject)
	})
	if err != nil {
		return 0, nil, err
	}
	return 200, map[string]any{"uses": out}, nil
}

func (b *Backend) listDestructions(r *api.Request) (int, any, error) {
	status, subject, err := filters(r, Pending, Rejected, Done)
	if err != nil {
		return 0, nil, err
	}
	out, err := list(r, DestroyBuck, func(p *Proposal) bool {
		return (status == "" || p.Status == status) && (subject == "" || p.Subject == subject)
	})
	if err != nil {
		return 0, nil, err
	}
	return 200, map[string]any{"destructions": out}, nil
}

// certificate answers a destroyed archive's certificate as a zip.
func (b *Backend) certificate(r *api.Request) (int, any, error) {
	subject := r.Var("subject")
	var a *Archive
	var auth *agreements.Authority
	err := r.View(func(tx *state.ReadTx) (err error) {
		if a, err = getJSON[Archive](FromRead(tx), Bucket, subject); err != nil {
			return err
		}
		auth, err = agreements.GetAuthority(tx)
		return err
	})
	if err != nil {
		return 0, nil, err
	}
	if a == nil || a.Destroyed == nil {
		return 0, nil, errs.Coded("destruction certificate", errs.NotExist, CodeNotDestroyed.String(), "the archive of %s was not destroyed: it has no destruction certificate", subject)
	}
	files, err := b.Sign(a.Destroyed.Manifest, auth, r.Node.Keys(), r.Now())
	if err != nil {
		return 0, nil, err
	}
	zip, err := esign.Zip(files, r.Now())
	if err != nil {
		return 0, nil, err
	}
	return 200, &api.Raw{ContentType: "application/zip", Name: a.Destroyed.Certificate + ".zip", Body: zip}, nil
}

// objectSums reads each document object among items from the blob store,
// as stored, and answers the SM3 of its ciphertext by ref (ObjectMissing
// for one the store does not hold): what the certificate lists of it.
func (b *Backend) objectSums(r *api.Request, items []Item) (map[string]string, error) {
	const op = "decide destruction"
	sums := map[string]string{}
	for _, it := range items {
		if !it.Object {
			continue
		}
		var store *blob.Store
		if b.Documents != nil {
			store = b.Documents()
		}
		if store == nil {
			return nil, errs.E(op, errs.Unavailable, "the document store is not open yet")
		}
		rc, err := store.Raw().Get(r.Ctx, it.Ref)
		if errors.Is(err, blob.ErrNotFound) {
			sums[it.Ref] = ObjectMissing
			continue
		} else if err != nil {
			return nil, errs.Wrap(op, errs.Unavailable, err, "document %s could not be read from the store", it.Ref)
		}
		h := sm.NewHash()
		_, err = io.Copy(h, rc)
		rc.Close()
		if err != nil {
			return nil, errs.Wrap(op, errs.Unavailable, err, "document %s could not be read from the store", it.Ref)
		}
		sums[it.Ref] = hex.EncodeToString(h.Sum(nil))
	}
	return sums, nil
}

// maxText bounds every free text the archives keep (reasons, purposes,
// notes): they are replicated and audited.
const maxText = 500

// text refuses a free-text field that is shorter than min characters
// (spaces aside), longer than maxText, not valid UTF-8 (JSON decoding turns
// that into U+FFFD) or holding control characters.
func text(op, field, s string, min int, what string) error {
	n := utf8.RuneCountInString(strings.TrimSpace(s))
	if n < min || n > maxText || strings.ContainsRune(s, utf8.RuneError) || strings.ContainsFunc(s, unicode.IsControl) {
		return errs.OnField(errs.E(op, errs.Invalid, "%s: %s (%d to %d characters of text)", field, what, min, maxText), field)
	}
	return nil
}

// note checks a decision's note: a rejection says why.
func note(op, decision, s string) error {
	min := 0
	if decision == "reject" {
		min = 1
	}
	return text(op, "note", s, min, "say why, for a rejection")
}
