package esign

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"time"

	"cxt/appliance/errs"
	"cxt/crypto/sm"
)

// TokenFormat names the appliance's time-stamp token. It is a small JSON
// document signed with SM2 (default ID) rather than an RFC 3161 token: the
// OpenSSL 3.0 that verifiers have checks the signature of an SM2 RFC 3161
// token over the bare SM3 of its attributes, without the SM2 Z(A) prefix
// that GM/T 0009/0010 require, and cannot check an SM2-certified TSA's chain
// at all ("openssl ts -verify" takes no -vfyopt distid). A conformant SM2
// token therefore fails "openssl ts -verify", and one that passes would not
// be an SM2 signature anyone else accepts. This token verifies with
// "openssl dgst", like every other signature in the package.
const TokenFormat = "cxt-timestamp/1"

// Token is a time-stamp: Body is the exact JSON the authority signed.
type Token struct {
	Body      []byte `json:"body"`
	Signature []byte `json:"signature"` // DER SM2 over Body, default ID
}

// TokenBody is what a token says.
type TokenBody struct {
	Format       string    `json:"format"`
	Serial       string    `json:"serial"`
	Time         time.Time `json:"time"`
	TimeUnix     int64     `json:"time_unix"`
	Hash         string    `json:"hash"`
	ContractSM3  string    `json:"contract_sm3"`  // SM3 of contract.pdf
	SignatureSM3 string    `json:"signature_sm3"` // SM3 of the signature it dates
	Authority    string    `json:"authority"`     // SM3 fingerprint of the TSA's certificate
}

// Timestamper dates a signature. The appliance's own TSA is one; an
// external time-stamping service would be another.
type Timestamper interface {
	Stamp(contractSM3, signatureSM3 string) (Token, error)
	Certificate() *sm.Certificate
}

// TSA is the appliance's time-stamping authority: an SM2 key certified by
// the appliance's CA for time stamping only, and the clock it reads.
type TSA struct {
	Cert *sm.Certificate
	Key  *sm.PrivateKey
	Now  func() time.Time // the appliance's clock; time.Now when nil
}

// Certificate returns the TSA's certificate.
func (t *TSA) Certificate() *sm.Certificate { return t.Cert }

// Stamp signs a token saying that the signature with SM3 signatureSM3 over
// the contract with SM3 contractSM3 existed at the TSA's current time.
func (t *TSA) Stamp(contractSM3, signatureSM3 string) (Token, error) {
	const op = "time-stamp"
	if !t.Cert.TimeStamping() {
		return Token{}, errs.E(op, errs.Internal, "the TSA's certificate is not certified for time stamping")
	}
	now := time.Now
	if t.Now != nil {
		now = t.Now
	}
	at := now().UTC().Truncate(time.Second)
	serial := make([]byte, 16)
	if _, err := rand.Read(serial); err != nil {
		return Token{}, errs.Wrap(op, errs.Internal, err, "draw a serial")
	}
	body, err := json.MarshalIndent(TokenBody{
		Format: TokenFormat, Serial: hex.EncodeToString(serial), Time: at, TimeUnix: at.Unix(), Hash: "SM3",
		ContractSM3: contractSM3, SignatureSM3: signatureSM3, Authority: t.Cert.Fingerprint(),
	}, "", "  ")
	if err != nil {
		return Token{}, errs.Wrap(op, errs.Internal, err, "encode")
	}
	body = append(body, '\n')
	sig, err := t.Key.Sign(body)
	if err != nil {
		return Token{}, errs.Wrap(op, errs.Internal, err, "sign")
	}
	return Token{Body: body, Signature: sig}, nil
}

// NewTSA makes a time-stamping key and has the CA certify it.
func NewTSA(ca Authority, commonName string, now time.Time, lifetime time.Duration) (*TSA, error) {
	k, err := sm.GenerateKey()
	if err != nil {
		return nil, err
	}
	cert, err := sm.IssueTimeStamper(ca.Cert, ca.Key, k.Public(), commonName, now.Add(-clockSkew), now.Add(lifetime))
	if err != nil {
		return nil, err
	}
	return &TSA{Cert: cert, Key: k}, nil
}

// NewPlatform makes the platform's signing key and has the CA certify it.
func NewPlatform(ca Authority, commonName string, now time.Time, lifetime time.Duration) (*Platform, error) {
	k, err := sm.GenerateKey()
	if err != nil {
		return nil, err
	}
	cert, err := sm.IssueSigner(ca.Cert, ca.Key, k.Public(), commonName, now.Add(-clockSkew), now.Add(lifetime))
	if err != nil {
		return nil, err
	}
	return &Platform{Cert: cert, Key: k}, nil
}

func sm3hex(b []byte) string {
	sum := sm.Sum(b)
	return hex.EncodeToString(sum[:])
}
