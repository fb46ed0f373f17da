package api_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"cxt/appliance/identity"
	"cxt/appliance/important"
	"cxt/appliance/notify"
	"cxt/appliance/subjects"
	"cxt/appliance/workers"
	"cxt/appliance/workers/realname"
	"cxt/appliance/workers/workerstest"
	"cxt/storage/auditlog"
)

// invite posts an invitation file.
func (e *env) invite(merchant, token string, file []byte) reply {
	e.t.Helper()
	return e.call("POST", "/api/v1/merchants/"+merchant+"/workers", token, string(file), "Content-Type", "text/csv; charset=utf-8")
}

// workerSignIn signs a worker in with their one-time password and the SMS
// code sent to phone, sets their own password, enrolls TOTP and steps up,
// as they would before an important operation.
func (e *env) workerSignIn(box *smsBox, username, oneTime, phone string) string {
	e.t.Helper()
	sent := box.count(phone, "登录验证码")
	asked := e.askSMS(username, oneTime)
	if asked.status != 201 {
		e.t.Fatalf("SMS code for %s: %d %v", username, asked.status, asked.body)
	}
	code := box.code(e.t, phone, "登录验证码", sent)
	r := e.smsLogin(username, oneTime, asked.body["sms_login_id"].(string), code)
	if r.status != 201 || r.body["password_change_required"] != true {
		e.t.Fatalf("first login of %s: %d %v", username, r.status, r.body)
	}
	return e.ownAccount(username, oneTime, r.body["token"].(string))
}

func registration(name, id, phone, username string) string {
	b, _ := json.Marshal(map[string]string{"name": name, "id_number": id, "phone": phone, "bank_card": workerstest.Card(len(username)), "username": username})
	return string(b)
}

func row(name, id, phone string) string { return name + "," + id + "," + phone + "\n" }

func reportOf(t *testing.T, r reply) []map[string]any {
	t.Helper()
	if r.status != 200 {
		t.Fatalf("invitation: %d %v", r.status, r.body)
	}
	var out []map[string]any
	for _, x := range r.body["report"].([]any) {
		out = append(out, x.(map[string]any))
	}
	return out
}

func ids(r reply, key string) []string {
	var out []string
	list, _ := r.body[key].([]any)
	for _, x := range list {
		out = append(out, x.(map[string]any)["id"].(string))
	}
	return out
}

