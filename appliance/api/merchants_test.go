package api_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"cxt/appliance/merchants"
)

// Valid unified social credit codes (GB 32100), checked by appliance/ident.
const (
	usccA = "91350100M000100Y43"
	usccB = "92141127MA0KD1Y64A"
)

func application(name, uscc, username, phone string) string {
	b, _ := json.Marshal(map[string]any{
		"name": name, "uscc": uscc, "operating_model": "intermediary",
		"legal_rep": map[string]string{"name": "王小明", "id_number": "11010519491231002X"},
		"contacts":  []map[string]string{{"name": "李四", "phone": phone, "email": "li@example.cn"}},
		"bank":      map[string]string{"name": "中国工商银行福州分行", "account": "6222020200112233445", "holder": name},
		"applicant": map[string]string{"username": username, "phone": phone},
	})
	return string(b)
}

// tenantSignIn logs a merchant user in with their one-time password and
// makes the account their own (ownAccount).
func (e *env) tenantSignIn(username, oneTime string) string {
	e.t.Helper()
	r := e.login(username, oneTime)
	if r.status != 201 || r.body["password_change_required"] != true {
		e.t.Fatalf("first login of %s: %d %v", username, r.status, r.body)
	}
	return e.ownAccount(username, oneTime, r.body["token"].(string))
}

// ownAccount does what a person does after a first login with a one-time
// password: sets their own, enrolls TOTP and steps up, as before an
// important operation. It returns the session's token.
func (e *env) ownAccount(username, oneTime, token string) string {
	e.t.Helper()
	pw := "Tenant-Secret-2026!"
	if r := e.changePassword(token, oneTime, pw); r.status != 200 {
		e.t.Fatalf("password change of %s: %d %v", username, r.status, r.body)
	}
	e.admins[username] = pw
	r := e.call("POST", "/api/v1/me/mfa/totp", token, "")
	secret, _ := r.body["secret"].(string)
	if r.status != 201 || secret == "" {
		e.t.Fatalf("enroll %s: %d %v", username, r.status, r.body)
	}
	if r := e.call("POST", "/api/v1/me/mfa/totp/confirm", token, fmt.Sprintf(`{"code":%q}`, e.code(secret))); r.status != 200 {
		e.t.Fatalf("confirm %s: %d %v", username, r.status, r.body)
	}
	e.secrets[username] = secret
	e.stepUp(token, username)
	return token
}

// staff creates a platform account of role and signs it in.
func (e *env) staff(sec, role, username string) string {
	e.t.Helper()
	r := e.confirmed("POST", "/api/v1/accounts", sec, fmt.Sprintf(`{"username":%q,"roles":[%q]}`, username, role), "create-"+username)
	if r.status != 201 {
		e.t.Fatalf("create %s: %d %v", username, r.status, r.body)
	}
	e.admins[username] = r.body["one_time_password"].(string)
	token, _ := e.signInMFA(username)
	return token
}

// upload files a document: the body is the document.
func (e *env) upload(path, token string, body []byte) reply {
	e.t.Helper()
	return e.call("POST", path, token, string(body), "Content-Type", "application/octet-stream")
}

