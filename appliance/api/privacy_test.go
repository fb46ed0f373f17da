package api_test

import (
	"strings"
	"testing"
	"time"

	"cxt/appliance/notify"
	"cxt/appliance/workers/workerstest"
)

func TestAWorkerExercisesTheirPersonalInformationRightsAndNobodyElseDoes(t *testing.T) {
	box, hook := startSMS(t)
	e := startWith(t, &notify.Config{SMSWebhook: hook})
	sec, _ := e.signInMFA("secadmin")
	reviewer := e.staff(sec, "platform_reviewer", "reviewer-1")
	operator := e.staff(sec, "platform_operator", "ops-1")
	idA, bossA := e.approvedMerchant(reviewer, "福州某某科技有限公司", usccA, "boss-a", "13800001111")

	n0, id0, ph0 := workerstest.Name(200), workerstest.ID(200), workerstest.Phone(200)
	n1, id1, ph1 := workerstest.Name(201), workerstest.ID(201), workerstest.Phone(201)
	reg0 := e.call("POST", "/api/v1/workers", "", registration(n0, id0, ph0, "self-200"))
	reg1 := e.call("POST", "/api/v1/workers", "", registration(n1, id1, ph1, "self-201"))
	if reg0.status != 201 || reg1.status != 201 {
		t.Fatalf("register: %v / %v", reg0.body, reg1.body)
	}
	w0 := reg0.body["worker"].(map[string]any)["id"].(string)
	w1 := reg1.body["worker"].(map[string]any)["id"].(string)
	worker0 := e.workerSignIn(box, "self-200", reg0.body["one_time_password"].(string), ph0)
	worker1 := e.workerSignIn(box, "self-201", reg1.body["one_time_password"].(string), ph1)
	// A merchant invites worker 0 and they accept: the merchant reads
	// them, but still gets nothing of these rights.
	e.invite(idA, bossA, []byte("name,id_number,phone\n"+row(n0, id0, ph0)))
	if r := e.call("POST", "/api/v1/workers/"+w0+"/merchants/"+idA+"/accept", worker0, ""); r.status != 200 {
		t.Fatalf("accept: %d %v", r.status, r.body)
	}

	// The export is the worker's own, in full.
	ex := e.call("GET", "/api/v1/workers/"+w0+"/export", worker0, "")
	rec, _ := ex.body["worker"].(map[string]any)
	if ex.status != 200 || ex.body["format"] != "cxt.personal-data-export/v1" || rec["id_number"] != id0 || rec["name"] != n0 || rec["phone"] != ph0 {
		t.Fatalf("own export: %d %v", ex.status, ex.body)
	}
	if links, _ := ex.body["merchant_links"].([]any); len(links) != 1 || !strings.Contains(raw(ex), idA) {
		t.Fatalf("the export's merchant links: %v", ex.body["merchant_links"])
	}
	// Another worker finds no such worker; staff and the merchant are
	// refused the action; nobody's answer holds the person's ID number.
	for who, c := range map[string]struct {
		token  string
		status int
		code   string
	}{
		"another worker":        {worker1, 404, "not_found"},
		"a platform operator":   {operator, 403, "forbidden"},
		"the linked merchant":   {bossA, 403, "forbidden"},
		"a platform reviewer":   {reviewer, 403, "forbidden"},
		"someone not signed in": {"", 401, "unauthenticated"},
	} {
		r := e.call("GET", "/api/v1/workers/"+w0+"/export", c.token, "")
		if r.status != c.status || r.code() != c.code || strings.Contains(raw(r), id0) {
			t.Errorf("%s exports worker 0: %d %v", who, r.status, r.body)
		}
	}
	if r := e.call("POST", "/api/v1/workers/"+w0+"/privacy-requests", worker1, `{"kind":"deletion"}`); r.status != 404 || r.code() != "not_found" {
		t.Fatalf("another worker files for worker 0: %d %v", r.status, r.body)
	}
	if r := e.call("GET", "/api/v1/workers/"+w0+"/privacy-requests", bossA, ""); r.status != 403 {
		t.Fatalf("the merchant lists worker 0's requests: %d %v", r.status, r.body)
	}

	// A correction: the ID number is refused with its code; the name is
	// filed, due in 30 days, shown masked.
	if r := e.call("POST", "/api/v1/workers/"+w0+"/privacy-requests", worker0, `{"kind":"correction","id_number":"`+id1+`"}`); r.status != 400 || r.code() != "privacy_field_fixed" {
		t.Fatalf("an ID number correction: %d %v", r.status, r.body)
	}
	newName := "欧阳修文"
	filed := e.call("POST", "/api/v1/workers/"+w0+"/privacy-requests", worker0, `{"kind":"correction","name":"`+newName+`"}`)
	if filed.status != 201 || filed.body["status"] != "open" || strings.Contains(raw(filed), newName) {
		t.Fatalf("file a correction: %d %v", filed.status, filed.body)
	}
	req := filed.body["id"].(string)
	fd, _ := time.Parse(time.RFC3339Nano, filed.body["filed"].(string))
	due, _ := time.Parse(time.RFC3339Nano, filed.body["due"].(string))
	if !due.Equal(fd.Add(30 * 24 * time.Hour)) {
		t.Fatalf("filed %s, due %s", fd, due)
	}
	if r := e.call("GET", "/api/v1/privacy-requests?overdue=1", operator, ""); r.status != 200 || r.body["total"] != 0.0 {
		t.Fatalf("overdue before the due date: %d %v", r.status, r.body)
	}
	// 31 days on, the operator's list flags it.
	e.clock.advance(31 * 24 * time.Hour)
	operator = e.loginMFA("ops-1").body["token"].(string)
	late := e.call("GET", "/api/v1/privacy-requests?overdue=1", operator, "")
	if list, _ := late.body["requests"].([]any); late.status != 200 || len(list) != 1 || list[0].(map[string]any)["id"] != req || list[0].(map[string]any)["overdue"] != true {
		t.Fatalf("overdue list: %d %v", late.status, late.body)
	}
	if r := e.call("POST", "/api/v1/privacy-requests/"+req+"/decide", operator, `{"outcome":"refuse","reason":"no"}`); r.status != 400 {
		t.Fatalf("a refusal without a reason: %d %v", r.status, r.body)
	}
	dec := e.call("POST", "/api/v1/privacy-requests/"+req+"/decide", operator, `{"outcome":"apply"}`)
	if dec.status != 200 || dec.body["status"] != "done" {
		t.Fatalf("apply: %d %v", dec.status, dec.body)
	}
	if r := e.call("POST", "/api/v1/privacy-requests/"+req+"/decide", operator, `{"outcome":"apply"}`); r.status != 409 || r.code() != "privacy_request_status" {
		t.Fatalf("a second decision: %d %v", r.status, r.body)
	}
	worker0 = e.workerSignInAgain(box, "self-200", ph0)
	worker1 = e.workerSignInAgain(box, "self-201", ph1)
	if r := e.call("GET", "/api/v1/workers/"+w0+"/export", worker0, ""); r.body["worker"].(map[string]any)["name"] != newName {
		t.Fatalf("export after the correction: %v", r.body["worker"])
	}

	// Cancellation: worker 0 cannot cancel worker 1; worker 1 can, and is
	// signed out; the merchant's answers then show the cancellation.
	e.stepUp(worker0, "self-200")
	if r := e.confirmed("POST", "/api/v1/workers/"+w1+"/cancel", worker0, "", "cancel-x"); r.status != 404 || r.code() != "not_found" {
		t.Fatalf("worker 0 cancels worker 1: %d %v", r.status, r.body)
	}
	e.stepUp(worker1, "self-201")
	if r := e.confirmed("POST", "/api/v1/workers/"+w1+"/cancel", worker1, "", "cancel-1"); r.status != 200 || r.body["cancelled"] != true {
		t.Fatalf("cancel: %d %v", r.status, r.body)
	}
	if r := e.call("GET", "/api/v1/workers/"+w1+"/export", worker1, ""); r.status != 401 {
		t.Fatalf("the cancelled worker's session: %d %v", r.status, r.body)
	}
	list := e.call("GET", "/api/v1/workers/"+w1+"/privacy-requests", operator, "")
	if list.status != 200 || !strings.Contains(raw(list), `"status":"open"`) || !strings.Contains(raw(list), `"kind":"deletion"`) || !strings.Contains(raw(list), `"cancellation":true`) {
		t.Fatalf("requests after the cancellation: %d %v", list.status, list.body)
	}
	if r := e.call("GET", "/api/v1/workers/"+w1, operator, ""); r.body["cancelled"] == nil {
		t.Fatalf("the worker's record does not say cancelled: %v", r.body)
	}

	// A deletion, decided by the archive's retention: worker 0 was never
	// paid, so nothing keeps their identity (PIPL art. 47) and it is
	// erasing; their archive's destruction, proposed by one person and
	// approved by another, completes it and closes their account.
	del := e.call("POST", "/api/v1/workers/"+w0+"/privacy-requests", worker0, `{"kind":"deletion"}`)
	if del.status != 201 {
		t.Fatalf("file a deletion: %d %v", del.status, del.body)
	}
	if r := e.call("POST", "/api/v1/privacy-requests/"+del.body["id"].(string)+"/decide", operator, `{"outcome":"apply"}`); r.status != 200 || r.body["status"] != "erasing" {
		t.Fatalf("a deletion with no retention running: %d %v", r.status, r.body)
	}
	if r := e.call("GET", "/api/v1/workers/"+w0, operator, ""); r.body["restricted"] == nil {
		t.Fatalf("an erasing worker is not restricted: %v", r.body)
	}
	reviewer = e.loginMFA("reviewer-1").body["token"].(string)
	e.stepUp(operator, "ops-1")
	e.stepUp(reviewer, "reviewer-1")
	p := e.confirmed("POST", "/api/v1/archives/"+w0+"/destruction", operator, `{"reason":"本人申请删除个人信息，无法定保存期限"}`, "d-w0")
	if p.status != 202 || p.body["id"] == nil {
		t.Fatalf("propose the destruction: %d %v", p.status, p.body)
	}
	if r := e.confirmed("POST", "/api/v1/archive-destructions/"+p.body["id"].(string)+"/decision", reviewer, `{"decision":"approve"}`, "a-w0"); r.status != 200 {
		t.Fatalf("approve the destruction: %d %v", r.status, r.body)
	}
	done := e.call("GET", "/api/v1/workers/"+w0+"/privacy-requests", operator, "")
	if done.status != 200 || !strings.Contains(raw(done), `"status":"done","`) || !strings.Contains(raw(done), `"certificate":"DC-`) {
		t.Fatalf("the deletion after the destruction: %d %v", done.status, done.body)
	}
	if r := e.call("GET", "/api/v1/workers/"+w0+"/export", worker0, ""); r.status != 401 {
		t.Fatalf("the erased worker's session: %d %v", r.status, r.body)
	}
	if r := e.call("GET", "/api/v1/workers/"+w0, operator, ""); r.status != 409 || r.code() != "subject_shredded" {
		t.Fatalf("the erased worker read: %d %v", r.status, r.body)
	}
	// Nothing ties the person's ID number or phone to the destroyed record
	// any more: a merchant's invitation of them creates a new worker, whom
	// the person can then sign up as.
	bossA = e.loginMFA("boss-a").body["token"].(string)
	inv := e.invite(idA, bossA, []byte("name,id_number,phone\n"+row(n0, id0, ph0)))
	if strings.Contains(raw(inv), w0) || !strings.Contains(raw(inv), `"status":"created"`) {
		t.Fatalf("inviting the erased person again: %d %v", inv.status, inv.body)
	}
	if r := e.call("POST", "/api/v1/workers", "", registration(n0, id0, ph0, "self-300")); r.status != 201 || strings.Contains(raw(r), w0) {
		t.Fatalf("the erased person signs up again: %d %v", r.status, r.body)
	}
}

// workerSignInAgain signs a worker in with their password and an SMS code,
// after their first login.
func (e *env) workerSignInAgain(box *smsBox, username, phone string) string {
	e.t.Helper()
	sent := box.count(phone, "登录验证码")
	asked := e.askSMS(username, e.admins[username])
	if asked.status != 201 {
		e.t.Fatalf("SMS code for %s: %d %v", username, asked.status, asked.body)
	}
	code := box.code(e.t, phone, "登录验证码", sent)
	r := e.smsLogin(username, e.admins[username], asked.body["sms_login_id"].(string), code)
	if r.status != 201 {
		e.t.Fatalf("login of %s: %d %v", username, r.status, r.body)
	}
	return r.body["token"].(string)
}
