package identity

import (
	"strings"
	"testing"
	"time"
)

func TestMasksShowOnlyWhatTheSpecAllows(t *testing.T) {
	cases := []struct{ got, want string }{
		{MaskIDCard("110101199003074514"), "110101********4514"},
		{MaskBankCard("6222020200112233445"), "622202*********3445"},
		{MaskPhone("13812345678"), "138****5678"},
		{MaskEmail("zhang.san@example.cn"), "z***@example.cn"},
		{MaskIDCard("123"), "***"},
		{MaskPhone("123"), "***"},
	}
	for _, c := range cases {
		if c.got != c.want {
			t.Errorf("got %q, want %q", c.got, c.want)
		}
	}
}

func TestPasswordRulesNameWhatFailed(t *testing.T) {
	for pw, rule := range map[string]string{
		"Aa1!aaaaa":   "10 characters",
		"aaaaaaaaa1!": "upper-case",
		"AAAAAAAAA1!": "lower-case",
		"Aaaaaaaaaa!": "digit",
		"Aaaaaaaaaa1": "symbol",
	} {
		if err := CheckPassword(pw); err == nil || !strings.Contains(err.Error(), rule) {
			t.Errorf("%q: %v, want the %s rule", pw, err, rule)
		}
	}
	if err := CheckPassword("Good-Enough-2026!"); err != nil {
		t.Fatal(err)
	}
	for range 50 {
		if err := CheckPassword(GeneratePassword()); err != nil {
			t.Fatalf("a generated password breaks the rule: %v", err)
		}
	}
}

func TestRolesKeepTheThreeDutiesApart(t *testing.T) {
	if CheckRoles([]string{SystemAdmin, AuditAdmin}) == nil {
		t.Fatal("two administrator duties accepted")
	}
	if CheckRoles([]string{TaxOfficer}) == nil {
		t.Fatal("a tax officer account accepted")
	}
	if CheckRoles([]string{"root"}) == nil || CheckRoles(nil) == nil {
		t.Fatal("an unknown or empty role set accepted")
	}
	if err := CheckRoles([]string{SecurityAdmin}); err != nil {
		t.Fatal(err)
	}
}

func TestTOTPMatchesOneStepOfDriftAndNamesTheStep(t *testing.T) {
	secret, _, err := NewTOTP("u")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Unix(1_800_000_000, 0)
	for _, d := range []time.Duration{-30 * time.Second, 0, 30 * time.Second} {
		step, ok := MatchTOTP(secret, TOTPCode(secret, now.Add(d)), now)
		if !ok || step != now.Add(d).Unix()/30 {
			t.Fatalf("drift %s: ok=%v step=%d", d, ok, step)
		}
	}
	if _, ok := MatchTOTP(secret, TOTPCode(secret, now.Add(90*time.Second)), now); ok {
		t.Fatal("a code three steps away matched")
	}
}

func TestPasswordHashesVerifyOnlyTheirPassword(t *testing.T) {
	h, err := HashPassword("Correct-Horse-1!")
	if err != nil {
		t.Fatal(err)
	}
	if !h.Verify("Correct-Horse-1!") || h.Verify("Correct-Horse-2!") || VerifyOrDecoy(nil, "Correct-Horse-1!") {
		t.Fatal("password hash verification is wrong")
	}
}
