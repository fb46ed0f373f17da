package ident

import (
	"fmt"
	"strings"
)

// BankCard is a bank card number that passed every check.
type BankCard struct {
	Number string // the digits
	Scheme string // the card scheme its prefix belongs to, or "" if not one of cardSchemes
}

// cardScheme is a card network's issuer prefixes (the leading digits of the
// BIN/IIN, ISO/IEC 7812) and the number lengths it issues. Only schemes
// whose ranges and lengths are published by the networks are listed; a
// number with another prefix (Chinese banks' own older BINs among them) is
// held to the general 16-19 digits alone.
type cardScheme struct {
	name     string
	prefixes []string // single prefixes, or "lo-hi" ranges of equal-length prefixes
	lengths  []int
	say      string // the prefixes, for messages
}

var cardSchemes = []cardScheme{
	{"UnionPay", []string{"62"}, []int{16, 17, 18, 19}, "62"},
	{"Visa", []string{"4"}, []int{16, 19}, "4"},
	{"Mastercard", []string{"51-55", "2221-2720"}, []int{16}, "51-55 or 2221-2720"},
	{"JCB", []string{"3528-3589"}, []int{16, 17, 18, 19}, "3528-3589"},
	{"Discover", []string{"6011", "644-649", "65"}, []int{16, 17, 18, 19}, "6011, 644-649 or 65"},
}

// ParseBankCard checks a debit or credit card number for payouts: digits
// only, 16 to 19 of them, a valid Luhn check digit, and, for a prefix of a
// listed card scheme, a length that scheme issues.
func ParseBankCard(s string) (BankCard, error) {
	for i, r := range s {
		if r < '0' || r > '9' {
			hint := ""
			if r == ' ' || r == '-' {
				hint = " (give the digits only)"
			}
			return BankCard{}, fail(CardFormat, fmt.Sprintf("character %q at position %d is not a digit%s", r, len([]rune(s[:i]))+1, hint))
		}
	}
	if len(s) < 16 || len(s) > 19 {
		return BankCard{}, fail(CardLength, fmt.Sprintf("has %d digits, expected 16 to 19", len(s)))
	}
	if want := LuhnCheckDigit(s[:len(s)-1]); s[len(s)-1] != want {
		return BankCard{}, fail(CardLuhn, fmt.Sprintf("check digit is %c, expected %c (Luhn)", s[len(s)-1], want))
	}
	sc, ok := schemeOf(s)
	if ok && !contains(sc.lengths, len(s)) {
		return BankCard{}, fail(CardLength, fmt.Sprintf("has %d digits, but %s numbers (prefix %s) have %s", len(s), sc.name, sc.say, lengthsText(sc.lengths)))
	}
	return BankCard{Number: s, Scheme: sc.name}, nil
}

// LuhnCheckDigit computes the digit that makes payload+digit pass the Luhn
// (mod 10) check: from the right, every second digit of the payload starting
// with the last is doubled, digits of products summed.
func LuhnCheckDigit(payload string) byte {
	sum := 0
	for i := 0; i < len(payload); i++ {
		d := int(payload[len(payload)-1-i] - '0')
		if i%2 == 0 {
			d *= 2
			if d > 9 {
				d -= 9
			}
		}
		sum += d
	}
	return byte('0' + (10-sum%10)%10)
}

func schemeOf(number string) (cardScheme, bool) {
	for _, sc := range cardSchemes {
		for _, p := range sc.prefixes {
			lo, hi, isRange := strings.Cut(p, "-")
			if !isRange {
				hi = lo
			}
			if len(number) >= len(lo) && number[:len(lo)] >= lo && number[:len(lo)] <= hi {
				return sc, true
			}
		}
	}
	return cardScheme{}, false
}

func contains(xs []int, x int) bool {
	for _, v := range xs {
		if v == x {
			return true
		}
	}
	return false
}

func lengthsText(ls []int) string {
	switch {
	case len(ls) == 1:
		return fmt.Sprintf("%d digits", ls[0])
	case ls[len(ls)-1]-ls[0] == len(ls)-1:
		return fmt.Sprintf("%d to %d digits", ls[0], ls[len(ls)-1])
	default:
		parts := make([]string, len(ls))
		for i, l := range ls {
			parts[i] = fmt.Sprint(l)
		}
		return strings.Join(parts[:len(parts)-1], ", ") + " or " + parts[len(parts)-1] + " digits"
	}
}
