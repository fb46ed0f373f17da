// Package workerstest makes people with valid identifiers for tests and
// benchmarks: resident ID numbers that pass GB 11643 (region 110105,
// Beijing Chaoyang), mobile numbers and UnionPay card numbers that pass
// Luhn, each distinct for a distinct n.
package workerstest

import (
	"fmt"
	"strings"
	"time"

	"cxt/appliance/ident"
)

// ID returns the n-th resident ID number (n < 3,650,000): born between 1
// January 1970 and 2009, sequence code n mod 998 (never 999, which the
// sandbox verifier knows no record of).
func ID(n int) string {
	day := time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, n/998%(40*365))
	first := fmt.Sprintf("110105%s%03d", day.Format("20060102"), n%998)
	c, _ := ident.ResidentIDCheckDigit(first)
	return first + string(c)
}

// Born returns a valid resident ID number of someone born on the date.
func Born(date time.Time, seq int) string {
	first := fmt.Sprintf("110105%s%03d", date.Format("20060102"), seq%1000)
	c, _ := ident.ResidentIDCheckDigit(first)
	return first + string(c)
}

// Phone returns the n-th mobile number (n < 10^8).
func Phone(n int) string { return fmt.Sprintf("139%08d", n) }

// Card returns the n-th UnionPay card number: 19 digits.
func Card(n int) string {
	payload := fmt.Sprintf("622202%012d", n)
	return payload + string(ident.LuhnCheckDigit(payload))
}

// Name returns the n-th name: a surname and one or two given characters.
func Name(n int) string {
	surnames := []rune("王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗")
	given := []rune("伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉萍红")
	s := string(surnames[n%len(surnames)]) + string(given[n/len(surnames)%len(given)])
	if n%3 == 0 {
		s += string(given[n/7%len(given)])
	}
	return s
}

// CSV returns an invitation file of rows people from first on, header
// included.
func CSV(first, rows int) []byte {
	var b strings.Builder
	b.WriteString("name,id_number,phone,bank_card\n")
	for n := first; n < first+rows; n++ {
		fmt.Fprintf(&b, "%s,%s,%s,%s\n", Name(n), ID(n), Phone(n), Card(n))
	}
	return []byte(b.String())
}
