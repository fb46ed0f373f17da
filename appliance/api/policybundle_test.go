package api_test

import (
	"encoding/base64"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"cxt/crypto/sm"
	"cxt/policy"
)

// takeAuditSearch takes audit.search from the audit administrator (no
// other role may have it), and changes the rego test that says it has it.
func takeAuditSearch(t *testing.T, fixTest bool) func(policy.Files) {
	return func(f policy.Files) {
		const data, test = `"audit.search": [
          "audit_admin"
        ]`, `	authz.decision.allow with input as {"action": "audit.search", "subject": subject({"audit_admin"}), "resource": {}}`
		if !strings.Contains(f["rego/data.json"], data) || !strings.Contains(f["rego/authz_test.rego"], test) {
			t.Fatal("the embedded policy's audit.search row or its test moved: update the test")
		}
		f["rego/data.json"] = strings.Replace(f["rego/data.json"], data, `"audit.search": []`, 1)
		if fixTest {
			f["rego/authz_test.rego"] = strings.Replace(f["rego/authz_test.rego"], test, "\tnot "+test[1:], 1)
		}
	}
}

// A policy is put in force only as a bundle signed by a security
// administrator's enrolled SM2 key, whose tests pass; every refusal leaves
// the policy in force as it was. Activations are kept, and a rollback puts
// an earlier one back.
func TestAPolicyChangeTakesEffectAtOnceAndOnlySigned(t *testing.T) {
	e := start(t)
	sec, _ := e.signInMFA("secadmin")
	sys, _ := e.signInMFA("sysadmin")
	audit := e.signIn("auditadmin")
	cur := e.call("GET", "/api/v1/policy", sec, "")
	if cur.status != 200 || cur.body["version"] != "embedded" || cur.body["activated_index"] != float64(0) || cur.body["files"] == nil {
		t.Fatalf("policy: %d %v", cur.status, cur.body)
	}
	key := e.signingKey(sec)
	auditMaySearch := func() bool {
		t.Helper()
		r := e.call("GET", "/api/v1/audit", audit, "")
		if r.status != 200 && r.status != 403 {
			t.Fatalf("audit search: %d %v", r.status, r.body)
		}
		return r.status == 200
	}
	unchanged := func(what string) {
		t.Helper()
		if v := e.n.Status().Policy; v != "embedded" || !auditMaySearch() {
			t.Fatalf("%s changed the policy in force: %q", what, v)
		}
	}
	v1 := editedBundle(t, e, sec, "v1", nil, takeAuditSearch(t, true))
	signed := func(f policy.Files, k *sm.PrivateKey) string { return bundleBody(t, f, k) }
	for i, c := range []struct {
		what, body    string
		status        int
		code, message string
	}{
		{"the unsigned bundle of old", string(mustMarshal(t, map[string]any{"version": "v1", "modules": map[string]string{"a.rego": "package a"}, "data": map[string]any{}})), 400, "bundle_unsigned", "no longer taken"},
		{"files without a signature", string(mustMarshal(t, map[string]any{"files": v1})), 400, "bundle_unsigned", "cxt policy sign"},
		{"a file changed after signing", func() string {
			sig, _ := policy.Sign(key, v1)
			f := editedBundle(t, e, sec, "v1", nil, takeAuditSearch(t, true))
			f["risk/data.json"] = strings.Replace(f["risk/data.json"], "10000000", "99999999", 1)
			return string(mustMarshal(t, map[string]any{"files": f, "signature": base64.StdEncoding.EncodeToString(sig)}))
		}(), 400, "bundle_signature_invalid", "no open security administrator"},
		{"signed by a key nobody enrolled", signed(v1, func() *sm.PrivateKey { k, _ := sm.GenerateKey(); return k }()), 400, "bundle_signature_invalid", ""},
		{"signed by the system administrator's enrolled key", signed(v1, e.signingKey(sys)), 400, "bundle_signature_invalid", ""},
		{"a failing rego test", signed(editedBundle(t, e, sec, "v1", nil, takeAuditSearch(t, false)), key), 400, "bundle_tests_fail", "cxt.authz_test.test_"},
		{"rego that does not compile", signed(editedBundle(t, e, sec, "v1", nil, func(f policy.Files) { f["rego/bad.rego"] = "package cxt.authz\nnot rego" }), key), 400, "bundle_invalid", "does not compile"},
		{"a stray file", signed(editedBundle(t, e, sec, "v1", nil, func(f policy.Files) { f["notes.txt"] = "x" }), key), 400, "bundle_invalid", "notes.txt"},
		{"too large", signed(editedBundle(t, e, sec, "v1", nil, func(f policy.Files) {
			f["rego/pad.rego"] = "package pad\n" + strings.Repeat("# pad\n", policy.MaxBundleSize/6)
		}), key), 400, "bundle_too_large", ""},
		{"the embedded version", signed(editedBundle(t, e, sec, "embedded", nil, takeAuditSearch(t, true)), key), 400, "bundle_invalid", "built into cxt"},
	} {
		e.stepUp(sec, "secadmin")
		r := e.call("PUT", "/api/v1/policy", sec, c.body, "Idempotency-Key", "bad-"+string(rune('a'+i)))
		if r.status != c.status || r.code() != c.code || !strings.Contains(errMessage(r), c.message) || r.body["confirm_token"] != nil {
			t.Errorf("%s: %d %v", c.what, r.status, r.body)
		}
		unchanged(c.what)
	}

	e.stepUp(sec, "secadmin")
	id := e.proposed("PUT", "/api/v1/policy", sec, signed(v1, key), "p1")
	e.stepUp(sys, "sysadmin") // a policy change needs a second administrator
	if r := e.approve(sys, id, "p1-ok"); r.status != 200 || r.body["result"].(map[string]any)["version"] != "v1" {
		t.Fatalf("set policy: %d %v", r.status, r.body)
	}
	if auditMaySearch() || e.n.Status().Policy != "v1" {
		t.Fatalf("the old policy still decides: %q", e.n.Status().Policy)
	}
	d := v1.Digest()
	cur = e.call("GET", "/api/v1/policy", sec, "")
	if cur.body["version"] != "v1" || cur.body["sm3"] != hex.EncodeToString(d[:]) || cur.body["signer"] != "acct-secadmin" || cur.body["activated_index"].(float64) <= 0 {
		t.Fatalf("policy in force: %v", cur.body)
	}
	firstIndex := cur.body["activated_index"]

	// v2 is signed by OpenSSL with the same key, over the digest.
	v2 := policy.DefaultFiles()
	v2["manifest.json"] = `{"version": "v2"}`
	dir := t.TempDir()
	pemKey, _ := key.MarshalPEM()
	dv2 := v2.Digest()
	os.WriteFile(filepath.Join(dir, "key.pem"), pemKey, 0o600)
	os.WriteFile(filepath.Join(dir, "digest.bin"), dv2[:], 0o600)
	openssl(t, dir, "dgst", "-sm3", "-sigopt", sm.DistID, "-sign", "key.pem", "-out", "bundle.sig", "digest.bin")
	osslSig, _ := os.ReadFile(filepath.Join(dir, "bundle.sig"))
	body := string(mustMarshal(t, map[string]any{"files": v2, "signature": base64.StdEncoding.EncodeToString(osslSig)}))
	e.stepUp(sec, "secadmin")
	id = e.proposed("PUT", "/api/v1/policy", sec, body, "p2")
	e.stepUp(sys, "sysadmin")
	if r := e.approve(sys, id, "p2-ok"); r.status != 200 || !auditMaySearch() {
		t.Fatalf("set the OpenSSL-signed policy: %d %v", r.status, r.body)
	}

	// A version names one bundle.
	e.stepUp(sec, "secadmin")
	reuse := signed(editedBundle(t, e, sec, "v1", nil, nil), key)
	if r := e.call("PUT", "/api/v1/policy", sec, reuse, "Idempotency-Key", "reuse"); r.status != 409 || r.code() != "bundle_version_reused" {
		t.Fatalf("a version used for other files: %d %v", r.status, r.body)
	}

	// Roll back to v1: its preview, then the second administrator.
	if r := e.call("POST", "/api/v1/policy/rollback", sec, `{"version":"nope"}`, "Idempotency-Key", "rb-0"); r.status != 404 || r.code() != "policy_version_unknown" {
		t.Fatalf("rollback to an unknown version: %d %v", r.status, r.body)
	}
	p := e.call("POST", "/api/v1/policy/rollback", sec, `{"version":"v1"}`, "Idempotency-Key", "rb-1")
	impact, _ := p.body["preview"].(map[string]any)["impact"].(map[string]any)
	if p.status != 200 || impact["to_version"] != "v1" || impact["rollback_of"] == nil || impact["permission_diff"] == nil {
		t.Fatalf("rollback preview: %d %v", p.status, p.body)
	}
	id = e.proposed("POST", "/api/v1/policy/rollback", sec, `{"version":"v1"}`, "rb-1")
	e.stepUp(sys, "sysadmin")
	if r := e.approve(sys, id, "rb-1-ok"); r.status != 200 {
		t.Fatalf("approve the rollback: %d %v", r.status, r.body)
	}
	if auditMaySearch() || e.n.Status().Policy != "v1" {
		t.Fatalf("the rollback did not restore v1's decisions: %q", e.n.Status().Policy)
	}
	h := e.call("GET", "/api/v1/policy/history", audit, "")
	acts, _ := h.body["activations"].([]any)
	if h.status != 200 || len(acts) != 3 {
		t.Fatalf("history: %d %v", h.status, h.body)
	}
	newest := acts[0].(map[string]any)
	if newest["version"] != "v1" || newest["in_force"] != true || newest["rollback_of"] != firstIndex || acts[1].(map[string]any)["version"] != "v2" || acts[1].(map[string]any)["in_force"] != false {
		t.Fatalf("history: %v", acts)
	}
}
