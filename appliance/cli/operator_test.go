package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"cxt/appliance/datadir"
	"cxt/appliance/identity"
	"cxt/appliance/node"
	"cxt/appliance/notify"
	"cxt/crypto/keyring"
	"cxt/storage/auditlog"
	"cxt/storage/cluster/loopback"
	"cxt/storage/state"
)

type apiConn struct {
	t    *testing.T
	http *http.Client
	base string
}

func (a *apiConn) call(method, path, token, body string) (int, map[string]any) {
	a.t.Helper()
	req, _ := http.NewRequest(method, a.base+path, strings.NewReader(body))
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := a.http.Do(req)
	if err != nil {
		a.t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

func serveForTest(t *testing.T, shares int) (string, *node.Node, *node.InitResult, *apiConn) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	dir := filepath.Join(t.TempDir(), "data")
	o := node.InitOptions{API: loopback.FreeAddr(), Cluster: loopback.FreeAddr()}
	if shares > 0 {
		o.Shares, o.Threshold = shares, 2
	}
	res, err := node.Init(ctx, dir, o)
	if err != nil {
		t.Fatal(err)
	}
	n, err := node.Open(ctx, node.Options{Dir: dir, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	for _, s := range res.Shares[:min(2, len(res.Shares))] {
		if _, err := n.Unseal(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	for n.Status().Leader == "" {
		time.Sleep(10 * time.Millisecond)
	}
	cfg, _ := datadir.Load(dir)
	cli, err := apiClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return dir, n, res, &apiConn{t: t, http: cli, base: "https://" + n.APIAddr()}
}

func TestBreakGlassRecoversTheOnlySecurityAdminAndIsAudited(t *testing.T) {
	dir, n, res, api := serveForTest(t, 0)
	var otp string
	for _, a := range res.Admins {
		if a.Username == "secadmin" {
			otp = a.Password
		}
	}
	// The security admin sets a password and a second factor, then loses both.
	code, body := api.call("POST", "/api/v1/sessions", "", fmt.Sprintf(`{"username":"secadmin","password":%q}`, otp))
	if code != 201 {
		t.Fatalf("first login: %d %v", code, body)
	}
	token := body["token"].(string)
	if code, body := api.call("POST", "/api/v1/me/password", token, fmt.Sprintf(`{"current_password":%q,"new_password":"Lost-Orbit-Kettle-7!"}`, otp)); code != 200 {
		t.Fatalf("password: %d %v", code, body)
	}
	_, body = api.call("POST", "/api/v1/me/mfa/totp", token, "")
	secret := body["secret"].(string)
	if code, body := api.call("POST", "/api/v1/me/mfa/totp/confirm", token, fmt.Sprintf(`{"code":%q}`, identity.TOTPCode(secret, time.Now()))); code != 200 {
		t.Fatalf("enroll: %d %v", code, body)
	}

	// A wrong key is refused, and the attempt is audited.
	wrong := filepath.Join(t.TempDir(), "other.key")
	writeKey(t, wrong)
	if code, _, errOut := run(t, "", "operator", "break-glass", "--data", dir, "--account", "secadmin", "--reason", "lost phone, ticket 9", "--key-file", wrong); code == 0 || !strings.Contains(errOut, "wrong_key") {
		t.Fatalf("a wrong key file: exit %d %s", code, errOut)
	}
	if code, _, _ := run(t, "", "operator", "break-glass", "--data", dir, "--account", "secadmin"); code != 2 {
		t.Fatalf("no reason: exit %d, want 2", code)
	}
	code, out, errOut := run(t, "", "operator", "break-glass", "--data", dir, "--account", "secadmin", "--reason", "lost phone, ticket 9")
	if code != 0 {
		t.Fatalf("break-glass: exit %d %s", code, errOut)
	}
	m := regexp.MustCompile(`One-time password[^:]*: (\S+)`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no one-time password in %q", out)
	}
	if code, _ := api.call("GET", "/api/v1/me", token, ""); code != 401 {
		t.Fatalf("the old session survived: %d", code)
	}
	if code, body := api.call("POST", "/api/v1/sessions", "", `{"username":"secadmin","password":"Lost-Orbit-Kettle-7!"}`); code != 401 {
		t.Fatalf("the lost password still works: %d %v", code, body)
	}
	code, body = api.call("POST", "/api/v1/sessions", "", fmt.Sprintf(`{"username":"secadmin","password":%q}`, m[1]))
	if code != 201 || body["password_change_required"] != true || body["mfa_enrollment_required"] != true {
		t.Fatalf("login with the break-glass password: %d %v (want a fresh start without the old factor)", code, body)
	}
	// An unknown account is refused, and that attempt is audited too.
	if code, _, errOut := run(t, "", "operator", "break-glass", "--data", dir, "--account", "nobody", "--reason", "lost phone, ticket 9"); code == 0 || !strings.Contains(errOut, "not_found") {
		t.Fatalf("an unknown account: exit %d %s", code, errOut)
	}

	var results []string
	var told bool
	n.Cluster().ReadBarrier(context.Background())
	n.Cluster().State().View(func(tx *state.ReadTx) error {
		entries, _ := auditlog.Search(tx, auditlog.Query{Type: identity.CmdBreakGlass})
		for _, e := range entries {
			if strings.HasPrefix(e.Subject, "operator:") && e.Reason == "lost phone, ticket 9" {
				results = append(results, e.Result)
			}
		}
		notes, _ := notify.ForAccount(tx, "acct-secadmin", 0)
		for _, x := range notes {
			told = told || x.Event == "account.break_glass"
		}
		return nil
	})
	if strings.Join(results, ",") != "wrong_key,ok,not_found" {
		t.Fatalf("break-glass audit records: %v", results)
	}
	if !told {
		t.Fatal("the owner was not notified")
	}
}

func TestBreakGlassOnASharesNodeNeedsTheQuorum(t *testing.T) {
	dir, _, res, api := serveForTest(t, 3)
	if code, _, errOut := run(t, res.Shares[0]+"\n", "operator", "break-glass", "--data", dir, "--account", "auditadmin", "--reason", "custodians met"); code != 2 {
		t.Fatalf("one share of a threshold of two: exit %d %s", code, errOut)
	}
	foreign, _ := keyring.NewMasterKey().Split(3, 2)
	if code, _, errOut := run(t, fmt.Sprintf("%s\n%x\n", res.Shares[0], foreign[1]), "operator", "break-glass", "--data", dir, "--account", "auditadmin", "--reason", "custodians met"); code == 0 || !strings.Contains(errOut, "wrong_key") {
		t.Fatalf("a share of another key: exit %d %s", code, errOut)
	}
	code, out, errOut := run(t, "", "operator", "break-glass", "--data", dir, "--account", "auditadmin", "--reason", "custodians met",
		"--share", res.Shares[1], "--share", res.Shares[2])
	if code != 0 {
		t.Fatalf("two shares: exit %d %s", code, errOut)
	}
	pw := regexp.MustCompile(`One-time password[^:]*: (\S+)`).FindStringSubmatch(out)[1]
	if code, body := api.call("POST", "/api/v1/sessions", "", fmt.Sprintf(`{"username":"auditadmin","password":%q}`, pw)); code != 201 {
		t.Fatalf("login: %d %v", code, body)
	}
}

func writeKey(t *testing.T, path string) {
	t.Helper()
	if err := os.WriteFile(path, keyring.NewMasterKey().Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
}
