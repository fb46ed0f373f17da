// Package reports makes the quarterly reports a platform files with its tax
// offices under 公告2025年第15号 — the identity table and the income table of
// its workers per tax office, and the platform's own basic information —
// from the replicated state, rendered in the official column order, signed,
// and recorded with void-and-resubmit.
//
// The column lists are data: templates/*.json, one file per version of the
// official layout, each naming the quarter it takes effect; Compute
// provides every field a template may choose (Fields). Figures come from the
// ledger's postings and the payments they list (Compute says which posting
// decides which quarter); identities are opened under each worker's own key
// for the call and never stored. A report's signature covers its head — ID,
// kind, quarter, office, template, format, row count, generation time and
// the SM3 of its bytes — so the bytes travel detached.
//
// report.issue records a report's head and signature; a correction names
// the report it supersedes, which is voided and kept, and report.void voids
// one without a replacement. Both append to the gateway feed (report.issued,
// report.voided) in the same command. Backend serves them: issued and
// voided by platform staff on the business API, listed and downloaded by
// the bureaus of their offices on the gateway listener. docs/gateway.md §8
// has the rest.
package reports
