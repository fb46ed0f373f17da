package identity

import (
	"encoding/json"
	"slices"
	"time"

	"cxt/appliance/notify"
	"cxt/storage/state"
)

// maxSources bounds the addresses remembered per account.
const maxSources = 20

// Notify queues a notification to an account inside the current command.
func Notify(tx *state.Tx, account, event, subject, body string) error {
	acct, err := get[Account](tx, AccountsBucket, []byte(account))
	if err != nil || acct == nil {
		return err
	}
	return notify.Enqueue(tx, notify.Recipient{Account: acct.ID, Email: acct.Email, Phone: acct.Phone}, event, subject, body)
}

// Buckets.
const (
	AccountsBucket = "accounts"       // account ID -> Account
	NamesBucket    = "account-names"  // username index -> account ID
	AttemptsBucket = "login-attempts" // username index -> Attempts
	SessionsBucket = "sessions"       // SM3(token) -> Session
	CaptchasBucket = "captchas"       // captcha ID -> Captcha
	// ChallengesBucket keeps SM2 challenges apart from captchas: a record of
	// one kind must never answer for the other.
	ChallengesBucket = "challenges" // challenge ID -> Challenge
)

// Command types.
const (
	CmdCreateAccount = "account.create"
	CmdSetPassword   = "account.password"
	CmdSetRoles      = "account.roles"
	CmdUnlock        = "account.unlock"
	CmdLoginFailed   = "login.failure"
	CmdLoginOK       = "login.success"
	CmdEndSession    = "session.end"
	CmdPutCaptcha    = "captcha.create"
	CmdTakeCaptcha   = "captcha.take"
	CmdBeginTOTP     = "account.totp_begin"
	CmdConfirmTOTP   = "account.totp_confirm"
	CmdStepUp        = "session.step_up"
	CmdPutChallenge  = "challenge.create"
	CmdTakeChallenge = "challenge.take"
	CmdSetSM2Key     = "account.sm2"
	CmdClose         = "account.close"
	CmdAdmit         = "login.admit"
	CmdSettle        = "login.settle"
	CmdTouch         = "session.touch"
	CmdResetFactors  = "account.factors_reset"
)

// maxSessions bounds the live sessions of one account; the oldest ends first.
const maxSessions = 20

// Register adds the identity buckets and commands, holding new password
// hashes to sm.PasswordIterations.
func Register(reg *state.Registry) { RegisterWith(reg, Hashing{}) }

// RegisterWith is Register with the hashing of k (see Hashing).
func RegisterWith(reg *state.Registry, k Hashing) {
	for _, b := range []string{AccountsBucket, NamesBucket, AttemptsBucket, SessionsBucket, CaptchasBucket, ChallengesBucket} {
		reg.Bucket(b)
	}
	registerExpiry(reg)
	reg.Handle(CmdCreateAccount, k.guard(createAccount))
	reg.Handle(CmdSetPassword, k.guard(setPassword))
	reg.Handle(CmdSetRoles, k.guard(setRoles))
	reg.Handle(CmdUnlock, unlock)
	reg.Handle(CmdLoginFailed, loginFailed)
	reg.Handle(CmdLoginOK, k.guard(loginOK))
	reg.Handle(CmdEndSession, endSession)
	reg.Handle(CmdPutCaptcha, putCaptcha)
	reg.Handle(CmdTakeCaptcha, takeCaptcha)
	reg.Handle(CmdBeginTOTP, beginTOTP)
	reg.Handle(CmdConfirmTOTP, confirmTOTP)
	reg.Handle(CmdStepUp, stepUp)
	reg.Handle(CmdPutChallenge, putChallenge)
	reg.Handle(CmdTakeChallenge, takeChallenge)
	reg.Handle(CmdSetSM2Key, setSM2Key)
	reg.Handle(CmdClose, closeAccount)
	reg.Handle(CmdAdmit, admit)
	reg.Handle(CmdSettle, settle)
	reg.Handle(CmdTouch, touch)
	reg.Handle(CmdResetFactors, resetFactors)
	reg.Handle(CmdBreakGlass, k.guard(breakGlass))
	reg.Bucket(SMSLoginsBucket)
	reg.Expire(SMSLoginsBucket, expireSMS)
	reg.HandleFrom(state.PartiesSet, CmdSMSCode, issueSMS)
	reg.HandleFrom(state.PartiesSet, CmdLoginOKSMS, k.guard(loginOKSMS))
}

