package policy_test

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"cxt/crypto/sm"
	"cxt/policy"
)

// The canonical form is what a user reproduces outside cxt: pin it to the
// bytes docs/security.md describes.
func TestTheCanonicalFormIsTheDocumentedBytes(t *testing.T) {
	f := policy.Files{"manifest.json": `{"version":"1"}`, "b/x.rego": "package x\n", "a.rego": "é"}
	want := "cxt-policy-bundle-v1\n" +
		"a.rego\n2\né\n" +
		"b/x.rego\n10\npackage x\n\n" +
		"manifest.json\n15\n{\"version\":\"1\"}\n"
	if got := string(f.Canonical()); got != want {
		t.Fatalf("canonical form:\n%q\nwant\n%q", got, want)
	}
	if f.Digest() != sm.Sum([]byte(want)) {
		t.Fatal("the digest is not the SM3 of the canonical form")
	}
	// A byte moved from one file's end to the next file's start changes
	// the digest: the lengths frame the contents.
	g := policy.Files{"manifest.json": `{"version":"1"}`, "b/x.rego": "package x\n\n", "a.rego": "\xc3"}
	if g.Digest() == f.Digest() {
		t.Fatal("two different bundles share a digest")
	}
}

func TestDataFilesMergeDeeplyAndAConflictingLeafIsRefused(t *testing.T) {
	f := policy.Files{
		"manifest.json": `{"version": "v1", "note": "other fields are allowed"}`,
		"p.rego":        "package cxt.x\n\nimport rego.v1\n\nv := data.cxt.a.b\n",
		"data.json":     `{"cxt": {"a": {"b": 1}}}`,
		"sub/data.json": `{"cxt": {"a": {"c": 2}, "d": [1]}}`,
	}
	b, err := f.Bundle()
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := json.Marshal(b.Data)
	if string(raw) != `{"cxt":{"a":{"b":1,"c":2},"d":[1]}}` || b.Version != "v1" || len(b.Modules) != 1 {
		t.Fatalf("merged: %s %q %v", raw, b.Version, b.Modules)
	}
	f["sub/data.json"] = `{"cxt": {"a": {"b": {"deeper": true}}}}`
	if _, err := f.Bundle(); err == nil || !strings.Contains(err.Error(), "/cxt/a/b") {
		t.Fatalf("a leaf given twice: %v", err)
	}
}

