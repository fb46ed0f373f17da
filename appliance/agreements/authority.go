package agreements

import (
	"encoding/json"
	"fmt"
	"time"

	"cxt/appliance/esign"
	"cxt/appliance/subjects"
	"cxt/crypto/keyring"
	"cxt/crypto/sm"
	"cxt/storage/state"
)

// The e-signing authority's lifetimes. A signer's certificate ends with the
// CA's at the latest (esign.NewSignerKey); signatures stay verifiable after
// any of them ends, since the package is checked at its sealing time.
const (
	caLifetime        = 20 * 365 * 24 * time.Hour
	serviceLifetime   = 10 * 365 * 24 * time.Hour // the TSA's and the platform's certificates
	authorityBackdate = time.Hour
)

// Authority is the appliance's e-signing authority as the state keeps it:
// its own CA (not the cluster's; see DESIGN.md), the time-stamping key and
// the platform's signing key, each certified by that CA, and the platform's
// legal identity that its certificate and every contract name. The private
// keys are in the replicated state, so that every node can sign and time
// stamp, each wrapped by the keyring (purpose "signing", bound to its name):
// besides the sealing of every value and log entry, a read of the record
// holds no key, and only this package's Open unwraps them.
type Authority struct {
	PlatformName string    `json:"platform_name"`
	PlatformUSCC string    `json:"platform_uscc"`
	CA           []byte    `json:"ca"` // PEM
	CAKey        []byte    `json:"ca_key"`
	TSA          []byte    `json:"tsa"`
	TSAKey       []byte    `json:"tsa_key"`
	Platform     []byte    `json:"platform"`
	PlatformKey  []byte    `json:"platform_key"`
	Created      time.Time `json:"created"`
}

// NewAuthority makes the CA, the time-stamping key and the platform's key
// (slow and random: the proposer's work, before the command).
func NewAuthority(keys *keyring.Keyring, platformName, platformUSCC string, now time.Time) (*Authority, error) {
	caKey, err := sm.GenerateKey()
	if err != nil {
		return nil, err
	}
	ca, err := sm.NewCA(caKey, "cxt e-signing CA · "+platformName, now.Add(-authorityBackdate), now.Add(caLifetime))
	if err != nil {
		return nil, err
	}
	auth := esign.Authority{Cert: ca, Key: caKey}
	tsa, err := esign.NewTSA(auth, platformName+" TSA", now, serviceLifetime)
	if err != nil {
		return nil, err
	}
	platform, err := esign.NewPlatform(auth, platformName, now, serviceLifetime)
	if err != nil {
		return nil, err
	}
	a := &Authority{PlatformName: platformName, PlatformUSCC: platformUSCC, CA: ca.PEM(), TSA: tsa.Cert.PEM(), Platform: platform.Cert.PEM(), Created: now.UTC()}
	for _, k := range []struct {
		name string
		key  *sm.PrivateKey
		out  *[]byte
	}{{"ca", caKey, &a.CAKey}, {"tsa", tsa.Key, &a.TSAKey}, {"platform", platform.Key, &a.PlatformKey}} {
		pem, err := k.key.MarshalPEM()
		if err != nil {
			return nil, err
		}
		*k.out, err = keys.Seal(keyring.Signing, keyAAD(k.name), pem)
		clear(pem)
		if err != nil {
			return nil, err
		}
	}
	return a, nil
}

// Keys are the authority's keys ready to use.
type Keys struct {
	CA       esign.Authority
	TSA      *esign.TSA
	Platform *esign.Platform
}

// keyAAD binds a wrapped private key to its role in the authority.
func keyAAD(name string) []byte { return []byte("cxt/esign/authority/v1/" + name + "-key") }

// Open unwraps and parses the authority's keys; now is the TSA's clock.
func (a *Authority) Open(keys *keyring.Keyring, now func() time.Time) (*Keys, error) {
	cert := func(b []byte) (*sm.Certificate, error) { return sm.ParseCertificatePEM(b) }
	var name string
	key := func(b []byte) (*sm.PrivateKey, error) {
		pem, err := keys.Open(keyring.Signing, keyAAD(name), b)
		if err != nil {
			return nil, err
		}
		defer clear(pem)
		return sm.ParsePrivateKeyPEM(pem)
	}
	var k Keys
	var err error
	if k.CA.Cert, err = cert(a.CA); err == nil {
		name = "ca"
		k.CA.Key, err = key(a.CAKey)
	}
	var tsaCert, platCert *sm.Certificate
	var tsaKey, platKey *sm.PrivateKey
	if err == nil {
		tsaCert, err = cert(a.TSA)
	}
	if err == nil {
		name = "tsa"
		tsaKey, err = key(a.TSAKey)
	}
	if err == nil {
		platCert, err = cert(a.Platform)
	}
	if err == nil {
		name = "platform"
		platKey, err = key(a.PlatformKey)
	}
	if err != nil {
		return nil, fmt.Errorf("agreements: the e-signing authority: %w", err)
	}
	k.TSA = &esign.TSA{Cert: tsaCert, Key: tsaKey, Now: now}
	k.Platform = &esign.Platform{Cert: platCert, Key: platKey}
	return &k, nil
}

