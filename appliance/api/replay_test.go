package api_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"cxt/appliance/api"
	"cxt/appliance/important"
	"cxt/storage/state"
)

// callHeader is call that also returns the Idempotent-Replayed header.
func (e *env) callHeader(method, path, token, body string, headers ...string) (reply, string) {
	e.t.Helper()
	req, _ := http.NewRequest(method, e.base+path, strings.NewReader(body))
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := e.client.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		e.t.Fatalf("%s %s: answer is not JSON", method, path)
	}
	return reply{resp.StatusCode, out}, resp.Header.Get(api.ReplayHeader)
}

// stored reports whether text appears in any value of the given buckets.
func (e *env) stored(text string, buckets ...string) bool {
	found := false
	e.n.Cluster().State().View(func(tx *state.ReadTx) error {
		for _, b := range buckets {
			tx.ForEach(b, func(_, v []byte) error {
				found = found || strings.Contains(string(v), text)
				return nil
			})
		}
		return nil
	})
	return found
}

// TestReplaysNeverHandSecretsOutAgain (issue 7 item 10): the confirm answer
// is the only one that holds a secret; a repeat of its Idempotency-Key
// answers the outcome with the secret fields withheld and says so, and a
// confirm token serves only the key it was previewed under.
func TestReplaysNeverHandSecretsOutAgain(t *testing.T) {
	e := start(t)
	sec, _ := e.signInMFA("secadmin")
	body := `{"username":"w-replay","roles":["worker"],"email":"w@example.cn","phone":"13900002222"}`

	// A token previewed under one key does not confirm under another.
	p := e.call("POST", "/api/v1/accounts", sec, body, "Idempotency-Key", "key-A")
	tok := p.body["confirm_token"].(string)
	if r := e.call("POST", "/api/v1/accounts", sec, body, "Idempotency-Key", "key-B", "X-Confirm-Token", tok); r.status != 409 || r.code() != "confirm_mismatch" {
		t.Fatalf("a token confirmed under another key: %d %v", r.status, r.body)
	}
	first, replayed := e.callHeader("POST", "/api/v1/accounts", sec, body, "Idempotency-Key", "key-A", "X-Confirm-Token", tok)
	pw, _ := first.body["one_time_password"].(string)
	if first.status != 201 || pw == "" || replayed != "" || first.body["withheld"] != nil {
		t.Fatalf("confirm: %d %v (replayed %q)", first.status, first.body, replayed)
	}
	again, replayed := e.callHeader("POST", "/api/v1/accounts", sec, body, "Idempotency-Key", "key-A", "X-Confirm-Token", tok)
	if again.status != 201 || replayed != "true" || again.body["one_time_password"] != nil ||
		fmt.Sprint(again.body["withheld"]) != "[one_time_password]" || again.body["account"] == nil {
		t.Fatalf("replay: %d %v (replayed %q)", again.status, again.body, replayed)
	}
	// Neither the remembered answer nor the replicated command result holds it.
	if e.stored(pw, important.IdempotencyBucket, "commands") {
		t.Fatal("the one-time password is stored with the remembered answer")
	}
	id := first.body["account"].(map[string]any)["id"].(string)

	// Unmasking: the phone once, then withheld.
	u := e.confirmed("POST", "/api/v1/accounts/"+id+"/unmask", sec, `{"reason":"ticket 99 callback"}`, "unmask-1")
	if u.status != 200 || u.body["phone"] != "13900002222" || u.body["email"] != "w@example.cn" {
		t.Fatalf("unmask: %d %v", u.status, u.body)
	}
	u2, replayed := e.callHeader("POST", "/api/v1/accounts/"+id+"/unmask", sec, `{"reason":"ticket 99 callback"}`, "Idempotency-Key", "unmask-1")
	if u2.status != 200 || replayed != "true" || u2.body["phone"] != nil || u2.body["email"] != nil || fmt.Sprint(u2.body["withheld"]) != "[email phone]" {
		t.Fatalf("replayed unmask: %d %v", u2.status, u2.body)
	}
	if e.stored("13900002222", important.IdempotencyBucket, "commands") {
		t.Fatal("the unmasked phone is stored with the remembered answer")
	}

	// Exporting: the entries once, then withheld; the signed head stays.
	audit, _ := e.signInMFA("auditadmin")
	x := e.confirmed("POST", "/api/v1/audit/export", audit, `{"subject":"acct-secadmin","reason":"quarterly review"}`, "export-1")
	if x.status != 200 || len(x.body["entries"].([]any)) == 0 {
		t.Fatalf("export: %d %v", x.status, x.body)
	}
	x2, replayed := e.callHeader("POST", "/api/v1/audit/export", audit, `{"subject":"acct-secadmin","reason":"quarterly review"}`, "Idempotency-Key", "export-1")
	if x2.status != 200 || replayed != "true" || x2.body["entries"] != nil || fmt.Sprint(x2.body["withheld"]) != "[entries]" || x2.body["head"] == nil {
		t.Fatalf("replayed export: %d %v", x2.status, x2.body)
	}
}

// TestImportantOperationsAreAuditedAsTheChangeTheyMake (issue 7 item 9): a
// search by type finds important operations under their own type, and the
// preview's record names the same account as the run's.
func TestImportantOperationsAreAuditedAsTheChangeTheyMake(t *testing.T) {
	e := start(t)
	sec, _ := e.signInMFA("secadmin")
	created := e.confirmed("POST", "/api/v1/accounts", sec, `{"username":"w-audit","roles":["worker"],"phone":"13900003333"}`, "mk-w")
	id := created.body["account"].(map[string]any)["id"].(string)
	e.confirmed("POST", "/api/v1/accounts/"+id+"/unmask", sec, `{"reason":"identity check 12"}`, "um-w")
	audit := e.signIn("auditadmin")

	find := func(query string, match func(map[string]any) bool) map[string]any {
		t.Helper()
		r := e.call("GET", "/api/v1/audit?"+query, audit, "")
		if r.status != 200 {
			t.Fatalf("search %s: %d %v", query, r.status, r.body)
		}
		entries, _ := r.body["entries"].([]any)
		for _, x := range entries {
			if en := x.(map[string]any); match(en) {
				return en
			}
		}
		return nil
	}
	run := find("type=account.create", func(en map[string]any) bool { return en["object"] == id })
	if run == nil || run["action"] != "accounts.create" || run["subject"] != "acct-secadmin" || run["result"] != "ok" {
		t.Fatalf("the creation is not found by its type: %v", run)
	}
	if find("type=op.preview", func(en map[string]any) bool { return en["action"] == "accounts.create" && en["object"] == id }) == nil {
		t.Fatalf("the preview's record does not name the account %s that was created", id)
	}
	if um := find("type=account.unmask", func(en map[string]any) bool { return en["object"] == id }); um == nil || um["reason"] != "identity check 12" {
		t.Fatalf("the unmasking is not found by its type: %v", um)
	}
	if r := find("type=op.run", func(map[string]any) bool { return true }); r != nil {
		t.Fatalf("an important operation is still recorded as op.run: %v", r)
	}
	// The audit administrator's own trail is not in its answers.
	if mine := find("subject=acct-auditadmin", func(map[string]any) bool { return true }); mine != nil {
		t.Fatalf("the audit admin reads its own trail: %v", mine)
	}
}
