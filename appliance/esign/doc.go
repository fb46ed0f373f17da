// Package esign signs contracts with each signer's own SM2 key, dates every
// signature with the appliance's time-stamping key, and packs the result as
// an evidence package that stock OpenSSL 3 verifies offline.
//
// Custody. A merchant's or worker's signing key is made once, certified by
// the appliance's CA, and kept only sealed under that subject's own key
// (crypto/subjectkey), bound to its certificate: shredding the subject
// destroys the key with everything else of theirs. The key is opened only to
// sign one document, right after the signer authenticated afresh: the API
// layer verifies an SMS or TOTP code that was bound to the document's SM3
// and hands over a Proof, which is single-use (a Ledger consumes it before
// the key is opened) and lives at most MaxProofLifetime.
//
// What is signed. Every signature is SM2 with SM3 over the exact bytes of
// contract.pdf, default user ID, DER (openssl dgst -sm3 -sigopt
// distid:1234567812345678). The time-stamping authority signs a small JSON
// token naming the SM3 of the contract and of the signature, with its time;
// the platform countersigns manifest.json, which lists every file's SM3, the
// signers, how each authenticated and when. See docs/e-signing.md.
//
// A Session changes only when a step succeeds whole: a refused or failed
// signing adds nothing (the proof it consumed stays consumed).
package esign

import "cxt/appliance/errs"

// Error codes of this package; each has a row in docs/errors.md.
const (
	CodeAuthenticationRequired = "authentication_required"
	CodeAuthenticationMismatch = "authentication_mismatch"
	CodeAuthenticationExpired  = "authentication_expired"
	CodeAuthenticationReused   = "authentication_reused"
	CodeNotAParty              = "not_a_party"
	CodeAlreadySigned          = "already_signed"
	CodeSigningIncomplete      = "signing_incomplete"
	CodeSignatureInvalid       = "signature_invalid"
	CodeEvidenceInvalid        = "evidence_invalid"
)

// Codes lists every error code the package returns with its kind, for the
// test that holds docs/errors.md to it.
var Codes = map[string]errs.Kind{
	CodeAuthenticationRequired: errs.Unauthenticated,
	CodeAuthenticationMismatch: errs.Unauthenticated,
	CodeAuthenticationExpired:  errs.Unauthenticated,
	CodeAuthenticationReused:   errs.Unauthenticated,
	CodeNotAParty:              errs.Permission,
	CodeAlreadySigned:          errs.Conflict,
	CodeSigningIncomplete:      errs.Conflict,
	CodeSignatureInvalid:       errs.Invalid,
	CodeEvidenceInvalid:        errs.Invalid,
}
