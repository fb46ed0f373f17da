package api_test

import (
	"bytes"
	"encoding/csv"
	"fmt"
	"regexp"
	"sync"
	"testing"
)

// Invoices over the API, on payments paid through it: A (中间介绍型, a fee of
// 6 % on each payment) asks for the platform's fee invoice of its payments,
// whose total is computed, a wrong one refused; the platform's operator
// lets it be issued, the sandbox tax-control system numbers it, the
// operator delivers and reverses it; the export lists what is still to
// issue; B sees none of A's. A 代开 invoice is recorded with the tax
// office's number.
func TestInvoicesAreAskedIssuedAndReversedInTheirTenant(t *testing.T) {
	w := payoutWorld(t)
	e := w.e
	up := e.uploadBatch(w.idA, w.clerkA, payFile("inv-1", payRow(w.wA, w.taskA, `"3000.00"`), payRow(w.wA, w.taskA, `"1000.00"`)))
	if up.status != 201 {
		t.Fatalf("upload: %d %v", up.status, up.body)
	}
	batch := up.body["batch"].(string)
	e.stepUp(w.bossA, "boss-a")
	if r := e.confirmed("POST", "/api/v1/payout-batches/"+batch+"/confirm", w.bossA, "", "confirm-"+batch); r.status != 202 {
		t.Fatalf("confirm: %d %v", r.status, r.body)
	}
	e.settled(w.bossA, batch)
	p1, p2 := batch+"-000001", batch+"-000002"
	ask := func(token, body string) reply {
		return e.call("POST", "/api/v1/merchants/"+w.idA+"/invoices", token, body)
	}

	for _, c := range []struct{ body, code string }{
		{`{"kind":"full","payments":["` + p1 + `"]}`, "invoice_kind"},                                         // A is 中间介绍型
		{`{"kind":"fee","payments":["` + p1 + `","` + p2 + `"],"total":"999.00"}`, "invoice_amount_mismatch"}, // the fees are 240.00
		{`{"kind":"fee","payments":["` + p1 + `","nope"]}`, "invoice_payment_not_live"},
		{`{"kind":"fee","payments":[]}`, "invoice_too_large"},
		{`{"kind":"fee","payments":["` + p1 + `"],"total":240}`, "invalid_request"},
	} {
		if r := ask(w.clerkA, c.body); r.status/100 != 4 || r.code() != c.code {
			t.Errorf("%s: %d %v, want %s", c.body, r.status, r.body, c.code)
		}
	}
	if r := e.call("POST", "/api/v1/merchants/"+w.idA+"/invoices", w.bossB, `{"kind":"fee","payments":["`+p1+`"]}`); r.status != 403 && r.status != 404 {
		t.Errorf("B asking for A's invoice: %d %v", r.status, r.body)
	}
	// Racing requests for the same payments, by A's two users: one wins.
	var wg sync.WaitGroup
	answers := make([]reply, 6)
	for i := range answers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			token := w.clerkA
			if i%2 == 1 {
				token = w.bossA
			}
			answers[i] = ask(token, `{"kind":"fee","payments":["`+p1+`","`+p2+`"],"total":"240.00"}`)
		}()
	}
	wg.Wait()
	var r reply
	won := 0
	for _, a := range answers {
		switch {
		case a.status == 201:
			r = a
			won++
		case a.status != 409 || a.code() != "invoice_payment_covered":
			t.Errorf("a racing request: %d %v", a.status, a.body)
		}
	}
	if won != 1 {
		t.Fatalf("%d racing requests won", won)
	}
	if r.status != 201 || r.body["total"] != "240.00" || r.body["tax"] != "13.58" || r.body["amount"] != "226.42" || r.body["status"] != "requested" ||
		r.body["buyer_tax_id"] != usccA || r.body["seller"] != "诚薪通科技有限公司" || r.body["seller_tax_id"] != "91350100M000100Y43" || r.body["rate"] != "6%" {
		t.Fatalf("the fee invoice: %d %v", r.status, r.body)
	}
	id := r.body["id"].(string)
	if r := ask(w.bossA, `{"kind":"fee","payments":["`+p2+`"]}`); r.status != 409 || r.code() != "invoice_payment_covered" {
		t.Fatalf("invoicing a payment twice: %d %v", r.status, r.body)
	}

	// Who sees it: A's users and the platform; B finds nothing.
	for who, token := range map[string]string{"A's operator": w.clerkA, "the reviewer": w.reviewer} {
		if r := e.call("GET", "/api/v1/invoices/"+id, token, ""); r.status != 200 || r.body["id"] != id {
			t.Errorf("%s reading: %d %v", who, r.status, r.body)
		}
	}
	if r := e.call("GET", "/api/v1/invoices/"+id, w.bossB, ""); r.status != 404 {
		t.Errorf("B reading A's invoice: %d %v", r.status, r.body)
	}
	if r := e.call("GET", "/api/v1/invoices?merchant="+w.idA, w.bossB, ""); r.status != 200 || len(r.body["invoices"].([]any)) != 0 {
		t.Errorf("B listing A's invoices: %d %v", r.status, r.body)
	}
	if r := e.call("GET", "/api/v1/invoices", w.clerkA, ""); r.status != 200 || len(r.body["invoices"].([]any)) != 1 {
		t.Errorf("A listing: %d %v", r.status, r.body)
	}

	// The export lists it for the tax-control system, as JSON and CSV.
	if r := e.call("GET", "/api/v1/invoices/export", w.reviewer, ""); r.status != 200 || r.body["count"] != 1.0 {
		t.Fatalf("export: %d %v", r.status, r.body)
	}
	status, ctype, body := e.download("/api/v1/invoices/export?format=csv", w.operator)
	rows, err := csv.NewReader(bytes.NewReader(body)).ReadAll()
	if status != 200 || ctype != "text/csv; charset=utf-8" || err != nil || len(rows) != 2 || rows[1][0] != id || rows[1][10] != "240.00" {
		t.Fatalf("CSV export: %d %s %v %q", status, ctype, err, rows)
	}
	if r := e.call("GET", "/api/v1/invoices/export", w.clerkA, ""); r.status != 403 {
		t.Errorf("a merchant exporting: %d", r.status)
	}

	// Only the platform's operator issues, delivers and reverses.
	if r := e.call("POST", "/api/v1/invoices/"+id+"/issue", w.bossA, ""); r.status != 403 {
		t.Errorf("A issuing its own invoice: %d %v", r.status, r.body)
	}
	if r := e.call("POST", "/api/v1/invoices/"+id+"/issue", w.operator, ""); r.status != 200 || r.body["status"] != "issuing" {
		t.Fatalf("issue: %d %v", r.status, r.body)
	}
	var number string
	eventually(t, "the invoice is issued", func() bool {
		r := e.call("GET", "/api/v1/invoices/"+id, w.clerkA, "")
		number, _ = r.body["number"].(string)
		return r.body["status"] == "issued"
	})
	if !regexp.MustCompile(`^[0-9]{20}$`).MatchString(number) {
		t.Fatalf("number %q", number)
	}
	if r := e.call("POST", "/api/v1/invoices/"+id+"/deliver", w.operator, `{"to":"finance@a.example"}`); r.status != 200 || r.body["status"] != "delivered" {
		t.Fatalf("deliver: %d %v", r.status, r.body)
	}
	if r := e.call("POST", "/api/v1/invoices/"+id+"/reverse", w.operator, `{}`); r.status != 400 {
		t.Fatalf("a reversal without a reason: %d %v", r.status, r.body)
	}
	rev := e.call("POST", "/api/v1/invoices/"+id+"/reverse", w.operator, `{"reason":"开票信息有误"}`)
	if rev.status != 200 || rev.body["status"] != "reversed" || rev.body["reversed_by"] == nil {
		t.Fatalf("reverse: %d %v", rev.status, rev.body)
	}
	red := rev.body["reversed_by"].(string)
	eventually(t, "the red letter is issued", func() bool {
		r := e.call("GET", "/api/v1/invoices/"+red, w.reviewer, "")
		return r.body["status"] == "issued" && r.body["total"] == "-240.00" && r.body["reverses"] == id
	})
	if r := e.call("POST", "/api/v1/invoices/"+id+"/reverse", w.operator, `{"reason":"again"}`); r.status != 409 || r.code() != "invoice_status" {
		t.Fatalf("a second reversal: %d %v", r.status, r.body)
	}

	// A 代开 invoice of the worker's first payment, with the tax office's
	// number; the payments are free again after the reversal.
	wk := ask(w.operator, `{"kind":"worker","worker":"`+w.wA+`","payments":["`+p1+`"],"total":"3000.00"}`)
	if wk.status != 201 || wk.body["seller"] != w.wA || wk.body["rate"] != "免税" {
		t.Fatalf("代开: %d %v", wk.status, wk.body)
	}
	if r := e.call("POST", "/api/v1/invoices/"+wk.body["id"].(string)+"/issue", w.operator, `{"number":"26350000000000000001"}`); r.status != 200 || r.body["status"] != "issued" {
		t.Fatalf("recording the tax office's number: %d %v", r.status, r.body)
	}
	again := ask(w.clerkA, `{"kind":"fee","payments":["`+p1+`","`+p2+`"]}`)
	if again.status != 201 {
		t.Fatalf("the fee invoice again after its reversal: %d %v", again.status, again.body)
	}
	// A's list, newest first: the new fee invoice, the 代开 one, the red
	// letter, the reversed original.
	list := e.call("GET", "/api/v1/invoices", w.bossA, "").body["invoices"].([]any)
	var ids []any
	for _, inv := range list {
		ids = append(ids, inv.(map[string]any)["id"])
	}
	if want := []any{again.body["id"], wk.body["id"], red, id}; fmt.Sprint(ids) != fmt.Sprint(want) {
		t.Fatalf("A's invoices: %v, want %v", ids, want)
	}
	if r := e.call("GET", "/api/v1/invoices?merchant="+w.idA+"&kind=worker", w.reviewer, ""); r.status != 200 || len(r.body["invoices"].([]any)) != 1 {
		t.Fatalf("A's 代开 invoices: %d %v", r.status, r.body)
	}
}
