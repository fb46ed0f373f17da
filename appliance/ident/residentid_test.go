package ident

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"
)

var today = date(2026, time.November, 27)

// idWith completes 17 digits with their check digit.
func idWith(t testing.TB, first17 string) string {
	t.Helper()
	c, err := ResidentIDCheckDigit(first17)
	if err != nil {
		t.Fatal(err)
	}
	return first17 + string(c)
}

func TestParseResidentIDAcceptsTheStandardsExamples(t *testing.T) {
	for _, c := range []struct {
		id, region string
		abolished  bool
		birth      time.Time
		female     bool
		why        string
	}{
		{"11010519491231002X", "110105", false, date(1949, 12, 31), true, "GB 11643-1999's example: Chaoyang district, Beijing"},
		{"440524188001010014", "440524", true, date(1880, 1, 1), false, "GB 11643-1999's second example: Chaoyang county, Shantou, abolished in 1993"},
	} {
		r, err := ParseResidentID(c.id, today)
		if err != nil {
			t.Errorf("%s (%s): %v", c.id, c.why, err)
			continue
		}
		if r.Number != c.id || r.Region != c.region || r.Abolished != c.abolished || !r.Birth.Equal(c.birth) || r.Female != c.female {
			t.Errorf("%s: %+v", c.id, r)
		}
	}
}

func TestParseResidentIDTakesALowerCaseXAsX(t *testing.T) {
	r, err := ParseResidentID("11010519491231002x", today)
	if err != nil || r.Number != "11010519491231002X" {
		t.Fatalf("%+v %v", r, err)
	}
}

// A worker born in 1980 in Chongwen district, Beijing, which merged into
// Dongcheng in 2010, still carries 110103.
func TestParseResidentIDAcceptsAbolishedRegions(t *testing.T) {
	id := idWith(t, "11010319800215003")
	r, err := WorkerResidentID(id, today)
	if err != nil || !r.Abolished || r.Region != "110103" {
		t.Fatalf("%s: %+v %v", id, r, err)
	}
}

func TestParseResidentIDRejections(t *testing.T) {
	for _, c := range []struct {
		name, id string
		want     Code
		msg      string
	}{
		{"is empty", "", IDFormat, "has 0 characters, expected 18"},
		{"is first-generation (15 digits)", "110105491231002", IDFormat, "has 15 characters: first-generation ID numbers are no longer valid; give the 18-character number"},
		{"is a digit short", "11010519491231002", IDFormat, "has 17 characters, expected 18"},
		{"is a digit long", "11010519491231002X1", IDFormat, "has 19 characters, expected 18"},
		{"has a letter in the body", "1101051949123100AX", IDFormat, `character 'A' at position 17 is not a digit`},
		{"has a full-width digit", "１1010519491231002X", IDFormat, `character '１' at position 1 is not a digit`},
		{"ends in a letter other than X", "11010519491231002Y", IDFormat, `check digit must be 0-9 or X, not 'Y'`},
		{"has a wrong check digit", "110105194912310025", IDCheckDigit, "check digit is 5, expected X"},
		{"has two digits swapped", "110105194912310202", IDCheckDigit, "check digit is 2, expected 6"},
		{"was born in month 13", idWith(t, "11010519491331002"), IDBirthDate, "birth date 1949-13-31 does not exist"},
		{"was born on 30 February", idWith(t, "11010520000230002"), IDBirthDate, "birth date 2000-02-30 does not exist"},
		{"was born on 29 February of a common year", idWith(t, "11010519990229002"), IDBirthDate, "birth date 1999-02-29 does not exist"},
		{"was born on day 0", idWith(t, "11010519990100002"), IDBirthDate, "birth date 1999-01-00 does not exist"},
		{"is born tomorrow", idWith(t, "11010520261128002"), IDBirthDate, "birth date 2026-11-28 is after 2026-11-27"},
		{"names a region that never existed", idWith(t, "99999919800101002"), IDRegion, "region code 999999 is not in GB/T 2260 (neither in force nor abolished since 1980)"},
		{"names a Taiwan residence permit's 830000", idWith(t, "83000019800101002"), IDRegion, "region code 830000 is not in GB/T 2260 (neither in force nor abolished since 1980)"},
	} {
		_, err := ParseResidentID(c.id, today)
		if got := codeOf(t, err); got != c.want || err.Error() != c.msg {
			t.Errorf("an ID that %s (%q): got %q %v, want %q %q", c.name, c.id, got, err, c.want, c.msg)
		}
	}
}