// closeAccount closes an account for good: its sessions end and it can no
// longer log in. Its records stay (archives keep their retention).
func closeAccount(tx *state.Tx, cmd *state.Command) ([]byte, error) {
	_, acct, err := bodyAndAccount(tx, cmd, func(c *AccountRef) string { return c.Account })
	if err != nil {
		return nil, err
	}
	if !acct.Closed.IsZero() {
		return nil, state.Reject(state.Conflict, "the account is already closed")
	}
	acct.Closed = tx.Time()
	if err := put(tx, AccountsBucket, []byte(acct.ID), acct); err != nil {
		return nil, err
	}
	if err := Notify(tx, acct.ID, "account.closed", "账户已注销 / Account closed",
		"The account "+acct.Username+" was closed at "+tx.Time().Format(time.RFC3339)+"."); err != nil {
		return nil, err
	}
	return nil, endAllSessions(tx, acct.ID, nil)
}

// Bodies of the commands.
type (
	CreateAccount struct {
		Account   Account `json:"account"`
		NameIndex []byte  `json:"name_index"`
	}
	SetPassword struct {
		Account string       `json:"account"`
		Hash    PasswordHash `json:"hash"`
		Keep    []byte       `json:"keep,omitempty"`    // the session that changed it stays
		Release *AttemptRef  `json:"release,omitempty"` // the admitted check of the current password
	}
	SetRoles struct {
		Account string   `json:"account"`
		Roles   []string `json:"roles"`
		// Reissue, set when the change gives an administrator role (by the
		// approval, never by the proposer), replaces the account's
		// credentials: see Account.reissue.
		Reissue *PasswordHash `json:"reissue,omitempty"`
	}
	AccountRef struct {
		Account string `json:"account"`
	}
	NameRef struct {
		NameIndex []byte `json:"name_index"`
		Policy    Policy `json:"policy"`
	}
	LoginOK struct {
		NameIndex []byte  `json:"name_index"`
		TokenHash []byte  `json:"token_hash"`
		Session   Session `json:"session"`
		TOTPStep  int64   `json:"totp_step,omitempty"` // the TOTP step used, if any
		// Rehash replaces the verified hash (named by its salt, RehashOf)
		// when it had fewer iterations than hashes are made with now.
		Rehash   *PasswordHash `json:"rehash,omitempty"`
		RehashOf []byte        `json:"rehash_of,omitempty"`
	}
	BeginTOTP struct {
		Account   string      `json:"account"`
		Secret    string      `json:"secret"`
		TokenHash []byte      `json:"token_hash"` // the session that may confirm it
		Proof     *FactorUsed `json:"proof,omitempty"`
	}
	// FactorUsed is the admitted proof of the current password and factor
	// that replacing a factor needs: the attempt to release and the TOTP
	// step used (0 for an SM2 answer), which no later code may reuse.
	FactorUsed struct {
		Release AttemptRef `json:"release"`
		Step    int64      `json:"step,omitempty"`
	}
	ConfirmTOTP struct {
		Account   string `json:"account"`
		Step      int64  `json:"step"`
		TokenHash []byte `json:"token_hash"` // the session that confirmed keeps going, with MFA
	}
	// Challenge is a single-use nonce an SM2 key signs to prove itself.
	Challenge struct {
		ID      string    `json:"id"`
		Nonce   []byte    `json:"nonce"`
		Expires time.Time `json:"expires"`
	}
	SetSM2Key struct {
		Account   string      `json:"account"`
		PublicKey string      `json:"public_key"`
		TokenHash []byte      `json:"token_hash"`
		Proof     *FactorUsed `json:"proof,omitempty"`
	}
	StepUp struct {
		Account   string      `json:"account"`
		Step      int64       `json:"step"`
		TokenHash []byte      `json:"token_hash"`
		Until     time.Time   `json:"until"`
		Release   *AttemptRef `json:"release,omitempty"`
	}
	EndSession struct {
		TokenHash []byte `json:"token_hash"`
	}
	Touch struct {
		TokenHash []byte `json:"token_hash"`
	}
	Captcha struct {
		ID      string    `json:"id"`
		Kind    string    `json:"kind"` // KindCaptcha; checked on every read
		Digits  []byte    `json:"digits"`
		Expires time.Time `json:"expires"`
	}
	TakeCaptcha struct {
		ID     string `json:"id"`
		Answer []byte `json:"answer"`
	}
)

