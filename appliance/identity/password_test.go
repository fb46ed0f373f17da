package identity

import (
	"strings"
	"testing"
	"time"
)

func TestCommonPasswordsAreRefusedEvenDecorated(t *testing.T) {
	for _, pw := range []string{
		"Password1!", "Qwerty123!", "P@ssw0rd2024!", "!Qwerty12345", "Welcome@123", "Admin@123456",
		"Woaini1314!", "Iloveyou123!", "1Qaz2wsx!!", "Dragon2026!!", "Ｐａｓｓｗｏｒｄ１２３！", "Pass-Word-1234!",
		"Zhangwei888!", "Chengxintong1!",
	} {
		err := CheckNewPassword(pw, "someone")
		if err == nil || !strings.Contains(err.Error(), "too common") {
			t.Errorf("%q: %v, want the common-password rule", pw, err)
		}
	}
	for _, pw := range []string{"Good-Enough-2026!", "Changed-Secret-2026!", "Tea-Kettle-Orbit-7!", GeneratePassword()} {
		if err := CheckNewPassword(pw, "someone"); err != nil {
			t.Errorf("%q: %v", pw, err)
		}
	}
}

func TestPasswordsMayNotHoldTheUsernameOrInvisibleCharacters(t *testing.T) {
	cases := []struct{ pw, user, rule string }{
		{"Secadmin-Rules-2026!", "secadmin", "username"},
		{"my-ZHANG.SAN-key-7!", "zhang.san", "username"},
		{"Ｌｅｅ-Tea-Kettle-7!", "lee", "username"},
		{"Tea-Kettle\n-Orbit-7!", "someone", "control"},
		{"Tea-Kettle\u202e-Orbit-7!", "someone", "control"},
		{"Tea-Kettle\u200b-Orbit-7!", "someone", "control"},
		{"Tea\x00Kettle-Orbit-7!", "someone", "control"},
	}
	for _, c := range cases {
		if err := CheckNewPassword(c.pw, c.user); err == nil || !strings.Contains(err.Error(), c.rule) {
			t.Errorf("%q for %q: %v, want the %s rule", c.pw, c.user, err, c.rule)
		}
	}
	// A username of one or two characters would forbid half the alphabet.
	if err := CheckNewPassword("Tea-Kettle-Orbit-7!", "ea"); err != nil {
		t.Errorf("a two-letter username: %v", err)
	}
}

func TestTheLastFivePasswordsAreNotReused(t *testing.T) {
	hash := func(pw string) PasswordHash {
		// An explicit low count: the test derives some 30 keys, and what it
		// checks (which passwords match) does not depend on the count.
		h, err := hashPassword(pw, 1_000)
		if err != nil {
			t.Fatal(err)
		}
		return h
	}
	now := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	a := &Account{Password: hash("First-Secret-2026!")}
	pws := []string{"First-Secret-2026!"}
	for i := 2; i <= 6; i++ {
		pw := strings.Repeat("x", i) + "-Secret-2026!A"
		a.replacePassword(hash(pw), now)
		pws = append(pws, pw)
	}
	if len(a.PasswordHistory) != PasswordHistory-1 || !a.PasswordChanged.Equal(now) {
		t.Fatalf("history of %d, changed %v", len(a.PasswordHistory), a.PasswordChanged)
	}
	for i, pw := range pws {
		want := i >= len(pws)-PasswordHistory // the current one and the four before it
		if got := a.Reuses(pw); got != want {
			t.Errorf("password %d (%q): reused=%v, want %v", i, pw, got, want)
		}
	}
}

func TestPasswordsExpireByRole(t *testing.T) {
	created := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	p := DefaultPolicy
	cases := []struct {
		roles []string
		after time.Duration
		want  bool
	}{
		{[]string{SecurityAdmin}, 89 * day, false},
		{[]string{SecurityAdmin}, 90 * day, true},
		{[]string{MerchantAdmin}, 179 * day, false},
		{[]string{MerchantAdmin}, 180 * day, true},
		{[]string{Worker}, 364 * day, false},
		{[]string{Worker, PlatformOperator}, 90 * day, true}, // the strictest role decides
	}
	for _, c := range cases {
		a := &Account{Roles: c.roles, Created: created}
		if got := PasswordExpired(a, p, created.Add(c.after)); got != c.want {
			t.Errorf("%v after %v: expired=%v, want %v", c.roles, c.after, got, c.want)
		}
	}
	// node.json overrides one role; "never" switches expiry off.
	p.PasswordMaxAge = map[string]time.Duration{Worker: 0, SecurityAdmin: 30 * day}
	if PasswordExpired(&Account{Roles: []string{Worker}, Created: created}, p, created.Add(3000*day)) {
		t.Error("a worker's password expired although expiry is off")
	}
	a := &Account{Roles: []string{SecurityAdmin}, Created: created, PasswordChanged: created.Add(10 * day)}
	if PasswordExpired(a, p, created.Add(39*day)) || !PasswordExpired(a, p, created.Add(40*day)) {
		t.Error("a 30-day age does not count from the last change")
	}
	for s, want := range map[string]time.Duration{"90d": 90 * day, "2160h": 90 * day, "never": 0, "0": 0} {
		if got, err := ParseAge(s); err != nil || got != want {
			t.Errorf("ParseAge(%q) = %v, %v", s, got, err)
		}
	}
	for _, s := range []string{"", "-1d", "1.5d", "d", "ninety days", "-3h"} {
		if _, err := ParseAge(s); err == nil {
			t.Errorf("ParseAge(%q) accepted", s)
		}
	}
}
