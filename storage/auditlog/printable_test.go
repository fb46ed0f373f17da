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
