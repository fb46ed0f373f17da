package agreements

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"cxt/appliance/esign"
	"cxt/appliance/identity"
	"cxt/appliance/merchants"
	"cxt/appliance/notify"
	"cxt/appliance/subjects"
	"cxt/storage/state"
)

// Buckets.
const (
	Bucket           = "agreements"        // agreement ID -> Agreement
	IndexBucket      = "agreement-index"   // "cooperation/<merchant>" -> the merchant's latest cooperation agreement; "tripartite/<merchant>/<worker>" -> their latest complete service agreement
	CodesBucket      = "agreement-codes"   // code ID -> Code; "last/<agreement>/<subject>" -> when the last was sent
	ProofsBucket     = "agreement-proofs"  // proof ID -> Proof: the ledger of consumed codes
	AuthorityBucket  = "esign-authority"   // "authority" -> Authority
	SignerKeysBucket = "esign-signer-keys" // subject ID -> SignerKey
)

// Command types (command set 3).
const (
	CmdAuthority = "esign.authority"
	CmdSignerKey = "esign.signer_key"
	CmdCreate    = "agreement.create"
	CmdCode      = "agreement.code"
	CmdMiss      = "agreement.code_miss"
	CmdConsume   = "agreement.consume"
	CmdSign      = "agreement.sign"
	CmdSeal      = "agreement.seal"
)

// Refusals besides the general ones; the same codes as package esign's.
var (
	codeAuthRequired = state.NewCode(state.KindUnauthenticated, "authentication_required")
	codeAuthMismatch = state.NewCode(state.KindUnauthenticated, "authentication_mismatch")
	codeAuthExpired  = state.NewCode(state.KindUnauthenticated, "authentication_expired")
	codeAuthReused   = state.NewCode(state.KindUnauthenticated, "authentication_reused")
	codeSigned       = state.NewCode(state.KindConflict, "already_signed")
	codeIncomplete   = state.NewCode(state.KindConflict, "signing_incomplete")
	codeNotAParty    = state.NewCode(state.KindPermission, "not_a_party")
)

// Register adds the agreements' buckets and commands.
func Register(reg *state.Registry) {
	for _, b := range []string{Bucket, IndexBucket, CodesBucket, ProofsBucket, AuthorityBucket, SignerKeysBucket} {
		reg.Bucket(b)
	}
	reg.HandleFrom(state.PartiesSet, CmdAuthority, setAuthority)
	reg.HandleFrom(state.PartiesSet, CmdSignerKey, setSignerKey)
	reg.HandleFrom(state.PartiesSet, CmdCreate, create)
	reg.HandleFrom(state.PartiesSet, CmdCode, issueCode)
	reg.HandleFrom(state.PartiesSet, CmdMiss, miss)
	reg.HandleFrom(state.PartiesSet, CmdConsume, consume)
	reg.HandleFrom(state.PartiesSet, CmdSign, sign)
	reg.HandleFrom(state.PartiesSet, CmdSeal, seal)
	registerExpiry(reg)
}

// registerExpiry has the replicated sweep forget codes a day after they
// expire and consumed proofs that were never used for a signature (a
// signing that failed after its code was consumed).
func registerExpiry(reg *state.Registry) {
	reg.Expire(CodesBucket, func(tx *state.Tx, k, v []byte, now time.Time) (bool, error) {
		if strings.HasPrefix(string(k), "last/") {
			var t time.Time
			if err := json.Unmarshal(v, &t); err != nil || now.Sub(t) < CodeEvery {
				return false, err
			}
			return true, tx.Delete(CodesBucket, k)
		}
		var c Code
		if err := json.Unmarshal(v, &c); err != nil || now.Sub(c.Expires) < 24*time.Hour {
			return false, err
		}
		return true, tx.Delete(CodesBucket, k)
	})
	reg.Expire(ProofsBucket, func(tx *state.Tx, k, v []byte, now time.Time) (bool, error) {
		var p Proof
		if err := json.Unmarshal(v, &p); err != nil || now.Sub(p.Consumed) < 24*time.Hour {
			return false, err
		}
		return true, tx.Delete(ProofsBucket, k)
	})
}

// getter is a state transaction, read-only or not.
type getter interface {
	Get(bucket string, key []byte) ([]byte, error)
}

// Get reads an agreement; not_found if there is none.
func Get(tx getter, id string) (*Agreement, error) {
	b, err := tx.Get(Bucket, []byte(id))
	if err != nil {
		return nil, err
	}
	if b == nil {
		return nil, state.Reject(state.NotFound, "no agreement %s", id)
	}
	return decode(b)
}

