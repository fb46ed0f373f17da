package identity

import (
	"fmt"
	"net/mail"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// MaxRoles bounds the roles one account holds: the widest sensible mix is a
// merchant user who is also a worker and an operator of the platform.
const MaxRoles = 3

// MaxUsername is the longest username, in characters.
const MaxUsername = 64

// CheckUsername returns the form a username is stored and looked up in, or
// why it is refused. Usernames are NFKC-normalised (a full-width
// "ｓｅｃａｄｍｉｎ" is "secadmin", so it cannot pose as another account) and
// made of letters and digits of any script and the separators . _ - @,
// starting with a letter or digit: no spaces, no control characters, no
// invisible formatting characters (bidi overrides, zero-width joiners), so
// what an administrator reads in a list or an audit record is what was typed.
func CheckUsername(name string) (string, error) {
	if !utf8.ValidString(name) {
		return "", fmt.Errorf("the username is not valid UTF-8")
	}
	n := norm.NFKC.String(name)
	if n == "" || utf8.RuneCountInString(n) > MaxUsername {
		return "", fmt.Errorf("the username must be 1-%d characters", MaxUsername)
	}
	for i, r := range n {
		switch {
		case unicode.IsLetter(r) || unicode.IsDigit(r):
		case i > 0 && strings.ContainsRune("._-@", r):
		default:
			return "", fmt.Errorf("the username may hold only letters, digits and . _ - @, and starts with a letter or digit (found %U)", r)
		}
	}
	return n, nil
}

// CheckEmail accepts a plain address such as name@example.cn: one local part
// of at most 64 characters, a domain of dot-separated labels with a
// top-level name of letters, no display name, comments or quoting, at most
// 254 characters in all.
func CheckEmail(e string) error {
	bad := fmt.Errorf("the e-mail address must be a plain address such as name@example.cn")
	if len(e) > 254 || strings.ContainsFunc(e, func(r rune) bool { return unicode.IsControl(r) || unicode.Is(unicode.Cf, r) }) {
		return bad
	}
	addr, err := mail.ParseAddress(e)
	if err != nil || addr.Name != "" || addr.Address != e {
		return bad
	}
	at := strings.LastIndexByte(e, '@')
	local, domain := e[:at], e[at+1:]
	if local == "" || len(local) > 64 {
		return bad
	}
	labels := strings.Split(domain, ".")
	if len(labels) < 2 {
		return bad
	}
	for _, l := range labels {
		if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return bad
		}
		for _, r := range l {
			if !unicode.IsLetter(r) && !unicode.IsDigit(r) && r != '-' {
				return bad
			}
		}
	}
	for _, r := range labels[len(labels)-1] {
		if !unicode.IsLetter(r) {
			return bad
		}
	}
	return nil
}

// CheckPhone accepts a phone number as digits with an optional leading +
// (E.164: 7 to 15 digits), such as 13812345678 or +8613812345678; no
// spaces or punctuation, so that its blind index and mask are stable.
func CheckPhone(p string) error {
	digits := strings.TrimPrefix(p, "+")
	if len(digits) < 7 || len(digits) > 15 || strings.Trim(digits, "0123456789") != "" {
		return fmt.Errorf("the phone number must be 7-15 digits with an optional leading +, such as 13812345678")
	}
	return nil
}

// CheckContact checks the optional e-mail address and phone number of an
// account; empty ones are fine.
func CheckContact(email, phone string) error {
	if email != "" {
		if err := CheckEmail(email); err != nil {
			return err
		}
	}
	if phone != "" {
		return CheckPhone(phone)
	}
	return nil
}
