package esign

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"cxt/appliance/contracts"
	"cxt/appliance/errs"
	"cxt/crypto/sm"
	"cxt/crypto/subjectkey"

	"cxt/appliance/esign/esigntest"
)

// world is an appliance's e-signing keys, a merchant and a worker with
// subject keys and signer keys, and a rendered tripartite contract.
type world struct {
	ca       Authority
	tsa      *TSA
	platform *Platform
	clock    time.Time
	subjects map[string]*subjectkey.Key
	keys     map[string]*SealedKey
	contract Contract
	parties  []Party
	ledger   *MemoryLedger
}

var t0 = time.Date(2026, 3, 1, 1, 30, 0, 0, time.UTC)

func newWorld(t testing.TB) *world {
	t.Helper()
	caKey, _ := sm.GenerateKey()
	caCert, err := sm.NewCA(caKey, "cxt e-signing CA", t0.Add(-24*time.Hour), t0.Add(10*365*24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	w := &world{ca: Authority{Cert: caCert, Key: caKey}, clock: t0, subjects: map[string]*subjectkey.Key{}, keys: map[string]*SealedKey{}, ledger: NewMemoryLedger()}
	if w.tsa, err = NewTSA(w.ca, "cxt TSA", t0.Add(-time.Hour), 5*365*24*time.Hour); err != nil {
		t.Fatal(err)
	}
	w.tsa.Now = func() time.Time { return w.clock.Add(2 * time.Second) }
	if w.platform, err = NewPlatform(w.ca, "诚薪通科技有限公司", t0.Add(-time.Hour), 5*365*24*time.Hour); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"m_yunfan", "w_zhangwei"} {
		k, _, err := subjectkey.New(id)
		if err != nil {
			t.Fatal(err)
		}
		w.subjects[id] = k
		if w.keys[id], err = NewSignerKey(w.ca, k, t0.Add(-time.Hour)); err != nil {
			t.Fatal(err)
		}
	}
	r, err := contracts.NewRenderer(contracts.DefaultFonts)
	if err != nil {
		t.Fatalf("%v (make deps installs the fonts)", err)
	}
	tmpl := builtin(t, "tripartite-service")
	rd, err := r.Render(contracts.Contract{ID: "C-2026-0001", Template: tmpl, Values: values, Created: t0})
	if err != nil {
		t.Fatal(err)
	}
	w.contract = Contract{ID: "C-2026-0001", Title: rd.Text.Title, TemplateID: tmpl.ID, TemplateVersion: tmpl.Version, TemplateSM3: tmpl.Digest(), PDF: rd.PDF}
	w.parties = []Party{
		{Role: RolePlatform, Subject: PlatformSubject, Name: values["platform_name"]},
		{Role: RoleMerchant, Subject: "m_yunfan", Name: values["merchant_name"]},
		{Role: RoleWorker, Subject: "w_zhangwei", Name: values["worker_name"]},
	}
	return w
}

var values = map[string]string{
	"platform_name":       "诚薪通科技有限公司",
	"platform_uscc":       "91110108MA01ABCD2X",
	"merchant_name":       "杭州云帆物流有限公司",
	"merchant_uscc":       "91330106MA2B3C4D5E",
	"worker_name":         "张伟",
	"worker_id_number":    "11010519491231002X",
	"service_description": "同城配送（骑手），按单计酬",
	"start_date":          "2026-03-01",
	"end_date":            "2027-02-28",
}

func builtin(t testing.TB, id string) contracts.Template {
	ts, err := contracts.Builtin()
	if err != nil {
		t.Fatal(err)
	}
	for _, tmpl := range ts {
		if tmpl.ID == id {
			return tmpl
		}
	}
	t.Fatalf("no template %s", id)
	return contracts.Template{}
}

var proofs int

// proof is what the API layer hands over after verifying a code that was
// bound to doc, one minute before w.clock.
func (w *world) proof(subject, doc string) Proof {
	proofs++
	return Proof{
		ID: fmt.Sprintf("auth-%d", proofs), Subject: subject, Account: "acct-" + subject, Method: MethodSMS,
		DocumentSM3: doc, VerifiedAt: w.clock.Add(-time.Minute), ExpiresAt: w.clock.Add(2 * time.Minute), Source: "203.0.113.7",
	}
}

// cooperation switches w to the merchant–platform cooperation agreement,
// which the platform and the merchant sign.
func (w *world) cooperation(t testing.TB) {
	t.Helper()
	r, err := contracts.NewRenderer(contracts.DefaultFonts)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := builtin(t, "merchant-cooperation")
	rd, err := r.Render(contracts.Contract{ID: "M-2026-0007", Template: tmpl, Created: t0, Values: map[string]string{
		"platform_name": values["platform_name"], "platform_uscc": values["platform_uscc"],
		"merchant_name": values["merchant_name"], "merchant_uscc": values["merchant_uscc"],
		"operating_model": "中间介绍型", "service_fee_rate": "6.00%", "billing_timing": "实时",
		"start_date": "2026-03-01", "end_date": "2029-02-28",
	}})
	if err != nil {
		t.Fatal(err)
	}
	w.contract = Contract{ID: "M-2026-0007", Title: rd.Text.Title, TemplateID: tmpl.ID, TemplateVersion: tmpl.Version, TemplateSM3: tmpl.Digest(), PDF: rd.PDF}
	w.parties = w.parties[:2]
}

// signAll has every party sign, a minute apart, and seals the package.
func (w *world) signAll(t testing.TB) (*Session, []byte) {
	t.Helper()
	s, err := NewSession(w.contract, w.parties)
	if err != nil {
		t.Fatal(err)
	}
	doc := s.DocumentSM3()
	if _, err := s.SignAsPlatform(w.platform, w.proof(PlatformSubject, doc), w.ledger, w.tsa, w.clock); err != nil {
		t.Fatal(err)
	}
	for _, p := range w.parties[1:] {
		id := p.Subject
		w.clock = w.clock.Add(time.Minute)
		if _, err := s.SignAsSubject(w.keys[id], w.subjects[id], w.proof(id, doc), w.ledger, w.tsa, w.clock); err != nil {
			t.Fatal(err)
		}
	}
	w.clock = w.clock.Add(time.Minute)
	pkg, err := s.Seal(w.ca.Cert, w.tsa.Cert, w.platform, w.clock)
	if err != nil {
		t.Fatal(err)
	}
	return s, pkg
}

// rezip packs a folder back into a package, for the Go verifier.
func rezip(t testing.TB, dir string) []byte {
	t.Helper()
	files := map[string][]byte{}
	filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
		if err == nil && !info.IsDir() {
			rel, _ := filepath.Rel(dir, p)
			b, _ := os.ReadFile(p)
			files[filepath.ToSlash(rel)] = b
		}
		return err
	})
	pkg, err := Zip(files, t0)
	if err != nil {
		t.Fatal(err)
	}
	return pkg
}