func decode(b []byte) (*Agreement, error) {
	var a Agreement
	if err := json.Unmarshal(b, &a); err != nil {
		return nil, fmt.Errorf("agreements: %w", err)
	}
	return &a, nil
}

func put(tx *state.Tx, a *Agreement) ([]byte, error) {
	b, err := json.Marshal(a)
	if err != nil {
		return nil, err
	}
	return b, tx.Put(Bucket, []byte(a.ID), b)
}

func putJSON(tx *state.Tx, bucket, key string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return tx.Put(bucket, []byte(key), b)
}

func getJSON[T any](tx getter, bucket, key string) (*T, error) {
	b, err := tx.Get(bucket, []byte(key))
	if err != nil || b == nil {
		return nil, err
	}
	var v T
	if err := json.Unmarshal(b, &v); err != nil {
		return nil, fmt.Errorf("agreements: %s/%s: %w", bucket, key, err)
	}
	return &v, nil
}

func cooperationKey(merchant string) string { return "cooperation/" + merchant }

func tripartiteKey(merchant, worker string) string { return "tripartite/" + merchant + "/" + worker }

// SignedWith returns the ID of the complete service agreement of the
// platform, merchant and worker — the one a payment to the worker rests on —
// or "" if they have none.
func SignedWith(tx getter, merchant, worker string) (string, error) {
	v, err := tx.Get(IndexBucket, []byte(tripartiteKey(merchant, worker)))
	return string(v), err
}

// create records a new agreement whose PDF the proposer rendered and stored.
func create(tx *state.Tx, cmd *state.Command) ([]byte, error) {
	var a Agreement
	if err := json.Unmarshal(cmd.Body, &a); err != nil || a.ID == "" || a.Merchant == "" || a.PDF.ID == "" || len(a.PDF.SM3) != 64 || len(a.Values) == 0 || a.CreatedBy == "" {
		return nil, state.Reject(state.InvalidRequest, "an agreement names its ID, merchant, PDF (with its SM3), sealed values and creator")
	}
	if prev, err := tx.Get(Bucket, []byte(a.ID)); err != nil {
		return nil, err
	} else if prev != nil {
		return nil, state.Reject(state.Conflict, "agreement %s exists", a.ID)
	}
	want := []string{esign.RolePlatform, esign.RoleMerchant}
	subjectsWant := []string{esign.PlatformSubject, a.Merchant}
	owner := a.Merchant
	switch a.Kind {
	case Cooperation:
		if a.Worker != "" {
			return nil, state.Reject(state.InvalidRequest, "a cooperation agreement has no worker")
		}
	case Tripartite:
		if a.Worker == "" {
			return nil, state.Reject(state.InvalidRequest, "a tripartite agreement names its worker")
		}
		want, subjectsWant, owner = append(want, esign.RoleWorker), append(subjectsWant, a.Worker), a.Worker
	default:
		return nil, state.Reject(state.InvalidRequest, "agreement kind %q is not cooperation or tripartite", a.Kind)
	}
	if len(a.Parties) != len(want) {
		return nil, state.Reject(state.InvalidRequest, "a %s agreement has %d parties", a.Kind, len(want))
	}
	for i, p := range a.Parties {
		if p.Role != want[i] || p.Subject != subjectsWant[i] || p.Name == "" || !p.SignedAt.IsZero() {
			return nil, state.Reject(state.InvalidRequest, "party %d of a %s agreement is the %s (%s), named and unsigned", i+1, a.Kind, want[i], subjectsWant[i])
		}
	}
	if a.ValuesOwner != owner {
		return nil, state.Reject(state.InvalidRequest, "the values of a %s agreement are sealed under %s's key", a.Kind, owner)
	}
	if err := subjects.Require(tx, owner, a.ValuesKeyID); err != nil {
		return nil, err
	}
	m, err := merchants.Get(tx, a.Merchant)
	if err != nil {
		return nil, err
	}
	if m.Status != merchants.Approved {
		return nil, state.Reject(merchants.CodeStatus, "a %s merchant signs no agreement; it must be approved", m.Status)
	}
	switch a.Kind {
	case Cooperation:
		cur, err := tx.Get(IndexBucket, []byte(cooperationKey(a.Merchant)))
		if err != nil {
			return nil, err
		}
		if cur != nil {
			prev, err := Get(tx, string(cur))
			if err != nil {
				return nil, err
			}
			if prev.Status != Complete {
				return nil, state.Reject(state.Conflict, "merchant %s's cooperation agreement %s is still being signed", a.Merchant, prev.ID)
			}
		}
		if err := tx.Put(IndexBucket, []byte(cooperationKey(a.Merchant)), []byte(a.ID)); err != nil {
			return nil, err
		}
	case Tripartite:
		if m.Agreement == "" {
			return nil, state.Reject(merchants.CodeStatus, "merchant %s has not signed the cooperation agreement yet: it engages no worker before", m.ID)
		}
	}
	a.Status, a.Signatures, a.Evidence, a.SealedAt = Signing, nil, nil, time.Time{}
	a.Created = tx.Time()
	return put(tx, &a)
}

