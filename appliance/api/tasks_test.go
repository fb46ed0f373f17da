package api_test

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"

	"cxt/appliance/notify"
	"cxt/appliance/workers/workerstest"
)

// taskBody is a task a merchant creates; budget is the JSON value as sent.
func taskBody(title, category, budget string, headcount int) string {
	return fmt.Sprintf(`{"title":%q,"category":%q,"description":"仓库卸货与上架，需自备劳保鞋","budget":%s,"headcount":%d,`+
		`"period":{"start":"2026-03-01","end":"2026-03-31"},"location":"福州市仓山区"}`, title, category, budget, headcount)
}

// newTask creates a draft task and, if publish, publishes it; it returns
// the task as answered last.
func (e *env) newTask(token, title, category, budget string, headcount int, publish bool) map[string]any {
	e.t.Helper()
	e.clock.advance(time.Millisecond) // task IDs are time-ordered; the test clock stands still
	r := e.call("POST", "/api/v1/tasks", token, taskBody(title, category, budget, headcount))
	if r.status != 201 || r.body["status"] != "draft" {
		e.t.Fatalf("create %s: %d %v", title, r.status, r.body)
	}
	if !publish {
		return r.body
	}
	p := e.call("POST", "/api/v1/tasks/"+r.body["id"].(string)+"/publish", token, "")
	if p.status != 200 {
		e.t.Fatalf("publish %s: %d %v", title, p.status, p.body)
	}
	return p.body
}

// registeredWorker registers person n, signs them in and returns their
// worker ID and session.
func (e *env) registeredWorker(box *smsBox, n int, username string) (string, string) {
	e.t.Helper()
	r := e.call("POST", "/api/v1/workers", "", registration(workerstest.Name(n), workerstest.ID(n), workerstest.Phone(n), username))
	if r.status != 201 {
		e.t.Fatalf("register %s: %d %v", username, r.status, r.body)
	}
	return r.body["worker"].(map[string]any)["id"].(string), e.workerSignIn(box, username, r.body["one_time_password"].(string), workerstest.Phone(n))
}

// linkWorker has merchant invite person n (registered already) and, if
// accept, the worker accept.
func (e *env) linkWorker(merchant, boss string, n int, worker, token string, accept bool) {
	e.t.Helper()
	rep := reportOf(e.t, e.invite(merchant, boss, []byte("name,id_number,phone\n"+row(workerstest.Name(n), workerstest.ID(n), workerstest.Phone(n)))))
	if rep[0]["status"] != "linked" || rep[0]["worker"] != worker {
		e.t.Fatalf("invite %s: %v", worker, rep)
	}
	if accept {
		if r := e.call("POST", "/api/v1/workers/"+worker+"/merchants/"+merchant+"/accept", token, ""); r.status != 200 {
			e.t.Fatalf("%s accepts %s: %d %v", worker, merchant, r.status, r.body)
		}
	}
}

func taskIDs(r reply) []string { return ids(r, "tasks") }

