// Package identity keeps accounts, roles, passwords, login attempts and
// sessions in the replicated state, and the rules that decide a login:
// password strength, lockout after repeated failures, the captcha threshold,
// which roles need a second factor, and session lifetimes.
//
// Slow or random work — hashing a password, drawing a token or a salt —
// happens before a command is proposed; the commands only record outcomes,
// so every replica applies them alike.
package identity

import (
	"crypto/rand"
	"encoding/json"
	"fmt"
	"math/big"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode"

	"golang.org/x/text/unicode/norm"

	"cxt/crypto/sm"
)

// Roles.
const (
	SystemAdmin      = "system_admin"
	SecurityAdmin    = "security_admin"
	AuditAdmin       = "audit_admin"
	PlatformOperator = "platform_operator"
	PlatformReviewer = "platform_reviewer"
	MerchantAdmin    = "merchant_admin"
	MerchantOperator = "merchant_operator"
	Worker           = "worker"
	TaxOfficer       = "tax_officer" // gateway clients only; never an API login
)

// AdminRoles are the three duties (三权分立) no account may combine.
var AdminRoles = []string{SystemAdmin, SecurityAdmin, AuditAdmin}

var allRoles = []string{SystemAdmin, SecurityAdmin, AuditAdmin, PlatformOperator, PlatformReviewer, MerchantAdmin, MerchantOperator, Worker, TaxOfficer}

// IsStaff reports whether roles include a platform staff role, which needs a
// second factor to log in.
func IsStaff(roles []string) bool {
	for _, r := range roles {
		if slices.Contains(AdminRoles, r) || r == PlatformOperator || r == PlatformReviewer {
			return true
		}
	}
	return false
}

// CheckRoles reports whether roles may be held together by one account.
func CheckRoles(roles []string) error {
	if len(roles) == 0 {
		return fmt.Errorf("an account needs at least one role")
	}
	if len(roles) > MaxRoles {
		return fmt.Errorf("an account holds at most %d roles", MaxRoles)
	}
	admins := 0
	for i, r := range roles {
		if !slices.Contains(allRoles, r) {
			return fmt.Errorf("unknown role %q", r)
		}
		if slices.Contains(roles[:i], r) {
			return fmt.Errorf("the role %q is given twice", r)
		}
		if slices.Contains(AdminRoles, r) {
			admins++
		}
		if r == TaxOfficer {
			return fmt.Errorf("tax officers are gateway clients, not accounts")
		}
	}
	if admins > 1 {
		return fmt.Errorf("system, security and audit administration are separate duties: one account holds at most one")
	}
	return nil
}

// CheckPassword enforces the password rule of §9 a: at least 10
// characters mixing upper case, lower case, digits and symbols. The error
// names the rule that failed.
func CheckPassword(pw string) error {
	var upper, lower, digit, symbol bool
	for _, r := range pw {
		switch {
		case unicode.IsUpper(r):
			upper = true
		case unicode.IsLower(r):
			lower = true
		case unicode.IsDigit(r):
			digit = true
		case unicode.IsPunct(r) || unicode.IsSymbol(r):
			symbol = true
		}
	}
	switch {
	case len([]rune(pw)) < 10:
		return fmt.Errorf("the password must be at least 10 characters long")
	case len(pw) > 256:
		return fmt.Errorf("the password must be at most 256 bytes long")
	case !upper:
		return fmt.Errorf("the password must contain an upper-case letter")
	case !lower:
		return fmt.Errorf("the password must contain a lower-case letter")
	case !digit:
		return fmt.Errorf("the password must contain a digit")
	case !symbol:
		return fmt.Errorf("the password must contain a symbol")
	}
	return nil
}

// PasswordHash is a stored password: PBKDF2-HMAC-SM3 with its parameters.
type PasswordHash struct {
	Alg  string `json:"alg"`
	Iter int    `json:"iter"`
	Salt []byte `json:"salt"`
	Key  []byte `json:"key"`
}

// HashPassword derives a new hash with a fresh salt at sm.PasswordIterations.
func HashPassword(pw string) (PasswordHash, error) { return hashPassword(pw, sm.PasswordIterations) }

// Verify compares pw with the hash in constant time.
func (h PasswordHash) Verify(pw string) bool {
	if h.Alg != "pbkdf2-hmac-sm3" || h.Iter < 1 {
		return false
	}
	key, err := sm.DerivePassword(pw, h.Salt, h.Iter)
	return err == nil && sm.Equal(key, h.Key)
}

