package errs

import (
	"errors"
	"io"
	"net/http"
	"testing"
)

func TestEveryKindHasOneStatusAndCode(t *testing.T) {
	seen := map[string]Kind{}
	for k := Internal; k <= WrongMethod; k++ {
		if k.Status() < 400 || k.Code() == "" {
			t.Fatalf("kind %d has status %d code %q", k, k.Status(), k.Code())
		}
		if other, dup := seen[k.Code()]; dup {
			t.Fatalf("kinds %d and %d share code %q", k, other, k.Code())
		}
		seen[k.Code()] = k
	}
}

func TestOfKeepsKindsAndHidesCauses(t *testing.T) {
	e := Of(Wrap("unseal", Invalid, io.EOF, "share is malformed"))
	if e.Kind != Invalid || e.Code != "invalid_request" || !errors.Is(e, io.EOF) {
		t.Fatalf("%+v", e)
	}
	e = Of(io.ErrUnexpectedEOF)
	if e.Kind != Internal || e.Kind.Status() != http.StatusInternalServerError || e.Msg != "internal error" {
		t.Fatalf("unclassified error rendered as %+v", e)
	}
	if c := Of(Coded("login", Invalid, "weak_password", "too short")); c.Code != "weak_password" || c.Kind.Status() != 400 {
		t.Fatalf("%+v", c)
	}
}
