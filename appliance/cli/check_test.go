package cli

import (
	"strings"
	"testing"

	"cxt/appliance/ident"
)

// idOf completes 17 digits with their check digit.
func idOf(t *testing.T, first17 string) string {
	t.Helper()
	c, err := ident.ResidentIDCheckDigit(first17)
	if err != nil {
		t.Fatal(err)
	}
	return first17 + string(c)
}

func TestCheckPrintsEachValueAndExits1WhenAnyIsInvalid(t *testing.T) {
	code, out, _ := run(t, "", "check", "uscc", "91350100M000100Y43", "91350100M000100Y44", "92141127MA0KD1Y64A")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	want := []string{
		"91350100M000100Y43\tvalid",
		"91350100M000100Y44\tinvalid (uscc_check_character): check character is 4, expected 3",
		"92141127MA0KD1Y64A\tvalid",
	}
	if code != 1 || len(lines) != 4 || strings.Join(lines[:3], "\n") != strings.Join(want, "\n") {
		t.Fatalf("exit %d:\n%s", code, out)
	}
	if !strings.HasPrefix(lines[3], "1 of 3 invalid: correct them at the source and check again") {
		t.Fatalf("last line does not say what to do next: %q", lines[3])
	}
}

func TestCheckExits0WhenAllAreValid(t *testing.T) {
	for _, args := range [][]string{
		{"check", "uscc", "91350100M000100Y43"},
		{"check", "id", "11010519491231002X", "440524188001010014"},
		{"check", "card", "6200000000000005", "6205500000000000004", "4111111111111111"},
		{"check", "phone", "13800138000", "+8613800138000"},
	} {
		code, out, errOut := run(t, "", args...)
		n := len(args) - 2
		if code != 0 || strings.Count(out, "\tvalid\n") != n || !strings.HasSuffix(out, "valid: go ahead and upload them.\n") {
			t.Errorf("%v: exit %d\n%s%s", args, code, out, errOut)
		}
	}
}

func TestCheckGivesTheReasonForEachKind(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"check", "id", "110105194912310025"}, "invalid (id_check_digit): check digit is 5, expected X"},
		{[]string{"check", "id", idOf(t, "99999919800101002")}, "invalid (id_region): region code 999999"},
		{[]string{"check", "id", idOf(t, "11010520990101002")}, "invalid (id_birth_date): birth date 2099-01-01 is after"},
		{[]string{"check", "card", "6200000000000006"}, "invalid (card_luhn): check digit is 6, expected 5 (Luhn)"},
		{[]string{"check", "card", "378282246310005"}, "invalid (card_length): has 15 digits, expected 16 to 19"},
		{[]string{"check", "phone", "12800138000"}, "invalid (phone_format): starts 12"},
		{[]string{"check", "uscc", "94350100M000100Y4C"}, "invalid (uscc_type): organisation type 4"},
	} {
		code, out, _ := run(t, "", c.args...)
		if code != 1 || !strings.Contains(out, c.want) {
			t.Errorf("%v: exit %d, want %q in\n%s", c.args, code, c.want, out)
		}
	}
}

// --on sets the date of the age check: a worker born on 1 June 2010 is
// refused on 31 May 2026 and accepted from 1 June.
func TestCheckIDAgeOn(t *testing.T) {
	id := idOf(t, "11010520100601002")
	code, out, _ := run(t, "", "check", "id", "--on", "2026-05-31", id)
	if code != 1 || !strings.Contains(out, "invalid (id_underage): is 15 on 2026-05-31 (born 2010-06-01); workers must be 16 or older, from 2026-06-01") {
		t.Fatalf("exit %d\n%s", code, out)
	}
	if code, out, _ := run(t, "", "check", "id", "--on", "2026-06-01", id); code != 0 || !strings.Contains(out, id+"\tvalid") {
		t.Fatalf("on the birthday: exit %d\n%s", code, out)
	}
	// Without --on the date is today: someone born in 1949 is old enough.
	if code, out, _ := run(t, "", "check", "id", "11010519491231002X"); code != 0 {
		t.Fatalf("today: exit %d\n%s", code, out)
	}
}

func TestCheckBadUsageExits2(t *testing.T) {
	for _, args := range [][]string{
		{"check"},
		{"check", "passport", "E12345678"},
		{"check", "uscc"},
		{"check", "id", "--on", "2026-13-01", "11010519491231002X"},
		{"check", "id", "--on", "tomorrow", "11010519491231002X"},
		{"check", "card", "--on", "2026-01-01", "6200000000000005"},
	} {
		code, out, errOut := run(t, "", args...)
		if code != 2 || strings.Contains(out, "valid") || errOut == "" {
			t.Errorf("%v: exit %d, out %q, err %q", args, code, out, errOut)
		}
	}
}
