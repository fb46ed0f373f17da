package workers

import (
	"slices"
	"time"

	"cxt/appliance/subjects"
	"cxt/policy"
)

// Private is what a worker keeps sealed under their own key.
type Private struct {
	Name     string `json:"name"`
	IDNumber string `json:"id_number"`
	Phone    string `json:"phone"`
	BankCard string `json:"bank_card,omitempty"`
}

// PrivateAAD names a worker's sealed fields, so they open only as this
// worker's.
func PrivateAAD(id string) string { return "worker/" + id + "/private" }

// ReferenceAAD names a sealed provider reference or tax registration
// result of a worker.
func ReferenceAAD(id, what string) string { return "worker/" + id + "/" + what }

// Origin says how a worker came to be registered.
const (
	OriginSelf    = "self"    // registered themselves
	OriginInvited = "invited" // a merchant's bulk invitation
)

// Verification statuses.
const (
	Unverified = "unverified"
	Verified   = "verified"
	Failed     = "failed"
)

// Check is a provider's answer recorded on a worker: a real-name
// verification or a face-liveness check. The provider's reference is
// sealed under the worker's key; no image is ever kept.
type Check struct {
	Status    string          `json:"status"` // verified or failed
	Provider  string          `json:"provider"`
	Reference subjects.Sealed `json:"reference"`
	Score     float64         `json:"score"`
	Reason    string          `json:"reason,omitempty"`
	At        time.Time       `json:"at"`
	By        string          `json:"by"`
}

// Worker is a worker's record in the state: one person platform-wide.
type Worker struct {
	ID        string          `json:"id"`
	KeyID     uint32          `json:"key_id"`
	Private   subjects.Sealed `json:"private"` // Private under the worker's key
	Account   string          `json:"account,omitempty"`
	Merchants []string        `json:"merchants"` // linked merchants, sorted
	Origin    string          `json:"origin"`
	RealName  *Check          `json:"real_name,omitempty"`
	Liveness  *Check          `json:"liveness,omitempty"`
	Created   time.Time       `json:"created"`
	// IDIndex is the blind index of the resident ID number (hex), the key
	// of IDIndexBucket, kept on the record from command set 6 so that the
	// payouts and the risk rules compare people without a reverse lookup
	// (IDIndexOf; merchants.PersonIndex computes the same).
	IDIndex string `json:"id_index,omitempty"`
	// CardIndex and DeviceIndex are the blind indexes (hex) of the bank
	// card and of the registering device, kept on the record from command
	// set 6 for the payout rules' lists (CardBucket and SourceBucket hold
	// the same for inspection, by index).
	CardIndex   string `json:"card_index,omitempty"`
	DeviceIndex string `json:"device_index,omitempty"`
	// Risk is the identity rules' decision at registration
	// (policy/risk/worker.rego), with its input for replay: a hold lets
	// the worker register and stays here for platform staff to see.
	Risk *policy.Decided `json:"risk,omitempty"`
	// Cancelled is when the worker cancelled their account (command set 9,
	// appliance/privacy): the archives count the retention from it.
	Cancelled *time.Time `json:"cancelled,omitempty"`
	// Restricted holds the worker's processing to storage and security
	// measures (PIPL art. 47 ¶2): no new links, no new payments.
	Restricted *Restriction `json:"restricted,omitempty"`
}

// Tenancy is the worker as the policy sees it: theirs, and each linked
// merchant's.
func (w *Worker) Tenancy() policy.Resource {
	return policy.Resource{Label: 1, Owner: w.ID, Tenanted: true, Worker: w.ID, Merchants: slices.Clone(w.Merchants)}
}

// Link statuses.
const (
	Invited = "invited" // the merchant invited the worker
	Active  = "active"  // the worker accepted
)

// Link is one merchant–worker pair.
type Link struct {
	Merchant string    `json:"merchant"`
	Worker   string    `json:"worker"`
	Status   string    `json:"status"`
	Invited  time.Time `json:"invited"`
	By       string    `json:"by"` // the account that invited
	Accepted time.Time `json:"accepted,omitzero"`
}

// LinkKey is a link's key: by merchant first, so a merchant's workers are
// one range.
func LinkKey(merchant, worker string) []byte { return []byte(merchant + "/" + worker) }

// Consent purposes: what a worker agrees to, each separately (PIPL §14, §29:
// sensitive personal information — ID numbers, biometrics — needs its own
// consent).
const (
	PurposePersonalInfo = "personal_info"    // processing their personal information to work through the platform
	PurposeRealName     = "real_name"        // real-name verification with a third party
	PurposeFaceLiveness = "face_liveness"    // a face-liveness check by a provider
	PurposeTaxRegister  = "tax_registration" // registering for tax on their behalf
	PurposeThirdParty   = "third_party_sharing"
)

// Purposes lists the purposes.
var Purposes = []string{PurposePersonalInfo, PurposeRealName, PurposeFaceLiveness, PurposeTaxRegister, PurposeThirdParty}

// Channels a consent is given through.
var Channels = []string{"app", "web", "h5", "mini_program", "paper"}

// Consent is a worker's consent to one purpose, as shown to them.
type Consent struct {
	ID            string     `json:"id"`
	Worker        string     `json:"worker"`
	Purpose       string     `json:"purpose"`
	NoticeSM3     string     `json:"notice_sm3"` // hex SM3 of the notice text shown
	NoticeVersion string     `json:"notice_version"`
	Channel       string     `json:"channel"`
	Given         time.Time  `json:"given"`
	By            string     `json:"by"`
	Withdrawn     *time.Time `json:"withdrawn,omitempty"`
	WithdrawnBy   string     `json:"withdrawn_by,omitempty"`
}

// Live reports whether the consent holds.
func (c *Consent) Live() bool { return c.Withdrawn == nil }

// ChildKey keys a worker's consents and tax registrations: by worker
// first, so each worker's are one range.
func ChildKey(worker, id string) []byte { return []byte(worker + "/" + id) }

// Tax registration kinds.
const (
	TaxTemporary  = "temporary"           // 临时税务登记
	TaxIndividual = "individual_business" // 个体工商户登记
)

// Tax registration statuses.
const (
	TaxPending    = "pending"
	TaxRegistered = "registered"
	TaxRefused    = "refused"
)

// TaxRegistration is a request to register a worker for tax on their
// behalf (authorised by their tax_registration consent), and its result.
type TaxRegistration struct {
	ID        string          `json:"id"`
	Worker    string          `json:"worker"`
	Kind      string          `json:"kind"`
	Merchant  string          `json:"merchant,omitempty"` // the merchant whose work it is for, if any
	Consent   string          `json:"consent"`            // the consent that authorised it
	Status    string          `json:"status"`
	Requested time.Time       `json:"requested"`
	By        string          `json:"by"`
	Decided   time.Time       `json:"decided,omitzero"`
	DecidedBy string          `json:"decided_by,omitempty"`
	Reference subjects.Sealed `json:"reference,omitempty"` // the tax office's registration number, sealed
	Reason    string          `json:"reason,omitempty"`
}
