package ident

import "testing"

func TestParsePhone(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"13800138000", "13800138000"},
		{"+8613800138000", "13800138000"},
		{"19912345678", "19912345678"},
		{"16612345678", "16612345678"},
	} {
		got, err := ParsePhone(c.in)
		if err != nil || got != c.want {
			t.Errorf("ParsePhone(%q) = %q, %v; want %q", c.in, got, err, c.want)
		}
	}
}

func TestParsePhoneRejections(t *testing.T) {
	for _, c := range []struct{ in, msg string }{
		{"", "has 0 digits, expected 11"},
		{"1380013800", "has 10 digits, expected 11"},
		{"138001380001", "has 12 digits, expected 11"},
		{"+86138001380", "has 9 digits, expected 11"},
		{"12800138000", "starts 12: mainland mobile numbers start 13 to 19"},
		{"23800138000", "starts 23: mainland mobile numbers start 13 to 19"},
		{"10086100860", "starts 10: mainland mobile numbers start 13 to 19"},
		{"138-0013-8000", `character '-' at position 4 is not a digit`},
		{"+86 13800138000", `character ' ' at position 4 is not a digit`},
		{"8613800138000", "has 13 digits, expected 11"},
		{"１3800138000", `character '１' at position 1 is not a digit`},
		{"+8613800１38000", `character '１' at position 9 is not a digit`},
	} {
		_, err := ParsePhone(c.in)
		if codeOf(t, err) != PhoneFormat || err.Error() != c.msg {
			t.Errorf("ParsePhone(%q): %v, want %q", c.in, err, c.msg)
		}
	}
}
