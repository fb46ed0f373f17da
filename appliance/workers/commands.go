package workers

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"cxt/appliance/identity"
	"cxt/appliance/merchants"
	"cxt/appliance/subjects"
	"cxt/crypto/sm"
	"cxt/gateway/feed"
	"cxt/policy"
	"cxt/storage/state"
)

// Buckets.
const (
	Bucket        = "workers"        // worker ID -> Worker
	IDIndexBucket = "worker-id"      // blind index of the resident ID number -> worker ID
	PhoneBucket   = "worker-phone"   // blind index of the mobile number -> worker ID
	LinkBucket    = "worker-links"   // merchant ID/worker ID -> Link
	ConsentBucket = "worker-consent" // worker ID/consent ID -> Consent
	TaxBucket     = "worker-tax"     // worker ID/request ID -> TaxRegistration
	// CardBucket and SourceBucket are the facts post-hoc inspection reads
	// (appliance/risk), written from command set state.RiskSet on; neither
	// is unique, and both hold blind indexes only (sources.go).
	CardBucket   = "worker-card"   // card index ‖ worker ID -> Sighting: the workers a bank card is on
	SourceBucket = "worker-source" // kind ‖ index ‖ time (8 bytes) ‖ worker ID -> Sighting: who registered from an address or device
)

// Command types.
const (
	CmdRegister  = "worker.register"
	CmdInvite    = "worker.invite"
	CmdAccept    = "worker.accept"
	CmdCheck     = "worker.check"
	CmdConsent   = "worker.consent"
	CmdWithdraw  = "worker.withdraw"
	CmdTaxFile   = "worker.tax_file"
	CmdTaxResult = "worker.tax_result"
)

// Refusals besides the general ones.
var (
	CodeDuplicate  = state.NewCode(state.KindConflict, "worker_duplicate")
	CodePhoneTaken = state.NewCode(state.KindConflict, "worker_phone_taken")
	CodeConsent    = state.NewCode(state.KindConflict, "consent_required")
	CodeWithdrawn  = state.NewCode(state.KindConflict, "consent_withdrawn")
	CodeTaxExists  = state.NewCode(state.KindConflict, "tax_registration_exists")
	CodeTaxStatus  = state.NewCode(state.KindConflict, "tax_registration_status")
	// CodeRiskRefused refuses a registration the identity rules rejected
	// (the API answers the rule's own code before proposing it).
	CodeRiskRefused = state.NewCode(state.KindConflict, "risk_refused")
)

// MaxRows is the most rows one invitation (a CSV file) holds.
const MaxRows = 10000

// Registration is the body of CmdRegister: a person registering themselves,
// with their worker account. New: the proposer validated the fields, made
// the worker's key, sealed Private under it and computed the blind indexes.
// Claim: a person whom a merchant invited takes their record over (the
// proposer matched their name and phone against it); Key and Private are
// empty.
type Registration struct {
	ID         string                 `json:"id"`
	IDIndex    []byte                 `json:"id_index"`    // HMAC-SM3, see Indexes
	PhoneIndex []byte                 `json:"phone_index"` // HMAC-SM3
	Key        subjects.Fresh         `json:"key"`
	Private    subjects.Sealed        `json:"private,omitempty"`
	Claim      bool                   `json:"claim,omitempty"`
	Account    identity.CreateAccount `json:"account"`
	// CardIndex is the blind index of a new worker's bank card, if they
	// gave one; Source those of the client that registered (sources.go).
	// Both are recorded from command set state.RiskSet on.
	CardIndex []byte  `json:"card_index,omitempty"`
	Source    *Source `json:"source,omitempty"`
	// Risk is the identity rules' decision the proposer made by the policy
	// in force (command set 6 on; required from then): a reject refuses the
	// registration, anything else is recorded on the worker.
	Risk *policy.Decided `json:"risk,omitempty"`
}

// Invitee is one row of an invitation: a new worker (Key and Private set)
// or a registered one to link (ID only).
type Invitee struct {
	Row        int             `json:"row"`
	ID         string          `json:"id"`
	IDIndex    []byte          `json:"id_index,omitempty"`
	PhoneIndex []byte          `json:"phone_index,omitempty"`
	Key        *subjects.Fresh `json:"key,omitempty"`
	Private    subjects.Sealed `json:"private,omitempty"`
	CardIndex  []byte          `json:"card_index,omitempty"` // a new worker's bank card, if any
	// PrivateSM3 is the SM3 of Private's plaintext, which the registration's
	// feed entry carries (an invitation proposed before it was there has the
	// state machine open Private for it).
	PrivateSM3 []byte `json:"private_sm3,omitempty"`
}

