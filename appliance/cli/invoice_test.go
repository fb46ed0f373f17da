package cli

import (
	"encoding/json"
	"encoding/pem"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The invoice commands speak the API: each sends the route, the session
// and the body the API documents, prints the answer — a CSV export byte
// for byte — and says what comes next; an API refusal is the exit's error
// with its code.
func TestInvoiceCommandsGoThroughTheAPI(t *testing.T) {
	const csvBody = "invoice,kind\r\ninv-00000001,fee\r\n"
	var got []string
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		got = append(got, r.Method+" "+r.URL.String()+" "+r.Header.Get("Authorization")+" "+string(body))
		switch {
		case r.URL.Path == "/api/v1/invoices/export" && r.URL.Query().Get("format") == "csv":
			w.Header().Set("Content-Type", "text/csv")
			io.WriteString(w, csvBody)
		case r.URL.Path == "/api/v1/invoices":
			io.WriteString(w, `{"invoices":[{"id":"inv-00000002","kind":"fee","status":"reversed","merchant":"m_1","total":"240.00","number":"26990000000000000001","reversed_by":"inv-00000003"}]}`)
		case r.URL.Path == "/api/v1/merchants/m_1/invoices":
			var in map[string]any
			json.Unmarshal(body, &in)
			if in["total"] == "1.00" {
				w.WriteHeader(400)
				io.WriteString(w, `{"error":{"code":"invoice_amount_mismatch","message":"the request states 1.00; its 1 payment(s) come to 240.00"}}`)
				return
			}
			w.WriteHeader(201)
			io.WriteString(w, `{"id":"inv-00000004","total":"240.00","status":"requested"}`)
		default:
			w.WriteHeader(404)
			io.WriteString(w, `{"error":{"code":"not_found","message":"no"}}`)
		}
	}))
	defer srv.Close()
	ca := filepath.Join(t.TempDir(), "ca.pem")
	os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600)
	t.Setenv("CXT_TOKEN", "tok")
	at := []string{"--url", srv.URL, "--ca", ca}

	code, out, errOut := run(t, "", append([]string{"invoice", "export", "--format", "csv"}, at...)...)
	if code != 0 || out != csvBody || !strings.Contains(errOut, "Next:") || got[0] != "GET /api/v1/invoices/export?format=csv Bearer tok " {
		t.Fatalf("export: %d %q %q %q", code, out, errOut, got)
	}
	code, out, errOut = run(t, "", append([]string{"invoice", "list", "--merchant", "m_1"}, at...)...)
	if code != 0 || !strings.Contains(out, "inv-00000002") || !strings.Contains(out, "26990000000000000001") || !strings.Contains(out, "inv-00000003") ||
		!strings.Contains(errOut, "1 invoice(s). Next:") || got[1] != "GET /api/v1/invoices?merchant=m_1 Bearer tok " {
		t.Fatalf("list: %d %q %q %q", code, out, errOut, got)
	}
	code, out, errOut = run(t, "", append([]string{"invoice", "request", "--merchant", "m_1", "--kind", "fee", "--total", "240.00", "pb-1-000001"}, at...)...)
	if code != 0 || !strings.Contains(out, `"inv-00000004"`) || !strings.Contains(errOut, "Next: a platform operator lets it be issued: POST /api/v1/invoices/inv-00000004/issue") ||
		got[2] != `POST /api/v1/merchants/m_1/invoices Bearer tok {"kind":"fee","payments":["pb-1-000001"],"total":"240.00"}` {
		t.Fatalf("request: %d %q %q %q", code, out, errOut, got)
	}
	code, _, errOut = run(t, "", append([]string{"invoice", "request", "--merchant", "m_1", "--kind", "fee", "--total", "1.00", "pb-1-000001"}, at...)...)
	if code == 0 || !strings.Contains(errOut, "invoice_amount_mismatch") {
		t.Fatalf("a refused request: %d %q", code, errOut)
	}
	if code, _, _ := run(t, "", append([]string{"invoice", "export", "--format", "xml"}, at...)...); code != 2 {
		t.Fatalf("a bad format: exit %d, want 2", code)
	}
}