func TestWorkersRegisterAreInvitedAndStayInTheirTenant(t *testing.T) {
	box, hook := startSMS(t)
	e := startWith(t, &notify.Config{SMSWebhook: hook})
	sec, _ := e.signInMFA("secadmin")
	reviewer := e.staff(sec, "platform_reviewer", "reviewer-1")
	operator := e.staff(sec, "platform_operator", "ops-1")
	idA, bossA := e.approvedMerchant(reviewer, "福州某某科技有限公司", usccA, "boss-a", "13800001111")
	idB, bossB := e.approvedMerchant(reviewer, "太原某某服务有限公司", usccB, "boss-b", "13800002222")

	// People: 0 and 1 invited by A, 2 by B only, 3 registers alone, 1 by
	// both merchants.
	p := func(n int) (string, string, string) {
		return workerstest.Name(n), workerstest.ID(n), workerstest.Phone(n)
	}
	n0, id0, ph0 := p(100)
	n1, id1, ph1 := p(101)
	n2, id2, ph2 := p(102)
	n3, id3, ph3 := p(103)
	under16 := workerstest.Born(time.Now().AddDate(-15, -6, 0), 5)
	badCheck := id3[:17] + map[bool]string{true: "1", false: "0"}[id3[17] == '0']

	// A merchant not yet approved invites nobody.
	pending := e.call("POST", "/api/v1/merchants", "", application("未审核公司", "12440600MB2C07549J", "boss-c", "13800003333"))
	bossC := e.tenantSignIn("boss-c", pending.body["one_time_password"].(string))
	idC := pending.body["merchant"].(map[string]any)["id"].(string)
	if r := e.invite(idC, bossC, []byte("name,id_number,phone\n"+row(n0, id0, ph0))); r.status != 409 || r.code() != "merchant_status" {
		t.Fatalf("an unapproved merchant's invitation: %d %v", r.status, r.body)
	}

	fileA := "name,id_number,phone\n" + row(n0, id0, ph0) + row(n1, id1, ph1) + row("少年", under16, "13900000001") +
		row("错号", badCheck, "13900000002") + row("重复", id0, "13900000003")
	repA := reportOf(t, e.invite(idA, bossA, []byte(fileA)))
	wantA := []string{"created:", "created:", "invalid:id_underage", "invalid:id_check_digit", "invalid:worker_duplicate"}
	for i, r := range repA {
		if got := fmt.Sprintf("%s:%v", r["status"], or(r["code"])); got != wantA[i] {
			t.Errorf("A's row %v: %s, want %s (%v)", r["row"], got, wantA[i], r)
		}
	}
	w0, w1 := repA[0]["worker"].(string), repA[1]["worker"].(string)

	fileB := "姓名,身份证号,手机号\n" + row(n1, id1, ph1) + row(n2, id2, ph2) + row("冒名者", id0, "13900000004")
	repB := reportOf(t, e.invite(idB, bossB, []byte(fileB)))
	if repB[0]["status"] != "linked" || repB[0]["worker"] != w1 || repB[1]["status"] != "created" || repB[2]["code"] != "worker_mismatch" {
		t.Fatalf("B's report: %v", repB)
	}
	w2 := repB[1]["worker"].(string)

	// Bad files are refused whole, with a stable code.
	for file, want := range map[string]string{
		"":                     "csv_format",
		"salary,name\n1,x\n":   "csv_format",
		"name,id_number,phone": "csv_format",
	} {
		if r := e.invite(idA, bossA, []byte(file)); r.status != 400 || r.code() != want {
			t.Errorf("file %q: %d %v", file, r.status, r.body)
		}
	}
	if r := e.call("POST", "/api/v1/merchants/"+idA+"/workers", bossA, `{"rows":[]}`); r.status != 415 {
		t.Errorf("JSON as an invitation file: %d %v", r.status, r.body)
	}

	// Self-registration: bad input gets a stable code and leaves nothing.
	for body, want := range map[string]string{
		registration(n3, badCheck, ph3, "self-3"):          "id_check_digit",
		registration(n3, under16, ph3, "self-3"):           "id_underage",
		registration("张3", id3, ph3, "self-3"):             "worker_name",
		registration(n3, id3, "1380000", "self-3"):         "phone_format",
		registration(n0, id0, "13900000005", "self-0"):     "worker_duplicate", // invited by A, another phone
		registration(n3, id3, ph0, "self-3"):               "worker_phone_taken",
		registration(n3, id3, ph3, "boss-a"):               "conflict", // the username is taken
		`{"name":"x","id_number":"` + id3 + `","extra":1}`: "invalid_request",
	} {
		if r := e.call("POST", "/api/v1/workers", "", body); r.code() != want || r.status/100 != 4 {
			t.Errorf("%s: %d %v, want %s", body, r.status, r.body, want)
		}
	}
	if r := e.call("GET", "/api/v1/workers", operator, ""); len(r.body["workers"].([]any)) != 3 {
		t.Fatalf("after refused registrations the operator lists %v", ids(r, "workers"))
	}
	self := e.call("POST", "/api/v1/workers", "", registration(n3, id3, ph3, "self-3"))
	if self.status != 201 || self.body["worker"].(map[string]any)["origin"] != "self" || self.body["account"].(map[string]any)["worker"] == "" {
		t.Fatalf("register: %d %v", self.status, self.body)
	}
	w3 := self.body["worker"].(map[string]any)["id"].(string)
	if r := e.call("POST", "/api/v1/workers", "", registration(n3, id3, "13900000006", "self-3b")); r.status != 409 || r.code() != "worker_duplicate" {
		t.Fatalf("a second registration with the same ID number: %d %v", r.status, r.body)
	}
	// Person 0, invited by A, registers with the name and phone A gave: a
	// claim of the same worker, not a new one.
	claim := e.call("POST", "/api/v1/workers", "", registration(n0, id0, ph0, "self-0"))
	if claim.status != 201 || claim.body["worker"].(map[string]any)["id"] != w0 || claim.body["worker"].(map[string]any)["origin"] != "invited" {
		t.Fatalf("claim: %d %v", claim.status, claim.body)
	}
	worker0 := e.workerSignIn(box, "self-0", claim.body["one_time_password"].(string), ph0)
	worker3 := e.workerSignIn(box, "self-3", self.body["one_time_password"].(string), ph3)

	// Masked answers name nobody.
	r := e.call("GET", "/api/v1/workers/"+w0, bossA, "")
	if r.status != 200 || strings.Contains(raw(r), id0) || strings.Contains(raw(r), ph0) || strings.Contains(raw(r), n0) || r.body["id_number"] != id0[:4]+"**********"+id0[14:] {
		t.Fatalf("A reads worker 0: %d %v", r.status, r.body)
	}
	// A's users see the worker A shares with B, and only A's link.
	if r := e.call("GET", "/api/v1/workers/"+w1, bossA, ""); r.status != 200 || strings.Contains(raw(r), idB) {
		t.Fatalf("A reads the shared worker: %d %v", r.status, r.body)
	}

	// Lists stay in the tenant, by blind index too.
	if got := ids(e.call("GET", "/api/v1/workers", bossA, ""), "workers"); !sameSet(got, w0, w1) {
		t.Fatalf("A lists %v", got)
	}
	// B invited worker 1, whom A had put on record: B sees nothing of
	// them until they accept (the red team took over another merchant's
	// worker by inviting a name and an ID number).
	if got := ids(e.call("GET", "/api/v1/workers", bossB, ""), "workers"); !sameSet(got, w2) {
		t.Fatalf("B lists %v", got)
	}
	if r := e.call("GET", "/api/v1/workers/"+w1, bossB, ""); r.status != 404 || r.code() != "not_found" {
		t.Fatalf("B reads a worker it only invited: %d %v", r.status, r.body)
	}
	if got := ids(e.call("GET", "/api/v1/workers", worker3, ""), "workers"); !sameSet(got, w3) {
		t.Fatalf("worker 3 lists %v", got)
	}
	if got := ids(e.call("GET", "/api/v1/workers?id_number="+id2, bossA, ""), "workers"); len(got) != 0 {
		t.Fatalf("A finds B's worker by ID number: %v", got)
	}
	if got := ids(e.call("GET", "/api/v1/workers?id_number="+id2, operator, ""), "workers"); !sameSet(got, w2) {
		t.Fatalf("the operator finds by ID number %v", got)
	}
	if got := ids(e.call("GET", "/api/v1/workers?phone="+ph1, bossB, ""), "workers"); len(got) != 0 {
		t.Fatalf("B finds a worker it only invited by phone: %v", got)
	}
	if got := ids(e.call("GET", "/api/v1/workers?phone="+ph1, bossA, ""), "workers"); !sameSet(got, w1) {
		t.Fatalf("A finds by phone %v", got)
	}
	if r := e.call("GET", "/api/v1/workers?id_number=123", operator, ""); r.status != 400 || r.code() != "id_format" {
		t.Fatalf("a search by a malformed ID number: %d %v", r.status, r.body)
	}

	// Consents, real-name verification, liveness, tax registration.
	notice := "我们将把您的姓名、身份证号和手机号提交给实名核验服务商。"
	consent := func(token, w, purpose string) string {
		t.Helper()
		r := e.call("POST", "/api/v1/workers/"+w+"/consents", token, fmt.Sprintf(`{"purpose":%q,"notice":%q,"notice_version":"2026-11","channel":"app"}`, purpose, notice))
		if r.status != 201 || r.body["notice_sm3"] == "" {
			t.Fatalf("consent %s of %s: %d %v", purpose, w, r.status, r.body)
		}
		return r.body["id"].(string)
	}
	if r := e.call("POST", "/api/v1/workers/"+w3+"/real-name", worker3, ""); r.status != 409 || r.code() != "consent_required" {
		t.Fatalf("verification without consent: %d %v", r.status, r.body)
	}
	c3 := consent(worker3, w3, "real_name")
	if r := e.call("POST", "/api/v1/workers/"+w3+"/real-name", worker3, ""); r.status != 200 || r.body["status"] != "verified" || r.body["provider"] != "sandbox" || r.body["reference"] != nil {
		t.Fatalf("verification: %d %v", r.status, r.body)
	}
	if r := e.call("POST", "/api/v1/workers/"+w3+"/consents/"+c3+"/withdraw", worker3, ""); r.status != 200 || r.body["withdrawn"] == nil {
		t.Fatalf("withdraw: %d %v", r.status, r.body)
	}
	if r := e.call("POST", "/api/v1/workers/"+w3+"/consents/"+c3+"/withdraw", worker3, ""); r.code() != "consent_withdrawn" {
		t.Fatalf("withdraw twice: %d %v", r.status, r.body)
	}
	if r := e.call("POST", "/api/v1/workers/"+w3+"/real-name", worker3, ""); r.code() != "consent_required" {
		t.Fatalf("verification after the withdrawal: %d %v", r.status, r.body)
	}
	consent(worker0, w0, "face_liveness")
	if r := e.call("POST", "/api/v1/workers/"+w0+"/liveness", bossA, `{"provider":"acme-face","reference":"lv-123","score":0.93,"passed":true}`); r.status != 200 || r.body["status"] != "verified" {
		t.Fatalf("liveness: %d %v", r.status, r.body)
	}
	image := `{"provider":"acme","reference":"r","score":0.9,"image":"` + strings.Repeat("A", 8000) + `"}`
	if r := e.call("POST", "/api/v1/workers/"+w0+"/liveness", bossA, image); r.status/100 != 4 {
		t.Fatalf("a liveness body with an image: %d %v", r.status, r.body)
	}
	if r := e.call("POST", "/api/v1/workers/"+w0+"/tax-registrations", bossA, `{"kind":"temporary"}`); r.code() != "consent_required" {
		t.Fatalf("tax registration without consent: %d %v", r.status, r.body)
	}
	consent(worker0, w0, "tax_registration")
	tax := e.call("POST", "/api/v1/workers/"+w0+"/tax-registrations", bossA, `{"kind":"temporary"}`)
	if tax.status != 201 || tax.body["merchant"] != idA || tax.body["status"] != "pending" {
		t.Fatalf("tax registration: %d %v", tax.status, tax.body)
	}
	taxID := tax.body["id"].(string)
	if r := e.call("POST", "/api/v1/workers/"+w0+"/tax-registrations", worker0, `{"kind":"temporary"}`); r.code() != "tax_registration_exists" {
		t.Fatalf("a second temporary registration: %d %v", r.status, r.body)
	}
	result := fmt.Sprintf(`{"status":"registered","reference":%q}`, id0)
	if r := e.call("POST", "/api/v1/workers/"+w0+"/tax-registrations/"+taxID+"/result", bossA, result); r.status != 403 {
		t.Fatalf("a merchant recording the tax office's answer: %d %v", r.status, r.body)
	}
	if r := e.call("POST", "/api/v1/workers/"+w0+"/tax-registrations/"+taxID+"/result", operator, result); r.status != 200 || r.body["status"] != "registered" || r.body["reference"] != "****"+id0[14:] {
		t.Fatalf("the result: %d %v", r.status, r.body)
	}
	if r := e.call("GET", "/api/v1/workers/"+w0+"/tax-registrations", worker0, ""); len(r.body["tax_registrations"].([]any)) != 1 {
		t.Fatalf("tax registrations: %v", r.body)
	}
	if r := e.call("GET", "/api/v1/workers/"+w0+"/consents", bossA, ""); len(r.body["consents"].([]any)) != 2 {
		t.Fatalf("consents: %v", r.body)
	}
	if r := e.call("POST", "/api/v1/workers/"+w0+"/merchants/"+idA+"/accept", worker0, ""); r.status != 200 || r.body["status"] != "active" {
		t.Fatalf("accept: %d %v", r.status, r.body)
	}

	// Unmasking: an important operation, audited with its reason.
	e.stepUp(bossA, "boss-a")
	u := e.confirmed("POST", "/api/v1/workers/"+w0+"/unmask", bossA, `{"reason":"checking the bank card before a payout"}`, "unmask-w0")
	if u.status != 200 || u.body["id_number"] != id0 || u.body["phone"] != ph0 || u.body["name"] != n0 || u.body["liveness"].(map[string]any)["reference"] != "lv-123" {
		t.Fatalf("unmask: %d %v", u.status, u.body)
	}
	if rp := e.call("POST", "/api/v1/workers/"+w0+"/unmask", bossA, `{"reason":"checking the bank card before a payout"}`, "Idempotency-Key", "unmask-w0"); rp.status != 200 ||
		strings.Contains(raw(rp), id0) || strings.Contains(raw(rp), ph0) || !strings.Contains(fmt.Sprint(rp.body["withheld"]), "id_number") {
		t.Fatalf("the unmasking replayed: %d %v", rp.status, rp.body)
	}
	if got := e.audited("worker.unmask"); len(got) != 1 || got[0].Reason != "checking the bank card before a payout" || got[0].Object != w0 {
		t.Fatalf("the unmasking's audit entries: %+v", got)
	}

	// Tenancy: every route on another tenant's worker is not_found, whether
	// the ID is guessed, listed or taken from another tenant's answers.
	e.stepUp(worker3, "self-3")
	walk := func(who, token, w, merchant string) {
		t.Helper()
		routes := []struct{ method, path, body string }{
			{"GET", "/api/v1/workers/" + w, ""},
			{"POST", "/api/v1/workers/" + w + "/real-name", ""},
			{"POST", "/api/v1/workers/" + w + "/liveness", `{"provider":"p","reference":"r","score":0.5}`},
			{"POST", "/api/v1/workers/" + w + "/consents", `{"purpose":"real_name","notice":"n","notice_version":"1","channel":"app"}`},
			{"GET", "/api/v1/workers/" + w + "/consents", ""},
			{"POST", "/api/v1/workers/" + w + "/consents/c_1/withdraw", ""},
			{"POST", "/api/v1/workers/" + w + "/tax-registrations", `{"kind":"individual_business"}`},
			{"GET", "/api/v1/workers/" + w + "/tax-registrations", ""},
			{"POST", "/api/v1/workers/" + w + "/merchants/" + merchant + "/accept", ""},
		}
		for _, rt := range routes {
			r := e.call(rt.method, rt.path, token, rt.body)
			allowedRole := r.status != 403 // a route the caller's role may not use is refused before tenancy
			if allowedRole && (r.status != 404 || r.code() != "not_found") {
				t.Errorf("%s %s %s: %d %v", who, rt.method, rt.path, r.status, r.body)
			}
			if r.status/100 == 2 {
				t.Errorf("%s reached %s %s", who, rt.method, rt.path)
			}
		}
		if r := e.confirmed("POST", "/api/v1/workers/"+w+"/unmask", token, `{"reason":"just curious about them"}`, "peek-"+who+"-"+w); r.status/100 == 2 {
			t.Errorf("%s unmasked %s: %d %v", who, w, r.status, r.body)
		}
	}
	walk("boss-a", bossA, w2, idB)                           // B's only, from B's report
	walk("boss-b", bossB, w0, idA)                           // A's only
	walk("boss-b", bossB, w3, idB)                           // nobody's merchant
	walk("worker-3", worker3, w0, idA)                       // another worker
	walk("worker-0", worker0, w3, idA)                       // another worker
	walk("boss-a", bossA, "w_000000000000000000000000", idA) // guessed
	if r := e.invite(idB, bossA, []byte(fileA)); r.status != 404 {
		t.Errorf("A inviting into B: %d %v", r.status, r.body)
	}
	if r := e.call("POST", "/api/v1/workers/"+w1+"/merchants/"+idA+"/accept", worker0, ""); r.status != 404 {
		t.Errorf("worker 0 accepting for worker 1: %d %v", r.status, r.body)
	}
	if r := e.call("POST", "/api/v1/workers/"+w1+"/merchants/"+idB+"/accept", bossA, ""); r.status != 403 {
		t.Errorf("a merchant accepting for its worker: %d %v", r.status, r.body)
	}
	if got := ids(e.call("GET", "/api/v1/workers?phone="+ph2, worker0, ""), "workers"); len(got) != 0 {
		t.Errorf("worker 0 finds worker 2 by phone: %v", got)
	}

	// Nothing that names a person is in the clear in the state, whatever
	// bucket; the canary below reads the raw files.
	phones := []string{ph0, ph1, ph2, ph3}
	others := []string{id0, id1, id2, id3, n0, n1, n2, n3, workerstest.Card(len("self-3"))}
	workerBuckets := []string{workers.Bucket, workers.IDIndexBucket, workers.PhoneBucket, workers.LinkBucket, workers.ConsentBucket, workers.TaxBucket,
		important.IdempotencyBucket, important.ConfirmBucket, auditlog.EntriesBucket, subjects.Bucket, "commands"}
	// A worker's account carries the phone its SMS codes go to, and the
	// SMS deliveries name it: those buckets are sealed by the keyring only.
	accountBuckets := []string{identity.AccountsBucket, identity.NamesBucket, identity.SessionsBucket, notify.NotificationsBucket, notify.OutboxBucket}
	for _, s := range others {
		if e.stored(s, append(workerBuckets, accountBuckets...)...) {
			t.Errorf("%q is stored in the clear in the state", s)
		}
	}
	for _, s := range phones {
		if e.stored(s, workerBuckets...) {
			t.Errorf("%q is stored in the clear in the workers' records", s)
		}
	}
	e.canary(append(others, phones...))
}

