// Package reconcile holds what the platform's books say against what the
// payment channel and the billing rules say (对账), keeps every difference
// as a discrepancy case worked to an end (差错处理), and corrects the books
// by adjustments a maker proposes and a checker approves (调账).
//
// Invariants:
//   - A channel statement (对账单, statement.go) is imported whole or not at
//     all: a malformed or duplicated line, a trailer that does not add up,
//     a day not over in China, a file with lines imported before (its SM3,
//     any channel and day) or a second statement of the same channel and
//     day refuses the file with a stable code, and nothing of it is
//     recorded. A file with no line is the same bytes every quiet day: only
//     its channel and day keep it once.
//   - Every difference between a statement and the platform's payments is
//     classified exactly once (Classes, in that order of precedence) and
//     becomes exactly one case; a payment's fee difference likewise, once
//     whatever the number of fee checks. A payment missing from one day's
//     statement and listed on a later one is one difference: the later
//     date case closes the missing one.
//   - A case moves open → investigating → resolved | closed, never back;
//     every step is in its history with who and why. A resolved case names
//     the adjustment that resolved it or an explanation.
//   - An adjustment is one balanced ledger posting (cause adjustment, event
//     reconcile.adjust), proposed by one person and approved by another,
//     once, checked at the proposal and again at the decision. It moves
//     only balances that are nobody else's detail (ledger.NotAdjustable):
//     merchants' available balances, fee income, and the bank on its
//     credit side — never worker payable, a channel's clearing account or
//     the tax payables (the payments), suspense (the top-ups' suspense
//     items, each matched or returned by its own maker-checker decision),
//     nor the bank debited (money comes in only by a bank statement's
//     line). The independent auditor (payouts.Verify, topups.Audit) holds
//     those to their records and would no longer agree.
//
// Trade-offs:
//   - The reconciliation runs where the statement arrives (the API), over
//     a linearizable read of the payments, and proposes its result — the
//     statement's tallies and its differences — as one command. Replicas do
//     not redo the comparison; the command carries what it found, as every
//     command carries its non-deterministic inputs. A statement with more
//     than MaxDifferences differences is refused: it is the wrong file.
//   - The comparison is a hash join (engine.go): the payments of the
//     channel by reference, probed by the statement's lines. It needs no
//     sort and runs faster than a plain sort-merge of the same files
//     (benchdata.go; measured by `make bench` and bench_test.go).
//
// The file formats, classes, case states and adjustments are documented in
// docs/reconciliation.md.
package reconcile
