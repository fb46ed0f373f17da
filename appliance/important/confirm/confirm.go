// Package confirm holds the records of §9's preview → confirm protocol: the
// confirmation a preview leaves under the SM3 of its single-use token, the
// command that confirms it, and the answer remembered under an idempotency
// key. It imports no domain, so that the API pipeline, which writes these
// records, stays free of domains too; package important applies them.
package confirm

import (
	"encoding/json"
	"time"
)

// Buckets.
const (
	IdempotencyBucket = "idempotency"   // subject \x00 key -> Outcome
	ConfirmBucket     = "confirmations" // SM3(token) -> Confirmation
)

// Commands.
const (
	CmdPreview = "op.preview"
	CmdRun     = "op.run"
)

// KeyTTL is how long an idempotency key is remembered.
const KeyTTL = 24 * time.Hour

// Confirmation is a preview awaiting its confirm.
type Confirmation struct {
	Subject string    `json:"subject"`
	Action  string    `json:"action"`
	Content []byte    `json:"content"` // SM3 of the preview shown
	Key     []byte    `json:"key"`     // subject \x00 idempotency key the preview was asked under
	Expires time.Time `json:"expires"`
}

// Outcome is a remembered answer to an idempotency key. The response is
// stored with its secret fields withheld: only the request that made the
// change sees them (see Run.Response).
type Outcome struct {
	BodyHash []byte          `json:"body_hash"`
	Status   int             `json:"status"`
	Response json.RawMessage `json:"response"`
	At       time.Time       `json:"at"`
	// Replay marks an answer returned because the key was used before; it
	// is set on the way out, never stored.
	Replay bool `json:"replay,omitempty"`
}

// Preview stores a confirmation under the SM3 of its token.
type Preview struct {
	TokenHash    []byte       `json:"token_hash"`
	Confirmation Confirmation `json:"confirmation"`
}

// Run performs an important operation once: it checks the idempotency key
// and the confirm token, applies the inner command, and remembers the
// response under the key.
type Run struct {
	Key       []byte `json:"key"` // subject \x00 idempotency key
	BodyHash  []byte `json:"body_hash"`
	TokenHash []byte `json:"token_hash"`
	Subject   string `json:"subject"`
	Action    string `json:"action"`
	Content   []byte `json:"content"`
	Type      string `json:"type"` // the inner command
	Body      []byte `json:"body"`
	// Event is the audit type of an operation whose inner command only
	// records (audit.record): account.unmask, audit.export.
	Event  string `json:"event,omitempty"`
	Status int    `json:"status"`
	// Response is the answer with its secret fields withheld: it is
	// replicated and remembered, so it must not hold one-time passwords,
	// unmasked personal data or exported entries.
	Response json.RawMessage `json:"response"`
	// Shown is the preview (impact and risks) the proposer confirmed, kept
	// with a pending approval for the approver to see.
	Shown json.RawMessage `json:"shown,omitempty"`
}

// Remembered returns the outcome stored under an idempotency key if it is
// younger than KeyTTL.
func Remembered(get func(string, []byte) ([]byte, error), key []byte, now time.Time) (*Outcome, error) {
	raw, err := get(IdempotencyBucket, key)
	if err != nil || raw == nil {
		return nil, err
	}
	var o Outcome
	if err := json.Unmarshal(raw, &o); err != nil {
		return nil, err
	}
	if now.Sub(o.At) >= KeyTTL {
		return nil, nil
	}
	return &o, nil
}