// Invitation is the body of CmdInvite: a batch of a merchant's bulk
// invitation, applied whole or not at all.
type Invitation struct {
	Merchant string    `json:"merchant"`
	By       string    `json:"by"`
	Rows     []Invitee `json:"rows"`
}

// Outcome is what an invitation did with one row.
type Outcome struct {
	Row    int    `json:"row"`
	Worker string `json:"worker"`
	Status string `json:"status"` // created, linked or already_linked
}

// Row outcomes of an invitation, besides the refusals of the report.
const (
	RowCreated       = "created"
	RowLinked        = "linked"
	RowAlreadyLinked = "already_linked"
)

// Acceptance is the body of CmdAccept.
type Acceptance struct {
	Worker   string `json:"worker"`
	Merchant string `json:"merchant"`
	By       string `json:"by"`
}

// Check kinds.
const (
	CheckRealName = "real_name"
	CheckLiveness = "liveness"
)

// Checked is the body of CmdCheck: a provider's answer to record.
type Checked struct {
	Worker string `json:"worker"`
	KeyID  uint32 `json:"key_id"` // the key the reference is sealed under
	Kind   string `json:"kind"`
	Check  Check  `json:"check"`
}

// Withdrawal is the body of CmdWithdraw.
type Withdrawal struct {
	Worker  string `json:"worker"`
	Consent string `json:"consent"`
	By      string `json:"by"`
}

// TaxResult is the body of CmdTaxResult.
type TaxResult struct {
	Worker    string          `json:"worker"`
	ID        string          `json:"id"`
	Status    string          `json:"status"` // registered or refused
	KeyID     uint32          `json:"key_id"`
	Reference subjects.Sealed `json:"reference,omitempty"`
	Reason    string          `json:"reason,omitempty"`
	By        string          `json:"by"`
}

// Register adds the workers' buckets and commands (command set 3).
func Register(reg *state.Registry) {
	for _, b := range []string{Bucket, IDIndexBucket, PhoneBucket, LinkBucket, ConsentBucket, TaxBucket, CardBucket, SourceBucket} {
		reg.Bucket(b)
	}
	reg.HandleFrom(state.PartiesSet, CmdRegister, register)
	reg.HandleFrom(state.PartiesSet, CmdInvite, invite)
	reg.HandleFrom(state.PartiesSet, CmdAccept, accept)
	reg.HandleFrom(state.PartiesSet, CmdCheck, check)
	reg.HandleFrom(state.PartiesSet, CmdConsent, consent)
	reg.HandleFrom(state.PartiesSet, CmdWithdraw, withdraw)
	reg.HandleFrom(state.PartiesSet, CmdTaxFile, taxFile)
	reg.HandleFrom(state.PartiesSet, CmdTaxResult, taxResult)
}

