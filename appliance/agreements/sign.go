package agreements

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/big"
	"regexp"
	"slices"
	"strings"
	"time"

	"cxt/appliance/api"
	"cxt/appliance/errs"
	"cxt/appliance/esign"
	"cxt/appliance/identity"
	"cxt/appliance/subjects"
	"cxt/crypto/sm"
	"cxt/crypto/subjectkey"
	"cxt/storage/state"
)

// codeDigits is the length of a signing code.
const codeDigits = 6

// party returns the subject the caller signs as: a platform operator for
// the platform, a merchant's administrator for that merchant, a worker for
// themselves.
func party(r *api.Request, a *Agreement) (string, error) {
	roles := r.Subject.Roles
	switch {
	case slices.Contains(roles, identity.PlatformOperator):
		return esign.PlatformSubject, nil
	case slices.Contains(roles, identity.MerchantAdmin) && r.Subject.Merchant != "" && r.Subject.Merchant == a.Merchant:
		return a.Merchant, nil
	case slices.Contains(roles, identity.Worker) && r.Subject.Worker != "" && r.Subject.Worker == a.Worker:
		return a.Worker, nil
	}
	return "", errs.Coded("sign", errs.Permission, esign.CodeNotAParty, "%s does not sign agreement %s for any of its parties", r.Subject.ID, a.ID)
}

// signer reads the route's agreement and the party the caller may sign it
// as now.
func signer(r *api.Request) (*Agreement, string, error) {
	a, err := get(r)
	if err != nil {
		return nil, "", err
	}
	subject, err := party(r, a)
	if err != nil {
		return nil, "", err
	}
	if err := signable(a, subject); err != nil {
		return nil, "", api.Classify(err)
	}
	return a, subject, nil
}

// codeMAC is what the state keeps of a signing code: bound to the code's
// ID, its agreement, party, account and the PDF's SM3, under the keyring's
// index key.
func codeMAC(key []byte, c Code, code string) []byte {
	m := sm.HMAC(key, []byte("cxt/signing-code/v1\x00"), []byte(c.ID), []byte{0}, []byte(c.Agreement), []byte{0},
		[]byte(c.Subject), []byte{0}, []byte(c.Account), []byte{0}, []byte(c.DocumentSM3), []byte{0}, []byte(code))
	return m[:]
}

// code sends the caller a signing code by SMS, bound to this agreement's
// PDF as it is now. (A TOTP code needs no request: send it to /sign.)
func (b *Backend) code(r *api.Request) (int, any, error) {
	a, subject, err := signer(r)
	if err != nil {
		return 0, nil, err
	}
	var acct *identity.Account
	if err := r.View(func(tx *state.ReadTx) error {
		var err error
		acct, err = identity.AccountByID(tx, r.Subject.ID)
		return err
	}); err != nil || acct == nil {
		return 0, nil, errs.E("signing code", errs.Unauthenticated, "the account is gone")
	}
	digits, err := randomDigits()
	if err != nil {
		return 0, nil, err
	}
	key, err := r.Node.Keys().IndexKey()
	if err != nil {
		return 0, nil, err
	}
	c := Code{ID: newID("sc_"), Agreement: a.ID, Subject: subject, Account: acct.ID, DocumentSM3: a.PDF.SM3}
	c.MAC = codeMAC(key, c, digits)
	text := "签署验证码 " + digits + "，5分钟内有效。合同 " + a.ID + "，文件SM3 " + a.PDF.SM3[:16] + "…，请核对后再签署。/ Signing code: " + digits
	r.Audit.Object = a.ID
	v, err := r.Propose(state.NewCommand(CmdCode, mustJSON(IssueCode{Code: c, Text: text}), r.Now()))
	if err != nil {
		return 0, nil, err
	}
	var issued Code
	if err := json.Unmarshal(v, &issued); err != nil {
		return 0, nil, err
	}
	return 201, map[string]any{
		"code_id": issued.ID, "expires_at": issued.Expires, "sent_to": identity.MaskPhone(acct.Phone), "document_sm3": issued.DocumentSM3,
		"next": "check that the PDF you read has this SM3, then POST /api/v1/agreements/" + a.ID + "/sign with document_sm3, code_id and code",
	}, nil
}

// randomDigits draws a code of codeDigits uniform decimal digits.
func randomDigits() (string, error) {
	v, err := rand.Int(rand.Reader, big.NewInt(1_000_000))
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("%06d", v), nil
}

var hex64 = regexp.MustCompile(`^[0-9a-f]{64}$`)

// signIn is a signing request: the SM3 of the PDF the signer read, and a
// code — an SMS code by its ID, or the current TOTP code.
type signIn struct {
	DocumentSM3 string `json:"document_sm3"`
	CodeID      string `json:"code_id"`
	Code        string `json:"code"`
	TOTP        string `json:"totp"`
}