func TestTheDocumentedScriptIsTheOneInThePackage(t *testing.T) {
	if got := esigntest.Script(t); got != VerifyScript {
		t.Fatalf("docs/e-signing.md's script differs from esign.VerifyScript:\n%s", got)
	}
}

// The whole flow: the platform, the merchant and the worker sign the
// tripartite agreement, the package is sealed, downloaded, unzipped, and
// verified by OpenSSL running the exact commands of docs/e-signing.md — and
// by the Go verifier.
func TestASealedPackageVerifiesWithOpenSSLAlone(t *testing.T) {
	w := newWorld(t)
	s, pkg := w.signAll(t)
	if out := os.Getenv("CXT_EVIDENCE_ZIP"); out != "" { // to look at by hand
		if err := os.WriteFile(out, pkg, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	dir := esigntest.Extract(t, pkg)

	var names []string
	filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
		if !info.IsDir() {
			rel, _ := filepath.Rel(dir, p)
			names = append(names, rel)
		}
		return nil
	})
	want := []string{"VERIFY.md", "ca.pem", "contract.pdf", "manifest.json", "manifest.sig", "platform.cert.pem"}
	for n := 1; n <= 3; n++ {
		want = append(want, fmt.Sprintf("signers/%d.auth.json", n), fmt.Sprintf("signers/%d.cert.pem", n), fmt.Sprintf("signers/%d.sig", n))
	}
	for n := 1; n <= 3; n++ {
		want = append(want, fmt.Sprintf("timestamps/%d.json", n), fmt.Sprintf("timestamps/%d.sig", n))
	}
	want = append(want, "tsa.cert.pem")
	if strings.Join(names, " ") != strings.Join(want, " ") {
		t.Fatalf("the package holds\n%v\nwant\n%v", names, want)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "contract.pdf")); !bytes.Equal(b, w.contract.PDF) {
		t.Fatal("contract.pdf is not the signed PDF")
	}

	out, err := esigntest.Run(t, dir)
	if err != nil || !strings.HasSuffix(out, "All checks passed.\n") {
		t.Fatalf("openssl: %v\n%s", err, out)
	}
	// 1 countersignature + 3 signatures + 3 time stamps; 1 platform + 1 TSA + 3 signer certificates.
	if n := strings.Count(out, "Verified OK"); n != 7 {
		t.Errorf("%d signatures verified, want 7:\n%s", n, out)
	}
	if n := strings.Count(out, ".pem: OK"); n != 5 {
		t.Errorf("%d certificates verified, want 5:\n%s", n, out)
	}
	if fp := strings.ToLower(strings.ReplaceAll(out[strings.Index(out, "Fingerprint=")+12:strings.Index(out, "\n2.")], ":", "")); fp != w.ca.Cert.Fingerprint() {
		t.Errorf("the script printed CA fingerprint %s, want %s", fp, w.ca.Cert.Fingerprint())
	}
	for _, s := range []string{"CN=m_yunfan", "CN=w_zhangwei", "CN=诚薪通科技有限公司"} {
		if !strings.Contains(out, s) {
			t.Errorf("the script did not show signer %q:\n%s", s, out)
		}
	}

	rep, err := Verify(pkg, w.ca.Cert)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Contract.SM3 != s.DocumentSM3() || len(rep.Signers) != 3 || rep.Signers[2].Subject != "w_zhangwei" || rep.Signers[2].AuthenticationMethod != MethodSMS {
		t.Fatalf("report %+v", rep)
	}
	if rep.Contract.TemplateID != "tripartite-service" || rep.Contract.TemplateVersion != 1 || rep.Contract.TemplateSM3 != w.contract.TemplateSM3 {
		t.Fatalf("the report does not name the template: %+v", rep.Contract)
	}
	md, _ := os.ReadFile(filepath.Join(dir, "VERIFY.md"))
	if !strings.Contains(string(md), VerifyScript) || !strings.Contains(string(md), w.ca.Cert.Fingerprint()) {
		t.Fatal("VERIFY.md lacks the script or the CA fingerprint")
	}
	var m Manifest
	raw, _ := os.ReadFile(filepath.Join(dir, "manifest.json"))
	if err := json.Unmarshal(raw, &m); err != nil || len(m.Files) != 20 {
		t.Fatalf("manifest: %v, %d files", err, len(m.Files))
	}
}