func register(tx *state.Tx, cmd *state.Command) ([]byte, error) {
	var g Registration
	if err := json.Unmarshal(cmd.Body, &g); err != nil || g.ID == "" || !indexSized(g.IDIndex, g.PhoneIndex) {
		return nil, state.Reject(state.InvalidRequest, "a registration names the worker and the blind indexes of their ID number and phone")
	}
	a := g.Account.Account
	if a.ID == "" || a.Worker != g.ID || !slices.Equal(a.Roles, []string{identity.Worker}) || a.Merchant != "" {
		return nil, state.Reject(state.InvalidRequest, "a registration's account is a worker account of this worker")
	}
	risky, err := tx.Speaks(state.RiskSet)
	if err != nil {
		return nil, err
	}
	if risky {
		if g.Risk == nil {
			return nil, state.Reject(state.InvalidRequest, "a registration carries its identity decision")
		}
		if g.Risk.Outcome == policy.Reject {
			return nil, state.Reject(CodeRiskRefused, "%s (%s)", g.Risk.Reason, g.Risk.Rule)
		}
	}
	var w *Worker
	if g.Claim {
		var err error
		if w, err = Get(tx, g.ID); err != nil {
			return nil, err
		}
		if id, err := tx.Get(IDIndexBucket, g.IDIndex); err != nil {
			return nil, err
		} else if string(id) != g.ID {
			return nil, state.Reject(state.InvalidRequest, "the ID number is not worker %s's", g.ID)
		}
		if id, err := tx.Get(PhoneBucket, g.PhoneIndex); err != nil {
			return nil, err
		} else if string(id) != g.ID {
			return nil, state.Reject(CodeDuplicate, "a worker with this ID number is registered; the phone given is not theirs")
		}
		if w.Account != "" {
			return nil, state.Reject(CodeDuplicate, "a worker with this ID number is registered already")
		}
	} else {
		if len(g.Private) == 0 {
			return nil, state.Reject(state.InvalidRequest, "a new worker's registration carries their sealed fields")
		}
		if err := free(tx, g.IDIndex, g.PhoneIndex, rowLabel(0)); err != nil {
			return nil, err
		}
		if err := subjects.Install(tx, g.ID, g.Key); err != nil {
			return nil, err
		}
		w = &Worker{ID: g.ID, KeyID: g.Key.KeyID, Private: g.Private, Merchants: []string{}, Origin: OriginSelf, Created: tx.Time()}
		if err := index(tx, g.IDIndex, g.PhoneIndex, g.ID); err != nil {
			return nil, err
		}
		if err := indexCard(tx, nil, g.CardIndex, g.ID); err != nil {
			return nil, err
		}
	}
	if err := recordSource(tx, g.Source, g.ID); err != nil {
		return nil, err
	}
	if _, err := tx.Run(identity.CmdCreateAccount, mustJSON(g.Account)); err != nil {
		return nil, err
	}
	w.Account = a.ID
	if risky {
		w.IDIndex, w.Risk = hex.EncodeToString(g.IDIndex), g.Risk
		if len(g.CardIndex) > 0 {
			w.CardIndex = hex.EncodeToString(g.CardIndex)
		}
		if g.Source != nil && len(g.Source.Device) > 0 {
			w.DeviceIndex = hex.EncodeToString(g.Source.Device)
		}
	}
	fact := func() error { return feedRegistered(tx, w) }
	if g.Claim {
		fact = func() error { return feedAccount(tx, w) }
	}
	if err := fact(); err != nil {
		return nil, err
	}
	return put(tx, w)
}

// free refuses a new worker whose ID number or phone is someone's already;
// where says which row, for an invitation.
func free(tx *state.Tx, idIndex, phoneIndex []byte, where fmt.Stringer) error {
	if id, err := tx.Get(IDIndexBucket, idIndex); err != nil {
		return err
	} else if id != nil {
		return state.Reject(CodeDuplicate, "%sa worker with this ID number is registered already", where)
	}
	if id, err := tx.Get(PhoneBucket, phoneIndex); err != nil {
		return err
	} else if id != nil {
		return state.Reject(CodePhoneTaken, "%sthis mobile number is another worker's", where)
	}
	return nil
}

func index(tx *state.Tx, idIndex, phoneIndex []byte, id string) error {
	if err := tx.Put(IDIndexBucket, idIndex, []byte(id)); err != nil {
		return err
	}
	return tx.Put(PhoneBucket, phoneIndex, []byte(id))
}

// indexSized reports whether every blind index is an HMAC-SM3.
func indexSized(idx ...[]byte) bool {
	for _, i := range idx {
		if len(i) != sm.HashSize {
			return false
		}
	}
	return true
}

