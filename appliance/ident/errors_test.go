package ident

import (
	"fmt"
	"net/http"
	"os"
	"regexp"
	"strings"
	"testing"

	"cxt/appliance/errs"
)

// Through errs.Of, as the API renders errors, every refusal is a 400 with
// the identifier's own code and message, even when wrapped.
func TestRefusalsAreInvalidRequestsWithTheirCode(t *testing.T) {
	_, err := ParseResidentID("110105194912310025", today)
	for _, e := range []error{err, fmt.Errorf("worker registration: %w", err)} {
		got := errs.Of(e)
		if got.Kind != errs.Invalid || got.Kind.Status() != http.StatusBadRequest || got.Code != "id_check_digit" || got.Msg != "check digit is 5, expected X" {
			t.Fatalf("%v: %+v", e, got)
		}
	}
	var other *strings.Builder
	if (&Error{Code: IDRegion, Msg: "x"}).As(&other) {
		t.Fatal("As filled a target that is not an *errs.Error")
	}
}

// Every code is in docs/errors.md with status 400 (kind invalid), and
// docs/validation.md explains it.
func TestEveryCodeIsDocumented(t *testing.T) {
	table, err := os.ReadFile("../../docs/errors.md")
	if err != nil {
		t.Fatal(err)
	}
	guide, err := os.ReadFile("../../docs/validation.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range Codes() {
		row := regexp.MustCompile("(?m)^\\| `" + string(c) + "` \\| 400 \\| invalid \\|")
		if !row.Match(table) {
			t.Errorf("%s: no row `| `%s` | 400 | invalid |` in docs/errors.md", c, c)
		}
		if !strings.Contains(string(guide), "`"+string(c)+"`") {
			t.Errorf("%s: not mentioned in docs/validation.md", c)
		}
	}
	seen := map[Code]bool{}
	for _, c := range Codes() {
		if seen[c] {
			t.Errorf("%s listed twice", c)
		}
		seen[c] = true
	}
}