func TestTheCooperationAgreementGoesThroughTheSameSigning(t *testing.T) {
	w := newWorld(t)
	w.cooperation(t)
	_, pkg := w.signAll(t)
	out, err := esigntest.Run(t, esigntest.Extract(t, pkg))
	if err != nil || !strings.HasSuffix(out, "All checks passed.\n") || strings.Count(out, "Verified OK") != 5 {
		t.Fatalf("openssl: %v\n%s", err, out)
	}
	rep, err := Verify(pkg, w.ca.Cert)
	if err != nil || rep.Contract.TemplateID != "merchant-cooperation" || len(rep.Signers) != 2 || rep.Signers[1].Role != RoleMerchant {
		t.Fatalf("%+v %v", rep, err)
	}
}

// resign is an insider with the platform's key: it rewrites the manifest
// to list the files as they now are and countersigns it again.
func (w *world) resign(t testing.TB, dir string, edit func(*Manifest)) {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(dir, "manifest.json"))
	if err != nil {
		t.Fatal(err)
	}
	var m Manifest
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	if edit != nil {
		edit(&m)
	}
	m.Files = map[string]string{}
	filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
		rel, _ := filepath.Rel(dir, p)
		if !info.IsDir() && rel != "manifest.json" && rel != "manifest.sig" {
			b, _ := os.ReadFile(p)
			m.Files[filepath.ToSlash(rel)] = sm3hex(b)
		}
		return nil
	})
	if b, err := os.ReadFile(filepath.Join(dir, "contract.pdf")); err == nil {
		m.Contract.SM3, m.Contract.Size = sm3hex(b), len(b)
	}
	out, _ := json.MarshalIndent(m, "", "  ")
	out = append(out, '\n')
	sig, _ := w.platform.Key.Sign(out)
	os.WriteFile(filepath.Join(dir, "manifest.json"), out, 0o644)
	os.WriteFile(filepath.Join(dir, "manifest.sig"), sig, 0o644)
}