func invite(tx *state.Tx, cmd *state.Command) ([]byte, error) {
	var in Invitation
	if err := json.Unmarshal(cmd.Body, &in); err != nil || in.Merchant == "" || in.By == "" || len(in.Rows) == 0 || len(in.Rows) > MaxRows {
		return nil, state.Reject(state.InvalidRequest, "an invitation names the merchant, who invites, and 1 to %d rows", MaxRows)
	}
	m, err := merchants.Get(tx, in.Merchant)
	if err != nil {
		return nil, err
	}
	if m.Status != merchants.Approved {
		return nil, state.Reject(merchants.CodeStatus, "a %s merchant invites no workers; it must be approved first", m.Status)
	}
	risky, err := tx.Speaks(state.RiskSet)
	if err != nil {
		return nil, err
	}
	now := tx.Time()
	out := make([]Outcome, 0, len(in.Rows))
	facts := make([]feed.Fact, 0, 2*len(in.Rows))
	for _, r := range in.Rows {
		where := rowLabel(r.Row)
		if r.ID == "" {
			return nil, state.Reject(state.InvalidRequest, "%sno worker ID", where)
		}
		var w *Worker
		status := RowLinked
		if r.Key != nil {
			if !indexSized(r.IDIndex, r.PhoneIndex) || len(r.Private) == 0 {
				return nil, state.Reject(state.InvalidRequest, "%sa new worker carries their indexes and sealed fields", where)
			}
			if err := free(tx, r.IDIndex, r.PhoneIndex, where); err != nil {
				return nil, err
			}
			if err := subjects.Install(tx, r.ID, *r.Key); err != nil {
				return nil, err
			}
			if err := index(tx, r.IDIndex, r.PhoneIndex, r.ID); err != nil {
				return nil, err
			}
			if err := indexCard(tx, nil, r.CardIndex, r.ID); err != nil {
				return nil, err
			}
			w = &Worker{ID: r.ID, KeyID: r.Key.KeyID, Private: r.Private, Merchants: []string{}, Origin: OriginInvited, Created: now}
			if risky {
				w.IDIndex = hex.EncodeToString(r.IDIndex)
				if len(r.CardIndex) > 0 {
					w.CardIndex = hex.EncodeToString(r.CardIndex)
				}
			}
			status = RowCreated
		} else if w, err = Get(tx, r.ID); err != nil {
			return nil, err
		} else if err := w.Usable(); err != nil {
			return nil, err
		}
		if prev, err := tx.Get(LinkBucket, LinkKey(in.Merchant, w.ID)); err != nil {
			return nil, err
		} else if prev != nil {
			out = append(out, Outcome{Row: r.Row, Worker: w.ID, Status: RowAlreadyLinked})
			continue
		}
		// A merchant sees the worker it creates at once: it wrote what the
		// record holds. A person already on record is only invited: their
		// records open to the merchant when they accept, never on the
		// strength of a name and an ID number someone typed in.
		if status == RowCreated {
			w.Merchants = append(w.Merchants, in.Merchant)
			slices.Sort(w.Merchants)
		}
		link := Link{Merchant: in.Merchant, Worker: w.ID, Status: Invited, Invited: now, By: in.By}
		if err := tx.Put(LinkBucket, LinkKey(in.Merchant, w.ID), mustJSON(link)); err != nil {
			return nil, err
		}
		if status == RowCreated {
			facts = append(facts, registered(tx, w, in.Merchant, r.PrivateSM3))
		}
		facts = append(facts, linked(link, m.TaxOffice))
		if _, err := put(tx, w); err != nil {
			return nil, err
		}
		out = append(out, Outcome{Row: r.Row, Worker: w.ID, Status: status})
	}
	// The rows' facts, in their order, once every row is decided.
	if _, err := feed.AppendAll(tx, facts); err != nil {
		return nil, err
	}
	return json.Marshal(out)
}

// rowLabel names an invitation's row in a refusal.
type rowLabel int

func (r rowLabel) String() string {
	if r == 0 {
		return ""
	}
	return fmt.Sprintf("row %d: ", int(r))
}

func accept(tx *state.Tx, cmd *state.Command) ([]byte, error) {
	var a Acceptance
	if err := json.Unmarshal(cmd.Body, &a); err != nil || a.Worker == "" || a.Merchant == "" || a.By == "" {
		return nil, state.Reject(state.InvalidRequest, "an acceptance names the worker, the merchant and who accepts")
	}
	l, err := GetLink(tx, a.Merchant, a.Worker)
	if err != nil {
		return nil, err
	}
	if l.Status == Active {
		return nil, state.Reject(state.Conflict, "worker %s already works with merchant %s", a.Worker, a.Merchant)
	}
	l.Status, l.Accepted = Active, tx.Time()
	w, err := Get(tx, a.Worker)
	if err != nil {
		return nil, err
	}
	if err := w.Usable(); err != nil {
		return nil, err
	}
	if !slices.Contains(w.Merchants, a.Merchant) { // the worker opens their records to the merchant now
		w.Merchants = append(w.Merchants, a.Merchant)
		slices.Sort(w.Merchants)
		if _, err := put(tx, w); err != nil {
			return nil, err
		}
	}
	m, err := merchants.Get(tx, a.Merchant)
	if err != nil {
		return nil, err
	}
	if err := feedLinked(tx, *l, m.TaxOffice); err != nil {
		return nil, err
	}
	b := mustJSON(l)
	return b, tx.Put(LinkBucket, LinkKey(a.Merchant, a.Worker), b)
}

