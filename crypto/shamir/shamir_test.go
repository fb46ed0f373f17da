package shamir

import (
	"bytes"
	"math/rand/v2"
	"testing"
)

func TestEveryThresholdSubsetRebuildsTheSecret(t *testing.T) {
	secret := []byte("a 32-byte master key for cxt!!!!")
	shares, err := Split(secret, 5, 3)
	if err != nil {
		t.Fatal(err)
	}
	for a := 0; a < 5; a++ {
		for b := a + 1; b < 5; b++ {
			for c := b + 1; c < 5; c++ {
				got, err := Combine([][]byte{shares[c], shares[a], shares[b]})
				if err != nil || !bytes.Equal(got, secret) {
					t.Fatalf("shares %d,%d,%d rebuilt %x, %v", a, b, c, got, err)
				}
			}
		}
	}
	all, _ := Combine(shares)
	if !bytes.Equal(all, secret) {
		t.Fatal("all shares together do not rebuild the secret")
	}
}

func TestTooFewSharesDoNotRebuildTheSecret(t *testing.T) {
	secret := bytes.Repeat([]byte{0x42}, 32)
	shares, _ := Split(secret, 5, 3)
	got, err := Combine(shares[:2])
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(got, secret) {
		t.Fatal("two shares of a 3-threshold split rebuilt the secret")
	}
}

func TestFieldArithmetic(t *testing.T) {
	for a := 1; a < 256; a++ {
		if mul(byte(a), inverse(byte(a))) != 1 {
			t.Fatalf("%d * inverse(%d) != 1", a, a)
		}
	}
	// 0x53 * 0xCA = 0x01 is the worked example of FIPS 197 §4.2.
	if mul(0x53, 0xca) != 1 {
		t.Fatal("FIPS 197 example fails")
	}
	r := rand.New(rand.NewPCG(1, 2))
	for range 1000 {
		a, b, c := byte(r.IntN(256)), byte(r.IntN(256)), byte(r.IntN(256))
		if mul(a, add(b, c)) != add(mul(a, b), mul(a, c)) {
			t.Fatal("multiplication does not distribute")
		}
	}
}

func TestBadParametersAndSharesAreRefused(t *testing.T) {
	for _, c := range []struct{ n, k int }{{3, 1}, {2, 3}, {256, 2}} {
		if _, err := Split([]byte("x"), c.n, c.k); err == nil {
			t.Errorf("Split(n=%d, k=%d) accepted", c.n, c.k)
		}
	}
	shares, _ := Split([]byte("secret"), 3, 2)
	if _, err := Combine([][]byte{shares[0], shares[0]}); err == nil {
		t.Error("duplicate shares accepted")
	}
	if _, err := Combine([][]byte{shares[0], shares[1][:3]}); err == nil {
		t.Error("shares of different lengths accepted")
	}
	if _, err := Combine([][]byte{shares[0]}); err == nil {
		t.Error("one share accepted")
	}
}

func FuzzCombineNeverPanics(f *testing.F) {
	f.Add([]byte{1, 2, 3}, []byte{4, 5, 6})
	f.Fuzz(func(t *testing.T, a, b []byte) {
		Combine([][]byte{a, b})
	})
}
