package cli

import (
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"cxt/crypto/sm"
	"cxt/policy"
)

// The operator's loop on a bundle: export the built-in one, test it, sign
// it, and check the signature with OpenSSL alone; OpenSSL's signature is
// checked by cxt.
func TestPolicyBundleExportTestSignAndVerifyWithOpenSSL(t *testing.T) {
	dir := t.TempDir()
	bundle := filepath.Join(dir, "bundle")
	key, pub := filepath.Join(dir, "key.pem"), filepath.Join(dir, "pub.pem")
	openssl(t, "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:SM2", "-out", key)
	openssl(t, "pkey", "-in", key, "-pubout", "-out", pub)

	if code, out, e := run(t, "", "policy", "export", bundle); code != 0 || !strings.Contains(out, "Next: ") {
		t.Fatalf("export: exit %d %s %s", code, out, e)
	}
	if code, _, _ := run(t, "", "policy", "export", bundle); code != 2 {
		t.Fatalf("export over a bundle: exit %d, want 2", code)
	}
	code, out, e := run(t, "", "policy", "test", bundle)
	if code != 0 || !strings.Contains(out, "PASS  cxt.risk_test.") || !strings.Contains(out, "All ") {
		t.Fatalf("test: exit %d %s %s", code, out, e)
	}

	if code, out, e := run(t, "", "policy", "sign", "--key", key, bundle); code != 0 || !strings.Contains(out, "Next: cxt policy verify") {
		t.Fatalf("sign: exit %d %s %s", code, out, e)
	}
	digest := filepath.Join(dir, "digest.bin")
	if code, _, e := run(t, "", "policy", "digest", bundle, "--out", digest); code != 0 {
		t.Fatalf("digest: exit %d %s", code, e)
	}
	sig := filepath.Join(bundle, "bundle.sig")
	if out := openssl(t, "dgst", "-sm3", "-sigopt", "distid:1234567812345678", "-verify", pub, "-signature", sig, digest); !strings.Contains(out, "Verified OK") {
		t.Fatalf("openssl rejects cxt's bundle signature: %s", out)
	}
	if code, out, _ := run(t, "", "policy", "verify", "--pub", pub, bundle); code != 0 || !strings.HasPrefix(out, "Verified OK") {
		t.Fatalf("verify: exit %d %s", code, out)
	}

	// Signed by OpenSSL over the digest cxt printed.
	openssl(t, "dgst", "-sm3", "-sigopt", "distid:1234567812345678", "-sign", key, "-out", sig, digest)
	if code, _, e := run(t, "", "policy", "verify", "--pub", pub, bundle); code != 0 {
		t.Fatalf("verify openssl's signature: exit %d %s", code, e)
	}

	// A tampered file: invalid, exit 1, with the reason.
	os.WriteFile(filepath.Join(bundle, "risk", "data.json"), []byte(`{"cxt": {}}`), 0o644)
	if code, _, e := run(t, "", "policy", "verify", "--pub", pub, bundle); code != 1 || !strings.Contains(e, "signature does not verify") {
		t.Fatalf("a tampered bundle: exit %d %s", code, e)
	}
	os.Remove(sig)
	if code, _, e := run(t, "", "policy", "verify", "--pub", pub, bundle); code != 1 || !strings.Contains(e, "no bundle.sig") {
		t.Fatalf("an unsigned bundle: exit %d %s", code, e)
	}
	if code, _, _ := run(t, "", "policy", "verify", "--pub", key, bundle); code != 2 {
		t.Fatalf("a private key given as --pub: exit %d, want 2", code)
	}
	if code, _, _ := run(t, "", "policy", "push", "--url", "https://127.0.0.1:1", bundle); code != 2 {
		t.Fatalf("pushing an unsigned bundle: exit %d, want 2", code)
	}
}

func TestPolicyTestNamesTheFailingTestAndExits1(t *testing.T) {
	bundle := filepath.Join(t.TempDir(), "b")
	if code, _, e := run(t, "", "policy", "export", bundle); code != 0 {
		t.Fatal(e)
	}
	os.WriteFile(filepath.Join(bundle, "risk", "extra_test.rego"), []byte("package cxt.extra_test\n\nimport rego.v1\n\ntest_never if false\n"), 0o644)
	code, out, _ := run(t, "", "policy", "test", bundle)
	if code != 1 || !strings.Contains(out, "FAIL  cxt.extra_test.test_never  (risk/extra_test.rego)") || !strings.Contains(out, "1 of ") {
		t.Fatalf("exit %d\n%s", code, out)
	}
	os.WriteFile(filepath.Join(bundle, "notes.txt"), []byte("x"), 0o644)
	if code, _, e := run(t, "", "policy", "test", bundle); code != 2 || !strings.Contains(e, "notes.txt") {
		t.Fatalf("a stray file: exit %d %s", code, e)
	}
}