func check(tx *state.Tx, cmd *state.Command) ([]byte, error) {
	var c Checked
	if err := json.Unmarshal(cmd.Body, &c); err != nil || c.Worker == "" || c.Check.Provider == "" || len(c.Check.Reference) == 0 || c.Check.By == "" {
		return nil, state.Reject(state.InvalidRequest, "a check names the worker, the provider, its sealed reference and who recorded it")
	}
	if c.Check.Status != Verified && c.Check.Status != Failed || c.Check.Score < 0 || c.Check.Score > 1 {
		return nil, state.Reject(state.InvalidRequest, "a check is verified or failed, with a score from 0 to 1")
	}
	w, err := Get(tx, c.Worker)
	if err != nil {
		return nil, err
	}
	if err := subjects.Require(tx, w.ID, c.KeyID); err != nil {
		return nil, err
	}
	purpose := map[string]string{CheckRealName: PurposeRealName, CheckLiveness: PurposeFaceLiveness}[c.Kind]
	if purpose == "" {
		return nil, state.Reject(state.InvalidRequest, "a check is %s or %s", CheckRealName, CheckLiveness)
	}
	if _, err := liveConsent(tx, w.ID, purpose); err != nil {
		return nil, err
	}
	c.Check.At = tx.Time()
	if c.Kind == CheckRealName {
		w.RealName = &c.Check
	} else {
		w.Liveness = &c.Check
	}
	if err := feedChecked(tx, w, c.Kind, &c.Check); err != nil {
		return nil, err
	}
	return put(tx, w)
}

// liveConsent finds the worker's live consent to purpose, or refuses.
func liveConsent(tx *state.Tx, worker, purpose string) (*Consent, error) {
	var found *Consent
	err := scanChildren(tx, ConsentBucket, worker, func(v []byte) (bool, error) {
		var c Consent
		if err := json.Unmarshal(v, &c); err != nil {
			return false, err
		}
		if c.Purpose == purpose && c.Live() {
			found = &c
			return false, nil
		}
		return true, nil
	})
	if err != nil {
		return nil, err
	}
	if found == nil {
		return nil, state.Reject(CodeConsent, "worker %s has not consented to %s (or withdrew it)", worker, purpose)
	}
	return found, nil
}

func consent(tx *state.Tx, cmd *state.Command) ([]byte, error) {
	var c Consent
	if err := json.Unmarshal(cmd.Body, &c); err != nil || c.ID == "" || c.Worker == "" || c.By == "" || len(c.NoticeSM3) != 64 || c.NoticeVersion == "" {
		return nil, state.Reject(state.InvalidRequest, "a consent names the worker, who gave it, the SM3 of the notice shown and its version")
	}
	if !slices.Contains(Purposes, c.Purpose) || !slices.Contains(Channels, c.Channel) {
		return nil, state.Reject(state.InvalidRequest, "purpose is one of %v, channel one of %v", Purposes, Channels)
	}
	if _, err := Get(tx, c.Worker); err != nil {
		return nil, err
	}
	if prev, err := tx.Get(ConsentBucket, ChildKey(c.Worker, c.ID)); err != nil {
		return nil, err
	} else if prev != nil {
		return nil, state.Reject(state.Conflict, "consent %s is on record already", c.ID)
	}
	c.Given, c.Withdrawn, c.WithdrawnBy = tx.Time(), nil, ""
	if err := liftOnConsent(tx, &c); err != nil {
		return nil, err
	}
	b := mustJSON(c)
	return b, tx.Put(ConsentBucket, ChildKey(c.Worker, c.ID), b)
}

func withdraw(tx *state.Tx, cmd *state.Command) ([]byte, error) {
	var w Withdrawal
	if err := json.Unmarshal(cmd.Body, &w); err != nil || w.Worker == "" || w.Consent == "" || w.By == "" {
		return nil, state.Reject(state.InvalidRequest, "a withdrawal names the worker, the consent and who withdraws it")
	}
	b, err := tx.Get(ConsentBucket, ChildKey(w.Worker, w.Consent))
	if err != nil {
		return nil, err
	}
	if b == nil {
		return nil, state.Reject(state.NotFound, "worker %s has no consent %s", w.Worker, w.Consent)
	}
	var c Consent
	if err := json.Unmarshal(b, &c); err != nil {
		return nil, err
	}
	if !c.Live() {
		return nil, state.Reject(CodeWithdrawn, "consent %s was withdrawn already", c.ID)
	}
	now := tx.Time()
	c.Withdrawn, c.WithdrawnBy = &now, w.By
	if err := restrictOnWithdrawal(tx, &c); err != nil {
		return nil, err
	}
	b = mustJSON(c)
	return b, tx.Put(ConsentBucket, ChildKey(c.Worker, c.ID), b)
}

