// Package invoices keeps the platform's invoices and those issued on its
// workers' behalf, by the merchant's operating model: under 参与经营型
// (merchants.Operating) the platform invoices the merchant the whole of what
// it paid for the covered payments (amounts and fees, kind "full"); under
// 中间介绍型 (merchants.Intermediary) the platform invoices its service fee
// (kind "fee"), and the invoices the tax office issues on a worker's behalf
// (代开, kind "worker") are recorded against that worker's payments.
//
// An invoice is requested, issued (by the tax-control system through an
// Issuer, or, for 代开, recorded with the tax office's number) and
// delivered. It is never edited: a red-letter reversal (红冲) is a new
// record with the negated amounts that names the original, and the
// original is marked reversed by it. The state machine keeps, per kind, the
// one live invoice covering each payment, so two requests racing for the
// same payment cannot both win; every total is computed from the covered
// payments and a stated total that differs is refused. A payment whose money
// comes back (failed, 退汇) after it was invoiced reverses its invoices in
// the same command (PaymentReversed, a payouts hook), once.
//
// Issuing runs on the leader (Driver) from a replicated outbox: the
// invoice's ID is the request's idempotency key at the Issuer, so a leader
// that stops between the issue and the command recording it asks again and
// gets the same number.
package invoices
