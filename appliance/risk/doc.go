// Package risk inspects the platform after the fact (事后巡检) and samples
// its records at random (随机抽查), standard §7 风控: inspection jobs count
// aggregates over past records, the policy decides which are anomalies,
// each anomaly opens one review case, and reviewers work the cases and the
// samples' evidence checklists.
//
// Invariants:
//   - Go counts; rego decides. A detector (detect.go) computes aggregates —
//     workers per bank card, workers per registering address or device
//     within a window, each worker's share of a merchant's month, each
//     merchant's month against its 3 months before — and the policy rule
//     data.cxt.risk.inspection.findings (policy/risk/inspection.rego, its
//     thresholds data) picks the anomalies. Every finding names the rule
//     and settings version that made it, the policy bundle's version, the
//     SM3 of the exact input the policy got, and the aggregate itself.
//   - An anomaly opens one case, ever: a case's ID is the SM3 of its kind,
//     subject and period, so a job run again, or daily, finds the case it
//     opened before and opens nothing.
//   - A case moves open → investigating (assigned to a platform reviewer;
//     reassigning keeps it there) → closed with an outcome and a note, by
//     its reviewer only; a closed case takes nothing more. Two steps that
//     race are ordered by the log: the second meets the case the first
//     left, and is refused case_status if that step no longer applies.
//   - A sample is reproducible: its proposer draws a 32-byte seed and
//     records it with the population's size and digest; the sample is the
//     population's IDs ordered by SM3(seed ‖ ID), the first size of them
//     (Method, Draw). Apply draws nothing: the command carries the items.
//   - A reviewer's finding on a sampled item is recorded once, on the item
//     and as a record of its worker and its merchant (SubjectBucket, keyed
//     by subject), for their archives.
//   - Nothing personal is stored here: cards, addresses and devices are
//     named by the first 8 bytes of their blind index (workers.CardIndex,
//     workers.SourceIndexes); the numbers themselves stay sealed in the
//     worker's record, or nowhere.
//
// # Trade-offs
//
//   - Jobs run on the leader (Inspector), one at a time, a command per
//     detector: the job's progress is visible while it runs, and a leader
//     that stops leaves a running job the next leader finishes from the
//     detector after the last one recorded. A job started on a follower is
//     found by the leader's next poll.
//   - The detectors read the whole month's payments (and every card and
//     registration) in one read transaction: simple and exact, and fine
//     for a daily job at the platform's volumes; a month of millions of
//     payments would want running totals kept by the payouts instead.
//   - A sample's checklist is what the records showed when it was drawn,
//     so the reviewer judges the evidence the platform had then; evidence
//     added later is seen on the records themselves.
//   - Cases keep references (payments, workers, tasks, documents by ID)
//     and notes as evidence; uploading a new document to a case is left to
//     the archives' issue, which owns where documents are filed.
package risk
