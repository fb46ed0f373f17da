package api_test

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"cxt/appliance/esign/esigntest"
	"cxt/appliance/insurance"
	"cxt/appliance/notify"
	"cxt/appliance/receipts/receiptstest"
	"cxt/appliance/training"
	"cxt/appliance/workers/workerstest"
)

// Business training through the API: an operator writes a course and
// uploads its materials (they land in the blob store sealed, and come back
// whole); a merchant enrols its own worker and not another merchant's; a
// worker enrols themself; the merchant records a result; the certificate
// the worker and the enrolling merchant download names the worker and
// verifies with OpenSSL, and nobody else gets it.
func TestACourseIsTakenByAMerchantsWorkerAndItsCertificateVerifiesWithOpenSSL(t *testing.T) {
	box, hook := startSMS(t)
	e := startWith(t, &notify.Config{SMSWebhook: hook})
	sec, _ := e.signInMFA("secadmin")
	sys := e.signIn("sysadmin")
	reviewer := e.staff(sec, "platform_reviewer", "reviewer-1")
	op := e.staff(sec, "platform_operator", "ops-1")
	e.esignAuthority(sys)
	idA, bossA := e.approvedMerchant(reviewer, "福州某某物流有限公司", usccA, "boss-a", "13800001111")
	idB, bossB := e.approvedMerchant(reviewer, "太原某某服务有限公司", usccB, "boss-b", "13800002222")
	clerkA := e.merchantOperator(idA, bossA, "clerk-a")
	w1, worker1 := e.registeredWorker(box, 401, "worker-1")
	w2, worker2 := e.registeredWorker(box, 402, "worker-2")
	e.linkWorker(idA, bossA, 401, w1, worker1, true)
	e.linkWorker(idB, bossB, 402, w2, worker2, true)

	// The course: bad ones refused naming the field; tenants cannot write one.
	for body, field := range map[string]string{
		`{"title":""}`: "title",
		`{"title":"安全","category":"astrology"}`: "category",
		`{"title":"安全","required_for":["x"]}`:   "required_for",
		`{"title":"安全","pass_mark":101}`:        "pass_mark",
	} {
		if r := e.call("POST", "/api/v1/training/courses", op, body); r.status != 400 || errField(r) != field {
			t.Errorf("%s: %d %v, want a refusal of %s", body, r.status, r.body, field)
		}
	}
	if r := e.call("POST", "/api/v1/training/courses", bossA, `{"title":"安全"}`); r.status != 403 {
		t.Errorf("a merchant writes a course: %d %v", r.status, r.body)
	}
	c := e.call("POST", "/api/v1/training/courses", op, `{"title":"配送安全与交通法规","description":"电动自行车安全、交通法规、事故处理","category":"delivery","required_for":["delivery"],"pass_mark":60}`)
	if c.status != 201 || c.body["status"] != "draft" {
		t.Fatalf("create: %d %v", c.status, c.body)
	}
	course := c.body["id"].(string)
	base := "/api/v1/training/courses/" + course
	if r := e.call("GET", base, worker1, ""); r.status != 404 {
		t.Errorf("a worker reads a draft: %d %v", r.status, r.body)
	}

	// Materials: a PDF and an MP4, sniffed; HTML refused.
	pdf := []byte("%PDF-1.4\n1 0 obj <<>> endobj\n配送安全手册 第一章 头盔佩戴\n%%EOF\n")
	mp4 := append([]byte{0, 0, 0, 0x18}, []byte("ftypisom\x00\x00\x02\x00isomiso2 moov 配送安全视频")...)
	if r := e.upload(base+"/materials?name=x", op, []byte("<html><script>x</script>")); r.status != 415 || r.code() != "unsupported_document" {
		t.Errorf("HTML as a material: %d %v", r.status, r.body)
	}
	e.upload(base+"/materials?name="+"手册", op, pdf)
	r := e.upload(base+"/materials?name=video", op, mp4)
	mats, _ := r.body["materials"].([]any)
	if r.status != 201 || len(mats) != 2 || mats[1].(map[string]any)["type"] != "video/mp4" || mats[0].(map[string]any)["type"] != "application/pdf" {
		t.Fatalf("materials: %d %v", r.status, r.body)
	}
	for i, want := range [][]byte{pdf, mp4} {
		id := mats[i].(map[string]any)["id"].(string)
		stored, err := os.ReadFile(filepath.Join(e.dir, "documents", id))
		if err != nil {
			t.Fatalf("material %s is not in the blob store: %v", id, err)
		}
		if bytes.Contains(stored, want[8:24]) {
			t.Errorf("material %s is stored in plaintext", id)
		}
		if r := e.call("POST", base+"/publish", op, ""); i == 0 && r.status != 200 {
			t.Fatalf("publish: %d %v", r.status, r.body)
		}
		status, typ, got := e.download(base+"/materials/"+id, worker2)
		if status != 200 || !bytes.Equal(got, want) || typ != mats[i].(map[string]any)["type"] {
			t.Errorf("material %s read back: %d %s %q", id, status, typ, got)
		}
	}
	if r := e.call("POST", base+"/publish", op, ""); r.status != 409 || r.code() != "training_course_status" {
		t.Errorf("published twice: %d %v", r.status, r.body)
	}

	// Enrolment: A enrols its worker, not B's; B's worker enrols themself.
	if r := e.call("POST", base+"/enrolments", bossA, fmt.Sprintf(`{"worker":%q}`, w2)); r.status != 404 || r.code() != "training_worker_not_yours" {
		t.Errorf("A enrols B's worker: %d %v", r.status, r.body)
	}
	if r := e.call("POST", base+"/enrolments", worker1, fmt.Sprintf(`{"worker":%q}`, w2)); r.status != 404 || r.code() != "training_worker_not_yours" {
		t.Errorf("a worker enrols another: %d %v", r.status, r.body)
	}
	if r := e.call("POST", base+"/enrolments", clerkA, fmt.Sprintf(`{"worker":%q}`, w1)); r.status != 201 || r.body["merchant"] != idA {
		t.Fatalf("A enrols its worker: %d %v", r.status, r.body)
	}
	if r := e.call("POST", base+"/enrolments", worker1, ""); r.status != 409 || r.code() != "training_enrolled" {
		t.Errorf("enrolled twice: %d %v", r.status, r.body)
	}
	if r := e.call("POST", base+"/enrolments", worker2, ""); r.status != 201 || r.body["merchant"] != nil {
		t.Fatalf("a worker enrols themself: %d %v", r.status, r.body)
	}
	if r := e.call("GET", "/api/v1/training/enrolments", bossA, ""); r.status != 200 || len(r.body["enrolments"].([]any)) != 1 {
		t.Errorf("A's enrolments: %d %v", r.status, r.body)
	}
	if r := e.call("GET", "/api/v1/training/enrolments", op, ""); r.status != 200 || len(r.body["enrolments"].([]any)) != 2 {
		t.Errorf("every enrolment: %d %v", r.status, r.body)
	}

	// Results: B may not record A's; the worker may not record their own.
	cert := base + "/enrolments/" + w1 + "/certificate"
	result := base + "/enrolments/" + w1 + "/result"
	if r := e.call("POST", result, bossB, `{"score":100}`); r.status != 404 {
		t.Errorf("B records A's enrolment: %d %v", r.status, r.body)
	}
	if r := e.call("POST", result, worker1, `{"score":100}`); r.status != 403 {
		t.Errorf("a worker records their own result: %d %v", r.status, r.body)
	}
	// A role with no access to results learns nothing of who is enrolled:
	// the same refusal for an enrolment and for none.
	if r := e.call("POST", result, sec, `{"score":100}`); r.status != 403 {
		t.Errorf("the security administrator records a result: %d %v", r.status, r.body)
	}
	if r := e.call("POST", base+"/enrolments/"+w2+"/result", sec, `{"score":100}`); r.status != 403 {
		t.Errorf("the security administrator asks of a worker not enrolled: %d %v", r.status, r.body)
	}
	if r := e.call("POST", result, bossA, `{"score":59}`); r.status != 200 || r.body["status"] != "failed" {
		t.Fatalf("59: %d %v", r.status, r.body)
	}
	if r := e.call("GET", cert, worker1, ""); r.status != 409 || r.code() != "training_not_passed" {
		t.Errorf("a certificate before a pass: %d %v", r.status, r.body)
	}
	r = e.call("POST", result, bossA, `{"score":88}`)
	number, _ := r.body["certificate"].(string)
	if r.status != 200 || r.body["status"] != "passed" || !strings.HasPrefix(number, "TRC-") {
		t.Fatalf("88: %d %v", r.status, r.body)
	}

	for _, tok := range []string{worker1, bossA, op} {
		status, header, zip := e.downloadRaw(cert, tok)
		if status != 200 || header.Get("Content-Type") != "application/zip" {
			t.Fatalf("certificate: %d %s %s", status, header, zip)
		}
		dir := esigntest.Extract(t, zip)
		if out, err := receiptstest.Verify(t, dir); err != nil || !strings.HasSuffix(out, "Verified OK\n") {
			t.Fatalf("OpenSSL: %v\n%s", err, out)
		}
		body, _ := os.ReadFile(filepath.Join(dir, training.Doc.Base+".pdf"))
		text := pdfText(t, body)
		for _, want := range []string{"业务培训合格证明", workerstest.Name(401), number, "配送安全与交通法规", "88", "福州某某物流有限公司", "诚薪通科技有限公司"} {
			if !strings.Contains(text, want) {
				t.Errorf("the certificate lacks %q:\n%s", want, text)
			}
		}
		if strings.Contains(text, workerstest.ID(401)) {
			t.Errorf("the certificate shows the whole ID number:\n%s", text)
		}
		body[len(body)/2] ^= 1
		os.WriteFile(filepath.Join(dir, training.Doc.Base+".pdf"), body, 0o600)
		if out, err := receiptstest.Verify(t, dir); err == nil {
			t.Fatalf("a changed byte verifies:\n%s", out)
		}
	}
	// B (linked to neither enrolment) and the other worker get nothing.
	for who, tok := range map[string]string{"B's administrator": bossB, "the other worker": worker2} {
		if status, _, _ := e.downloadRaw(cert, tok); status != 404 && status != 403 {
			t.Errorf("%s downloads worker 1's certificate: %d", who, status)
		}
	}
}

