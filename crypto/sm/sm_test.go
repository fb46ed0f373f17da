package sm

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// GB/T 32905-2016 Appendix A.1: SM3("abc").
func TestSM3OfABCMatchesTheStandard(t *testing.T) {
	got := Sum([]byte("abc"))
	want := "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0"
	if hex.EncodeToString(got[:]) != want {
		t.Fatalf("SM3(abc) = %x, want %s", got, want)
	}
}

// GB/T 32907-2016 Appendix A.1: one block encrypted with itself as the key.
func TestSM4BlockMatchesTheStandard(t *testing.T) {
	key, _ := hex.DecodeString("0123456789abcdeffedcba9876543210")
	b, err := NewBlock(key)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]byte, 16)
	b.Encrypt(out, key)
	if got, want := hex.EncodeToString(out), "681edf34d206965e86b3e94f536e4246"; got != want {
		t.Fatalf("SM4 = %s, want %s", got, want)
	}
}

func TestSM4GCMUsesTheAssemblyImplementation(t *testing.T) {
	a, err := NewAEAD(make([]byte, KeySize))
	if err != nil {
		t.Fatal(err)
	}
	// gmsm's assembly GCM lives in internal/sm4 as *sm4.gcm (or *sm4.gcmNI
	// with the SM4 instructions); Go's generic fallback is *cipher.gcmFallback.
	if typ := fmt.Sprintf("%T", a); !strings.HasPrefix(typ, "*sm4.gcm") {
		t.Fatalf("SM4-GCM implementation is %s, want gmsm's assembly *sm4.gcm", typ)
	}
}

func TestSM4GCMRejectsTamperingAndWrongAssociatedData(t *testing.T) {
	a, _ := NewAEAD(bytes.Repeat([]byte{7}, KeySize))
	nonce := make([]byte, NonceSize)
	ct := a.Seal(nil, nonce, []byte("payload"), []byte("record/1"))
	if pt, err := a.Open(nil, nonce, ct, []byte("record/1")); err != nil || string(pt) != "payload" {
		t.Fatalf("round trip: %q, %v", pt, err)
	}
	if _, err := a.Open(nil, nonce, ct, []byte("record/2")); err == nil {
		t.Fatal("ciphertext opened under another record's associated data")
	}
	ct[0] ^= 1
	if _, err := a.Open(nil, nonce, ct, []byte("record/1")); err == nil {
		t.Fatal("a flipped bit went unnoticed")
	}
	if _, err := NewAEAD(make([]byte, 32)); err == nil {
		t.Fatal("a 32-byte SM4 key was accepted")
	}
}

func TestSM2SignatureRoundTrip(t *testing.T) {
	k, err := GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	msg := []byte("诚薪通")
	sig, err := k.Sign(msg)
	if err != nil {
		t.Fatal(err)
	}
	if !k.Public().Verify(msg, sig) {
		t.Fatal("own signature does not verify")
	}
	if k.Public().Verify([]byte("other"), sig) {
		t.Fatal("signature verifies for another message")
	}
	other, _ := GenerateKey()
	if other.Public().Verify(msg, sig) {
		t.Fatal("signature verifies under another key")
	}
}

func TestSM2KeysSurvivePEM(t *testing.T) {
	k, _ := GenerateKey()
	priv, err := k.MarshalPEM()
	if err != nil {
		t.Fatal(err)
	}
	pub, _ := k.Public().MarshalPEM()
	k2, err := ParsePrivateKeyPEM(priv)
	if err != nil {
		t.Fatal(err)
	}
	p2, err := ParsePublicKeyPEM(pub)
	if err != nil {
		t.Fatal(err)
	}
	sig, _ := k2.Sign([]byte("x"))
	if !p2.Verify([]byte("x"), sig) || !p2.Equal(k.Public()) {
		t.Fatal("key changed across PEM")
	}
	if _, err := ParsePrivateKeyPEM([]byte("not pem")); err == nil {
		t.Fatal("garbage parsed as a key")
	}
}

