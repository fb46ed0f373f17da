// Package agreements has the platform's contracts signed over the API: the
// merchant–platform cooperation agreement and the tripartite service
// agreement (platform, merchant, worker), each rendered from a versioned
// template to a PDF, signed by every party with its own SM2 key after a fresh
// SMS or TOTP code bound to the PDF's SM3, time-stamped, countersigned by the
// platform and packed as an evidence package that OpenSSL verifies offline
// (appliance/contracts and appliance/esign do the work; this package keeps
// the records and answers the routes).
//
// Invariants:
//   - An agreement's PDF never changes: its SM3 is recorded when it is
//     created, every signature is over those bytes, and every read checks
//     them against it.
//   - A signature is recorded only with a proof that a single-use code was
//     consumed, by a replicated command, for this agreement, this party and
//     this PDF (agreement.consume, then agreement.sign). The state is the
//     ledger: a code replayed on any node is refused.
//   - A party signs once; the agreement is sealed (countersigned, evidence
//     package stored) only once every party signed, and then never changes.
//   - A refusal changes nothing: a rejected command writes nothing, and the
//     PDF or package stored for a refused record is deleted again.
//
// See DESIGN.md for where the keys and documents are kept, and why.
package agreements
