// Package filing files what the platform withheld: the monthly individual
// income tax withholding declaration (扣缴申报明细) and the VAT and
// surcharge agent-filing summary (代办申报) of each withholding agent and
// month, kept as immutable versions, and the tax payments made against them.
//
// A declaration is computed inside its command, from the payments as the
// state machine holds them when it applies (appliance/payouts): every
// replica computes the same one, and two operators declaring at once make
// one version, the second finding nothing changed. A correction is a new
// version that supersedes the last; no version is ever rewritten. A tax
// payment (the authority's receipt) posts debit tax/<kind>, credit bank, and
// never pays more than the period's current version leaves unpaid.
//
// The withholding agent is the platform: every payout paid through cxt is
// withheld by it (one cumulative state per worker and year). A merchant that
// pays its workers itself does so outside cxt, so any other agent is
// unknown here.
//
// LedgerIIT recomputes a month's IIT payable from the ledger's postings, so
// a test can hold a declaration's totals against the books; WorkerPeriod is
// the read the tax-payment certificates build on.
package filing
