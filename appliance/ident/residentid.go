package ident

import (
	"fmt"
	"time"
)

// MinWorkerAge is the youngest a worker may be: the Labour Law (劳动法 §15)
// forbids employing anyone under 16.
const MinWorkerAge = 16

// idWeights are 2^(18-i) mod 11 for positions 1 to 17 (GB 11643-1999 §7.2).
var idWeights = [17]int{7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2}

// idCheck maps the weighted sum mod 11 to the check character:
// (12 - sum mod 11) mod 11, with 10 written X (ISO 7064 MOD 11-2).
const idCheck = "10X98765432"

// ResidentID is a citizen identity number (公民身份号码) that passed every
// check.
type ResidentID struct {
	Number    string    // 18 characters; a lower-case x is returned as X
	Region    string    // first six digits: GB/T 2260 code where it was first issued
	Abolished bool      // the region code has been abolished since (still valid)
	Birth     time.Time // date of birth, midnight UTC
	Female    bool      // the 17th digit (sequence code) is even
}

// ParseResidentID checks an 18-character resident ID number (GB 11643-1999):
// 17 digits and a check digit (0-9 or X) by ISO 7064 MOD 11-2, a birth date
// that exists and is not after the date on, and a region
// code in GB/T 2260 (in force or abolished since 1980). It does not check
// age; WorkerResidentID does. on is read as a calendar date in its own
// location; the clock is never read here.
func ParseResidentID(id string, on time.Time) (ResidentID, error) {
	if err := idShape(id); err != nil {
		return ResidentID{}, err
	}
	number := id
	if id[17] == 'x' {
		number = id[:17] + "X"
	}
	want, _ := ResidentIDCheckDigit(id[:17])
	if number[17] != want {
		return ResidentID{}, fail(IDCheckDigit, fmt.Sprintf("check digit is %c, expected %c", id[17], want))
	}
	birth, err := idBirth(id[6:14], on)
	if err != nil {
		return ResidentID{}, err
	}
	known, abolished := LookupRegion(id[:6])
	if !known {
		return ResidentID{}, fail(IDRegion, fmt.Sprintf("region code %s is not in GB/T 2260 (neither in force nor abolished since 1980)", id[:6]))
	}
	return ResidentID{Number: number, Region: id[:6], Abolished: abolished, Birth: birth, Female: (id[16]-'0')%2 == 0}, nil
}

// WorkerResidentID is ParseResidentID plus the workers' age rule: on the
// date on, the holder is MinWorkerAge or older. A person reaches an age on
// the birthday itself; one born on 29 February reaches it on 1 March in
// years without a 29 February.
func WorkerResidentID(id string, on time.Time) (ResidentID, error) {
	r, err := ParseResidentID(id, on)
	if err != nil {
		return r, err
	}
	if age := r.AgeOn(on); age < MinWorkerAge {
		return ResidentID{}, fail(IDUnderage, fmt.Sprintf("is %d on %s (born %s); workers must be %d or older, from %s",
			age, day(on).Format(time.DateOnly), r.Birth.Format(time.DateOnly), MinWorkerAge, r.Birth.AddDate(MinWorkerAge, 0, 0).Format(time.DateOnly)))
	}
	return r, nil
}

// AgeOn is the holder's age in whole years on the date on.
func (r ResidentID) AgeOn(on time.Time) int {
	d := day(on)
	age := d.Year() - r.Birth.Year()
	if d.Before(r.Birth.AddDate(age, 0, 0)) {
		age--
	}
	return age
}

// ResidentIDCheckDigit computes the 18th character of a resident ID number
// from its first 17 digits.
func ResidentIDCheckDigit(first17 string) (byte, error) {
	if len(first17) != 17 {
		return 0, fmt.Errorf("need 17 digits, got %d", len(first17))
	}
	sum := 0
	for i := 0; i < 17; i++ {
		c := first17[i]
		if c < '0' || c > '9' {
			return 0, fmt.Errorf("character %q at position %d is not a digit", c, i+1)
		}
		sum += int(c-'0') * idWeights[i]
	}
	return idCheck[sum%11], nil
}

func idShape(id string) error {
	switch n := len([]rune(id)); {
	case n == 15:
		return fail(IDFormat, "has 15 characters: first-generation ID numbers are no longer valid; give the 18-character number")
	case n != 18:
		return fail(IDFormat, fmt.Sprintf("has %d characters, expected 18", n))
	case len(id) != 18:
		return fail(IDFormat, fmt.Sprintf("character %s is not a digit", firstNonASCII(id)))
	}
	for i := 0; i < 17; i++ {
		if id[i] < '0' || id[i] > '9' {
			return fail(IDFormat, fmt.Sprintf("character %q at position %d is not a digit", id[i], i+1))
		}
	}
	if c := id[17]; (c < '0' || c > '9') && c != 'X' && c != 'x' {
		return fail(IDFormat, fmt.Sprintf("check digit must be 0-9 or X, not %q", c))
	}
	return nil
}

// idBirth reads YYYYMMDD and checks that it is a real date, not after the
// date on.
func idBirth(s string, on time.Time) (time.Time, error) {
	y := atoi(s[0:4])
	m := atoi(s[4:6])
	d := atoi(s[6:8])
	t := time.Date(y, time.Month(m), d, 0, 0, 0, 0, time.UTC)
	if m < 1 || m > 12 || d < 1 || t.Day() != d {
		return time.Time{}, fail(IDBirthDate, fmt.Sprintf("birth date %s-%s-%s does not exist", s[0:4], s[4:6], s[6:8]))
	}
	if today := day(on); t.After(today) {
		return time.Time{}, fail(IDBirthDate, fmt.Sprintf("birth date %s is after %s", t.Format(time.DateOnly), today.Format(time.DateOnly)))
	}
	return t, nil
}

// day is the calendar date of t in its own location, as midnight UTC.
func day(t time.Time) time.Time {
	return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
}

func atoi(digits string) int {
	n := 0
	for i := 0; i < len(digits); i++ {
		n = n*10 + int(digits[i]-'0')
	}
	return n
}
