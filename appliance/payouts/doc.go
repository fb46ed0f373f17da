// Package payouts pays workers for accepted work: a merchant's payout batch
// is uploaded, previewed (fees, each worker's tax, the rows the risk rules
// hold or reject), confirmed as an important operation and executed in
// chunks inside the state machine, then handed to a payment channel exactly
// once through a replicated outbox.
//
// A chunk command carries no rows: they were stored once, packed, when the
// batch was uploaded. Executing a chunk decides every row — the worker is
// verified and has a signed agreement with the merchant, the payment names
// the merchant's accepted task, the risk rules pass, the merchant's balance
// covers it — computes its fee and its tax from the worker's replicated
// year-to-date state, and books one aggregated ledger posting for the
// chunk. Each payment is one packed record under a sequential key; the
// posting names the payments whose detail it sums, so the auditor can
// rebuild both (Verify).
//
// The channel side runs on the leader only (Driver): it proposes the next
// chunk of a confirmed batch, hands the outbox to the channel in pages under
// each payment's own reference (the channel pays a reference once, however
// often it is asked), and brings the channel's results — paid, failed,
// returned (退汇) days later — back as commands that move the payments and
// reverse the ledger and the withholding where money came back.
package payouts
