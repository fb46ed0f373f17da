// Package receiptstest does for tests what a receipt's recipient does by
// hand: runs the OpenSSL lines its README.txt prints, as printed, in the
// folder the zip was unpacked in (esigntest.Extract unpacks it).
package receiptstest

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"cxt/appliance/receipts"
)

// Verify runs README.txt's openssl lines in dir with the machine's sh and
// OpenSSL 3, stopping at the first that fails, and returns what they
// printed.
func Verify(t testing.TB, dir string) (string, error) {
	t.Helper()
	readme, err := os.ReadFile(filepath.Join(dir, receipts.FileReadme))
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, l := range strings.Split(string(readme), "\n") {
		if strings.HasPrefix(l, "openssl ") {
			lines = append(lines, l)
		}
	}
	if len(lines) != 3 {
		t.Fatalf("README.txt has %d openssl lines, not 3:\n%s", len(lines), readme)
	}
	cmd := exec.Command("sh", "-ec", strings.Join(lines, "\n"))
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	return string(out), err
}
