package identity

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"strings"
	"time"

	"github.com/dchest/captcha"

	"cxt/appliance/api"
	"cxt/appliance/errs"
	"cxt/crypto/sm"
	"cxt/policy"
	"cxt/storage/state"
)

// nameIndex is the username's blind index (NameIndex).
func nameIndex(r *api.Request, username string) ([]byte, error) {
	key, err := r.Node.Keys().IndexKey()
	if err != nil {
		return nil, err
	}
	return NameIndex(key, username), nil
}

func tokenHash(token []byte) []byte { h := sm.Sum(token); return h[:] }

// decodeToken parses a session token as the API hands it out.
func decodeToken(raw string) ([]byte, error) {
	token, err := base64.RawURLEncoding.DecodeString(raw)
	if err == nil && len(token) != 32 {
		err = errs.E("token", errs.Unauthenticated, "a session token is 32 bytes")
	}
	return token, err
}

// bearer parses an Authorization header's session token and returns its
// SM3, the name sessions are kept under.
func bearer(authorization string) ([]byte, bool) {
	raw, ok := strings.CutPrefix(authorization, "Bearer ")
	token, err := decodeToken(raw)
	if !ok || err != nil {
		return nil, false
	}
	return tokenHash(token), true
}

// Authenticate resolves a bearer token to a session and subject
// (api.Sessions).
func (b *Backend) Authenticate(r *api.Request, authorization string) error {
	h, ok := bearer(authorization)
	if !ok {
		return errs.E("authenticate", errs.Unauthenticated, "the session token is malformed")
	}
	var sess *Session
	var acct *Account
	if err := r.Node.State().View(func(tx *state.ReadTx) error {
		var err error
		if sess, err = SessionByHash(tx, h); err != nil || sess == nil {
			return err
		}
		acct, err = AccountByID(tx, sess.Account)
		return err
	}); err != nil {
		return err
	}
	now := r.Now()
	if sess == nil || acct == nil || !acct.Closed.IsZero() || !now.Before(sess.Expires) {
		return errs.E("authenticate", errs.Unauthenticated, "the session has ended; sign in again")
	}
	if sess.IdleTimeout == 0 { // a session from before idle times were replicated
		sess.IdleTimeout = b.Policy.IdleTimeout
	}
	r.Audit.Subject = acct.ID
	if sess.Ended(now) {
		r.Propose(state.NewCommand(CmdEndSession, mustJSON(EndSession{TokenHash: h}), now))
		return errs.E("authenticate", errs.Unauthenticated, "the session was idle too long; sign in again")
	}
	if now.Sub(sess.IdleSince()) >= TouchEvery {
		// Replicated, coarsely: a restart or another node sees the same
		// last use. The touch is audited as its own command; the request
		// still gets its record.
		res, err := r.ProposeAside(state.NewCommand(CmdTouch, mustJSON(Touch{TokenHash: h}), now))
		if err != nil {
			return err
		}
		var t TouchResult
		if json.Unmarshal(res, &t) == nil && t.Ended {
			return errs.E("authenticate", errs.Unauthenticated, "the session was idle too long; sign in again")
		}
	}
	r.Session, r.Token = sess, h
	r.Subject = policy.Subject{ID: acct.ID, Roles: acct.Roles, Clearance: acct.Clearance, MFA: sess.MFA, Merchant: acct.Merchant, Worker: acct.Worker}
	return nil
}

// Holder names the account whose session a bearer token opens, ended or
// not (api.Sessions): an unrouted request's record names it.
func (b *Backend) Holder(tx *state.ReadTx, authorization string) string {
	h, ok := bearer(authorization)
	if !ok {
		return ""
	}
	if sess, _ := SessionByHash(tx, h); sess != nil {
		return sess.Account
	}
	return ""
}

// Live reports whether a bearer token opens a session not yet expired
// (api.Sessions): a signed-in caller is not rate-limited as an anonymous one.
func (b *Backend) Live(tx *state.ReadTx, authorization string, now time.Time) bool {
	h, ok := bearer(authorization)
	if !ok {
		return false
	}
	sess, err := SessionByHash(tx, h)
	return err == nil && sess != nil && now.Before(sess.Expires)
}

