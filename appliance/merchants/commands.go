package merchants

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"cxt/appliance/identity"
	"cxt/appliance/subjects"
	"cxt/policy"
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
	// CodeQualification refuses an approval the qualification rules
	// reject; CodeAcknowledge one they hold whose held rules the reviewer
	// did not acknowledge each by name.
	CodeQualification = state.NewCode(state.KindConflict, "risk_qualification")
	CodeAcknowledge   = state.NewCode(state.KindConflict, "risk_acknowledge_required")
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

// Review is the body of CmdReview and CmdClose. From command set 6 an
// approval carries the qualification decision the proposer made by the
// policy in force (policy/risk/merchant.rego) and the held rules the
// reviewer acknowledged; the handler refuses a rejected one and a hold not
// acknowledged rule by rule, and the approval's event keeps both.
type Review struct {
	ID           string          `json:"id"`
	Action       Action          `json:"action"`
	By           string          `json:"by"`
	Reason       string          `json:"reason,omitempty"`
	Risk         *policy.Decided `json:"risk,omitempty"`
	Acknowledged []string        `json:"acknowledged,omitempty"`
}

// Filed is the body of CmdDocument.
type Filed struct {
	ID    string `json:"id"`
	KeyID uint32 `json:"key_id"` // the merchant key the document is sealed under
	Doc   DocRef `json:"document"`
}

// Register adds the merchants' buckets and commands (command set 3; the
// officers, and the qualification decision on approvals, from set 6).
func Register(reg *state.Registry) {
	for _, b := range []string{Bucket, USCCBucket, OwnerBucket, HistoryBucket} {
		reg.Bucket(b)
	}
	reg.HandleFrom(state.PartiesSet, CmdApply, apply)
	reg.HandleFrom(state.PartiesSet, CmdReview, review)
	reg.HandleFrom(state.PartiesSet, CmdDocument, file)
	reg.HandleFrom(state.PartiesSet, CmdClose, review)
	reg.HandleFrom(state.RiskSet, CmdOfficers, setOfficers)
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
	ev := Event{At: tx.Time(), By: r.By, Action: r.Action, From: m.Status, To: to, Reason: r.Reason}
	if r.Action == ActApprove {
		if ok, err := tx.Speaks(state.RiskSet); err != nil {
			return nil, err
		} else if ok {
			if err := qualified(r); err != nil {
				return nil, err
			}
			ev.Risk, ev.Acknowledged = r.Risk, r.Acknowledged
		}
	}
	now := ev.At
	m.History = append(m.History, ev)
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

// DirectApproval is an approval proposed straight to the log, not through
// the API (a bench, a test world): its decision says that no rules were
// evaluated, and why, so the record does not pass it off as the policy's.
func DirectApproval(id, by, why string) Review {
	in := mustJSON(map[string]string{"direct": why})
	d := &policy.Decided{Concern: policy.RiskMerchant, Policy: "none", Input: in, InputSM3: policy.SM3Hex(in)}
	d.Outcome = policy.Allow
	return Review{ID: id, Action: ActApprove, By: by, Risk: d}
}

// qualified refuses an approval its qualification decision does not let
// through: a reject, or a hold with a held rule not acknowledged.
func qualified(r Review) error {
	d := r.Risk
	if d == nil {
		return state.Reject(state.InvalidRequest, "an approval carries its qualification decision")
	}
	switch d.Outcome {
	case policy.Allow:
		return nil
	case policy.Reject:
		return state.Reject(CodeQualification, "%s (%s)", d.Reason, d.Rule)
	case policy.Hold:
		if missing := Unacknowledged(d, r.Acknowledged); len(missing) > 0 {
			return state.Reject(CodeAcknowledge, "the qualification rules hold the approval; acknowledge %s", strings.Join(missing, ", "))
		}
		return nil
	}
	return state.Reject(state.InvalidRequest, "a qualification decision is allow, hold or reject, not %q", d.Outcome)
}

// Unacknowledged lists the held rules of d that ack does not name. A
// decision with no hit listed holds by its own rule.
func Unacknowledged(d *policy.Decided, ack []string) []string {
	var held []string
	for _, h := range d.Hits {
		if h.Outcome == policy.Hold {
			held = append(held, h.Rule)
		}
	}
	if len(held) == 0 && d.Outcome == policy.Hold {
		held = []string{d.Rule}
	}
	var missing []string
	for _, h := range held {
		if !slices.Contains(ack, h) {
			missing = append(missing, h)
		}
	}
	return missing
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
	if ok, err := tx.Speaks(state.RiskSet); err != nil {
		return nil, err
	} else if !ok {
		f.Doc.Expires = "" // before set 6 a document has no expiry on record
	}
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

// Forget removes what finds a merchant by its identifiers, once its archive
// is destroyed: the credit code's blind index pointing to it (the company
// may apply again, and the code no longer leads to the internal ID the kept
// records use) and the indexes of its officers' ID numbers on the record.
// It runs in the destroying command before the merchant's key goes: the
// code's index is computed from the sealed fields, opened here. Only an
// entry that points to this merchant is removed.
func Forget(tx *state.Tx, id string) error {
	m, err := Get(tx, id)
	if err != nil {
		return err
	}
	key, err := subjects.Key(tx, tx.Keys(), id)
	if err != nil {
		return err
	}
	var p Private
	if err := subjects.Open(key, PrivateAAD(m.ID), m.Private, &p); err != nil {
		return err
	}
	indexKey, err := tx.Keys().IndexKey()
	if err != nil {
		return err
	}
	code := []byte(USCCIndex(indexKey, p.USCC))
	if owner, err := tx.Get(USCCBucket, code); err != nil {
		return err
	} else if string(owner) == id {
		if err := tx.Delete(USCCBucket, code); err != nil {
			return err
		}
	}
	m.OfficerIndex, m.FormerOfficerIndex = nil, nil
	_, err = put(tx, m)
	return err
}
