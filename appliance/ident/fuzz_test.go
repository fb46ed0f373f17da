package ident

import (
	"slices"
	"strings"
	"testing"
	"unicode/utf8"
)

// Every parser of outside input is fuzzed: it never panics, refuses with a
// documented code and a message, and what it accepts has the shape the
// standard gives and is accepted again as it was returned.

func checkRefusal(t *testing.T, err error) {
	t.Helper()
	if c := codeOf(t, err); !slices.Contains(Codes(), c) {
		t.Fatalf("undocumented code %q", c)
	}
}

func FuzzParseUSCC(f *testing.F) {
	for _, s := range []string{"91350100M000100Y43", "92141127MA0KD1Y64A", "12440600MB2C07549J", "91350203M0001FUE2P", "", "91350100m000100y43", "9135010０M000100Y4"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		u, err := ParseUSCC(s)
		if err != nil {
			checkRefusal(t, err)
			return
		}
		if u.Code != s || len(s) != 18 || strings.Trim(s, usccAlphabet) != "" || u.Area != s[2:8] || u.OrgCode != s[8:17] {
			t.Fatalf("accepted %q as %+v", s, u)
		}
		if c, _ := USCCCheckChar(s[:17]); c != s[17] {
			t.Fatalf("accepted %q with check %c, computed %c", s, s[17], c)
		}
	})
}

func FuzzParseResidentID(f *testing.F) {
	for _, s := range []string{"11010519491231002X", "11010519491231002x", "440524188001010014", "110105194912310025", "110105491231002", "", "11010520000230002X"} {
		f.Add(s, int64(0))
	}
	f.Fuzz(func(t *testing.T, s string, offsetDays int64) {
		on := today.AddDate(0, 0, int(offsetDays%40000))
		r, err := WorkerResidentID(s, on)
		if err != nil {
			checkRefusal(t, err)
			if masked := MaskResidentID(s); utf8.RuneCountInString(masked) != utf8.RuneCountInString(s) {
				t.Fatalf("mask of %q is %q", s, masked)
			}
			return
		}
		if len(r.Number) != 18 || !strings.EqualFold(r.Number, s) || r.Region != s[:6] || r.Birth.After(on) || r.AgeOn(on) < MinWorkerAge {
			t.Fatalf("accepted %q on %s as %+v", s, on, r)
		}
		if again, err := WorkerResidentID(r.Number, on); err != nil || again != r {
			t.Fatalf("%q accepted, its canonical form %q: %+v %v", s, r.Number, again, err)
		}
		if m := MaskResidentID(r.Number); m[:4] != r.Number[:4] || m[14:] != r.Number[14:] || m[4:14] != strings.Repeat("*", 10) {
			t.Fatalf("mask %q", m)
		}
	})
}

func FuzzParseBankCard(f *testing.F) {
	for _, s := range []string{"6200000000000005", "6205500000000000004", "4111111111111111", "378282246310005", "6200 0000 0000 0005", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c, err := ParseBankCard(s)
		if err != nil {
			checkRefusal(t, err)
			return
		}
		if c.Number != s || len(s) < 16 || len(s) > 19 || strings.Trim(s, "0123456789") != "" || !luhnValid(s) {
			t.Fatalf("accepted %q as %+v", s, c)
		}
		if m := MaskBankCard(s); m != "****"+s[len(s)-4:] {
			t.Fatalf("mask %q", m)
		}
	})
}

func FuzzParsePhone(f *testing.F) {
	for _, s := range []string{"13800138000", "+8613800138000", "12800138000", "+86", "", "138-0013-8000"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := ParsePhone(s)
		if err != nil {
			checkRefusal(t, err)
			return
		}
		if len(p) != 11 || p[0] != '1' || p[1] < '3' || strings.Trim(p, "0123456789") != "" || (s != p && s != "+86"+p) {
			t.Fatalf("accepted %q as %q", s, p)
		}
		if m := MaskPhone(p); m != p[:3]+"****"+p[7:] {
			t.Fatalf("mask %q", m)
		}
	})
}