// IssueCode is the body of CmdCode: the code's record, and its text for
// the SMS only (never stored beyond its delivery).
type IssueCode struct {
	Code Code   `json:"code"`
	Text string `json:"text"`
}

func lastKey(agreement, subject string) string { return "last/" + agreement + "/" + subject }

// issueCode records a signing code and queues its SMS to the account's
// phone: SMS only, so that the code reaches the person the phone belongs to.
func issueCode(tx *state.Tx, cmd *state.Command) ([]byte, error) {
	var in IssueCode
	c := &in.Code
	if err := json.Unmarshal(cmd.Body, &in); err != nil || c.ID == "" || c.Agreement == "" || c.Subject == "" || c.Account == "" || len(c.MAC) == 0 || in.Text == "" {
		return nil, state.Reject(state.InvalidRequest, "a signing code names its agreement, party and account and carries its MAC and text")
	}
	now := tx.Time()
	a, err := Get(tx, c.Agreement)
	if err != nil {
		return nil, err
	}
	if err := signable(a, c.Subject); err != nil {
		return nil, err
	}
	if c.DocumentSM3 != a.PDF.SM3 {
		return nil, state.Reject(codeAuthMismatch, "a code is bound to the agreement's PDF as recorded")
	}
	if prev, err := getJSON[Code](tx, CodesBucket, c.ID); err != nil {
		return nil, err
	} else if prev != nil {
		return nil, state.Reject(state.Conflict, "code %s exists", c.ID)
	}
	if last, err := getJSON[time.Time](tx, CodesBucket, lastKey(a.ID, c.Subject)); err != nil {
		return nil, err
	} else if last != nil && now.Sub(*last) < CodeEvery {
		return nil, state.Reject(state.Conflict, "a code for this agreement was sent less than %s ago: use it, or wait", CodeEvery)
	}
	acct, err := account(tx, c.Account)
	if err != nil {
		return nil, err
	}
	if acct.Phone == "" {
		return nil, state.Reject(notify.ChannelRequired, "the account has no phone number to send a signing code to")
	}
	c.Issued, c.Expires, c.Misses, c.Used, c.Burnt = now, now.Add(CodeLifetime), 0, time.Time{}, false
	if err := putJSON(tx, CodesBucket, c.ID, c); err != nil {
		return nil, err
	}
	if err := putJSON(tx, CodesBucket, lastKey(a.ID, c.Subject), now); err != nil {
		return nil, err
	}
	body := fmt.Sprintf("合同 %s 签署验证码已发送，5分钟内有效。文件SM3 %s…\nA signing code for agreement %s was sent by SMS (document SM3 %s…).", a.ID, a.PDF.SM3[:16], a.ID, a.PDF.SM3[:16])
	if err := notify.EnqueueSMSSecret(tx, notify.Recipient{Account: acct.ID, Phone: acct.Phone}, "agreement.code", "签署验证码 / Signing code", body, in.Text); err != nil {
		return nil, err
	}
	return json.Marshal(c)
}

// account reads an identity account inside a command.
func account(tx getter, id string) (*identity.Account, error) {
	b, err := tx.Get(identity.AccountsBucket, []byte(id))
	if err != nil {
		return nil, err
	}
	if b == nil {
		return nil, state.Reject(state.NotFound, "no account %s", id)
	}
	var acct identity.Account
	return &acct, json.Unmarshal(b, &acct)
}

// signable refuses a party that cannot sign a now: not one, or signed.
func signable(a *Agreement, subject string) error {
	p := a.party(subject)
	switch {
	case p == nil:
		return state.Reject(codeNotAParty, "%s is not a party to agreement %s", subject, a.ID)
	case !p.SignedAt.IsZero():
		return state.Reject(codeSigned, "%s has already signed agreement %s", subject, a.ID)
	case a.Status != Signing:
		return state.Reject(state.Conflict, "agreement %s is %s", a.ID, a.Status)
	}
	return nil
}

