// Package archivestest does for tests what the holder of a destruction
// certificate does by hand: runs the OpenSSL lines its README.txt prints,
// as printed, in the folder the certificate was unpacked in.
package archivestest

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"cxt/appliance/archives"
)

// Verify runs README.txt's openssl lines in dir with the machine's sh and
// OpenSSL 3, stopping at the first that fails, and returns what they
// printed: the certificate chain, then the signatures over certificate.json
// and certificate.pdf.
func Verify(t testing.TB, dir string) (string, error) {
	t.Helper()
	readme, err := os.ReadFile(filepath.Join(dir, archives.FileReadme))
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, l := range strings.Split(string(readme), "\n") {
		if strings.HasPrefix(l, "openssl ") {
			lines = append(lines, l)
		}
	}
	if len(lines) != 4 {
		t.Fatalf("README.txt has %d openssl lines, not 4:\n%s", len(lines), readme)
	}
	cmd := exec.Command("sh", "-ec", strings.Join(lines, "\n"))
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// VerifyOK fails t unless the certificate in dir verifies: both
// signatures print "Verified OK".
func VerifyOK(t testing.TB, dir string) {
	t.Helper()
	if out, err := Verify(t, dir); err != nil || strings.Count(out, "Verified OK") != 2 {
		t.Fatalf("OpenSSL over the destruction certificate in %s: %v\n%s", dir, err, out)
	}
}