func modifyPDF(t testing.TB, dir string) {
	p := filepath.Join(dir, "contract.pdf")
	b, _ := os.ReadFile(p)
	// Change the worker's fee clause as a forger would: same length, other bytes.
	b = bytes.Replace(b, []byte("/Title"), []byte("/TitlE"), 1)
	os.WriteFile(p, b, 0o644)
}

// Every way of changing a sealed package that we can think of fails both
// the documented OpenSSL commands and the Go verifier, even for an insider
// who holds the platform's key and re-countersigns the manifest.
func TestATamperedPackageFailsOpenSSLAndTheGoVerifier(t *testing.T) {
	w := newWorld(t)
	_, pkg := w.signAll(t)
	other := newWorld(t) // another appliance, its own CA
	_, foreign := other.signAll(t)

	for _, c := range []struct {
		name   string
		tamper func(dir string)
		goErr  string // what the Go verifier names
		ssl    string // where the OpenSSL script stops
		ok     int    // how many signatures OpenSSL verified before it stopped
	}{
		{"a modified PDF", func(dir string) { modifyPDF(t, dir) }, "contract.pdf is not the file", "contract.pdf: not the file manifest.json lists", 0},
		{"a modified PDF with the manifest's hashes updated", func(dir string) {
			modifyPDF(t, dir)
			raw, _ := os.ReadFile(filepath.Join(dir, "manifest.json"))
			var m Manifest
			json.Unmarshal(raw, &m)
			b, _ := os.ReadFile(filepath.Join(dir, "contract.pdf"))
			m.Files["contract.pdf"], m.Contract.SM3 = sm3hex(b), sm3hex(b)
			out, _ := json.MarshalIndent(m, "", "  ")
			os.WriteFile(filepath.Join(dir, "manifest.json"), append(out, '\n'), 0o644)
		}, "countersignature does not verify", "Verification failure", 0},
		{"a modified PDF re-countersigned by the platform", func(dir string) {
			modifyPDF(t, dir)
			w.resign(t, dir, nil)
		}, "signer 1 (platform): the signature does not verify", "Verification failure", 1},
		{"a swapped signer certificate", func(dir string) {
			b, _ := os.ReadFile(filepath.Join(dir, "signers/2.cert.pem"))
			os.WriteFile(filepath.Join(dir, "signers/3.cert.pem"), b, 0o644)
		}, "signers/3.cert.pem is not the file", "signers/3.cert.pem: not the file manifest.json lists", 0},
		{"a swapped signer certificate, re-countersigned", func(dir string) {
			// Another key of the worker's, from the same CA.
			k, _ := NewSignerKey(w.ca, w.subjects["w_zhangwei"], t0.Add(-time.Hour))
			os.WriteFile(filepath.Join(dir, "signers/3.cert.pem"), pemOf(k.Certificate), 0o644)
			w.resign(t, dir, nil)
		}, "signer 3 (w_zhangwei): the signature does not verify", "Verification failure", 5},
		{"signatures swapped between signers, re-countersigned", func(dir string) {
			a, _ := os.ReadFile(filepath.Join(dir, "signers/2.sig"))
			b, _ := os.ReadFile(filepath.Join(dir, "signers/3.sig"))
			os.WriteFile(filepath.Join(dir, "signers/2.sig"), b, 0o644)
			os.WriteFile(filepath.Join(dir, "signers/3.sig"), a, 0o644)
			w.resign(t, dir, nil)
		}, "signer 2 (m_yunfan): the signature does not verify", "Verification failure", 3},
		{"an edited manifest", func(dir string) {
			p := filepath.Join(dir, "manifest.json")
			b, _ := os.ReadFile(p)
			os.WriteFile(p, bytes.Replace(b, []byte(`"name": "张伟"`), []byte(`"name": "李娜"`), 1), 0o644)
		}, "countersignature does not verify", "Verification failure", 0},
		{"a signer removed, re-countersigned", func(dir string) {
			for _, f := range []string{"signers/3.cert.pem", "signers/3.sig", "signers/3.auth.json", "timestamps/3.json", "timestamps/3.sig"} {
				os.Remove(filepath.Join(dir, f))
			}
			w.resign(t, dir, nil)
		}, "signer 3: signers/3.cert.pem is missing", "Unable to load certificate", 5},
		{"a file added", func(dir string) {
			os.WriteFile(filepath.Join(dir, "signers/4.sig"), []byte("x"), 0o644)
		}, "signers/4.sig is not listed", "files here that manifest.json does not list", 0},
		// The red team's: a file named like the two the manifest does not
		// list, but elsewhere, used to pass the count.
		{"a manifest.json copied into a folder", func(dir string) {
			b, _ := os.ReadFile(filepath.Join(dir, "manifest.json"))
			os.WriteFile(filepath.Join(dir, "signers/manifest.json"), b, 0o644)
		}, "signers/manifest.json is not listed", "files here that manifest.json does not list", 0},
		{"a time stamp of another signature, re-countersigned", func(dir string) {
			for _, ext := range []string{".json", ".sig"} {
				b, _ := os.ReadFile(filepath.Join(dir, "timestamps/2"+ext))
				os.WriteFile(filepath.Join(dir, "timestamps/3"+ext), b, 0o644)
			}
			w.resign(t, dir, func(m *Manifest) { m.Signers[2].TimestampedAt = m.Signers[1].TimestampedAt })
		}, "time stamp 3 is for another signature", "time stamp 3 is for another signature", 7},
		{"a time stamp signed by a signer's key, re-countersigned", func(dir string) {
			b, _ := os.ReadFile(filepath.Join(dir, "timestamps/1.json"))
			sig, _ := w.platform.Key.Sign(b)
			os.WriteFile(filepath.Join(dir, "timestamps/1.sig"), sig, 0o644)
			w.resign(t, dir, nil)
		}, "time stamp 1: the TSA's signature does not verify", "Verification failure", 2},
		{"authentication for another document, re-countersigned", func(dir string) {
			p := filepath.Join(dir, "signers/3.auth.json")
			b, _ := os.ReadFile(p)
			var pr Proof
			json.Unmarshal(b, &pr)
			pr.DocumentSM3 = strings.Repeat("0", 64)
			out, _ := json.MarshalIndent(pr, "", "  ")
			os.WriteFile(p, append(out, '\n'), 0o644)
			w.resign(t, dir, nil)
		}, "signer 3 authenticated for another document", "signer 3 authenticated for another document", 6},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := esigntest.Extract(t, pkg)
			c.tamper(dir)
			out, err := esigntest.Run(t, dir)
			if err == nil || strings.Contains(out, "All checks passed.") {
				t.Errorf("openssl accepted it:\n%s", out)
			}
			if !strings.Contains(out, c.ssl) || strings.Count(out, "Verified OK") != c.ok {
				t.Errorf("openssl stopped elsewhere than at %q after %d signatures:\n%s", c.ssl, c.ok, out)
			}
			_, err = Verify(rezip(t, dir), w.ca.Cert)
			if e := errs.Of(err); e.Code != CodeEvidenceInvalid || e.Kind.Status() != 400 || !strings.Contains(err.Error(), c.goErr) {
				t.Errorf("Go verifier: %v; want %s naming %q", err, CodeEvidenceInvalid, c.goErr)
			}
		})
	}

	// A package from another appliance is internally sound — OpenSSL
	// passes it and prints its CA's fingerprint, which is not ours — and
	// the Go verifier, given our CA, refuses it.
	out, err := esigntest.Run(t, esigntest.Extract(t, foreign))
	if err != nil || strings.Contains(strings.ToLower(strings.ReplaceAll(out, ":", "")), w.ca.Cert.Fingerprint()) {
		t.Fatalf("foreign package: %v\n%s", err, out)
	}
	if _, err := Verify(foreign, w.ca.Cert); err == nil || !strings.Contains(err.Error(), "not this appliance's CA") {
		t.Fatalf("a foreign CA's package: %v", err)
	}
	if _, err := Verify([]byte("not a zip"), nil); errs.Of(err).Code != CodeEvidenceInvalid {
		t.Fatalf("garbage: %v", err)
	}
}

