// Package shamir splits a secret into n shares of which any k rebuild it,
// byte by byte over GF(2^8) (Shamir, "How to share a secret", 1979).
//
// A share is the polynomial values for every secret byte followed by one byte
// holding its x coordinate (1..255). Fewer than k shares reveal nothing about
// the secret; they do rebuild a wrong value, so callers check the result
// against a stored verifier.
package shamir

import (
	"crypto/rand"
	"crypto/subtle"
	"errors"
	"fmt"
)

// Split divides secret into n shares, any k of which rebuild it.
func Split(secret []byte, n, k int) ([][]byte, error) {
	switch {
	case len(secret) == 0:
		return nil, errors.New("shamir: empty secret")
	case k < 2 || k > 255:
		return nil, fmt.Errorf("shamir: threshold %d must be between 2 and 255", k)
	case n < k || n > 255:
		return nil, fmt.Errorf("shamir: %d shares cannot have threshold %d (need threshold <= shares <= 255)", n, k)
	}
	shares := make([][]byte, n)
	for i := range shares {
		shares[i] = make([]byte, len(secret)+1)
		shares[i][len(secret)] = byte(i + 1)
	}
	coeffs := make([]byte, k)
	for b, s := range secret {
		coeffs[0] = s
		if _, err := rand.Read(coeffs[1:]); err != nil {
			return nil, err
		}
		for i := range shares {
			shares[i][b] = evaluate(coeffs, byte(i+1))
		}
	}
	clear(coeffs)
	return shares, nil
}

// Combine rebuilds the secret from k or more distinct shares.
func Combine(shares [][]byte) ([]byte, error) {
	if len(shares) < 2 {
		return nil, errors.New("shamir: at least 2 shares are needed")
	}
	size := len(shares[0])
	if size < 2 {
		return nil, errors.New("shamir: share too short")
	}
	xs := make([]byte, len(shares))
	seen := map[byte]bool{}
	for i, s := range shares {
		if len(s) != size {
			return nil, errors.New("shamir: shares differ in length")
		}
		x := s[size-1]
		if x == 0 || seen[x] {
			return nil, errors.New("shamir: duplicate or invalid share")
		}
		seen[x] = true
		xs[i] = x
	}
	secret := make([]byte, size-1)
	ys := make([]byte, len(shares))
	defer clear(ys) // one byte of every share at a time, but bytes of the key all the same
	for b := range secret {
		for i, s := range shares {
			ys[i] = s[b]
		}
		secret[b] = interpolateAtZero(xs, ys)
	}
	return secret, nil
}

// evaluate returns the polynomial with coefficients c (c[0] constant) at x.
func evaluate(c []byte, x byte) byte {
	var y byte
	for i := len(c) - 1; i >= 0; i-- {
		y = add(mul(y, x), c[i])
	}
	return y
}

// interpolateAtZero evaluates at 0 the Lagrange polynomial through (xs, ys).
func interpolateAtZero(xs, ys []byte) byte {
	var result byte
	for i := range xs {
		basis := byte(1)
		for j := range xs {
			if i != j {
				// basis *= x_j / (x_j - x_i); subtraction is xor in GF(2^8).
				basis = mul(basis, div(xs[j], add(xs[j], xs[i])))
			}
		}
		result = add(result, mul(ys[i], basis))
	}
	return result
}

func add(a, b byte) byte { return a ^ b }

// mul multiplies in GF(2^8) modulo x^8+x^4+x^3+x+1 without branching on
// secret data.
func mul(a, b byte) byte {
	var p byte
	for range 8 {
		p ^= a & -(b & 1)
		hi := a >> 7
		a = a<<1 ^ 0x1b&-hi
		b >>= 1
	}
	return p
}

// inverse returns a^254 = a^-1 (and 0 for 0).
func inverse(a byte) byte {
	r := a
	for range 6 {
		r = mul(mul(r, r), a)
	}
	return mul(r, r)
}

func div(a, b byte) byte {
	if subtle.ConstantTimeByteEq(b, 0) == 1 {
		panic("shamir: division by zero")
	}
	return mul(a, inverse(b))
}
