// Package queries answers a tax bureau's questions about one worker or one
// merchant, found by its unique identifier, and hands it their documents
// sealed to the bureau's SM2 key.
//
// It is a library over a read transaction: the gateway's listener
// authenticates the bureau, and Backend's routes turn its client record
// into a Scope and call Worker, Merchant or Document; the answers are
// values they encode as JSON.
//
// Invariants:
//   - A bureau sees a merchant of its own tax offices, and a worker whom
//     such a merchant linked or paid; the platform's office (where the
//     platform files as withholding agent) sees everyone. Of a person in its
//     scope an office's bureau sees their dealings with merchants of its
//     offices only: links, agreements, works, payments and the withholding
//     summed from those payments.
//   - Whatever a bureau may not see answers exactly as what does not exist
//     (CodeOutOfScope, 404, one message): a bureau cannot learn from an
//     answer whether a person or company outside its scope is on record.
//     A malformed identifier is refused from its text alone (400), before
//     anything is read.
//   - A shredded subject's identity answers as destroyed; their records
//     stand, as the law keeps them.
//   - A document leaves only inside an sm.Envelope to the bureau's key,
//     read whole and checked against the SM3 its record keeps first.
//
// docs/gateway.md §9 gives the answers' fields and the OpenSSL
// commands that open a document.
package queries
