package cli

import (
	"encoding/pem"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// `cxt reconcile` speaks the API: the statement goes as text/csv with its
// channel and day, the session as a bearer token; the API's refusal comes
// back with its code; every success says what to do next.
func TestReconcileImportSendsTheStatementAndSaysWhatIsNext(t *testing.T) {
	var got struct{ path, contentType, auth, body string }
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got.path, got.contentType, got.auth, got.body = r.URL.String(), r.Header.Get("Content-Type"), r.Header.Get("Authorization"), string(b)
		w.Header().Set("Content-Type", "application/json")
		if strings.Contains(got.body, "pb-twice") {
			w.WriteHeader(400)
			io.WriteString(w, `{"error":{"code":"recon_line_duplicate","message":"line 3: ref pb-twice is on line 2 already"}}`)
			return
		}
		w.WriteHeader(201)
		io.WriteString(w, `{"statement":{"id":"rs-sandbox-20261210","lines":2,"matched":1},"differences":[{"class":"amount","case":"rc-000001"}]}`)
	}))
	defer srv.Close()
	dir := t.TempDir()
	ca := filepath.Join(dir, "ca.pem")
	os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600)
	file := filepath.Join(dir, "stmt.csv")
	os.WriteFile(file, []byte("ref,bank_ref,amount,status,date\n"), 0o600)
	api := []string{"--url", srv.URL, "--ca", ca, "--token", "tok-1"}

	code, out, errOut := run(t, "", append([]string{"reconcile", "import", "--channel", "sandbox", "--day", "2026-12-10", file}, api...)...)
	if code != 0 || !strings.Contains(out, "rs-sandbox-20261210") || !strings.Contains(errOut, "Next: `cxt reconcile cases --statement rs-sandbox-20261210`") {
		t.Fatalf("import: exit %d\n%s\n%s", code, out, errOut)
	}
	if got.contentType != "text/csv" || got.auth != "Bearer tok-1" || !strings.HasPrefix(got.path, "/api/v1/reconcile/statements?") ||
		!strings.Contains(got.path, "channel=sandbox") || !strings.Contains(got.path, "day=2026-12-10") || got.body != "ref,bank_ref,amount,status,date\n" {
		t.Fatalf("the request: %+v", got)
	}
	os.WriteFile(file, []byte("pb-twice"), 0o600)
	if code, _, errOut := run(t, "", append([]string{"reconcile", "import", "--channel", "sandbox", "--day", "2026-12-10", file}, api...)...); code != 1 ||
		!strings.Contains(errOut, "recon_line_duplicate: line 3") {
		t.Fatalf("a refused file: exit %d %s", code, errOut)
	}
	if code, _, _ := run(t, "", append([]string{"reconcile", "import", file}, api...)...); code != 2 {
		t.Fatalf("no channel: exit %d", code)
	}
	if code, _, _ := run(t, "", append([]string{"reconcile", "adjust", "propose", "--case", "rc-1", "--reason", "x", "--debit", "bank"}, api...)...); code != 2 {
		t.Fatalf("a line without its amount: exit %d", code)
	}
}
