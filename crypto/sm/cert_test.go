package sm

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The signing and time-stamping profiles chain to their CA in OpenSSL 3 as
// in cxt, and OpenSSL tells them apart by purpose: only the time-stamper
// passes "-purpose timestampsign". OpenSSL 3.0 checks an SM2 certificate's
// signature over an empty ID unless "-vfyopt distid:…" names the default
// one, which the evidence package's instructions therefore always give.
func TestSigningProfilesChainInOpenSSLAndDifferByPurpose(t *testing.T) {
	dir := t.TempDir()
	now := time.Now()
	caKey, _ := GenerateKey()
	ca, err := NewCA(caKey, "cxt e-signing CA", now.Add(-time.Hour), now.Add(24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	signerKey, _ := GenerateKey()
	signer, err := IssueSigner(ca, caKey, signerKey.Public(), "w_1", now.Add(-time.Hour), now.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	tsaKey, _ := GenerateKey()
	tsa, err := IssueTimeStamper(ca, caKey, tsaKey.Public(), "cxt TSA", now.Add(-time.Hour), now.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if !tsa.TimeStamping() || signer.TimeStamping() || ca.TimeStamping() {
		t.Fatalf("TimeStamping: tsa %v signer %v ca %v", tsa.TimeStamping(), signer.TimeStamping(), ca.TimeStamping())
	}
	for _, c := range []*Certificate{signer, tsa} {
		if err := c.VerifyIssuedBy(ca, now); err != nil {
			t.Fatal(err)
		}
	}
	write(t, dir, "ca.pem", ca.PEM())
	write(t, dir, "signer.pem", signer.PEM())
	write(t, dir, "tsa.pem", tsa.PEM())
	verify := func(args ...string) (string, error) {
		args = append([]string{"verify", "-vfyopt", DistID, "-CAfile", filepath.Join(dir, "ca.pem")}, args...)
		out, err := exec.Command("openssl", args...).CombinedOutput()
		return string(out), err
	}
	for _, name := range []string{"signer.pem", "tsa.pem"} {
		if out, err := verify(filepath.Join(dir, name)); err != nil || !strings.Contains(out, ": OK") {
			t.Fatalf("openssl verify %s: %v\n%s", name, err, out)
		}
	}
	if out, err := verify("-purpose", "timestampsign", filepath.Join(dir, "tsa.pem")); err != nil {
		t.Fatalf("the time-stamper is refused for time stamping: %v\n%s", err, out)
	}
	if out, err := verify("-purpose", "timestampsign", filepath.Join(dir, "signer.pem")); err == nil {
		t.Fatalf("a signer's certificate passed as a time-stamper:\n%s", out)
	}
	// The SM3 fingerprint is OpenSSL's, without its colons.
	out := string(openssl(t, "x509", "-in", filepath.Join(dir, "ca.pem"), "-noout", "-fingerprint", "-sm3"))
	if got := strings.ToLower(strings.ReplaceAll(strings.TrimSpace(out[strings.Index(out, "=")+1:]), ":", "")); got != ca.Fingerprint() {
		t.Fatalf("fingerprint: openssl %s, cxt %s", got, ca.Fingerprint())
	}
}
