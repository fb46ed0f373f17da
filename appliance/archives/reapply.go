package archives

import (
	"encoding/json"
	"fmt"
	"sort"
	"time"

	"cxt/appliance/agreements"
	"cxt/appliance/subjects"
	"cxt/crypto/sm"
	"cxt/storage/state"
)

// CmdReapply applies a destruction again: the leader proposes it for a
// subject the outside record names while the state holds the subject's key
// alive — the state came back from a copy taken before the destruction.
const CmdReapply = "archive.reapply"

// ListID is the blob store object that records the destroyed archives
// outside the state: each node writes it after a destruction commits.
const ListID = "archives-destroyed.json"

// Record is one destroyed archive as the outside list keeps it: the
// manifest and the platform's SM2 signature over it, so a list edited by
// anyone without the platform's key destroys nothing.
type Record struct {
	Subject   string `json:"subject"`
	Manifest  []byte `json:"manifest"`
	Signature []byte `json:"signature"` // DER, SM2 with the default ID over Manifest
}

// List is the outside record of destroyed archives, by subject.
type List struct {
	Destroyed []Record `json:"destroyed"`
}

// Merge adds others' records that l lacks; it reports whether l grew.
func (l *List) Merge(o *List) bool {
	have := map[string]bool{}
	for _, r := range l.Destroyed {
		have[r.Subject] = true
	}
	grew := false
	for _, r := range o.Destroyed {
		if !have[r.Subject] {
			l.Destroyed, have[r.Subject], grew = append(l.Destroyed, r), true, true
		}
	}
	sort.Slice(l.Destroyed, func(i, j int) bool { return l.Destroyed[i].Subject < l.Destroyed[j].Subject })
	return grew
}

// Verify checks a record's signature against the platform certificate
// the state holds.
func (rec *Record) Verify(r Reader) (*Manifest, error) {
	auth, err := agreements.GetAuthority(r)
	if err != nil {
		return nil, err
	}
	if auth == nil {
		return nil, fmt.Errorf("archives: no platform key in this state to check the destruction of %s", rec.Subject)
	}
	cert, err := sm.ParseCertificatePEM(auth.Platform)
	if err != nil {
		return nil, err
	}
	if !cert.PublicKey().Verify(rec.Manifest, rec.Signature) {
		return nil, fmt.Errorf("archives: the destruction record of %s is not signed by the platform", rec.Subject)
	}
	var m Manifest
	if err := json.Unmarshal(rec.Manifest, &m); err != nil || m.Subject != rec.Subject || m.Certificate == "" {
		return nil, fmt.Errorf("archives: the destruction record of %s holds no manifest of it", rec.Subject)
	}
	return &m, nil
}

// Stale lists the records whose subject the state still holds a live key
// of — a state restored from before their destruction — and, apart, the
// subjects of records that do not verify against the platform's key in
// this state (an edited list: they withhold nothing and destroy nothing).
func (l *List) Stale(r Reader) (stale []Record, forged []string, err error) {
	for _, rec := range l.Destroyed {
		live, err := subjects.Live(r, rec.Subject)
		if err != nil {
			return nil, nil, err
		}
		if !live {
			continue
		}
		if _, err := rec.Verify(r); err != nil {
			forged = append(forged, rec.Subject)
			continue
		}
		stale = append(stale, rec)
	}
	return stale, forged, nil
}

// reapply destroys again, in this state, an archive whose signed record
// says it was destroyed: the key goes, and the archive's record takes the
// manifest as signed.
func (b *Backend) reapply(tx *state.Tx, cmd *state.Command) ([]byte, error) {
	var rec Record
	if err := decode(cmd, &rec); err != nil {
		return nil, err
	}
	r := FromTx(tx)
	m, err := rec.Verify(r)
	if err != nil {
		return nil, state.Reject(state.InvalidRequest, "%v", err)
	}
	s, err := Lookup(r, m.Subject)
	if err != nil {
		return nil, err
	}
	live, err := subjects.Live(r, s.ID)
	if err != nil {
		return nil, err
	}
	if !live {
		return nil, state.Reject(CodeDestroyed, "the key of %s is destroyed already", s.ID)
	}
	if _, err := subjects.Shred(tx, s.ID, "archive destroyed again after a restore: certificate "+m.Certificate); err != nil {
		return nil, err
	}
	a, err := archive(r, s)
	if err != nil {
		return nil, err
	}
	if a.Destroyed == nil {
		at, _ := time.Parse(time.RFC3339Nano, m.DestroyedAt)
		a.Destroyed = &Destruction{Certificate: m.Certificate, At: at, Manifest: rec.Manifest}
	}
	if b.OnDestroyed != nil {
		subject := s.ID
		tx.OnCommit(func() error { b.OnDestroyed(subject); return nil })
	}
	return putJSON(tx, Bucket, s.ID, a)
}
