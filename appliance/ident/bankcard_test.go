package ident

import (
	"strings"
	"testing"
)

// The card networks' published test numbers.
func TestParseBankCardAcceptsPublishedTestNumbers(t *testing.T) {
	for _, c := range []struct{ number, scheme string }{
		{"6200000000000005", "UnionPay"},
		{"6205500000000000004", "UnionPay"},
		{"4111111111111111", "Visa"},
		{"5555555555554444", "Mastercard"},
		{"2223003122003222", "Mastercard"},
		{"3566002020360505", "JCB"},
		{"6011111111111117", "Discover"},
	} {
		got, err := ParseBankCard(c.number)
		if err != nil || got.Scheme != c.scheme || got.Number != c.number {
			t.Errorf("%s: %+v %v, want %s", c.number, got, err, c.scheme)
		}
	}
}

// withLuhn completes a payload with its Luhn check digit.
func withLuhn(payload string) string { return payload + string(LuhnCheckDigit(payload)) }

func TestParseBankCardRejections(t *testing.T) {
	for _, c := range []struct {
		name, in string
		want     Code
		msg      string
	}{
		{"is empty", "", CardLength, "has 0 digits, expected 16 to 19"},
		{"is written in groups", "6200 0000 0000 0005", CardFormat, `character ' ' at position 5 is not a digit (give the digits only)`},
		{"is written with dashes", "6200-0000-0000-0005", CardFormat, `character '-' at position 5 is not a digit (give the digits only)`},
		{"has a letter", "62000000000000O5", CardFormat, `character 'O' at position 15 is not a digit`},
		{"is an American Express number (15 digits)", "378282246310005", CardLength, "has 15 digits, expected 16 to 19"},
		{"is 20 digits", withLuhn("6200000000000000000"), CardLength, "has 20 digits, expected 16 to 19"},
		{"has a wrong check digit", "6200000000000006", CardLuhn, "check digit is 6, expected 5 (Luhn)"},
		{"has two digits swapped", "4111111111111121", CardLuhn, "check digit is 1, expected 9 (Luhn)"},
		{"is a 19-digit Mastercard", withLuhn("555555555555444400"), CardLength, "has 19 digits, but Mastercard numbers (prefix 51-55 or 2221-2720) have 16 digits"},
		{"is a 17-digit Visa", withLuhn("4111111111111111"), CardLength, "has 17 digits, but Visa numbers (prefix 4) have 16 or 19 digits"},
	} {
		_, err := ParseBankCard(c.in)
		if got := codeOf(t, err); got != c.want || err.Error() != c.msg {
			t.Errorf("a number that %s (%q): got %q %v, want %q %q", c.name, c.in, got, err, c.want, c.msg)
		}
	}
}

// A prefix outside the listed schemes (a Chinese bank's own older BIN) is
// held to 16-19 digits and the Luhn check only.
func TestParseBankCardAcceptsUnlistedPrefixesOfAnyAllowedLength(t *testing.T) {
	for n := 16; n <= 19; n++ {
		number := withLuhn("9558" + strings.Repeat("1", n-5))
		got, err := ParseBankCard(number)
		if err != nil || got.Scheme != "" {
			t.Errorf("%s: %+v %v", number, got, err)
		}
	}
}

// The Luhn digit completes any payload into a passing number, and changing
// any one digit breaks it (Luhn catches every single-digit error).
func TestLuhnProperties(t *testing.T) {
	r := newRand(t)
	for range 1000 {
		n := 15 + r.IntN(4)
		b := make([]byte, n)
		b[0] = byte('1' + r.IntN(9))
		for i := 1; i < n; i++ {
			b[i] = byte('0' + r.IntN(10))
		}
		number := withLuhn(string(b))
		if !luhnValid(number) {
			t.Fatalf("%s fails Luhn", number)
		}
		for i := range number {
			for d := byte('0'); d <= '9'; d++ {
				if d == number[i] {
					continue
				}
				if changed := number[:i] + string(d) + number[i+1:]; luhnValid(changed) {
					t.Fatalf("%s with position %d changed to %c still passes", number, i+1, d)
				}
			}
		}
	}
}

func luhnValid(number string) bool {
	return LuhnCheckDigit(number[:len(number)-1]) == number[len(number)-1]
}

func TestLengthsText(t *testing.T) {
	for _, c := range []struct {
		ls   []int
		want string
	}{
		{[]int{16}, "16 digits"},
		{[]int{16, 19}, "16 or 19 digits"},
		{[]int{16, 17, 18, 19}, "16 to 19 digits"},
		{[]int{13, 16, 19}, "13, 16 or 19 digits"},
	} {
		if got := lengthsText(c.ls); got != c.want {
			t.Errorf("%v: %q", c.ls, got)
		}
	}
}