// Admits refuses what a session may not do yet (api.Session): a session
// opened with a one-time or expired password may only change it, one of a
// staff account without a second factor only enroll one, and an important
// operation needs a step-up within the last few minutes. Ending the session
// and reading it are always allowed.
func (s *Session) Admits(action string, important bool, now time.Time) error {
	always := action == "sessions.delete_own" || action == "sessions.current"
	switch {
	case s.Restricted && !always && action != "accounts.password":
		return errs.Coded("authorize", errs.Permission, "password_change_required", "change the one-time password first (POST /api/v1/me/password)")
	case s.EnrollMFA && !always && action != "accounts.mfa_enroll" && action != "accounts.password":
		return errs.Coded("authorize", errs.Unauthenticated, "mfa_required", "staff accounts need a second factor: enroll one (POST /api/v1/me/mfa/totp)")
	case important && !now.Before(s.StepUpUntil):
		return errs.Coded("authorize", errs.Unauthenticated, "step_up_required", "re-authenticate first (POST /api/v1/me/step-up with a current one-time code)")
	}
	return nil
}

type loginRequest struct {
	Username      string `json:"username"`
	Password      string `json:"password"`
	CaptchaID     string `json:"captcha_id,omitempty"`
	CaptchaAnswer string `json:"captcha_answer,omitempty"`
	TOTP          string `json:"totp,omitempty"`
	// An SM2 answer instead of a TOTP code: a challenge from
	// POST /api/v1/sessions/challenge, signed as SM2Message("login", nonce, username).
	SM2Challenge string `json:"sm2_challenge_id,omitempty"`
	SM2Signature string `json:"sm2_signature,omitempty"`
	// An SMS code instead (workers must, merchant users may): the ID
	// POST /api/v1/sessions/sms answered and the code the SMS carried.
	SMSLoginID string `json:"sms_login_id,omitempty"`
	SMSCode    string `json:"sms_code,omitempty"`
}

