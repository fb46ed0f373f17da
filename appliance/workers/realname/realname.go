// Package realname verifies that a name, a resident ID number and
// optionally a mobile number belong to one real person (实名核验), through a
// Verifier: the sandbox, embedded and deterministic, or an HTTP adapter for a
// third-party service.
//
// A result says whether the person matched, which provider said so, the
// provider's reference for the check and a score; never an image. Face
// liveness is done by the provider's own SDK in the worker's app: cxt
// records only its reference and score.
package realname

import (
	"context"
	"encoding/hex"
	"strings"

	"cxt/crypto/sm"
)

// Result is a provider's answer about one person.
type Result struct {
	Match     bool    `json:"match"`
	Provider  string  `json:"provider"`
	Reference string  `json:"reference"`        // the provider's ID of this check
	Score     float64 `json:"score"`            // 0 to 1; how sure the provider is of the match
	Reason    string  `json:"reason,omitempty"` // why it did not match: one of the Reason* codes
}

// Reasons a person does not match.
const (
	ReasonNameMismatch  = "name_mismatch"  // the ID number belongs to someone of another name
	ReasonNoRecord      = "no_record"      // the registry has no such ID number
	ReasonPhoneMismatch = "phone_mismatch" // the mobile number is not registered to this person
)

// Verifier checks a person against a real-name registry. phone may be "".
// An error means no answer (unreachable, timed out, refused our request):
// nothing is recorded and the caller may try again.
type Verifier interface {
	Verify(ctx context.Context, name, idNumber, phone string) (Result, error)
}

// Sandbox is the embedded verifier: no registry is asked, and its answers
// follow fixed rules, so tests and demonstrations know what to expect.
// In order:
//
//  1. a name containing 假 does not match (name_mismatch, score 0.10);
//  2. an ID number whose sequence code (digits 15-17) is 999 is not in the
//     registry (no_record, score 0);
//  3. a mobile number ending 0000 is not the person's (phone_mismatch,
//     score 0.50);
//  4. anything else matches, score 0.99.
//
// Its reference is "sbx-" and 16 hex digits of an SM3 of the inputs: the
// same person gets the same reference.
type Sandbox struct{}

// SandboxProvider names the sandbox in results.
const SandboxProvider = "sandbox"

// Verify applies the sandbox's rules.
func (Sandbox) Verify(ctx context.Context, name, idNumber, phone string) (Result, error) {
	if err := ctx.Err(); err != nil {
		return Result{}, err
	}
	sum := sm.Sum([]byte("cxt/realname/sandbox/v1\x00" + name + "\x00" + idNumber + "\x00" + phone))
	r := Result{Provider: SandboxProvider, Reference: "sbx-" + hex.EncodeToString(sum[:8])}
	switch {
	case strings.Contains(name, "假"):
		r.Reason, r.Score = ReasonNameMismatch, 0.10
	case len(idNumber) == 18 && idNumber[14:17] == "999":
		r.Reason, r.Score = ReasonNoRecord, 0
	case phone != "" && strings.HasSuffix(phone, "0000"):
		r.Reason, r.Score = ReasonPhoneMismatch, 0.50
	default:
		r.Match, r.Score = true, 0.99
	}
	return r, nil
}