func TestWorkerResidentIDAgeRule(t *testing.T) {
	for _, c := range []struct {
		name  string
		birth string
		on    time.Time
		ok    bool
		msg   string
	}{
		{"the day before the 16th birthday", "20101128", today, false, "is 15 on 2026-11-27 (born 2010-11-28); workers must be 16 or older, from 2026-11-28"},
		{"on the 16th birthday", "20101127", today, true, ""},
		{"born today", "20261127", today, false, "is 0 on 2026-11-27 (born 2026-11-27); workers must be 16 or older, from 2042-11-27"},
		{"born on 29 February, on 28 February of the 16th year", "20080229", date(2024, 2, 28), false, "is 15 on 2024-02-28 (born 2008-02-29); workers must be 16 or older, from 2024-02-29"},
		{"born on 29 February, on the 16th birthday (a leap year)", "20080229", date(2024, 2, 29), true, ""},
	} {
		id := idWith(t, "110105"+c.birth+"002")
		_, err := WorkerResidentID(id, c.on)
		if c.ok && err != nil {
			t.Errorf("%s: %v", c.name, err)
		}
		if !c.ok && (codeOf(t, err) != IDUnderage || err.Error() != c.msg) {
			t.Errorf("%s: got %v, want %q", c.name, err, c.msg)
		}
	}
}

// Someone born on 29 February has a birthday on 1 March in years without
// one: the year is complete only when 28 February is over.
func TestAgeOnFor29February(t *testing.T) {
	r := ResidentID{Birth: date(2008, 2, 29)}
	for _, c := range []struct {
		on  time.Time
		age int
	}{
		{date(2024, 2, 28), 15}, {date(2024, 2, 29), 16},
		{date(2025, 2, 28), 16}, {date(2025, 3, 1), 17},
		{date(2026, 2, 28), 17}, {date(2026, 3, 1), 18},
	} {
		if got := r.AgeOn(c.on); got != c.age {
			t.Errorf("on %s: age %d, want %d", c.on.Format(time.DateOnly), got, c.age)
		}
	}
}

// A day in any time zone is that zone's calendar date: 00:30 on the 16th
// birthday in Beijing is already the birthday, though it is the day before
// in UTC.
func TestWorkerResidentIDReadsTheDateInItsOwnLocation(t *testing.T) {
	beijing := time.FixedZone("CST", 8*3600)
	id := idWith(t, "11010520101127002")
	if _, err := WorkerResidentID(id, time.Date(2026, 11, 27, 0, 30, 0, 0, beijing)); err != nil {
		t.Fatal(err)
	}
}

// randomID builds a valid number: a region from the table, a birth date
// between 1900 and on, a sequence code and the check digit.
func randomID(r *rand.Rand, regions []int, on time.Time) string {
	region := regions[r.IntN(len(regions))]
	days := int(on.Sub(date(1900, 1, 1)).Hours() / 24)
	birth := date(1900, 1, 1).AddDate(0, 0, r.IntN(days+1))
	first17 := fmt.Sprintf("%06d%s%03d", region, birth.Format("20060102"), r.IntN(1000))
	c, _ := ResidentIDCheckDigit(first17)
	return first17 + string(c)
}

func regionList() []int {
	var out []int
	for c := range regions() {
		out = append(out, c)
	}
	return out
}

// The check digit completes any 17 digits of a real region and date into a
// valid number; changing any one character to any other digit or X makes it
// invalid (MOD 11-2 catches every single substitution); the age is the
// number of birthdays passed.
func TestResidentIDProperties(t *testing.T) {
	r := newRand(t)
	rs := regionList()
	for range 500 {
		id := randomID(r, rs, today)
		got, err := ParseResidentID(id, today)
		if err != nil {
			t.Fatalf("%s: %v", id, err)
		}
		for i := range 18 {
			for _, c := range []byte("0123456789X") {
				if c == id[i] {
					continue
				}
				changed := id[:i] + string(c) + id[i+1:]
				if _, err := ParseResidentID(changed, today); err == nil {
					t.Fatalf("%s with position %d changed to %c (%s) is still valid", id, i+1, c, changed)
				}
			}
		}
		n := r.IntN(100)
		birthday := got.Birth.AddDate(n, 0, 0)
		if a := got.AgeOn(birthday); a != n {
			t.Fatalf("%s: age on birthday %d (%s) is %d", id, n, birthday.Format(time.DateOnly), a)
		}
		if n > 0 {
			if a := got.AgeOn(birthday.AddDate(0, 0, -1)); a != n-1 {
				t.Fatalf("%s: age the day before birthday %d is %d", id, n, a)
			}
		}
	}
}

func TestResidentIDCheckDigitRefusesBadInput(t *testing.T) {
	for _, s := range []string{"", "1101051949123100", "11010519491231002X", "1101051949123100A"} {
		if _, err := ResidentIDCheckDigit(s); err == nil {
			t.Errorf("ResidentIDCheckDigit(%q) accepted", s)
		}
	}
	for i, w := range idWeights {
		if p := (1 << (17 - i)) % 11; w != p {
			t.Errorf("weight %d is %d, 2^%d mod 11 is %d", i+1, w, 17-i, p)
		}
	}
}