// login checks a password and opens a session. An unknown username and a
// wrong password get the same answer after the same work, and both count
// toward the same lockout. The state machine admits the attempt before the
// password is looked at (see Admit): racing logins are counted one
// by one, and a locked account's answer never depends on the password.
func (b *Backend) login(r *api.Request) (int, any, error) {
	const op = "login"
	var in loginRequest
	if err := r.Decode(&in); err != nil {
		return 0, nil, err
	}
	ref, acct, err := b.checkPassword(r, op, in)
	if err != nil {
		return 0, nil, err
	}
	idx := ref.NameIndex
	now := r.Now()
	// Staff need a second factor: with one enrolled, the code is part of the
	// login; without, the session may only enroll one.
	var step int64
	mfa, enroll := false, false
	smsLogin := ""
	if allowed, required := SMSFactor(acct.Roles); allowed && (required || in.SMSLoginID != "" || in.SMSCode != "") {
		if in.SMSLoginID == "" && in.SMSCode == "" {
			// The password was right: this attempt does not count, as for
			// staff without their code.
			b.settle(r, Settle{AttemptRef: ref, Policy: b.Policy})
			return 0, nil, errs.Coded(op, errs.Unauthenticated, "sms_code_required", "this account signs in with an SMS code: request one (POST /api/v1/sessions/sms), then send sms_login_id and sms_code with the password")
		}
		ok, err := checkSMS(r, idx, acct, in.SMSLoginID, in.SMSCode)
		if err != nil {
			return 0, nil, err
		}
		if !ok {
			return 0, nil, b.failed(r, ref, nil, "the username, password or SMS code is wrong")
		}
		smsLogin, mfa = in.SMSLoginID, true
	} else if in.SMSLoginID != "" || in.SMSCode != "" {
		return 0, nil, b.failed(r, ref, nil, "the username, password or second factor is wrong")
	}
	if IsStaff(acct.Roles) {
		switch {
		case acct.TOTPSecret == "" && acct.SM2Key == "":
			enroll = true
		case in.TOTP != "" && acct.TOTPSecret != "":
			var ok bool
			if step, ok = MatchTOTP(acct.TOTPSecret, in.TOTP, now); !ok {
				return 0, nil, b.failed(r, ref, nil, "the username, password or second factor is wrong")
			}
			mfa = true
		case in.SM2Signature != "" && acct.SM2Key != "":
			if err := b.checkSM2(r, acct.SM2Key, in.SM2Challenge, in.SM2Signature, "login", in.Username); err != nil {
				return 0, nil, b.failed(r, ref, nil, "the username, password or second factor is wrong")
			}
			mfa = true
		default:
			// The password was right: this attempt does not count against
			// the account, but the answer is the same for a locked one only
			// because a locked one is never admitted.
			b.settle(r, Settle{AttemptRef: ref, Policy: b.Policy})
			return 0, nil, errs.Coded(op, errs.Unauthenticated, "mfa_required", "send the current code of your authenticator as totp, or an SM2 answer to a challenge")
		}
	} else if in.TOTP != "" {
		// A merchant's user may sign in with their code, which counts as a
		// step-up; a code sent is checked — a wrong one is a failed login,
		// never a login without it.
		var ok bool
		if acct.TOTPSecret == "" {
			return 0, nil, b.failed(r, ref, nil, "the username, password or second factor is wrong")
		}
		if step, ok = MatchTOTP(acct.TOTPSecret, in.TOTP, now); !ok {
			return 0, nil, b.failed(r, ref, nil, "the username, password or second factor is wrong")
		}
		mfa = true
	}
	token := make([]byte, 32)
	if _, err := rand.Read(token); err != nil {
		return 0, nil, err
	}
	h := tokenHash(token)
	// An expired password opens a session that may only change it, as a
	// one-time password does.
	expired := PasswordExpired(acct, b.Policy, now)
	sess := Session{
		ID: hex.EncodeToString(h[:8]), Account: acct.ID, Created: now, Expires: now.Add(b.Policy.AbsoluteTimeout),
		LastSeen: now, IdleTimeout: b.Policy.IdleTimeout,
		Source: r.Audit.Source, Restricted: acct.MustChange || expired, MFA: mfa, EnrollMFA: enroll,
	}
	if mfa && smsLogin == "" { // signing in with the code counts as a fresh re-authentication; an SMS code does not
		sess.StepUpUntil = now.Add(stepUpFor)
	}
	r.Audit.Subject = acct.ID
	ok := LoginOK{NameIndex: idx, TokenHash: h, Session: sess, TOTPStep: step}
	if b.Hashing.Outdated(acct.Password) { // re-derived at today's count while the password is at hand
		if re, err := b.Hashing.Hash(in.Password); err == nil {
			ok.Rehash, ok.RehashOf = &re, acct.Password.Salt
		}
	}
	cmd := state.NewCommand(CmdLoginOK, mustJSON(ok), now)
	if smsLogin != "" { // the code is used up with the session it opens
		cmd = state.NewCommand(CmdLoginOKSMS, mustJSON(LoginOKSMS{LoginOK: ok, SMSLogin: smsLogin}), now)
	}
	if _, err := r.Propose(cmd); err != nil {
		if errs.Of(err).Code == "invalid_credentials" { // a replayed one-time code
			return 0, nil, b.failed(r, ref, nil, "the username, password or second factor is wrong")
		}
		return 0, nil, err
	}
	return 201, map[string]any{
		"token": base64.RawURLEncoding.EncodeToString(token), "session": sess, "account": acct.Public(),
		"password_change_required": acct.MustChange || expired, "password_expired": expired, "mfa_enrollment_required": enroll,
	}, nil
}

// admit asks the state machine to admit one check of a secret; a refusal is
// the error to answer with.
func (b *Backend) admit(r *api.Request, a Admit) error {
	res, err := r.Propose(state.NewCommand(CmdAdmit, mustJSON(a), r.Now()))
	if code := errs.Of(err).Code; code == RefusedLocked || code == RefusedCaptcha {
		return refusal(code)
	} else if err != nil {
		return err
	}
	var out Admission
	if err := json.Unmarshal(res, &out); err != nil {
		return err
	}
	if out.Admitted {
		return nil
	}
	// The admission used up a wrong captcha: its record says "ok", so the
	// refusal gets a record of its own.
	r.RecordAgain()
	return refusal(out.Refused)
}

func refusal(code string) error {
	if code == RefusedLocked {
		return errs.Coded("admit", errs.Permission, code, "the account is locked after repeated failures; try later or ask a security administrator")
	}
	return errs.Coded("admit", errs.Unauthenticated, RefusedCaptcha, "solve a captcha (GET /api/v1/captcha) and send captcha_id and captcha_answer")
}