func body[T any](cmd *state.Command) (*T, error) {
	var v T
	if err := json.Unmarshal(cmd.Body, &v); err != nil {
		return nil, state.Reject(state.InvalidRequest, "%s: %v", cmd.Type, err)
	}
	return &v, nil
}

func put(tx *state.Tx, bucket string, key []byte, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return tx.Put(bucket, key, b)
}

func get[T any](g interface {
	Get(string, []byte) ([]byte, error)
}, bucket string, key []byte) (*T, error) {
	b, err := g.Get(bucket, key)
	if err != nil {
		return nil, err
	}
	return decode[T](b)
}

func createAccount(tx *state.Tx, cmd *state.Command) ([]byte, error) {
	c, err := body[CreateAccount](cmd)
	if err != nil {
		return nil, err
	}
	if err := CheckRoles(c.Account.Roles); err != nil {
		return nil, state.Reject(state.InvalidRequest, "%v", err)
	}
	if id, err := tx.Get(NamesBucket, c.NameIndex); err != nil {
		return nil, err
	} else if id != nil {
		return nil, state.Reject(state.Conflict, "the username is taken")
	}
	// IDs are derived (creator, Idempotency-Key, username): never overwrite.
	if prev, err := tx.Get(AccountsBucket, []byte(c.Account.ID)); err != nil {
		return nil, err
	} else if prev != nil {
		return nil, state.Reject(state.Conflict, "the account ID %s is taken", c.Account.ID)
	}
	if c.Account.Created.IsZero() { // the proposer's clock, which its answer shows
		c.Account.Created = tx.Time()
	}
	if err := put(tx, AccountsBucket, []byte(c.Account.ID), c.Account); err != nil {
		return nil, err
	}
	return []byte(c.Account.ID), tx.Put(NamesBucket, c.NameIndex, []byte(c.Account.ID))
}

// sessionsOf lists the token hashes of an account's sessions.
type accountSessions struct {
	Hashes [][]byte `json:"hashes"`
}

func sessionListKey(account string) []byte { return []byte("by-account/" + account) }

func endAllSessions(tx *state.Tx, account string, keep []byte) error {
	list, err := get[accountSessions](tx, SessionsBucket, sessionListKey(account))
	if err != nil || list == nil {
		return err
	}
	var kept [][]byte
	for _, h := range list.Hashes {
		if keep != nil && string(h) == string(keep) {
			kept = append(kept, h)
			continue
		}
		if err := tx.Delete(SessionsBucket, h); err != nil {
			return err
		}
	}
	return put(tx, SessionsBucket, sessionListKey(account), accountSessions{Hashes: kept})
}

func setPassword(tx *state.Tx, cmd *state.Command) ([]byte, error) {
	c, err := body[SetPassword](cmd)
	if err != nil {
		return nil, err
	}
	acct, err := get[Account](tx, AccountsBucket, []byte(c.Account))
	if err != nil {
		return nil, err
	}
	if acct == nil {
		return nil, state.Reject(state.NotFound, "no such account")
	}
	acct.replacePassword(c.Hash, tx.Time())
	acct.MustChange = false
	if err := put(tx, AccountsBucket, []byte(acct.ID), acct); err != nil {
		return nil, err
	}
	if err := release(tx, c.Release); err != nil {
		return nil, err
	}
	if err := Notify(tx, acct.ID, "account.password_changed", "密码已修改 / Password changed",
		"The password of "+acct.Username+" was changed at "+tx.Time().Format(time.RFC3339)+". If this was not you, contact security."); err != nil {
		return nil, err
	}
	if err := endAllSessions(tx, acct.ID, c.Keep); err != nil {
		return nil, err
	}
	if c.Keep != nil { // the session that changed the password is no longer restricted
		if s, err := get[Session](tx, SessionsBucket, c.Keep); err == nil && s != nil {
			s.Restricted = false
			return nil, put(tx, SessionsBucket, c.Keep, s)
		}
	}
	return nil, nil
}