// Insurance through the API: an operator defines products (premiums as
// yuan strings, kept in fen) and rules; the recommendation for a worker
// follows the rules at the age boundary and the task's category, and tells
// a merchant no age; a merchant insures only its own worker; a payments
// file with one bad line records nothing.
func TestInsuranceIsRecommendedByTheRulesAndRecordedWholeOrNotAtAll(t *testing.T) {
	box, hook := startSMS(t)
	e := startWith(t, &notify.Config{SMSWebhook: hook})
	sec, _ := e.signInMFA("secadmin")
	reviewer := e.staff(sec, "platform_reviewer", "reviewer-1")
	op := e.staff(sec, "platform_operator", "ops-1")
	idA, bossA := e.approvedMerchant(reviewer, "福州某某物流有限公司", usccA, "boss-a", "13800001111")
	idB, bossB := e.approvedMerchant(reviewer, "太原某某服务有限公司", usccB, "boss-b", "13800002222")
	w1, worker1 := e.registeredWorker(box, 401, "worker-1")
	w2, worker2 := e.registeredWorker(box, 402, "worker-2")
	e.linkWorker(idA, bossA, 401, w1, worker1, true)
	e.linkWorker(idB, bossB, 402, w2, worker2, true)

	for body, want := range map[string]string{
		`{"insurer":"某保险","name":"意外险","kind":"accident","premium":1.99,"term":"day","coverage":"意外"}`:    "invalid_request",
		`{"insurer":"某保险","name":"意外险","kind":"accident","premium":"1.999","term":"day","coverage":"意外"}`: "amount_invalid",
		`{"insurer":"某保险","name":"意外险","kind":"life","premium":"1.99","term":"day","coverage":"意外"}`:      "invalid_request",
	} {
		if r := e.call("POST", "/api/v1/insurance/products", op, body); r.status != 400 || r.code() != want {
			t.Errorf("%s: %d %v, want %s", body, r.status, r.body, want)
		}
	}
	p := e.call("POST", "/api/v1/insurance/products", op, `{"insurer":"某某财产保险股份有限公司","name":"骑手意外险","kind":"accident","premium":"1.99","term":"day","coverage":"意外身故、伤残 60 万元；医疗 5 万元","min_age":16,"max_age":65}`)
	if p.status != 201 || p.body["premium_fen"] != float64(199) || p.body["premium"] != "1.99" {
		t.Fatalf("product: %d %v", p.status, p.body)
	}
	product := p.body["id"].(string)

	// The worker's birthday: the rule for 55 and older matches on it, not
	// the day before.
	born, _ := time.Parse("20060102", workerstest.ID(401)[6:14])
	birthday := born.AddDate(55, 0, 0)
	on, before := birthday.Format(time.DateOnly), birthday.AddDate(0, 0, -1).Format(time.DateOnly)
	rules := `{"version":1,"rules":[{"id":"older","kind":"accident","min_age":55,"why":"55 岁及以上"},{"id":"couriers","product":"` + product + `","categories":["delivery"],"why":"配送"}]}`
	if r := e.call("PUT", "/api/v1/insurance/rules", op, strings.Replace(rules, `"version":1`, `"version":2`, 1)); r.status != 409 || r.code() != "insurance_rules_version" {
		t.Errorf("version 2 over 0: %d %v", r.status, r.body)
	}
	if r := e.call("PUT", "/api/v1/insurance/rules", op, rules); r.status != 200 || r.body["version"] != float64(1) {
		t.Fatalf("rules: %d %v", r.status, r.body)
	}
	rec := func(token, query string) (reply, string) {
		t.Helper()
		r := e.call("GET", "/api/v1/workers/"+w1+"/insurance/recommendations?"+query, token, "")
		if r.status != 200 {
			t.Fatalf("recommend %s: %d %v", query, r.status, r.body)
		}
		var got []string
		for _, x := range r.body["recommendations"].([]any) {
			for _, m := range x.(map[string]any)["rules"].([]any) {
				got = append(got, m.(map[string]any)["rule"].(string))
			}
		}
		return r, strings.Join(got, ",")
	}
	if r, got := rec(worker1, "on="+on); got != "older" || r.body["attributes"].(map[string]any)["age"] != float64(55) {
		t.Errorf("on the 55th birthday: %q %v", got, r.body)
	}
	if r, got := rec(worker1, "on="+before); got != "" || r.body["attributes"].(map[string]any)["age"] != float64(54) {
		t.Errorf("the day before: %q %v", got, r.body)
	}
	task := e.newTask(bossA, "同城配送", "delivery", `"500.00"`, 1, false)["id"].(string)
	r, got := rec(bossA, "on="+before+"&task="+task)
	if got != "couriers" {
		t.Errorf("for A's delivery task: %q %v", got, r.body)
	}
	if _, ok := r.body["attributes"].(map[string]any)["age"]; ok || strings.Contains(fmt.Sprint(r.body), " 54") {
		t.Errorf("a merchant is told the worker's age: %v", r.body)
	}
	if r := e.call("GET", "/api/v1/workers/"+w1+"/insurance/recommendations?task="+task, worker2, ""); r.status != 404 && r.status != 403 {
		t.Errorf("another worker asks about worker 1: %d %v", r.status, r.body)
	}
	if r := e.call("GET", "/api/v1/workers/"+w2+"/insurance/recommendations?task="+task, bossB, ""); r.status != 404 {
		t.Errorf("B asks with A's task: %d %v", r.status, r.body)
	}

	// Enrolment: A insures its worker, not B's; the premium is in fen.
	body := func(worker string) string {
		return fmt.Sprintf(`{"product":%q,"worker":%q,"start":"2026-03-01","units":31}`, product, worker)
	}
	if r := e.call("POST", "/api/v1/insurance/enrolments", bossA, body(w2)); r.status != 404 || r.code() != "insurance_worker_not_yours" {
		t.Errorf("A insures B's worker: %d %v", r.status, r.body)
	}
	if r := e.call("POST", "/api/v1/insurance/enrolments", bossA, body(w1)); r.status != 201 || r.body["premium"] != "61.69" ||
		r.body["enrolment"].(map[string]any)["premium_fen"] != float64(6169) || r.body["enrolment"].(map[string]any)["end"] != "2026-03-31" {
		t.Fatalf("A insures its worker: %d %v", r.status, r.body)
	}
	if r := e.call("POST", "/api/v1/insurance/enrolments", worker1, body("")); r.status != 409 || r.code() != "insurance_enrolled" {
		t.Errorf("the same product twice for March: %d %v", r.status, r.body)
	}

	// Social-insurance payments: one bad line refuses the file whole.
	head := strings.Join(insurance.CSVHeader, ",") + "\n"
	good := head + w1 + ",2026-01,350100,5000.00,800.00,400.00,0,25.00\n" + w2 + ",2026-01,140100,4000.00,640.00,320.00,0,0\n"
	for name, file := range map[string]string{
		"a float amount":   good + w2 + ",2026-02,140100,4000.005,640.00,320.00,0,0\n",
		"an unknown place": good + w2 + ",2026-02,999999,4000.00,640.00,320.00,0,0\n",
	} {
		if r := e.call("POST", "/api/v1/insurance/social-payments/import", op, file, "Content-Type", "text/csv"); r.status != 400 || r.code() != "insurance_csv_invalid" || !strings.Contains(r.message(), "line 4") {
			t.Errorf("%s: %d %v", name, r.status, r.body)
		}
	}
	if r := e.call("POST", "/api/v1/insurance/social-payments/import", op, good+"nobody,2026-02,140100,4000.00,640.00,320.00,0,0\n", "Content-Type", "text/csv"); r.status != 400 || r.code() != "insurance_csv_invalid" {
		t.Errorf("an unknown worker: %d %v", r.status, r.body)
	}
	if r := e.call("GET", "/api/v1/workers/"+w1+"/insurance", op, ""); len(r.body["social"].([]any)) != 0 {
		t.Fatalf("a refused file left payments: %v", r.body)
	}
	if r := e.call("POST", "/api/v1/insurance/social-payments/import", bossA, good, "Content-Type", "text/csv"); r.status != 403 {
		t.Errorf("a merchant records social insurance: %d %v", r.status, r.body)
	}
	if r := e.call("POST", "/api/v1/insurance/social-payments/import", op, good, "Content-Type", "text/csv"); r.status != 201 || r.body["total_fen"] != float64(800_00+400_00+25_00+640_00+320_00) {
		t.Fatalf("a good file: %d %v", r.status, r.body)
	}
	if r := e.call("POST", "/api/v1/insurance/social-payments", op, fmt.Sprintf(`{"worker":%q,"month":"2026-01","place":"350100","base":"5000.00","pension":"800.00"}`, w1)); r.status != 409 || r.code() != "insurance_social_duplicate" {
		t.Errorf("January again: %d %v", r.status, r.body)
	}
	mine := e.call("GET", "/api/v1/workers/"+w1+"/insurance", worker1, "")
	if len(mine.body["social"].([]any)) != 1 || len(mine.body["enrolments"].([]any)) != 1 {
		t.Errorf("the worker's records: %v", mine.body)
	}
	if r := e.call("GET", "/api/v1/workers/"+w1+"/insurance", bossA, ""); len(r.body["social"].([]any)) != 0 || len(r.body["enrolments"].([]any)) != 1 {
		t.Errorf("the merchant sees the worker's social insurance: %v", r.body)
	}
}
