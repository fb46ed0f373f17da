// Package esigntest does for tests what a verifier of an evidence package
// does by hand: writes the package out to a folder and runs the OpenSSL
// script docs/e-signing.md prints, exactly as printed.
package esigntest

import (
	"archive/zip"
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// Extract writes a downloaded package out to a fresh folder, as a verifier
// would, and returns the folder.
func Extract(t testing.TB, pkg []byte) string {
	t.Helper()
	dir := t.TempDir()
	zr, err := zip.NewReader(bytes.NewReader(pkg), int64(len(pkg)))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range zr.File {
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		var b bytes.Buffer
		b.ReadFrom(rc)
		rc.Close()
		p := filepath.Join(dir, filepath.FromSlash(f.Name))
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// Script is the verification script as docs/e-signing.md prints it.
func Script(t testing.TB) string {
	t.Helper()
	_, here, _, _ := runtime.Caller(0)
	doc, err := os.ReadFile(filepath.Join(filepath.Dir(here), "../../../docs/e-signing.md"))
	if err != nil {
		t.Fatal(err)
	}
	const marker = "<!-- verify-script: esign.VerifyScript -->\n```sh\n"
	i := bytes.Index(doc, []byte(marker))
	if i < 0 {
		t.Fatalf("docs/e-signing.md has no %q", marker)
	}
	rest := doc[i+len(marker):]
	j := bytes.Index(rest, []byte("```\n"))
	if j < 0 {
		t.Fatal("the script in docs/e-signing.md is not closed")
	}
	return string(rest[:j])
}

// Run runs the documented script in dir with the machine's sh and OpenSSL 3
// and returns what it printed.
func Run(t testing.TB, dir string) (string, error) {
	t.Helper()
	cmd := exec.Command("sh", "-c", Script(t))
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// RunReadme runs the openssl lines of the README a signed download carries
// (readme, in dir), as printed, with the machine's sh and OpenSSL 3,
// stopping at the first that fails, and returns what they printed. The
// README must have want such lines: a line dropped is a check dropped.
func RunReadme(t testing.TB, dir, readme string, want int) (string, error) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, readme))
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "openssl ") {
			lines = append(lines, l)
		}
	}
	if len(lines) != want {
		t.Fatalf("%s has %d openssl lines, not %d:\n%s", readme, len(lines), want, b)
	}
	cmd := exec.Command("sh", "-ec", strings.Join(lines, "\n"))
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	return string(out), err
}
