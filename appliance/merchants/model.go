// Package merchants keeps the enterprises that outsource work through the
// platform (用工企业): their applications, the platform's review, their
// operating model, qualification documents, rating, changes and closure.
//
// Invariants:
//   - A merchant is a data subject: its legal representative, contacts and
//     bank account are sealed under its own key (appliance/subjects) before
//     they are proposed; answers mask them unless an important operation
//     unmasks them.
//   - Its unified social credit code is unique: a blind index (HMAC-SM3
//     under the keyring's index key) finds a second application with it.
//   - Status moves only along Transitions; every move is an Event with who,
//     when and why, and notifies the applicant.
package merchants

import (
	"fmt"
	"time"

	"cxt/appliance/subjects"
	"cxt/policy"
)

// Status is where a merchant is in its life.
type Status string

// The statuses.
const (
	Applied  Status = "applied"   // waiting for a reviewer
	MoreInfo Status = "more_info" // the reviewer asked for more
	Approved Status = "approved"
	Rejected Status = "rejected"
	Closed   Status = "closed"
)

// Action is what moves a merchant from one status to another.
type Action string

// The actions.
const (
	ActApprove  Action = "approve"
	ActReject   Action = "reject"
	ActAskMore  Action = "ask_more"
	ActResubmit Action = "resubmit"
	ActClose    Action = "close"
)

// Transitions says which action is allowed from which status, and where it
// leads.
var Transitions = map[Status]map[Action]Status{
	Applied:  {ActApprove: Approved, ActReject: Rejected, ActAskMore: MoreInfo},
	MoreInfo: {ActResubmit: Applied, ActReject: Rejected},
	Approved: {ActClose: Closed},
}

// Next returns where action leads from s, or why it cannot.
func Next(s Status, a Action) (Status, error) {
	to, ok := Transitions[s][a]
	if !ok {
		return s, fmt.Errorf("a merchant that is %s cannot %s", s, a)
	}
	return to, nil
}

// OperatingModel is standard §5's choice of who contracts with the worker.
type OperatingModel string

// The operating models.
const (
	// Intermediary (中间介绍型): the platform introduces worker and merchant,
	// who contract with each other; the platform invoices its service fee.
	Intermediary OperatingModel = "intermediary"
	// Operating (参与经营型): the platform contracts with the merchant for
	// the work and with the worker for its doing, and invoices the whole.
	Operating OperatingModel = "operating"
)

// Valid reports whether m is one of the models.
func (m OperatingModel) Valid() bool { return m == Intermediary || m == Operating }

// Document kinds a merchant files.
const (
	DocBusinessLicence = "business_licence" // 营业执照
	DocLegalRepID      = "legal_rep_id"     // 法定代表人身份证件
	DocBankPermit      = "bank_permit"      // 开户许可证 / 基本存款账户信息
	DocIndustryPermit  = "industry_permit"  // 行业许可
	DocOther           = "other"
)

// DocumentKinds lists the kinds, for validation and docs.
var DocumentKinds = []string{DocBusinessLicence, DocLegalRepID, DocBankPermit, DocIndustryPermit, DocOther}

// Private is what a merchant keeps sealed under its own key.
type Private struct {
	USCC     string    `json:"uscc"`
	LegalRep Person    `json:"legal_rep"`
	Contacts []Contact `json:"contacts"`
	Bank     Bank      `json:"bank"`
}

// Person is a natural person named on a merchant's record.
type Person struct {
	Name     string `json:"name"`
	IDNumber string `json:"id_number,omitempty"`
}

// Contact is someone the platform reaches at the merchant.
type Contact struct {
	Name  string `json:"name"`
	Phone string `json:"phone"`
	Email string `json:"email,omitempty"`
}

// Bank is the merchant's settlement account.
type Bank struct {
	Name    string `json:"name"`    // the bank and branch
	Account string `json:"account"` // account number
	Holder  string `json:"holder"`  // account name, normally the company's
}

// DocRef is a qualification document kept in the blob store under the
// merchant's key.
type DocRef struct {
	ID       string    `json:"id"`
	Kind     string    `json:"kind"`
	Type     string    `json:"type"` // its sniffed content type
	Size     int64     `json:"size"`
	SM3      string    `json:"sm3"`
	Uploaded time.Time `json:"uploaded"`
	// Expires is the last day the document is in force (YYYY-MM-DD, China's
	// calendar); "" when it does not expire. The qualification rules
	// (policy/risk/merchant.rego) read it.
	Expires string `json:"expires,omitempty"`
}

// Event is one step of a merchant's history.
type Event struct {
	At     time.Time `json:"at"`
	By     string    `json:"by"` // account ID
	Action Action    `json:"action"`
	From   Status    `json:"from"`
	To     Status    `json:"to"`
	Reason string    `json:"reason,omitempty"`
	// Risk is the qualification decision an approval was made under
	// (policy/risk/merchant.rego), and Acknowledged the held rules the
	// reviewer acknowledged by name.
	Risk         *policy.Decided `json:"risk,omitempty"`
	Acknowledged []string        `json:"acknowledged,omitempty"`
}

// Merchant is a merchant's record in the state.
type Merchant struct {
	ID    string         `json:"id"`
	Name  string         `json:"name"` // the company's registered name: public
	Model OperatingModel `json:"operating_model"`
	// TaxOffice is the code of the merchant's competent tax office (主管税务
	// 机关): the bureau whose gateway scope sees its facts. Merchants that
	// applied before the gateway have none; their facts reach the
	// platform's office only.
	TaxOffice string          `json:"tax_office,omitempty"`
	Status    Status          `json:"status"`
	KeyID     uint32          `json:"key_id"`
	Private   subjects.Sealed `json:"private"` // Private under the merchant's key
	Documents []DocRef        `json:"documents,omitempty"`
	Applicant string          `json:"applicant"` // the account that applied
	History   []Event         `json:"history"`
	Agreement string          `json:"agreement,omitempty"` // the signed cooperation agreement's ID
	// Officers are its directors, supervisors and senior managers (董监高),
	// []Officer sealed under the merchant's key (OfficersAAD), and
	// OfficerIndex the blind indexes of their ID numbers (hex, sorted):
	// the payouts refuse to pay a merchant's own officer as a worker.
	Officers     subjects.Sealed `json:"officers,omitempty"`
	OfficerIndex []string        `json:"officer_index,omitempty"`
	// FormerOfficerIndex are the indexes of people once named officers
	// and since dropped from the list (sorted): the rule against paying a
	// merchant's own officers keeps matching them, so that a merchant
	// cannot pay an officer by editing its list first.
	FormerOfficerIndex []string  `json:"former_officer_index,omitempty"`
	Created            time.Time `json:"created"`
	Approved           time.Time `json:"approved,omitzero"`
}

// PrivateAAD names a merchant's sealed fields, so they open only as this
// merchant's.
func PrivateAAD(id string) string { return "merchant/" + id + "/private" }