// settle ends an admitted attempt and returns the username's attempts after it.
func (b *Backend) settle(r *api.Request, st Settle) (*Attempts, error) {
	res, err := r.Propose(state.NewCommand(CmdSettle, mustJSON(st), r.Now()))
	if err != nil {
		return nil, err
	}
	var after Attempts
	return &after, json.Unmarshal(res, &after)
}

// failed settles an admitted attempt as a failure and answers it: wrong,
// locked by this very failure, or — for a session re-authenticating — ended.
func (b *Backend) failed(r *api.Request, ref AttemptRef, session []byte, msg string) error {
	after, err := b.settle(r, Settle{AttemptRef: ref, Failed: true, Policy: b.Policy, Session: session})
	if err != nil {
		return err
	}
	if after.Locked(r.Now()) {
		return refusal(RefusedLocked)
	}
	return errs.Coded("", errs.Unauthenticated, "invalid_credentials", "%s", msg)
}

// validID reports whether id looks like an ID this API issued (requestID).
func validID(id string) bool {
	if len(id) != 16 {
		return false
	}
	_, err := hex.DecodeString(id)
	return err == nil
}

// captchaAnswer parses an answer of exactly CaptchaDigits digits.
func captchaAnswer(answer string) ([]byte, bool) {
	if len(answer) != CaptchaDigits {
		return nil, false
	}
	out := make([]byte, 0, len(answer))
	for _, c := range answer {
		if c < '0' || c > '9' {
			return nil, false
		}
		out = append(out, byte(c-'0'))
	}
	return out, true
}

// checkSM2 consumes a challenge and verifies an SM2 signature of it.
func (b *Backend) checkSM2(r *api.Request, pubPEM, challengeID, sigB64, purpose, who string) error {
	if !validID(challengeID) {
		return errs.Coded("sm2", errs.Unauthenticated, "invalid_credentials", "the challenge is unknown, used or expired")
	}
	// Recorded with the request's context; the request still gets its own
	// record of how it ended.
	nonce, err := r.ProposeAside(state.NewCommand(CmdTakeChallenge, mustJSON(Challenge{ID: challengeID}), r.Now()))
	if err != nil {
		return err
	}
	pub, err := sm.ParsePublicKeyPEM([]byte(pubPEM))
	if err != nil {
		return err
	}
	sig, err := base64.StdEncoding.DecodeString(sigB64)
	if err != nil || !pub.Verify(SM2Message(purpose, nonce, who), sig) {
		return errs.Coded("sm2", errs.Unauthenticated, "invalid_credentials", "the SM2 signature does not answer the challenge")
	}
	return nil
}

// challenge issues a single-use nonce for an SM2 key to sign.
func (b *Backend) challenge(r *api.Request) (int, any, error) {
	nonce := make([]byte, 32)
	if _, err := rand.Read(nonce); err != nil {
		return 0, nil, err
	}
	c := Challenge{ID: api.NewID(), Nonce: nonce, Expires: r.Now().Add(2 * time.Minute)}
	if _, err := r.Propose(state.NewCommand(CmdPutChallenge, mustJSON(c), r.Now())); err != nil {
		return 0, nil, err
	}
	return 201, map[string]any{"challenge_id": c.ID, "nonce": base64.StdEncoding.EncodeToString(nonce), "expires_at": c.Expires,
		"sign": "SM2 (SM3, default ID) over \"cxt-sm2-<purpose>-v1\\0\" || nonce || \"\\0\" || username (login) or account ID (enroll, step-up)"}, nil
}

// factorProof is what replacing a second factor needs when one is in
// force: the password and the current factor (a TOTP code or an SM2 answer
// to a challenge signed for "step-up").
type factorProof struct {
	CurrentPassword string `json:"current_password"`
	TOTP            string `json:"totp"`
	SM2Challenge    string `json:"sm2_challenge_id"`
	SM2Signature    string `json:"sm2_signature"`
}

