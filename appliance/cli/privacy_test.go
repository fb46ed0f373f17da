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

// The privacy commands send the documented routes and bodies, say what
// comes next, and write an export only to a new file of mode 0600.
func TestPrivacyCommandsGoThroughTheAPI(t *testing.T) {
	var got []string
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		got = append(got, r.Method+" "+r.URL.String()+" "+string(body))
		switch r.URL.Path {
		case "/api/v1/privacy-requests":
			io.WriteString(w, `{"requests":[{"id":"pr_1","worker":"w_1","kind":"deletion","status":"open","due":"2026-04-09T10:00:00Z","overdue":true}],"total":1,"overdue":1}`)
		case "/api/v1/privacy-requests/pr_1/decide":
			io.WriteString(w, `{"id":"pr_1","status":"refused","next":"the worker sees the refusal"}`)
		case "/api/v1/workers/w_1/export":
			io.WriteString(w, `{"format":"cxt.personal-data-export/v1","worker":{"id_number":"110101199003070011"}}`)
		case "/api/v1/workers/w_1/privacy-requests":
			w.WriteHeader(400)
			io.WriteString(w, `{"error":{"code":"privacy_field_fixed","message":"no"}}`)
		}
	}))
	defer srv.Close()
	ca := filepath.Join(t.TempDir(), "ca.pem")
	os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600)
	t.Setenv("CXT_TOKEN", "tok")
	at := []string{"--url", srv.URL, "--ca", ca}

	code, out, errOut := run(t, "", append([]string{"privacy", "requests", "--overdue"}, at...)...)
	if code != 0 || !strings.Contains(out, "OVERDUE") || !strings.Contains(errOut, "1 overdue. Next:") || got[0] != "GET /api/v1/privacy-requests?overdue=1 " {
		t.Fatalf("requests: %d %q %q %q", code, out, errOut, got)
	}
	if code, _, _ := run(t, "", append([]string{"privacy", "decide", "pr_1"}, at...)...); code != 2 {
		t.Fatalf("decide without --apply or --refuse: exit %d", code)
	}
	code, _, errOut = run(t, "", append([]string{"privacy", "decide", "pr_1", "--refuse", "not your card"}, at...)...)
	if code != 0 || !strings.Contains(errOut, "Next: the worker sees") || got[1] != `POST /api/v1/privacy-requests/pr_1/decide {"outcome":"refuse","reason":"not your card"}` {
		t.Fatalf("decide: %d %q %q", code, errOut, got)
	}
	file := filepath.Join(t.TempDir(), "me.json")
	if code, _, errOut := run(t, "", append([]string{"privacy", "export", "w_1", "--out", file}, at...)...); code != 0 || !strings.Contains(errOut, "Next:") {
		t.Fatalf("export: %d %q", code, errOut)
	}
	if st, err := os.Stat(file); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("the export file: %v %v", st, err)
	}
	if code, _, _ := run(t, "", append([]string{"privacy", "export", "w_1", "--out", file}, at...)...); code == 0 {
		t.Fatal("an export overwrote an existing file")
	}
	code, _, errOut = run(t, "", append([]string{"privacy", "file", "w_1", "--name", "李四"}, at...)...)
	if code == 0 || !strings.Contains(errOut, "privacy_field_fixed") || !strings.HasSuffix(got[len(got)-1], `{"kind":"correction","name":"李四"}`) {
		t.Fatalf("file: %d %q %q", code, errOut, got)
	}
}
