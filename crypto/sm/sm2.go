package sm

import (
	"crypto/ecdsa"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"fmt"

	"github.com/emmansun/gmsm/sm2"
	"github.com/emmansun/gmsm/smx509"
)

// PrivateKey is an SM2 signing key.
type PrivateKey struct{ k *sm2.PrivateKey }

// PublicKey is an SM2 public key.
type PublicKey struct{ k *ecdsa.PublicKey }

// DistID is the OpenSSL option that selects the default SM2 user ID
// (GM/T 0009) which cxt always signs with. OpenSSL 3.0 otherwise hashes Z(A)
// over an empty ID, so both "openssl dgst -sign" and "-verify" need
// "-sigopt distid:1234567812345678" to interoperate with cxt and with every
// other GM/T 0009 implementation.
const DistID = "distid:1234567812345678"

// ErrNotSM2 is returned when a parsed key or certificate is not on the SM2 curve.
var ErrNotSM2 = errors.New("sm: not an SM2 key")

// GenerateKey creates a new SM2 key from the system's random source.
func GenerateKey() (*PrivateKey, error) {
	k, err := sm2.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	return &PrivateKey{k}, nil
}

// Public returns the public half of k.
func (k *PrivateKey) Public() *PublicKey { return &PublicKey{&k.k.PublicKey} }

// Sign signs msg with SM3 over Z(A) for the default user ID and returns a DER
// signature, the form OpenSSL 3 produces and verifies.
func (k *PrivateKey) Sign(msg []byte) ([]byte, error) {
	return k.k.Sign(rand.Reader, msg, sm2.DefaultSM2SignerOpts)
}

// Verify reports whether sig is a valid DER SM2 signature of msg by p.
func (p *PublicKey) Verify(msg, sig []byte) bool {
	return sm2.VerifyASN1WithSM2(p.k, nil, msg, sig)
}

// Equal reports whether p and q are the same key.
func (p *PublicKey) Equal(q *PublicKey) bool { return q != nil && p.k.Equal(q.k) }

// Fingerprint returns the SM3 digest of the key's DER SubjectPublicKeyInfo.
func (p *PublicKey) Fingerprint() [HashSize]byte {
	der, err := smx509.MarshalPKIXPublicKey(p.k)
	if err != nil { // an SM2 key always marshals; anything else is a bug
		panic(err)
	}
	return Sum(der)
}

// MarshalPEM encodes k as a PKCS#8 "PRIVATE KEY" block, as
// "openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:SM2" writes it.
func (k *PrivateKey) MarshalPEM() ([]byte, error) {
	der, err := smx509.MarshalPKCS8PrivateKey(k.k)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// MarshalPEM encodes p as a "PUBLIC KEY" (SubjectPublicKeyInfo) block.
func (p *PublicKey) MarshalPEM() ([]byte, error) {
	der, err := smx509.MarshalPKIXPublicKey(p.k)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), nil
}

// ParsePrivateKeyPEM reads an SM2 private key from a PKCS#8 "PRIVATE KEY"
// block or an SEC1 "EC PRIVATE KEY" block.
func ParsePrivateKeyPEM(data []byte) (*PrivateKey, error) {
	block, err := onePEM(data)
	if err != nil {
		return nil, err
	}
	switch block.Type {
	case "PRIVATE KEY":
		key, err := smx509.ParsePKCS8PrivateKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("sm: parse PKCS#8 key: %w", err)
		}
		k, ok := key.(*sm2.PrivateKey)
		if !ok {
			return nil, ErrNotSM2
		}
		return &PrivateKey{k}, nil
	case "EC PRIVATE KEY":
		k, err := smx509.ParseSM2PrivateKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("sm: parse SEC1 key: %w", err)
		}
		return &PrivateKey{k}, nil
	}
	return nil, fmt.Errorf("sm: PEM block %q is not a private key", block.Type)
}

// ParsePublicKeyPEM reads an SM2 public key from a "PUBLIC KEY" block or from
// the leaf of a "CERTIFICATE" block.
func ParsePublicKeyPEM(data []byte) (*PublicKey, error) {
	block, err := onePEM(data)
	if err != nil {
		return nil, err
	}
	switch block.Type {
	case "PUBLIC KEY":
		key, err := smx509.ParsePKIXPublicKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("sm: parse public key: %w", err)
		}
		return publicKey(key)
	case "CERTIFICATE":
		c, err := ParseCertificate(block.Bytes)
		if err != nil {
			return nil, err
		}
		return c.PublicKey(), nil
	}
	return nil, fmt.Errorf("sm: PEM block %q is not a public key", block.Type)
}

func publicKey(key any) (*PublicKey, error) {
	pub, ok := key.(*ecdsa.PublicKey)
	if !ok || !sm2.IsSM2PublicKey(pub) {
		return nil, ErrNotSM2
	}
	return &PublicKey{pub}, nil
}

func onePEM(data []byte) (*pem.Block, error) {
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, errors.New("sm: no PEM block found")
	}
	return block, nil
}
