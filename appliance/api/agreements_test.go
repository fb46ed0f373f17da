package api_test

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"cxt/appliance/agreements"
	"cxt/appliance/esign"
	"cxt/appliance/notify"
	"cxt/crypto/sm"
	"cxt/storage/state"

	"cxt/appliance/esign/esigntest"
)

// smsBox is an SMS provider's webhook on loopback that keeps what it is
// sent.
type smsBox struct {
	mu   sync.Mutex
	msgs []map[string]string
}

func startSMS(t *testing.T) (*smsBox, string) {
	box := &smsBox{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var m map[string]string
		if err := json.NewDecoder(r.Body).Decode(&m); err != nil {
			http.Error(w, "bad body", http.StatusBadRequest)
			return
		}
		box.mu.Lock()
		box.msgs = append(box.msgs, m)
		box.mu.Unlock()
	}))
	t.Cleanup(srv.Close)
	return box, srv.URL
}

// count is how many messages with marker went to phone so far.
func (b *smsBox) count(phone, marker string) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	n := 0
	for _, m := range b.msgs {
		if m["to"] == phone && strings.Contains(m["text"], marker) {
			n++
		}
	}
	return n
}

// code waits for the (n+1)-th message to phone that carries marker and
// returns the code that follows it.
func (b *smsBox) code(t *testing.T, phone, marker string, n int) string {
	t.Helper()
	re := regexp.MustCompile(regexp.QuoteMeta(marker) + ` ([0-9]{6})`)
	var code string
	eventually(t, fmt.Sprintf("SMS %d with %q to %s", n+1, marker, phone), func() bool {
		b.mu.Lock()
		defer b.mu.Unlock()
		i := 0
		for _, m := range b.msgs {
			c := re.FindStringSubmatch(m["text"])
			if m["to"] != phone || c == nil {
				continue
			}
			if i == n {
				code = c[1]
				return true
			}
			i++
		}
		return false
	})
	return code
}

func sm3Of(b []byte) string { s := sm.Sum(b); return hex.EncodeToString(s[:]) }

// approvedMerchant has a merchant apply, its administrator sign in, and a
// reviewer approve it; it returns the merchant's ID and the admin's token.
// esignAuthority sets up the platform's e-signing authority as the
// system administrator sys, which agreements need first.
func (e *env) esignAuthority(sys string) {
	e.t.Helper()
	if r := e.call("POST", "/api/v1/esign/authority", sys, `{"platform_name":"诚薪通科技有限公司","platform_uscc":"91350100M000100Y43"}`); r.status != 201 {
		e.t.Fatalf("e-signing authority: %d %v", r.status, r.body)
	}
}

func (e *env) approvedMerchant(reviewer, name, uscc, username, phone string) (string, string) {
	e.t.Helper()
	r := e.call("POST", "/api/v1/merchants", "", application(name, uscc, username, phone))
	if r.status != 201 {
		e.t.Fatalf("apply %s: %d %v", name, r.status, r.body)
	}
	id := r.body["merchant"].(map[string]any)["id"].(string)
	admin := e.tenantSignIn(username, r.body["one_time_password"].(string))
	e.qualify(id, admin)
	if r := e.call("POST", "/api/v1/merchants/"+id+"/review", reviewer, `{"decision":"approve"}`); r.status != 200 {
		e.t.Fatalf("approve %s: %d %v", name, r.status, r.body)
	}
	return id, admin
}

// qualify has a merchant's administrator file what the qualification
// rules ask before an approval: a business licence and an officer.
func (e *env) qualify(id, admin string) {
	e.t.Helper()
	if r := e.upload("/api/v1/merchants/"+id+"/documents?kind=business_licence", admin, licencePDF); r.status != 201 {
		e.t.Fatalf("licence of %s: %d %v", id, r.status, r.body)
	}
	if r := e.call("PUT", "/api/v1/merchants/"+id+"/officers", admin, `{"officers":[{"name":"郑董事","id_number":"11010519491231002X","role":"director"}]}`); r.status != 200 {
		e.t.Fatalf("officers of %s: %d %v", id, r.status, r.body)
	}
}