// decoy is verified against when a username does not exist, so that an
// unknown user costs the same work as a wrong password. It is derived on
// first use: every cxt command links this package, and a 600,000-round KDF
// at program start would slow even "cxt crypto sm3".
var decoy = sync.OnceValue(func() PasswordHash {
	h, _ := HashPassword("decoy password for unknown users 1!A")
	return h
})

// VerifyOrDecoy verifies pw against h, or against the decoy when h is nil.
func VerifyOrDecoy(h *PasswordHash, pw string) bool {
	if h == nil {
		decoy().Verify(pw)
		return false
	}
	return h.Verify(pw)
}

// GeneratePassword returns a random password that satisfies CheckPassword,
// for one-time initial passwords.
func GeneratePassword() string {
	classes := []string{"ABCDEFGHJKLMNPQRSTUVWXYZ", "abcdefghijkmnopqrstuvwxyz", "23456789", "!@#%^*-_=+?"}
	all := strings.Join(classes, "")
	pick := func(s string) byte {
		n, _ := rand.Int(rand.Reader, big.NewInt(int64(len(s))))
		return s[n.Int64()]
	}
	out := make([]byte, 0, 20)
	for _, c := range classes {
		out = append(out, pick(c))
	}
	for len(out) < 20 {
		out = append(out, pick(all))
	}
	for i := len(out) - 1; i > 0; i-- { // shuffle so the classes are not in order
		n, _ := rand.Int(rand.Reader, big.NewInt(int64(i+1)))
		j := int(n.Int64())
		out[i], out[j] = out[j], out[i]
	}
	return string(out)
}

// Account is a login.
type Account struct {
	ID         string       `json:"id"`
	Username   string       `json:"username"`
	Roles      []string     `json:"roles"`
	Clearance  int          `json:"clearance"` // security label the account may see
	Password   PasswordHash `json:"password"`
	MustChange bool         `json:"must_change"` // one-time password: change it first
	TOTPSecret string       `json:"totp_secret,omitempty"`
	TOTPNew    string       `json:"totp_pending,omitempty"`         // enrolled but not yet confirmed
	TOTPNewBy  []byte       `json:"totp_pending_session,omitempty"` // the session that began it; only it confirms
	TOTPStep   int64        `json:"totp_last_step,omitempty"`       // the last time step used: codes are single-use
	SM2Key     string       `json:"sm2_public_key,omitempty"`       // PEM; signs login challenges
	Email      string       `json:"email,omitempty"`
	Phone      string       `json:"phone,omitempty"`
	Sources    []string     `json:"sources,omitempty"` // addresses logged in from, newest last
	Closed     time.Time    `json:"closed,omitzero"`   // a closed account never logs in again
	Created    time.Time    `json:"created"`
	// Merchant is the merchant a merchant user belongs to, Worker the
	// worker record a worker's account is: their tenant. Set when the
	// account is created and never changed.
	Merchant string `json:"merchant,omitempty"`
	Worker   string `json:"worker,omitempty"`

	// PasswordHistory holds the passwords before the current one, oldest
	// first (PasswordHistory-1 of them), so that none is reused.
	PasswordHistory []PasswordHash `json:"password_history,omitempty"`
	PasswordChanged time.Time      `json:"password_changed,omitzero"` // when it was set; it expires by role
}

// Public is an account as the API shows it.
func (a *Account) Public() map[string]any {
	return map[string]any{
		"id": a.ID, "username": a.Username, "roles": a.Roles, "clearance": a.Clearance,
		"must_change_password": a.MustChange, "mfa_enrolled": a.TOTPSecret != "" || a.SM2Key != "", "created": a.Created,
		"sm2_enrolled": a.SM2Key != "", "merchant": a.Merchant, "worker": a.Worker,
		"email": MaskEmail(a.Email), "phone": MaskPhone(a.Phone),
	}
}

// Policy holds the tunable limits of logins and sessions.
type Policy struct {
	CaptchaAfter    int           `json:"captcha_after"`    // failures in the window after which a captcha is needed
	MaxFailures     int           `json:"max_failures"`     // failures in the window that lock the account
	FailureWindow   time.Duration `json:"failure_window"`   // how far back failures count
	LockFor         time.Duration `json:"lock_for"`         // how long a lock lasts
	IdleTimeout     time.Duration `json:"idle_timeout"`     // a session unused this long ends
	AbsoluteTimeout time.Duration `json:"absolute_timeout"` // a session ends this long after login
	// PasswordMaxAge overrides the default password age of a role
	// (MaxPasswordAge); 0 means never. It is not part of any command.
	PasswordMaxAge map[string]time.Duration `json:"-"`
}

