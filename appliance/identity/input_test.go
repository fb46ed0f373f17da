package identity

import (
	"strings"
	"testing"
)

func TestUsernamesAreNormalisedAndInvisibleCharactersRefused(t *testing.T) {
	for in, want := range map[string]string{
		"secadmin": "secadmin", "zhang.san": "zhang.san", "张三": "张三", "13812345678": "13812345678",
		"ｓｅｃａｄｍｉｎ": "secadmin", "ops-1_a@merchant": "ops-1_a@merchant",
	} {
		if got, err := CheckUsername(in); err != nil || got != want {
			t.Errorf("CheckUsername(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{
		"", "evil\nadmin", "evil\radmin", "admin\u202egnp.exe", "sec\u200badmin", "sec\u2066admin", "two words",
		"tab\tname", "\x00", "-leading", ".dot", strings.Repeat("a", MaxUsername+1), "semi;colon", "quote\"d", "\xff",
	} {
		if got, err := CheckUsername(in); err == nil {
			t.Errorf("CheckUsername(%q) accepted as %q", in, got)
		}
	}
}

func TestFullWidthNamesShareTheIndexOfTheirASCIITwin(t *testing.T) {
	key := []byte("index key for the test, 32 bytes")
	if string(NameIndex(key, "ＳＥＣＡＤＭＩＮ")) != string(NameIndex(key, "secadmin")) {
		t.Fatal("a full-width username has an index of its own: it could pose as another account")
	}
}

func TestRolesAreDistinctAndFew(t *testing.T) {
	if err := CheckRoles([]string{Worker, Worker}); err == nil || !strings.Contains(err.Error(), "twice") {
		t.Errorf("duplicate roles: %v", err)
	}
	many := make([]string, 10_000)
	for i := range many {
		many[i] = Worker
	}
	if err := CheckRoles(many); err == nil || !strings.Contains(err.Error(), "at most") {
		t.Errorf("10,000 roles: %v", err)
	}
	if err := CheckRoles([]string{MerchantAdmin, MerchantOperator, Worker, PlatformReviewer}); err == nil {
		t.Error("four roles accepted")
	}
	if err := CheckRoles([]string{MerchantOperator, Worker}); err != nil {
		t.Errorf("two roles: %v", err)
	}
}

func TestContactAddressesAreWellFormed(t *testing.T) {
	for _, e := range []string{"zhang.san@example.cn", "a+tag@mail.example.com", "x@例子.中国"} {
		if err := CheckEmail(e); err != nil {
			t.Errorf("CheckEmail(%q): %v", e, err)
		}
	}
	for _, e := range []string{"@", "a@", "@b.cn", "a@b", "a@@b.cn", "Zhang <z@example.cn>", "a b@example.cn", "a@-x.cn",
		"a@x.c0m", "a@x..cn", "a@x.cn\n", "a\u202e@x.cn", `"q"@x.cn`, strings.Repeat("a", 65) + "@x.cn", "a@" + strings.Repeat("b", 64) + ".cn"} {
		if err := CheckEmail(e); err == nil {
			t.Errorf("CheckEmail(%q) accepted", e)
		}
	}
	for _, p := range []string{"13812345678", "+8613812345678", "0105551234"} {
		if err := CheckPhone(p); err != nil {
			t.Errorf("CheckPhone(%q): %v", p, err)
		}
	}
	for _, p := range []string{"+", "123", "++8613812345678", "138 1234 5678", "138-1234-5678", "1234567890123456", "13812345678\n"} {
		if err := CheckPhone(p); err == nil {
			t.Errorf("CheckPhone(%q) accepted", p)
		}
	}
	if err := CheckContact("", ""); err != nil {
		t.Errorf("no contact at all: %v", err)
	}
}