func setRoles(tx *state.Tx, cmd *state.Command) ([]byte, error) {
	c, err := body[SetRoles](cmd)
	if err != nil {
		return nil, err
	}
	if err := CheckRoles(c.Roles); err != nil {
		return nil, state.Reject(state.InvalidRequest, "%v", err)
	}
	acct, err := get[Account](tx, AccountsBucket, []byte(c.Account))
	if err != nil {
		return nil, err
	}
	if acct == nil {
		return nil, state.Reject(state.NotFound, "no such account")
	}
	acct.Roles = c.Roles
	if c.Reissue != nil {
		acct.reissue(*c.Reissue, tx.Time())
	}
	if err := put(tx, AccountsBucket, []byte(acct.ID), acct); err != nil {
		return nil, err
	}
	return nil, endAllSessions(tx, acct.ID, nil) // a role change ends every session
}

func unlock(tx *state.Tx, cmd *state.Command) ([]byte, error) {
	c, err := body[NameRef](cmd)
	if err != nil {
		return nil, err
	}
	return nil, tx.Delete(AttemptsBucket, c.NameIndex)
}

// loginFailed records a failure outside the admission protocol; logins now
// settle admitted attempts (login.settle). It stays for log entries
// written before that.
func loginFailed(tx *state.Tx, cmd *state.Command) ([]byte, error) {
	c, err := body[NameRef](cmd)
	if err != nil {
		return nil, err
	}
	a, err := settleAttempt(tx, AttemptRef{NameIndex: c.NameIndex}, c.Policy, true)
	if err != nil {
		return nil, err
	}
	return json.Marshal(a)
}

func loginOK(tx *state.Tx, cmd *state.Command) ([]byte, error) {
	c, err := body[LoginOK](cmd)
	if err != nil {
		return nil, err
	}
	if a, err := get[Attempts](tx, AttemptsBucket, c.NameIndex); err != nil {
		return nil, err
	} else if a != nil && a.Locked(tx.Time()) {
		return nil, state.Reject(codeAccountLocked, "the account is locked")
	}
	acct, err := get[Account](tx, AccountsBucket, []byte(c.Session.Account))
	if err != nil {
		return nil, err
	} else if acct == nil || !acct.Closed.IsZero() {
		return nil, state.Reject(codeInvalidCredentials, "the username or password is wrong")
	}
	if upgradeHash(acct, *c) {
		if err := put(tx, AccountsBucket, []byte(acct.ID), acct); err != nil {
			return nil, err
		}
	}
	if c.TOTPStep != 0 {
		if err := useStep(tx, c.Session.Account, c.TOTPStep); err != nil {
			return nil, err
		}
	}
	if err := tx.Delete(AttemptsBucket, c.NameIndex); err != nil {
		return nil, err
	}
	if err := rememberSource(tx, c.Session.Account, c.Session.Source); err != nil {
		return nil, err
	}
	if err := put(tx, SessionsBucket, c.TokenHash, c.Session); err != nil {
		return nil, err
	}
	list, err := get[accountSessions](tx, SessionsBucket, sessionListKey(c.Session.Account))
	if err != nil {
		return nil, err
	}
	if list == nil {
		list = &accountSessions{}
	}
	list.Hashes = append(list.Hashes, c.TokenHash)
	for len(list.Hashes) > maxSessions {
		if err := tx.Delete(SessionsBucket, list.Hashes[0]); err != nil {
			return nil, err
		}
		list.Hashes = list.Hashes[1:]
	}
	return nil, put(tx, SessionsBucket, sessionListKey(c.Session.Account), list)
}

