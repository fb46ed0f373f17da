package api_test

import (
	"bytes"
	"encoding/csv"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"cxt/appliance/filing"
	"cxt/appliance/payouts"
)

// A month paid through the API is declared by a platform operator once it
// is over — two operators at once make one v1 — exported as JSON and CSV,
// and paid against with entered and imported receipts; merchants and
// workers see none of it, and bad input is refused with its code and
// nothing recorded.
func TestAMonthIsDeclaredExportedAndPaidThroughTheAPI(t *testing.T) {
	w := payoutWorld(t)
	e := w.e
	up := e.uploadBatch(w.idA, w.clerkA, payFile("filing-1", payRow(w.wA, w.taskA, `"3000.00"`), payRow(w.wA, w.taskA, `"9000.00"`)))
	if up.status != 201 {
		t.Fatalf("upload: %d %v", up.status, up.body)
	}
	batch := up.body["batch"].(string)
	e.stepUp(w.bossA, "boss-a")
	if r := e.confirmed("POST", "/api/v1/payout-batches/"+batch+"/confirm", w.bossA, "", "filing-pay"); r.status != 202 {
		t.Fatalf("confirm: %d %v", r.status, r.body)
	}
	e.settled(w.bossA, batch)
	now := e.clock.Now().In(payouts.China)
	period := now.Format("2006-01")
	base := "/api/v1/filings/platform/" + period
	if r := e.call("POST", base+"/declarations", w.operator, ""); r.status != 409 || r.code() != "period_not_over" {
		t.Fatalf("a month not over: %d %v", r.status, r.body)
	}

	// Who sees what: only platform staff read and export, only operators
	// declare; merchants and workers see nothing.
	for who, tok := range map[string]string{"A's administrator": w.bossA, "A's operator": w.clerkA, "A's worker": w.workerA} {
		for _, p := range []string{base + "/iit", base + "/declarations", base + "/payments"} {
			if r := e.call("GET", p, tok, ""); r.status != 403 {
				t.Errorf("%s GET %s: %d %v", who, p, r.status, r.body)
			}
		}
		if r := e.call("POST", base+"/declarations", tok, ""); r.status != 403 {
			t.Errorf("%s declaring: %d", who, r.status)
		}
	}
	if r := e.call("POST", base+"/declarations", w.reviewer, ""); r.status != 403 {
		t.Errorf("a reviewer declaring: %d %v", r.status, r.body)
	}

	// The 3rd of the next month: staff sign in again.
	e.clock.set(time.Date(now.Year(), now.Month()+1, 3, 10, 0, 0, 0, payouts.China))
	op := e.loginMFA("operator-1").body["token"].(string)
	rev := e.loginMFA("reviewer-1").body["token"].(string)
	for _, c := range []struct {
		method, path, code string
		status             int
	}{
		{"POST", "/api/v1/filings/" + w.idA + "/" + period + "/declarations", "agent_unknown", 404},
		{"GET", "/api/v1/filings/" + w.idA, "agent_unknown", 404},
		{"POST", "/api/v1/filings/platform/2026-13/declarations", "period_invalid", 400},
		{"GET", "/api/v1/filings/platform/26-01/iit", "period_invalid", 400},
		{"GET", base + "/iit", "declaration_not_found", 404},
		{"POST", base + "/payments", "declaration_not_found", 404},
	} {
		body := ""
		if c.path == base+"/payments" {
			body = fmt.Sprintf(`{"kind":"iit","amount":"1.00","date":%q,"receipt":"R0001"}`, e.clock.Now().In(payouts.China).Format(time.DateOnly))
		}
		if r := e.call(c.method, c.path, op, body); r.status != c.status || r.code() != c.code {
			t.Errorf("%s %s: %d %v, want %d %s", c.method, c.path, r.status, r.body, c.status, c.code)
		}
	}

	// Two operators declare at once: one v1, the other finds it.
	var wg sync.WaitGroup
	answers := make([]reply, 2)
	for i, tok := range []string{op, op} {
		wg.Add(1)
		go func() { defer wg.Done(); answers[i] = e.call("POST", base+"/declarations", tok, "") }()
	}
	wg.Wait()
	codes := []string{fmt.Sprintf("%d %s", answers[0].status, answers[0].code()), fmt.Sprintf("%d %s", answers[1].status, answers[1].code())}
	if !(codes[0] == "201 " && codes[1] == "409 declaration_unchanged") && !(codes[1] == "201 " && codes[0] == "409 declaration_unchanged") {
		t.Fatalf("two declares: %v %v", answers[0], answers[1])
	}
	v := e.call("GET", base+"/declarations", rev, "")
	bal, _ := v.body["balance"].(map[string]any)
	iit, _ := bal["iit"].(map[string]any)
	if v.status != 200 || v.body["current"] != 1.0 || iit["declared"] != "138.00" || iit["unpaid"] != "138.00" {
		t.Fatalf("versions: %d %v", v.status, v.body)
	}

	// JSON and CSV say the same.
	js := e.call("GET", base+"/iit", rev, "")
	lines, _ := js.body["lines"].([]any)
	if js.status != 200 || js.body["agent"] != "platform" || js.body["period"] != period || len(lines) != 1 {
		t.Fatalf("the JSON: %d %v", js.status, js.body)
	}
	l := lines[0].(map[string]any)
	if l["worker"] != w.wA || l["method"] != "labor_cumulative" || l["income"] != "12000.00" || l["withheld"] != "138.00" || l["cumulative_taxable"] != "4600.00" || l["rate"] != "0.03" {
		t.Fatalf("the line: %v", l)
	}
	status, header, body := e.downloadRaw(base+"/iit?format=csv", op)
	rows, err := csv.NewReader(bytes.NewReader(body)).ReadAll()
	if status != 200 || !strings.HasPrefix(header.Get("Content-Type"), "text/csv") || err != nil || len(rows) != 3 ||
		strings.Join(rows[0], ",") != strings.Join(filing.IITColumns, ",") || rows[1][0] != w.wA || rows[1][11] != "138.00" ||
		strings.Join(rows[2], ",") != "TOTAL,1,"+period+",12000.00,,,,,,,,138.00" {
		t.Fatalf("the CSV: %d %v %q", status, header, body)
	}
	if r := e.call("GET", base+"/vat?format=xml", op, ""); r.status != 400 {
		t.Errorf("format xml: %d", r.status)
	}
	if r := e.call("GET", base+"/iit?version=2", op, ""); r.status != 404 || r.code() != "declaration_not_found" {
		t.Errorf("version 2: %d %v", r.status, r.body)
	}

	// Tax payments: one entered, the rest imported; over the unpaid, a
	// duplicate line or a duplicate receipt refuses the whole file.
	today := e.clock.Now().In(payouts.China).Format(time.DateOnly)
	entered := fmt.Sprintf(`{"kind":"iit","amount":"100.00","date":%q,"receipt":"3326000000001"}`, today)
	if r := e.call("POST", base+"/payments", op, entered); r.status != 201 || r.body["recorded"] != 1.0 {
		t.Fatalf("an entered payment: %d %v", r.status, r.body)
	}
	if r := e.call("POST", base+"/payments", op, entered); r.status != 409 || r.code() != "receipt_duplicate" {
		t.Fatalf("the same receipt again: %d %v", r.status, r.body)
	}
	if r := e.call("POST", base+"/payments", op, strings.Replace(entered, `"100.00"`, `100.00`, 1)); r.status != 400 || r.code() != "money_format" {
		t.Fatalf("a JSON number: %d %v", r.status, r.body)
	}
	imp := func(lines ...string) reply {
		return e.call("POST", base+"/payments/import", op, "kind,amount,date,receipt\n"+strings.Join(lines, "\n")+"\n", "Content-Type", "text/csv")
	}
	line := func(amount, receipt string) string { return "iit," + amount + "," + today + "," + receipt }
	for _, c := range []struct {
		lines  []string
		code   string
		status int
	}{
		{[]string{line("38.00", "3326000000002"), line("0.01", "3326000000003")}, "payment_exceeds_unpaid", 409},
		{[]string{line("1.00", "3326000000002"), line("1.00", "3326000000002")}, "import_line_duplicate", 400},
		{[]string{line("1.00", "3326000000002"), line("2.00", "3326000000002")}, "receipt_duplicate", 409},
		{[]string{line("1.00", "3326000000001")}, "receipt_duplicate", 409},
	} {
		if r := imp(c.lines...); r.status != c.status || r.code() != c.code {
			t.Errorf("import %v: %d %v, want %d %s", c.lines, r.status, r.body, c.status, c.code)
		}
	}
	if r := e.call("GET", base+"/payments", rev, ""); r.status != 200 || len(r.body["payments"].([]any)) != 1 {
		t.Fatalf("a refused import recorded something: %v", r.body)
	}
	if r := imp(line("38.00", "3326000000002")); r.status != 201 || r.body["recorded"] != 1.0 {
		t.Fatalf("the import: %d %v", r.status, r.body)
	}
	p := e.call("GET", base+"/payments", rev, "")
	iit, _ = p.body["balance"].(map[string]any)["iit"].(map[string]any)
	if iit["paid"] != "138.00" || iit["unpaid"] != "0.00" {
		t.Fatalf("after paying: %v", p.body)
	}
	if r := e.call("GET", "/api/v1/filings/platform", rev, ""); r.status != 200 || fmt.Sprint(r.body["periods"]) != fmt.Sprintf("[map[period:%s version:1]]", period) {
		t.Fatalf("periods: %d %v", r.status, r.body)
	}
	e.verifyPayouts()
}