// A merchant publishes tasks, the risk rule opens some at once and sends
// others to a reviewer, linked workers apply or are assigned, file proof,
// are accepted (验收) or asked for more, and both sides evaluate. Two
// merchants and two workers walk every route, and every tenant's IDs,
// guessed, listed or read from another's answers, reach nothing of another.
func TestTasksArePublishedWorkedAcceptedAndStayInTheirTenant(t *testing.T) {
	box, hook := startSMS(t)
	e := startWith(t, &notify.Config{SMSWebhook: hook})
	sec, _ := e.signInMFA("secadmin")
	reviewer := e.staff(sec, "platform_reviewer", "reviewer-1")
	operator := e.staff(sec, "platform_operator", "ops-1")
	idA, bossA := e.approvedMerchant(reviewer, "福州某某物流有限公司", usccA, "boss-a", "13800001111")
	idB, bossB := e.approvedMerchant(reviewer, "太原某某服务有限公司", usccB, "boss-b", "13800002222")
	w1, worker1 := e.registeredWorker(box, 301, "worker-1")
	w2, worker2 := e.registeredWorker(box, 302, "worker-2")
	e.linkWorker(idA, bossA, 301, w1, worker1, true)
	e.linkWorker(idB, bossB, 302, w2, worker2, true)
	e.linkWorker(idA, bossA, 302, w2, worker2, false) // invited by A, not yet accepted

	// Bad tasks are refused with a stable code, naming the field.
	for body, want := range map[string]string{
		taskBody("搬运", "logistics", `1200`, 1):        "amount_invalid",
		taskBody("搬运", "logistics", `1200.00`, 1):     "amount_invalid",
		taskBody("搬运", "logistics", `"0.00"`, 1):      "amount_invalid",
		taskBody("搬运", "logistics", `"-5.00"`, 1):     "amount_invalid",
		taskBody("搬运", "logistics", `"12.345"`, 1):    "amount_invalid",
		taskBody("搬运", "astrology", `"100.00"`, 1):    "invalid_request",
		taskBody("搬运", "logistics", `"100.00"`, 0):    "invalid_request",
		taskBody("", "logistics", `"100.00"`, 1):      "invalid_request",
		`{"title":"搬运","budget":"1.00","extra":true}`: "invalid_request",
	} {
		if r := e.call("POST", "/api/v1/tasks", bossA, body); r.status != 400 || r.code() != want {
			t.Errorf("%s: %d %v, want %s", body, r.status, r.body, want)
		}
	}
	if r := e.call("POST", "/api/v1/tasks", bossA, taskBody("搬运", "logistics", `1200`, 1)); errField(r) != "budget" {
		t.Errorf("a JSON number as the budget: %v", r.body)
	}
	for _, tok := range []string{worker1, reviewer, operator} {
		if r := e.call("POST", "/api/v1/tasks", tok, taskBody("搬运", "logistics", `"100.00"`, 1)); r.status != 403 {
			t.Errorf("a task created by a non-merchant: %d %v", r.status, r.body)
		}
	}
	if r := e.call("GET", "/api/v1/tasks", operator, ""); len(taskIDs(r)) != 0 {
		t.Fatalf("refused creations left tasks: %v", r.body)
	}

	// B's task is above the budget line: a person reviews.
	tB := e.newTask(bossB, "门店促销", "sales", `"60000.00"`, 2, true)
	idTB := tB["id"].(string)
	if tB["status"] != "pending_review" || !strings.Contains(fmt.Sprint(tB["review"]), "the budget of 60000.00 yuan is above 50000.00 yuan") {
		t.Fatalf("B's task: %v", tB)
	}
	if r := e.call("POST", "/api/v1/tasks/"+idTB+"/review", reviewer, `{"decision":"approve"}`); r.status != 400 || errField(r) != "reason" {
		t.Fatalf("a review without a reason: %d %v", r.status, r.body)
	}
	if r := e.call("POST", "/api/v1/tasks/"+idTB+"/review", bossB, `{"decision":"approve","reason":"自己批准"}`); r.status != 403 {
		t.Fatalf("a merchant reviewing its own task: %d %v", r.status, r.body)
	}
	if r := e.call("POST", "/api/v1/tasks/"+idTB+"/review", reviewer, `{"decision":"approve","reason":"促销活动，预算合理"}`); r.status != 200 || r.body["status"] != "open" ||
		r.body["review"].(map[string]any)["by"] == "policy" {
		t.Fatalf("approve B's task: %d %v", r.status, r.body)
	}

	// A files another licence (rating 52 either way): an ordinary task
	// opens at once, approved by the policy with the rules' version; a
	// consulting task goes to a person, who rejects it.
	if r := e.upload("/api/v1/merchants/"+idA+"/documents?kind=business_licence", bossA, licencePDF); r.status != 201 {
		t.Fatalf("licence: %d %v", r.status, r.body)
	}
	tA := e.newTask(bossA, "仓库搬运", "logistics", `"1000.00"`, 2, true)
	idTA := tA["id"].(string)
	rv := tA["review"].(map[string]any)
	if tA["status"] != "open" || rv["by"] != "policy" || rv["rule"] != "1" || rv["policy_version"] != "embedded" || len(rv["reasons"].([]any)) != 0 || tA["share"] != "500.00" || tA["budget"] != "1000.00" {
		t.Fatalf("A's task: %v", tA)
	}
	if r := e.call("POST", "/api/v1/tasks/"+idTA+"/publish", bossA, ""); r.status != 409 || r.code() != "task_status" {
		t.Fatalf("publishing twice: %d %v", r.status, r.body)
	}
	consult := e.newTask(bossA, "管理咨询", "consulting", `"800.00"`, 1, true)
	idConsult := consult["id"].(string)
	if consult["status"] != "pending_review" || !strings.Contains(fmt.Sprint(consult["review"]), "consulting are always reviewed") {
		t.Fatalf("a consulting task: %v", consult)
	}
	if r := e.call("POST", "/api/v1/tasks/"+idConsult+"/review", operator, `{"decision":"reject","reason":"咨询类任务需补充合同"}`); r.status != 200 || r.body["status"] != "rejected" {
		t.Fatalf("reject: %d %v", r.status, r.body)
	}
	if r := e.call("POST", "/api/v1/tasks/"+idConsult+"/cancel", bossA, `{"reason":"x"}`); r.status != 409 || r.code() != "task_status" {
		t.Fatalf("cancelling a rejected task: %d %v", r.status, r.body)
	}
	draft := e.newTask(bossA, "草稿", "cleaning", `"50"`, 1, false)
	idDraft := draft["id"].(string)

	// Tenancy: B and B's worker see nothing of A's tasks, guessed or listed;
	// a worker A only invited sees none of A's; no worker sees a draft.
	for _, path := range []string{"", "/publish", "/cancel", "/assign"} {
		method := "POST"
		if path == "" {
			method = "GET"
		}
		if r := e.call(method, "/api/v1/tasks/"+idTA+path, bossB, `{"reason":"x","worker":"`+w2+`"}`); r.status != 404 || r.code() != "not_found" {
			t.Errorf("B %s %s: %d %v", method, path, r.status, r.body)
		}
	}
	for who, tok := range map[string]string{"worker 2 (only invited by A)": worker2, "worker 1": worker1} {
		want := 404
		if tok == worker1 {
			want = 200
		}
		if r := e.call("GET", "/api/v1/tasks/"+idTA, tok, ""); r.status != want {
			t.Errorf("%s reads A's open task: %d %v", who, r.status, r.body)
		}
		if r := e.call("GET", "/api/v1/tasks/"+idDraft, tok, ""); r.status != 404 {
			t.Errorf("%s reads A's draft: %d %v", who, r.status, r.body)
		}
	}
	if r := e.call("GET", "/api/v1/tasks/"+idTB, worker1, ""); r.status != 404 {
		t.Fatalf("worker 1 reads B's task: %d %v", r.status, r.body)
	}
	if r := e.call("POST", "/api/v1/tasks/"+idTA+"/apply", worker2, ""); r.status != 404 {
		t.Fatalf("worker 2 applies to a merchant that only invited them: %d %v", r.status, r.body)
	}
	if got := taskIDs(e.call("GET", "/api/v1/tasks", bossB, "")); !sameSet(got, idTB) {
		t.Fatalf("B lists %v", got)
	}
	if got := taskIDs(e.call("GET", "/api/v1/tasks", worker1, "")); !sameSet(got, idTA) {
		t.Fatalf("worker 1 lists %v", got)
	}
	if got := taskIDs(e.call("GET", "/api/v1/tasks", worker2, "")); !sameSet(got, idTB) {
		t.Fatalf("worker 2 lists %v", got)
	}
	if got := taskIDs(e.call("GET", "/api/v1/tasks?merchant="+idA, bossB, "")); len(got) != 0 {
		t.Fatalf("B lists A's tasks by naming A: %v", got)
	}
	if got := taskIDs(e.call("GET", "/api/v1/tasks", reviewer, "")); !sameSet(got, idTB, idTA, idConsult, idDraft) {
		t.Fatalf("the reviewer lists %v", got)
	}
	if got := taskIDs(e.call("GET", "/api/v1/tasks?status=open&merchant="+idA, operator, "")); !sameSet(got, idTA) {
		t.Fatalf("the operator lists A's open tasks: %v", got)
	}
	if r := e.call("POST", "/api/v1/tasks/"+idTB+"/assign", bossB, `{"worker":"`+w1+`"}`); r.status != 404 {
		t.Fatalf("B assigns A's worker: %d %v", r.status, r.body)
	}

	// Worker 1 applies and is accepted; worker 2 accepts A's invitation and
	// is assigned directly. The task is full.
	if r := e.call("POST", "/api/v1/tasks/"+idTA+"/apply", worker1, `{"note":"有叉车证"}`); r.status != 201 || r.body["status"] != "applied" {
		t.Fatalf("apply: %d %v", r.status, r.body)
	}
	if r := e.call("POST", "/api/v1/tasks/"+idTA+"/apply", worker1, ""); r.status != 409 || r.code() != "work_status" {
		t.Fatalf("apply twice: %d %v", r.status, r.body)
	}
	if r := e.call("POST", "/api/v1/tasks/"+idTA+"/applications/"+w1+"/accept", bossB, ""); r.status != 404 {
		t.Fatalf("B accepts an application to A's task: %d %v", r.status, r.body)
	}
	if r := e.call("POST", "/api/v1/tasks/"+idTA+"/applications/"+w1+"/accept", worker1, ""); r.status != 403 {
		t.Fatalf("a worker accepts their own application: %d %v", r.status, r.body)
	}
	if r := e.call("POST", "/api/v1/tasks/"+idTA+"/applications/"+w1+"/accept", bossA, ""); r.status != 200 || r.body["status"] != "assigned" {
		t.Fatalf("accept the application: %d %v", r.status, r.body)
	}
	if r := e.call("POST", "/api/v1/workers/"+w2+"/merchants/"+idA+"/accept", worker2, ""); r.status != 200 {
		t.Fatalf("worker 2 accepts A: %d %v", r.status, r.body)
	}
	if r := e.call("POST", "/api/v1/tasks/"+idTA+"/assign", bossA, `{"worker":"`+w2+`"}`); r.status != 200 || r.body["status"] != "assigned" {
		t.Fatalf("assign: %d %v", r.status, r.body)
	}
	if got := taskIDs(e.call("GET", "/api/v1/tasks", worker2, "")); !sameSet(got, idTA, idTB) {
		t.Fatalf("worker 2, linked to both, lists %v", got)
	}
	if r := e.call("GET", "/api/v1/tasks/"+idTA, worker2, ""); r.status != 200 || len(r.body["works"].([]any)) != 1 || r.body["assigned"] != 2.0 {
		t.Fatalf("worker 2 reads the task with their own work only: %d %v", r.status, r.body)
	}

	// Proof, typed by its bytes and checked on the way out; the work is
	// reached only by its worker and its merchant.
	proofPDF := []byte("%PDF-1.4\n1 0 obj <<>> endobj\n签收单 仓库搬运 2026-03-05\n%%EOF\n")
	work1 := "/api/v1/tasks/" + idTA + "/works/" + w1
	if r := e.upload(work1+"/proof", worker1, []byte("just text")); r.status != 415 || r.code() != "unsupported_document" {
		t.Fatalf("a text file as proof: %d %v", r.status, r.body)
	}
	if r := e.upload(work1+"/proof", worker2, proofPDF); r.status != 404 {
		t.Fatalf("worker 2 files proof on worker 1's work: %d %v", r.status, r.body)
	}
	if r := e.upload(work1+"/proof", bossA, proofPDF); r.status != 403 {
		t.Fatalf("the merchant files the worker's proof: %d %v", r.status, r.body)
	}
	pr := e.upload(work1+"/proof", worker1, proofPDF)
	if pr.status != 201 || pr.body["status"] != "submitted" || len(pr.body["proof"].([]any)) != 1 {
		t.Fatalf("proof: %d %v", pr.status, pr.body)
	}
	doc := pr.body["proof"].([]any)[0].(map[string]any)
	if doc["sm3"] != sm3Of(proofPDF) || doc["type"] != "application/pdf" {
		t.Fatalf("proof on record: %v", doc)
	}
	if status, typ, got := e.download(work1+"/proof/"+doc["id"].(string), bossA); status != 200 || typ != "application/pdf" || !bytes.Equal(got, proofPDF) {
		t.Fatalf("A downloads the proof: %d %s", status, typ)
	}
	for who, tok := range map[string]string{"B": bossB, "worker 2": worker2} {
		if status, _, _ := e.download(work1+"/proof/"+doc["id"].(string), tok); status != 404 {
			t.Errorf("%s downloads worker 1's proof: %d", who, status)
		}
	}

	// Acceptance (验收): a rejection asks for more; amounts are strings
	// within the share.
	if r := e.call("POST", work1+"/reject", bossA, `{"reason":""}`); r.status != 400 {
		t.Fatalf("a rejection without a reason: %d %v", r.status, r.body)
	}
	if r := e.call("POST", work1+"/reject", bossB, `{"reason":"x"}`); r.status != 404 {
		t.Fatalf("B rejects A's work: %d %v", r.status, r.body)
	}
	if r := e.call("POST", work1+"/reject", bossA, `{"reason":"缺少现场照片"}`); r.status != 200 || r.body["status"] != "rejected" {
		t.Fatalf("reject: %d %v", r.status, r.body)
	}
	if r := e.call("POST", work1+"/accept", bossA, ""); r.status != 409 || r.code() != "work_status" {
		t.Fatalf("accepting rejected work: %d %v", r.status, r.body)
	}
	photo := append([]byte("\x89PNG\r\n\x1a\n"), bytes.Repeat([]byte{0}, 64)...)
	if r := e.upload(work1+"/proof", worker1, photo); r.status != 201 || r.body["status"] != "submitted" || len(r.body["proof"].([]any)) != 2 {
		t.Fatalf("more proof: %d %v", r.status, r.body)
	}
	for body, want := range map[string]string{
		`{"amount":"600.00"}`: "amount_over_share",
		`{"amount":480.5}`:    "amount_invalid",
		`{"amount":"0"}`:      "amount_invalid",
		`{"amount":"1.005"}`:  "amount_invalid",
	} {
		if r := e.call("POST", work1+"/accept", bossA, body); r.status != 400 || r.code() != want {
			t.Errorf("accept %s: %d %v, want %s", body, r.status, r.body, want)
		}
	}
	if r := e.call("POST", work1+"/evaluate", worker1, `{"stars":5}`); r.status != 409 || r.code() != "work_status" {
		t.Fatalf("evaluating before acceptance: %d %v", r.status, r.body)
	}
	if r := e.call("POST", work1+"/accept", bossA, `{"amount":"480.5"}`); r.status != 200 || r.body["status"] != "accepted" || r.body["amount"] != "480.50" {
		t.Fatalf("accept: %d %v", r.status, r.body)
	}
	work2 := "/api/v1/tasks/" + idTA + "/works/" + w2
	if r := e.upload(work2+"/proof", worker2, proofPDF); r.status != 201 {
		t.Fatalf("worker 2's proof: %d %v", r.status, r.body)
	}
	if r := e.call("POST", work2+"/accept", bossA, ""); r.status != 200 || r.body["amount"] != "500.00" {
		t.Fatalf("accept worker 2 for the share: %d %v", r.status, r.body)
	}
	if r := e.call("GET", "/api/v1/tasks/"+idTA, bossA, ""); r.body["status"] != "completed" || r.body["accepted"] != 2.0 || len(r.body["works"].([]any)) != 2 {
		t.Fatalf("the task after both acceptances: %v", r.body)
	}
	if r := e.call("POST", "/api/v1/tasks/"+idTA+"/cancel", bossA, `{"reason":"不需要了"}`); r.status != 409 || r.code() != "task_status" {
		t.Fatalf("cancelling a task with accepted work: %d %v", r.status, r.body)
	}

	// Both sides evaluate once; nobody evaluates another's work.
	if r := e.call("POST", work1+"/evaluate", worker2, `{"stars":1}`); r.status != 404 {
		t.Fatalf("worker 2 evaluates worker 1's work: %d %v", r.status, r.body)
	}
	if r := e.call("POST", work1+"/evaluate", bossA, `{"stars":0}`); r.status != 400 || errField(r) != "stars" {
		t.Fatalf("zero stars: %d %v", r.status, r.body)
	}
	if r := e.call("POST", work1+"/evaluate", worker1, `{"stars":5,"comment":"结算及时"}`); r.status != 200 || r.body["by_worker"].(map[string]any)["stars"] != 5.0 {
		t.Fatalf("the worker evaluates: %d %v", r.status, r.body)
	}
	if r := e.call("POST", work1+"/evaluate", bossA, `{"stars":4,"comment":"认真负责"}`); r.status != 200 || r.body["by_merchant"].(map[string]any)["stars"] != 4.0 {
		t.Fatalf("the merchant evaluates: %d %v", r.status, r.body)
	}
	if r := e.call("POST", work1+"/evaluate", bossA, `{"stars":5}`); r.status != 409 || r.code() != "already_evaluated" {
		t.Fatalf("a second evaluation: %d %v", r.status, r.body)
	}
	if entries := e.audited("task.accept"); countResult(entries, "ok") != 2 || countResult(entries, "amount_over_share") != 1 || countResult(entries, "work_status") != 1 {
		t.Fatalf("task.accept in the audit log: %+v", entries)
	}

	// Cancelling an open task ends its works and tells the workers.
	tC := e.newTask(bossA, "临时保洁", "cleaning", `"200"`, 2, true)
	idTC := tC["id"].(string)
	if r := e.call("POST", "/api/v1/tasks/"+idTC+"/apply", worker2, ""); r.status != 201 {
		t.Fatalf("apply: %d %v", r.status, r.body)
	}
	if r := e.call("POST", "/api/v1/tasks/"+idTC+"/cancel", bossA, `{"reason":"活动取消"}`); r.status != 200 || r.body["status"] != "cancelled" {
		t.Fatalf("cancel: %d %v", r.status, r.body)
	}
	if r := e.call("GET", "/api/v1/tasks/"+idTC, worker2, ""); r.status != 200 || r.body["works"].([]any)[0].(map[string]any)["status"] != "cancelled" {
		t.Fatalf("worker 2's cancelled application: %d %v", r.status, r.body)
	}

	// Pages: A's tasks, two at a time, oldest first.
	var all []string
	for after, pages := "", 0; pages < 5; pages++ {
		r := e.call("GET", "/api/v1/tasks?limit=2&after="+after, bossA, "")
		all = append(all, taskIDs(r)...)
		next, _ := r.body["next"].(string)
		if next == "" {
			break
		}
		after = next
	}
	if want := []string{idTA, idConsult, idDraft, idTC}; fmt.Sprint(all) != fmt.Sprint(want) {
		t.Fatalf("A's pages: %v, want %v", all, want)
	}
	if r := e.call("GET", "/api/v1/tasks?limit=0", bossA, ""); r.status != 400 || errField(r) != "limit" {
		t.Fatalf("limit 0: %d %v", r.status, r.body)
	}
}