// sign signs the agreement as the caller's party: the code proves a fresh
// authentication bound to the PDF the signer read; the ledger consumes it
// before the signer's key is opened; the signature, its time stamp and the
// authentication are recorded; the last signature has the platform
// countersign and seal the evidence package.
func (b *Backend) sign(r *api.Request) (int, any, error) {
	const op = "sign"
	var in signIn
	if err := r.Decode(&in); err != nil {
		return 0, nil, err
	}
	in.DocumentSM3 = strings.ToLower(in.DocumentSM3)
	if !hex64.MatchString(in.DocumentSM3) {
		return 0, nil, errs.E(op, errs.Invalid, "document_sm3: the SM3 of the PDF you read, 64 hex digits")
	}
	if (in.TOTP == "") == (in.CodeID == "" && in.Code == "") {
		return 0, nil, errs.E(op, errs.Invalid, "send code_id and code (an SMS code), or totp (your authenticator's code)")
	}
	// The code is checked before whether the party signed already, so that
	// a replayed code is answered as one (authentication_reused).
	a, err := get(r)
	if err != nil {
		return 0, nil, err
	}
	subject, err := party(r, a)
	if err != nil {
		return 0, nil, err
	}
	r.Audit.Object = a.ID
	now := r.Now()
	proof := esign.Proof{Subject: subject, Account: r.Subject.ID, VerifiedAt: now, Source: r.Audit.Source}
	var totp *identity.TOTPUsed
	if in.TOTP != "" {
		if b.Factors == nil {
			return 0, nil, errs.E(op, errs.Unavailable, "TOTP codes are not checked here yet")
		}
		if totp, err = b.Factors.CheckTOTP(r, in.TOTP); err != nil {
			return 0, nil, err
		}
		proof.ID, proof.Method, proof.DocumentSM3 = TOTPProofID(r.Subject.ID, totp.Step), esign.MethodTOTP, in.DocumentSM3
		proof.ExpiresAt = now.Add(esign.MaxProofLifetime)
	} else {
		c, err := b.smsCode(r, a, subject, in)
		if err != nil {
			return 0, nil, err
		}
		proof.ID, proof.Method, proof.DocumentSM3, proof.ExpiresAt = c.ID, esign.MethodSMS, c.DocumentSM3, c.Expires
	}
	l := &ledger{r: r, agreement: a.ID, totp: totp}
	err = api.Classify(signable(a, subject))
	var sig *esign.Signature
	var ev Evidence
	if err == nil {
		sig, ev, err = b.signAs(r, a, subject, proof, l, now)
	}
	if err != nil {
		if totp != nil && !l.consumed {
			if rerr := b.Factors.ReleaseTOTP(r, totp); rerr != nil {
				return 0, nil, rerr
			}
		}
		if l.consumed {
			r.RecordAgain()
		}
		return 0, nil, err
	}
	v, err := r.Propose(state.NewCommand(CmdSign, mustJSON(SignBody{
		Agreement: a.ID, Subject: subject, Proof: proof.ID, Account: r.Subject.ID, Method: proof.Method, Evidence: ev,
	}), now))
	if err != nil {
		return 0, nil, err
	}
	if a, err = decode(v); err != nil {
		return 0, nil, err
	}
	out := a.view()
	out["signature_sm3"] = sm3hex(sig.Value)
	if a.Status == Signed { // the last signature: the platform countersigns now
		if sealed, err := b.seal(r, a, false); err != nil {
			out["countersignature"] = "not sealed yet: " + errs.Of(err).Msg + " (retry with POST /api/v1/agreements/" + a.ID + "/countersign)"
		} else {
			out = sealed.view()
			out["signature_sm3"] = sm3hex(sig.Value)
		}
	}
	return 200, out, nil
}

