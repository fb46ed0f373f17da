package merchants

import (
	"encoding/json"
	"fmt"
	"slices"

	"cxt/appliance/identity"
	"cxt/appliance/subjects"
	"cxt/storage/state"
)

// Buckets.
const (
	Bucket      = "merchants"      // merchant ID -> Merchant
	USCCBucket  = "merchant-uscc"  // blind index of the USCC -> merchant ID
	OwnerBucket = "merchant-owner" // applicant account ID -> merchant ID
)

// Command types.
const (
	CmdApply    = "merchant.apply"
	CmdReview   = "merchant.review"
	CmdDocument = "merchant.document"
	CmdClose    = "merchant.close"
)

// Refusals besides the general ones.
var (
	CodeDuplicate = state.NewCode(state.KindConflict, "merchant_duplicate")
	CodeStatus    = state.NewCode(state.KindConflict, "merchant_status")
)

// Application is the body of CmdApply: the proposer has validated the
// fields, sealed the private ones under the new merchant's key and computed
// the USCC's blind index.
type Application struct {
	ID        string          `json:"id"`
	Name      string          `json:"name"`
	Model     OperatingModel  `json:"operating_model"`
	TaxOffice string          `json:"tax_office,omitempty"` // its 主管税务机关's code
	USCCIndex string          `json:"uscc_index"`           // hex HMAC-SM3
	Private   subjects.Sealed `json:"private"`
	Key       subjects.Fresh  `json:"key"`
	Applicant string          `json:"applicant"`
	// Account, if given, is the applicant's new merchant_admin account,
	// created with the merchant (its ID is Applicant).
	Account *identity.CreateAccount `json:"account,omitempty"`
}

// Review is the body of CmdReview and CmdClose.
type Review struct {
	ID     string `json:"id"`
	Action Action `json:"action"`
	By     string `json:"by"`
	Reason string `json:"reason,omitempty"`
}

// Filed is the body of CmdDocument.
type Filed struct {
	ID    string `json:"id"`
	KeyID uint32 `json:"key_id"` // the merchant key the document is sealed under
	Doc   DocRef `json:"document"`
}

// Register adds the merchants' buckets and commands (command set 3).
func Register(reg *state.Registry) {
	for _, b := range []string{Bucket, USCCBucket, OwnerBucket} {
		reg.Bucket(b)
	}
	reg.HandleFrom(state.PartiesSet, CmdApply, apply)
	reg.HandleFrom(state.PartiesSet, CmdReview, review)
	reg.HandleFrom(state.PartiesSet, CmdDocument, file)
	reg.HandleFrom(state.PartiesSet, CmdClose, review)
}

func apply(tx *state.Tx, cmd *state.Command) ([]byte, error) {
	var a Application
	if err := json.Unmarshal(cmd.Body, &a); err != nil || a.ID == "" || a.Name == "" || a.USCCIndex == "" || a.Applicant == "" || len(a.Private) == 0 {
		return nil, state.Reject(state.InvalidRequest, "a merchant application names an ID, a name, its USCC index, private fields and an applicant")
	}
	if !a.Model.Valid() {
		return nil, state.Reject(state.InvalidRequest, "operating model %q is not intermediary or operating", a.Model)
	}
	if id, err := tx.Get(USCCBucket, []byte(a.USCCIndex)); err != nil {
		return nil, err
	} else if id != nil {
		return nil, state.Reject(CodeDuplicate, "a merchant with this unified social credit code has already applied")
	}
	if err := subjects.Install(tx, a.ID, a.Key); err != nil {
		return nil, err
	}
	if a.Account != nil {
		if a.Account.Account.ID != a.Applicant || a.Account.Account.Merchant != a.ID {
			return nil, state.Reject(state.InvalidRequest, "the applicant's account must be the applicant, of this merchant")
		}
		if _, err := tx.Run(identity.CmdCreateAccount, mustJSON(a.Account)); err != nil {
			return nil, err
		}
	}
	if id, err := tx.Get(OwnerBucket, []byte(a.Applicant)); err != nil {
		return nil, err
	} else if id != nil {
		return nil, state.Reject(CodeDuplicate, "account %s already applied for merchant %s", a.Applicant, id)
	}
	now := tx.Time()
	m := &Merchant{
		ID: a.ID, Name: a.Name, Model: a.Model, TaxOffice: a.TaxOffice, Status: Applied, KeyID: a.Key.KeyID, Private: a.Private,
		Applicant: a.Applicant, Created: now,
		History: []Event{{At: now, By: a.Applicant, Action: "apply", To: Applied}},
	}
	if err := tx.Put(USCCBucket, []byte(a.USCCIndex), []byte(a.ID)); err != nil {
		return nil, err
	}
	if err := tx.Put(OwnerBucket, []byte(a.Applicant), []byte(a.ID)); err != nil {
		return nil, err
	}
	if err := feedRegistered(tx, m); err != nil {
		return nil, err
	}
	return put(tx, m)
}

