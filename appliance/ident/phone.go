package ident

import (
	"fmt"
	"strings"
)

// ParsePhone checks a mainland China mobile number: 11 digits starting 13
// to 19, optionally written with the country code +86 in front. It returns
// the 11 digits. Spaces, dashes and landline numbers are refused: workers
// register with the mobile number that receives their SMS codes.
func ParsePhone(s string) (string, error) {
	n := strings.TrimPrefix(s, "+86")
	for i, r := range n {
		if r < '0' || r > '9' {
			return "", fail(PhoneFormat, fmt.Sprintf("character %q at position %d is not a digit", r, len([]rune(s))-len([]rune(n[i:]))+1))
		}
	}
	if len(n) != 11 {
		return "", fail(PhoneFormat, fmt.Sprintf("has %d digits, expected 11", len(n)))
	}
	if n[0] != '1' || n[1] < '3' {
		return "", fail(PhoneFormat, fmt.Sprintf("starts %s: mainland mobile numbers start 13 to 19", n[:2]))
	}
	return n, nil
}