// smsCode checks an SMS signing code against the caller, the agreement and
// the PDF the signer read, and returns it. A wrong code is counted; the
// MaxMisses-th burns the code.
func (b *Backend) smsCode(r *api.Request, a *Agreement, subject string, in signIn) (*Code, error) {
	const op = "check signing code"
	var c *Code
	if err := r.View(func(tx *state.ReadTx) error {
		var err error
		c, err = getJSON[Code](tx, CodesBucket, in.CodeID)
		return err
	}); err != nil {
		return nil, err
	}
	now := r.Now()
	switch {
	case c == nil:
		return nil, errs.Coded(op, errs.Unauthenticated, esign.CodeAuthenticationRequired, "no signing code %q: request one (POST /api/v1/agreements/%s/code)", in.CodeID, a.ID)
	case c.Agreement != a.ID || c.Subject != subject || c.Account != r.Subject.ID:
		return nil, errs.Coded(op, errs.Unauthenticated, esign.CodeAuthenticationMismatch, "the code was sent to another signer or for another agreement")
	case c.Burnt:
		return nil, errs.Coded(op, errs.Unauthenticated, esign.CodeAuthenticationReused, "the code was used up by %d wrong tries: request a new one", MaxMisses)
	case !c.Used.IsZero():
		return nil, errs.Coded(op, errs.Unauthenticated, esign.CodeAuthenticationReused, "this code was already used: request a new one")
	case !now.Before(c.Expires):
		return nil, errs.Coded(op, errs.Unauthenticated, esign.CodeAuthenticationExpired, "the code expired at %s: request a new one", c.Expires.UTC().Format(time.RFC3339))
	case in.DocumentSM3 != c.DocumentSM3:
		return nil, errs.Coded(op, errs.Unauthenticated, esign.CodeAuthenticationMismatch,
			"the PDF you read (SM3 %.12s…) is not the one the code was sent for (%.12s…): download the agreement's PDF again", in.DocumentSM3, c.DocumentSM3)
	}
	key, err := r.Node.Keys().IndexKey()
	if err != nil {
		return nil, err
	}
	if len(in.Code) != codeDigits || !sm.Equal(c.MAC, codeMAC(key, *c, in.Code)) {
		if _, err := r.ProposeAside(state.NewCommand(CmdMiss, mustJSON(Miss{ID: c.ID}), now)); err != nil {
			return nil, err
		}
		return nil, errs.Coded(op, errs.Unauthenticated, "invalid_credentials", "the signing code is wrong")
	}
	return c, nil
}

// signAs opens the party's key (the platform's, or the subject's own
// sealed one) through an esign session, which checks the proof and has the
// ledger consume it first, signs the PDF and time-stamps the signature; it
// returns the signature and its evidence as the record keeps it.
func (b *Backend) signAs(r *api.Request, a *Agreement, subject string, proof esign.Proof, l *ledger, now time.Time) (*esign.Signature, Evidence, error) {
	var auth *Authority
	var subj *subjectkey.Key
	err := r.View(func(tx *state.ReadTx) error {
		var err error
		if auth, err = GetAuthority(tx); err != nil || subject == esign.PlatformSubject {
			return err
		}
		subj, err = subjects.Key(tx, r.Node.Keys(), subject)
		return err
	})
	if err != nil {
		return nil, Evidence{}, api.Classify(err)
	}
	if auth == nil {
		return nil, Evidence{}, errs.E("sign", errs.Conflict, "the e-signing authority is not set up")
	}
	keys, err := auth.Open(r.Node.Keys(), r.Now)
	if err != nil {
		return nil, Evidence{}, err
	}
	pdf, err := b.document(r, a.PDF)
	if err != nil {
		return nil, Evidence{}, err
	}
	s, err := esign.NewSession(esign.Contract{ID: a.ID, Title: a.Template.Title, TemplateID: a.Template.ID, TemplateVersion: a.Template.Version,
		TemplateSM3: a.Template.SM3, PDF: pdf}, a.esignParties())
	if err != nil {
		return nil, Evidence{}, err
	}
	var sig *esign.Signature
	if subject == esign.PlatformSubject {
		if sig, err = s.SignAsPlatform(keys.Platform, proof, l, keys.TSA, now); err != nil {
			return nil, Evidence{}, err
		}
		return sig, Evidence{Subject: subject, Plain: mustJSON(sig)}, nil
	}
	sk, err := b.signerKey(r, keys.CA, subj)
	if err != nil {
		return nil, Evidence{}, err
	}
	if sig, err = s.SignAsSubject(&sk.SealedKey, subj, proof, l, keys.TSA, now); err != nil {
		return nil, Evidence{}, err
	}
	sealed, err := subjects.Seal(subj, EvidenceAAD(a.ID, subject), sig)
	if err != nil {
		return nil, Evidence{}, err
	}
	return sig, Evidence{Subject: subject, KeyID: subj.ID(), Sealed: sealed}, nil
}

// signerKey returns the subject's signing key, making it the first time
// they sign: certified by the authority's CA, sealed under their key.
func (b *Backend) signerKey(r *api.Request, ca esign.Authority, subj *subjectkey.Key) (*SignerKey, error) {
	read := func() (*SignerKey, error) {
		var k *SignerKey
		err := r.View(func(tx *state.ReadTx) error {
			var err error
			k, err = GetSignerKey(tx, subj.Subject())
			return err
		})
		return k, err
	}
	if k, err := read(); err != nil || k != nil {
		return k, err
	}
	sealed, err := esign.NewSignerKey(ca, subj, r.Now())
	if err != nil {
		return nil, err
	}
	k := &SignerKey{SealedKey: *sealed, KeyID: subj.ID()}
	if _, err := r.ProposeAside(state.NewCommand(CmdSignerKey, mustJSON(k), r.Now())); err != nil {
		if errs.Of(err).Code == "conflict" { // made by a racing signing: use that one
			return read()
		}
		return nil, err
	}
	return k, nil
}

