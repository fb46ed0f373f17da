package identity

import (
	"crypto/subtle"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"
)

// TOTP parameters: RFC 6238 defaults that every authenticator app accepts.
var totpOpts = totp.ValidateOpts{Period: 30, Skew: 0, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1}

// NewTOTP draws a TOTP secret for an account and its otpauth:// URL (the QR
// code content for an authenticator app).
func NewTOTP(username string) (secret, url string, err error) {
	key, err := totp.Generate(totp.GenerateOpts{Issuer: "cxt", AccountName: username, Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		return "", "", err
	}
	return key.Secret(), key.URL(), nil
}

// MatchTOTP checks code against the steps around now (one step of clock
// drift either way) and returns the step it matched, so that the state can
// refuse the same code twice.
func MatchTOTP(secret, code string, now time.Time) (int64, bool) {
	if len(code) != 6 {
		return 0, false
	}
	step := now.Unix() / 30
	var matched int64
	for _, s := range []int64{step - 1, step, step + 1} {
		want, err := totp.GenerateCodeCustom(secret, time.Unix(s*30, 0), totpOpts)
		if err == nil && subtle.ConstantTimeCompare([]byte(want), []byte(code)) == 1 {
			matched = s
		}
	}
	return matched, matched != 0
}

// TOTPCode returns the current code of a secret (for tests and tools).
func TOTPCode(secret string, now time.Time) string {
	c, _ := totp.GenerateCodeCustom(secret, now, totpOpts)
	return c
}
