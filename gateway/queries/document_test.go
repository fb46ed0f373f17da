package queries_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"cxt/appliance/subjects"
	"cxt/crypto/sm"
	"cxt/gateway/queries"
	"cxt/gateway/queries/queriestest"
)

// document asks for a document of a worker or merchant, sealed to a fresh
// key; the key is returned to open it.
func (w *world) document(scope queries.Scope, of, by, ref string) (*queries.SealedDocument, error) {
	k, err := sm.GenerateKey()
	if err != nil {
		w.t.Fatal(err)
	}
	return w.documentTo(scope, of, by, ref, k.Public())
}

func (w *world) documentTo(scope queries.Scope, of, by, ref string, to *sm.PublicKey) (*queries.SealedDocument, error) {
	return queries.Document(context.Background(), w.State.View, w.Keys, w.store, scope, queries.Of(of), queries.Identifier(by), ref, to)
}

// The documented OpenSSL commands open every kind of document — an
// agreement's PDF under the platform's key, a merchant's licence and a
// work's proof under the merchant's — from the answer as JSON, with the
// machine's OpenSSL 3 and a shell, and give the bytes stored.
func TestADocumentOpensWithOpenSSLAlone(t *testing.T) {
	w := newWorld(t)
	script, err := queriestest.Script("../..")
	if err != nil {
		t.Fatal(err)
	}
	openssl, err := exec.LookPath("openssl")
	if err != nil {
		t.Fatal("openssl 3 is required for the interop tests (apt-get install openssl)")
	}
	dir := t.TempDir()
	key := filepath.Join(dir, "bureau.pem")
	run(t, dir, openssl, "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:SM2", "-out", key)
	run(t, dir, openssl, "pkey", "-in", key, "-pubout", "-out", filepath.Join(dir, "bureau-pub.pem"))
	pemBytes, _ := os.ReadFile(filepath.Join(dir, "bureau-pub.pem"))
	keyPEM, _ := os.ReadFile(key)
	pub, err := sm.ParsePublicKeyPEM(pemBytes)
	if err != nil {
		t.Fatal(err)
	}
	licence := w.mustMerchant(t, bureauA, w.mA).Documents[0].Ref
	for _, c := range []struct{ of, by, ref string }{
		{"worker", w.idNumber[w.wAB], "agreement:agr_" + w.mA + "_" + w.wAB + ":pdf"},
		{"merchant", w.uscc[w.mA], licence},
		{"worker", w.wA, "proof:task-a:" + w.wA + ":proof-a1"},
		{"merchant", w.mA, "proof:task-a:" + w.wA + ":proof-a1"},
	} {
		d, err := w.documentTo(bureauA, c.of, c.by, c.ref, pub)
		if err != nil {
			t.Fatalf("%s: %v", c.ref, err)
		}
		want := w.docs[c.ref]
		if want == nil || d.Ref != c.ref || d.Size != int64(len(want)) || d.Scheme != queries.Scheme || bytes.Contains(d.Ciphertext, want[:8]) {
			t.Fatalf("%s: answer %+v", c.ref, d)
		}
		// The answer as the gateway sends it, its fields saved as the
		// documentation says.
		b, err := json.Marshal(d)
		if err != nil {
			t.Fatal(err)
		}
		case_ := t.TempDir()
		if err := queriestest.Save(case_, b, keyPEM); err != nil {
			t.Fatal(err)
		}
		got, out, err := queriestest.Run(case_, script)
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("%s: OpenSSL opened %q, the store holds %q (%v)\n%s", c.ref, got, want, err, out)
		}

		// An altered byte stops the commands at the MAC, before decryption.
		body := bytes.Clone(d.Ciphertext)
		body[len(body)/2] ^= 1
		os.WriteFile(filepath.Join(case_, "body.b64"), []byte(base64.StdEncoding.EncodeToString(body)), 0o600)
		os.Remove(filepath.Join(case_, "document"))
		if _, out, err := queriestest.Run(case_, script); err == nil {
			t.Fatalf("%s: an altered ciphertext opened:\n%s", c.ref, out)
		}
		if _, err := os.Stat(filepath.Join(case_, "document")); err == nil {
			t.Fatalf("%s: an altered ciphertext was decrypted", c.ref)
		}
	}
}

