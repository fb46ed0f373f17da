package cli

import (
	"encoding/pem"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// The filing commands call the routes docs/filing.md names, with the
// session token, and hand back what the API answered: a CSV export written
// to --out as sent, a refusal's code on stderr with exit 1, every answer
// ending with its Next: hint.
func TestFilingCommandsCallTheAPIAndSayWhatIsNext(t *testing.T) {
	var mu sync.Mutex
	var seen []string
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		seen = append(seen, r.Method+" "+r.URL.RequestURI()+" "+r.Header.Get("Authorization")+" "+r.Header.Get("Content-Type")+" "+string(body))
		mu.Unlock()
		switch {
		case strings.HasSuffix(r.URL.Path, "/iit"):
			w.Header().Set("Content-Type", "text/csv")
			io.WriteString(w, "worker,method\nTOTAL,0\n")
		case strings.HasSuffix(r.URL.Path, "/declarations") && r.Method == "POST":
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(201)
			io.WriteString(w, `{"version":2,"due":"2026-04-15","late":false}`)
		case strings.HasSuffix(r.URL.Path, "/payments"):
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(409)
			io.WriteString(w, `{"error":{"code":"payment_exceeds_unpaid","message":"too much"}}`)
		default:
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(201)
			io.WriteString(w, `{"recorded":2}`)
		}
	}))
	defer srv.Close()
	dir := t.TempDir()
	ca := filepath.Join(dir, "ca.pem")
	os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600)
	t.Setenv("CXT_TOKEN", "tok")
	at := []string{"--url", srv.URL, "--ca", ca, "--period", "2026-03"}

	code, out, errb := run(t, "", append([]string{"filing", "declare", "--reason", "a return"}, at...)...)
	if code != 0 || !strings.Contains(out, `"version": 2`) || !strings.Contains(errb, "Next:") {
		t.Fatalf("declare: %d %q %q", code, out, errb)
	}
	file := filepath.Join(dir, "iit.csv")
	code, _, errb = run(t, "", append([]string{"filing", "export", "--format", "csv", "--version", "1", "--out", file}, at...)...)
	if got, _ := os.ReadFile(file); code != 0 || string(got) != "worker,method\nTOTAL,0\n" || !strings.Contains(errb, "Next:") {
		t.Fatalf("export: %d %q %q", code, got, errb)
	}
	code, _, errb = run(t, "", append([]string{"filing", "pay", "--kind", "iit", "--amount", "1.00", "--date", "2026-04-02", "--receipt", "R0001"}, at...)...)
	if code != 1 || !strings.Contains(errb, "payment_exceeds_unpaid") {
		t.Fatalf("pay refused: %d %q", code, errb)
	}
	imp := filepath.Join(dir, "pay.csv")
	os.WriteFile(imp, []byte("kind,amount,date,receipt\niit,1.00,2026-04-02,R0002\n"), 0o600)
	code, _, errb = run(t, "", append([]string{"filing", "pay", "--import", imp}, at...)...)
	if code != 0 || !strings.Contains(errb, "2 payment(s) recorded. Next:") {
		t.Fatalf("pay --import: %d %q", code, errb)
	}
	if code, _, _ := run(t, "", append([]string{"filing", "export", "--format", "xml"}, at...)...); code != 2 {
		t.Fatalf("--format xml: exit %d", code)
	}
	if code, _, _ := run(t, "", "filing", "declare", "--url", srv.URL, "--ca", ca); code != 2 {
		t.Fatalf("no --period: exit %d", code)
	}
	want := []string{
		`POST /api/v1/filings/platform/2026-03/declarations Bearer tok application/json {"reason":"a return"}`,
		`GET /api/v1/filings/platform/2026-03/iit?format=csv&version=1 Bearer tok  `,
		`POST /api/v1/filings/platform/2026-03/payments Bearer tok application/json {"amount":"1.00","date":"2026-04-02","kind":"iit","receipt":"R0001"}`,
		"POST /api/v1/filings/platform/2026-03/payments/import Bearer tok text/csv kind,amount,date,receipt\niit,1.00,2026-04-02,R0002\n",
	}
	if strings.Join(seen, "\n") != strings.Join(want, "\n") {
		t.Fatalf("requests:\n%s\nwant:\n%s", strings.Join(seen, "\n"), strings.Join(want, "\n"))
	}
}
