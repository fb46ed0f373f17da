package subjectkey

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"

	"cxt/crypto/docseal"
	"cxt/crypto/keyring"
	"cxt/crypto/sm"
)

// A subject envelope fits wherever a keyring envelope does.
var _ = [1]struct{}{}[Overhead-keyring.Overhead]

func ring(t testing.TB) *keyring.Keyring {
	k, err := keyring.New(keyring.NewMasterKey())
	if err != nil {
		t.Fatal(err)
	}
	k.Install(1, keyring.NewSecret())
	return k
}

func TestARecordOpensOnlyUnderItsSubjectsKeyForItsRecord(t *testing.T) {
	keys := ring(t)
	alice, secret, err := New("w_alice")
	if err != nil {
		t.Fatal(err)
	}
	wrapped, err := Wrap(keys, "w_alice", secret)
	if err != nil {
		t.Fatal(err)
	}
	env, err := alice.Seal([]byte("worker/w_alice/id_number"), []byte("11010519491231002X"))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(env, []byte("1101051949")) {
		t.Fatal("the plaintext is in the envelope")
	}
	again, err := Unwrap(keys, "w_alice", wrapped)
	if err != nil || again.ID() != alice.ID() {
		t.Fatalf("unwrap: %v", err)
	}
	if pt, err := again.Open([]byte("worker/w_alice/id_number"), env); err != nil || string(pt) != "11010519491231002X" {
		t.Fatalf("open: %q %v", pt, err)
	}

	// Another record of the same subject, another subject, another subject
	// name for the same secret, a wrapped key presented as another's.
	if _, err := again.Open([]byte("worker/w_alice/phone"), env); !errors.Is(err, ErrCorrupt) {
		t.Error("an envelope opened for another record")
	}
	bob, _, _ := New("w_bob")
	if _, err := bob.Open([]byte("worker/w_alice/id_number"), env); !errors.Is(err, ErrCorrupt) {
		t.Error("another subject's key opened the envelope")
	}
	renamed, err := fromSecret("w_bob", secret)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := renamed.Open([]byte("worker/w_alice/id_number"), env); !errors.Is(err, ErrCorrupt) {
		t.Error("the envelope opened as another subject's")
	}
	if _, err := Unwrap(keys, "w_bob", wrapped); err == nil {
		t.Error("alice's wrapped key unwrapped as bob's")
	}
	for i := range env {
		bad := bytes.Clone(env)
		bad[i] ^= 1
		if _, err := again.Open([]byte("worker/w_alice/id_number"), bad); err == nil {
			t.Fatalf("a flipped bit at %d went unnoticed", i)
		}
	}
}

func TestKeysAreFreshAndEnvelopesNameThem(t *testing.T) {
	a, sa, _ := New("m_1")
	b, sb, _ := New("m_1")
	if bytes.Equal(sa, sb) || a.ID() == b.ID() && bytes.Equal(sa, sb) {
		t.Fatal("two keys for one subject are the same")
	}
	env, _ := a.Seal(nil, []byte("x"))
	if id, ok := KeyID(env); !ok || id != a.ID() {
		t.Fatalf("envelope names key %d, want %d", id, a.ID())
	}
	if _, ok := KeyID([]byte{1, 2, 3}); ok {
		t.Fatal("a short value read as an envelope")
	}
	e1, _ := a.Seal(nil, []byte("same"))
	e2, _ := a.Seal(nil, []byte("same"))
	if bytes.Equal(e1, e2) {
		t.Fatal("two seals of one plaintext are equal: the nonce repeated")
	}
	if _, _, err := New(""); err == nil {
		t.Fatal("a key without a subject")
	}
}

// A subject's documents are sealed under the subject's key: neither the
// keyring nor another subject opens them.
func TestDocumentsUnderASubjectsKey(t *testing.T) {
	keys := ring(t)
	alice, _, _ := New("w_alice")
	bob, _, _ := New("w_bob")
	body := strings.Repeat("居民身份证 11010519491231002X ", 5000)
	var sealed bytes.Buffer
	w, err := docseal.NewWriter(&sealed, alice, "id-card-front")
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(w, body)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	want := sm.Sum([]byte(body))
	read := func(wr docseal.Wrapper) (string, error) {
		r, err := docseal.NewReader(bytes.NewReader(sealed.Bytes()), wr, "id-card-front", want)
		if err != nil {
			return "", err
		}
		b, err := io.ReadAll(r)
		return string(b), err
	}
	if got, err := read(alice); err != nil || got != body {
		t.Fatalf("alice's key: %v", err)
	}
	if _, err := read(bob); !errors.Is(err, docseal.ErrCorrupt) {
		t.Fatalf("bob's key opened alice's document: %v", err)
	}
	if _, err := read(docseal.Keyring(keys)); !errors.Is(err, docseal.ErrCorrupt) {
		t.Fatalf("the keyring opened a subject's document: %v", err)
	}
}
