package ident

import (
	"errors"
	"math/rand/v2"
	"strings"
	"testing"
)

func TestParseUSCCAcceptsPublishedCodes(t *testing.T) {
	for _, c := range []struct{ code, why string }{
		{"91350100M000100Y43", "the example most explanations of GB 32100 use: an enterprise registered in Fuzhou"},
		{"92141127MA0KD1Y64A", "an individual business (type 2) in Shanxi, quoted as real in a validator's issue tracker"},
		{"12440600MB2C07549J", "a public institution (authority 1, type 2) in Foshan"},
	} {
		u, err := ParseUSCC(c.code)
		if err != nil {
			t.Errorf("%s (%s): %v", c.code, c.why, err)
			continue
		}
		if u.Code != c.code || u.Authority != c.code[0] || u.Type != c.code[1] || u.Area != c.code[2:8] || u.OrgCode != c.code[8:17] {
			t.Errorf("%s: parts %+v", c.code, u)
		}
	}
}

// A registered company whose code was issued with a wrong check character
// (a validator's issue thread says the last character "should be J"). cxt
// follows the standard and refuses it; docs/validation.md says so.
func TestParseUSCCRefusesARealCodeWithAWrongCheckCharacter(t *testing.T) {
	_, err := ParseUSCC("91350203M0001FUE2P")
	if codeOf(t, err) != USCCCheckCharacter || err.Error() != "check character is P, expected J" {
		t.Fatalf("got %v", err)
	}
}

// withCheck completes 17 characters with their check character.
func withCheck(t *testing.T, first17 string) string {
	t.Helper()
	c, err := USCCCheckChar(first17)
	if err != nil {
		t.Fatal(err)
	}
	return first17 + string(c)
}

func TestParseUSCCRejections(t *testing.T) {
	for _, c := range []struct {
		name, code string
		want       Code
		msg        string
	}{
		{"is empty", "", USCCFormat, "has 0 characters, expected 18"},
		{"is a character short", "91350100M000100Y4", USCCFormat, "has 17 characters, expected 18"},
		{"is a character long", "91350100M000100Y430", USCCFormat, "has 19 characters, expected 18"},
		{"uses the letter I", "91350100M000100I43", USCCFormat, `character 'I' at position 16 is not allowed (0-9, A-H, J-N, P-R, T, U, W-Y)`},
		{"uses the letter O", "91350100MO00100Y43", USCCFormat, `character 'O' at position 10 is not allowed (0-9, A-H, J-N, P-R, T, U, W-Y)`},
		{"uses the letters S, V and Z", "9135010SV000100Z43", USCCFormat, `character 'S' at position 8 is not allowed (0-9, A-H, J-N, P-R, T, U, W-Y)`},
		{"is lower-case", "91350100m000100y43", USCCFormat, `character 'm' at position 9 is not allowed (0-9, A-H, J-N, P-R, T, U, W-Y; letters are upper-case)`},
		{"has a full-width digit", "91350100M000100Y4３", USCCFormat, `character '３' at position 18 is not allowed (0-9, A-H, J-N, P-R, T, U, W-Y)`},
		{"has a space", "91350100 000100Y43", USCCFormat, `character ' ' at position 9 is not allowed (0-9, A-H, J-N, P-R, T, U, W-Y)`},
		{"names no registration authority", withCheck(t, "01350100M000100Y4"), USCCAuthority, "registration authority code 0 is not assigned (1-9, A, N, Y)"},
		{"names an unassigned authority", withCheck(t, "B1350100M000100Y4"), USCCAuthority, "registration authority code B is not assigned (1-9, A, N, Y)"},
		{"has a type market regulation does not use", withCheck(t, "94350100M000100Y4"), USCCType,
			"organisation type 4 is not used by registration authority 9 (market regulation: 1 enterprise, 2 individual business, 3 farmers' cooperative)"},
		{"has a type civil affairs does not use", withCheck(t, "54350100M000100Y4"), USCCType,
			"organisation type 4 is not used by registration authority 5 (civil affairs: 1 social group, 2 private non-enterprise unit, 3 foundation, 9 other)"},
		{"has a type 0", withCheck(t, "N0350100M000100Y4"), USCCType, "organisation type 0 is not used by registration authority N (types 1-5 and 9)"},
		{"has a letter in the area", withCheck(t, "9135A100M000100Y4"), USCCFormat, "character A at position 5: the area code (positions 3-8) is six digits"},
		{"has a wrong check character", "91350100M000100Y44", USCCCheckCharacter, "check character is 4, expected 3"},
		{"has two characters swapped", "91350100M000010Y43", USCCCheckCharacter, "check character is 3, expected J"},
		{"carries an organisation code with a letter for its check", withCheck(t, "91350100M000100YA"), USCCOrgCode,
			"organisation code M000100YA: its check character (position 17) must be a digit or X, not A"},
		{"carries an organisation code that fails GB 11714", withCheck(t, "91350100M000100Y5"), USCCOrgCode,
			"organisation code M000100Y5: its check character is 5, expected 4 (GB 11714)"},
	} {
		_, err := ParseUSCC(c.code)
		if got := codeOf(t, err); got != c.want || err.Error() != c.msg {
			t.Errorf("a code that %s (%q): got %q %v, want %q %q", c.name, c.code, got, err, c.want, c.msg)
		}
	}
}

