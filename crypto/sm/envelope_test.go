package sm

import (
	"bytes"
	"encoding/hex"
	"path/filepath"
	"strings"
	"testing"
)

func TestAnEnvelopeOpensForItsRecipientOnly(t *testing.T) {
	k, _ := GenerateKey()
	other, _ := GenerateKey()
	for _, n := range []int{0, 1, 15, 16, 17, 4096} {
		msg := bytes.Repeat([]byte{byte(n)}, n)
		e, err := SealFor(k.Public(), msg)
		if err != nil {
			t.Fatal(err)
		}
		if got, err := k.OpenEnvelope(e); err != nil || !bytes.Equal(got, msg) {
			t.Fatalf("%d bytes: %v", n, err)
		}
		if _, err := other.OpenEnvelope(e); err != ErrEnvelope {
			t.Fatalf("%d bytes opened for another key: %v", n, err)
		}
	}
	msg := []byte("sealed to the bureau")
	e, _ := SealFor(k.Public(), msg)
	for name, alter := range map[string]func(e *Envelope){
		"ciphertext": func(e *Envelope) { e.Ciphertext[0] ^= 1 },
		"iv":         func(e *Envelope) { e.IV[3] ^= 1 },
		"mac":        func(e *Envelope) { e.MAC[31] ^= 1 },
		"key":        func(e *Envelope) { e.Key[len(e.Key)-1] ^= 1 },
		"truncated":  func(e *Envelope) { e.Ciphertext = e.Ciphertext[:len(e.Ciphertext)-16] },
	} {
		c := &Envelope{Key: bytes.Clone(e.Key), IV: bytes.Clone(e.IV), Ciphertext: bytes.Clone(e.Ciphertext), MAC: bytes.Clone(e.MAC)}
		alter(c)
		if _, err := k.OpenEnvelope(c); err != ErrEnvelope {
			t.Errorf("an envelope with its %s altered opened: %v", name, err)
		}
	}
	again, _ := SealFor(k.Public(), msg)
	if bytes.Equal(again.Key, e.Key) || bytes.Equal(again.Ciphertext, e.Ciphertext) {
		t.Fatal("two envelopes of one message share a secret")
	}
}

// OpenSSL 3 alone opens an envelope: pkeyutl for the secret, dgst for the
// MAC, enc for the message.
func TestOpenSSLOpensOurEnvelopes(t *testing.T) {
	dir := t.TempDir()
	key := filepath.Join(dir, "key.pem")
	openssl(t, "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:SM2", "-out", key)
	openssl(t, "pkey", "-in", key, "-pubout", "-out", filepath.Join(dir, "pub.pem"))
	pub, err := ParsePublicKeyPEM(read(t, dir, "pub.pem"))
	if err != nil {
		t.Fatal(err)
	}
	msg := bytes.Repeat([]byte("税务局 "), 500)
	e, err := SealFor(pub, msg)
	if err != nil {
		t.Fatal(err)
	}
	write(t, dir, "key.der", e.Key)
	write(t, dir, "signed", append(bytes.Clone(e.IV), e.Ciphertext...))
	write(t, dir, "body", e.Ciphertext)
	openssl(t, "pkeyutl", "-decrypt", "-inkey", key, "-in", filepath.Join(dir, "key.der"), "-out", filepath.Join(dir, "secret"))
	secret := read(t, dir, "secret")
	if len(secret) != EnvelopeSecretSize {
		t.Fatalf("openssl recovered %d bytes", len(secret))
	}
	out := openssl(t, "dgst", "-sm3", "-mac", "HMAC", "-macopt", "hexkey:"+hex.EncodeToString(secret[KeySize:]), "-r", filepath.Join(dir, "signed"))
	if got := strings.Fields(string(out))[0]; got != hex.EncodeToString(e.MAC) {
		t.Fatalf("openssl's HMAC %s, the envelope's %x", got, e.MAC)
	}
	openssl(t, "enc", "-d", "-sm4-cbc", "-K", hex.EncodeToString(secret[:KeySize]), "-iv", hex.EncodeToString(e.IV),
		"-in", filepath.Join(dir, "body"), "-out", filepath.Join(dir, "plain"))
	if !bytes.Equal(read(t, dir, "plain"), msg) {
		t.Fatal("openssl decrypted other bytes")
	}
	// And what OpenSSL encrypts to a key, cxt decrypts.
	write(t, dir, "mine", []byte("from openssl"))
	openssl(t, "pkeyutl", "-encrypt", "-pubin", "-inkey", filepath.Join(dir, "pub.pem"), "-in", filepath.Join(dir, "mine"), "-out", filepath.Join(dir, "mine.der"))
	priv, err := ParsePrivateKeyPEM(read(t, dir, "key.pem"))
	if err != nil {
		t.Fatal(err)
	}
	if got, err := priv.Decrypt(read(t, dir, "mine.der")); err != nil || string(got) != "from openssl" {
		t.Fatalf("cxt read %q, %v", got, err)
	}
}
