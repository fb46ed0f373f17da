// Package taxoffice checks the codes of tax offices (税务机关代码) that scope
// what the gateway serves: 11 digits, the first 1 (the tax administration's
// system), then the six-digit administrative division the office serves
// (GB/T 2260), whose first two digits are a province's, then four digits
// the administration assigns — 14403000000 is the Shenzhen municipal
// bureau. The check is of the form only: the appliance holds no list of
// the offices that exist.
package taxoffice

import (
	"fmt"
	"slices"
)

// Len is the length of a tax office code.
const Len = 11

// provinces are the two-digit province codes of GB/T 2260, Hong Kong,
// Macao and Taiwan included.
var provinces = []string{"11", "12", "13", "14", "15", "21", "22", "23", "31", "32", "33", "34", "35", "36", "37",
	"41", "42", "43", "44", "45", "46", "50", "51", "52", "53", "54", "61", "62", "63", "64", "65", "71", "81", "82"}

// Check refuses a code that is not of a tax office's form.
func Check(code string) error {
	if len(code) != Len {
		return fmt.Errorf("tax office %q: a tax office code is %d digits", code, Len)
	}
	for i := 0; i < len(code); i++ {
		if code[i] < '0' || code[i] > '9' {
			return fmt.Errorf("tax office %q: a tax office code is %d digits", code, Len)
		}
	}
	if code[0] != '1' {
		return fmt.Errorf("tax office %q: a tax office code starts with 1", code)
	}
	if !slices.Contains(provinces, code[1:3]) {
		return fmt.Errorf("tax office %q: digits 2-3 are not a province's code (GB/T 2260)", code)
	}
	return nil
}
