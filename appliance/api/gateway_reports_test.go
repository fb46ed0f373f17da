package api_test

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"cxt/appliance/workers/workerstest"
	"cxt/crypto/sm"
	"cxt/gateway/queries/queriestest"
	"cxt/gateway/reports"
)

// fetch answers a signed GET on the gateway listener as bytes: a report's
// body is no JSON.
func (b *bureau) fetch(path string) (int, http.Header, []byte) {
	b.e.t.Helper()
	resp, err := b.conn.Do(b.signed("GET", path, "", 0))
	if err != nil {
		b.e.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, raw
}

// download answers a business route's bytes (a report's body).
func (e *env) downloadRaw(path, token string) (int, http.Header, []byte) {
	e.t.Helper()
	req, _ := http.NewRequest("GET", e.base+path, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := e.client.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, raw
}

// paid has a merchant's operator upload one payment and its administrator
// confirm it; it waits until the bank paid it.
func (w *payWorld) paid(merchant, clerk, boss, bossUser, worker, task, amount, ref string) {
	e := w.e
	e.t.Helper()
	up := e.uploadBatch(merchant, clerk, payFile(ref, payRow(worker, task, `"`+amount+`"`)))
	if up.status != 201 {
		e.t.Fatalf("upload %s: %d %v", ref, up.status, up.body)
	}
	batch := up.body["batch"].(string)
	e.stepUp(boss, bossUser)
	if r := e.confirmed("POST", "/api/v1/payout-batches/"+batch+"/confirm", boss, "", "pay-"+ref); r.status != 202 {
		e.t.Fatalf("confirm %s: %d %v", ref, r.status, r.body)
	}
	if b := e.settled(boss, batch); fmt.Sprint(b["counts"]) != "map[paid:1]" {
		e.t.Fatalf("batch %s: %v", ref, b)
	}
}

// verifyReport checks a report downloaded from the gateway listener with
// the machine's OpenSSL, as docs/gateway.md §8.5 tells a bureau: the head
// verifies under the gateway key and the body's SM3 is the head's.
func verifyReport(t *testing.T, keyPEM []byte, answer map[string]any, body []byte) {
	t.Helper()
	dir := t.TempDir()
	head, _ := answer["head"].(string)
	sig, err := base64.StdEncoding.DecodeString(answer["signature"].(string))
	if head == "" || err != nil {
		t.Fatalf("head %q, signature: %v", head, err)
	}
	for name, b := range map[string][]byte{"platform-sm2.pem": keyPEM, "report.head": []byte(head), "report.sig": sig, "report.body": body} {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	openssl := func(args ...string) (string, error) {
		cmd := exec.Command("openssl", args...)
		cmd.Dir = dir
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	if out, err := openssl("dgst", "-sm3", "-sigopt", "distid:1234567812345678", "-verify", "platform-sm2.pem", "-signature", "report.sig", "report.head"); err != nil || !strings.Contains(out, "Verified OK") {
		t.Fatalf("openssl does not verify the report's head: %v\n%s", err, out)
	}
	out, err := openssl("dgst", "-sm3", "-r", "report.body")
	var h struct {
		SM3 string `json:"sm3"`
	}
	json.Unmarshal([]byte(head), &h)
	if err != nil || strings.Fields(out)[0] != h.SM3 {
		t.Fatalf("openssl's SM3 of the body %q is not the head's %s (%v)", out, h.SM3, err)
	}
	// And a head changed by one byte does not verify.
	os.WriteFile(filepath.Join(dir, "report.head"), []byte(strings.Replace(head, `"rows":`, `"rows":1`, 1)), 0o600)
	if out, err := openssl("dgst", "-sm3", "-sigopt", "distid:1234567812345678", "-verify", "platform-sm2.pem", "-signature", "report.sig", "report.head"); err == nil {
		t.Fatalf("openssl verified an altered head:\n%s", out)
	}
}

// reportsOf lists a bureau's reports of a quarter: ID → report.
func (b *bureau) reportsOf(query string) (answer, map[string]map[string]any, []string) {
	b.e.t.Helper()
	a := b.call("GET", "/gateway/v1/reports?"+query, "")
	byID := map[string]map[string]any{}
	var order []string
	list, _ := a.body["reports"].([]any)
	for _, x := range list {
		r := x.(map[string]any)
		byID[r["id"].(string)] = r
		order = append(order, r["id"].(string))
	}
	return a, byID, order
}

// The gateway end to end over a world of two merchants of two tax offices,
// each of whom paid a worker: platform staff issue the quarter's reports
// once it has ended; a bureau of office A lists and downloads A's income
// report and verifies it with OpenSSL, and never sees B's or the
// platform's own; a correction voids the first and both stay listed. A
// bureau queries a worker and a merchant of its scope — out of scope
// answers exactly as absent — and opens their documents, sealed to its
// own registered key, with the documented OpenSSL commands.
func TestTheGatewayServesReportsAndQueriesOfAClientsScopeOnly(t *testing.T) {
	if _, err := exec.LookPath("openssl"); err != nil {
		t.Fatal("openssl 3 is required for the interop tests (apt-get install openssl)")
	}
	w := payoutWorld(t) // with a gateway listener
	e := w.e
	e.gatewayKey()
	_, keyPEM := e.gwKeyPEM(e.gwConn(nil))
	sec := e.loginMFA("secadmin").body["token"].(string)
	officeOf := func(m string) string {
		r := e.call("GET", "/api/v1/merchants/"+m, w.reviewer, "")
		o, _ := r.body["tax_office"].(string)
		if r.status != 200 || o == "" {
			t.Fatalf("merchant %s: %d %v", m, r.status, r.body)
		}
		return o
	}
	officeA, officeB := officeOf(w.idA), officeOf(w.idB)
	if officeA == officeB || officeA == platformOffice || officeB == platformOffice {
		t.Fatalf("offices %s, %s, %s", officeA, officeB, platformOffice)
	}
	bureauA := e.registerBureau(sec, []string{officeA}, nil)
	bureauB := e.registerBureau(sec, []string{officeB}, nil)
	top := e.registerBureau(sec, []string{platformOffice}, nil)

	w.paid(w.idA, w.clerkA, w.bossA, "boss-a", w.wA, w.taskA, "3000.00", "q-a")
	w.paid(w.idB, w.clerkB, w.bossB, "boss-b", w.wB, w.taskB, "1000.00", "q-b")
	q := reports.QuarterOf(e.clock.Now())
	quarter := q.String()

	t.Run("reports", func(t *testing.T) {
		op := w.operator
		issue := func(body, key string) reply {
			t.Helper()
			e.stepUp(op, "operator-1")
			return e.confirmed("POST", "/api/v1/gateway/reports", op, body, key)
		}
		income := func(office, format, supersedes string) string {
			b, _ := json.Marshal(map[string]string{"kind": "income", "quarter": quarter, "office": office, "format": format, "supersedes": supersedes})
			return string(b)
		}
		// Before the quarter has ended, and before the platform has a
		// profile, the reports wait.
		if r := issue(income(officeA, "csv", ""), "early"); r.status != 409 || r.code() != "report_quarter_open" {
			t.Fatalf("a report of a quarter not over: %d %v", r.status, r.body)
		}
		e.clock.set(q.End().Add(time.Hour))
		op = e.loginMFA("operator-1").body["token"].(string)
		if r := issue(income("", "csv", ""), "no-profile"); r.status != 409 || r.code() != reports.CodeNoProfile {
			t.Fatalf("the platform's own report without a profile: %d %v", r.status, r.body)
		}
		sys := e.loginMFA("sysadmin").body["token"].(string)
		e.setProfile(sys, platformOffice)

		// The preview shows the figures that will be signed, and stores
		// nothing.
		e.stepUp(op, "operator-1")
		pv := e.call("POST", "/api/v1/gateway/reports", op, income(officeA, "csv", ""), "Idempotency-Key", "income-a")
		impact, _ := pv.body["preview"].(map[string]any)["impact"].(map[string]any)
		totals, _ := impact["totals"].(map[string]any)
		if pv.status != 200 || impact["office"] != officeA || impact["rows"] != 1.0 || totals["gross"] != "3000.00" || totals["fees"] != "180.00" || totals["orders"] != 1.0 {
			t.Fatalf("the issue's preview: %d %v", pv.status, pv.body)
		}
		if r := e.call("GET", "/api/v1/gateway/reports?quarter="+quarter+"&office="+officeA, op, ""); r.status != 200 || len(r.body["reports"].([]any)) != 0 {
			t.Fatalf("a preview issued a report: %d %v", r.status, r.body)
		}
		first := e.call("POST", "/api/v1/gateway/reports", op, income(officeA, "csv", ""), "Idempotency-Key", "income-a", "X-Confirm-Token", pv.body["confirm_token"].(string))
		if first.status != 201 {
			t.Fatalf("issue A's income report: %d %v", first.status, first.body)
		}
		idA := first.body["report"].(map[string]any)["id"].(string)
		rb := issue(income(officeB, "csv", ""), "income-b")
		if rb.status != 201 {
			t.Fatalf("issue B's income report: %d %v", rb.status, rb.body)
		}
		idB := rb.body["report"].(map[string]any)["id"].(string)
		own := issue(income("", "json", ""), "income-platform")
		basic := issue(fmt.Sprintf(`{"kind":"platform","quarter":%q,"format":"csv"}`, quarter), "basic")
		if own.status != 201 || basic.status != 201 {
			t.Fatalf("the platform's own reports: %d %v / %d %v", own.status, own.body, basic.status, basic.body)
		}
		idOwn, idBasic := own.body["report"].(map[string]any)["id"].(string), basic.body["report"].(map[string]any)["id"].(string)
		if r := issue(income(officeA, "csv", ""), "income-a-again"); r.status != 409 || r.code() != "report_current_exists" {
			t.Fatalf("a second report beside the current one: %d %v", r.status, r.body)
		}
		// Bad requests, each with its code, refused at the preview.
		e.stepUp(op, "operator-1")
		for i, c := range []struct {
			body        string
			status      int
			code, field string
		}{
			{fmt.Sprintf(`{"kind":"salary","quarter":%q,"format":"csv"}`, quarter), 400, "invalid_request", "kind"},
			{fmt.Sprintf(`{"kind":"income","quarter":%q,"format":"xml"}`, quarter), 400, "invalid_request", "format"},
			{`{"kind":"income","quarter":"2026Q9","format":"csv"}`, 400, "report_quarter_invalid", ""},
			{fmt.Sprintf(`{"kind":"income","quarter":%q,"office":"1440304","format":"csv"}`, quarter), 400, "tax_office_format", ""},
			{fmt.Sprintf(`{"kind":"identity","quarter":%q,"format":"csv","template":"1999-v9"}`, quarter), 400, "report_template_unknown", ""},
			{fmt.Sprintf(`{"kind":"platform","quarter":%q,"office":%q,"format":"csv"}`, quarter, officeA), 400, "invalid_request", "office"},
			{income(officeA, "csv", "rpt-0000000000"), 409, "report_supersedes_mismatch", ""},
			{income(officeB, "csv", idA), 409, "report_supersedes_mismatch", ""},
			{fmt.Sprintf(`{"kind":"income","quarter":%q,"format":"csv","extra":1}`, quarter), 400, "invalid_request", ""},
		} {
			r := e.call("POST", "/api/v1/gateway/reports", op, c.body, "Idempotency-Key", fmt.Sprintf("bad-%d", i))
			if r.status != c.status || r.code() != c.code || (c.field != "" && errField(r) != c.field) {
				t.Errorf("%s: %d %v, want %d %s", c.body, r.status, r.body, c.status, c.code)
			}
		}

		// Bureau A lists its office's report and verifies it with OpenSSL.
		a, listed, _ := bureauA.reportsOf("quarter=" + quarter)
		if a.status != 200 || a.body["office"] != officeA || len(listed) != 1 || listed[idA]["current"] != true || listed[idA]["kind"] != "income" {
			t.Fatalf("A's reports: %d %v", a.status, a.body)
		}
		got := bureauA.call("GET", "/gateway/v1/reports/"+idA, "")
		status, header, body := bureauA.fetch("/gateway/v1/reports/" + idA + "/body")
		if got.status != 200 || status != 200 || !strings.HasPrefix(header.Get("Content-Type"), "text/csv") {
			t.Fatalf("A's report: %d %v; body %d %s", got.status, got.body, status, header)
		}
		verifyReport(t, keyPEM, got.body, body)
		if !bytes.HasPrefix(body, []byte("\xEF\xBB\xBF")) || !bytes.Contains(body, []byte(workerstest.Name(501))) || !bytes.Contains(body, []byte("3000.00")) ||
			bytes.Contains(body, []byte(workerstest.Name(502))) {
			t.Fatalf("A's income report:\n%s", body)
		}
		// The staff's copy is the same bytes.
		if s, _, staff := e.downloadRaw("/api/v1/gateway/reports/"+idA+"/body", op); s != 200 || !bytes.Equal(staff, body) {
			t.Fatalf("the staff's download: %d, equal %v", s, bytes.Equal(staff, body))
		}

		// B's report and the platform's own are not A's: by ID they
		// answer as none at all; by office, out of scope as the feed.
		none := bureauA.call("GET", "/gateway/v1/reports/rpt-0000000000", "")
		for _, id := range []string{idB, idOwn, idBasic} {
			r := bureauA.call("GET", "/gateway/v1/reports/"+id, "")
			if r.status != 404 || r.code() != "not_found" || strings.Replace(r.message(), id, "X", 1) != strings.Replace(none.message(), "rpt-0000000000", "X", 1) {
				t.Errorf("A asks for %s: %d %v (none: %v)", id, r.status, r.body, none.body)
			}
			if s, _, _ := bureauA.fetch("/gateway/v1/reports/" + id + "/body"); s != 404 {
				t.Errorf("A downloads %s: %d", id, s)
			}
		}
		for _, office := range []string{officeB, "platform", platformOffice} {
			if r := bureauA.call("GET", "/gateway/v1/reports?quarter="+quarter+"&office="+office, ""); r.status != 403 || r.code() != "out_of_scope" {
				t.Errorf("A lists %s: %d %v", office, r.status, r.body)
			}
		}
		if r := bureauA.call("GET", "/gateway/v1/reports?quarter=2026Q5", ""); r.status != 400 || r.code() != "report_quarter_invalid" {
			t.Errorf("a malformed quarter: %d %v", r.status, r.body)
		}
		if _, listedB, _ := bureauB.reportsOf("quarter=" + quarter); len(listedB) != 1 || listedB[idB] == nil {
			t.Errorf("B's reports: %v", listedB)
		}
		// The platform's office reads the platform's own reports, the
		// income one as JSON whose bytes are the signed ones.
		_, listedTop, _ := top.reportsOf("quarter=" + quarter)
		if len(listedTop) != 2 || listedTop[idOwn] == nil || listedTop[idBasic] == nil || listedTop[idOwn]["office"] != "platform" {
			t.Fatalf("the platform office's reports: %v", listedTop)
		}
		ownAnswer := top.call("GET", "/gateway/v1/reports/"+idOwn, "")
		status, header, body = top.fetch("/gateway/v1/reports/" + idOwn + "/body")
		if status != 200 || header.Get("Content-Type") != "application/json" {
			t.Fatalf("the platform's own report: %d %s", status, header)
		}
		verifyReport(t, keyPEM, ownAnswer.body, body)
		var doc struct {
			Rows []map[string]any `json:"rows"`
		}
		if err := json.Unmarshal(body, &doc); err != nil || len(doc.Rows) != 2 {
			t.Fatalf("the platform's own income report, both workers: %v %s", err, body)
		}

		// A correction voids the first; both stay listed, the first
		// voided and superseded, and both still verify.
		fix := issue(income(officeA, "json", idA), "income-a-fix")
		if fix.status != 201 {
			t.Fatalf("the correction: %d %v", fix.status, fix.body)
		}
		idFix := fix.body["report"].(map[string]any)["id"].(string)
		_, listed, order := bureauA.reportsOf("quarter=" + quarter + "&office=" + officeA)
		if len(order) != 2 || order[0] != idA || order[1] != idFix || listed[idA]["current"] != false || listed[idA]["superseded_by"] != idFix ||
			listed[idA]["voided"] == nil || listed[idFix]["current"] != true || listed[idFix]["supersedes"] != idA {
			t.Fatalf("after the correction: %v", listed)
		}
		for _, id := range []string{idA, idFix} {
			ans := bureauA.call("GET", "/gateway/v1/reports/"+id, "")
			_, _, b := bureauA.fetch("/gateway/v1/reports/" + id + "/body")
			verifyReport(t, keyPEM, ans.body, b)
		}
		// A void without a replacement, then nothing of A's is current.
		e.stepUp(op, "operator-1")
		if r := e.confirmed("POST", "/api/v1/gateway/reports/"+idFix+"/void", op, `{"reason":"a merchant's office was wrong"}`, "void-fix"); r.status != 200 || r.body["report"].(map[string]any)["current"] != false {
			t.Fatalf("void: %d %v", r.status, r.body)
		}
		e.stepUp(op, "operator-1")
		if r := e.confirmed("POST", "/api/v1/gateway/reports/"+idA+"/void", op, `{"reason":"voided twice"}`, "void-again"); r.status != 409 || r.code() != "report_voided" {
			t.Fatalf("a second void: %d %v", r.status, r.body)
		}
		_, listed, _ = bureauA.reportsOf("quarter=" + quarter)
		if len(listed) != 2 || listed[idFix]["current"] != false || listed[idFix]["void_reason"] != "a merchant's office was wrong" {
			t.Fatalf("after the void: %v", listed)
		}
		// The staff see the same, with who issued and voided.
		reviewer := e.loginMFA("reviewer-1").body["token"].(string)
		r := e.call("GET", "/api/v1/gateway/reports/"+idFix, reviewer, "")
		if rep, _ := r.body["report"].(map[string]any); r.status != 200 || rep["voided_by"] == nil || rep["by"] == nil || rep["head"] == "" {
			t.Fatalf("the staff's record: %d %v", r.status, r.body)
		}
		if s, _, _ := e.downloadRaw("/api/v1/gateway/reports/"+idFix+"/body", reviewer); s != 403 {
			t.Fatalf("a reviewer downloads a report's bytes: %d", s)
		}
	})

	t.Run("queries", func(t *testing.T) {
		// A worker of its scope, by worker ID and by ID number alike.
		wa := bureauA.call("GET", "/gateway/v1/workers/"+w.wA, "")
		byNumber := bureauA.call("GET", "/gateway/v1/workers/"+workerstest.ID(501), "")
		id, _ := wa.body["identity"].(map[string]any)
		if wa.status != 200 || wa.body["id"] != w.wA || id["id_number"] != workerstest.ID(501) || len(wa.body["payments"].([]any)) != 1 ||
			byNumber.status != 200 || byNumber.body["id"] != w.wA {
			t.Fatalf("A's worker: %d %v / %d %v", wa.status, wa.body, byNumber.status, byNumber.body)
		}
		// Out of scope answers exactly as absent, whatever the identifier.
		absent := bureauA.call("GET", "/gateway/v1/workers/w_000000000000000000000000", "")
		if absent.status != 404 || absent.code() != "subject_not_visible" {
			t.Fatalf("an absent worker: %d %v", absent.status, absent.body)
		}
		for _, by := range []string{w.wB, workerstest.ID(502), workerstest.ID(9999)} {
			r := bureauA.call("GET", "/gateway/v1/workers/"+by, "")
			if r.status != 404 || fmt.Sprint(r.body) != fmt.Sprint(absent.body) {
				t.Errorf("B's worker as %s: %d %v, absent %v", by, r.status, r.body, absent.body)
			}
		}
		if r := bureauA.call("GET", "/gateway/v1/workers/not-an-id", ""); r.status != 400 || r.code() != "identifier_format" {
			t.Errorf("a malformed identifier: %d %v", r.status, r.body)
		}
		if r := bureauA.call("GET", "/gateway/v1/merchants/"+usccA, ""); r.status != 200 || r.body["id"] != w.idA {
			t.Errorf("A's merchant by its credit code: %d %v", r.status, r.body)
		}
		if r := bureauA.call("GET", "/gateway/v1/merchants/"+w.idB, ""); r.status != 404 || r.code() != "subject_not_visible" {
			t.Errorf("B's merchant: %d %v", r.status, r.body)
		}
		// The platform's office sees B's worker.
		if r := top.call("GET", "/gateway/v1/workers/"+w.wB, ""); r.status != 200 || r.body["id"] != w.wB {
			t.Errorf("the platform's office asks for B's worker: %d %v", r.status, r.body)
		}

		// A document, sealed to the calling client's registered key, opens
		// with the documented OpenSSL commands and that key alone.
		var ref, sm3 string
		for _, x := range wa.body["agreements"].([]any) {
			ag := x.(map[string]any)
			if ag["id"] == w.agreementA {
				d := ag["documents"].([]any)[0].(map[string]any)
				ref, sm3 = d["ref"].(string), d["sm3"].(string)
			}
		}
		if ref == "" {
			t.Fatalf("no agreement %s in %v", w.agreementA, wa.body["agreements"])
		}
		script, err := queriestest.Script("../..")
		if err != nil {
			t.Fatal(err)
		}
		sealed := func(b *bureau) []byte {
			t.Helper()
			s, _, raw := b.fetch("/gateway/v1/workers/" + w.wA + "/documents/" + ref)
			if s != 200 {
				t.Fatalf("the document for %s: %d %s", b.id, s, raw)
			}
			return raw
		}
		keyA, _ := bureauA.key.MarshalPEM()
		dir := t.TempDir()
		if err := queriestest.Save(dir, sealed(bureauA), keyA); err != nil {
			t.Fatal(err)
		}
		pdf, out, err := queriestest.Run(dir, script)
		sum := sm.Sum(pdf)
		if err != nil || !bytes.HasPrefix(pdf, []byte("%PDF")) || hex.EncodeToString(sum[:]) != sm3 {
			t.Fatalf("A opens the agreement: %v\n%s", err, out)
		}
		// The same document asked by the platform's office is sealed to
		// its key: A's does not open it.
		other := t.TempDir()
		queriestest.Save(other, sealed(top), keyA)
		if _, out, err := queriestest.Run(other, script); err == nil {
			t.Fatalf("A's key opened a document sealed to another client:\n%s", out)
		}
		// Of a worker out of scope: as absent. Another subject's: none.
		if r := bureauA.call("GET", "/gateway/v1/workers/"+w.wB+"/documents/"+ref, ""); r.status != 404 || r.code() != "subject_not_visible" {
			t.Errorf("a document of B's worker: %d %v", r.status, r.body)
		}
		if r := top.call("GET", "/gateway/v1/workers/"+w.wB+"/documents/"+ref, ""); r.status != 404 || r.code() != "document_not_found" {
			t.Errorf("A's worker's agreement asked of B's: %d %v", r.status, r.body)
		}
	})

	// Each call on the gateway listener is audited, the queries naming the
	// worker by ID, never the ID number asked with.
	byWorker := 0
	for _, x := range e.audited("") {
		if strings.Contains(x.Object, workerstest.ID(501)) || strings.Contains(x.Object, workerstest.ID(502)) {
			t.Errorf("an audit entry names an ID number: %+v", x)
		}
		if x.Action == "gateway.workers" && x.Subject == bureauA.id && x.Object == w.wA {
			byWorker++
		}
	}
	if byWorker != 2 { // asked by ID and by ID number
		t.Errorf("bureau A's queries of %s are audited %d times", w.wA, byWorker)
	}
}
