package sm

import (
	"crypto/rand"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"time"

	"github.com/emmansun/gmsm/smx509"
)

// Certificate is an X.509 certificate signed with SM2-with-SM3.
type Certificate struct{ c *smx509.Certificate }

// ParseCertificate parses one DER certificate whose key is SM2.
func ParseCertificate(der []byte) (*Certificate, error) {
	c, err := smx509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("sm: parse certificate: %w", err)
	}
	if _, err := publicKey(c.PublicKey); err != nil {
		return nil, err
	}
	return &Certificate{c}, nil
}

// ParseCertificatePEM parses the first "CERTIFICATE" block of data.
func ParseCertificatePEM(data []byte) (*Certificate, error) {
	block, err := onePEM(data)
	if err != nil {
		return nil, err
	}
	if block.Type != "CERTIFICATE" {
		return nil, fmt.Errorf("sm: PEM block %q is not a certificate", block.Type)
	}
	return ParseCertificate(block.Bytes)
}

// DER returns the certificate's DER encoding.
func (c *Certificate) DER() []byte { return c.c.Raw }

// PEM returns the certificate as a "CERTIFICATE" block.
func (c *Certificate) PEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.c.Raw})
}

// PublicKey returns the certificate's subject key.
func (c *Certificate) PublicKey() *PublicKey {
	p, _ := publicKey(c.c.PublicKey) // checked when parsed or created
	return p
}

// CommonName returns the subject's common name.
func (c *Certificate) CommonName() string { return c.c.Subject.CommonName }

// NotAfter returns the end of the certificate's validity.
func (c *Certificate) NotAfter() time.Time { return c.c.NotAfter }

// VerifyIssuedBy checks that c was signed by ca, is valid at now, and may be
// used for authenticating a TLS peer.
func (c *Certificate) VerifyIssuedBy(ca *Certificate, now time.Time) error {
	roots := smx509.NewCertPool()
	roots.AddCert(ca.c)
	_, err := c.c.Verify(smx509.VerifyOptions{
		Roots:       roots,
		CurrentTime: now,
		KeyUsages:   []smx509.ExtKeyUsage{smx509.ExtKeyUsageAny},
	})
	if err != nil {
		return fmt.Errorf("sm: certificate %q: %w", c.CommonName(), err)
	}
	return nil
}

// NewCA creates a self-signed certificate authority for key.
func NewCA(key *PrivateKey, commonName string, notBefore, notAfter time.Time) (*Certificate, error) {
	tmpl := &smx509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: commonName, Organization: []string{"cxt"}},
		NotBefore:             notBefore,
		NotAfter:              notAfter,
		KeyUsage:              smx509.KeyUsageCertSign | smx509.KeyUsageCRLSign | smx509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	return create(tmpl, tmpl, key.Public(), key)
}

// Issue signs a certificate for pub, usable by a TLS client and server.
func Issue(ca *Certificate, caKey *PrivateKey, pub *PublicKey, commonName string, notBefore, notAfter time.Time) (*Certificate, error) {
	tmpl := &smx509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: commonName, Organization: []string{"cxt"}},
		NotBefore:    notBefore,
		NotAfter:     notAfter,
		KeyUsage:     smx509.KeyUsageDigitalSignature | smx509.KeyUsageKeyAgreement,
		ExtKeyUsage:  []smx509.ExtKeyUsage{smx509.ExtKeyUsageServerAuth, smx509.ExtKeyUsageClientAuth},
		DNSNames:     []string{commonName},
	}
	return create(tmpl, ca.c, pub, caKey)
}

func create(tmpl, parent *smx509.Certificate, pub *PublicKey, signer *PrivateKey) (*Certificate, error) {
	tmpl.SignatureAlgorithm = smx509.SM2WithSM3
	der, err := smx509.CreateCertificate(rand.Reader, tmpl, parent, pub.k, signer.k)
	if err != nil {
		return nil, fmt.Errorf("sm: create certificate: %w", err)
	}
	return ParseCertificate(der)
}

func serial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		panic(err) // the system random source does not fail on supported platforms
	}
	return n
}
