package topups

import (
	"fmt"
	"slices"
	"strings"
	"testing"
)

func TestRemittanceCodesAreCheckedAndFoundInMemos(t *testing.T) {
	code := candidateCode("m_0123456789abcdef", 0)
	if len(code) != codeLen || !strings.HasPrefix(code, "CX") || strings.ContainsAny(code[2:], "ILOU") {
		t.Fatalf("code %q", code)
	}
	if again := candidateCode("m_0123456789abcdef", 0); again != code {
		t.Fatalf("not deterministic: %s then %s", code, again)
	}
	if next := candidateCode("m_0123456789abcdef", 1); next == code {
		t.Fatal("the next candidate is the same code")
	}
	if _, ok := normalCode(code); !ok {
		t.Fatalf("%s fails its own check", code)
	}
	// Every single mistyped character is caught.
	for i := 2; i < codeLen; i++ {
		for _, c := range codeAlphabet {
			if byte(c) == code[i] {
				continue
			}
			typo := code[:i] + string(c) + code[i+1:]
			if _, ok := normalCode(typo); ok {
				t.Fatalf("typo %s of %s passes the check", typo, code)
			}
		}
	}
	lower := strings.ToLower(code)
	fullWidth := ""
	for _, r := range code {
		fullWidth += string(r + 0xFEE0)
	}
	for memo, want := range map[string][]string{
		"充值" + code:                        {code},
		code + "，货款":                       {code},
		"ref " + lower + " thanks":         {code},
		"全角" + fullWidth:                   {code},
		code + " " + code:                  {code},
		"X" + code:                         nil, // inside a longer word
		code + "9":                         nil,
		code[:codeLen-1]:                   nil,
		"no code here":                     nil,
		strings.Replace(code, "0", "O", 1): {code}, // O read as 0 (if the code has a 0)
	} {
		if got := CodesIn(memo); !slices.Equal(got, want) {
			t.Errorf("CodesIn(%q) = %v, want %v", memo, got, want)
		}
	}
	other := candidateCode("m_other", 0)
	if got := CodesIn(fmt.Sprintf("%s/%s", code, other)); !slices.Equal(got, []string{code, other}) {
		t.Errorf("two codes: %v", got)
	}
}

func TestRecognisePrecedence(t *testing.T) {
	cases := []struct {
		name       string
		account    string
		codes      []string
		merchant   string
		by, reason string
		candidates []string
	}{
		{"account and code agree", "m1", []string{"m1"}, "m1", ByAccountAndCode, "", nil},
		{"code only", "", []string{"m2"}, "m2", ByCode, "", nil},
		{"account only", "m1", nil, "m1", ByAccount, "", nil},
		{"account and code disagree", "m1", []string{"m2"}, "", "", ReasonAmbiguous, []string{"m1", "m2"}},
		{"two codes of two merchants", "", []string{"m2", "m3"}, "", "", ReasonAmbiguous, []string{"m2", "m3"}},
		{"two codes, one agreeing with the account", "m2", []string{"m2", "m3"}, "", "", ReasonAmbiguous, []string{"m2", "m3"}},
		{"nothing known", "", nil, "", "", ReasonUnmatched, nil},
	}
	for _, c := range cases {
		m, by, reason, cands := Recognise(c.account, c.codes)
		if m != c.merchant || by != c.by || reason != c.reason || !slices.Equal(cands, c.candidates) {
			t.Errorf("%s: got %q %q %q %v", c.name, m, by, reason, cands)
		}
	}
}