func review(tx *state.Tx, cmd *state.Command) ([]byte, error) {
	var r Review
	if err := json.Unmarshal(cmd.Body, &r); err != nil || r.ID == "" || r.By == "" {
		return nil, state.Reject(state.InvalidRequest, "a review names the merchant and the reviewer")
	}
	if (cmd.Type == CmdClose) != (r.Action == ActClose) {
		return nil, state.Reject(state.InvalidRequest, "%s cannot %s", cmd.Type, r.Action)
	}
	if (r.Action == ActReject || r.Action == ActAskMore || r.Action == ActClose) && r.Reason == "" {
		return nil, state.Reject(state.InvalidRequest, "to %s a merchant, say why", r.Action)
	}
	m, err := Get(tx, r.ID)
	if err != nil {
		return nil, err
	}
	to, err := Next(m.Status, r.Action)
	if err != nil {
		return nil, state.Reject(CodeStatus, "%v", err)
	}
	now := tx.Time()
	m.History = append(m.History, Event{At: now, By: r.By, Action: r.Action, From: m.Status, To: to, Reason: r.Reason})
	if err := feedStatus(tx, m, m.History[len(m.History)-1]); err != nil {
		return nil, err
	}
	m.Status = to
	if to == Approved {
		m.Approved = now
	}
	if n, ok := notices[r.Action]; ok {
		body := fmt.Sprintf(n.body, m.Name, m.Name)
		if r.Reason != "" {
			body += "\n原因 / Reason: " + r.Reason
		}
		if err := identity.Notify(tx, m.Applicant, "merchant."+string(r.Action), n.subject, body); err != nil {
			return nil, err
		}
	}
	return put(tx, m)
}

// notices are what the applicant is told of a review.
var notices = map[Action]struct{ subject, body string }{
	ActApprove:  {"商户入驻已通过 / Merchant approved", "%s 的入驻申请已通过审核。/ The application of %s was approved."},
	ActReject:   {"商户入驻未通过 / Merchant rejected", "%s 的入驻申请未通过审核。/ The application of %s was rejected."},
	ActAskMore:  {"请补充材料 / More information needed", "%s 的入驻申请需要补充材料。/ The application of %s needs more information."},
	ActClose:    {"商户已注销 / Merchant closed", "%s 已注销。/ %s was closed."},
	ActResubmit: {"申请已重新提交 / Application resubmitted", "%s 的入驻申请已重新提交审核。/ The application of %s is waiting for review again."},
}

func file(tx *state.Tx, cmd *state.Command) ([]byte, error) {
	var f Filed
	if err := json.Unmarshal(cmd.Body, &f); err != nil || f.ID == "" || f.Doc.ID == "" {
		return nil, state.Reject(state.InvalidRequest, "a filed document names the merchant and the document")
	}
	if !slices.Contains(DocumentKinds, f.Doc.Kind) {
		return nil, state.Reject(state.InvalidRequest, "document kind %q is not one of %v", f.Doc.Kind, DocumentKinds)
	}
	m, err := Get(tx, f.ID)
	if err != nil {
		return nil, err
	}
	if m.Status == Closed || m.Status == Rejected {
		return nil, state.Reject(CodeStatus, "a %s merchant files no documents", m.Status)
	}
	if err := subjects.Require(tx, m.ID, f.KeyID); err != nil {
		return nil, err
	}
	if slices.ContainsFunc(m.Documents, func(d DocRef) bool { return d.ID == f.Doc.ID }) {
		return nil, state.Reject(state.Conflict, "document %s is already filed", f.Doc.ID)
	}
	f.Doc.Uploaded = tx.Time()
	m.Documents = append(m.Documents, f.Doc)
	return put(tx, m)
}

// getter is a state transaction, read-only or not.
type getter interface {
	Get(bucket string, key []byte) ([]byte, error)
}

// Get reads a merchant, inside a command or a read; not_found if there is
// none.
func Get(tx getter, id string) (*Merchant, error) {
	b, err := tx.Get(Bucket, []byte(id))
	if err != nil {
		return nil, err
	}
	if b == nil {
		return nil, state.Reject(state.NotFound, "no merchant %s", id)
	}
	var m Merchant
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("merchants: %s: %w", id, err)
	}
	return &m, nil
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

func put(tx *state.Tx, m *Merchant) ([]byte, error) {
	b, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	return b, tx.Put(Bucket, []byte(m.ID), b)
}

// SetAgreement records, inside the command that completed it, the
// cooperation agreement a merchant signed (package agreements): the
// merchant's rating counts it.
func SetAgreement(tx *state.Tx, id, agreement string) error {
	m, err := Get(tx, id)
	if err != nil {
		return err
	}
	m.Agreement = agreement
	_, err = put(tx, m)
	return err
}
