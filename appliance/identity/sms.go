package identity

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/big"
	"slices"
	"time"

	"cxt/appliance/api"
	"cxt/appliance/errs"
	"cxt/appliance/notify"
	"cxt/crypto/sm"
	"cxt/storage/state"
)

// The SMS code is a login factor (§9: workers sign in with a password and an
// SMS code). Asking for a code is a login of its own — admitted, captcha and
// lockout included, the password checked — and only a right password sends
// one, to the account's phone, by SMS alone. The code is bound to that
// request (its ID), the username and the account, lives SMSCodeLifetime,
// and completes one login, in which it is checked together with the
// password, again admitted like any login: a wrong, expired, reused or
// someone else's code is a failed login, and counts.

// SMSLoginsBucket keeps the outstanding code of each username (by its blind
// index): a new code replaces the last.
const SMSLoginsBucket = "login-sms"

// Command types of the SMS factor (command set 3).
const (
	CmdSMSCode    = "login.sms_code"
	CmdLoginOKSMS = "login.success_sms"
)

// SMS code rules.
const (
	SMSCodeLifetime = 5 * time.Minute
	SMSCodeEvery    = time.Minute // at most one code a minute per username
	smsCodeDigits   = 6
)

// SMSLogin is an outstanding SMS code.
type SMSLogin struct {
	ID      string    `json:"id"`
	Account string    `json:"account"`
	MAC     []byte    `json:"mac"` // HMAC-SM3 of the code under the index key
	Issued  time.Time `json:"issued"`
	Expires time.Time `json:"expires"`
}

type (
	// SMSCode is the body of CmdSMSCode: the code's record, its text for
	// the SMS only, and the admitted password check it settles.
	SMSCode struct {
		NameIndex []byte     `json:"name_index"`
		Login     SMSLogin   `json:"login"`
		Text      string     `json:"text"`
		Release   AttemptRef `json:"release"`
	}
	// LoginOKSMS opens a session with a password and an SMS code: the
	// code is used up in the same command.
	LoginOKSMS struct {
		LoginOK
		SMSLogin string `json:"sms_login"`
	}
)

// SMSFactor reports whether an account with roles signs in with an SMS code:
// workers must; merchant users may; platform staff may not (their factor is
// an authenticator or an SM2 key, and an SMS code would be a weaker one).
func SMSFactor(roles []string) (allowed, required bool) {
	if IsStaff(roles) {
		return false, false
	}
	return true, slices.Contains(roles, Worker)
}

// smsMAC is what the state keeps of a code: bound to the login's ID and the
// account, under the index key, so the state never holds the code.
func smsMAC(key []byte, id, account, code string) []byte {
	m := sm.HMAC(key, []byte("cxt/login-sms/v1\x00"), []byte(id), []byte{0}, []byte(account), []byte{0}, []byte(code))
	return m[:]
}

// randomDigits draws n decimal digits.
func randomDigits(n int) (string, error) {
	max := big.NewInt(1)
	for range n {
		max.Mul(max, big.NewInt(10))
	}
	v, err := rand.Int(rand.Reader, max)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("%0*d", n, v), nil
}