// randomUSCC builds a valid code: an assigned authority and type, random
// area digits, a random organisation code body with its GB 11714 check, and
// the check character.
func randomUSCC(r *rand.Rand) string {
	auths := "123456789ANY"
	a := auths[r.IntN(len(auths))]
	types := usccTypes[a]
	b := make([]byte, 0, 18)
	b = append(b, a, types[r.IntN(len(types))])
	for range 6 {
		b = append(b, byte('0'+r.IntN(10)))
	}
	for range 8 {
		b = append(b, usccAlphabet[r.IntN(len(usccAlphabet))])
	}
	b = append(b, orgCodeCheck(string(b[8:16])))
	c, _ := USCCCheckChar(string(b))
	return string(append(b, c))
}

// The computed check character makes any well-formed code valid, and
// changing any one character of a valid code to any other character of the
// alphabet makes it invalid: the weights 3^i mod 31 are non-zero mod the
// prime 31, so no single substitution keeps the sum.
func TestUSCCCheckCharacterProperties(t *testing.T) {
	r := newRand(t)
	for range 300 {
		code := randomUSCC(r)
		if _, err := ParseUSCC(code); err != nil {
			t.Fatalf("%s: %v", code, err)
		}
		for i := range 18 {
			for _, c := range []byte(usccAlphabet) {
				if c == code[i] {
					continue
				}
				changed := code[:i] + string(c) + code[i+1:]
				if _, err := ParseUSCC(changed); err == nil {
					t.Fatalf("%s with position %d changed to %c (%s) is still valid", code, i+1, c, changed)
				}
			}
		}
	}
}

func TestUSCCCheckCharRefusesBadInput(t *testing.T) {
	for _, s := range []string{"", "91350100M000100Y", "91350100M000100Y43", "91350100M000100I4"} {
		if _, err := USCCCheckChar(s); err == nil {
			t.Errorf("USCCCheckChar(%q) accepted", s)
		}
	}
	if strings.ContainsAny(usccAlphabet, "IOSVZ") || len(usccAlphabet) != 31 {
		t.Fatalf("alphabet %q", usccAlphabet)
	}
	for i, w := range usccWeights {
		p := 1
		for range i {
			p = p * 3 % 31
		}
		if w != p {
			t.Errorf("weight %d is %d, 3^%d mod 31 is %d", i+1, w, i, p)
		}
	}
}

func TestTaxOfficeCodesAreElevenDigitsOfAKnownArea(t *testing.T) {
	for _, good := range []string{"11101050000", "14403000000", "13201060001"} {
		if err := CheckTaxOffice(good); err != nil {
			t.Errorf("%s: %v", good, err)
		}
	}
	for code, want := range map[string]Code{
		"1110105000": TaxOfficeFormat, "21101050000": TaxOfficeFormat, "1110105000X": TaxOfficeFormat,
		"111010500000": TaxOfficeFormat, "19999990000": TaxOfficeRegion, "": TaxOfficeFormat,
	} {
		var e *Error
		if err := CheckTaxOffice(code); !errors.As(err, &e) || e.Code != want {
			t.Errorf("%q: %v, want %s", code, err, want)
		}
	}
	if got := TaxOfficeOf(USCC{Area: "110105"}); got != "11101050000" || CheckTaxOffice(got) != nil {
		t.Errorf("the office of area 110105 is %s", got)
	}
}