// proveFactor checks the proof of a caller who replaces a second factor. An
// account without one (a first enrolment, right after a password login)
// needs none. The check is admitted like a login and a failure counts
// toward the lock and this session's limit.
func (b *Backend) proveFactor(r *api.Request, acct *Account, p factorProof) (*FactorUsed, error) {
	if acct.TOTPSecret == "" && acct.SM2Key == "" {
		return nil, nil
	}
	if p.CurrentPassword == "" || (p.TOTP == "" && p.SM2Signature == "") {
		return nil, errs.Coded("replace factor", errs.Unauthenticated, "reauthentication_required",
			"a second factor is in force: send current_password and the current factor (totp, or sm2_challenge_id and sm2_signature)")
	}
	var step int64
	ref, err := b.reauth(r, acct, func() bool {
		if !acct.Password.Verify(p.CurrentPassword) {
			return false
		}
		var ok bool
		step, ok = b.checkFactor(r, acct, p.TOTP, p.SM2Challenge, p.SM2Signature)
		return ok
	})
	if err != nil {
		return nil, err
	}
	return &FactorUsed{Release: *ref, Step: step}, nil
}

// checkFactor checks a TOTP code or an SM2 step-up answer of the account's
// factor in force and returns the TOTP step it used (0 for SM2).
func (b *Backend) checkFactor(r *api.Request, acct *Account, code, challenge, signature string) (int64, bool) {
	switch {
	case code != "" && acct.TOTPSecret != "":
		return MatchTOTP(acct.TOTPSecret, code, r.Now())
	case signature != "" && acct.SM2Key != "":
		return 0, b.checkSM2(r, acct.SM2Key, challenge, signature, "step-up", acct.ID) == nil
	}
	return 0, false
}

// reauth admits one check of the caller's own secret (a step-up code, the
// current password or factor), runs it, and settles a wrong answer as a
// failure: it counts toward the account's lock like a failed login, and the
// session ends after MaxSessionFailures of them. The attempt of a
// right answer is returned for the change to release.
func (b *Backend) reauth(r *api.Request, acct *Account, check func() bool) (*AttemptRef, error) {
	idx, err := nameIndex(r, acct.Username)
	if err != nil {
		return nil, err
	}
	ref := AttemptRef{NameIndex: idx, Attempt: api.NewID()}
	if err := b.admit(r, Admit{AttemptRef: ref, Purpose: PurposeReauth, Policy: b.Policy}); err != nil {
		return nil, err
	}
	if !check() {
		return nil, b.failed(r, ref, r.Token, "the password or one-time code is wrong")
	}
	return &ref, nil
}

// enrollSM2 makes an SM2 public key the account's second factor; the key
// proves itself by signing a challenge.
func (b *Backend) enrollSM2(r *api.Request) (int, any, error) {
	var in struct {
		PublicKey string `json:"public_key"`
		Challenge string `json:"challenge_id"`
		Signature string `json:"signature"`
		factorProof
	}
	if err := r.Decode(&in); err != nil {
		return 0, nil, err
	}
	if _, err := sm.ParsePublicKeyPEM([]byte(in.PublicKey)); err != nil {
		return 0, nil, errs.E("enroll SM2", errs.Invalid, "public_key must be an SM2 public key in PEM: %v", err)
	}
	acct, err := callerAccount(r)
	if err != nil {
		return 0, nil, err
	}
	proof, err := b.proveFactor(r, acct, in.factorProof)
	if err != nil {
		return 0, nil, err
	}
	if err := b.checkSM2(r, in.PublicKey, in.Challenge, in.Signature, "enroll", r.Subject.ID); err != nil {
		return 0, nil, err
	}
	cmd := SetSM2Key{Account: r.Subject.ID, PublicKey: in.PublicKey, TokenHash: r.Token, Proof: proof}
	if _, err := r.Propose(state.NewCommand(CmdSetSM2Key, mustJSON(cmd), r.Now())); err != nil {
		return 0, nil, err
	}
	return 200, map[string]any{"mfa_enrolled": true}, nil
}

// beginTOTP draws a new TOTP secret for the caller to confirm. Replacing a
// factor in force needs the password and the current factor.
func (b *Backend) beginTOTP(r *api.Request) (int, any, error) {
	var in factorProof
	if r.HTTP.ContentLength != 0 {
		if err := r.Decode(&in); err != nil {
			return 0, nil, err
		}
	}
	acct, err := callerAccount(r)
	if err != nil {
		return 0, nil, err
	}
	proof, err := b.proveFactor(r, acct, in)
	if err != nil {
		return 0, nil, err
	}
	secret, url, err := NewTOTP(acct.Username)
	if err != nil {
		return 0, nil, err
	}
	cmd := BeginTOTP{Account: acct.ID, Secret: secret, TokenHash: r.Token, Proof: proof}
	if _, err := r.Propose(state.NewCommand(CmdBeginTOTP, mustJSON(cmd), r.Now())); err != nil {
		return 0, nil, err
	}
	return 201, map[string]any{"secret": secret, "otpauth_url": url, "next": "POST /api/v1/me/mfa/totp/confirm with a current code"}, nil
}

