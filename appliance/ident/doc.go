// Package ident checks and masks the identifiers merchants and workers give
// cxt: the unified social credit code (GB 32100), the resident ID number
// (GB 11643), the mainland mobile number and the bank card number.
//
// Every check is a pure function of its input and, where age matters, of a
// date the caller passes: nothing here reads the clock, so a state handler
// can pass tx.Time() and every replica decides the same. A refusal is an
// *Error with a stable Code (documented in docs/errors.md, status 400) and a
// message that says exactly what is wrong ("check digit is 5, expected X").
//
// The region part of a resident ID is looked up in regions.txt, the GB/T 2260
// administrative division codes in force in 2025 plus every code abolished
// since 1980: an ID number keeps the code of the place and year it was first
// issued, so a worker born in 1980 may still carry a code that no longer
// exists. docs/validation.md says what each check does and where the list
// comes from.
package ident