// restrictOnWithdrawal restricts a worker who withdraws their consent to
// personal_info (command set 9 on): without it nothing new may be done with
// their information, and only storage and security remain. A restriction
// already in force (a deletion's) stays as it is.
func restrictOnWithdrawal(tx *state.Tx, c *Consent) error {
	if c.Purpose != PurposePersonalInfo {
		return nil
	}
	if ok, err := tx.Speaks(state.ArchivesSet); err != nil || !ok {
		return err
	}
	w, err := Get(tx, c.Worker)
	if err != nil || w.Restricted != nil {
		return err
	}
	w.Restricted = &Restriction{Since: tx.Time(), Basis: BasisWithdrawn}
	_, err = put(tx, w)
	return err
}

// liftOnConsent lifts the restriction a withdrawal of personal_info made,
// when the worker gives that consent again (command set 9 on).
func liftOnConsent(tx *state.Tx, c *Consent) error {
	if c.Purpose != PurposePersonalInfo {
		return nil
	}
	if ok, err := tx.Speaks(state.ArchivesSet); err != nil || !ok {
		return err
	}
	w, err := Get(tx, c.Worker)
	if err != nil || w.Restricted == nil || w.Restricted.Basis != BasisWithdrawn {
		return err
	}
	w.Restricted = nil
	_, err = put(tx, w)
	return err
}

func taxFile(tx *state.Tx, cmd *state.Command) ([]byte, error) {
	var t TaxRegistration
	if err := json.Unmarshal(cmd.Body, &t); err != nil || t.ID == "" || t.Worker == "" || t.By == "" {
		return nil, state.Reject(state.InvalidRequest, "a tax registration request names the worker and who files it")
	}
	if t.Kind != TaxTemporary && t.Kind != TaxIndividual {
		return nil, state.Reject(state.InvalidRequest, "kind is %s (临时税务登记) or %s (个体工商户)", TaxTemporary, TaxIndividual)
	}
	w, err := Get(tx, t.Worker)
	if err != nil {
		return nil, err
	}
	if t.Merchant != "" && !slices.Contains(w.Merchants, t.Merchant) {
		return nil, state.Reject(state.NotFound, "worker %s is not linked to merchant %s", w.ID, t.Merchant)
	}
	c, err := liveConsent(tx, w.ID, PurposeTaxRegister)
	if err != nil {
		return nil, err
	}
	var clash error
	if err := scanChildren(tx, TaxBucket, w.ID, func(v []byte) (bool, error) {
		var prev TaxRegistration
		if err := json.Unmarshal(v, &prev); err != nil {
			return false, err
		}
		if prev.Kind == t.Kind && prev.Status != TaxRefused {
			clash = state.Reject(CodeTaxExists, "worker %s has a %s %s registration (%s)", w.ID, prev.Status, prev.Kind, prev.ID)
			return false, nil
		}
		return true, nil
	}); err != nil {
		return nil, err
	}
	if clash != nil {
		return nil, clash
	}
	t.Consent, t.Status, t.Requested = c.ID, TaxPending, tx.Time()
	t.Decided, t.DecidedBy, t.Reference, t.Reason = time.Time{}, "", nil, ""
	b := mustJSON(t)
	return b, tx.Put(TaxBucket, ChildKey(w.ID, t.ID), b)
}

