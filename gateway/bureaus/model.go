package bureaus

import (
	"crypto/x509"
	"cxt/appliance/ident"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"cxt/crypto/sm"
)

// Statuses.
const (
	Live      = "live"
	Suspended = "suspended"
	Revoked   = "revoked"
)

// Client is a bureau's gateway client as the state keeps it.
type Client struct {
	ID      string   `json:"id"`
	Name    string   `json:"name"`
	Offices []string `json:"offices"` // tax office codes, sorted
	// Key is the SM2 key that signs the client's requests.
	Key
	// TLS, if set, is the certificate the client's connections present.
	TLS       *TLSCert     `json:"tls,omitempty"`
	Status    string       `json:"status"`
	Created   time.Time    `json:"created"`
	CreatedBy string       `json:"created_by"`
	Changed   time.Time    `json:"changed,omitzero"`
	ChangedBy string       `json:"changed_by,omitempty"`
	Reason    string       `json:"reason,omitempty"` // of the last change
	Retired   []RetiredKey `json:"retired_keys,omitempty"`
}

// Key is a client's signing key: its public half in PEM, and the SM2
// certificate it came from, if it was registered as one.
type Key struct {
	PublicKey   string `json:"public_key"`
	Certificate string `json:"certificate,omitempty"`
	Fingerprint string `json:"fingerprint_sm3"` // hex SM3 of the DER public key
}

// TLSCert is the certificate a client's mutual TLS presents.
type TLSCert struct {
	PEM         string `json:"pem"`
	Fingerprint string `json:"fingerprint_sm3"` // hex SM3 of the DER certificate
	Subject     string `json:"subject"`
	NotAfter    string `json:"not_after"`
}

// RetiredKey is a key rotated away: refused from Until on.
type RetiredKey struct {
	Fingerprint string    `json:"fingerprint_sm3"`
	Until       time.Time `json:"until"`
}

// Sees reports whether the client's scope holds office.
func (c *Client) Sees(office string) bool { return slices.Contains(c.Offices, office) }

// Limits of a registration.
const (
	MaxName    = 100
	MaxOffices = 200
)

// CheckName trims a client's name and refuses an empty or long one, or one
// with control characters.
func CheckName(name string) (string, error) {
	name = strings.TrimSpace(name)
	if name == "" || utf8.RuneCountInString(name) > MaxName || strings.ContainsFunc(name, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return "", fmt.Errorf("name: 1-%d characters naming the bureau's system, without control characters", MaxName)
	}
	return name, nil
}

// CheckOffices returns the office codes sorted, refusing none, too many, a
// repeated one or one not of a tax office's form.
func CheckOffices(offices []string) ([]string, error) {
	if len(offices) == 0 || len(offices) > MaxOffices {
		return nil, fmt.Errorf("offices: 1 to %d tax office codes", MaxOffices)
	}
	out := slices.Clone(offices)
	slices.Sort(out)
	for i, o := range out {
		if err := ident.CheckTaxOffice(o); err != nil {
			return nil, err
		}
		if i > 0 && out[i-1] == o {
			return nil, fmt.Errorf("offices: %s is named twice", o)
		}
	}
	return out, nil
}

// CheckKey reads a signing key given as an SM2 public key or an SM2
// certificate (exactly one).
func CheckKey(publicKey, certificate string) (Key, error) {
	var pub *sm.PublicKey
	switch {
	case (publicKey == "") == (certificate == ""):
		return Key{}, fmt.Errorf("public_key or certificate: give the SM2 public key that signs the requests, or the SM2 certificate of it (one of the two)")
	case certificate != "":
		c, err := sm.ParseCertificatePEM([]byte(certificate))
		if err != nil {
			return Key{}, fmt.Errorf("certificate: an SM2 certificate in PEM: %v", err)
		}
		if pub = c.PublicKey(); pub == nil {
			return Key{}, fmt.Errorf("certificate: its key is not an SM2 key")
		}
		certificate = string(c.PEM())
		b, err := pub.MarshalPEM()
		if err != nil {
			return Key{}, err
		}
		publicKey = string(b)
	default:
		var err error
		if pub, err = sm.ParsePublicKeyPEM([]byte(publicKey)); err != nil {
			return Key{}, fmt.Errorf("public_key: an SM2 public key in PEM (openssl pkey -in key.pem -pubout): %v", err)
		}
	}
	fp := pub.Fingerprint()
	return Key{PublicKey: publicKey, Certificate: certificate, Fingerprint: hex.EncodeToString(fp[:])}, nil
}

// Public parses the key's public half.
func (k Key) Public() (*sm.PublicKey, error) { return sm.ParsePublicKeyPEM([]byte(k.PublicKey)) }

// CheckTLS reads the certificate a client's mutual TLS presents: one X.509
// certificate in PEM whose key the standard TLS stack speaks (ECDSA, RSA
// or Ed25519), for client authentication.
func CheckTLS(certPEM string) (*TLSCert, error) {
	block, rest := pem.Decode([]byte(certPEM))
	if block == nil || block.Type != "CERTIFICATE" || strings.TrimSpace(string(rest)) != "" {
		return nil, fmt.Errorf("tls_certificate: one X.509 certificate in PEM")
	}
	c, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("tls_certificate: %v (an ECDSA, RSA or Ed25519 certificate: TLS here carries no SM2 certificate)", err)
	}
	if len(c.ExtKeyUsage) > 0 && !slices.Contains(c.ExtKeyUsage, x509.ExtKeyUsageClientAuth) && !slices.Contains(c.ExtKeyUsage, x509.ExtKeyUsageAny) {
		return nil, fmt.Errorf("tls_certificate: its extended key usage does not allow client authentication")
	}
	fp := sm.Sum(c.Raw)
	return &TLSCert{PEM: string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})), Fingerprint: hex.EncodeToString(fp[:]),
		Subject: c.Subject.String(), NotAfter: c.NotAfter.UTC().Format(time.RFC3339)}, nil
}

// Matches reports whether der is the pinned certificate.
func (t *TLSCert) Matches(der []byte) bool {
	fp := sm.Sum(der)
	return hex.EncodeToString(fp[:]) == t.Fingerprint
}
