package api_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"cxt/appliance/certificates"
	"cxt/appliance/esign/esigntest"
	"cxt/appliance/payouts"
	"cxt/appliance/receipts/receiptstest"
	"cxt/appliance/workers/workerstest"
)

// A worker's tax certificate (完税证明) for a month: refused until the month
// is declared and its income tax paid; then a signed PDF the worker
// downloads and OpenSSL verifies (a changed byte does not), the merchant
// that paid them gets one scoped to its own payments, and another
// merchant, another worker and a month without income get nothing.
func TestATaxCertificateIsMadeOnceTheMonthIsPaidAndVerifiesWithOpenSSL(t *testing.T) {
	w := payoutWorld(t)
	e := w.e
	w.paid(w.idA, w.clerkA, w.bossA, "boss-a", w.wA, w.taskA, "12000.00", "cert-1")
	now := e.clock.Now().In(payouts.China)
	period := now.Format("2006-01")
	path := "/api/v1/workers/" + w.wA + "/tax-certificates/" + period
	if r := e.call("GET", path, w.workerA, ""); r.status != 404 || r.code() != "certificate_undeclared" {
		t.Fatalf("before the declaration: %d %v", r.status, r.body)
	}
	// The 3rd of the next month: everyone signs in again.
	e.clock.set(time.Date(now.Year(), now.Month()+1, 3, 10, 0, 0, 0, payouts.China))
	login := func(user string) string {
		t.Helper()
		r := e.loginMFA(user)
		tok, _ := r.body["token"].(string)
		if r.status != 201 || tok == "" {
			t.Fatalf("%s signing in: %d %v", user, r.status, r.body)
		}
		return tok
	}
	sms := func(user string, n int) string {
		t.Helper()
		phone := workerstest.Phone(n)
		sent := w.box.count(phone, "登录验证码")
		asked := e.askSMS(user, e.admins[user])
		if asked.status != 201 {
			t.Fatalf("%s's SMS code: %d %v", user, asked.status, asked.body)
		}
		r := e.smsLogin(user, e.admins[user], asked.body["sms_login_id"].(string), w.box.code(t, phone, "登录验证码", sent))
		tok, _ := r.body["token"].(string)
		if r.status != 201 || tok == "" {
			t.Fatalf("%s signing in: %d %v", user, r.status, r.body)
		}
		return tok
	}
	op, boss, bossB, worker, workerB := login("operator-1"), login("boss-a"), login("boss-b"), sms("worker-a", 501), sms("worker-b", 502)
	if r := e.call("POST", "/api/v1/filings/platform/"+period+"/declarations", op, ""); r.status != 201 || r.body["iit"] != "138.00" {
		t.Fatalf("declare: %d %v", r.status, r.body)
	}
	if r := e.call("GET", path, worker, ""); r.status != 409 || r.code() != "certificate_unpaid" {
		t.Fatalf("declared, not paid: %d %v", r.status, r.body)
	}
	today := e.clock.Now().In(payouts.China).Format(time.DateOnly)
	if r := e.call("POST", "/api/v1/filings/platform/"+period+"/payments", op, fmt.Sprintf(`{"kind":"iit","amount":"100.00","date":%q,"receipt":"3326000000011"}`, today)); r.status != 201 {
		t.Fatalf("pay: %d %v", r.status, r.body)
	}
	if r := e.call("GET", path, worker, ""); r.status != 409 || r.code() != "certificate_unpaid" {
		t.Fatalf("paid in part: %d %v", r.status, r.body)
	}
	if r := e.call("POST", "/api/v1/filings/platform/"+period+"/payments", op, fmt.Sprintf(`{"kind":"iit","amount":"38.00","date":%q,"receipt":"3326000000012"}`, today)); r.status != 201 {
		t.Fatalf("pay the rest: %d %v", r.status, r.body)
	}
	list := e.call("GET", "/api/v1/workers/"+w.wA+"/tax-certificates", worker, "")
	months, _ := list.body["months"].([]any)
	if list.status != 200 || len(months) != 1 || months[0].(map[string]any)["paid"] != true || months[0].(map[string]any)["withheld"] != "138.00" {
		t.Fatalf("the worker's months: %d %v", list.status, list.body)
	}

	check := func(token string, want ...string) string {
		t.Helper()
		status, header, zip := e.downloadRaw(path, token)
		if status != 200 || header.Get("Content-Type") != "application/zip" {
			t.Fatalf("certificate: %d %s %s", status, header, zip)
		}
		dir := esigntest.Extract(t, zip)
		if out, err := receiptstest.Verify(t, dir); err != nil || !strings.HasSuffix(out, "Verified OK\n") {
			t.Fatalf("OpenSSL: %v\n%s", err, out)
		}
		pdf, _ := os.ReadFile(filepath.Join(dir, certificates.FilePDF))
		text := pdfText(t, pdf)
		for _, s := range want {
			if !strings.Contains(text, s) {
				t.Errorf("the certificate lacks %q:\n%s", s, text)
			}
		}
		pdf[len(pdf)/2] ^= 1
		os.WriteFile(filepath.Join(dir, certificates.FilePDF), pdf, 0o600)
		if out, err := receiptstest.Verify(t, dir); err == nil {
			t.Fatalf("a changed byte verifies:\n%s", out)
		}
		return text
	}
	mine := check(worker, "个人所得税完税证明", "138.00", "12000.00", "3326000000011", "3326000000012", "累计预扣法", "4600.00")
	if strings.Contains(mine, "仅限用工商户") {
		t.Errorf("the worker's own certificate is scoped to a merchant:\n%s", mine)
	}
	check(boss, "个人所得税完税证明", "仅限用工商户", w.idA, "138.00")

	// Nobody else: another merchant, another worker; nor a month without
	// the worker's income.
	for who, tok := range map[string]string{"B's administrator": bossB, "B's worker": workerB} {
		if r := e.call("GET", path, tok, ""); r.status != 404 && r.status != 403 {
			t.Errorf("%s: %d %v", who, r.status, r.body)
		}
	}
	// B, linked to A's worker but having paid them nothing that month,
	// learns nothing of the month: not listed, no certificate.
	e.linkWorker(w.idB, bossB, 501, w.wA, worker, true)
	if r := e.call("GET", "/api/v1/workers/"+w.wA+"/tax-certificates", bossB, ""); r.status != 200 || len(r.body["months"].([]any)) != 0 {
		t.Errorf("B lists A's worker's months: %d %v", r.status, r.body)
	}
	if r := e.call("GET", "/api/v1/workers/"+w.wA+"/tax-certificates", boss, ""); r.status != 200 || len(r.body["months"].([]any)) != 1 {
		t.Errorf("A lists its worker's months: %d %v", r.status, r.body)
	}
	if r := e.call("GET", path, bossB, ""); r.status != 404 || r.code() != "certificate_undeclared" {
		t.Errorf("B's certificate of a month it paid nothing in: %d %v", r.status, r.body)
	}
	if r := e.call("GET", "/api/v1/workers/"+w.wB+"/tax-certificates/"+period, op, ""); r.status != 404 || r.code() != "certificate_undeclared" {
		t.Errorf("a worker without income that month: %d %v", r.status, r.body)
	}
	if r := e.call("GET", "/api/v1/workers/"+w.wA+"/tax-certificates/2026-13", worker, ""); r.status != 400 {
		t.Errorf("a month that is none: %d %v", r.status, r.body)
	}
}