// ledger consumes a proof through the replicated state (agreement.consume):
// of two requests with one code, on any nodes, one signs.
type ledger struct {
	r         *api.Request
	agreement string
	totp      *identity.TOTPUsed
	consumed  bool
}

func (l *ledger) Consume(p esign.Proof, now time.Time) error {
	if _, err := l.r.ProposeAside(state.NewCommand(CmdConsume, mustJSON(Consume{Agreement: l.agreement, Proof: p, TOTP: l.totp}), now)); err != nil {
		return err
	}
	l.consumed = true
	return nil
}

// countersignRoute seals an agreement every party signed whose automatic
// countersignature did not complete (the document store was down).
func (b *Backend) countersignRoute(r *api.Request) (int, any, error) {
	a, err := get(r)
	if err != nil {
		return 0, nil, err
	}
	r.Audit.Object = a.ID
	switch a.Status {
	case Signing:
		return 0, nil, errs.Coded("countersign", errs.Conflict, esign.CodeSigningIncomplete, "agreement %s still waits for signatures", a.ID)
	case Complete:
		return 0, nil, errs.E("countersign", errs.Conflict, "agreement %s is sealed already", a.ID)
	}
	sealed, err := b.seal(r, a, true)
	if err != nil {
		return 0, nil, err
	}
	return 200, sealed.view(), nil
}

// seal has the platform countersign the manifest of every signature and
// stores the evidence package under the platform's document key. own says
// the seal is the request's record; after a signing it is recorded aside.
func (b *Backend) seal(r *api.Request, a *Agreement, own bool) (*Agreement, error) {
	const op = "countersign"
	var auth *Authority
	sigs := make([]esign.Signature, len(a.Signatures))
	err := r.View(func(tx *state.ReadTx) error {
		var err error
		if auth, err = GetAuthority(tx); err != nil {
			return err
		}
		for i, ev := range a.Signatures {
			if ev.Subject == esign.PlatformSubject {
				err = json.Unmarshal(ev.Plain, &sigs[i])
			} else {
				var k *subjectkey.Key
				if k, err = subjects.Key(tx, r.Node.Keys(), ev.Subject); err == nil {
					err = subjects.Open(k, EvidenceAAD(a.ID, ev.Subject), ev.Sealed, &sigs[i])
				}
			}
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, api.Classify(err)
	}
	if auth == nil {
		return nil, errs.E(op, errs.Conflict, "the e-signing authority is not set up")
	}
	keys, err := auth.Open(r.Node.Keys(), r.Now)
	if err != nil {
		return nil, err
	}
	pdf, err := b.document(r, a.PDF)
	if err != nil {
		return nil, err
	}
	s, err := esign.NewSession(esign.Contract{ID: a.ID, Title: a.Template.Title, TemplateID: a.Template.ID, TemplateVersion: a.Template.Version,
		TemplateSM3: a.Template.SM3, PDF: pdf}, a.esignParties())
	if err != nil {
		return nil, err
	}
	s.Signatures = sigs
	// The manifest dates the sealing in whole seconds: the next one, so
	// that it is not before the last signature.
	now := r.Now().UTC()
	if t := now.Truncate(time.Second); t.Before(now) {
		now = t.Add(time.Second)
	}
	pkg, err := s.Seal(keys.CA.Cert, keys.TSA.Cert, keys.Platform, now)
	if err != nil {
		return nil, err
	}
	store := b.Documents()
	if store == nil {
		return nil, errs.E(op, errs.Unavailable, "the document store is not open yet")
	}
	id := newID(a.ID + "-evidence-")
	info, err := store.Put(r.Ctx, id, bytes.NewReader(pkg), int64(len(pkg)))
	if err != nil {
		return nil, errs.Wrap(op, errs.Unavailable, err, "the evidence package could not be stored")
	}
	cmd := state.NewCommand(CmdSeal, mustJSON(SealBody{Agreement: a.ID, Evidence: DocRef{ID: id, SM3: hex.EncodeToString(info.SM3[:]), Size: info.Size}, SealedAt: now}), r.Now())
	propose := r.ProposeAside
	if own {
		propose = r.Propose
	}
	v, err := propose(cmd)
	if err != nil {
		store.Delete(r.Ctx, id)
		return nil, err
	}
	return decode(v)
}
