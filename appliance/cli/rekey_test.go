package cli

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"cxt/appliance/datadir"
)

func TestOperatorRekeyReplacesAnEmbeddedNodesKeyFile(t *testing.T) {
	dir, n, _, _ := serveForTest(t, 0)
	path := filepath.Join(dir, datadir.MasterKeyFile)
	before, _ := os.ReadFile(path)
	if code, _, _ := run(t, "", "operator", "rekey", "--data", dir); code != 2 {
		t.Fatalf("no reason: exit %d, want 2", code)
	}
	// A key file others may read is refused, with the command that fixes it.
	loose := filepath.Join(t.TempDir(), "loose.key")
	os.WriteFile(loose, before, 0o644)
	code, _, errOut := run(t, "", "operator", "rekey", "--data", dir, "--reason", "yearly rotation", "--key-file", loose)
	if code != 2 || !strings.Contains(errOut, "chmod 600 "+loose) {
		t.Fatalf("a 0644 key file: exit %d %s", code, errOut)
	}
	code, out, errOut := run(t, "", "operator", "rekey", "--data", dir, "--reason", "yearly rotation")
	if code != 0 || !strings.Contains(out, "The master key is replaced") {
		t.Fatalf("rekey: exit %d %s %s", code, out, errOut)
	}
	after, _ := os.ReadFile(path)
	if len(after) != 32 || string(after) == string(before) {
		t.Fatal("master.key was not replaced")
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Fatalf("the new key file has mode %04o", fi.Mode().Perm())
	}
	if n.Sealed() {
		t.Fatal("the node is sealed after the rekey")
	}
	// The old key no longer proves anything: break-glass with it is refused.
	old := filepath.Join(t.TempDir(), "old.key")
	os.WriteFile(old, before, 0o600)
	if code, _, errOut := run(t, "", "operator", "break-glass", "--data", dir, "--account", "secadmin", "--reason", "lost phone, ticket 9", "--key-file", old); code == 0 || !strings.Contains(errOut, "wrong_key") {
		t.Fatalf("break-glass with the old key: exit %d %s", code, errOut)
	}
}

func TestOperatorRekeyToSharesPrintsThemAndSwitchesOnVerify(t *testing.T) {
	dir, n, res, _ := serveForTest(t, 3)
	code, out, errOut := run(t, strings.Join(res.Shares[:2], "\n"), "operator", "rekey", "--data", dir, "--reason", "custodian left", "--to-shares", "4", "--to-threshold", "3")
	if code != 0 {
		t.Fatalf("rekey: exit %d %s", code, errOut)
	}
	shares := regexp.MustCompile(`share \d: ([0-9a-f]+)`).FindAllStringSubmatch(out, -1)
	nonce := regexp.MustCompile(`--nonce ([0-9a-f]+)`).FindStringSubmatch(out)
	if len(shares) != 4 || nonce == nil {
		t.Fatalf("rekey output:\n%s", out)
	}
	var news []string
	for _, s := range shares {
		news = append(news, s[1])
	}
	if code, _, errOut := run(t, strings.Join(news[:2], "\n"), "operator", "rekey", "--data", dir, "--verify", "--nonce", nonce[1]); code == 0 {
		t.Fatalf("two of the new shares, threshold 3: exit 0 %s", errOut)
	}
	if code, out, errOut := run(t, strings.Join(news[1:], "\n"), "operator", "rekey", "--data", dir, "--verify", "--nonce", nonce[1]); code != 0 || !strings.Contains(out, "new master key is in force") {
		t.Fatalf("verify: exit %d %s %s", code, out, errOut)
	}
	cfg, _ := datadir.Load(dir)
	if cfg.Seal.Shares != 4 || cfg.Seal.Threshold != 3 || n.Sealed() {
		t.Fatalf("seal after the rekey: %+v, sealed %v", cfg.Seal, n.Sealed())
	}
}
