// Package tax computes the income tax cxt withholds and the VAT and
// surcharges it files on workers' behalf, under rule sets that are data, and
// explains every result step by step so that an auditor can redo it by hand.
//
// It is pure: no clock, no I/O. Money is shopspring/decimal in yuan, parsed
// from strings with at most two decimals and rounded half-up to the fen once,
// at the end of each tax computed. Rule sets (rules/cn.json, embedded) carry a
// version, the year they govern and the legal source of every number; each
// result names the version it used.
package tax
