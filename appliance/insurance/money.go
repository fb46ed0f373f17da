package insurance

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"cxt/appliance/ident"
	"cxt/appliance/ledger"
)

// yuanPattern is an amount in yuan: at most 11 integer digits (below a
// billion yuan, far from int64's end) and at most two decimals; no sign,
// no exponent, no spaces.
var yuanPattern = regexp.MustCompile(`^(0|[1-9][0-9]{0,10})(\.[0-9]{1,2})?$`)

// ParseYuan reads an amount in yuan ("1234.5", "0.05") as fen, by integer
// arithmetic only.
func ParseYuan(s string) (int64, error) {
	if !yuanPattern.MatchString(s) {
		return 0, fmt.Errorf("%q is not an amount in yuan with at most two decimals, such as \"1234.50\"", s)
	}
	whole, frac, _ := strings.Cut(s, ".")
	for len(frac) < 2 {
		frac += "0"
	}
	y, _ := strconv.ParseInt(whole, 10, 64)
	f, _ := strconv.ParseInt(frac, 10, 64)
	return y*100 + f, nil
}

// Yuan shows fen as yuan with two decimals.
func Yuan(fen int64) string { return ledger.Yuan(fen) }

// China is the time zone dates are read in.
var China = time.FixedZone("CST", 8*60*60)

// Age is the holder of a resident ID number's age in whole years on the
// day of on in China, or -1 if the number does not parse. The number is
// only read here, never kept.
func Age(idNumber string, on time.Time) int {
	on = on.In(China)
	day := time.Date(on.Year(), on.Month(), on.Day(), 0, 0, 0, 0, time.UTC)
	id, err := ident.ParseResidentID(idNumber, day)
	if err != nil {
		return -1
	}
	return id.AgeOn(day)
}