// Refusals leave the session as it was; a proof is consumed only when every
// check before the key was opened passed.
func TestSigningRefusesStaleReusedAndMisboundCodes(t *testing.T) {
	w := newWorld(t)
	s, err := NewSession(w.contract, w.parties)
	if err != nil {
		t.Fatal(err)
	}
	doc := s.DocumentSM3()
	worker := func(p Proof, now time.Time) error {
		_, err := s.SignAsSubject(w.keys["w_zhangwei"], w.subjects["w_zhangwei"], p, w.ledger, w.tsa, now)
		return err
	}
	modified := append(bytes.Clone(w.contract.PDF), '\n')
	for _, c := range []struct {
		name   string
		proof  func() Proof
		now    time.Time
		code   string
		status int
	}{
		{"no proof", func() Proof { return Proof{} }, w.clock, CodeAuthenticationRequired, 401},
		{"an expired code", func() Proof { return w.proof("w_zhangwei", doc) }, w.clock.Add(2 * time.Minute), CodeAuthenticationExpired, 401},
		{"a code bound to a modified PDF", func() Proof { return w.proof("w_zhangwei", sm3hex(modified)) }, w.clock, CodeAuthenticationMismatch, 401},
		{"another signer's code", func() Proof { return w.proof("m_yunfan", doc) }, w.clock, CodeAuthenticationMismatch, 401},
		{"a proof that claims to live an hour", func() Proof {
			p := w.proof("w_zhangwei", doc)
			p.ExpiresAt = p.VerifiedAt.Add(time.Hour)
			return p
		}, w.clock, CodeAuthenticationRequired, 401},
		{"an unknown method", func() Proof {
			p := w.proof("w_zhangwei", doc)
			p.Method = "password"
			return p
		}, w.clock, CodeAuthenticationRequired, 401},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := c.proof()
			err := worker(p, c.now)
			if e := errs.Of(err); e.Code != c.code || e.Kind.Status() != c.status {
				t.Fatalf("%v; want %d %s", err, c.status, c.code)
			}
			if len(s.Signatures) != 0 {
				t.Fatal("a refused signing left a signature")
			}
			if p.ID != "" {
				if err := w.ledger.Consume(p, w.clock); err != nil {
					t.Fatal("a refused proof was consumed")
				}
			}
		})
	}

	good := w.proof("w_zhangwei", doc)
	if err := worker(good, w.clock); err != nil {
		t.Fatal(err)
	}
	// The same code again, for the same contract or another one.
	if err := worker(good, w.clock); errs.Of(err).Code != CodeAlreadySigned {
		t.Fatalf("signing twice: %v", err)
	}
	s2, _ := NewSession(w.contract, w.parties)
	if _, err := s2.SignAsSubject(w.keys["w_zhangwei"], w.subjects["w_zhangwei"], good, w.ledger, w.tsa, w.clock); errs.Of(err).Code != CodeAuthenticationReused || errs.Of(err).Kind.Status() != 401 {
		t.Fatalf("a reused code: %v", err)
	}
	if len(s2.Signatures) != 0 || len(s.Signatures) != 1 {
		t.Fatal("a refused signing changed a session")
	}
	// Not a party; sealing before everyone signed.
	stranger, _, _ := subjectkey.New("w_stranger")
	sk, _ := NewSignerKey(w.ca, stranger, t0)
	if _, err := s.SignAsSubject(sk, stranger, w.proof("w_stranger", doc), w.ledger, w.tsa, w.clock); errs.Of(err).Code != CodeNotAParty || errs.Of(err).Kind.Status() != 403 {
		t.Fatalf("a stranger: %v", err)
	}
	if _, err := s.Seal(w.ca.Cert, w.tsa.Cert, w.platform, w.clock); errs.Of(err).Code != CodeSigningIncomplete || !strings.Contains(err.Error(), "platform, m_yunfan") {
		t.Fatalf("sealing early: %v", err)
	}
}

