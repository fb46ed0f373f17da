package esign

import (
	"encoding/hex"
	"time"

	"cxt/appliance/errs"
	"cxt/crypto/sm"
	"cxt/crypto/subjectkey"
)

// SignerCertificateLifetime is how long a signer's certificate is valid. A
// signature stays verifiable after it expires: the evidence package checks
// certificates at the time the platform sealed it ("openssl verify -attime").
const SignerCertificateLifetime = 5 * 365 * 24 * time.Hour

// clockSkew is how far back a new certificate's validity starts, so a
// verifier whose clock is slightly behind accepts it.
const clockSkew = 5 * time.Minute

// Authority is the appliance's CA, which certifies signers, the
// time-stamping key and the platform's key.
type Authority struct {
	Cert *sm.Certificate
	Key  *sm.PrivateKey
}

// Platform is the platform's own signing key: it signs as a party and
// countersigns every evidence package.
type Platform struct {
	Cert *sm.Certificate
	Key  *sm.PrivateKey
}

// SealedKey is a signer's SM2 key as the appliance keeps it: the
// certificate in the clear, the private key sealed under the signer's
// subject key and bound to that certificate.
type SealedKey struct {
	Subject     string `json:"subject"`
	Certificate []byte `json:"certificate"` // DER
	Sealed      []byte `json:"sealed"`      // PKCS#8 PEM, a subjectkey envelope
}

// keyAAD names the record a signer's key is sealed for: its subject and the
// SM3 of its certificate, so a sealed key cannot be paired with another
// subject's or another certificate.
func keyAAD(subject string, certDER []byte) []byte {
	sum := sm.Sum(certDER)
	return []byte("cxt/esign/signer-key/v1/" + subject + "/" + hex.EncodeToString(sum[:]))
}

// NewSignerKey makes a signer's key, has the CA certify it under the
// subject's ID as common name, and seals it under the subject's key.
func NewSignerKey(ca Authority, subject *subjectkey.Key, now time.Time) (*SealedKey, error) {
	const op = "new signer key"
	k, err := sm.GenerateKey()
	if err != nil {
		return nil, errs.Wrap(op, errs.Internal, err, "generate a key")
	}
	notAfter := now.Add(SignerCertificateLifetime)
	if ca.Cert.NotAfter().Before(notAfter) {
		notAfter = ca.Cert.NotAfter()
	}
	cert, err := sm.IssueSigner(ca.Cert, ca.Key, k.Public(), subject.Subject(), now.Add(-clockSkew), notAfter)
	if err != nil {
		return nil, errs.Wrap(op, errs.Internal, err, "certify the key")
	}
	pemKey, err := k.MarshalPEM()
	if err != nil {
		return nil, errs.Wrap(op, errs.Internal, err, "encode the key")
	}
	defer clear(pemKey)
	sealed, err := subject.Seal(keyAAD(subject.Subject(), cert.DER()), pemKey)
	if err != nil {
		return nil, errs.Wrap(op, errs.Internal, err, "seal the key")
	}
	return &SealedKey{Subject: subject.Subject(), Certificate: cert.DER(), Sealed: sealed}, nil
}

// open unseals the key. Callers reach it only through a Session, after a
// proof was checked and consumed.
func (s *SealedKey) open(subject *subjectkey.Key) (*sm.PrivateKey, *sm.Certificate, error) {
	const op = "open signer key"
	if subject.Subject() != s.Subject {
		return nil, nil, errs.E(op, errs.Internal, "the key of %s offered for %s", subject.Subject(), s.Subject)
	}
	cert, err := sm.ParseCertificate(s.Certificate)
	if err != nil {
		return nil, nil, errs.Wrap(op, errs.Internal, err, "the signer's certificate")
	}
	pemKey, err := subject.Open(keyAAD(s.Subject, s.Certificate), s.Sealed)
	if err != nil {
		return nil, nil, errs.Wrap(op, errs.Internal, err, "the signer's key does not open under %s's key", s.Subject)
	}
	defer clear(pemKey)
	k, err := sm.ParsePrivateKeyPEM(pemKey)
	if err != nil {
		return nil, nil, errs.Wrap(op, errs.Internal, err, "the signer's key")
	}
	if !k.Public().Equal(cert.PublicKey()) {
		return nil, nil, errs.E(op, errs.Internal, "the signer's key is not the certificate's")
	}
	return k, cert, nil
}
