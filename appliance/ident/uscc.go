package ident

import (
	"fmt"
	"strings"
)

// usccAlphabet is GB 32100's 31 characters in value order: the digits and
// the capitals without I, O, S, V and Z.
const usccAlphabet = "0123456789ABCDEFGHJKLMNPQRTUWXY"

// usccWeights are 3^(i-1) mod 31 for positions 1 to 17 (GB 32100 §5).
var usccWeights = [17]int{1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28}

// usccTypes gives, per registration authority, the organisation types it
// assigns. GB 32100-2015 itself defines 1 (编制), 5 (民政) and 9 (市场监管,
// formerly 工商); the other authorities were assigned codes later and use
// types from 1-5 and 9, so for them only that range is checked.
var usccTypes = map[byte]string{
	'1': "1239", '2': "123459", '3': "123459", '4': "123459", '5': "1239",
	'6': "123459", '7': "123459", '8': "123459", '9': "123",
	'A': "123459", 'N': "123459", 'Y': "123459",
}

var usccTypeNames = map[byte]string{
	'1': "institutional staffing: 1 organ, 2 public institution, 3 mass organisation, 9 other",
	'5': "civil affairs: 1 social group, 2 private non-enterprise unit, 3 foundation, 9 other",
	'9': "market regulation: 1 enterprise, 2 individual business, 3 farmers' cooperative",
}

// USCC is a unified social credit code that passed every check.
type USCC struct {
	Code      string // the 18 characters
	Authority byte   // 1st: registration authority ('9' market regulation, '5' civil affairs, ...)
	Type      byte   // 2nd: organisation type within the authority ('1' enterprise, ...)
	Area      string // 3rd-8th: area code of the registering authority (100000 for national)
	OrgCode   string // 9th-17th: the GB 11714 organisation code, its own check character last
}

// ParseUSCC checks a unified social credit code (GB 32100-2015): 18
// characters from the 31-character alphabet, an assigned registration
// authority and organisation type, six digits of area, the check character
// of the embedded GB 11714 organisation code, and the check character.
// Letters must be upper-case, as the standard writes them.
func ParseUSCC(code string) (USCC, error) {
	if n := len([]rune(code)); n != 18 {
		return USCC{}, fail(USCCFormat, fmt.Sprintf("has %d characters, expected 18", n))
	}
	if len(code) != 18 {
		return USCC{}, fail(USCCFormat, fmt.Sprintf("character %s is not allowed (0-9, A-H, J-N, P-R, T, U, W-Y)", firstNonASCII(code)))
	}
	for i := 0; i < 18; i++ {
		if strings.IndexByte(usccAlphabet, code[i]) < 0 {
			return USCC{}, fail(USCCFormat, fmt.Sprintf("character %q at position %d is not allowed (0-9, A-H, J-N, P-R, T, U, W-Y%s)",
				code[i], i+1, caseHint(code[i])))
		}
	}
	types, ok := usccTypes[code[0]]
	if !ok {
		return USCC{}, fail(USCCAuthority, fmt.Sprintf("registration authority code %c is not assigned (1-9, A, N, Y)", code[0]))
	}
	if strings.IndexByte(types, code[1]) < 0 {
		what := usccTypeNames[code[0]]
		if what == "" {
			what = "types 1-5 and 9"
		}
		return USCC{}, fail(USCCType, fmt.Sprintf("organisation type %c is not used by registration authority %c (%s)", code[1], code[0], what))
	}
	for i := 2; i < 8; i++ {
		if code[i] < '0' || code[i] > '9' {
			return USCC{}, fail(USCCFormat, fmt.Sprintf("character %c at position %d: the area code (positions 3-8) is six digits", code[i], i+1))
		}
	}
	want, _ := USCCCheckChar(code[:17])
	if code[17] != want {
		return USCC{}, fail(USCCCheckCharacter, fmt.Sprintf("check character is %c, expected %c", code[17], want))
	}
	org := code[8:17]
	if c := org[8]; (c < '0' || c > '9') && c != 'X' {
		return USCC{}, fail(USCCOrgCode, fmt.Sprintf("organisation code %s: its check character (position 17) must be a digit or X, not %c", org, c))
	}
	if w := orgCodeCheck(org[:8]); org[8] != w {
		return USCC{}, fail(USCCOrgCode, fmt.Sprintf("organisation code %s: its check character is %c, expected %c (GB 11714)", org, org[8], w))
	}
	return USCC{Code: code, Authority: code[0], Type: code[1], Area: code[2:8], OrgCode: org}, nil
}

// USCCCheckChar computes the 18th character of a unified social credit
// code from its first 17: C18 = 31 - (Σ value(Ci)·3^(i-1) mod 31), 31 read
// as 0, written with the alphabet.
func USCCCheckChar(first17 string) (byte, error) {
	if len(first17) != 17 {
		return 0, fmt.Errorf("need 17 characters, got %d", len(first17))
	}
	sum := 0
	for i := 0; i < 17; i++ {
		v := strings.IndexByte(usccAlphabet, first17[i])
		if v < 0 {
			return 0, fmt.Errorf("character %q at position %d is not in the alphabet", first17[i], i+1)
		}
		sum += v * usccWeights[i]
	}
	return usccAlphabet[(31-sum%31)%31], nil
}

// orgCodeCheck is GB 11714-1997's check character over the eight body
// characters: digits count as themselves, letters A-Z as 10-35; weights
// 3 7 9 10 5 8 4 2; C9 = 11 - (sum mod 11), 10 written X and 11 written 0.
func orgCodeCheck(body string) byte {
	weights := [8]int{3, 7, 9, 10, 5, 8, 4, 2}
	sum := 0
	for i := 0; i < 8; i++ {
		c := body[i]
		v := int(c - '0')
		if c >= 'A' && c <= 'Z' {
			v = int(c-'A') + 10
		}
		sum += v * weights[i]
	}
	switch c := 11 - sum%11; c {
	case 10:
		return 'X'
	case 11:
		return '0'
	default:
		return byte('0' + c)
	}
}

func caseHint(c byte) string {
	if c >= 'a' && c <= 'z' {
		return "; letters are upper-case"
	}
	return ""
}

// firstNonASCII quotes the first character outside ASCII, for messages about
// input that is the right length in characters but not in bytes.
func firstNonASCII(s string) string {
	for i, r := range s {
		if r >= 0x80 {
			return fmt.Sprintf("%q at position %d", r, len([]rune(s[:i]))+1)
		}
	}
	return "?"
}
