// Package billing keeps each merchant's fee configurations (计费) and
// computes the fees they charge: percentage, fixed and tiered rules with
// optional minimums and maximums, charged at top-up, per payout or on a
// period's statement.
//
// Invariants:
//   - Money is shopspring/decimal in yuan. Amounts and rates travel as
//     decimal strings, never JSON numbers; amounts have at most 2 decimals,
//     rates at most 4, neither is negative (money.go).
//   - Each rule's fee is bounded by its minimum and maximum and rounded
//     half-up to the fen once, at the end of the rule; a fee is the sum of
//     its rules' rounded charges, each naming its rule and saying how it was
//     computed (fee.go).
//   - A merchant's versions are append-only, numbered 1, 2, …: a new
//     version takes effect on a day in China's calendar that is today or
//     later, and after the latest version's day, so no fee already charged
//     is ever re-priced; every version stays readable. The version in force
//     at an instant is the latest whose day has begun in China (UTC+8).
//
// Trade-offs:
//   - Configurations are records of the state machine, sealed at rest like
//     every record, but not under the merchant's own key: they name no
//     person, and the ledger must still explain a fee after the merchant's
//     data were shredded.
//   - An index per merchant (its versions' numbers and days) lets Current
//     find the version in force with two reads and no scan, through the
//     narrow Get that payouts' commands and reads both offer.
//   - Whole-amount tiers are offered because platforms quote them, with
//     their jump at each boundary documented; marginal tiers grow steadily.
package billing