// What a bureau may not have: a document of another subject (of a worker
// asked as another's, a licence asked of a worker, an agreement with a
// merchant outside scope), one that does not exist, and a reference of no
// known form.
func TestADocumentOfAnotherSubjectIsRefused(t *testing.T) {
	w := newWorld(t)
	other := "agreement:agr_" + w.mA + "_" + w.wA + ":pdf" // wA's
	for _, c := range []struct {
		name              string
		scope             queries.Scope
		of, by, ref, code string
		status            int
	}{
		{"another worker's agreement", platform, "worker", w.wAB, other, queries.CodeDocumentNotFound, 404},
		{"another worker's proof", platform, "worker", w.wAB, "proof:task-a:" + w.wA + ":proof-a1", queries.CodeDocumentNotFound, 404},
		{"another merchant's agreement", platform, "merchant", w.mB, other, queries.CodeDocumentNotFound, 404},
		{"a merchant's licence asked of a worker", platform, "worker", w.wA, "merchant:" + w.mA + ":licence-" + w.mA, queries.CodeDocumentNotFound, 404},
		{"another merchant's licence", platform, "merchant", w.mB, "merchant:" + w.mA + ":licence-" + w.mA, queries.CodeDocumentNotFound, 404},
		{"an agreement with a merchant of another office", bureauA, "worker", w.wAB, "agreement:agr_" + w.mB + "_" + w.wAB + ":pdf", queries.CodeDocumentNotFound, 404},
		{"an agreement that does not exist", platform, "worker", w.wA, "agreement:agr_none:pdf", queries.CodeDocumentNotFound, 404},
		{"an evidence package not sealed", platform, "worker", w.wA, "agreement:agr_" + w.mA + "_" + w.wA + ":evidence", queries.CodeDocumentNotFound, 404},
		{"a reference of no known form", platform, "worker", w.wA, "agr_" + w.mA + "_" + w.wA, queries.CodeDocumentRef, 400},
		{"a path in a reference", platform, "worker", w.wA, "merchant:" + w.mA + ":../x", queries.CodeDocumentRef, 400},
		{"a worker out of scope", bureauB, "worker", w.wA, other, queries.CodeOutOfScope, 404},
		{"a malformed worker", platform, "worker", "w_x", other, queries.CodeIdentifierFormat, 400},
	} {
		d, err := w.document(c.scope, c.of, c.by, c.ref)
		if got, status := code(err); got != c.code || status != c.status {
			t.Errorf("%s: %s %d (%+v), want %s %d", c.name, got, status, d, c.code, c.status)
		}
	}
	// The same document asked as its own subject's opens.
	if _, err := w.document(platform, "worker", w.wA, other); err != nil {
		t.Fatalf("wA's own agreement: %v", err)
	}
	// Every not-found reads alike, whatever it was.
	_, e1 := w.document(platform, "worker", w.wAB, other)
	_, e2 := w.document(platform, "worker", w.wAB, "agreement:agr_none:pdf")
	if strings.Replace(e1.Error(), other, "X", 1) != strings.Replace(e2.Error(), "agreement:agr_none:pdf", "X", 1) {
		t.Fatalf("another's and none tell apart: %q / %q", e1, e2)
	}
}

func run(t *testing.T, dir, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

func (w *world) mustMerchant(t *testing.T, scope queries.Scope, by string) *queries.MerchantAnswer {
	t.Helper()
	a, err := w.merchant(scope, by)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// A shredded merchant's documents sealed under its key no longer open, and
// its identity answers as destroyed; the agreements, kept under the
// platform's key as the law asks, still do.
func TestAShreddedMerchantsOwnDocumentsNoLongerOpen(t *testing.T) {
	w := newWorld(t)
	w.ok(subjects.CmdShred, map[string]string{"subject": w.mA, "reason": "closed and past retention"})
	a := w.mustMerchant(t, bureauA, w.mA)
	if a.Identity != nil || a.Destroyed == nil {
		t.Fatalf("identity %+v, destroyed %+v", a.Identity, a.Destroyed)
	}
	if _, err := w.document(bureauA, "merchant", w.mA, a.Documents[0].Ref); !subjects.CodeShredded.Is(err) {
		t.Fatalf("the licence: %v", err)
	}
	if _, err := w.document(bureauA, "merchant", w.mA, "proof:task-a:"+w.wA+":proof-a1"); !subjects.CodeShredded.Is(err) {
		t.Fatalf("the proof: %v", err)
	}
	if _, err := w.document(bureauA, "merchant", w.mA, "agreement:agr_coop_"+w.mA+":pdf"); err != nil {
		t.Fatalf("the cooperation agreement: %v", err)
	}
}