func (b *Backend) confirmTOTP(r *api.Request) (int, any, error) {
	var in struct {
		Code string `json:"code"`
	}
	if err := r.Decode(&in); err != nil {
		return 0, nil, err
	}
	acct, err := callerAccount(r)
	if err != nil {
		return 0, nil, err
	}
	if acct.TOTPNew == "" || string(acct.TOTPNewBy) != string(r.Token) {
		return 0, nil, errs.E("confirm TOTP", errs.Invalid, "start with POST /api/v1/me/mfa/totp in this session")
	}
	step, ok := MatchTOTP(acct.TOTPNew, in.Code, r.Now())
	if !ok {
		return 0, nil, errs.Coded("confirm TOTP", errs.Unauthenticated, "invalid_credentials", "the code does not match the new secret")
	}
	if _, err := r.Propose(state.NewCommand(CmdConfirmTOTP, mustJSON(ConfirmTOTP{Account: acct.ID, Step: step, TokenHash: r.Token}), r.Now())); err != nil {
		return 0, nil, err
	}
	return 200, map[string]any{"mfa_enrolled": true}, nil
}

// stepUp re-authenticates the session with a one-time code for important
// operations in the next few minutes. Wrong codes count toward the lock and
// end the session after a few.
func (b *Backend) stepUp(r *api.Request) (int, any, error) {
	var in struct {
		TOTP         string `json:"totp"`
		SM2Challenge string `json:"sm2_challenge_id"`
		SM2Signature string `json:"sm2_signature"`
	}
	if err := r.Decode(&in); err != nil {
		return 0, nil, err
	}
	if in.TOTP == "" && in.SM2Signature == "" {
		return 0, nil, errs.E("step up", errs.Invalid, "give a current one-time code (totp) or an SM2 answer to a challenge")
	}
	acct, err := callerAccount(r)
	if err != nil {
		return 0, nil, err
	}
	var step int64
	ref, err := b.reauth(r, acct, func() bool {
		var ok bool
		step, ok = b.checkFactor(r, acct, in.TOTP, in.SM2Challenge, in.SM2Signature)
		return ok
	})
	if err != nil {
		return 0, nil, err
	}
	now := r.Now()
	until := now.Add(stepUpFor)
	if _, err := r.Propose(state.NewCommand(CmdStepUp, mustJSON(StepUp{Account: acct.ID, Step: step, TokenHash: r.Token, Until: until, Release: ref}), now)); err != nil {
		return 0, nil, err
	}
	return 200, map[string]any{"step_up_until": until}, nil
}

func callerAccount(r *api.Request) (*Account, error) {
	var acct *Account
	err := r.View(func(tx *state.ReadTx) error {
		var err error
		acct, err = AccountByID(tx, r.Subject.ID)
		return err
	})
	if err == nil && acct == nil {
		err = errs.E("account", errs.Unauthenticated, "the account is gone")
	}
	return acct, err
}

// captcha issues a single-use image captcha, replicated so that any node
// can check the answer.
func (b *Backend) captcha(r *api.Request) (int, any, error) {
	id := api.NewID()
	ds := captcha.RandomDigits(CaptchaDigits)
	var png bytes.Buffer
	if _, err := captcha.NewImage(id, ds, 240, 80).WriteTo(&png); err != nil {
		return 0, nil, err
	}
	now := r.Now()
	if _, err := r.Propose(state.NewCommand(CmdPutCaptcha, mustJSON(Captcha{ID: id, Digits: ds, Expires: now.Add(5 * time.Minute)}), now)); err != nil {
		return 0, nil, err
	}
	return 201, map[string]any{"captcha_id": id, "image_png_base64": base64.StdEncoding.EncodeToString(png.Bytes()), "expires_in": 300}, nil
}

