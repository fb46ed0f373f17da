package esign

import (
	"sync"
	"time"

	"cxt/appliance/errs"
)

// MaxProofLifetime bounds how long after a code was verified its proof may
// still open a key: "right after authentication" is at most this.
const MaxProofLifetime = 5 * time.Minute

// The ways a signer authenticates afresh before signing.
const (
	MethodSMS  = "sms"  // a code sent by SMS, the message naming the document's SM3
	MethodTOTP = "totp" // the signer's authenticator code, entered for this document
)

// PlatformSubject is the subject the platform signs as.
const PlatformSubject = "platform"

// Proof says that a signer authenticated afresh for one document. The API
// layer makes one after it verified a code bound to the document's SM3; it
// is recorded in the evidence package as the signer's authentication event.
type Proof struct {
	ID          string    `json:"id"`           // unique: a proof opens a key once
	Subject     string    `json:"subject"`      // whose key: a merchant's or worker's ID, or "platform"
	Account     string    `json:"account"`      // the account that entered the code
	Method      string    `json:"method"`       // sms or totp
	DocumentSM3 string    `json:"document_sm3"` // hex SM3 of the PDF the code was bound to
	VerifiedAt  time.Time `json:"verified_at"`  // when the code was verified
	ExpiresAt   time.Time `json:"expires_at"`   // at most MaxProofLifetime later
	Source      string    `json:"source,omitempty"`
}

// check refuses a proof that is not for this subject and document, or not
// fresh at now.
func (p Proof) check(subject, documentSM3 string, now time.Time) error {
	const op = "check authentication"
	switch {
	case p.ID == "" || p.Account == "" || p.Method != MethodSMS && p.Method != MethodTOTP:
		return errs.Coded(op, errs.Unauthenticated, CodeAuthenticationRequired, "signing needs a fresh SMS or TOTP code for this document")
	case p.Subject != subject:
		return errs.Coded(op, errs.Unauthenticated, CodeAuthenticationMismatch, "the code was verified for another signer")
	case p.DocumentSM3 != documentSM3:
		return errs.Coded(op, errs.Unauthenticated, CodeAuthenticationMismatch, "the code was bound to another document (SM3 %.12s…, this one is %.12s…): authenticate again for this one", p.DocumentSM3, documentSM3)
	case p.ExpiresAt.Before(p.VerifiedAt) || p.ExpiresAt.Sub(p.VerifiedAt) > MaxProofLifetime || now.Before(p.VerifiedAt.Add(-clockSkew)):
		return errs.Coded(op, errs.Unauthenticated, CodeAuthenticationRequired, "the authentication's times are not a fresh proof (at most %s)", MaxProofLifetime)
	case !now.Before(p.ExpiresAt):
		return errs.Coded(op, errs.Unauthenticated, CodeAuthenticationExpired, "the code expired at %s: authenticate again", p.ExpiresAt.UTC().Format(time.RFC3339))
	}
	return nil
}

// Ledger remembers which proofs were used. Consume must be atomic: of two
// calls with the same proof, one succeeds. A replicated implementation
// consumes through a command, so a proof is single-use across the cluster.
type Ledger interface {
	Consume(p Proof, now time.Time) error
}

// MemoryLedger is a Ledger for one process. It forgets proofs once they
// expired, since an expired proof is refused before it is consumed.
type MemoryLedger struct {
	mu   sync.Mutex
	used map[string]time.Time // proof ID -> expiry
}

// NewMemoryLedger returns an empty ledger.
func NewMemoryLedger() *MemoryLedger { return &MemoryLedger{used: map[string]time.Time{}} }

// Consume marks p used, or refuses it if it was (authentication_reused).
func (l *MemoryLedger) Consume(p Proof, now time.Time) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	for id, exp := range l.used {
		if now.After(exp.Add(clockSkew)) {
			delete(l.used, id)
		}
	}
	if _, ok := l.used[p.ID]; ok {
		return errs.Coded("consume authentication", errs.Unauthenticated, CodeAuthenticationReused, "this code was already used to sign: authenticate again")
	}
	l.used[p.ID] = p.ExpiresAt
	return nil
}
