package api_test

import (
	"fmt"
	"testing"
	"time"

	"cxt/appliance/payouts"
	"cxt/appliance/workers/workerstest"
)

// waitJob polls an inspection job until it ends.
func (e *env) waitJob(token, id string) map[string]any {
	e.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		r := e.call("GET", "/api/v1/risk/inspections/"+id, token, "")
		if r.status != 200 {
			e.t.Fatalf("inspection %s: %d %v", id, r.status, r.body)
		}
		if r.body["status"] != "running" {
			return r.body
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("inspection %s still running: %v", id, r.body)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Three people register from one device with one bank card (the world's
// two workers have it too): an inspection finds the card and the device,
// opens a case for each, and opens none again; a reviewer works a case to
// its close; a sample of the month's payments carries the evidence the
// records hold, and its finding is filed under the worker and merchant.
func TestInspectionCasesAndSamplesThroughTheAPI(t *testing.T) {
	w := payoutWorld(t)
	e := w.e
	e.stepUp(w.sec, "secadmin")
	reviewer2 := e.staff(w.sec, "platform_reviewer", "reviewer-2")
	for i, n := range []int{601, 602, 603} {
		r := e.call("POST", "/api/v1/workers", "", registration(workerstest.Name(n), workerstest.ID(n), workerstest.Phone(n), fmt.Sprintf("risker-%d", i)),
			"X-Device-Id", "handset-7f3a")
		if r.status != 201 {
			t.Fatalf("register %d: %d %v", n, r.status, r.body)
		}
	}
	if r := e.call("POST", "/api/v1/workers", "", registration(workerstest.Name(604), workerstest.ID(604), workerstest.Phone(604), "other-1"),
		"X-Device-Id", "bad id"); r.status != 400 {
		t.Fatalf("a device ID with a space: %d %v", r.status, r.body)
	}
	w.paid(w.idA, w.clerkA, w.bossA, "boss-a", w.wA, w.taskA, "100.00", "risk-1")
	period := e.clock.Now().In(payouts.China).Format("2006-01")

	// Inspection, on demand; the merchant's people are not platform staff.
	if r := e.call("POST", "/api/v1/risk/inspections", w.bossA, `{"period":"`+period+`"}`); r.status != 403 {
		t.Fatalf("a merchant starts an inspection: %d %v", r.status, r.body)
	}
	if r := e.call("POST", "/api/v1/risk/inspections", w.operator, `{"period":"2026-13"}`); r.status != 400 {
		t.Fatalf("a month 13: %d %v", r.status, r.body)
	}
	start := e.call("POST", "/api/v1/risk/inspections", w.operator, `{"period":"`+period+`"}`)
	if start.status != 202 || start.body["status"] != "running" || start.body["trigger"] != "demand" {
		t.Fatalf("start: %d %v", start.status, start.body)
	}
	job := e.waitJob(w.reviewer, start.body["id"].(string))
	if job["status"] != "done" || job["findings"] != 2.0 || job["cases_opened"] != 2.0 || len(job["steps"].([]any)) != 4 {
		t.Fatalf("job: %v", job)
	}
	again := e.waitJob(w.reviewer, e.call("POST", "/api/v1/risk/inspections", w.reviewer, "").body["id"].(string))
	if again["findings"] != 2.0 || again["cases_opened"] != 0.0 {
		t.Fatalf("the second job opened cases again: %v", again)
	}
	list := e.call("GET", "/api/v1/risk/cases?status=open", w.reviewer, "")
	cases, _ := list.body["cases"].([]any)
	if list.status != 200 || len(cases) != 2 {
		t.Fatalf("open cases: %d %v", list.status, list.body)
	}
	var card map[string]any
	kinds := map[string]bool{}
	for _, c := range cases {
		c := c.(map[string]any)
		kinds[c["kind"].(string)] = true
		if c["kind"] == "shared_card" {
			card = c
		}
	}
	if !kinds["shared_card"] || !kinds["registration_burst"] || len(card["parties"].([]any)) != 5 {
		t.Fatalf("cases: %v", cases)
	}
	id := card["id"].(string)

	// The case, worked to its close.
	operatorID := e.call("GET", "/api/v1/me", w.operator, "").body["account"].(map[string]any)["id"].(string)
	reviewerID := e.call("GET", "/api/v1/me", w.reviewer, "").body["account"].(map[string]any)["id"].(string)
	steps := []struct {
		name, path, token, body string
		status                  int
		code                    string
	}{
		{"closing an open case", "close", w.reviewer, `{"outcome":"no_issue","note":"family card"}`, 409, "case_status"},
		{"assigning an operator", "assign", w.operator, `{"reviewer":"` + operatorID + `"}`, 400, "invalid_request"},
		{"assigning a reviewer", "assign", w.operator, `{"reviewer":"` + reviewerID + `"}`, 200, ""},
		{"evidence by another reviewer", "evidence", reviewer2, `{"kind":"worker","ref":"` + w.wA + `"}`, 200, ""},
		{"evidence of no known kind", "evidence", reviewer2, `{"kind":"gossip","ref":"x"}`, 400, "invalid_request"},
		{"evidence naming no payment", "evidence", reviewer2, `{"kind":"payment","ref":"pb-nonexistent"}`, 400, "invalid_request"},
		{"evidence naming a path", "evidence", reviewer2, `{"kind":"worker","ref":"../../x"}`, 400, "invalid_request"},
		{"a note that reads backwards", "evidence", reviewer2, `{"kind":"note","note":"ok \u202e gnissim"}`, 400, "invalid_request"},
		{"a note with a NUL", "evidence", reviewer2, `{"kind":"note","note":"a\u0000b"}`, 400, "invalid_request"},
		{"closing by another reviewer", "close", reviewer2, `{"outcome":"no_issue","note":"family card"}`, 403, "case_assignee"},
		{"closing by an operator", "close", w.operator, `{"outcome":"no_issue","note":"family card"}`, 403, "forbidden"},
		{"closing by its reviewer", "close", w.reviewer, `{"outcome":"confirmed_warned","note":"the card is the team leader's; workers told to use their own"}`, 200, ""},
		{"closing again", "close", w.reviewer, `{"outcome":"no_issue","note":"again"}`, 409, "case_status"},
		{"evidence after the close", "evidence", w.reviewer, `{"kind":"note","note":"late"}`, 409, "case_status"},
	}
	for _, s := range steps {
		r := e.call("POST", "/api/v1/risk/cases/"+id+"/"+s.path, s.token, s.body)
		if r.status != s.status || r.code() != s.code {
			t.Fatalf("%s: %d %v", s.name, r.status, r.body)
		}
	}
	got := e.call("GET", "/api/v1/risk/cases/"+id, w.operator, "").body
	if got["status"] != "closed" || got["outcome"] != "confirmed_warned" || got["reviewer"] != reviewerID || len(got["evidence"].([]any)) != 1 || len(got["history"].([]any)) != 4 {
		t.Fatalf("closed case: %v", got)
	}
	if r := e.call("GET", "/api/v1/risk/cases/case-00000000000000000000", w.operator, ""); r.status != 404 {
		t.Fatalf("no such case: %d %v", r.status, r.body)
	}

	// A sample of the month's payments: the one paid, with its evidence.
	if r := e.call("POST", "/api/v1/risk/samples", w.operator, `{"population":"payments","period":"`+period+`","size":0}`); r.status != 400 {
		t.Fatalf("a sample of 0: %d %v", r.status, r.body)
	}
	smp := e.call("POST", "/api/v1/risk/samples", w.operator, `{"population":"payments","period":"`+period+`","size":5}`)
	items, _ := smp.body["items"].([]any)
	if smp.status != 201 || smp.body["population_count"] != 1.0 || len(items) != 1 || len(smp.body["seed"].(string)) != 64 {
		t.Fatalf("sample: %d %v", smp.status, smp.body)
	}
	for _, c := range items[0].(map[string]any)["checklist"].([]any) {
		if c := c.(map[string]any); c["present"] != true {
			t.Errorf("the paid payment's %s is missing: %v", c["item"], c)
		}
	}
	sid := smp.body["id"].(string)
	if r := e.call("POST", "/api/v1/risk/samples/"+sid+"/items/1/finding", w.operator, `{"result":"ok"}`); r.status != 403 {
		t.Fatalf("an operator's finding: %d %v", r.status, r.body)
	}
	if r := e.call("POST", "/api/v1/risk/samples/"+sid+"/items/2/finding", w.reviewer, `{"result":"ok"}`); r.status != 404 {
		t.Fatalf("no item 2: %d %v", r.status, r.body)
	}
	if r := e.call("POST", "/api/v1/risk/samples/"+sid+"/items/1/finding", w.reviewer, `{"result":"issue","note":"the proof photo shows another site"}`); r.status != 200 || r.body["reviewed"] != 1.0 {
		t.Fatalf("a finding: %d %v", r.status, r.body)
	}
	if r := e.call("POST", "/api/v1/risk/samples/"+sid+"/items/1/finding", reviewer2, `{"result":"ok"}`); r.status != 409 || r.code() != "sample_item_reviewed" {
		t.Fatalf("a second finding: %d %v", r.status, r.body)
	}
	for _, subject := range []string{"worker/" + w.wA, "merchant/" + w.idA} {
		r := e.call("GET", "/api/v1/risk/findings?subject="+subject, w.operator, "")
		if fs, _ := r.body["findings"].([]any); r.status != 200 || len(fs) != 1 || fs[0].(map[string]any)["result"] != "issue" {
			t.Fatalf("%s's findings: %d %v", subject, r.status, r.body)
		}
	}
	if r := e.call("GET", "/api/v1/risk/findings?subject="+w.wA, w.operator, ""); r.status != 400 {
		t.Fatalf("a subject without its kind: %d %v", r.status, r.body)
	}
	// Works accepted this month are a population too: both workers'.
	tasks := e.call("POST", "/api/v1/risk/samples", w.reviewer, `{"population":"tasks","period":"`+period+`","size":5}`)
	if tasks.status != 201 || tasks.body["population_count"] != 2.0 || len(tasks.body["items"].([]any)) != 2 {
		t.Fatalf("a sample of works: %d %v", tasks.status, tasks.body)
	}
	if r := e.call("GET", "/api/v1/risk/samples", w.reviewer, ""); r.status != 200 || len(r.body["samples"].([]any)) != 2 {
		t.Fatalf("samples: %d %v", r.status, r.body)
	}
	if r := e.call("GET", "/api/v1/risk/inspections", w.reviewer, ""); r.status != 200 || len(r.body["inspections"].([]any)) != 2 {
		t.Fatalf("inspections: %d %v", r.status, r.body)
	}
}
