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

// authenticate resolves the bearer token, if any, to a session and subject.
func (s *Server) authenticate(r *Request) error {
	r.Subject = policy.Subject{ID: "anonymous", Roles: []string{"anonymous"}, Clearance: 1}
	authz := r.HTTP.Header.Get("Authorization")
	if authz == "" {
		return nil
	}
	raw, ok := strings.CutPrefix(authz, "Bearer ")
	token, err := base64.RawURLEncoding.DecodeString(raw)
	if !ok || err != nil || len(token) != 32 {
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
	if last, ok := s.lastSeen.Load(sess.ID); ok && now.Sub(last.(time.Time)) > s.Policy.IdleTimeout {
		r.Audit.Subject = acct.ID
		r.Propose(state.NewCommand(identity.CmdEndSession, mustJSON(identity.EndSession{TokenHash: h}), now))
		s.lastSeen.Delete(sess.ID)
		return errs.E("authenticate", errs.Unauthenticated, "the session was idle too long; sign in again")
	}
	s.lastSeen.Store(sess.ID, now)
	r.Session, r.Token = sess, h
	r.Subject = policy.Subject{ID: acct.ID, Roles: acct.Roles, Clearance: acct.Clearance, MFA: sess.MFA}
	r.Audit.Subject = acct.ID
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
// toward the same lockout.
func (s *Server) login(r *Request) (int, any, error) {
	const op = "login"
	var in loginRequest
	if err := decodeJSON(r, &in); err != nil {
		return 0, nil, err
	}
	if in.Username == "" || in.Password == "" {
		return 0, nil, errs.E(op, errs.Invalid, "username and password are required")
	}
	idx, err := nameIndex(r, in.Username)
	if err != nil {
		return 0, nil, err
	}
	r.Audit.Subject = "login:" + hex.EncodeToString(idx[:8])
	var acct *identity.Account
	var attempts *identity.Attempts
	if err := r.View(func(tx *state.ReadTx) error {
		var err error
		if acct, err = identity.AccountByName(tx, idx); err != nil {
			return err
		}
		attempts, err = identity.AttemptsFor(tx, idx)
		return err
	}); err != nil {
		return 0, nil, err
	}
	now := s.Now()
	if attempts.Locked(now) {
		identity.VerifyOrDecoy(nil, in.Password) // the same work as any other answer
		return 0, nil, errs.Coded(op, errs.Permission, "account_locked", "the account is locked after repeated failures; try later or ask a security administrator")
	}
	if attempts.Recent(s.Policy, now) > s.Policy.CaptchaAfter {
		if in.CaptchaID == "" {
			identity.VerifyOrDecoy(nil, in.Password)
			return 0, nil, errs.Coded(op, errs.Unauthenticated, "captcha_required", "solve a captcha (GET /api/v1/captcha) and send captcha_id and captcha_answer")
		}
		if _, err := r.Node.ProposeOK(r.Ctx, state.NewCommand(identity.CmdTakeCaptcha,
			mustJSON(identity.TakeCaptcha{ID: in.CaptchaID, Answer: digits(in.CaptchaAnswer)}), now)); err != nil {
			identity.VerifyOrDecoy(nil, in.Password)
			return 0, nil, rejection(err)
		}
	}
	if acct != nil && !acct.Closed.IsZero() {
		acct = nil // a closed account answers like an unknown one
	}
	var hash *identity.PasswordHash
	if acct != nil {
		hash = &acct.Password
	}
	if !identity.VerifyOrDecoy(hash, in.Password) {
		res, err := r.Propose(state.NewCommand(identity.CmdLoginFailed, mustJSON(identity.NameRef{NameIndex: idx, Policy: s.Policy}), now))
		if err != nil {
			return 0, nil, err
		}
		var after identity.Attempts
		if jsonInto(res, &after) == nil && after.Locked(now) {
			return 0, nil, errs.Coded(op, errs.Permission, "account_locked", "the account is locked after repeated failures; try later or ask a security administrator")
		}
		return 0, nil, errs.Coded(op, errs.Unauthenticated, "invalid_credentials", "the username or password is wrong")
	}
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
				return 0, nil, s.secondFactorFailed(r, idx, now)
			}
			mfa = true
		case in.SM2Signature != "" && acct.SM2Key != "":
			if err := s.checkSM2(r, acct.SM2Key, in.SM2Challenge, in.SM2Signature, "login", in.Username); err != nil {
				return 0, nil, s.secondFactorFailed(r, idx, now)
			}
			mfa = true
		default:
			return 0, nil, errs.Coded(op, errs.Unauthenticated, "mfa_required", "send the current code of your authenticator as totp, or an SM2 answer to a challenge")
		}
	}
	token := make([]byte, 32)
	if _, err := rand.Read(token); err != nil {
		return 0, nil, err
	}
	h := tokenHash(token)
	sess := identity.Session{
		ID: hex.EncodeToString(h[:8]), Account: acct.ID, Created: now, Expires: now.Add(s.Policy.AbsoluteTimeout),
		Source: r.Audit.Source, Restricted: acct.MustChange, MFA: mfa, EnrollMFA: enroll,
	}
	if mfa { // signing in with the code counts as a fresh re-authentication
		sess.StepUpUntil = now.Add(stepUpFor)
	}
	r.Audit.Subject = acct.ID
	if _, err := r.Propose(state.NewCommand(identity.CmdLoginOK, mustJSON(identity.LoginOK{NameIndex: idx, TokenHash: h, Session: sess, TOTPStep: step}), now)); err != nil {
		return 0, nil, err
	}
	s.lastSeen.Store(sess.ID, now)
	return 201, map[string]any{
		"token": base64.RawURLEncoding.EncodeToString(token), "session": sess, "account": acct.Public(),
		"password_change_required": acct.MustChange, "mfa_enrollment_required": enroll,
	}, nil
}

