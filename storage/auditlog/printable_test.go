package auditlog

import "testing"

func TestEntriesHoldNoControlOrInvisibleCharacters(t *testing.T) {
	for in, want := range map[string]string{
		"GET /api/v1/x\r\nINJECT": `GET /api/v1/x\u000d\u000aINJECT`,
		"reason \u202etxt.exe":    `reason \u202etxt.exe`,
		"zero\u200bwidth":         `zero\u200bwidth`,
		"诚薪通 plain":               "诚薪通 plain",
		"tab\there\x7f":           `tab\u0009here\u007f`,
	} {
		if got := printable(in); got != want {
			t.Errorf("printable(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestAHiddenAccountsNotificationsAreHiddenToo(t *testing.T) {
	hide := []string{"acct-w1", "login:0011223344556677"}
	for object, hidden := range map[string]bool{
		"acct-w1":                                  true,
		"acct-w1 account.break_glass email":        true,
		"acct-w1 credentials_reissued sms":         true,
		"acct-w10 account.password_changed email":  false,
		"acct-w2 account.break_glass email":        false,
		"":                                         false,
		"login:0011223344556677":                   true,
		"audit query {\"subjects\":[\"acct-w1\"]}": false,
	} {
		if got := hidesObject(hide, object); got != hidden {
			t.Errorf("hidesObject(%q) = %v, want %v", object, got, hidden)
		}
	}
}