// requestSMS checks a username and password as a login does and, if they
// are right, sends the account's phone a code that completes the login.
func (b *Backend) requestSMS(r *api.Request) (int, any, error) {
	const op = "request SMS code"
	var in struct {
		Username      string `json:"username"`
		Password      string `json:"password"`
		CaptchaID     string `json:"captcha_id,omitempty"`
		CaptchaAnswer string `json:"captcha_answer,omitempty"`
	}
	if err := r.Decode(&in); err != nil {
		return 0, nil, err
	}
	ref, acct, err := b.checkPassword(r, op, loginRequest{Username: in.Username, Password: in.Password, CaptchaID: in.CaptchaID, CaptchaAnswer: in.CaptchaAnswer})
	if err != nil {
		return 0, nil, err
	}
	// The password was right: from here the attempt is settled as such.
	refuse := func(err error) (int, any, error) {
		if _, serr := b.settle(r, Settle{AttemptRef: ref, Policy: b.Policy}); serr != nil {
			return 0, nil, serr
		}
		r.RecordAgain()
		return 0, nil, err
	}
	if allowed, _ := SMSFactor(acct.Roles); !allowed {
		return refuse(errs.Coded(op, errs.Permission, "sms_not_allowed", "platform staff sign in with their authenticator or SM2 key, not an SMS code"))
	}
	if acct.Phone == "" {
		return refuse(errs.Coded(op, errs.Invalid, "channel_required", "the account has no phone number: ask a security administrator to add one"))
	}
	now := r.Now()
	var prev *SMSLogin
	if err := r.View(func(tx *state.ReadTx) error {
		var err error
		prev, err = get[SMSLogin](tx, SMSLoginsBucket, ref.NameIndex)
		return err
	}); err != nil {
		return 0, nil, err
	}
	if prev != nil && now.Sub(prev.Issued) < SMSCodeEvery {
		return refuse(errs.Coded(op, errs.RateLimited, "rate_limited", "a code was sent less than a minute ago: use it, or wait"))
	}
	code, err := randomDigits(smsCodeDigits)
	if err != nil {
		return 0, nil, err
	}
	key, err := r.Node.Keys().IndexKey()
	if err != nil {
		return 0, nil, err
	}
	id := api.NewID()
	login := SMSLogin{ID: id, Account: acct.ID, MAC: smsMAC(key, id, acct.ID, code), Issued: now, Expires: now.Add(SMSCodeLifetime)}
	cmd := SMSCode{NameIndex: ref.NameIndex, Login: login, Release: ref,
		Text: "登录验证码 " + code + "，5分钟内有效，请勿告诉他人。/ Sign-in code: " + code}
	if _, err := r.Propose(state.NewCommand(CmdSMSCode, mustJSON(cmd), now)); err != nil {
		if errs.Of(err).Code == "conflict" { // a racing request sent one first
			return refuse(errs.Coded(op, errs.RateLimited, "rate_limited", "a code was sent less than a minute ago: use it, or wait"))
		}
		return 0, nil, err
	}
	return 201, map[string]any{
		"sms_login_id": id, "expires_at": login.Expires, "sent_to": MaskPhone(acct.Phone),
		"next": "POST /api/v1/sessions with username, password, sms_login_id and sms_code",
	}, nil
}

// checkPassword admits a login attempt and checks its password: the first
// half of a login and of an SMS code request alike. It returns the admitted
// attempt, still pending, and the account.
func (b *Backend) checkPassword(r *api.Request, op string, in loginRequest) (AttemptRef, *Account, error) {
	if in.Username == "" || in.Password == "" {
		return AttemptRef{}, nil, errs.E(op, errs.Invalid, "username and password are required")
	}
	var captcha *TakeCaptcha
	if in.CaptchaID != "" || in.CaptchaAnswer != "" {
		answer, ok := captchaAnswer(in.CaptchaAnswer)
		if !validID(in.CaptchaID) || !ok {
			return AttemptRef{}, nil, errs.E(op, errs.Invalid, "captcha_id must be the ID GET /api/v1/captcha returned and captcha_answer its %d digits", CaptchaDigits)
		}
		captcha = &TakeCaptcha{ID: in.CaptchaID, Answer: answer}
	}
	if err := r.ThrottleLogin(); err != nil {
		return AttemptRef{}, nil, err
	}
	idx, err := nameIndex(r, in.Username)
	if err != nil {
		return AttemptRef{}, nil, err
	}
	r.Audit.Subject = "login:" + hex.EncodeToString(idx[:8])
	ref := AttemptRef{NameIndex: idx, Attempt: api.NewID()}
	if err := b.admit(r, Admit{AttemptRef: ref, Purpose: PurposeLogin, Policy: b.Policy, Captcha: captcha}); err != nil {
		// No decoy work here: a refusal's answer (locked, captcha due) is
		// the same for every password and every name, so its timing tells
		// nothing, and a flood of refused logins costs no password hashing.
		return AttemptRef{}, nil, err
	}
	var acct *Account
	if err := r.View(func(tx *state.ReadTx) error {
		var err error
		acct, err = AccountByName(tx, idx)
		return err
	}); err != nil {
		return AttemptRef{}, nil, err
	}
	if acct != nil && !acct.Closed.IsZero() {
		acct = nil // a closed account answers like an unknown one
	}
	var hash *PasswordHash
	if acct != nil {
		hash = &acct.Password
	}
	if !VerifyOrDecoy(hash, in.Password) {
		return AttemptRef{}, nil, b.failed(r, ref, nil, "the username or password is wrong")
	}
	return ref, acct, nil
}

