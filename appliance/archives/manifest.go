package archives

import (
	"fmt"
	"strings"
	"time"
)

// Manifest is a destruction certificate's content (certificate.json): what
// was destroyed, on what basis, by whose decision, and the SM3 of every
// destroyed item's last ciphertext. It names the subject by its internal
// ID only: nothing of what was destroyed is in it.
type Manifest struct {
	Certificate string          `json:"certificate"`
	Subject     string          `json:"subject"`
	Kind        string          `json:"kind"`
	DestroyedAt string          `json:"destroyed_at"`
	Method      string          `json:"method"`
	Classes     []ClassManifest `json:"classes_destroyed"`
	Kept        []ClassManifest `json:"classes_kept"`
	Retention   RetentionBasis  `json:"retention"`
	Reason      string          `json:"reason"`
	ProposedBy  string          `json:"proposed_by"`
	ProposedAt  string          `json:"proposed_at"`
	ApprovedBy  string          `json:"approved_by"`
	ApprovedAt  string          `json:"approved_at"`
	Items       []ManifestItem  `json:"items"`
}

// ClassManifest is one class of the archive in a manifest.
type ClassManifest struct {
	Class string   `json:"class"`
	Name  string   `json:"name"`
	Items int      `json:"items"`
	Until string   `json:"retained_until,omitempty"`
	Basis []string `json:"basis,omitempty"`
}

// RetentionBasis is when the archive's retention ended and why.
type RetentionBasis struct {
	Closed string   `json:"closed"`
	Ended  string   `json:"ended"`
	Basis  []string `json:"basis"`
}

// ManifestItem is one destroyed item.
type ManifestItem struct {
	Class string `json:"class"`
	Kind  string `json:"kind"`
	Ref   string `json:"ref"`
	SM3   string `json:"sm3"` // of its last ciphertext; "missing" for a document object the store no longer held
	// Object marks a document object in the blob store (MinIO): sm3sum of
	// the object, as stored, is SM3.
	Object bool `json:"object,omitempty"`
}

func stamp(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

// CertificateNumber is a destruction certificate's number.
func CertificateNumber(subject string, at time.Time) string {
	return fmt.Sprintf("DC-%s-%s", at.In(China).Format("20060102"), strings.TrimPrefix(strings.TrimPrefix(subject, "w_"), "m_"))
}

func (b *Backend) manifest(ap *Appraisal, p *Proposal, now time.Time) *Manifest {
	s := ap.Subject
	m := &Manifest{
		Certificate: CertificateNumber(s.ID, now), Subject: s.ID, Kind: s.Kind, DestroyedAt: stamp(now),
		Method: "crypto-shredding: the subject's own SM4 data key was deleted from the replicated state; every item below was sealed under it and no longer opens",
		Reason: p.Reason, ProposedBy: p.By, ProposedAt: stamp(p.Proposed), ApprovedBy: p.DecidedBy, ApprovedAt: stamp(now),
		Retention: RetentionBasis{Closed: stamp(*s.Facts.Closed), Ended: stamp(ap.Due)},
		Items:     []ManifestItem{},
	}
	counts := map[string]int{}
	for _, it := range ap.Items {
		counts[it.Class]++
		if it.Sealed {
			m.Items = append(m.Items, ManifestItem{Class: it.Class, Kind: it.Kind, Ref: it.Ref, SM3: it.SM3, Object: it.Object})
		}
	}
	for _, rt := range ap.Classes {
		c := ClassManifest{Class: rt.Class, Name: b.rules().Classes[rt.Class].Name, Items: counts[rt.Class], Basis: rt.Basis}
		if !rt.Until.IsZero() {
			c.Until = stamp(rt.Until)
		}
		if b.rules().Classes[rt.Class].Shred {
			m.Classes = append(m.Classes, c)
			m.Retention.Basis = append(m.Retention.Basis, rt.Basis...)
		} else {
			m.Kept = append(m.Kept, c)
		}
	}
	return m
}
