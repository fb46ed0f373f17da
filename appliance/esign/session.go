package esign

import (
	"time"

	"cxt/appliance/errs"
	"cxt/crypto/sm"
	"cxt/crypto/subjectkey"
)

// Roles a party signs in.
const (
	RolePlatform = "platform"
	RoleMerchant = "merchant"
	RoleWorker   = "worker"
)

// Party is one who must sign.
type Party struct {
	Role    string `json:"role"`
	Subject string `json:"subject"` // the merchant's or worker's ID; "platform" for the platform
	Name    string `json:"name"`    // as the contract names them
}

// Contract is the document being signed and where it came from.
type Contract struct {
	ID              string `json:"id"`
	Title           string `json:"title"`
	TemplateID      string `json:"template_id"`
	TemplateVersion int    `json:"template_version"`
	TemplateSM3     string `json:"template_sm3"`
	PDF             []byte `json:"-"`
}

// Signature is one party's signature with its evidence.
type Signature struct {
	Party          Party     `json:"party"`
	Certificate    []byte    `json:"certificate"` // DER
	Value          []byte    `json:"value"`       // DER SM2 over the PDF, default ID
	SignedAt       time.Time `json:"signed_at"`
	Authentication Proof     `json:"authentication"`
	Timestamp      Token     `json:"timestamp"`
}

// Session collects the parties' signatures over one PDF.
type Session struct {
	Contract   Contract
	Parties    []Party
	Signatures []Signature // in the order they were made
	sm3        string
}

// NewSession starts signing c by parties: at least one, each subject once,
// the platform only as "platform".
func NewSession(c Contract, parties []Party) (*Session, error) {
	const op = "start signing"
	if len(c.PDF) == 0 || c.ID == "" {
		return nil, errs.E(op, errs.Invalid, "a contract needs an ID and its PDF")
	}
	if len(parties) == 0 {
		return nil, errs.E(op, errs.Invalid, "a contract needs at least one party")
	}
	seen := map[string]bool{}
	for _, p := range parties {
		switch {
		case p.Role != RolePlatform && p.Role != RoleMerchant && p.Role != RoleWorker:
			return nil, errs.E(op, errs.Invalid, "party role %q: platform, merchant or worker", p.Role)
		case (p.Role == RolePlatform) != (p.Subject == PlatformSubject):
			return nil, errs.E(op, errs.Invalid, "the platform, and only it, signs as subject %q", PlatformSubject)
		case p.Subject == "" || seen[p.Subject]:
			return nil, errs.E(op, errs.Invalid, "party subject %q is empty or named twice", p.Subject)
		}
		seen[p.Subject] = true
	}
	return &Session{Contract: c, Parties: append([]Party(nil), parties...), sm3: sm3hex(c.PDF)}, nil
}

// DocumentSM3 is the hex SM3 of the PDF: what a signer's code is bound to.
func (s *Session) DocumentSM3() string { return s.sm3 }

// party finds subject among the parties who have not signed yet.
func (s *Session) party(subject string) (Party, error) {
	for _, sig := range s.Signatures {
		if sig.Party.Subject == subject {
			return Party{}, errs.Coded("sign", errs.Conflict, CodeAlreadySigned, "%s has already signed contract %s", subject, s.Contract.ID)
		}
	}
	for _, p := range s.Parties {
		if p.Subject == subject {
			return p, nil
		}
	}
	return Party{}, errs.Coded("sign", errs.Permission, CodeNotAParty, "%s is not a party to contract %s", subject, s.Contract.ID)
}

// SignAsSubject signs the PDF with a merchant's or worker's key: the proof
// must be fresh, for this subject and this document, and unused; the ledger
// consumes it before the key is opened.
func (s *Session) SignAsSubject(key *SealedKey, subject *subjectkey.Key, proof Proof, ledger Ledger, tsa Timestamper, now time.Time) (*Signature, error) {
	p, err := s.party(subject.Subject())
	if err != nil {
		return nil, err
	}
	if err := proof.check(p.Subject, s.sm3, now); err != nil {
		return nil, err
	}
	if err := ledger.Consume(proof, now); err != nil {
		return nil, err
	}
	k, cert, err := key.open(subject)
	if err != nil {
		return nil, err
	}
	return s.sign(p, k, cert, proof, tsa, now)
}

// SignAsPlatform signs the PDF as the platform, a party to its agreements,
// after an operator of the platform authenticated afresh for this document.
func (s *Session) SignAsPlatform(platform *Platform, proof Proof, ledger Ledger, tsa Timestamper, now time.Time) (*Signature, error) {
	p, err := s.party(PlatformSubject)
	if err != nil {
		return nil, err
	}
	if err := proof.check(PlatformSubject, s.sm3, now); err != nil {
		return nil, err
	}
	if err := ledger.Consume(proof, now); err != nil {
		return nil, err
	}
	return s.sign(p, platform.Key, platform.Cert, proof, tsa, now)
}

func (s *Session) sign(p Party, k *sm.PrivateKey, cert *sm.Certificate, proof Proof, tsa Timestamper, now time.Time) (*Signature, error) {
	const op = "sign"
	value, err := k.Sign(s.Contract.PDF)
	if err != nil {
		return nil, errs.Wrap(op, errs.Internal, err, "sign the contract")
	}
	if err := CheckSignature(cert, s.Contract.PDF, value); err != nil {
		return nil, errs.Wrap(op, errs.Internal, err, "a fresh signature does not verify")
	}
	token, err := tsa.Stamp(s.sm3, sm3hex(value))
	if err != nil {
		return nil, err
	}
	sig := Signature{Party: p, Certificate: cert.DER(), Value: value, SignedAt: now.UTC(), Authentication: proof, Timestamp: token}
	s.Signatures = append(s.Signatures, sig)
	return &sig, nil
}

// CheckSignature reports whether sig is cert's SM2 signature over pdf,
// as "openssl dgst -sm3 -sigopt distid:1234567812345678 -verify" does.
func CheckSignature(cert *sm.Certificate, pdf, sig []byte) error {
	if !cert.PublicKey().Verify(pdf, sig) {
		return errs.Coded("check signature", errs.Invalid, CodeSignatureInvalid, "the signature of %s does not verify over this document: the document or the signature was changed", cert.CommonName())
	}
	return nil
}

// Complete reports whether every party has signed.
func (s *Session) Complete() bool { return len(s.Signatures) == len(s.Parties) }
