package cli

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func run(t *testing.T, stdin string, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := Main(args, strings.NewReader(stdin), &out, &errb)
	return code, out.String(), errb.String()
}

func openssl(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command("openssl", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("openssl %v: %v\n%s", args, err, out)
	}
	return string(out)
}

func TestCryptoSM3MatchesOpenSSL(t *testing.T) {
	f := filepath.Join(t.TempDir(), "data")
	os.WriteFile(f, []byte("劳务报酬 2026-03\n"), 0o600)
	code, out, _ := run(t, "", "crypto", "sm3", f)
	want := strings.Fields(openssl(t, "dgst", "-sm3", "-r", f))[0]
	if code != 0 || strings.TrimSpace(out) != want {
		t.Fatalf("exit %d, %q; openssl %q", code, out, want)
	}
	if code, _, _ := run(t, "", "crypto", "sm3", filepath.Join(t.TempDir(), "missing")); code != 2 {
		t.Fatalf("missing file: exit %d, want 2", code)
	}
}

func TestCryptoSignAndVerifyInteroperateWithOpenSSL(t *testing.T) {
	dir := t.TempDir()
	key, pub, data := filepath.Join(dir, "key.pem"), filepath.Join(dir, "pub.pem"), filepath.Join(dir, "data")
	openssl(t, "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:SM2", "-out", key)
	openssl(t, "pkey", "-in", key, "-pubout", "-out", pub)
	os.WriteFile(data, []byte("合同 v1"), 0o600)

	code, sig, errOut := run(t, "", "crypto", "sign", "--key", key, data)
	if code != 0 {
		t.Fatalf("sign: exit %d %s", code, errOut)
	}
	sigPath := filepath.Join(dir, "sig.der")
	os.WriteFile(sigPath, []byte(sig), 0o600)
	if out := openssl(t, "dgst", "-sm3", "-sigopt", "distid:1234567812345678", "-verify", pub, "-signature", sigPath, data); !strings.Contains(out, "Verified OK") {
		t.Fatalf("openssl rejects cxt's signature: %s", out)
	}

	osslSig := filepath.Join(dir, "ossl.der")
	openssl(t, "dgst", "-sm3", "-sigopt", "distid:1234567812345678", "-sign", key, "-out", osslSig, data)
	if code, _, e := run(t, "", "crypto", "verify", "--pub", pub, "--sig", osslSig, data); code != 0 {
		t.Fatalf("verify openssl's signature: exit %d %s", code, e)
	}
	os.WriteFile(data, []byte("合同 v2"), 0o600)
	if code, _, _ := run(t, "", "crypto", "verify", "--pub", pub, "--sig", osslSig, data); code != 1 {
		t.Fatalf("altered data: exit %d, want 1", code)
	}
	os.WriteFile(filepath.Join(dir, "junk.pem"), []byte("junk"), 0o600)
	if code, _, _ := run(t, "", "crypto", "verify", "--pub", filepath.Join(dir, "junk.pem"), "--sig", osslSig, data); code != 2 {
		t.Fatalf("bad key: exit %d, want 2", code)
	}
	if code, _, _ := run(t, "", "crypto", "verify", "--pub", pub, data); code != 2 {
		t.Fatalf("missing --sig: exit %d, want 2", code)
	}
	if code, _, _ := run(t, "", "crypto", "sign", "--key", pub, data); code != 2 {
		t.Fatalf("public key given to sign: exit %d, want 2", code)
	}
}

func TestInitJSONAndBadFlags(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "d")
	code, out, errOut := run(t, "", "init", "--data", dir, "--listen", "127.0.0.1:0", "--cluster", "127.0.0.1:0",
		"--advertise", "127.0.0.1:1", "--shares", "3", "--threshold", "2", "--json")
	if code != 0 {
		t.Fatalf("init: exit %d %s", code, errOut)
	}
	var res struct {
		NodeID string   `json:"node_id"`
		Shares []string `json:"shares"`
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil || len(res.Shares) != 3 || res.NodeID == "" {
		t.Fatalf("init --json printed %q (%v)", out, err)
	}
	if code, _, _ := run(t, "", "init", "--data", dir, "--shares", "3"); code != 2 {
		t.Fatalf("--shares without --threshold: exit %d, want 2", code)
	}
	if code, _, _ := run(t, "", "init", "--no-such-flag"); code != 2 {
		t.Fatalf("unknown flag: exit %d, want 2", code)
	}
	if code, _, _ := run(t, "", "join", "--data", filepath.Join(t.TempDir(), "j"), "--leader", "127.0.0.1:1"); code != 2 {
		t.Fatalf("join without a key: exit %d, want 2", code)
	}
}
