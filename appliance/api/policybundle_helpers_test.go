package api_test

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"testing"

	"cxt/crypto/sm"
	"cxt/policy"
)

// signingKey returns the SM2 key the token's account signs policy bundles
// with, enrolling one (password and TOTP as proof) the first time; the
// session stays, stepped up again.
func (e *env) signingKey(token string) *sm.PrivateKey {
	e.t.Helper()
	me := e.call("GET", "/api/v1/me", token, "")
	acct, _ := me.body["account"].(map[string]any)
	id, _ := acct["id"].(string)
	user, _ := acct["username"].(string)
	if me.status != 200 || id == "" {
		e.t.Fatalf("me: %d %v", me.status, me.body)
	}
	if e.signing == nil {
		e.signing = map[string]*sm.PrivateKey{}
	}
	if k := e.signing[id]; k != nil {
		return k
	}
	key, _ := sm.GenerateKey()
	pub, _ := key.Public().MarshalPEM()
	cid, sig := signChallenge(e, key, "enroll", id)
	body := fmt.Sprintf(`{"public_key":%q,"challenge_id":%q,"signature":%q,"current_password":%q,"totp":%q}`, pub, cid, sig, e.admins[user], e.code(e.secrets[user]))
	if r := e.call("POST", "/api/v1/me/mfa/sm2", token, body); r.status != 200 {
		e.t.Fatalf("enroll %s's SM2 key: %d %v", user, r.status, r.body)
	}
	e.stepUp(token, user)
	e.signing[id] = key
	return key
}

// currentFiles returns the files of the policy in force.
func (e *env) currentFiles(token string) policy.Files {
	e.t.Helper()
	cur := e.call("GET", "/api/v1/policy", token, "")
	raw, _ := json.Marshal(cur.body["files"])
	var f policy.Files
	if err := json.Unmarshal(raw, &f); cur.status != 200 || err != nil || len(f) == 0 {
		e.t.Fatalf("policy in force: %d %v", cur.status, cur.body)
	}
	return f
}

// bundleBody is the body of PUT /api/v1/policy for f signed by key.
func bundleBody(t *testing.T, f policy.Files, key *sm.PrivateKey) string {
	t.Helper()
	sig, err := policy.Sign(key, f)
	if err != nil {
		t.Fatal(err)
	}
	return string(mustMarshal(t, map[string]any{"files": f, "signature": base64.StdEncoding.EncodeToString(sig)}))
}

// editedBundle is the policy in force under a new version, its role table
// (perms) and files changed by edit, both optional.
func editedBundle(t *testing.T, e *env, token, version string, perms func(map[string]any), edit func(policy.Files)) policy.Files {
	t.Helper()
	f := e.currentFiles(token)
	f["manifest.json"] = fmt.Sprintf("{\"version\": %q}\n", version)
	if perms != nil {
		var data map[string]any
		if err := json.Unmarshal([]byte(f["rego/data.json"]), &data); err != nil {
			t.Fatal(err)
		}
		perms(data["cxt"].(map[string]any)["roles"].(map[string]any)["permissions"].(map[string]any))
		raw, _ := json.MarshalIndent(data, "", "  ")
		f["rego/data.json"] = string(raw) + "\n"
	}
	if edit != nil {
		edit(f)
	}
	return f
}

// policyBody is the policy in force under a new version, with perms applied
// to its role table, signed by the token's account.
func policyBody(t *testing.T, e *env, token, version string, perms func(map[string]any)) string {
	t.Helper()
	return bundleBody(t, editedBundle(t, e, token, version, perms, nil), e.signingKey(token))
}

// signedPolicy is the policy in force under a new version, with its files
// changed by edit, signed by the token's account.
func signedPolicy(t *testing.T, e *env, token, version string, edit func(policy.Files)) string {
	t.Helper()
	return bundleBody(t, editedBundle(t, e, token, version, nil, edit), e.signingKey(token))
}