func taxResult(tx *state.Tx, cmd *state.Command) ([]byte, error) {
	var r TaxResult
	if err := json.Unmarshal(cmd.Body, &r); err != nil || r.Worker == "" || r.ID == "" || r.By == "" {
		return nil, state.Reject(state.InvalidRequest, "a tax registration result names the worker, the request and who records it")
	}
	switch {
	case r.Status == TaxRegistered && len(r.Reference) == 0:
		return nil, state.Reject(state.InvalidRequest, "a registration's result carries the tax office's reference")
	case r.Status == TaxRefused && r.Reason == "":
		return nil, state.Reject(state.InvalidRequest, "a refusal says why")
	case r.Status != TaxRegistered && r.Status != TaxRefused:
		return nil, state.Reject(state.InvalidRequest, "a result is %s or %s", TaxRegistered, TaxRefused)
	}
	b, err := tx.Get(TaxBucket, ChildKey(r.Worker, r.ID))
	if err != nil {
		return nil, err
	}
	if b == nil {
		return nil, state.Reject(state.NotFound, "worker %s has no tax registration request %s", r.Worker, r.ID)
	}
	var t TaxRegistration
	if err := json.Unmarshal(b, &t); err != nil {
		return nil, err
	}
	if t.Status != TaxPending {
		return nil, state.Reject(CodeTaxStatus, "tax registration %s is %s already", t.ID, t.Status)
	}
	if len(r.Reference) > 0 {
		if err := subjects.Require(tx, r.Worker, r.KeyID); err != nil {
			return nil, err
		}
	}
	t.Status, t.Decided, t.DecidedBy, t.Reference, t.Reason = r.Status, tx.Time(), r.By, r.Reference, r.Reason
	b = mustJSON(t)
	return b, tx.Put(TaxBucket, ChildKey(t.Worker, t.ID), b)
}

// errStop ends a scan early.
var errStop = errors.New("stop")

// scanChildren calls fn with each value of bucket keyed under worker's
// prefix, in key order, as the command sees the state, until fn returns
// false.
func scanChildren(tx *state.Tx, bucket, worker string, fn func(v []byte) (bool, error)) error {
	prefix := worker + "/"
	after := []byte(prefix)
	for {
		last, err := tx.Scan(bucket, after, 64, func(k, v []byte) error {
			if !strings.HasPrefix(string(k), prefix) {
				return errStop
			}
			more, err := fn(v)
			if err == nil && !more {
				return errStop
			}
			return err
		})
		if errors.Is(err, errStop) || err == nil && last == nil {
			return nil
		}
		if err != nil {
			return err
		}
		after = last
	}
}

// getter is a state transaction, read-only or not.
type getter interface {
	Get(bucket string, key []byte) ([]byte, error)
}

// DirectIdentity is the identity decision of a registration proposed
// straight to the log, not through the API (a bench, a test world): it says
// that no rules were evaluated, and why.
func DirectIdentity(why string) *policy.Decided {
	in := mustJSON(map[string]string{"direct": why})
	d := &policy.Decided{Concern: policy.RiskWorker, Policy: "none", Input: in, InputSM3: policy.SM3Hex(in)}
	d.Outcome = policy.Allow
	return d
}

// IDIndexOf returns the blind index of the worker's resident ID number
// (hex, as merchants.PersonIndex computes it), "" for a record registered
// before command set 6; not_found if there is no such worker.
func IDIndexOf(tx policy.Getter, workerID string) (string, error) {
	w, err := Get(tx, workerID)
	if err != nil {
		return "", err
	}
	return w.IDIndex, nil
}

// Get reads a worker, inside a command or a read; not_found if there is
// none.
func Get(tx getter, id string) (*Worker, error) {
	b, err := tx.Get(Bucket, []byte(id))
	if err != nil {
		return nil, err
	}
	if b == nil {
		return nil, state.Reject(state.NotFound, "no worker %s", id)
	}
	return decode(b)
}

// GetLink reads a merchant–worker link; not_found if there is none.
func GetLink(tx getter, merchant, worker string) (*Link, error) {
	b, err := tx.Get(LinkBucket, LinkKey(merchant, worker))
	if err != nil {
		return nil, err
	}
	if b == nil {
		return nil, state.Reject(state.NotFound, "worker %s is not linked to merchant %s", worker, merchant)
	}
	var l Link
	if err := json.Unmarshal(b, &l); err != nil {
		return nil, fmt.Errorf("workers: link %s/%s: %w", merchant, worker, err)
	}
	return &l, nil
}

func decode(b []byte) (*Worker, error) {
	var w Worker
	if err := json.Unmarshal(b, &w); err != nil {
		return nil, fmt.Errorf("workers: %w", err)
	}
	return &w, nil
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

func put(tx *state.Tx, w *Worker) ([]byte, error) {
	b, err := json.Marshal(w)
	if err != nil {
		return nil, err
	}
	return b, tx.Put(Bucket, []byte(w.ID), b)
}
