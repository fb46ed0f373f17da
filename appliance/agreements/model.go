package agreements

import (
	"time"

	"cxt/appliance/esign"
	"cxt/appliance/subjects"
	"cxt/policy"
)

// Kind is which agreement it is.
type Kind string

// The kinds, each with its shipped template.
const (
	// Cooperation is the merchant–platform cooperation agreement (平台商户合作协议).
	Cooperation Kind = "cooperation"
	// Tripartite is the service agreement of platform, merchant and worker
	// (灵活用工三方服务协议).
	Tripartite Kind = "tripartite"
)

// Template is the template each kind is rendered from.
func (k Kind) Template() string {
	if k == Tripartite {
		return "tripartite-service"
	}
	return "merchant-cooperation"
}

// Status is where an agreement is.
type Status string

// The statuses; an agreement only moves forward.
const (
	Signing  Status = "signing"  // waiting for some party's signature
	Signed   Status = "signed"   // every party signed; the countersignature is due
	Complete Status = "complete" // countersigned: the evidence package is stored
)

// DocRef is a document kept in the blob store under the platform's document
// key: the SM3 every read is checked against.
type DocRef struct {
	ID   string `json:"id"`
	SM3  string `json:"sm3"`
	Size int64  `json:"size"`
}

// TemplateRef names the exact template a PDF was rendered from.
type TemplateRef struct {
	ID      string `json:"id"`
	Version int    `json:"version"`
	SM3     string `json:"sm3"`
	Title   string `json:"title"`
}

// Party is one who must sign, and whether they have.
type Party struct {
	Role     string    `json:"role"`    // platform, merchant or worker (esign.Role*)
	Subject  string    `json:"subject"` // "platform", the merchant's ID or the worker's ID
	Name     string    `json:"name"`    // as the contract names them
	SignedAt time.Time `json:"signed_at,omitzero"`
	Account  string    `json:"account,omitempty"` // the account that signed
	Method   string    `json:"method,omitempty"`  // how they authenticated: sms or totp
}

// Evidence is one party's signature with its time stamp and authentication
// event (an esign.Signature as JSON): sealed under the party's own subject key
// for a merchant or worker, in the clear for the platform, which is no data
// subject.
type Evidence struct {
	Subject string          `json:"subject"`
	KeyID   uint32          `json:"key_id,omitempty"` // the subject key it is sealed under
	Sealed  subjects.Sealed `json:"sealed,omitempty"`
	Plain   []byte          `json:"plain,omitempty"`
}

// Agreement is an agreement's record in the state.
type Agreement struct {
	ID       string      `json:"id"`
	Kind     Kind        `json:"kind"`
	Template TemplateRef `json:"template"`
	Merchant string      `json:"merchant"`
	Worker   string      `json:"worker,omitempty"`
	// Values are the template's values, sealed under the key of the data
	// subject they describe (the worker's for a tripartite agreement, the
	// merchant's for a cooperation agreement): a shredded subject's
	// working copy goes with them.
	Values      subjects.Sealed `json:"values"`
	ValuesOwner string          `json:"values_owner"`
	ValuesKeyID uint32          `json:"values_key_id"`
	PDF         DocRef          `json:"pdf"`
	Parties     []Party         `json:"parties"`
	// Signatures are in signing order, which the evidence package keeps.
	Signatures []Evidence `json:"signatures,omitempty"`
	Status     Status     `json:"status"`
	CreatedBy  string     `json:"created_by"`
	Created    time.Time  `json:"created"`
	// Evidence is the sealed package, once complete.
	Evidence *DocRef   `json:"evidence,omitempty"`
	SealedAt time.Time `json:"sealed_at,omitzero"`
}

// ValuesAAD names an agreement's sealed values.
func ValuesAAD(id string) string { return "agreement/" + id + "/values" }

// EvidenceAAD names one party's sealed signature evidence.
func EvidenceAAD(id, subject string) string { return "agreement/" + id + "/evidence/" + subject }

// Tenancy is what the policy and the tenancy rule decide on: the agreement
// belongs to its merchant and, if tripartite, to its worker.
func (a *Agreement) Tenancy() policy.Resource {
	return policy.Resource{Label: 1, Owner: a.ID, Tenanted: true, Merchants: []string{a.Merchant}, Worker: a.Worker}
}

// party returns the party with subject, or nil.
func (a *Agreement) party(subject string) *Party {
	for i := range a.Parties {
		if a.Parties[i].Subject == subject {
			return &a.Parties[i]
		}
	}
	return nil
}

// complete reports whether every party signed.
func (a *Agreement) allSigned() bool {
	for _, p := range a.Parties {
		if p.SignedAt.IsZero() {
			return false
		}
	}
	return true
}

// esignParties are the parties as package esign names them.
func (a *Agreement) esignParties() []esign.Party {
	out := make([]esign.Party, len(a.Parties))
	for i, p := range a.Parties {
		out[i] = esign.Party{Role: p.Role, Subject: p.Subject, Name: p.Name}
	}
	return out
}

// Code is a signing code sent by SMS: bound to one agreement, one party, one
// account and the SM3 of the PDF as it was when the code was sent.
type Code struct {
	ID          string    `json:"id"` // also the ID of the proof it makes
	Agreement   string    `json:"agreement"`
	Subject     string    `json:"subject"`
	Account     string    `json:"account"`
	DocumentSM3 string    `json:"document_sm3"`
	MAC         []byte    `json:"mac"` // HMAC-SM3 of the code under the keyring's index key
	Issued      time.Time `json:"issued"`
	Expires     time.Time `json:"expires"`
	Misses      int       `json:"misses,omitempty"` // wrong codes sent against it
	Used        time.Time `json:"used,omitzero"`    // consumed: by a signing, or burnt by MaxMisses wrong codes
	Burnt       bool      `json:"burnt,omitempty"`
}

// Signing codes live CodeLifetime and die after MaxMisses wrong guesses; a
// party gets at most one every CodeEvery.
const (
	CodeLifetime = 5 * time.Minute
	MaxMisses    = 3
	CodeEvery    = time.Minute
)

// Proof is a consumed code as the state keeps it, until the signature it
// allows is recorded: a signature needs a consumed proof of its party for
// its agreement and PDF, and a proof allows one signature.
type Proof struct {
	ID          string    `json:"id"`
	Agreement   string    `json:"agreement"`
	Subject     string    `json:"subject"`
	Account     string    `json:"account"`
	DocumentSM3 string    `json:"document_sm3"`
	Consumed    time.Time `json:"consumed"`
	Signed      bool      `json:"signed,omitempty"`
}
