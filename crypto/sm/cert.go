package sm

import (
	"crypto/rand"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/hex"
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

// NotBefore returns the start of the certificate's validity.
func (c *Certificate) NotBefore() time.Time { return c.c.NotBefore }

// Serial returns the serial number in lower-case hex.
func (c *Certificate) Serial() string { return c.c.SerialNumber.Text(16) }

// Fingerprint returns the SM3 digest of the certificate's DER encoding, what
// "openssl x509 -noout -fingerprint -sm3" prints.
func (c *Certificate) Fingerprint() string {
	sum := Sum(c.c.Raw)
	return hex.EncodeToString(sum[:])
}

// TimeStamping reports whether the certificate is a time-stamping
// authority's: its only extended key usage is timeStamping, marked critical,
// as RFC 3161 §2.3 and OpenSSL's "-purpose timestampsign" require.
func (c *Certificate) TimeStamping() bool {
	for _, e := range c.c.Extensions {
		if e.Id.Equal(oidExtKeyUsage) {
			var usages []asn1.ObjectIdentifier
			rest, err := asn1.Unmarshal(e.Value, &usages)
			return err == nil && len(rest) == 0 && e.Critical && len(usages) == 1 && usages[0].Equal(oidTimeStamping)
		}
	}
	return false
}

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

// leaf is what every certificate a CA here issues has in common: a fresh
// serial, the subject and the validity; the callers add its profile.
func leaf(commonName string, notBefore, notAfter time.Time, usage smx509.KeyUsage) *smx509.Certificate {
	return &smx509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: commonName, Organization: []string{"cxt"}},
		NotBefore:    notBefore,
		NotAfter:     notAfter,
		KeyUsage:     usage,
	}
}

// Issue signs a certificate for pub, usable by a TLS client and server.
func Issue(ca *Certificate, caKey *PrivateKey, pub *PublicKey, commonName string, notBefore, notAfter time.Time) (*Certificate, error) {
	tmpl := leaf(commonName, notBefore, notAfter, smx509.KeyUsageDigitalSignature|smx509.KeyUsageKeyAgreement)
	tmpl.ExtKeyUsage = []smx509.ExtKeyUsage{smx509.ExtKeyUsageServerAuth, smx509.ExtKeyUsageClientAuth}
	tmpl.DNSNames = []string{commonName}
	return create(tmpl, ca.c, pub, caKey)
}

var (
	oidExtKeyUsage   = asn1.ObjectIdentifier{2, 5, 29, 37}
	oidTimeStamping  = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 3, 8}
	timeStampingOnly = func() []byte {
		b, err := asn1.Marshal([]asn1.ObjectIdentifier{oidTimeStamping})
		if err != nil {
			panic(err)
		}
		return b
	}()
)

// IssueSigner signs a certificate for a person's or an organisation's
// document-signing key: digitalSignature and nonRepudiation
// (contentCommitment), no extended key usage and no host name, since the key
// signs documents and never a TLS handshake.
func IssueSigner(ca *Certificate, caKey *PrivateKey, pub *PublicKey, commonName string, notBefore, notAfter time.Time) (*Certificate, error) {
	tmpl := leaf(commonName, notBefore, notAfter, smx509.KeyUsageDigitalSignature|smx509.KeyUsageContentCommitment)
	return create(tmpl, ca.c, pub, caKey)
}

// IssueTimeStamper signs a certificate for a time-stamping key: its one
// extended key usage, timeStamping, is critical (RFC 3161 §2.3), so OpenSSL
// accepts it for "-purpose timestampsign" and refuses it for anything else.
func IssueTimeStamper(ca *Certificate, caKey *PrivateKey, pub *PublicKey, commonName string, notBefore, notAfter time.Time) (*Certificate, error) {
	tmpl := leaf(commonName, notBefore, notAfter, smx509.KeyUsageDigitalSignature|smx509.KeyUsageContentCommitment)
	tmpl.ExtraExtensions = []pkix.Extension{{Id: oidExtKeyUsage, Critical: true, Value: timeStampingOnly}}
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