func (b *Backend) logout(r *api.Request) (int, any, error) {
	if _, err := r.Propose(state.NewCommand(CmdEndSession, mustJSON(EndSession{TokenHash: r.Token}), r.Now())); err != nil {
		return 0, nil, err
	}
	return 200, map[string]any{"ended": r.Session.(*Session).ID}, nil
}

func (b *Backend) listSessions(r *api.Request) (int, any, error) {
	var list []*Session
	err := r.View(func(tx *state.ReadTx) error {
		m, err := SessionsOf(tx, r.Subject.ID)
		for _, sess := range m {
			list = append(list, sess)
		}
		return err
	})
	return 200, map[string]any{"sessions": list}, err
}

// endSession ends one of the caller's sessions by its public ID; a security
// administrator may end anyone's (sessions.delete_any).
func (b *Backend) endSession(r *api.Request) (int, any, error) {
	id := r.Var("id")
	var target []byte
	err := r.View(func(tx *state.ReadTx) error {
		m, err := SessionsOf(tx, r.Subject.ID)
		for h, sess := range m {
			if sess.ID == id {
				target = []byte(h)
			}
		}
		return err
	})
	if err != nil {
		return 0, nil, err
	}
	if target == nil {
		return 0, nil, errs.E("end session", errs.NotExist, "no session %s of yours", id)
	}
	if _, err := r.Propose(state.NewCommand(CmdEndSession, mustJSON(EndSession{TokenHash: target}), r.Now())); err != nil {
		return 0, nil, err
	}
	return 200, map[string]any{"ended": id}, nil
}

func (b *Backend) me(r *api.Request) (int, any, error) {
	var acct *Account
	err := r.View(func(tx *state.ReadTx) error {
		var err error
		acct, err = AccountByID(tx, r.Subject.ID)
		return err
	})
	if err != nil || acct == nil {
		return 0, nil, errs.E("me", errs.Unauthenticated, "the account is gone")
	}
	return 200, map[string]any{"account": acct.Public(), "session": r.Session}, nil
}

func (b *Backend) changePassword(r *api.Request) (int, any, error) {
	const op = "change password"
	var in struct {
		Current string `json:"current_password"`
		New     string `json:"new_password"`
	}
	if err := r.Decode(&in); err != nil {
		return 0, nil, err
	}
	if err := CheckPassword(in.New); err != nil {
		return 0, nil, errs.Coded(op, errs.Invalid, "weak_password", "%v", err)
	}
	var acct *Account
	if err := r.View(func(tx *state.ReadTx) error {
		var err error
		acct, err = AccountByID(tx, r.Subject.ID)
		return err
	}); err != nil || acct == nil {
		return 0, nil, errs.E(op, errs.Unauthenticated, "the account is gone")
	}
	if in.Current == in.New {
		return 0, nil, errs.Coded(op, errs.Invalid, "weak_password", "the new password must differ from the current one")
	}
	if err := CheckNewPassword(in.New, acct.Username); err != nil {
		return 0, nil, errs.Coded(op, errs.Invalid, "weak_password", "%v", err)
	}
	ref, err := b.reauth(r, acct, func() bool { return acct.Password.Verify(in.Current) })
	if err != nil {
		return 0, nil, err
	}
	// Reuse is checked only once the current password is proved: against
	// stored hashes it would otherwise tell a session's holder which
	// passwords the account had. The proved attempt is settled as right.
	if acct.Reuses(in.New) {
		if _, err := b.settle(r, Settle{AttemptRef: *ref, Policy: b.Policy}); err != nil {
			return 0, nil, err
		}
		r.RecordAgain() // the refusal gets a record of its own
		return 0, nil, errs.Coded(op, errs.Invalid, "weak_password", "the new password must differ from your last %d passwords", PasswordHistory)
	}
	hash, err := b.Hashing.Hash(in.New)
	if err != nil {
		return 0, nil, err
	}
	// Every other session of the account ends; this one stays and is no
	// longer restricted.
	if _, err := r.Propose(state.NewCommand(CmdSetPassword, mustJSON(SetPassword{Account: acct.ID, Hash: hash, Keep: r.Token, Release: ref}), r.Now())); err != nil {
		return 0, nil, err
	}
	return 200, map[string]any{"changed": true}, nil
}