// DefaultPolicy is §9 b and c: captcha after more than 2 wrong passwords,
// lock for 30 minutes after 5 in 15 minutes.
var DefaultPolicy = Policy{
	CaptchaAfter: 2, MaxFailures: 5, FailureWindow: 15 * time.Minute, LockFor: 30 * time.Minute,
	IdleTimeout: 15 * time.Minute, AbsoluteTimeout: 8 * time.Hour,
}

// Session is a login's server-side record, keyed by the SM3 of its token.
type Session struct {
	ID         string    `json:"id"` // public handle: the first 16 hex of the token hash
	Account    string    `json:"account"`
	Created    time.Time `json:"created"`
	Expires    time.Time `json:"expires"` // absolute timeout
	MFA        bool      `json:"mfa"`
	Source     string    `json:"source"`
	Restricted bool      `json:"restricted"` // may only change the password
	EnrollMFA  bool      `json:"enroll_mfa"` // staff without a second factor: may only enroll one
	// StepUpUntil is when the last re-authentication for important
	// operations stops counting.
	StepUpUntil time.Time `json:"step_up_until,omitempty"`
	// LastSeen is when the session was last used, kept coarsely (see
	// TouchEvery) and replicated, so every node and every restart enforce
	// the same idle timeout, which the session carries from its login.
	LastSeen    time.Time     `json:"last_seen,omitzero"`
	IdleTimeout time.Duration `json:"idle_timeout,omitempty"`
	// Failures counts wrong step-up codes and current passwords sent by
	// this session; it ends at MaxSessionFailures.
	Failures int `json:"failures,omitempty"`
}

// TouchEvery is how stale a session's LastSeen may grow before a request
// refreshes it: the idle timeout is enforced to within this much.
const TouchEvery = time.Minute

// IdleSince returns when the session was last used.
func (s *Session) IdleSince() time.Time {
	if s.LastSeen.After(s.Created) {
		return s.LastSeen
	}
	return s.Created
}

// Ended reports whether the session is over at now: past its absolute
// timeout or idle longer than its idle timeout.
func (s *Session) Ended(now time.Time) bool {
	return !now.Before(s.Expires) || (s.IdleTimeout > 0 && now.Sub(s.IdleSince()) > s.IdleTimeout)
}

func decode[T any](b []byte) (*T, error) {
	if b == nil {
		return nil, nil
	}
	var v T
	if err := json.Unmarshal(b, &v); err != nil {
		return nil, err
	}
	return &v, nil
}

// NameIndex is the blind index of a username: HMAC-SM3 under the keyring's
// index key, so usernames (often phone numbers) are never stored as keys in
// plaintext. Usernames compare case-insensitively and in NFKC form (see
// CheckUsername), so a login types either form of a full-width name.
func NameIndex(indexKey []byte, username string) []byte {
	h := sm.HMAC(indexKey, []byte("username\x00"), []byte(strings.ToLower(strings.TrimSpace(norm.NFKC.String(username)))))
	return h[:]
}

// MaskPhone shows the first 3 and last 4 digits of a phone number.
func MaskPhone(p string) string {
	if len(p) < 8 {
		return strings.Repeat("*", len(p))
	}
	return p[:3] + strings.Repeat("*", len(p)-7) + p[len(p)-4:]
}

// MaskEmail shows the first character of the local part and the domain.
func MaskEmail(e string) string {
	local, domain, ok := strings.Cut(e, "@")
	if !ok || local == "" {
		return strings.Repeat("*", len(e))
	}
	return local[:1] + "***@" + domain
}

// SM2Message is what an SM2 key signs to answer a challenge: the purpose
// ("login", "enroll", "step-up"), the challenge's nonce and who answers (the
// username for a login, the account ID otherwise), so that an answer serves
// one purpose, one challenge and one account.
func SM2Message(purpose string, nonce []byte, who string) []byte {
	msg := append([]byte("cxt-sm2-"+purpose+"-v1\x00"), nonce...)
	return append(append(msg, 0), strings.ToLower(strings.TrimSpace(who))...)
}

// MaskIDCard shows the first 6 and last 4 characters of a resident ID
// number (GB 11643): the region code and the check digits' neighbourhood.
func MaskIDCard(id string) string { return maskMiddle(id, 6, 4) }

// MaskBankCard shows the first 6 (the issuer) and last 4 digits of a card.
func MaskBankCard(card string) string { return maskMiddle(card, 6, 4) }

func maskMiddle(s string, head, tail int) string {
	if len(s) <= head+tail {
		return strings.Repeat("*", len(s))
	}
	return s[:head] + strings.Repeat("*", len(s)-head-tail) + s[len(s)-tail:]
}