// Racing acceptances of applications for the last slot are decided once:
// the headcount holds whichever node or request comes first.
func TestRacingAcceptancesNeverExceedTheHeadcount(t *testing.T) {
	box, hook := startSMS(t)
	e := startWith(t, &notify.Config{SMSWebhook: hook})
	sec, _ := e.signInMFA("secadmin")
	reviewer := e.staff(sec, "platform_reviewer", "reviewer-1")
	idA, bossA := e.approvedMerchant(reviewer, "福州某某物流有限公司", usccA, "boss-a", "13800001111")
	if r := e.upload("/api/v1/merchants/"+idA+"/documents?kind=business_licence", bossA, licencePDF); r.status != 201 {
		t.Fatalf("licence: %d %v", r.status, r.body)
	}
	var ws, toks []string
	for i := range 3 {
		w, tok := e.registeredWorker(box, 400+i, fmt.Sprintf("racer-%d", i))
		e.linkWorker(idA, bossA, 400+i, w, tok, true)
		ws, toks = append(ws, w), append(toks, tok)
	}
	for _, headcount := range []int{1, 2} {
		task := e.newTask(bossA, fmt.Sprintf("抢单 %d", headcount), "delivery", `"300.00"`, headcount, true)
		id := task["id"].(string)
		for i := range ws {
			if r := e.call("POST", "/api/v1/tasks/"+id+"/apply", toks[i], ""); r.status != 201 {
				t.Fatalf("apply: %d %v", r.status, r.body)
			}
		}
		// Every application accepted three times at once.
		replies := parallel(3*len(ws), func(i int) reply {
			return e.call("POST", "/api/v1/tasks/"+id+"/applications/"+ws[i%len(ws)]+"/accept", bossA, "")
		})
		ok := 0
		for _, r := range replies {
			switch {
			case r.status == 200:
				ok++
			case r.status == 409 && (r.code() == "task_full" || r.code() == "work_status"):
			default:
				t.Errorf("headcount %d: %d %v", headcount, r.status, r.body)
			}
		}
		r := e.call("GET", "/api/v1/tasks/"+id, bossA, "")
		assigned := 0
		for _, w := range r.body["works"].([]any) {
			if w.(map[string]any)["status"] == "assigned" {
				assigned++
			}
		}
		if ok != headcount || assigned != headcount || r.body["assigned"] != float64(headcount) {
			t.Fatalf("headcount %d: %d acceptances answered 200, %d works assigned, the task counts %v", headcount, ok, assigned, r.body["assigned"])
		}
	}
}