func TestFilesABundleCannotHoldAreRefused(t *testing.T) {
	ok := func() policy.Files {
		return policy.Files{"manifest.json": `{"version":"v1"}`, "p.rego": "package cxt.x\n"}
	}
	for name, change := range map[string]func(policy.Files){
		"no manifest":           func(f policy.Files) { delete(f, "manifest.json") },
		"no version":            func(f policy.Files) { f["manifest.json"] = `{"name":"x"}` },
		"a version with spaces": func(f policy.Files) { f["manifest.json"] = `{"version":"v 1"}` },
		"a parent path":         func(f policy.Files) { f["../p.rego"] = "package y\n" },
		"an absolute path":      func(f policy.Files) { f["/etc/p.rego"] = "package y\n" },
		"a hidden file":         func(f policy.Files) { f[".p.rego"] = "package y\n" },
		"a backslash":           func(f policy.Files) { f[`a\p.rego`] = "package y\n" },
		"a newline in a path":   func(f policy.Files) { f["a\n.rego"] = "package y\n" },
		"another kind of file":  func(f policy.Files) { f["README.md"] = "hi" },
		"the signature":         func(f policy.Files) { f["bundle.sig"] = "x" },
		"a nested manifest":     func(f policy.Files) { f["sub/manifest.json"] = `{"version":"v1"}` },
		"not UTF-8":             func(f policy.Files) { f["q.rego"] = "package q\n\xff" },
	} {
		f := ok()
		if err := f.Check(); err != nil {
			t.Fatal(err)
		}
		change(f)
		if err := f.Check(); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestADirectoryRoundTripsAndStrayFilesAreRefused(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "bundle")
	f := policy.DefaultFiles()
	if err := policy.WriteDir(dir, f, []byte("sig")); err != nil {
		t.Fatal(err)
	}
	if err := policy.WriteDir(dir, f, nil); err == nil {
		t.Fatal("export into a directory that is not empty")
	}
	os.WriteFile(filepath.Join(dir, ".editor-state"), []byte("x"), 0o644) // hidden: skipped
	got, sig, err := policy.ReadDir(dir)
	if err != nil || string(sig) != "sig" || got.Digest() != f.Digest() {
		t.Fatalf("read back: %v %q", err, sig)
	}
	if _, ok := got["rego/authz.rego"]; !ok {
		t.Fatalf("paths: %v", got.Paths())
	}
	os.WriteFile(filepath.Join(dir, "rego", "notes.txt"), []byte("x"), 0o644)
	if _, _, err := policy.ReadDir(dir); err == nil || !strings.Contains(err.Error(), "notes.txt") {
		t.Fatalf("a stray file: %v", err)
	}
}

func TestTheDefaultBundleCarriesTheAuthorizationAndRiskRulesAndPassesItsTests(t *testing.T) {
	f := policy.DefaultFiles()
	for _, p := range []string{"manifest.json", "rego/authz.rego", "rego/authz_test.rego", "rego/data.json", "risk/risk.rego", "risk/risk_test.rego", "risk/data.json"} {
		if _, ok := f[p]; !ok {
			t.Errorf("no %s in %v", p, f.Paths())
		}
	}
	results, err := policy.RunTests(context.Background(), f, 0)
	if err != nil || len(results) < 20 || len(policy.Failed(results)) != 0 {
		t.Fatalf("%d tests, failed %v, %v", len(results), policy.Failed(results), err)
	}
}

func TestAFailingTestIsNamedAndTheClockIsNotThereForTests(t *testing.T) {
	f := policy.Files{
		"manifest.json":   `{"version":"v1"}`,
		"p.rego":          "package cxt.x\n\nimport rego.v1\n\nlimit := data.cxt.limit\n",
		"p_test.rego":     "package cxt.x_test\n\nimport rego.v1\n\nimport data.cxt.x\n\ntest_limit_is_ten if x.limit == 10\n\ntest_limit_is_positive if x.limit > 0\n",
		"data.json":       `{"cxt": {"limit": 9}}`,
		"sub/q_test.rego": "package cxt.q_test\n\nimport rego.v1\n\ntest_always if true\n",
	}
	results, err := policy.RunTests(context.Background(), f, 0)
	if err != nil {
		t.Fatal(err)
	}
	if failed := policy.Failed(results); len(results) != 3 || len(failed) != 1 || failed[0] != "cxt.x_test.test_limit_is_ten" {
		t.Fatalf("results %+v", results)
	}
	f["p_test.rego"] = "package cxt.x_test\n\nimport rego.v1\n\ntest_now if time.now_ns() > 0\n"
	if _, err := policy.RunTests(context.Background(), f, 0); err == nil || !strings.Contains(err.Error(), "time.now_ns") {
		t.Fatalf("a test reading the clock: %v", err)
	}
}

// openssl runs the machine's OpenSSL 3, as a user checking a bundle would.
func openssl(t *testing.T, args ...string) string {
	t.Helper()
	path, err := exec.LookPath("openssl")
	if err != nil {
		t.Fatal("openssl 3 is required for the interop tests (apt-get install openssl)")
	}
	out, err := exec.Command(path, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("openssl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// A bundle's signature is SM2 over its 32-byte digest: OpenSSL verifies
// cxt's and cxt verifies OpenSSL's.
func TestBundleSignaturesInteroperateWithOpenSSL(t *testing.T) {
	dir := t.TempDir()
	keyPath, pubPath, digestPath, sigPath := filepath.Join(dir, "key.pem"), filepath.Join(dir, "pub.pem"), filepath.Join(dir, "digest.bin"), filepath.Join(dir, "bundle.sig")
	openssl(t, "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:SM2", "-out", keyPath)
	openssl(t, "pkey", "-in", keyPath, "-pubout", "-out", pubPath)
	keyPEM, _ := os.ReadFile(keyPath)
	pubPEM, _ := os.ReadFile(pubPath)
	key, err := sm.ParsePrivateKeyPEM(keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	f := policy.DefaultFiles()
	d := f.Digest()
	os.WriteFile(digestPath, d[:], 0o600)

	sig, err := policy.Sign(key, f)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(sigPath, sig, 0o600)
	if out := openssl(t, "dgst", "-sm3", "-sigopt", sm.DistID, "-verify", pubPath, "-signature", sigPath, digestPath); !strings.Contains(out, "Verified OK") {
		t.Fatalf("openssl rejects cxt's bundle signature: %s", out)
	}

	osslSig := filepath.Join(dir, "ossl.sig")
	openssl(t, "dgst", "-sm3", "-sigopt", sm.DistID, "-sign", keyPath, "-out", osslSig, digestPath)
	raw, _ := os.ReadFile(osslSig)
	if err := policy.VerifySignature(string(pubPEM), f, raw); err != nil {
		t.Fatalf("cxt rejects openssl's bundle signature: %v", err)
	}
	f["rego/authz.rego"] += "\n"
	if err := policy.VerifySignature(string(pubPEM), f, raw); !policy.CodeSignatureInvalid.Is(err) {
		t.Fatalf("a changed file verifies: %v", err)
	}
}
