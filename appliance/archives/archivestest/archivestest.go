// Package archivestest does for tests what the holder of a destruction
// certificate does by hand: runs the OpenSSL lines its README.txt prints,
// as printed, in the folder the certificate was unpacked in.
package archivestest

import (
	"strings"
	"testing"

	"cxt/appliance/archives"
	"cxt/appliance/esign/esigntest"
)

// Verify runs README.txt's four openssl lines in dir with the machine's sh
// and OpenSSL 3 — the certificate chain, then the signatures over
// certificate.json and certificate.pdf — stopping at the first that fails,
// and returns what they printed.
func Verify(t testing.TB, dir string) (string, error) {
	t.Helper()
	return esigntest.RunReadme(t, dir, archives.FileReadme, 4)
}

// VerifyOK fails t unless the certificate in dir verifies: both
// signatures print "Verified OK".
func VerifyOK(t testing.TB, dir string) {
	t.Helper()
	if out, err := Verify(t, dir); err != nil || strings.Count(out, "Verified OK") != 2 {
		t.Fatalf("OpenSSL over the destruction certificate in %s: %v\n%s", dir, err, out)
	}
}
