// Package aftermonth holds no code: its test is the whole month of the
// payouts continued past the payout — the withholding declaration and its
// correction, the tax paid, invoices under both operating models, the
// channel's statement reconciled, adjustments approved — in one state
// machine that registers every domain involved (payouts, filing,
// invoices, reconcile). It lives apart from those packages so that none of
// them has to import the others, even in its tests, and so that the one
// test that holds them together belongs to none of them.
package aftermonth