// download fetches a document: its status, content type and bytes.
func (e *env) download(path, token string) (int, string, []byte) {
	e.t.Helper()
	req, _ := http.NewRequest("GET", e.base+path, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := e.client.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("Content-Type"), b
}

var licencePDF = []byte("%PDF-1.4\n1 0 obj <<>> endobj\n营业执照 统一社会信用代码 91350100M000100Y43\n%%EOF\n")

func TestMerchantsApplyAreReviewedAndStayInTheirTenant(t *testing.T) {
	e := start(t)
	sec, _ := e.signInMFA("secadmin")
	reviewer := e.staff(sec, "platform_reviewer", "reviewer-1")

	// Two merchants apply, anonymously.
	a := e.call("POST", "/api/v1/merchants", "", application("福州某某科技有限公司", usccA, "boss-a", "13800001111"))
	b := e.call("POST", "/api/v1/merchants", "", application("太原某某服务有限公司", usccB, "boss-b", "13800002222"))
	if a.status != 201 || b.status != 201 {
		t.Fatalf("apply: %d %v / %d %v", a.status, a.body, b.status, b.body)
	}
	idA := a.body["merchant"].(map[string]any)["id"].(string)
	idB := b.body["merchant"].(map[string]any)["id"].(string)
	if m := a.body["merchant"].(map[string]any); m["status"] != "applied" || m["contacts"].([]any)[0].(map[string]any)["phone"] != "138****1111" {
		t.Fatalf("the application as answered: %v", m)
	}

	// Bad applications get a stable code and leave nothing behind.
	for body, want := range map[string]string{
		application("X", "91350100M000100Y44", "boss-x", "13800003333"):                                                 "uscc_check_character",
		application("X", usccA, "boss-y", "13800003333"):                                                                "merchant_duplicate",
		application("X", "12440600MB2C07549J", "boss-a", "13800003333"):                                                 "conflict", // the username is taken
		application("X", "12440600MB2C07549J", "boss-z", "1380000"):                                                     "phone_format",
		strings.Replace(application("X", "12440600MB2C07549J", "boss-z", "13800003333"), `"name":"X"`, `"Name":"X"`, 1): "invalid_request",
	} {
		r := e.call("POST", "/api/v1/merchants", "", body)
		if r.code() != want {
			t.Errorf("%s…: %d %v, want %s", body[:40], r.status, r.body, want)
		}
	}
	if r := e.call("GET", "/api/v1/merchants", reviewer, ""); len(r.body["merchants"].([]any)) != 2 {
		t.Fatalf("the refused applications left merchants behind: %v", r.body)
	}

	bossA := e.tenantSignIn("boss-a", a.body["one_time_password"].(string))
	bossB := e.tenantSignIn("boss-b", b.body["one_time_password"].(string))
	// A merchant's user may sign in with their code; a wrong code is a
	// failed login, never a login without it.
	login := func(totp string) reply {
		return e.call("POST", "/api/v1/sessions", "", fmt.Sprintf(`{"username":"boss-b","password":%q,"totp":%q}`, e.admins["boss-b"], totp))
	}
	wrong := "000000"
	if e.code(e.secrets["boss-b"]) == wrong {
		wrong = "111111"
	}
	if r := login(wrong); r.status != 401 || r.code() != "invalid_credentials" {
		t.Fatalf("a wrong code at a merchant's login: %d %v", r.status, r.body)
	}
	if r := login(e.code(e.secrets["boss-b"])); r.status != 201 {
		t.Fatalf("the right code at a merchant's login: %d %v", r.status, r.body)
	}

	// Documents: the type is read from the bytes.
	doc := e.upload("/api/v1/merchants/"+idA+"/documents?kind=business_licence", bossA, licencePDF)
	if doc.status != 201 || doc.body["type"] != "application/pdf" {
		t.Fatalf("upload: %d %v", doc.status, doc.body)
	}
	docA := doc.body["id"].(string)
	if r := e.upload("/api/v1/merchants/"+idA+"/documents?kind=business_licence", bossA, []byte("<html><script>x</script>")); r.status != 415 || r.code() != "unsupported_document" {
		t.Fatalf("HTML as a licence: %d %v", r.status, r.body)
	}
	if r := e.upload("/api/v1/merchants/"+idA+"/documents?kind=selfie", bossA, licencePDF); r.status != 400 {
		t.Fatalf("unknown kind: %d %v", r.status, r.body)
	}
	big := append(append([]byte{}, licencePDF...), make([]byte, 10<<20)...)
	if r := e.upload("/api/v1/merchants/"+idA+"/documents?kind=other", bossA, big); r.status != 413 {
		t.Fatalf("an 11 MiB document: %d %v", r.status, r.body)
	}
	status, typ, got := e.download("/api/v1/merchants/"+idA+"/documents/"+docA, bossA)
	if status != 200 || typ != "application/pdf" || !bytes.Equal(got, licencePDF) {
		t.Fatalf("download: %d %s %q", status, typ, got)
	}
	docB := e.upload("/api/v1/merchants/"+idB+"/documents?kind=bank_permit", bossB, licencePDF).body["id"].(string)

	// Tenancy: B's records do not exist for A's administrator, whether the
	// ID is guessed or taken from B's answers.
	for _, c := range []struct{ method, path string }{
		{"GET", "/api/v1/merchants/" + idB},
		{"GET", "/api/v1/merchants/" + idB + "/rating"},
		{"GET", "/api/v1/merchants/" + idB + "/documents/" + docB},
		{"POST", "/api/v1/merchants/" + idB + "/resubmit"},
		{"GET", "/api/v1/merchants/m_0000000000000000"},
	} {
		body := ""
		if c.method == "POST" {
			body = `{}`
		}
		if r := e.call(c.method, c.path, bossA, body); r.status != 404 || r.code() != "not_found" {
			t.Errorf("A's admin %s %s: %d %v", c.method, c.path, r.status, r.body)
		}
	}
	if r := e.upload("/api/v1/merchants/"+idB+"/documents?kind=other", bossA, licencePDF); r.status != 404 {
		t.Errorf("A's admin filing for B: %d %v", r.status, r.body)
	}
	if status, _, _ := e.download("/api/v1/merchants/"+idA+"/documents/"+docB, bossA); status != 404 {
		t.Errorf("B's document through A's path: %d", status)
	}
	if r := e.confirmed("POST", "/api/v1/merchants/"+idB+"/unmask", bossA, `{"reason":"curious about B"}`, "peek-b"); r.status != 404 {
		t.Errorf("A's admin unmasking B: %d %v", r.status, r.body)
	}
	if r := e.call("GET", "/api/v1/merchants", bossA, ""); len(r.body["merchants"].([]any)) != 1 || r.body["merchants"].([]any)[0].(map[string]any)["id"] != idA {
		t.Fatalf("A's admin lists %v", r.body)
	}

	// The review: only reviewers decide; reasons where they matter.
	if r := e.call("POST", "/api/v1/merchants/"+idA+"/review", bossA, `{"decision":"approve"}`); r.status != 403 {
		t.Fatalf("a merchant approving itself: %d %v", r.status, r.body)
	}
	if r := e.call("POST", "/api/v1/merchants/"+idB+"/review", reviewer, `{"decision":"reject"}`); r.status != 400 {
		t.Fatalf("a rejection without a reason: %d %v", r.status, r.body)
	}
	// The qualification rules decide an approval first: B filed no licence
	// (a reject); A names no officers (a hold the reviewer must
	// acknowledge by name, or the merchant fix).
	if r := e.call("POST", "/api/v1/merchants/"+idB+"/review", reviewer, `{"decision":"approve"}`); r.status != 409 || r.code() != "risk_qualification" ||
		!strings.Contains(r.message(), "documents.missing") || !strings.Contains(r.message(), "has not filed: business_licence") {
		t.Fatalf("approving a merchant without a licence: %d %v", r.status, r.body)
	}
	if r := e.call("POST", "/api/v1/merchants/"+idA+"/review", reviewer, `{"decision":"approve"}`); r.status != 409 || r.code() != "risk_acknowledge_required" ||
		!strings.Contains(r.message(), `"acknowledge": ["officers.missing"]`) {
		t.Fatalf("approving a merchant naming no officers: %d %v", r.status, r.body)
	}
	if r := e.call("POST", "/api/v1/merchants/"+idA+"/review", reviewer, `{"decision":"approve","acknowledge":["documents.expiring"]}`); r.status != 400 || errField(r) != "acknowledge" {
		t.Fatalf("acknowledging a rule that does not hold: %d %v", r.status, r.body)
	}
	if r := e.call("GET", "/api/v1/merchants/"+idA, reviewer, ""); r.body["status"] != "applied" {
		t.Fatalf("a refused approval changed the merchant: %v", r.body["status"])
	}

	// 董监高: the merchant's administrator or platform staff name them;
	// sealed, masked in answers, another tenant's path is not found.
	officers := `{"officers":[{"name":"郑董事","id_number":"11010519491231002X","role":"director"},{"name":"林监事","id_number":"110105199003070017","role":"supervisor"}]}`
	for _, c := range []struct {
		token, body string
		status      int
		code        string
	}{
		{bossB, officers, 404, "not_found"},
		{bossA, `{"officers":[{"name":"郑董事","id_number":"11010519491231002Y","role":"director"}]}`, 400, ""},
		{bossA, `{"officers":[{"name":"郑董事","id_number":"11010519491231002X","role":"chairman"}]}`, 400, "invalid_request"},
		{bossA, `{"officers":[{"name":"郑董事","id_number":"11010519491231002X","role":"director"},{"name":"郑","id_number":"11010519491231002X","role":"manager"}]}`, 400, "invalid_request"},
		{bossA, `{}`, 400, "invalid_request"},
	} {
		if r := e.call("PUT", "/api/v1/merchants/"+idA+"/officers", c.token, c.body); r.status != c.status || c.code != "" && r.code() != c.code {
			t.Errorf("officers %s: %d %v, want %d %s", c.body[:30], r.status, r.body, c.status, c.code)
		}
	}
	if r := e.call("PUT", "/api/v1/merchants/"+idA+"/officers", bossA, officers); r.status != 200 || fmt.Sprint(r.body["officers"]) != "[map[id_number:1101**********002X name:郑** role:director] map[id_number:1101**********0017 name:林** role:supervisor]]" {
		t.Fatalf("officers: %d %v", r.status, r.body)
	}
	r := e.call("POST", "/api/v1/merchants/"+idA+"/review", reviewer, `{"decision":"approve"}`)
	if r.status != 200 || r.body["status"] != "approved" {
		t.Fatalf("approve: %d %v", r.status, r.body)
	}
	// The approval's event keeps the decision it was made under, with the
	// canonical input whose SM3 it records.
	hist := r.body["history"].([]any)
	risk, _ := hist[len(hist)-1].(map[string]any)["risk"].(map[string]any)
	if risk == nil || risk["outcome"] != "allow" || risk["policy"] == "" || risk["settings"] != "1" {
		t.Fatalf("the approval's decision: %v", hist[len(hist)-1])
	}
	input, _ := json.Marshal(risk["input"])
	if sm3Of(input) != risk["input_sm3"] || !strings.Contains(string(input), `"officers":2`) || !strings.Contains(string(input), `"uscc_valid":true`) {
		t.Fatalf("the decision's input %s, SM3 %v", input, risk["input_sm3"])
	}
	if r := e.call("POST", "/api/v1/merchants/"+idA+"/review", reviewer, `{"decision":"approve"}`); r.status != 409 || r.code() != "merchant_status" {
		t.Fatalf("approving twice: %d %v", r.status, r.body)
	}
	if r := e.call("POST", "/api/v1/merchants/"+idB+"/review", reviewer, `{"decision":"ask_more","reason":"the bank permit is missing"}`); r.body["status"] != "more_info" {
		t.Fatalf("ask more: %d %v", r.status, r.body)
	}
	if r := e.call("POST", "/api/v1/merchants/"+idB+"/resubmit", bossB, `{"note":"uploaded"}`); r.body["status"] != "applied" {
		t.Fatalf("resubmit: %d %v", r.status, r.body)
	}
	eventually(t, "the applicant is told of the approval", func() bool {
		r := e.call("GET", "/api/v1/me/notifications", bossA, "")
		return strings.Contains(fmt.Sprint(r.body), "merchant.approve")
	})
	// The rating is computed now by the policy's rules and explained:
	// approved 30, a licence 12, no findings 10.
	if r := e.call("GET", "/api/v1/merchants/"+idA+"/rating", bossA, ""); r.body["rating"].(map[string]any)["score"] != "52.00" ||
		r.body["rating"].(map[string]any)["grade"] != "C" || len(r.body["rating"].(map[string]any)["explain"].([]any)) != 6 {
		t.Fatalf("rating after approval with a licence: %v", r.body)
	}

	// B, sent back and resubmitted, files a licence that runs out within
	// the month and names no officers: both held, both acknowledged.
	soon := time.Now().In(merchants.China).AddDate(0, 0, 10).Format(time.DateOnly)
	if r := e.upload("/api/v1/merchants/"+idB+"/documents?kind=business_licence&expires=2026-02-30", bossB, licencePDF); r.status != 400 || errField(r) != "expires" {
		t.Fatalf("a licence expiring on no day: %d %v", r.status, r.body)
	}
	if r := e.upload("/api/v1/merchants/"+idB+"/documents?kind=business_licence&expires="+soon, bossB, licencePDF); r.status != 201 || r.body["expires"] != soon {
		t.Fatalf("a licence with its expiry: %d %v", r.status, r.body)
	}
	if r := e.call("POST", "/api/v1/merchants/"+idB+"/review", reviewer, `{"decision":"approve","acknowledge":["officers.missing"]}`); r.status != 409 || r.code() != "risk_acknowledge_required" ||
		!strings.Contains(r.message(), "documents.expiring (the documents of merchant "+idB+" expire within 30 days: business_licence)") || strings.Contains(r.message(), "officers.missing (") {
		t.Fatalf("one of two held rules acknowledged: %d %v", r.status, r.body)
	}
	r = e.call("POST", "/api/v1/merchants/"+idB+"/review", reviewer, `{"decision":"approve","acknowledge":["officers.missing","documents.expiring"]}`)
	hist = r.body["history"].([]any)
	if ev := hist[len(hist)-1].(map[string]any); r.status != 200 || fmt.Sprint(ev["acknowledged"]) != "[documents.expiring officers.missing]" || ev["risk"].(map[string]any)["outcome"] != "hold" {
		t.Fatalf("both acknowledged: %d %v", r.status, r.body)
	}

	// Unmasking is an important operation; masked answers hold no phone.
	if r := e.call("GET", "/api/v1/merchants/"+idA, reviewer, ""); strings.Contains(fmt.Sprint(r.body), "13800001111") {
		t.Fatalf("a masked answer shows the phone: %v", r.body)
	}
	e.stepUp(reviewer, "reviewer-1")
	r = e.confirmed("POST", "/api/v1/merchants/"+idA+"/unmask", reviewer, `{"reason":"verifying the bank account"}`, "unmask-a")
	if r.status != 200 || !strings.Contains(fmt.Sprint(r.body["contacts"]), "13800001111") || !strings.Contains(fmt.Sprint(r.body["bank"]), "6222020200112233445") {
		t.Fatalf("unmask: %d %v", r.status, r.body)
	}

	// A's administrator adds an operator, who sees A and only A.
	op := e.confirmed("POST", "/api/v1/merchants/"+idA+"/operators", bossA, `{"username":"clerk-a","phone":"13900004444"}`, "op-a")
	if op.status != 201 || op.body["account"].(map[string]any)["merchant"] != idA {
		t.Fatalf("add operator: %d %v", op.status, op.body)
	}
	clerk := e.tenantSignIn("clerk-a", op.body["one_time_password"].(string))
	if r := e.call("GET", "/api/v1/merchants/"+idA, clerk, ""); r.status != 200 {
		t.Fatalf("the operator reading its merchant: %d %v", r.status, r.body)
	}
	if r := e.call("GET", "/api/v1/merchants/"+idB, clerk, ""); r.status != 404 {
		t.Fatalf("the operator reading another merchant: %d %v", r.status, r.body)
	}
	if r := e.confirmed("POST", "/api/v1/merchants/"+idB+"/operators", bossA, `{"username":"spy-b"}`, "op-b"); r.status != 404 {
		t.Fatalf("A's admin adding an operator to B: %d %v", r.status, r.body)
	}

	// Closing is an important operation, with a reason.
	if r := e.confirmed("POST", "/api/v1/merchants/"+idA+"/close", bossA, `{"reason":"we stop outsourcing"}`, "close-a"); r.status != 200 || r.body["status"] != "closed" {
		t.Fatalf("close: %d %v", r.status, r.body)
	}
	if r := e.upload("/api/v1/merchants/"+idA+"/documents?kind=other", bossA, licencePDF); r.status != 409 || r.code() != "merchant_status" {
		t.Fatalf("filing for a closed merchant: %d %v", r.status, r.body)
	}

	// Nothing that names a person is stored in the clear in the state:
	// the private fields are sealed under the merchant's own key.
	for _, s := range []string{"王小明", "13800001111", "6222020200112233445", "11010519491231002X", "郑董事", "110105199003070017"} {
		if e.stored(s, merchants.Bucket) {
			t.Errorf("%q is stored in the clear", s)
		}
	}
}

// Racing applications with one credit code, and racing reviews of one
// application: the state machine decides each once.
func TestRacingApplicationsAndReviewsAreDecidedOnce(t *testing.T) {
	e := start(t)
	sec, _ := e.signInMFA("secadmin")
	reviewer := e.staff(sec, "platform_reviewer", "reviewer-1")
	apps := parallel(8, func(i int) reply {
		return e.call("POST", "/api/v1/merchants", "", application("福州某某科技有限公司", usccA, fmt.Sprintf("boss-%d", i), fmt.Sprintf("1380000%04d", i)))
	})
	var id, admin string
	created := 0
	for i, r := range apps {
		switch {
		case r.status == 201:
			created++
			id = r.body["merchant"].(map[string]any)["id"].(string)
			admin = e.tenantSignIn(fmt.Sprintf("boss-%d", i), r.body["one_time_password"].(string))
		case r.code() != "merchant_duplicate":
			t.Errorf("a racing application: %d %v", r.status, r.body)
		}
	}
	if created != 1 {
		t.Fatalf("%d of 8 racing applications with one credit code were created", created)
	}
	e.qualify(id, admin)
	reviews := parallel(6, func(i int) reply {
		d := []string{`{"decision":"approve"}`, `{"decision":"reject","reason":"forged licence"}`}[i%2]
		return e.call("POST", "/api/v1/merchants/"+id+"/review", reviewer, d)
	})
	decided := 0
	for _, r := range reviews {
		switch {
		case r.status == 200:
			decided++
		case r.code() != "merchant_status":
			t.Errorf("a racing review: %d %v", r.status, r.body)
		}
	}
	m := e.call("GET", "/api/v1/merchants/"+id, reviewer, "")
	if decided != 1 || len(m.body["history"].([]any)) != 2 {
		t.Fatalf("%d racing reviews took effect; history %v", decided, m.body["history"])
	}
}
