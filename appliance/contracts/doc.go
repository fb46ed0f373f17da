// Package contracts keeps versioned contract templates with declared
// variables and renders a filled template as a PDF with its Chinese text in
// an embedded, subset CJK font.
//
// A template is text with {{variable}} placeholders and a declared list of
// its variables; every placeholder must be declared and every declared
// variable used, so a template cannot silently ask for less or more than it
// says. Filling refuses a missing value and a value for a variable the
// template does not declare (contract_variable_missing,
// contract_variable_unknown). Values are inserted literally: a value holding
// "{{x}}" stays that text, since the template is parsed once and values are
// never parsed.
//
// Versions are immutable: publishing a changed template makes the next
// version, and a contract names the template ID, the version and the SM3 of
// the template (Template.Digest), which the evidence package repeats.
//
// The same template, values, contract ID, time and fonts give the same PDF
// bytes: the layout is our own (greedy line filling with hanging punctuation),
// the PDF's dates come from the input, and fpdf writes no random file ID. That
// matters because a signature is over the exact bytes. docs/e-signing.md
// says why this library and these fonts.
package contracts