// canary takes a snapshot, restarts the node, stops it, and reads every
// file under its data folder — the state file, raft.db, snapshots —
// for each secret, as bytes.
func (e *env) canary(secrets []string) {
	e.t.Helper()
	if err := e.n.Cluster().Raft().Snapshot().Error(); err != nil {
		e.t.Fatal(err)
	}
	e.restart()
	e.n.Close()
	files := 0
	filepath.Walk(e.dir, func(path string, info os.FileInfo, err error) error {
		if err != nil || info.IsDir() {
			return nil
		}
		files++
		b, _ := os.ReadFile(path)
		for _, s := range secrets {
			if bytes.Contains(b, []byte(s)) {
				e.t.Errorf("%q is on disk in the clear in %s", s, path)
			}
		}
		return nil
	})
	if files < 3 {
		e.t.Fatalf("the canary read only %d files under %s", files, e.dir)
	}
}

func or(v any) any {
	if v == nil {
		return ""
	}
	return v
}

func sameSet(got []string, want ...string) bool {
	if len(got) != len(want) {
		return false
	}
	for _, w := range want {
		found := false
		for _, g := range got {
			found = found || g == w
		}
		if !found {
			return false
		}
	}
	return true
}

// TestRealNamesGoToTheConfiguredService: with real_name in node.json the
// node asks that service, signing each request, instead of the sandbox; a
// service that does not answer records nothing.
func TestRealNamesGoToTheConfiguredService(t *testing.T) {
	secret := []byte("svc-Secret-46")
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		ts, nonce := r.Header.Get("X-Cxt-Timestamp"), r.Header.Get("X-Cxt-Nonce")
		if r.Header.Get("X-Cxt-Signature") != realname.RequestSignature(secret, r.Method, r.URL.EscapedPath(), r.Header.Get("X-Cxt-App"), ts, nonce, body) {
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
		calls.Add(1)
		var in map[string]string
		json.Unmarshal(body, &in)
		answer, _ := json.Marshal(map[string]any{"match": in["id_number"] != "", "reference": "acme-77", "score": 0.91})
		rts := strconv.FormatInt(time.Now().Unix(), 10)
		w.Header().Set("X-Cxt-Timestamp", rts)
		w.Header().Set("X-Cxt-Signature", realname.ResponseSignature(secret, nonce, rts, answer))
		w.Write(answer)
	}))
	defer srv.Close()
	box, hook := startSMS(t)
	e := startWith(t, &notify.Config{SMSWebhook: hook})
	path := filepath.Join(e.dir, "node.json")
	b, _ := os.ReadFile(path)
	var cfg map[string]any
	json.Unmarshal(b, &cfg)
	cfg["real_name"] = map[string]any{"url": srv.URL + "/v1/verify", "app": "cxt-test", "secret": string(secret), "provider": "acme", "timeout_seconds": 1}
	b, _ = json.Marshal(cfg)
	os.WriteFile(path, b, 0o600)
	e.restart()

	reg := e.call("POST", "/api/v1/workers", "", registration(workerstest.Name(200), workerstest.ID(200), workerstest.Phone(200), "rn-worker"))
	if reg.status != 201 {
		t.Fatalf("register: %d %v", reg.status, reg.body)
	}
	w := reg.body["worker"].(map[string]any)["id"].(string)
	token := e.workerSignIn(box, "rn-worker", reg.body["one_time_password"].(string), workerstest.Phone(200))
	if r := e.call("POST", "/api/v1/workers/"+w+"/consents", token, `{"purpose":"real_name","notice":"实名核验告知","notice_version":"1","channel":"app"}`); r.status != 201 {
		t.Fatalf("consent: %d %v", r.status, r.body)
	}
	if r := e.call("POST", "/api/v1/workers/"+w+"/real-name", token, ""); r.status != 200 || r.body["provider"] != "acme" || r.body["status"] != "verified" || calls.Load() != 1 {
		t.Fatalf("verification through the service: %d %v (%d calls)", r.status, r.body, calls.Load())
	}
	srv.Close()
	if r := e.call("POST", "/api/v1/workers/"+w+"/real-name", token, ""); r.status != 503 || r.code() != "unavailable" {
		t.Fatalf("with the service down: %d %v", r.status, r.body)
	}
	if r := e.call("GET", "/api/v1/workers/"+w, token, ""); r.body["real_name"].(map[string]any)["score"] != 0.91 {
		t.Fatalf("the earlier answer was overwritten: %v", r.body)
	}
}
