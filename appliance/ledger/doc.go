// Package ledger is the platform's double-entry book of the money it holds
// for others: merchants' balances, what is owed to workers, the taxes
// withheld, the fees earned, the money in transit with a payment channel,
// and the custody bank account all of it sits in.
//
// Every movement is a Posting of two or more lines whose debits equal its
// credits, each line naming its account and its cause (payment, fee, tax,
// return, top-up, adjustment). Postings are appended under a sequence number
// inside the state machine, so every replica books the same postings in the
// same order; each account's balance is kept beside them and must never go
// below zero on its normal side — save a tax payable taken below by a
// return after its month's tax was paid (Owed). Amounts are exact: shopspring/decimal at the
// edges, whole fen (int64) inside, never a float.
//
// Verify rebuilds every balance from the postings alone — the auditor's
// check that `cxt ledger verify` runs against a stopped node.
package ledger