// A signer's key opens only under its subject's key and only paired with
// its own certificate; a shredded subject's key is gone with the subject.
func TestASignerKeyOpensOnlyUnderItsSubjectAndCertificate(t *testing.T) {
	w := newWorld(t)
	worker, merchant := w.keys["w_zhangwei"], w.keys["m_yunfan"]
	if _, _, err := worker.open(w.subjects["w_zhangwei"]); err != nil {
		t.Fatal(err)
	}
	if _, _, err := worker.open(w.subjects["m_yunfan"]); err == nil {
		t.Fatal("the worker's key opened under the merchant's subject key")
	}
	swapped := *worker
	swapped.Certificate = merchant.Certificate
	if _, _, err := swapped.open(w.subjects["w_zhangwei"]); err == nil {
		t.Fatal("the worker's key opened paired with the merchant's certificate")
	}
	// The same subject ID under a new key (a subject re-created after a shred).
	again, _, _ := subjectkey.New("w_zhangwei")
	if _, _, err := worker.open(again); err == nil {
		t.Fatal("the key opened under another key of the same subject")
	}
	if bytes.Contains(worker.Sealed, []byte("PRIVATE KEY")) {
		t.Fatal("the sealed key is in the clear")
	}
	c, _ := sm.ParseCertificate(worker.Certificate)
	if c.CommonName() != "w_zhangwei" || c.VerifyIssuedBy(w.ca.Cert, t0) != nil || c.TimeStamping() {
		t.Fatal("the signer's certificate does not name the signer or does not chain")
	}
}

