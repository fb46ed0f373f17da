package topups

import (
	"encoding/binary"
	"slices"
	"strconv"

	"cxt/crypto/sm"
)

// A remittance code (汇款识别码) is what a merchant writes in the memo of a
// transfer so that the platform recognises whose money it is: "CX", six
// characters of Crockford's base 32 (no I, L, O or U) and a check
// character (Luhn mod 32), e.g. CX4K7QP25. The check character catches
// every single mistyped character and most swapped neighbours, so a typo
// never lands on another merchant's code; O, I and L are read as 0, 1 and
// 1, as Crockford's alphabet reads them.
const (
	codePrefix   = "CX"
	codeAlphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
	codeData     = 6
	codeLen      = len(codePrefix) + codeData + 1
)

// candidateCode is a merchant's n-th candidate code: derived from its ID,
// so that every replica issues the same one; the next candidate is taken
// only when another merchant holds this one.
func candidateCode(merchant string, n int) string {
	h := sm.Sum([]byte("cxt/remittance-code/v1\x00" + merchant + "\x00" + strconv.Itoa(n)))
	v := binary.BigEndian.Uint64(h[:8])
	out := []byte(codePrefix)
	for range codeData {
		out = append(out, codeAlphabet[v&31])
		v >>= 5
	}
	return string(append(out, codeAlphabet[checkChar(out[len(codePrefix):])]))
}

// value is a character's place in the alphabet, reading O, I and L as
// Crockford does; -1 if it is none.
func value(c byte) int {
	switch c {
	case 'O':
		c = '0'
	case 'I', 'L':
		c = '1'
	}
	for i := range len(codeAlphabet) {
		if codeAlphabet[i] == c {
			return i
		}
	}
	return -1
}

// checkChar is the Luhn mod 32 check character of data (upper-case
// alphabet characters).
func checkChar(data []byte) int {
	factor, sum := 2, 0
	for i := len(data) - 1; i >= 0; i-- {
		a := factor * value(data[i])
		sum += a/32 + a%32
		factor = 3 - factor
	}
	return (32 - sum%32) % 32
}

// normalCode returns s as its canonical code if it is one (upper case,
// O/I/L read as digits, check character right).
func normalCode(s string) (string, bool) {
	if len(s) != codeLen || s[:2] != codePrefix {
		return "", false
	}
	out := []byte(codePrefix)
	for i := len(codePrefix); i < codeLen; i++ {
		v := value(s[i])
		if v < 0 {
			return "", false
		}
		out = append(out, codeAlphabet[v])
	}
	if value(out[codeLen-1]) != checkChar(out[len(codePrefix):codeLen-1]) {
		return "", false
	}
	return string(out), true
}

// CodesIn returns the remittance codes a memo holds, each once, in the
// order written: full-width letters and digits are read as their ASCII
// forms and case is ignored; a code stands between characters that are not
// ASCII letters or digits (Chinese text around it is fine). A word that
// looks like a code but fails its check character is not one.
func CodesIn(memo string) []string {
	folded := make([]byte, 0, len(memo))
	for _, r := range memo {
		if r >= 0xFF01 && r <= 0xFF5E { // full-width ASCII
			r -= 0xFEE0
		}
		switch {
		case r >= 'a' && r <= 'z':
			folded = append(folded, byte(r-'a'+'A'))
		case r < 0x80:
			folded = append(folded, byte(r))
		default:
			folded = append(folded, ' ') // a boundary
		}
	}
	var out []string
	for i := 0; i+codeLen <= len(folded); i++ {
		if folded[i] != 'C' || folded[i+1] != 'X' || i > 0 && alnum(folded[i-1]) || i+codeLen < len(folded) && alnum(folded[i+codeLen]) {
			continue
		}
		if c, ok := normalCode(string(folded[i : i+codeLen])); ok && !slices.Contains(out, c) {
			out = append(out, c)
		}
	}
	return out
}

func alnum(c byte) bool { return c >= '0' && c <= '9' || c >= 'A' && c <= 'Z' }