// The merchant–platform cooperation agreement through the API: a system
// administrator sets up the e-signing authority, a platform operator
// starts the agreement of an approved merchant, the merchant's
// administrator reads the PDF and signs with an SMS code bound to its SM3,
// the operator signs for the platform with a TOTP code, the platform
// countersigns by itself, and the evidence package downloaded by the
// merchant verifies with the commands of docs/e-signing.md and stock OpenSSL.
// On the way, every bad signing is refused with its code and changes
// nothing.
func TestTheCooperationAgreementIsSignedOverTheAPIAndVerifiesWithOpenSSL(t *testing.T) {
	box, hook := startSMS(t)
	e := startWith(t, &notify.Config{SMSWebhook: hook})
	sec, _ := e.signInMFA("secadmin")
	sys := e.signIn("sysadmin")
	reviewer := e.staff(sec, "platform_reviewer", "reviewer-1")
	operator := e.staff(sec, "platform_operator", "operator-1")
	idA, bossA := e.approvedMerchant(reviewer, "福州某某科技有限公司", usccA, "boss-a", "13800001111")
	idB, bossB := e.approvedMerchant(reviewer, "太原某某服务有限公司", usccB, "boss-b", "13800002222")
	coop := `{"service_fee_rate":"6.00%","billing_timing":"realtime","start_date":"2026-03-01","end_date":"2029-02-28"}`

	// No agreement before the e-signing authority exists; it is set up once.
	if r := e.call("GET", "/api/v1/esign/authority", "", ""); r.status != 404 {
		t.Fatalf("the authority before set-up: %d %v", r.status, r.body)
	}
	if r := e.call("POST", "/api/v1/merchants/"+idA+"/agreements", operator, coop); r.status != 409 {
		t.Fatalf("an agreement without an authority: %d %v", r.status, r.body)
	}
	setUp := `{"platform_name":"诚薪通科技有限公司","platform_uscc":"91350100M000100Y43"}`
	if r := e.call("POST", "/api/v1/esign/authority", operator, setUp); r.status != 403 {
		t.Fatalf("an operator setting up the authority: %d %v", r.status, r.body)
	}
	auth := e.call("POST", "/api/v1/esign/authority", sys, setUp)
	if auth.status != 201 || auth.body["ca_fingerprint_sm3"] == "" || strings.Contains(fmt.Sprint(auth.body), "PRIVATE KEY") {
		t.Fatalf("set up: %d %v", auth.status, auth.body)
	}
	if r := e.call("POST", "/api/v1/esign/authority", sys, setUp); r.status != 409 {
		t.Fatalf("a second authority: %d %v", r.status, r.body)
	}
	if r := e.call("GET", "/api/v1/esign/authority", "", ""); r.status != 200 || r.body["ca_fingerprint_sm3"] != auth.body["ca_fingerprint_sm3"] {
		t.Fatalf("the published authority: %d %v", r.status, r.body)
	}

	// Starting it: bad terms, the wrong role, another tenant.
	for body, code := range map[string]string{
		`{"service_fee_rate":"6","billing_timing":"realtime","start_date":"2026-03-01","end_date":"2029-02-28"}`:          "invalid_request",
		`{"service_fee_rate":"6.00%","billing_timing":"weekly","start_date":"2026-03-01","end_date":"2029-02-28"}`:        "invalid_request",
		`{"service_fee_rate":"6.00%","billing_timing":"prepaid","start_date":"2029-03-01","end_date":"2026-02-28"}`:       "invalid_request",
		`{"service_fee_rate":"6.00%","billing_timing":"prepaid","start_date":"2026-03-01","end_date":"2029-02-28","x":1}`: "invalid_request",
	} {
		if r := e.call("POST", "/api/v1/merchants/"+idA+"/agreements", operator, body); r.status != 400 || r.code() != code {
			t.Errorf("%s: %d %v", body, r.status, r.body)
		}
	}
	if r := e.call("POST", "/api/v1/merchants/"+idA+"/agreements", bossA, coop); r.status != 403 {
		t.Fatalf("a merchant starting its own cooperation agreement: %d %v", r.status, r.body)
	}
	created := e.call("POST", "/api/v1/merchants/"+idA+"/agreements", operator, coop)
	if created.status != 201 || created.body["status"] != "signing" || created.body["kind"] != "cooperation" {
		t.Fatalf("start: %d %v", created.status, created.body)
	}
	id := created.body["id"].(string)
	docSM3 := created.body["document_sm3"].(string)
	if r := e.call("POST", "/api/v1/merchants/"+idA+"/agreements", operator, coop); r.status != 409 {
		t.Fatalf("a second cooperation agreement while the first is signed: %d %v", r.status, r.body)
	}
	if r := e.call("GET", "/api/v1/agreements", bossB, ""); len(r.body["agreements"].([]any)) != 0 {
		t.Fatalf("B lists A's agreement: %v", r.body)
	}

	// The merchant reads the PDF: the bytes on record, with Chinese text.
	status, typ, pdf := e.download("/api/v1/agreements/"+id+"/pdf", bossA)
	if status != 200 || typ != "application/pdf" || sm3Of(pdf) != docSM3 || !bytes.HasPrefix(pdf, []byte("%PDF-")) {
		t.Fatalf("PDF: %d %s, SM3 %s want %s", status, typ, sm3Of(pdf), docSM3)
	}
	if text := pdfText(t, pdf); !strings.Contains(text, "福州某某科技有限公司") || !strings.Contains(text, "6.00%") || !strings.Contains(text, "中间介绍型") {
		t.Fatalf("the PDF does not say the agreement:\n%s", text)
	}

	// A signing code goes by SMS to the merchant administrator's phone.
	if r := e.call("POST", "/api/v1/agreements/"+id+"/code", bossB, `{}`); r.status != 404 {
		t.Fatalf("B asking for a code for A's agreement: %d %v", r.status, r.body)
	}
	c1 := e.call("POST", "/api/v1/agreements/"+id+"/code", bossA, `{}`)
	if c1.status != 201 || c1.body["document_sm3"] != docSM3 || c1.body["sent_to"] != "138****1111" {
		t.Fatalf("code: %d %v", c1.status, c1.body)
	}
	code1 := box.code(t, "13800001111", "签署验证码", 0)
	if r := e.call("POST", "/api/v1/agreements/"+id+"/code", bossA, `{}`); r.status != 409 {
		t.Fatalf("a second code within a minute: %d %v", r.status, r.body)
	}
	signBody := func(sm3, codeID, code string) string {
		return fmt.Sprintf(`{"document_sm3":%q,"code_id":%q,"code":%q}`, sm3, codeID, code)
	}
	unchanged := func(what string, signed int) {
		t.Helper()
		r := e.call("GET", "/api/v1/agreements/"+id, operator, "")
		n := 0
		for _, p := range r.body["parties"].([]any) {
			if p.(map[string]any)["signed"] == true {
				n++
			}
		}
		if r.status != 200 || r.body["status"] != "signing" || n != signed || r.body["document_sm3"] != docSM3 {
			t.Fatalf("after %s the agreement changed: %v", what, r.body)
		}
	}

	// A modified PDF: the signer read other bytes than the ones on record.
	modified := append(bytes.Clone(pdf), '\n')
	if r := e.call("POST", "/api/v1/agreements/"+id+"/sign", bossA, signBody(sm3Of(modified), c1.body["code_id"].(string), code1)); r.status != 401 || r.code() != "authentication_mismatch" {
		t.Fatalf("signing a modified PDF: %d %v", r.status, r.body)
	}
	unchanged("a modified PDF", 0)
	// A wrong code.
	wrong := "000000"
	if code1 == wrong {
		wrong = "111111"
	}
	if r := e.call("POST", "/api/v1/agreements/"+id+"/sign", bossA, signBody(docSM3, c1.body["code_id"].(string), wrong)); r.status != 401 || r.code() != "invalid_credentials" {
		t.Fatalf("a wrong code: %d %v", r.status, r.body)
	}
	unchanged("a wrong code", 0)
	// Another tenant, with A's own code and the right SM3.
	if r := e.call("POST", "/api/v1/agreements/"+id+"/sign", bossB, signBody(docSM3, c1.body["code_id"].(string), code1)); r.status != 404 || r.code() != "not_found" {
		t.Fatalf("B signing A's agreement: %d %v", r.status, r.body)
	}
	if r := e.call("GET", "/api/v1/agreements/"+id, bossB, ""); r.status != 404 {
		t.Fatalf("B reading A's agreement: %d %v", r.status, r.body)
	}
	unchanged("another tenant", 0)
	// An expired code.
	e.clock.advance(agreements.CodeLifetime + time.Second)
	if r := e.call("POST", "/api/v1/agreements/"+id+"/sign", bossA, signBody(docSM3, c1.body["code_id"].(string), code1)); r.status != 401 || r.code() != "authentication_expired" {
		t.Fatalf("an expired code: %d %v", r.status, r.body)
	}
	unchanged("an expired code", 0)

	// A fresh code signs.
	c2 := e.call("POST", "/api/v1/agreements/"+id+"/code", bossA, `{}`)
	code2 := box.code(t, "13800001111", "签署验证码", 1)
	if c2.status != 201 {
		t.Fatalf("second code: %d %v", c2.status, c2.body)
	}
	good := signBody(docSM3, c2.body["code_id"].(string), code2)
	if r := e.call("POST", "/api/v1/agreements/"+id+"/sign", bossA, good); r.status != 200 || r.body["status"] != "signing" || r.body["signature_sm3"] == "" {
		t.Fatalf("sign: %d %v", r.status, r.body)
	}
	// The same code again: the state is the ledger.
	if r := e.call("POST", "/api/v1/agreements/"+id+"/sign", bossA, good); r.status != 401 || r.code() != "authentication_reused" {
		t.Fatalf("a replayed code: %d %v", r.status, r.body)
	}
	unchanged("a replayed code", 1)
	if r := e.call("GET", "/api/v1/agreements/"+id+"/evidence", bossA, ""); r.status != 409 || r.code() != "signing_incomplete" {
		t.Fatalf("the evidence before everyone signed: %d %v", r.status, r.body)
	}

	// The platform signs with its operator's authenticator; the platform
	// countersigns at once.
	totp := e.code(e.secrets["operator-1"])
	if r := e.call("POST", "/api/v1/agreements/"+id+"/sign", operator, fmt.Sprintf(`{"document_sm3":%q,"totp":%q}`, sm3Of(modified), totp)); r.status != 401 || r.code() != "authentication_mismatch" {
		t.Fatalf("the platform signing a modified PDF: %d %v", r.status, r.body)
	}
	totp = e.code(e.secrets["operator-1"])
	done := e.call("POST", "/api/v1/agreements/"+id+"/sign", operator, fmt.Sprintf(`{"document_sm3":%q,"totp":%q}`, docSM3, totp))
	if done.status != 200 || done.body["status"] != "complete" || done.body["evidence_sm3"] == "" {
		t.Fatalf("the platform's signature: %d %v", done.status, done.body)
	}
	if r := e.call("POST", "/api/v1/agreements/"+id+"/sign", operator, fmt.Sprintf(`{"document_sm3":%q,"totp":%q}`, docSM3, totp)); r.status != 409 || r.code() != "already_signed" {
		t.Fatalf("signing twice: %d %v", r.status, r.body)
	}

	// The evidence package, as the merchant downloads it, verifies with
	// the documented OpenSSL commands alone, and with the Go verifier.
	status, typ, pkg := e.download("/api/v1/agreements/"+id+"/evidence", bossA)
	if status != 200 || typ != "application/zip" || sm3Of(pkg) != done.body["evidence_sm3"] {
		t.Fatalf("evidence: %d %s", status, typ)
	}
	dir := esigntest.Extract(t, pkg)
	out, err := esigntest.Run(t, dir)
	if err != nil || !strings.HasSuffix(out, "All checks passed.\n") || strings.Count(out, "Verified OK") != 5 {
		t.Fatalf("openssl: %v\n%s", err, out)
	}
	if fp := strings.ToLower(strings.ReplaceAll(out, ":", "")); !strings.Contains(fp, auth.body["ca_fingerprint_sm3"].(string)) {
		t.Fatalf("the script did not print the published CA fingerprint %s:\n%s", auth.body["ca_fingerprint_sm3"], out)
	}
	if contract, _ := os.ReadFile(filepath.Join(dir, "contract.pdf")); !bytes.Equal(contract, pdf) {
		t.Fatal("contract.pdf is not the PDF the merchant read")
	}
	ca, err := sm.ParseCertificatePEM([]byte(auth.body["ca"].(string)))
	if err != nil {
		t.Fatal(err)
	}
	rep, err := esign.Verify(pkg, ca)
	if err != nil || len(rep.Signers) != 2 || rep.Signers[0].Subject != idA || rep.Signers[0].AuthenticationMethod != "sms" ||
		rep.Signers[1].Subject != "platform" || rep.Signers[1].AuthenticationMethod != "totp" || rep.Contract.TemplateID != "merchant-cooperation" {
		t.Fatalf("Go verifier: %v %+v", err, rep)
	}
	var auth1 esign.Proof
	raw, _ := os.ReadFile(filepath.Join(dir, "signers/1.auth.json"))
	if json.Unmarshal(raw, &auth1); auth1.DocumentSM3 != docSM3 || auth1.Account == "" || auth1.ID != c2.body["code_id"] {
		t.Fatalf("the merchant's authentication event: %+v", auth1)
	}

	// The merchant's record now names its agreement; the next one may start.
	var m map[string]any
	e.n.Cluster().ReadBarrier(t.Context())
	e.n.Cluster().State().View(func(tx *state.ReadTx) error {
		b, err := tx.Get("merchants", []byte(idA))
		json.Unmarshal(b, &m)
		return err
	})
	if m["agreement"] != id {
		t.Fatalf("the merchant's record: %v", m["agreement"])
	}
	eventually(t, "the signers are told", func() bool {
		return strings.Contains(fmt.Sprint(e.call("GET", "/api/v1/me/notifications", bossA, "").body), "agreement.complete")
	})

	// A tripartite agreement needs a worker the node knows: none yet.
	if r := e.call("POST", "/api/v1/merchants/"+idA+"/workers/w_0000000000000000/agreements", bossA,
		`{"service_description":"同城配送","start_date":"2026-03-01","end_date":"2027-02-28"}`); r.status != 404 || r.code() != "not_found" {
		t.Fatalf("a tripartite agreement with an unknown worker: %d %v", r.status, r.body)
	}
	if r := e.call("POST", "/api/v1/merchants/"+idB+"/workers/w_0000000000000000/agreements", bossA,
		`{"service_description":"同城配送","start_date":"2026-03-01","end_date":"2027-02-28"}`); r.status != 404 {
		t.Fatalf("A starting one for B: %d %v", r.status, r.body)
	}
	// The private keys are nowhere in the clear in the state.
	if e.stored("PRIVATE KEY", agreements.AuthorityBucket) || e.stored("PRIVATE KEY", agreements.SignerKeysBucket) {
		t.Fatal("a private key is stored in the clear")
	}
}

// pdfText extracts a PDF's text with poppler's pdftotext.
func pdfText(t *testing.T, pdf []byte) string {
	t.Helper()
	cmd := exec.Command("pdftotext", "-enc", "UTF-8", "-", "-")
	cmd.Stdin = bytes.NewReader(pdf)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("pdftotext (make deps installs poppler-utils): %v", err)
	}
	return string(out)
}