// Miss is the body of CmdMiss.
type Miss struct {
	ID string `json:"id"`
}

// miss counts a wrong code sent against a code; the MaxMisses-th burns it.
func miss(tx *state.Tx, cmd *state.Command) ([]byte, error) {
	var in Miss
	if err := json.Unmarshal(cmd.Body, &in); err != nil || in.ID == "" {
		return nil, state.Reject(state.InvalidRequest, "a miss names its code")
	}
	c, err := getJSON[Code](tx, CodesBucket, in.ID)
	if err != nil {
		return nil, err
	}
	if c == nil {
		return nil, state.Reject(codeAuthRequired, "no signing code %s: request one", in.ID)
	}
	c.Misses++
	if c.Misses >= MaxMisses && c.Used.IsZero() {
		c.Used, c.Burnt = tx.Time(), true
	}
	if err := putJSON(tx, CodesBucket, c.ID, c); err != nil {
		return nil, err
	}
	return json.Marshal(c)
}

// Consume is the body of CmdConsume: the proof a signing is about to use,
// and for a TOTP code the step it showed (and the admitted check to settle).
type Consume struct {
	Agreement string             `json:"agreement"`
	Proof     esign.Proof        `json:"proof"`
	TOTP      *identity.TOTPUsed `json:"totp,omitempty"`
}

// consume is the ledger: it uses up a proof's code, once, in time, for the
// party, account and PDF it was bound to, and records the proof for the
// signature it allows.
func consume(tx *state.Tx, cmd *state.Command) ([]byte, error) {
	var in Consume
	if err := json.Unmarshal(cmd.Body, &in); err != nil || in.Proof.ID == "" || in.Agreement == "" {
		return nil, state.Reject(state.InvalidRequest, "a consumption names its agreement and proof")
	}
	p := in.Proof
	now := tx.Time()
	if prev, err := getJSON[Proof](tx, ProofsBucket, p.ID); err != nil {
		return nil, err
	} else if prev != nil {
		return nil, state.Reject(codeAuthReused, "this code was already used to sign: authenticate again")
	}
	switch p.Method {
	case esign.MethodSMS:
		c, err := getJSON[Code](tx, CodesBucket, p.ID)
		if err != nil {
			return nil, err
		}
		switch {
		case c == nil:
			return nil, state.Reject(codeAuthRequired, "no signing code %s: request one", p.ID)
		case !c.Used.IsZero():
			return nil, state.Reject(codeAuthReused, "this code was already used: request a new one")
		case !now.Before(c.Expires):
			return nil, state.Reject(codeAuthExpired, "the code expired at %s: request a new one", c.Expires.UTC().Format(time.RFC3339))
		case c.Agreement != in.Agreement || c.Subject != p.Subject || c.Account != p.Account || c.DocumentSM3 != p.DocumentSM3:
			return nil, state.Reject(codeAuthMismatch, "the code was sent to another signer or for another document")
		}
		c.Used = now
		if err := putJSON(tx, CodesBucket, c.ID, c); err != nil {
			return nil, err
		}
	case esign.MethodTOTP:
		if in.TOTP == nil || p.ID != TOTPProofID(p.Account, in.TOTP.Step) {
			return nil, state.Reject(state.InvalidRequest, "a TOTP proof names its account and step")
		}
		if err := identity.UseTOTP(tx, p.Account, *in.TOTP); err != nil {
			var rej *state.Rejection
			if errors.As(err, &rej) && rej.Code == "invalid_credentials" {
				return nil, state.Reject(codeAuthReused, "this one-time code was already used: wait for the next one")
			}
			return nil, err
		}
	default:
		return nil, state.Reject(codeAuthRequired, "signing needs a fresh SMS or TOTP code for this document")
	}
	rec := Proof{ID: p.ID, Agreement: in.Agreement, Subject: p.Subject, Account: p.Account, DocumentSM3: p.DocumentSM3, Consumed: now}
	return nil, putJSON(tx, ProofsBucket, p.ID, rec)
}

// TOTPProofID names the proof of a TOTP code: one per account and step.
func TOTPProofID(account string, step int64) string { return fmt.Sprintf("totp-%s-%d", account, step) }

