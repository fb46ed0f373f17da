// Package topups brings merchants' money in: it reads the platform's bank
// statements, recognises whose each incoming line is (来账识别), credits it
// to that merchant's balance in the ledger, and keeps what it cannot
// recognise in suspense until two people match it by hand.
//
// Invariants:
//   - A statement line is credited at most once, whatever statements carry
//     it and however often: its identity is the bank's transaction ID, kept
//     by its blind index in CreditsBucket, checked and written in the same
//     command that posts it. Every later sighting is a duplicate and moves
//     nothing.
//   - Every credit is a balanced posting: Dr ledger.Bank, Cr the merchant's
//     available account or ledger.Suspense (cause top_up). A suspense item
//     leaves suspense once, by a posting Dr ledger.Suspense, Cr the merchant
//     (top_up) or Cr ledger.Bank (return). Nothing else moves suspense:
//     the auditor (Audit, in `cxt ledger verify`) holds it to its items.
//   - A line is a merchant's when its payer account is registered to that
//     merchant and confirmed, or its memo holds that merchant's remittance
//     code; when they point at different merchants, or the merchant is not
//     approved, it goes to suspense (Recognise).
//   - A payer account (by its blind index) belongs to one merchant at a
//     time; who registers it never confirms it.
//   - A suspense proposal is decided by someone other than its maker, once,
//     and only the proposal the checker was shown (its number).
//   - An import is proposed in chunks; each chunk applies whole or not at
//     all, so an import that stops part way is finished by importing the
//     same file again.
//
// The statement file format is documented in docs/payouts.md, "Bank
// statements".
package topups