func endSession(tx *state.Tx, cmd *state.Command) ([]byte, error) {
	c, err := body[EndSession](cmd)
	if err != nil {
		return nil, err
	}
	s, err := get[Session](tx, SessionsBucket, c.TokenHash)
	if err != nil {
		return nil, err
	}
	if s == nil {
		return nil, state.Reject(state.NotFound, "no such session")
	}
	return nil, removeSession(tx, c.TokenHash, s.Account)
}

// removeSession deletes a session and its entry in the account's list.
func removeSession(tx *state.Tx, tokenHash []byte, account string) error {
	if err := tx.Delete(SessionsBucket, tokenHash); err != nil {
		return err
	}
	list, err := get[accountSessions](tx, SessionsBucket, sessionListKey(account))
	if err != nil || list == nil {
		return err
	}
	list.Hashes = slices.DeleteFunc(list.Hashes, func(h []byte) bool { return string(h) == string(tokenHash) })
	if len(list.Hashes) == 0 {
		return tx.Delete(SessionsBucket, sessionListKey(account))
	}
	return put(tx, SessionsBucket, sessionListKey(account), list)
}

// TouchResult is the answer to CmdTouch.
type TouchResult struct {
	Ended bool `json:"ended"` // the session was idle too long and is gone
}

// touch notes that a session is in use. A session already idle past its
// timeout at the command's time ends instead: every replica decides alike.
func touch(tx *state.Tx, cmd *state.Command) ([]byte, error) {
	c, err := body[Touch](cmd)
	if err != nil {
		return nil, err
	}
	s, err := get[Session](tx, SessionsBucket, c.TokenHash)
	if err != nil {
		return nil, err
	}
	if s == nil {
		return []byte(`{"ended":true}`), nil
	}
	if s.Ended(tx.Time()) {
		return []byte(`{"ended":true}`), removeSession(tx, c.TokenHash, s.Account)
	}
	s.LastSeen = tx.Time()
	return []byte(`{"ended":false}`), put(tx, SessionsBucket, c.TokenHash, s)
}

// KindCaptcha tags captcha records.
const KindCaptcha = "captcha"

func putCaptcha(tx *state.Tx, cmd *state.Command) ([]byte, error) {
	c, err := body[Captcha](cmd)
	if err != nil {
		return nil, err
	}
	if c.ID == "" || len(c.Digits) != CaptchaDigits {
		return nil, state.Reject(state.InvalidRequest, "a captcha needs an ID and %d digits", CaptchaDigits)
	}
	c.Kind = KindCaptcha
	return nil, put(tx, CaptchasBucket, []byte(c.ID), c)
}

// takeCaptcha checks an answer on its own. Logins now take their captcha
// inside login.admit; this stays for log entries written before that.
func takeCaptcha(tx *state.Tx, cmd *state.Command) ([]byte, error) {
	c, err := body[TakeCaptcha](cmd)
	if err != nil {
		return nil, err
	}
	if ok, err := consumeCaptcha(tx, c); err != nil {
		return nil, err
	} else if !ok {
		return nil, state.Reject(codeCaptchaRequired, "the captcha answer is wrong or expired")
	}
	return nil, nil
}

// rememberSource notes the address of a login and notifies the account
// when it is new.
func rememberSource(tx *state.Tx, account, source string) error {
	acct, err := get[Account](tx, AccountsBucket, []byte(account))
	if err != nil || acct == nil || source == "" || slices.Contains(acct.Sources, source) {
		return err
	}
	acct.Sources = append(acct.Sources, source)
	if len(acct.Sources) > maxSources {
		acct.Sources = acct.Sources[len(acct.Sources)-maxSources:]
	}
	if err := put(tx, AccountsBucket, []byte(acct.ID), acct); err != nil {
		return err
	}
	return Notify(tx, acct.ID, "login.new_address", "新地址登录 / Login from a new address",
		"Your account "+acct.Username+" was signed in from "+source+" at "+tx.Time().Format(time.RFC3339)+".")
}

// useStep records a TOTP step as used; a step at or before the last one is a
// replayed code.
func useStep(tx *state.Tx, account string, step int64) error {
	acct, err := get[Account](tx, AccountsBucket, []byte(account))
	if err != nil {
		return err
	}
	if acct == nil {
		return state.Reject(state.NotFound, "no such account")
	}
	if step <= acct.TOTPStep {
		return state.Reject(codeInvalidCredentials, "this one-time code was already used")
	}
	acct.TOTPStep = step
	return put(tx, AccountsBucket, []byte(acct.ID), acct)
}