func TestCertificatesChainToTheirCA(t *testing.T) {
	caKey, _ := GenerateKey()
	now := time.Now()
	ca, err := NewCA(caKey, "cxt cluster CA", now.Add(-time.Minute), now.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	nodeKey, _ := GenerateKey()
	cert, err := Issue(ca, caKey, nodeKey.Public(), "node-1", now.Add(-time.Minute), now.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if err := cert.VerifyIssuedBy(ca, now); err != nil {
		t.Fatal(err)
	}
	if !cert.PublicKey().Equal(nodeKey.Public()) || cert.CommonName() != "node-1" {
		t.Fatal("certificate does not carry the node's identity")
	}
	otherKey, _ := GenerateKey()
	other, _ := NewCA(otherKey, "other", now.Add(-time.Minute), now.Add(time.Hour))
	if err := cert.VerifyIssuedBy(other, now); err == nil {
		t.Fatal("certificate verified under a foreign CA")
	}
	if err := cert.VerifyIssuedBy(ca, now.Add(2*time.Hour)); err == nil {
		t.Fatal("expired certificate verified")
	}
	back, err := ParseCertificatePEM(cert.PEM())
	if err != nil || !bytes.Equal(back.DER(), cert.DER()) {
		t.Fatalf("PEM round trip: %v", err)
	}
}

func TestPasswordKDFIsSaltedAndDeterministic(t *testing.T) {
	salt := bytes.Repeat([]byte{1}, 16)
	a, err := DerivePassword("Correct-Horse-9", salt, 1000)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := DerivePassword("Correct-Horse-9", salt, 1000)
	c, _ := DerivePassword("Correct-Horse-9", bytes.Repeat([]byte{2}, 16), 1000)
	d, _ := DerivePassword("Correct-Horse-8", salt, 1000)
	if !Equal(a, b) || Equal(a, c) || Equal(a, d) || len(a) != 32 {
		t.Fatal("KDF is not a salted function of the password")
	}
	if _, err := DerivePassword("x", []byte("short"), 1000); err == nil {
		t.Fatal("short salt accepted")
	}
}

func TestDeriveKeySeparatesPurposes(t *testing.T) {
	s := []byte("secret")
	if bytes.Equal(DeriveKey(s, "a", 16), DeriveKey(s, "b", 16)) {
		t.Fatal("two purposes share a key")
	}
	if !bytes.Equal(DeriveKey(s, "a", 16), DeriveKey(s, "a", 16)) {
		t.Fatal("derivation is not deterministic")
	}
	if len(DeriveKey(s, "a", 40)) != 40 {
		t.Fatal("wrong length")
	}
}

// The interop tests run the machine's OpenSSL 3, which a user verifying a
// signature or a digest would use.
func openssl(t *testing.T, args ...string) []byte {
	t.Helper()
	path, err := exec.LookPath("openssl")
	if err != nil {
		t.Fatal("openssl 3 is required for the interop tests (apt-get install openssl)")
	}
	out, err := exec.Command(path, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("openssl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

func TestOpenSSLVerifiesOurSignatures(t *testing.T) {
	dir := t.TempDir()
	k, _ := GenerateKey()
	pub, _ := k.Public().MarshalPEM()
	data := []byte("signed by cxt, verified by openssl\n")
	sig, _ := k.Sign(data)
	write(t, dir, "pub.pem", pub)
	write(t, dir, "data", data)
	write(t, dir, "sig.der", sig)
	out := openssl(t, "dgst", "-sm3", "-sigopt", DistID, "-verify", filepath.Join(dir, "pub.pem"),
		"-signature", filepath.Join(dir, "sig.der"), filepath.Join(dir, "data"))
	if !strings.Contains(string(out), "Verified OK") {
		t.Fatalf("openssl: %s", out)
	}
}

func TestWeVerifyOpenSSLSignaturesAndKeys(t *testing.T) {
	dir := t.TempDir()
	key := filepath.Join(dir, "key.pem")
	openssl(t, "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:SM2", "-out", key)
	openssl(t, "pkey", "-in", key, "-pubout", "-out", filepath.Join(dir, "pub.pem"))
	data := []byte("signed by openssl, verified by cxt\n")
	write(t, dir, "data", data)
	openssl(t, "dgst", "-sm3", "-sigopt", DistID, "-sign", key, "-out", filepath.Join(dir, "sig.der"), filepath.Join(dir, "data"))

	pub, err := ParsePublicKeyPEM(read(t, dir, "pub.pem"))
	if err != nil {
		t.Fatal(err)
	}
	if !pub.Verify(data, read(t, dir, "sig.der")) {
		t.Fatal("openssl's SM2 signature does not verify in cxt")
	}
	// And the key openssl generated signs in cxt, verified back by openssl.
	priv, err := ParsePrivateKeyPEM(read(t, dir, "key.pem"))
	if err != nil {
		t.Fatal(err)
	}
	sig, _ := priv.Sign(data)
	write(t, dir, "sig2.der", sig)
	out := openssl(t, "dgst", "-sm3", "-sigopt", DistID, "-verify", filepath.Join(dir, "pub.pem"),
		"-signature", filepath.Join(dir, "sig2.der"), filepath.Join(dir, "data"))
	if !strings.Contains(string(out), "Verified OK") {
		t.Fatalf("openssl: %s", out)
	}
}

func TestOpenSSLAgreesOnSM3AndSM4(t *testing.T) {
	dir := t.TempDir()
	data := bytes.Repeat([]byte("cxt "), 1000)
	write(t, dir, "data", data)
	out := openssl(t, "dgst", "-sm3", "-r", filepath.Join(dir, "data"))
	sum := Sum(data)
	if got := strings.Fields(string(out))[0]; got != hex.EncodeToString(sum[:]) {
		t.Fatalf("openssl SM3 %s, cxt %x", got, sum)
	}
	// SM4 in ECB over one block: the raw cipher both sides must agree on.
	key := "0123456789abcdeffedcba9876543210"
	block, _ := hex.DecodeString(key)
	write(t, dir, "block", block)
	openssl(t, "enc", "-sm4-ecb", "-nopad", "-K", key, "-in", filepath.Join(dir, "block"), "-out", filepath.Join(dir, "ct"))
	if got := hex.EncodeToString(read(t, dir, "ct")); got != "681edf34d206965e86b3e94f536e4246" {
		t.Fatalf("openssl SM4 = %s", got)
	}
}

func write(t *testing.T, dir, name string, data []byte) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
		t.Fatal(err)
	}
}

func read(t *testing.T, dir, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func BenchmarkSM4GCMSeal1KiB(b *testing.B) {
	a, _ := NewAEAD(make([]byte, KeySize))
	nonce := make([]byte, NonceSize)
	pt := make([]byte, 1024)
	out := make([]byte, 0, 1024+TagSize)
	b.SetBytes(int64(len(pt)))
	for b.Loop() {
		out = a.Seal(out[:0], nonce, pt, nil)
	}
}