// Public is the authority as anyone may see it: what a verifier compares an
// evidence package's ca.pem with.
func (a *Authority) Public() map[string]any {
	ca, _ := sm.ParseCertificatePEM(a.CA)
	fp := ""
	if ca != nil {
		fp = ca.Fingerprint()
	}
	return map[string]any{
		"platform_name": a.PlatformName, "platform_uscc": a.PlatformUSCC,
		"ca": string(a.CA), "ca_fingerprint_sm3": fp, "tsa": string(a.TSA), "platform": string(a.Platform),
		"created": a.Created,
	}
}

const authorityKey = "authority"

// GetAuthority reads the authority; nil if none was set up.
func GetAuthority(tx getter) (*Authority, error) {
	b, err := tx.Get(AuthorityBucket, []byte(authorityKey))
	if err != nil || b == nil {
		return nil, err
	}
	var a Authority
	if err := json.Unmarshal(b, &a); err != nil {
		return nil, fmt.Errorf("agreements: authority: %w", err)
	}
	return &a, nil
}

// setAuthority installs the authority once: a second one would orphan every
// certificate the first issued.
func setAuthority(tx *state.Tx, cmd *state.Command) ([]byte, error) {
	var a Authority
	if err := json.Unmarshal(cmd.Body, &a); err != nil || a.PlatformName == "" || a.PlatformUSCC == "" ||
		len(a.CA) == 0 || len(a.CAKey) == 0 || len(a.TSA) == 0 || len(a.TSAKey) == 0 || len(a.Platform) == 0 || len(a.PlatformKey) == 0 {
		return nil, state.Reject(state.InvalidRequest, "an e-signing authority names the platform and holds the CA, TSA and platform certificates and keys")
	}
	if prev, err := GetAuthority(tx); err != nil {
		return nil, err
	} else if prev != nil {
		return nil, state.Reject(state.Conflict, "the e-signing authority of %s was set up at %s; it is set up once", prev.PlatformName, prev.Created.Format(time.RFC3339))
	}
	return nil, tx.Put(AuthorityBucket, []byte(authorityKey), cmd.Body)
}

// SignerKey is a merchant's or worker's signing key as the state keeps it:
// sealed under the subject key with KeyID.
type SignerKey struct {
	esign.SealedKey
	KeyID uint32 `json:"key_id"`
}

// GetSignerKey reads a subject's signing key; nil if it has none yet.
func GetSignerKey(tx getter, subject string) (*SignerKey, error) {
	b, err := tx.Get(SignerKeysBucket, []byte(subject))
	if err != nil || b == nil {
		return nil, err
	}
	var k SignerKey
	if err := json.Unmarshal(b, &k); err != nil {
		return nil, fmt.Errorf("agreements: signer key of %s: %w", subject, err)
	}
	return &k, nil
}

// setSignerKey records a subject's first signing key. A key is made once
// per subject: a second proposal (a race) is refused and its maker reads
// the first.
func setSignerKey(tx *state.Tx, cmd *state.Command) ([]byte, error) {
	var k SignerKey
	if err := json.Unmarshal(cmd.Body, &k); err != nil || k.Subject == "" || len(k.Certificate) == 0 || len(k.Sealed) == 0 {
		return nil, state.Reject(state.InvalidRequest, "a signer key names its subject and holds its certificate and sealed key")
	}
	if err := subjects.Require(tx, k.Subject, k.KeyID); err != nil {
		return nil, err
	}
	if prev, err := GetSignerKey(tx, k.Subject); err != nil {
		return nil, err
	} else if prev != nil {
		return nil, state.Reject(state.Conflict, "%s already has a signing key", k.Subject)
	}
	return nil, tx.Put(SignerKeysBucket, []byte(k.Subject), cmd.Body)
}
