package ident

import "strings"

// Answers show identifiers masked: enough to recognise one's own, not enough
// to use someone else's. Masking works on any input, valid or not, and never
// shows more than the valid form would.

// MaskResidentID keeps the first four characters (province and city) and the
// last four: 11010519491231002X -> 1101**********002X.
func MaskResidentID(id string) string { return keep(id, 4, 4) }

// MaskPhone keeps the first three digits and the last four:
// 13812345678 -> 138****5678.
func MaskPhone(phone string) string { return keep(phone, 3, 4) }

// MaskBankCard keeps the last four digits behind four stars, whatever the
// length: 6222020200001234567 -> ****4567.
func MaskBankCard(number string) string {
	r := []rune(number)
	if len(r) <= 8 {
		return strings.Repeat("*", len(r))
	}
	return "****" + string(r[len(r)-4:])
}

// MaskName keeps a name's first character: 王五 -> 王*.
func MaskName(name string) string {
	r := []rune(strings.TrimSpace(name))
	if len(r) <= 1 {
		return strings.Repeat("*", len(r))
	}
	return string(r[0]) + strings.Repeat("*", len(r)-1)
}

// keep shows the first head and last tail characters and stars the rest; an
// input too short to hide at least four characters is all stars.
func keep(s string, head, tail int) string {
	r := []rune(s)
	if len(r) < head+tail+4 {
		return strings.Repeat("*", len(r))
	}
	return string(r[:head]) + strings.Repeat("*", len(r)-head-tail) + string(r[len(r)-tail:])
}