func beginTOTP(tx *state.Tx, cmd *state.Command) ([]byte, error) {
	c, acct, err := bodyAndAccount(tx, cmd, func(c *BeginTOTP) string { return c.Account })
	if err != nil {
		return nil, err
	}
	if err := useProof(tx, acct, c.Proof); err != nil {
		return nil, err
	}
	acct.TOTPNew, acct.TOTPNewBy = c.Secret, c.TokenHash
	return nil, put(tx, AccountsBucket, []byte(acct.ID), acct)
}

// confirmTOTP makes the pending secret the account's factor. Changing a
// factor ends every other session; the confirming one now has MFA.
func confirmTOTP(tx *state.Tx, cmd *state.Command) ([]byte, error) {
	c, acct, err := bodyAndAccount(tx, cmd, func(c *ConfirmTOTP) string { return c.Account })
	if err != nil {
		return nil, err
	}
	if acct.TOTPNew == "" || string(acct.TOTPNewBy) != string(c.TokenHash) {
		return nil, state.Reject(state.InvalidRequest, "no second factor is being enrolled by this session")
	}
	acct.TOTPSecret, acct.TOTPNew, acct.TOTPNewBy, acct.TOTPStep = acct.TOTPNew, "", nil, c.Step
	return nil, factorEnrolled(tx, acct, "a new authenticator", c.TokenHash)
}

// factorEnrolled saves an account whose second factor changed, tells its
// owner, ends every other session, and lets the enrolling session act with
// MFA (it proved the new factor). Enrolling never counts as a step-up: an
// important operation still needs a fresh code from the factor now in force.
func factorEnrolled(tx *state.Tx, acct *Account, what string, keep []byte) error {
	if err := put(tx, AccountsBucket, []byte(acct.ID), acct); err != nil {
		return err
	}
	if err := Notify(tx, acct.ID, "account.factor_changed", "二次认证已变更 / Second factor changed",
		"The second factor of "+acct.Username+" changed: "+what+" was enrolled."); err != nil {
		return err
	}
	if err := endAllSessions(tx, acct.ID, keep); err != nil {
		return err
	}
	s, err := get[Session](tx, SessionsBucket, keep)
	if err != nil || s == nil {
		return err
	}
	s.MFA, s.EnrollMFA, s.StepUpUntil = true, false, time.Time{}
	return put(tx, SessionsBucket, keep, s)
}

// stepUp marks a session re-authenticated for important operations.
func stepUp(tx *state.Tx, cmd *state.Command) ([]byte, error) {
	c, err := body[StepUp](cmd)
	if err != nil {
		return nil, err
	}
	if c.Step != 0 { // a TOTP code; an SM2 challenge was consumed when taken
		if err := useStep(tx, c.Account, c.Step); err != nil {
			return nil, err
		}
	}
	s, err := get[Session](tx, SessionsBucket, c.TokenHash)
	if err != nil || s == nil {
		return nil, orNotFound(err)
	}
	s.StepUpUntil, s.Failures = c.Until, 0
	if err := put(tx, SessionsBucket, c.TokenHash, s); err != nil {
		return nil, err
	}
	return nil, release(tx, c.Release)
}

func putChallenge(tx *state.Tx, cmd *state.Command) ([]byte, error) {
	c, err := body[Challenge](cmd)
	if err != nil {
		return nil, err
	}
	return nil, put(tx, ChallengesBucket, []byte(c.ID), c)
}

// takeChallenge consumes a challenge and returns its nonce if it is still
// valid: each challenge proves one signature.
func takeChallenge(tx *state.Tx, cmd *state.Command) ([]byte, error) {
	c, err := body[Challenge](cmd)
	if err != nil {
		return nil, err
	}
	stored, err := get[Challenge](tx, ChallengesBucket, []byte(c.ID))
	if err != nil {
		return nil, err
	}
	if stored == nil || tx.Time().After(stored.Expires) {
		return nil, state.Reject(codeInvalidCredentials, "the challenge is unknown, used or expired")
	}
	if err := tx.Delete(ChallengesBucket, []byte(c.ID)); err != nil {
		return nil, err
	}
	return stored.Nonce, nil
}