// secondFactorFailed counts a wrong second factor as a failed login.
func (s *Server) secondFactorFailed(r *Request, idx []byte, now time.Time) error {
	if _, err := r.Propose(state.NewCommand(identity.CmdLoginFailed, mustJSON(identity.NameRef{NameIndex: idx, Policy: s.Policy}), now)); err != nil {
		return err
	}
	return errs.Coded("login", errs.Unauthenticated, "invalid_credentials", "the username, password or second factor is wrong")
}

// checkSM2 consumes a challenge and verifies an SM2 signature of it.
func (s *Server) checkSM2(r *Request, pubPEM, challengeID, sigB64, purpose, who string) error {
	nonce, err := r.Node.ProposeOK(r.Ctx, state.NewCommand(identity.CmdTakeChallenge, mustJSON(identity.Challenge{ID: challengeID}), s.Now()))
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

// enrollSM2 makes an SM2 public key the account's second factor; the key
// proves itself by signing a challenge.
func (s *Server) enrollSM2(r *Request) (int, any, error) {
	var in struct {
		PublicKey string `json:"public_key"`
		Challenge string `json:"challenge_id"`
		Signature string `json:"signature"`
	}
	if err := decodeJSON(r, &in); err != nil {
		return 0, nil, err
	}
	if _, err := sm.ParsePublicKeyPEM([]byte(in.PublicKey)); err != nil {
		return 0, nil, errs.E("enroll SM2", errs.Invalid, "public_key must be an SM2 public key in PEM: %v", err)
	}
	if err := s.checkSM2(r, in.PublicKey, in.Challenge, in.Signature, "enroll", r.Subject.ID); err != nil {
		return 0, nil, err
	}
	now := s.Now()
	cmd := identity.SetSM2Key{Account: r.Subject.ID, PublicKey: in.PublicKey, TokenHash: r.Token, StepUp: now.Add(stepUpFor)}
	if _, err := r.Propose(state.NewCommand(identity.CmdSetSM2Key, mustJSON(cmd), now)); err != nil {
		return 0, nil, err
	}
	return 200, map[string]any{"mfa_enrolled": true}, nil
}

// stepUpFor is how long a re-authentication counts for important operations.
const stepUpFor = 5 * time.Minute

func (s *Server) beginTOTP(r *Request) (int, any, error) {
	acct, err := s.account(r)
	if err != nil {
		return 0, nil, err
	}
	secret, url, err := identity.NewTOTP(acct.Username)
	if err != nil {
		return 0, nil, err
	}
	if _, err := r.Propose(state.NewCommand(identity.CmdBeginTOTP, mustJSON(identity.BeginTOTP{Account: acct.ID, Secret: secret}), s.Now())); err != nil {
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
	if acct.TOTPNew == "" {
		return 0, nil, errs.E("confirm TOTP", errs.Invalid, "start with POST /api/v1/me/mfa/totp")
	}
	step, ok := identity.MatchTOTP(acct.TOTPNew, in.Code, s.Now())
	if !ok {
		return 0, nil, errs.Coded("confirm TOTP", errs.Unauthenticated, "invalid_credentials", "the code does not match the new secret")
	}
	if _, err := r.Propose(state.NewCommand(identity.CmdConfirmTOTP, mustJSON(identity.ConfirmTOTP{Account: acct.ID, Step: step, TokenHash: r.Token, StepUp: s.Now().Add(stepUpFor)}), s.Now())); err != nil {
		return 0, nil, err
	}
	return 200, map[string]any{"mfa_enrolled": true}, nil
}

// stepUp re-authenticates the session with a one-time code for important
// operations in the next few minutes.
func (s *Server) stepUp(r *Request) (int, any, error) {
	var in struct {
		TOTP         string `json:"totp"`
		SM2Challenge string `json:"sm2_challenge_id"`
		SM2Signature string `json:"sm2_signature"`
	}
	if err := decodeJSON(r, &in); err != nil {
		return 0, nil, err
	}
	acct, err := s.account(r)
	if err != nil {
		return 0, nil, err
	}
	now := s.Now()
	var step int64
	switch {
	case in.TOTP != "" && acct.TOTPSecret != "":
		var ok bool
		if step, ok = identity.MatchTOTP(acct.TOTPSecret, in.TOTP, now); !ok {
			return 0, nil, errs.Coded("step up", errs.Unauthenticated, "invalid_credentials", "the one-time code is wrong")
		}
	case in.SM2Signature != "" && acct.SM2Key != "":
		if err := s.checkSM2(r, acct.SM2Key, in.SM2Challenge, in.SM2Signature, "step-up", acct.ID); err != nil {
			return 0, nil, err
		}
	default:
		return 0, nil, errs.Coded("step up", errs.Unauthenticated, "invalid_credentials", "give a current one-time code or an SM2 answer to a challenge")
	}
	until := now.Add(stepUpFor)
	if _, err := r.Propose(state.NewCommand(identity.CmdStepUp, mustJSON(identity.StepUp{Account: acct.ID, Step: step, TokenHash: r.Token, Until: until}), now)); err != nil {
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

func digits(answer string) []byte {
	out := make([]byte, 0, len(answer))
	for _, c := range answer {
		if c >= '0' && c <= '9' {
			out = append(out, byte(c-'0'))
		}
	}
	return out
}

// captcha issues a single-use image captcha, replicated so that any node
// can check the answer.
func (s *Server) captcha(r *Request) (int, any, error) {
	id := requestID()
	ds := captcha.RandomDigits(6)
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
	s.lastSeen.Delete(r.Session.ID)
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
	if !acct.Password.Verify(in.Current) {
		return 0, nil, errs.Coded(op, errs.Unauthenticated, "invalid_credentials", "the current password is wrong")
	}
	if in.Current == in.New {
		return 0, nil, errs.Coded(op, errs.Invalid, "weak_password", "the new password must differ from the current one")
	}
	hash, err := identity.HashPassword(in.New)
	if err != nil {
		return 0, nil, err
	}
	// Every other session of the account ends; this one stays and is no
	// longer restricted.
	if _, err := r.Propose(state.NewCommand(identity.CmdSetPassword, mustJSON(identity.SetPassword{Account: acct.ID, Hash: hash, Keep: r.Token}), s.Now())); err != nil {
		return 0, nil, err
	}
	return 200, map[string]any{"changed": true}, nil
}