func TestPolicyEvalAnswersOneDecisionAndSaysWhenItIsUndefined(t *testing.T) {
	dir := t.TempDir()
	bundle := filepath.Join(dir, "b")
	os.MkdirAll(filepath.Join(bundle, "risk"), 0o755)
	os.WriteFile(filepath.Join(bundle, "manifest.json"), []byte(`{"version": "t1"}`), 0o644)
	os.WriteFile(filepath.Join(bundle, "risk", "payout.rego"), []byte("package cxt.risk.payout\n\nimport rego.v1\n\n"+
		"pay := {\"pay\": input.amount_fen <= data.cxt.limit_fen}\n"), 0o644)
	os.WriteFile(filepath.Join(bundle, "risk", "data.json"), []byte(`{"cxt": {"limit_fen": 10000}}`), 0o644)
	in := filepath.Join(dir, "in.json")
	os.WriteFile(in, []byte(`{"amount_fen": 9999}`), 0o644)
	const q = "data.cxt.risk.payout.pay"
	if code, out, e := run(t, "", "policy", "eval", "--query", q, "--input", in, bundle); code != 0 || !strings.Contains(out, `"pay": true`) {
		t.Fatalf("eval: exit %d %s %s", code, out, e)
	}
	if code, out, _ := run(t, `{"amount_fen": 10001}`, "policy", "eval", "--query", q, "--input", "-", bundle); code != 0 || !strings.Contains(out, `"pay": false`) {
		t.Fatalf("eval from stdin: exit %d %s", code, out)
	}
	if code, out, _ := run(t, `{"amount": 1}`, "policy", "eval", "--query", q, "--input", "-", bundle); code != 1 || !strings.HasPrefix(out, "undefined: ") {
		t.Fatalf("a missing input field: exit %d %s", code, out)
	}
	if code, out, _ := run(t, `{}`, "policy", "eval", "--query", "data.cxt.limit_fen", "--input", "-", bundle); code != 0 || strings.TrimSpace(out) != "10000" {
		t.Fatalf("another query: exit %d %s", code, out)
	}
	if code, _, _ := run(t, `not json`, "policy", "eval", "--query", q, "--input", "-", bundle); code != 2 {
		t.Fatalf("input that is not JSON: exit %d", code)
	}
}

// The payout decision of the exported default bundle, explained rule by
// rule, with the SM3 a payment records of the same input; a row missing a
// field is refused, never decided as if the field were false.
func TestPolicyEvalExplainsAPayoutDecision(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "b")
	if code, _, e := run(t, "", "policy", "export", dir); code != 0 {
		t.Fatalf("export: exit %d %s", code, e)
	}
	row := `{"amount_fen":4200000,"merchant":{"day_fen":0,"grade":"B","id":"m_1","status":"approved"},` +
		`"task":{"accepted":true,"budget_fen":9000000,"present":true},"worker":{"blacklisted":false,"card_bi":"","day_fen":4500000,` +
		`"day_merchants":1,"day_near":1,"device_bi":"","id":"w_1","id_bi":"","month_fen":4500000,"officer":true,"signed":true,"verified":true,"year_fen":4500000}}`
	code, out, e := run(t, row, "policy", "eval", "--input", "-", dir)
	if code != 0 {
		t.Fatalf("eval: exit %d %s %s", code, out, e)
	}
	var d policy.RiskDecision
	if err := json.Unmarshal([]byte(out), &d); err != nil {
		t.Fatalf("%s: %v", out, err)
	}
	if d.Outcome != "reject" || d.Rule != "identity.officer" || len(d.Hits) != 2 || d.Hits[1].Rule != "velocity.structuring" {
		t.Fatalf("the decision: %+v", d)
	}
	sum := sm.Sum([]byte(row))
	if !strings.Contains(e, "input_sm3: "+hex.EncodeToString(sum[:])) || !strings.Contains(e, "Next: ") {
		t.Fatalf("the input's SM3 and the next step: %s", e)
	}
	if code, _, e := run(t, `{"amount_fen": 1}`, "policy", "eval", "--input", "-", dir); code != 2 || !strings.Contains(e, "needs every field") {
		t.Fatalf("a row missing fields: exit %d %s", code, e)
	}
}