// checkSMS reports whether code is the outstanding SMS code of the login
// id for acct, by the username index idx, unexpired at now.
func checkSMS(r *api.Request, idx []byte, acct *Account, id, code string) (bool, error) {
	var rec *SMSLogin
	if err := r.View(func(tx *state.ReadTx) error {
		var err error
		rec, err = get[SMSLogin](tx, SMSLoginsBucket, idx)
		return err
	}); err != nil {
		return false, err
	}
	key, err := r.Node.Keys().IndexKey()
	if err != nil {
		return false, err
	}
	ok := rec != nil && rec.ID == id && rec.Account == acct.ID && r.Now().Before(rec.Expires) &&
		len(code) == smsCodeDigits && sm.Equal(rec.MAC, smsMAC(key, id, acct.ID, code))
	return ok, nil
}

// issueSMS records a code and sends it. The password check it follows was
// right: its attempt no longer counts.
func issueSMS(tx *state.Tx, cmd *state.Command) ([]byte, error) {
	c, err := body[SMSCode](cmd)
	if err != nil {
		return nil, err
	}
	if len(c.NameIndex) == 0 || c.Login.ID == "" || c.Login.Account == "" || len(c.Login.MAC) == 0 || c.Text == "" {
		return nil, state.Reject(state.InvalidRequest, "%s: name index, login and text are required", CmdSMSCode)
	}
	now := tx.Time()
	if prev, err := get[SMSLogin](tx, SMSLoginsBucket, c.NameIndex); err != nil {
		return nil, err
	} else if prev != nil && now.Sub(prev.Issued) < SMSCodeEvery {
		return nil, state.Reject(state.Conflict, "a code was sent less than a minute ago")
	}
	acct, err := get[Account](tx, AccountsBucket, []byte(c.Login.Account))
	if err != nil || acct == nil {
		return nil, orNotFound(err)
	}
	if id, err := tx.Get(NamesBucket, c.NameIndex); err != nil {
		return nil, err
	} else if string(id) != acct.ID {
		return nil, state.Reject(state.InvalidRequest, "%s: the username is not the account's", CmdSMSCode)
	}
	if allowed, _ := SMSFactor(acct.Roles); !allowed {
		return nil, state.Reject(state.InvalidRequest, "%s: this account does not sign in with an SMS code", CmdSMSCode)
	}
	c.Login.Issued, c.Login.Expires = now, now.Add(SMSCodeLifetime)
	if err := put(tx, SMSLoginsBucket, c.NameIndex, c.Login); err != nil {
		return nil, err
	}
	if err := release(tx, &c.Release); err != nil {
		return nil, err
	}
	return nil, notify.EnqueueSMSSecret(tx, notify.Recipient{Account: acct.ID, Phone: acct.Phone}, "login.sms_code",
		"登录验证码 / Sign-in code", "A sign-in code was sent to your phone at "+now.Format(time.RFC3339)+". If this was not you, change your password.", c.Text)
}

// loginOKSMS opens a session and uses up its SMS code: unknown (replaced or
// used), expired or another account's, it is refused and nothing opens.
func loginOKSMS(tx *state.Tx, cmd *state.Command) ([]byte, error) {
	c, err := body[LoginOKSMS](cmd)
	if err != nil {
		return nil, err
	}
	rec, err := get[SMSLogin](tx, SMSLoginsBucket, c.NameIndex)
	if err != nil {
		return nil, err
	}
	if rec == nil || rec.ID != c.SMSLogin || rec.Account != c.Session.Account || !tx.Time().Before(rec.Expires) {
		return nil, state.Reject(codeInvalidCredentials, "the SMS code is unknown, used or expired")
	}
	if err := tx.Delete(SMSLoginsBucket, c.NameIndex); err != nil {
		return nil, err
	}
	return loginOK(tx, cmd)
}

// expireSMS has the sweep forget codes once they expired.
func expireSMS(tx *state.Tx, k, v []byte, now time.Time) (bool, error) {
	var rec SMSLogin
	if err := json.Unmarshal(v, &rec); err != nil || now.Before(rec.Expires) {
		return false, err
	}
	return true, tx.Delete(SMSLoginsBucket, k)
}
