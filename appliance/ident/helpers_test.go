package ident

import (
	"errors"
	"math/rand/v2"
	"testing"
	"time"
)

// codeOf returns the Code of err, or "" if err is nil; it fails the test if
// err is not an *Error.
func codeOf(t *testing.T, err error) Code {
	t.Helper()
	if err == nil {
		return ""
	}
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("%v (%T) is not an *ident.Error", err, err)
	}
	if e.Msg == "" {
		t.Fatalf("%s: empty message", e.Code)
	}
	return e.Code
}

// newRand returns a generator seeded from the clock, logging the seed so
// that a failure can be replayed with it.
func newRand(t *testing.T) *rand.Rand {
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	return rand.New(rand.NewPCG(seed, seed>>1))
}

func date(y int, m time.Month, d int) time.Time { return time.Date(y, m, d, 0, 0, 0, 0, time.UTC) }