// SignBody is the body of CmdSign.
type SignBody struct {
	Agreement string   `json:"agreement"`
	Subject   string   `json:"subject"`
	Proof     string   `json:"proof"`
	Account   string   `json:"account"`
	Method    string   `json:"method"`
	Evidence  Evidence `json:"evidence"`
}

// sign records one party's signature, made with a consumed proof of theirs
// for this PDF.
func sign(tx *state.Tx, cmd *state.Command) ([]byte, error) {
	var in SignBody
	if err := json.Unmarshal(cmd.Body, &in); err != nil || in.Agreement == "" || in.Subject == "" || in.Proof == "" || in.Evidence.Subject != in.Subject {
		return nil, state.Reject(state.InvalidRequest, "a signature names its agreement, party and proof, and carries the party's evidence")
	}
	a, err := Get(tx, in.Agreement)
	if err != nil {
		return nil, err
	}
	if err := signable(a, in.Subject); err != nil {
		return nil, err
	}
	if in.Subject == esign.PlatformSubject {
		if len(in.Evidence.Plain) == 0 || len(in.Evidence.Sealed) != 0 {
			return nil, state.Reject(state.InvalidRequest, "the platform's evidence is in the clear")
		}
	} else {
		if len(in.Evidence.Sealed) == 0 || len(in.Evidence.Plain) != 0 {
			return nil, state.Reject(state.InvalidRequest, "a party's evidence is sealed under its own key")
		}
		if err := subjects.Require(tx, in.Subject, in.Evidence.KeyID); err != nil {
			return nil, err
		}
	}
	p, err := getJSON[Proof](tx, ProofsBucket, in.Proof)
	if err != nil {
		return nil, err
	}
	if p == nil || p.Signed || p.Subject != in.Subject || p.Account != in.Account || p.DocumentSM3 != a.PDF.SM3 || p.Agreement != a.ID {
		return nil, state.Reject(codeAuthRequired, "a signature needs a fresh code of this party, consumed for this document")
	}
	party := a.party(in.Subject)
	party.SignedAt, party.Account, party.Method = tx.Time(), in.Account, in.Method
	a.Signatures = append(a.Signatures, in.Evidence)
	if a.allSigned() {
		a.Status = Signed
	}
	p.Signed = true
	if err := putJSON(tx, ProofsBucket, p.ID, p); err != nil {
		return nil, err
	}
	return put(tx, a)
}

// SealBody is the body of CmdSeal.
type SealBody struct {
	Agreement string    `json:"agreement"`
	Evidence  DocRef    `json:"evidence"`
	SealedAt  time.Time `json:"sealed_at"`
}

// seal records the countersigned evidence package: the agreement is
// complete. A cooperation agreement becomes its merchant's.
func seal(tx *state.Tx, cmd *state.Command) ([]byte, error) {
	var in SealBody
	if err := json.Unmarshal(cmd.Body, &in); err != nil || in.Agreement == "" || in.Evidence.ID == "" || len(in.Evidence.SM3) != 64 || in.SealedAt.IsZero() {
		return nil, state.Reject(state.InvalidRequest, "a seal names its agreement and the stored evidence package")
	}
	a, err := Get(tx, in.Agreement)
	if err != nil {
		return nil, err
	}
	switch a.Status {
	case Signing:
		return nil, state.Reject(codeIncomplete, "agreement %s still waits for signatures", a.ID)
	case Complete:
		return nil, state.Reject(state.Conflict, "agreement %s was sealed at %s", a.ID, a.SealedAt.Format(time.RFC3339))
	}
	ev := in.Evidence
	a.Evidence, a.SealedAt, a.Status = &ev, in.SealedAt, Complete
	switch a.Kind {
	case Cooperation:
		if err := merchants.SetAgreement(tx, a.Merchant, a.ID); err != nil {
			return nil, err
		}
	case Tripartite:
		if err := tx.Put(IndexBucket, []byte(tripartiteKey(a.Merchant, a.Worker)), []byte(a.ID)); err != nil {
			return nil, err
		}
	}
	if err := feedSigned(tx, a); err != nil {
		return nil, err
	}
	for _, p := range a.Parties {
		if p.Account == "" {
			continue
		}
		if err := identity.Notify(tx, p.Account, "agreement.complete", "合同已签署完成 / Agreement signed",
			fmt.Sprintf("合同 %s 已由各方签署并完成平台会签，可下载证据包。\nAgreement %s is signed by every party and countersigned; its evidence package can be downloaded.", a.ID, a.ID)); err != nil {
			return nil, err
		}
	}
	return put(tx, a)
}
