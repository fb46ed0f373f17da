package keyring

import (
	"bytes"
	"errors"
	"testing"
)

func newRing(t *testing.T) (*Keyring, *MasterKey) {
	t.Helper()
	m := NewMasterKey()
	k, err := New(m)
	if err != nil {
		t.Fatal(err)
	}
	if err := k.Install(1, NewSecret()); err != nil {
		t.Fatal(err)
	}
	return k, m
}

func TestSealedRecordsOpenOnlyForTheirOwnRecord(t *testing.T) {
	k, _ := newRing(t)
	env, err := k.Seal(Records, []byte("workers/w1"), []byte("张三 110101199003074514"))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(env, []byte("110101199003074514")) {
		t.Fatal("plaintext visible in the envelope")
	}
	pt, err := k.Open(Records, []byte("workers/w1"), env)
	if err != nil || !bytes.Contains(pt, []byte("110101199003074514")) {
		t.Fatalf("open: %q %v", pt, err)
	}
	if _, err := k.Open(Records, []byte("workers/w2"), env); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("moved ciphertext opened: %v", err)
	}
	if _, err := k.Open(Log, []byte("workers/w1"), env); err == nil {
		t.Fatal("a record envelope opened with the log key")
	}
	env[len(env)-1] ^= 1
	if _, err := k.Open(Records, []byte("workers/w1"), env); !errors.Is(err, ErrCorrupt) {
		t.Fatal("flipped bit not detected")
	}
}

func TestRotationKeepsOldTermsReadable(t *testing.T) {
	k, _ := newRing(t)
	old, _ := k.Seal(Records, []byte("a"), []byte("before"))
	if err := k.Install(2, NewSecret()); err != nil {
		t.Fatal(err)
	}
	if k.Active() != 2 {
		t.Fatalf("active term %d after rotation, want 2", k.Active())
	}
	fresh, _ := k.Seal(Records, []byte("a"), []byte("after"))
	if n, _ := TermOf(fresh); n != 2 {
		t.Fatalf("new envelope sealed under term %d", n)
	}
	if pt, err := k.Open(Records, []byte("a"), old); err != nil || string(pt) != "before" {
		t.Fatalf("old term unreadable after rotation: %v", err)
	}
	// The term number is authenticated: relabelling an envelope fails.
	old[4] = 2
	if _, err := k.Open(Records, []byte("a"), old); err == nil {
		t.Fatal("relabelled envelope opened")
	}
}

func TestReinstallingATermIsIdempotentButCannotReplaceIt(t *testing.T) {
	k, _ := newRing(t)
	s := NewSecret()
	if err := k.Install(2, s); err != nil {
		t.Fatal(err)
	}
	if err := k.Install(2, s); err != nil {
		t.Fatalf("replayed install failed: %v", err)
	}
	if err := k.Install(2, NewSecret()); err == nil {
		t.Fatal("term 2 replaced by another secret")
	}
	if err := k.Install(0, s); err == nil {
		t.Fatal("term 0 installed by hand")
	}
}

func TestDeterministicNoncesGiveIdenticalReplicas(t *testing.T) {
	m := NewMasterKey()
	secret := NewSecret()
	a, _ := New(m)
	b, _ := New(m)
	a.Install(1, secret)
	b.Install(1, secret)
	ea, _ := a.SealSynthetic(Records, []byte("cmd 9"), []byte("k"), []byte("v"))
	eb, _ := b.SealSynthetic(Records, []byte("cmd 9"), []byte("k"), []byte("v"))
	if !bytes.Equal(ea, eb) {
		t.Fatal("two replicas sealed the same command differently")
	}
}

func TestTermZeroIsSharedByEveryHolderOfTheMasterKey(t *testing.T) {
	m := NewMasterKey()
	a, _ := New(m)
	b, _ := New(m)
	env, _ := a.SealTerm0(Log, []byte("cmd"), []byte("install term 1"))
	if pt, err := b.Open(Log, []byte("cmd"), env); err != nil || string(pt) != "install term 1" {
		t.Fatalf("term 0 not shared: %v", err)
	}
	c, _ := New(NewMasterKey())
	if _, err := c.Open(Log, []byte("cmd"), env); err == nil {
		t.Fatal("another master key opened term 0")
	}
}

func TestZeroSealsTheKeyring(t *testing.T) {
	k, _ := newRing(t)
	env, _ := k.Seal(Records, nil, []byte("x"))
	k.Zero()
	if _, err := k.Open(Records, nil, env); !errors.Is(err, ErrSealed) {
		t.Fatalf("open after zero: %v", err)
	}
	if _, err := k.Seal(Records, nil, []byte("x")); !errors.Is(err, ErrSealed) {
		t.Fatalf("seal after zero: %v", err)
	}
}

func TestIndexKeySurvivesRotation(t *testing.T) {
	k, _ := newRing(t)
	before, err := k.IndexKey()
	if err != nil {
		t.Fatal(err)
	}
	k.Install(2, NewSecret())
	after, _ := k.IndexKey()
	if !bytes.Equal(before, after) {
		t.Fatal("rotation changed the blind-index key")
	}
}

func TestMasterKeyWrapsAndChecks(t *testing.T) {
	m := NewMasterKey()
	w, err := m.Wrap("term/1", []byte("secret"))
	if err != nil {
		t.Fatal(err)
	}
	if pt, err := m.Unwrap("term/1", w); err != nil || string(pt) != "secret" {
		t.Fatalf("unwrap: %v", err)
	}
	if _, err := m.Unwrap("term/2", w); err == nil {
		t.Fatal("wrapped secret unwrapped under another name")
	}
	other := NewMasterKey()
	if _, err := other.Unwrap("term/1", w); !errors.Is(err, ErrWrongMasterKey) {
		t.Fatalf("wrong master: %v", err)
	}
	if err := other.Check(m.Verifier()); !errors.Is(err, ErrWrongMasterKey) {
		t.Fatal("verifier accepted another key")
	}
	shares, _ := m.Split(5, 3)
	back, err := MasterKeyFromShares(shares[1:4])
	if err != nil || back.Check(m.Verifier()) != nil {
		t.Fatalf("shares did not rebuild the key: %v", err)
	}
	few, _ := MasterKeyFromShares([][]byte{shares[0], shares[4]}) // shares 1-3 were cleared above
	if few.Check(m.Verifier()) == nil {
		t.Fatal("too few shares passed the verifier")
	}
}

func BenchmarkSealRecord1KiB(b *testing.B) {
	m := NewMasterKey()
	k, _ := New(m)
	k.Install(1, NewSecret())
	pt := make([]byte, 1024)
	b.SetBytes(1024)
	for b.Loop() {
		k.Seal(Records, []byte("bucket/key"), pt)
	}
}