func TestCheckSignatureRefusesAModifiedPDF(t *testing.T) {
	w := newWorld(t)
	s, _ := w.signAll(t)
	sig := s.Signatures[2]
	c, _ := sm.ParseCertificate(sig.Certificate)
	if err := CheckSignature(c, w.contract.PDF, sig.Value); err != nil {
		t.Fatal(err)
	}
	modified := append(bytes.Clone(w.contract.PDF), ' ')
	if e := errs.Of(CheckSignature(c, modified, sig.Value)); e.Code != CodeSignatureInvalid || e.Kind.Status() != 400 {
		t.Fatalf("a modified PDF: %v", e)
	}
}

// Every code the e-signing packages return has a row in docs/errors.md
// with its kind's status.
func TestEveryCodeIsDocumented(t *testing.T) {
	doc, err := os.ReadFile("../../docs/errors.md")
	if err != nil {
		t.Fatal(err)
	}
	row := regexp.MustCompile("(?m)^\\| `([a-z_]+)` \\| (\\d+) \\|")
	status := map[string]string{}
	for _, m := range row.FindAllStringSubmatch(string(doc), -1) {
		status[m[1]] = m[2]
	}
	for _, codes := range []map[string]errs.Kind{Codes, contracts.Codes} {
		for code, kind := range codes {
			if got, want := status[code], fmt.Sprint(kind.Status()); got != want {
				t.Errorf("docs/errors.md gives %q status %q, want %s", code, got, want)
			}
		}
	}
}
