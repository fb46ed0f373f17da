package ident

import "fmt"

// Tax office codes (税务机关代码) are eleven digits: 1, the six-digit
// GB/T 2260 area code of the office's administrative area, and four digits
// the administration assigns within it — 11101050000 is the office of
// Beijing's Chaoyang district. cxt uses them to scope the tax bureaus'
// gateway clients.

// CheckTaxOffice checks a tax office code's form and area.
func CheckTaxOffice(code string) error {
	if len(code) != 11 || code[0] != '1' {
		return fail(TaxOfficeFormat, fmt.Sprintf("tax office code %q: eleven digits, the first 1", code))
	}
	for i := range len(code) {
		if code[i] < '0' || code[i] > '9' {
			return fail(TaxOfficeFormat, fmt.Sprintf("tax office code %q: eleven digits, the first 1", code))
		}
	}
	if known, _ := LookupRegion(code[1:7]); !known {
		return fail(TaxOfficeRegion, fmt.Sprintf("tax office code %s: area %s is not a GB/T 2260 area code", code, code[1:7]))
	}
	return nil
}

// TaxOfficeOf is the office a merchant registered in the area of its credit
// code is presumed to file with: that area's first office (area + 0000).
// A merchant that files elsewhere says so when it applies.
func TaxOfficeOf(u USCC) string { return "1" + u.Area + "0000" }
