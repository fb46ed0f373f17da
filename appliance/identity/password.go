package identity

import (
	_ "embed"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode"

	"github.com/trustelem/zxcvbn/frequency"
	"golang.org/x/text/unicode/norm"
)

// PasswordHistory is how many passwords an account may not reuse: the
// current one and the ones before it.
const PasswordHistory = 5

// Password ages when node.json does not say otherwise. Staff hold the keys to
// everybody's data, so theirs age fastest; merchant users move money;
// workers sign in seldom, and a rule that forces a change they will forget
// buys little over the list and history checks, so theirs lasts a year.
var defaultMaxAge = map[string]time.Duration{
	SystemAdmin: 90 * day, SecurityAdmin: 90 * day, AuditAdmin: 90 * day,
	PlatformOperator: 90 * day, PlatformReviewer: 90 * day,
	MerchantAdmin: 180 * day, MerchantOperator: 180 * day,
	Worker: 365 * day,
}

const day = 24 * time.Hour

// MaxPasswordAge is how long a password of an account with these roles
// lasts: the shortest non-zero age among its roles (node.json's
// security.password_max_age first, else the defaults); 0 means it never
// expires.
func (p Policy) MaxPasswordAge(roles []string) time.Duration {
	var age time.Duration
	for _, r := range roles {
		a, ok := p.PasswordMaxAge[r]
		if !ok {
			a = defaultMaxAge[r]
		}
		if a > 0 && (age == 0 || a < age) {
			age = a
		}
	}
	return age
}

// PasswordExpired reports whether the account's password is older than its
// roles allow at now. A login with an expired password gets a session that
// may only change it.
func PasswordExpired(a *Account, p Policy, now time.Time) bool {
	age := p.MaxPasswordAge(a.Roles)
	changed := a.PasswordChanged
	if changed.IsZero() {
		changed = a.Created // accounts from before the password date was kept
	}
	return age > 0 && !changed.IsZero() && !now.Before(changed.Add(age))
}

// ParseAge reads a password age from node.json: a Go duration ("2160h"), a
// number of days ("90d"), or "0"/"never" for no expiry.
func ParseAge(s string) (time.Duration, error) {
	switch s = strings.TrimSpace(s); {
	case s == "0" || s == "never":
		return 0, nil
	case strings.HasSuffix(s, "d"):
		var n int
		if _, err := fmt.Sscanf(s, "%dd", &n); err != nil || n <= 0 || fmt.Sprintf("%dd", n) != s {
			return 0, fmt.Errorf("%q is not a number of days such as \"90d\"", s)
		}
		return time.Duration(n) * day, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("%q is not a positive duration such as \"90d\" or \"2160h\"", s)
	}
	return d, nil
}

// CheckNewPassword applies every rule a new password must pass beyond
// CheckPassword's length and classes: no control or invisible formatting
// characters (they cannot be typed reliably and hide what was set), not a
// common password even decorated, and not containing the username. The
// error names the rule that failed. Reuse is checked separately
// (Account.Reuses): it needs the stored hashes.
func CheckNewPassword(pw, username string) error {
	if err := CheckPassword(pw); err != nil {
		return err
	}
	for _, r := range pw {
		if unicode.IsControl(r) || unicode.Is(unicode.Cf, r) {
			return fmt.Errorf("the password must not contain control or invisible formatting characters")
		}
	}
	if IsCommonPassword(pw) {
		return fmt.Errorf("the password is too common: it is on the list of passwords attackers try first, even with capitals, digits or symbols added")
	}
	if name := foldName(username); len([]rune(name)) >= 3 && strings.Contains(foldName(pw), name) {
		return fmt.Errorf("the password must not contain the username")
	}
	return nil
}

// foldName is how usernames and passwords compare for the username rule:
// compatibility-normalised (full-width letters are their ASCII twins) and
// lower case.
func foldName(s string) string { return strings.ToLower(norm.NFKC.String(s)) }

//go:embed common-passwords-cn.txt
var commonCN string

// commonPasswords is the bundled list: the 30,000 most common passwords of
// public leaks as zxcvbn ranks them, and the ones Chinese users favour
// (common-passwords-cn.txt), all lower case.
var commonPasswords = sync.OnceValue(func() map[string]struct{} {
	words := frequency.FrequencyLists["passwords"]
	set := make(map[string]struct{}, len(words)+512)
	for _, w := range words {
		set[w] = struct{}{}
	}
	for line := range strings.Lines(commonCN) {
		if w := strings.TrimSpace(line); w != "" && !strings.HasPrefix(w, "#") {
			set[strings.ToLower(w)] = struct{}{}
		}
	}
	return set
})

// IsCommonPassword reports whether pw is a listed password once its usual
// decorations are taken off. The normalisation: NFKC and lower case
// ("Ｐａｓｓｗｏｒｄ" is "password"); then, tried in turn, the whole of it, it
// without leading and trailing symbols, and it without leading and trailing
// digits and symbols ("Password1!", "!Qwerty123" → "password", "qwerty");
// each also with the common character swaps undone (@→a, 0→o, 1→i or l,
// 3→e, 4→a, 5 and $→s, 7→t, so "P@ssw0rd2024!" is "password"), and with
// separators inside removed ("pass-word").
func IsCommonPassword(pw string) bool {
	list := commonPasswords()
	s := strings.ToLower(norm.NFKC.String(pw))
	isSym := func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) }
	isDeco := func(r rune) bool { return !unicode.IsLetter(r) }
	bases := []string{s, strings.TrimFunc(s, isSym), strings.TrimFunc(s, isDeco)}
	for _, b := range bases {
		for _, c := range []string{b, unleet(b, 'i'), unleet(b, 'l')} {
			for _, v := range []string{c, strings.Map(func(r rune) rune {
				if isSym(r) {
					return -1
				}
				return r
			}, c)} {
				if _, ok := list[v]; ok && v != "" {
					return true
				}
			}
		}
	}
	return false
}

// unleet undoes the character swaps people make to pass composition rules;
// one stands for i or l, so the caller tries both.
func unleet(s string, one rune) string {
	return strings.Map(func(r rune) rune {
		switch r {
		case '@', '4':
			return 'a'
		case '0':
			return 'o'
		case '1', '!', '|':
			return one
		case '3':
			return 'e'
		case '5', '$':
			return 's'
		case '7', '+':
			return 't'
		}
		return r
	}, s)
}

// Reuses reports whether pw is the account's current password or one of the
// PasswordHistory-1 before it. It costs one key derivation per remembered
// hash, so it runs only after the current password was verified.
func (a *Account) Reuses(pw string) bool {
	if a.Password.Verify(pw) {
		return true
	}
	return slices.ContainsFunc(a.PasswordHistory, func(h PasswordHash) bool { return h.Verify(pw) })
}

// replacePassword makes h the account's password at now and remembers the
// old one, keeping the last PasswordHistory passwords in all.
func (a *Account) replacePassword(h PasswordHash, now time.Time) {
	if a.Password.Alg != "" {
		a.PasswordHistory = append(a.PasswordHistory, a.Password)
	}
	if n := len(a.PasswordHistory) - (PasswordHistory - 1); n > 0 {
		a.PasswordHistory = slices.Clone(a.PasswordHistory[n:])
	}
	a.Password, a.PasswordChanged = h, now
}