// setSM2Key enrolls an SM2 key as the account's cryptographic factor.
func setSM2Key(tx *state.Tx, cmd *state.Command) ([]byte, error) {
	c, acct, err := bodyAndAccount(tx, cmd, func(c *SetSM2Key) string { return c.Account })
	if err != nil {
		return nil, err
	}
	if err := useProof(tx, acct, c.Proof); err != nil {
		return nil, err
	}
	acct.SM2Key = c.PublicKey
	return nil, factorEnrolled(tx, acct, "an SM2 key", c.TokenHash)
}

// resetFactors removes an account's second factors (a security
// administrator's reset, an important operation): every session ends and
// the next login must enroll a factor again.
func resetFactors(tx *state.Tx, cmd *state.Command) ([]byte, error) {
	_, acct, err := bodyAndAccount(tx, cmd, func(c *AccountRef) string { return c.Account })
	if err != nil {
		return nil, err
	}
	acct.clearFactors()
	if err := put(tx, AccountsBucket, []byte(acct.ID), acct); err != nil {
		return nil, err
	}
	if err := Notify(tx, acct.ID, "account.factor_changed", "二次认证已重置 / Second factor reset",
		"The second factors of "+acct.Username+" were reset by a security administrator at "+tx.Time().Format(time.RFC3339)+
			". Enroll a new one at your next sign-in. If you did not ask for this, contact security."); err != nil {
		return nil, err
	}
	return nil, endAllSessions(tx, acct.ID, nil)
}

// clearFactors removes every second factor, enrolled or pending.
func (a *Account) clearFactors() { a.TOTPSecret, a.TOTPNew, a.TOTPNewBy, a.SM2Key = "", "", nil, "" }

// bodyAndAccount decodes a command's body and loads the account it names
// (account returns the ID): the opening of every handler that changes one
// account.
func bodyAndAccount[T any](tx *state.Tx, cmd *state.Command, account func(*T) string) (*T, *Account, error) {
	c, err := body[T](cmd)
	if err != nil {
		return nil, nil, err
	}
	acct, err := get[Account](tx, AccountsBucket, []byte(account(c)))
	if err != nil || acct == nil {
		return nil, nil, orNotFound(err)
	}
	return c, acct, nil
}

func orNotFound(err error) error {
	if err != nil {
		return err
	}
	return state.Reject(state.NotFound, "no such account or session")
}

// Reads.

// AccountByID returns an account, or nil.
func AccountByID(r *state.ReadTx, id string) (*Account, error) {
	return get[Account](r, AccountsBucket, []byte(id))
}

// AccountByName returns the account with a username index, or nil.
func AccountByName(r *state.ReadTx, nameIndex []byte) (*Account, error) {
	id, err := r.Get(NamesBucket, nameIndex)
	if err != nil || id == nil {
		return nil, err
	}
	return AccountByID(r, string(id))
}

// AttemptsFor returns the recent failures of a username index.
func AttemptsFor(r *state.ReadTx, nameIndex []byte) (*Attempts, error) {
	a, err := get[Attempts](r, AttemptsBucket, nameIndex)
	if a == nil && err == nil {
		a = &Attempts{}
	}
	return a, err
}

// SessionByHash returns the session of a token hash, or nil.
func SessionByHash(r *state.ReadTx, tokenHash []byte) (*Session, error) {
	return get[Session](r, SessionsBucket, tokenHash)
}

// SessionsOf returns an account's live sessions with their token hashes.
func SessionsOf(r *state.ReadTx, account string) (map[string]*Session, error) {
	list, err := get[accountSessions](r, SessionsBucket, sessionListKey(account))
	if err != nil || list == nil {
		return nil, err
	}
	out := map[string]*Session{}
	for _, h := range list.Hashes {
		s, err := SessionByHash(r, h)
		if err != nil {
			return nil, err
		}
		if s != nil {
			out[string(h)] = s
		}
	}
	return out, nil
}
