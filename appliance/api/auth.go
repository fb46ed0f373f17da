package api

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"strings"
	"time"

	"github.com/dchest/captcha"

	"cxt/appliance/errs"
	"cxt/appliance/identity"
	"cxt/crypto/sm"
	"cxt/policy"
	"cxt/storage/state"
)

// nameIndex is the username's blind index (identity.NameIndex).
func nameIndex(r *Request, username string) ([]byte, error) {
	key, err := r.Node.Keys().IndexKey()
	if err != nil {
		return nil, err
	}
	return identity.NameIndex(key, username), nil
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

// authenticate resolves the bearer token, if any, to a session and subject.
func (s *Server) authenticate(r *Request) error {
	r.Subject = policy.Subject{ID: "anonymous", Roles: []string{"anonymous"}, Clearance: 1}
	authz := r.HTTP.Header.Get("Authorization")
	if authz == "" {
		return nil
	}
	raw, ok := strings.CutPrefix(authz, "Bearer ")
	token, err := decodeToken(raw)
	if !ok || err != nil {
		return errs.E("authenticate", errs.Unauthenticated, "the session token is malformed")
	}
	h := tokenHash(token)
	var sess *identity.Session
	var acct *identity.Account
	if err := r.Node.State().View(func(tx *state.ReadTx) error {
		var err error
		if sess, err = identity.SessionByHash(tx, h); err != nil || sess == nil {
			return err
		}
		acct, err = identity.AccountByID(tx, sess.Account)
		return err
	}); err != nil {
		return err
	}
	now := s.Now()
	if sess == nil || acct == nil || !acct.Closed.IsZero() || !now.Before(sess.Expires) {
		return errs.E("authenticate", errs.Unauthenticated, "the session has ended; sign in again")
	}
	if sess.IdleTimeout == 0 { // a session from before idle times were replicated
		sess.IdleTimeout = s.Policy.IdleTimeout
	}
	r.Audit.Subject = acct.ID
	if sess.Ended(now) {
		r.Propose(state.NewCommand(identity.CmdEndSession, mustJSON(identity.EndSession{TokenHash: h}), now))
		return errs.E("authenticate", errs.Unauthenticated, "the session was idle too long; sign in again")
	}
	if now.Sub(sess.IdleSince()) >= identity.TouchEvery {
		// Replicated, coarsely: a restart or another node sees the same
		// last use. The touch is audited as its own command; the request
		// still gets its record.
		cmd := state.NewCommand(identity.CmdTouch, mustJSON(identity.Touch{TokenHash: h}), now)
		cmd.Audit = r.Audit.Encode()
		res, err := r.Node.ProposeOK(r.Ctx, cmd)
		if err != nil {
			return rejection(err)
		}
		var t identity.TouchResult
		if jsonInto(res, &t) == nil && t.Ended {
			return errs.E("authenticate", errs.Unauthenticated, "the session was idle too long; sign in again")
		}
	}
	r.Session, r.Token = sess, h
	r.Subject = policy.Subject{ID: acct.ID, Roles: acct.Roles, Clearance: acct.Clearance, MFA: sess.MFA}
	return nil
}

type loginRequest struct {
	Username      string `json:"username"`
	Password      string `json:"password"`
	CaptchaID     string `json:"captcha_id,omitempty"`
	CaptchaAnswer string `json:"captcha_answer,omitempty"`
	TOTP          string `json:"totp,omitempty"`
	// An SM2 answer instead of a TOTP code: a challenge from
	// POST /api/v1/sessions/challenge, signed as identity.SM2Message("login", nonce, username).
	SM2Challenge string `json:"sm2_challenge_id,omitempty"`
	SM2Signature string `json:"sm2_signature,omitempty"`
}

// login checks a password and opens a session. An unknown username and a
// wrong password get the same answer after the same work, and both count
// toward the same lockout. The state machine admits the attempt before the
// password is looked at (see identity.Admit): racing logins are counted one
// by one, and a locked account's answer never depends on the password.
func (s *Server) login(r *Request) (int, any, error) {
	const op = "login"
	var in loginRequest
	if err := decodeJSON(r, &in); err != nil {
		return 0, nil, err
	}
	if in.Username == "" || in.Password == "" {
		return 0, nil, errs.E(op, errs.Invalid, "username and password are required")
	}
	var captcha *identity.TakeCaptcha
	if in.CaptchaID != "" || in.CaptchaAnswer != "" {
		answer, ok := captchaAnswer(in.CaptchaAnswer)
		if !validID(in.CaptchaID) || !ok {
			return 0, nil, errs.E(op, errs.Invalid, "captcha_id must be the ID GET /api/v1/captcha returned and captcha_answer its %d digits", identity.CaptchaDigits)
		}
		captcha = &identity.TakeCaptcha{ID: in.CaptchaID, Answer: answer}
	}
	if err := s.throttle(r.HTTP, true); err != nil {
		return 0, nil, err
	}
	idx, err := nameIndex(r, in.Username)
	if err != nil {
		return 0, nil, err
	}
	r.Audit.Subject = "login:" + hex.EncodeToString(idx[:8])
	ref := identity.AttemptRef{NameIndex: idx, Attempt: requestID()}
	if err := s.admit(r, identity.Admit{AttemptRef: ref, Purpose: identity.PurposeLogin, Policy: s.Policy, Captcha: captcha}); err != nil {
		// No decoy work here: a refusal's answer (locked, captcha due) is
		// the same for every password and every name, so its timing tells
		// nothing, and a flood of refused logins costs no password hashing.
		return 0, nil, err
	}
	var acct *identity.Account
	if err := r.View(func(tx *state.ReadTx) error {
		var err error
		acct, err = identity.AccountByName(tx, idx)
		return err
	}); err != nil {
		return 0, nil, err
	}
	if acct != nil && !acct.Closed.IsZero() {
		acct = nil // a closed account answers like an unknown one
	}
	var hash *identity.PasswordHash
	if acct != nil {
		hash = &acct.Password
	}
	if !identity.VerifyOrDecoy(hash, in.Password) {
		return 0, nil, s.failed(r, ref, nil, "the username or password is wrong")
	}
	now := s.Now()
	// Staff need a second factor: with one enrolled, the code is part of the
	// login; without, the session may only enroll one.
	var step int64
	mfa, enroll := false, false
	if identity.IsStaff(acct.Roles) {
		switch {
		case acct.TOTPSecret == "" && acct.SM2Key == "":
			enroll = true
		case in.TOTP != "" && acct.TOTPSecret != "":
			var ok bool
			if step, ok = identity.MatchTOTP(acct.TOTPSecret, in.TOTP, now); !ok {
				return 0, nil, s.failed(r, ref, nil, "the username, password or second factor is wrong")
			}
			mfa = true
		case in.SM2Signature != "" && acct.SM2Key != "":
			if err := s.checkSM2(r, acct.SM2Key, in.SM2Challenge, in.SM2Signature, "login", in.Username); err != nil {
				return 0, nil, s.failed(r, ref, nil, "the username, password or second factor is wrong")
			}
			mfa = true
		default:
			// The password was right: this attempt does not count against
			// the account, but the answer is the same for a locked one only
			// because a locked one is never admitted.
			s.settle(r, identity.Settle{AttemptRef: ref, Policy: s.Policy})
			return 0, nil, errs.Coded(op, errs.Unauthenticated, "mfa_required", "send the current code of your authenticator as totp, or an SM2 answer to a challenge")
		}
	}
	token := make([]byte, 32)
	if _, err := rand.Read(token); err != nil {
		return 0, nil, err
	}
	h := tokenHash(token)
	// An expired password opens a session that may only change it, as a
	// one-time password does.
	expired := identity.PasswordExpired(acct, s.Policy, now)
	sess := identity.Session{
		ID: hex.EncodeToString(h[:8]), Account: acct.ID, Created: now, Expires: now.Add(s.Policy.AbsoluteTimeout),
		LastSeen: now, IdleTimeout: s.Policy.IdleTimeout,
		Source: r.Audit.Source, Restricted: acct.MustChange || expired, MFA: mfa, EnrollMFA: enroll,
	}
	if mfa { // signing in with the code counts as a fresh re-authentication
		sess.StepUpUntil = now.Add(stepUpFor)
	}
	r.Audit.Subject = acct.ID
	ok := identity.LoginOK{NameIndex: idx, TokenHash: h, Session: sess, TOTPStep: step}
	if s.Hashing.Outdated(acct.Password) { // re-derived at today's count while the password is at hand
		if re, err := s.Hashing.Hash(in.Password); err == nil {
			ok.Rehash, ok.RehashOf = &re, acct.Password.Salt
		}
	}
	if _, err := r.Propose(state.NewCommand(identity.CmdLoginOK, mustJSON(ok), now)); err != nil {
		if errs.Of(err).Code == "invalid_credentials" { // a replayed one-time code
			return 0, nil, s.failed(r, ref, nil, "the username, password or second factor is wrong")
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
func (s *Server) admit(r *Request, a identity.Admit) error {
	res, err := r.Propose(state.NewCommand(identity.CmdAdmit, mustJSON(a), s.Now()))
	if code := errs.Of(err).Code; code == identity.RefusedLocked || code == identity.RefusedCaptcha {
		return refusal(code)
	} else if err != nil {
		return err
	}
	var out identity.Admission
	if err := jsonInto(res, &out); err != nil {
		return err
	}
	if out.Admitted {
		return nil
	}
	// The admission used up a wrong captcha: its record says "ok", so the
	// refusal gets a record of its own.
	r.audited = false
	return refusal(out.Refused)
}

func refusal(code string) error {
	if code == identity.RefusedLocked {
		return errs.Coded("admit", errs.Permission, code, "the account is locked after repeated failures; try later or ask a security administrator")
	}
	return errs.Coded("admit", errs.Unauthenticated, identity.RefusedCaptcha, "solve a captcha (GET /api/v1/captcha) and send captcha_id and captcha_answer")
}

// settle ends an admitted attempt and returns the username's attempts after it.
func (s *Server) settle(r *Request, st identity.Settle) (*identity.Attempts, error) {
	res, err := r.Propose(state.NewCommand(identity.CmdSettle, mustJSON(st), s.Now()))
	if err != nil {
		return nil, err
	}
	var after identity.Attempts
	return &after, jsonInto(res, &after)
}

// failed settles an admitted attempt as a failure and answers it: wrong,
// locked by this very failure, or — for a session re-authenticating — ended.
func (s *Server) failed(r *Request, ref identity.AttemptRef, session []byte, msg string) error {
	after, err := s.settle(r, identity.Settle{AttemptRef: ref, Failed: true, Policy: s.Policy, Session: session})
	if err != nil {
		return err
	}
	if after.Locked(s.Now()) {
		return refusal(identity.RefusedLocked)
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

// captchaAnswer parses an answer of exactly identity.CaptchaDigits digits.
func captchaAnswer(answer string) ([]byte, bool) {
	if len(answer) != identity.CaptchaDigits {
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
func (s *Server) checkSM2(r *Request, pubPEM, challengeID, sigB64, purpose, who string) error {
	if !validID(challengeID) {
		return errs.Coded("sm2", errs.Unauthenticated, "invalid_credentials", "the challenge is unknown, used or expired")
	}
	// Recorded with the request's context; the request still gets its own
	// record of how it ended.
	take := state.NewCommand(identity.CmdTakeChallenge, mustJSON(identity.Challenge{ID: challengeID}), s.Now())
	take.Audit = r.Audit.Encode()
	nonce, err := r.Node.ProposeOK(r.Ctx, take)
	if err != nil {
		return rejection(err)
	}
	pub, err := sm.ParsePublicKeyPEM([]byte(pubPEM))
	if err != nil {
		return err
	}
	sig, err := base64.StdEncoding.DecodeString(sigB64)
	if err != nil || !pub.Verify(identity.SM2Message(purpose, nonce, who), sig) {
		return errs.Coded("sm2", errs.Unauthenticated, "invalid_credentials", "the SM2 signature does not answer the challenge")
	}
	return nil
}

// challenge issues a single-use nonce for an SM2 key to sign.
func (s *Server) challenge(r *Request) (int, any, error) {
	nonce := make([]byte, 32)
	if _, err := rand.Read(nonce); err != nil {
		return 0, nil, err
	}
	c := identity.Challenge{ID: requestID(), Nonce: nonce, Expires: s.Now().Add(2 * time.Minute)}
	if _, err := r.Propose(state.NewCommand(identity.CmdPutChallenge, mustJSON(c), s.Now())); err != nil {
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
func (s *Server) proveFactor(r *Request, acct *identity.Account, p factorProof) (*identity.FactorUsed, error) {
	if acct.TOTPSecret == "" && acct.SM2Key == "" {
		return nil, nil
	}
	if p.CurrentPassword == "" || (p.TOTP == "" && p.SM2Signature == "") {
		return nil, errs.Coded("replace factor", errs.Unauthenticated, "reauthentication_required",
			"a second factor is in force: send current_password and the current factor (totp, or sm2_challenge_id and sm2_signature)")
	}
	var step int64
	ref, err := s.reauth(r, acct, func() bool {
		if !acct.Password.Verify(p.CurrentPassword) {
			return false
		}
		var ok bool
		step, ok = s.checkFactor(r, acct, p.TOTP, p.SM2Challenge, p.SM2Signature)
		return ok
	})
	if err != nil {
		return nil, err
	}
	return &identity.FactorUsed{Release: *ref, Step: step}, nil
}

// checkFactor checks a TOTP code or an SM2 step-up answer of the account's
// factor in force and returns the TOTP step it used (0 for SM2).
func (s *Server) checkFactor(r *Request, acct *identity.Account, code, challenge, signature string) (int64, bool) {
	switch {
	case code != "" && acct.TOTPSecret != "":
		return identity.MatchTOTP(acct.TOTPSecret, code, s.Now())
	case signature != "" && acct.SM2Key != "":
		return 0, s.checkSM2(r, acct.SM2Key, challenge, signature, "step-up", acct.ID) == nil
	}
	return 0, false
}

// reauth admits one check of the caller's own secret (a step-up code, the
// current password or factor), runs it, and settles a wrong answer as a
// failure: it counts toward the account's lock like a failed login, and the
// session ends after identity.MaxSessionFailures of them. The attempt of a
// right answer is returned for the change to release.
func (s *Server) reauth(r *Request, acct *identity.Account, check func() bool) (*identity.AttemptRef, error) {
	idx, err := nameIndex(r, acct.Username)
	if err != nil {
		return nil, err
	}
	ref := identity.AttemptRef{NameIndex: idx, Attempt: requestID()}
	if err := s.admit(r, identity.Admit{AttemptRef: ref, Purpose: identity.PurposeReauth, Policy: s.Policy}); err != nil {
		return nil, err
	}
	if !check() {
		return nil, s.failed(r, ref, r.Token, "the password or one-time code is wrong")
	}
	return &ref, nil
}

// enrollSM2 makes an SM2 public key the account's second factor; the key
// proves itself by signing a challenge.
func (s *Server) enrollSM2(r *Request) (int, any, error) {
	var in struct {
		PublicKey string `json:"public_key"`
		Challenge string `json:"challenge_id"`
		Signature string `json:"signature"`
		factorProof
	}
	if err := decodeJSON(r, &in); err != nil {
		return 0, nil, err
	}
	if _, err := sm.ParsePublicKeyPEM([]byte(in.PublicKey)); err != nil {
		return 0, nil, errs.E("enroll SM2", errs.Invalid, "public_key must be an SM2 public key in PEM: %v", err)
	}
	acct, err := s.account(r)
	if err != nil {
		return 0, nil, err
	}
	proof, err := s.proveFactor(r, acct, in.factorProof)
	if err != nil {
		return 0, nil, err
	}
	if err := s.checkSM2(r, in.PublicKey, in.Challenge, in.Signature, "enroll", r.Subject.ID); err != nil {
		return 0, nil, err
	}
	cmd := identity.SetSM2Key{Account: r.Subject.ID, PublicKey: in.PublicKey, TokenHash: r.Token, Proof: proof}
	if _, err := r.Propose(state.NewCommand(identity.CmdSetSM2Key, mustJSON(cmd), s.Now())); err != nil {
		return 0, nil, err
	}
	return 200, map[string]any{"mfa_enrolled": true}, nil
}

// stepUpFor is how long a re-authentication counts for important operations.
const stepUpFor = 5 * time.Minute

// beginTOTP draws a new TOTP secret for the caller to confirm. Replacing a
// factor in force needs the password and the current factor.
func (s *Server) beginTOTP(r *Request) (int, any, error) {
	var in factorProof
	if r.HTTP.ContentLength != 0 {
		if err := decodeJSON(r, &in); err != nil {
			return 0, nil, err
		}
	}
	acct, err := s.account(r)
	if err != nil {
		return 0, nil, err
	}
	proof, err := s.proveFactor(r, acct, in)
	if err != nil {
		return 0, nil, err
	}
	secret, url, err := identity.NewTOTP(acct.Username)
	if err != nil {
		return 0, nil, err
	}
	cmd := identity.BeginTOTP{Account: acct.ID, Secret: secret, TokenHash: r.Token, Proof: proof}
	if _, err := r.Propose(state.NewCommand(identity.CmdBeginTOTP, mustJSON(cmd), s.Now())); err != nil {
		return 0, nil, err
	}
	return 201, map[string]any{"secret": secret, "otpauth_url": url, "next": "POST /api/v1/me/mfa/totp/confirm with a current code"}, nil
}

func (s *Server) confirmTOTP(r *Request) (int, any, error) {
	var in struct {
		Code string `json:"code"`
	}
	if err := decodeJSON(r, &in); err != nil {
		return 0, nil, err
	}
	acct, err := s.account(r)
	if err != nil {
		return 0, nil, err
	}
	if acct.TOTPNew == "" || string(acct.TOTPNewBy) != string(r.Token) {
		return 0, nil, errs.E("confirm TOTP", errs.Invalid, "start with POST /api/v1/me/mfa/totp in this session")
	}
	step, ok := identity.MatchTOTP(acct.TOTPNew, in.Code, s.Now())
	if !ok {
		return 0, nil, errs.Coded("confirm TOTP", errs.Unauthenticated, "invalid_credentials", "the code does not match the new secret")
	}
	if _, err := r.Propose(state.NewCommand(identity.CmdConfirmTOTP, mustJSON(identity.ConfirmTOTP{Account: acct.ID, Step: step, TokenHash: r.Token}), s.Now())); err != nil {
		return 0, nil, err
	}
	return 200, map[string]any{"mfa_enrolled": true}, nil
}

// stepUp re-authenticates the session with a one-time code for important
// operations in the next few minutes. Wrong codes count toward the lock and
// end the session after a few.
func (s *Server) stepUp(r *Request) (int, any, error) {
	var in struct {
		TOTP         string `json:"totp"`
		SM2Challenge string `json:"sm2_challenge_id"`
		SM2Signature string `json:"sm2_signature"`
	}
	if err := decodeJSON(r, &in); err != nil {
		return 0, nil, err
	}
	if in.TOTP == "" && in.SM2Signature == "" {
		return 0, nil, errs.E("step up", errs.Invalid, "give a current one-time code (totp) or an SM2 answer to a challenge")
	}
	acct, err := s.account(r)
	if err != nil {
		return 0, nil, err
	}
	var step int64
	ref, err := s.reauth(r, acct, func() bool {
		var ok bool
		step, ok = s.checkFactor(r, acct, in.TOTP, in.SM2Challenge, in.SM2Signature)
		return ok
	})
	if err != nil {
		return 0, nil, err
	}
	now := s.Now()
	until := now.Add(stepUpFor)
	if _, err := r.Propose(state.NewCommand(identity.CmdStepUp, mustJSON(identity.StepUp{Account: acct.ID, Step: step, TokenHash: r.Token, Until: until, Release: ref}), now)); err != nil {
		return 0, nil, err
	}
	return 200, map[string]any{"step_up_until": until}, nil
}

func (s *Server) account(r *Request) (*identity.Account, error) {
	var acct *identity.Account
	err := r.View(func(tx *state.ReadTx) error {
		var err error
		acct, err = identity.AccountByID(tx, r.Subject.ID)
		return err
	})
	if err == nil && acct == nil {
		err = errs.E("account", errs.Unauthenticated, "the account is gone")
	}
	return acct, err
}

// captcha issues a single-use image captcha, replicated so that any node
// can check the answer.
func (s *Server) captcha(r *Request) (int, any, error) {
	id := requestID()
	ds := captcha.RandomDigits(identity.CaptchaDigits)
	var png bytes.Buffer
	if _, err := captcha.NewImage(id, ds, 240, 80).WriteTo(&png); err != nil {
		return 0, nil, err
	}
	now := s.Now()
	if _, err := r.Propose(state.NewCommand(identity.CmdPutCaptcha, mustJSON(identity.Captcha{ID: id, Digits: ds, Expires: now.Add(5 * time.Minute)}), now)); err != nil {
		return 0, nil, err
	}
	return 201, map[string]any{"captcha_id": id, "image_png_base64": base64.StdEncoding.EncodeToString(png.Bytes()), "expires_in": 300}, nil
}

func (s *Server) logout(r *Request) (int, any, error) {
	if _, err := r.Propose(state.NewCommand(identity.CmdEndSession, mustJSON(identity.EndSession{TokenHash: r.Token}), s.Now())); err != nil {
		return 0, nil, err
	}
	return 200, map[string]any{"ended": r.Session.ID}, nil
}

func (s *Server) listSessions(r *Request) (int, any, error) {
	var list []*identity.Session
	err := r.View(func(tx *state.ReadTx) error {
		m, err := identity.SessionsOf(tx, r.Subject.ID)
		for _, sess := range m {
			list = append(list, sess)
		}
		return err
	})
	return 200, map[string]any{"sessions": list}, err
}

// endSession ends one of the caller's sessions by its public ID; a security
// administrator may end anyone's (sessions.delete_any).
func (s *Server) endSession(r *Request) (int, any, error) {
	id := muxVar(r, "id")
	var target []byte
	err := r.View(func(tx *state.ReadTx) error {
		m, err := identity.SessionsOf(tx, r.Subject.ID)
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
	if _, err := r.Propose(state.NewCommand(identity.CmdEndSession, mustJSON(identity.EndSession{TokenHash: target}), s.Now())); err != nil {
		return 0, nil, err
	}
	return 200, map[string]any{"ended": id}, nil
}

func (s *Server) me(r *Request) (int, any, error) {
	var acct *identity.Account
	err := r.View(func(tx *state.ReadTx) error {
		var err error
		acct, err = identity.AccountByID(tx, r.Subject.ID)
		return err
	})
	if err != nil || acct == nil {
		return 0, nil, errs.E("me", errs.Unauthenticated, "the account is gone")
	}
	return 200, map[string]any{"account": acct.Public(), "session": r.Session}, nil
}

func (s *Server) changePassword(r *Request) (int, any, error) {
	const op = "change password"
	var in struct {
		Current string `json:"current_password"`
		New     string `json:"new_password"`
	}
	if err := decodeJSON(r, &in); err != nil {
		return 0, nil, err
	}
	if err := identity.CheckPassword(in.New); err != nil {
		return 0, nil, errs.Coded(op, errs.Invalid, "weak_password", "%v", err)
	}
	var acct *identity.Account
	if err := r.View(func(tx *state.ReadTx) error {
		var err error
		acct, err = identity.AccountByID(tx, r.Subject.ID)
		return err
	}); err != nil || acct == nil {
		return 0, nil, errs.E(op, errs.Unauthenticated, "the account is gone")
	}
	if in.Current == in.New {
		return 0, nil, errs.Coded(op, errs.Invalid, "weak_password", "the new password must differ from the current one")
	}
	if err := identity.CheckNewPassword(in.New, acct.Username); err != nil {
		return 0, nil, errs.Coded(op, errs.Invalid, "weak_password", "%v", err)
	}
	ref, err := s.reauth(r, acct, func() bool { return acct.Password.Verify(in.Current) })
	if err != nil {
		return 0, nil, err
	}
	// Reuse is checked only once the current password is proved: against
	// stored hashes it would otherwise tell a session's holder which
	// passwords the account had. The proved attempt is settled as right.
	if acct.Reuses(in.New) {
		if _, err := s.settle(r, identity.Settle{AttemptRef: *ref, Policy: s.Policy}); err != nil {
			return 0, nil, err
		}
		r.audited = false // the refusal gets a record of its own
		return 0, nil, errs.Coded(op, errs.Invalid, "weak_password", "the new password must differ from your last %d passwords", identity.PasswordHistory)
	}
	hash, err := s.Hashing.Hash(in.New)
	if err != nil {
		return 0, nil, err
	}
	// Every other session of the account ends; this one stays and is no
	// longer restricted.
	if _, err := r.Propose(state.NewCommand(identity.CmdSetPassword, mustJSON(identity.SetPassword{Account: acct.ID, Hash: hash, Keep: r.Token, Release: ref}), s.Now())); err != nil {
		return 0, nil, err
	}
	return 200, map[string]any{"changed": true}, nil
}
