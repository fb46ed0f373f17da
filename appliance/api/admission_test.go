package api_test

import (
	"context"
	"encoding/base64"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"cxt/appliance/api"
	"cxt/appliance/identity"
	"cxt/appliance/important"
	"cxt/appliance/node"
	"cxt/crypto/sm"
	"cxt/storage/auditlog"
	"cxt/storage/state"
)

// audited returns the audit entries of a type, read after a barrier.
func (e *env) audited(typ string) []auditlog.Entry {
	e.t.Helper()
	var out []auditlog.Entry
	if err := e.n.Cluster().ReadBarrier(context.Background()); err != nil {
		e.t.Fatal(err)
	}
	e.n.Cluster().State().View(func(tx *state.ReadTx) error {
		var err error
		out, err = auditlog.Search(tx, auditlog.Query{Type: typ})
		return err
	})
	return out
}

func countResult(entries []auditlog.Entry, result string) int {
	n := 0
	for _, x := range entries {
		if x.Result == result {
			n++
		}
	}
	return n
}

// lockOut locks an account the way an attacker would: three wrong
// passwords, then two more with solved captchas.
func (e *env) lockOut(user string) {
	e.t.Helper()
	for range 3 {
		e.login(user, "Wrong-Password-1!")
	}
	for range 2 {
		id := e.call("GET", "/api/v1/captcha", "", "").body["captcha_id"].(string)
		e.call("POST", "/api/v1/sessions", "", fmt.Sprintf(`{"username":%q,"password":"Wrong-Password-1!","captcha_id":%q,"captcha_answer":%q}`, user, id, e.captchaDigits(id)))
	}
	if r := e.login(user, "Wrong-Password-1!"); r.code() != "account_locked" {
		e.t.Fatalf("%s is not locked: %v", user, r.body)
	}
}

// parallel fires n requests at once and returns their replies.
func parallel(n int, do func(i int) reply) []reply {
	out := make([]reply, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			out[i] = do(i)
		}()
	}
	close(start)
	wg.Wait()
	return out
}

func TestAnSM2ChallengeIsNeverACaptcha(t *testing.T) {
	e := start(t)
	for range 3 {
		e.login("sysadmin", "Wrong-Password-1!")
	}
	if r := e.login("sysadmin", e.admins["sysadmin"]); r.code() != "captcha_required" {
		t.Fatalf("after three failures: %v", r.body)
	}
	ch := e.call("POST", "/api/v1/sessions/challenge", "", "")
	id, _ := ch.body["challenge_id"].(string)
	if ch.status != 201 || id == "" {
		t.Fatalf("challenge: %d %v", ch.status, ch.body)
	}
	for _, c := range []struct{ id, answer string }{
		{"sm2/" + id, ""},     // the request the review sent
		{"sm2/" + id, "0000"}, // any malformed answer
		{id, "000000"},        // the challenge's own ID, a well-formed answer
	} {
		body := fmt.Sprintf(`{"username":"sysadmin","password":%q,"captcha_id":%q,"captcha_answer":%q}`, e.admins["sysadmin"], c.id, c.answer)
		r := e.call("POST", "/api/v1/sessions", "", body)
		if r.status == 201 {
			t.Fatalf("captcha %q answered %q opened a session", c.id, c.answer)
		}
		if r.code() != "invalid_request" && r.code() != "captcha_required" {
			t.Fatalf("captcha %q answered %q: %d %v", c.id, c.answer, r.status, r.body)
		}
	}
	// The challenge still answers for what it is: an SM2 signature.
	if r := e.call("POST", "/api/v1/sessions/challenge", "", ""); r.status != 201 {
		t.Fatalf("a challenge after: %v", r.body)
	}
}

func TestRacingWrongLoginsAreAdmittedOneByOne(t *testing.T) {
	e := start(t)
	replies := parallel(40, func(int) reply { return e.login("secadmin", "Wrong-Password-1!") })
	for _, r := range replies {
		if r.status >= 500 {
			t.Fatalf("a racing login got %d %v", r.status, r.body)
		}
	}
	admitted := countResult(e.audited(identity.CmdAdmit), "ok")
	settled := len(e.audited(identity.CmdSettle))
	// DefaultPolicy: a captcha is due after more than 2 failures, so three
	// attempts reach a password check and no more.
	if admitted != identity.DefaultPolicy.CaptchaAfter+1 || settled != admitted {
		t.Fatalf("40 racing wrong logins: %d admitted, %d settled; want %d", admitted, settled, identity.DefaultPolicy.CaptchaAfter+1)
	}
	if r := e.login("secadmin", e.admins["secadmin"]); r.code() != "captcha_required" {
		t.Fatalf("after the race, the right password without a captcha: %v", r.body)
	}
}

func TestALockedAccountAnswersAlikeForTheRightPassword(t *testing.T) {
	e := start(t)
	e.signInMFA("auditadmin") // a TOTP account: the right password alone answers mfa_required
	e.lockOut("auditadmin")
	replies := parallel(40, func(i int) reply {
		pw := "Wrong-Password-1!"
		if i == 17 {
			pw = e.admins["auditadmin"]
		}
		return e.login("auditadmin", pw)
	})
	first := replies[0]
	for i, r := range replies {
		if r.status != 403 || r.code() != "account_locked" || fmt.Sprint(r.body) != fmt.Sprint(first.body) {
			t.Fatalf("reply %d of a burst against a locked account: %d %v (first: %v)", i, r.status, r.body, first.body)
		}
	}
	// Once locked, nothing more is admitted: no password was checked.
	if n := len(e.audited(identity.CmdSettle)); n != 5 {
		t.Fatalf("%d attempts settled; the five of the lock-out only", n)
	}
}

func TestStepUpGuessesCountTowardTheLockAndEndTheSession(t *testing.T) {
	e := start(t)
	token, _ := e.signInMFA("auditadmin")
	var tokens []string
	for range 3 {
		r := e.loginMFA("auditadmin")
		if r.status != 201 {
			t.Fatalf("login: %v", r.body)
		}
		tokens = append(tokens, r.body["token"].(string))
	}
	for i := 1; i <= identity.MaxSessionFailures; i++ {
		r := e.call("POST", "/api/v1/me/step-up", token, `{"totp":"000000"}`)
		if r.status != 401 || r.code() != "invalid_credentials" {
			t.Fatalf("wrong code %d: %d %v", i, r.status, r.body)
		}
	}
	if r := e.call("GET", "/api/v1/me", token, ""); r.status != 401 {
		t.Fatalf("the session survived %d wrong step-up codes: %d %v", identity.MaxSessionFailures, r.status, r.body)
	}
	// A burst of guesses from the other sessions at once: the lock admits
	// no more checks than it allows, then every session of the account ends.
	replies := parallel(120, func(i int) reply {
		return e.call("POST", "/api/v1/me/step-up", tokens[i%3], fmt.Sprintf(`{"totp":"%06d"}`, i))
	})
	for _, r := range replies {
		if r.status == 200 {
			t.Fatalf("a guessed step-up code was accepted: %v", r.body)
		}
	}
	if checked := countResult(e.audited(identity.CmdSettle), "ok"); checked != identity.DefaultPolicy.MaxFailures {
		t.Fatalf("%d wrong codes were checked; the lock allows %d", checked, identity.DefaultPolicy.MaxFailures)
	}
	for _, tok := range tokens {
		if r := e.call("GET", "/api/v1/me", tok, ""); r.status != 401 {
			t.Fatalf("a session outlived the lock: %v", r.body)
		}
	}
	if r := e.loginMFA("auditadmin"); r.code() != "account_locked" {
		t.Fatalf("after the guesses: %v", r.body)
	}
}

func TestAWrongCurrentPasswordCountsTowardTheLock(t *testing.T) {
	e := start(t)
	token := e.signIn("auditadmin")
	for range identity.MaxSessionFailures {
		r := e.call("POST", "/api/v1/me/password", token, `{"current_password":"Not-The-One-2026!","new_password":"Another-Strong-2026!"}`)
		if r.code() != "invalid_credentials" {
			t.Fatalf("wrong current password: %v", r.body)
		}
	}
	if r := e.call("GET", "/api/v1/me", token, ""); r.status != 401 {
		t.Fatalf("the session survived wrong current passwords: %v", r.body)
	}
}

func TestReplacingAFactorNeedsThePasswordAndTheCurrentFactor(t *testing.T) {
	e := start(t)
	token, secret := e.signInMFA("auditadmin")
	if r := e.call("POST", "/api/v1/me/mfa/totp", token, ""); r.status != 401 || r.code() != "reauthentication_required" {
		t.Fatalf("re-enrolling with nothing: %d %v", r.status, r.body)
	}
	if r := e.call("POST", "/api/v1/me/mfa/totp", token, fmt.Sprintf(`{"current_password":"Wrong-Password-1!","totp":%q}`, e.code(secret))); r.code() != "invalid_credentials" {
		t.Fatalf("re-enrolling with a wrong password: %v", r.body)
	}
	if r := e.call("POST", "/api/v1/me/mfa/totp", token, fmt.Sprintf(`{"current_password":%q,"totp":"000000"}`, e.admins["auditadmin"])); r.code() != "invalid_credentials" {
		t.Fatalf("re-enrolling with a wrong code: %v", r.body)
	}
	begin := e.call("POST", "/api/v1/me/mfa/totp", token, fmt.Sprintf(`{"current_password":%q,"totp":%q}`, e.admins["auditadmin"], e.code(secret)))
	newSecret, _ := begin.body["secret"].(string)
	if begin.status != 201 || newSecret == "" {
		t.Fatalf("re-enrolling with password and code: %d %v", begin.status, begin.body)
	}
	// Only the session that began it confirms it.
	other := e.loginMFA("auditadmin").body["token"].(string)
	if r := e.call("POST", "/api/v1/me/mfa/totp/confirm", other, fmt.Sprintf(`{"code":%q}`, e.code(newSecret))); r.status != 400 {
		t.Fatalf("another session confirmed the new factor: %d %v", r.status, r.body)
	}
	if r := e.call("POST", "/api/v1/me/mfa/totp/confirm", token, fmt.Sprintf(`{"code":%q}`, e.code(newSecret))); r.status != 200 {
		t.Fatalf("confirm: %d %v", r.status, r.body)
	}
	// Enrolling never grants a step-up.
	e.clock.advance(6 * time.Minute)
	if r := e.call("POST", "/api/v1/audit/export", token, `{"reason":"quarterly review"}`, "Idempotency-Key", "x1"); r.code() != "step_up_required" {
		t.Fatalf("an export right after re-enrolling: %d %v", r.status, r.body)
	}
	// The owner is told.
	found := false
	for range 50 {
		for _, n := range e.call("GET", "/api/v1/me/notifications", token, "").body["notifications"].([]any) {
			if n.(map[string]any)["event"] == "account.factor_changed" {
				found = true
			}
		}
		if found {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if !found {
		t.Fatal("no notification of the factor change")
	}
	e.secrets["auditadmin"] = newSecret
	if r := e.loginMFA("auditadmin"); r.status != 201 {
		t.Fatalf("login with the new factor: %v", r.body)
	}
}

func TestASecurityAdminResetsALostFactor(t *testing.T) {
	e := start(t)
	sec := e.signIn("secadmin")
	audit := e.signIn("auditadmin")
	if r := e.confirmed("POST", "/api/v1/accounts/acct-secadmin/mfa/reset", sec, "", "reset-self"); r.status != 403 {
		t.Fatalf("a security admin resetting their own factor: %d %v", r.status, r.body)
	}
	if r := e.confirmed("POST", "/api/v1/accounts/acct-auditadmin/mfa/reset", sec, "", "reset-1"); r.status != 200 {
		t.Fatalf("reset: %d %v", r.status, r.body)
	}
	if r := e.call("GET", "/api/v1/me", audit, ""); r.status != 401 {
		t.Fatalf("the reset account's session lives on: %v", r.body)
	}
	if r := e.login("auditadmin", e.admins["auditadmin"]); r.status != 201 || r.body["mfa_enrollment_required"] != true {
		t.Fatalf("login after the reset must enroll a factor: %d %v", r.status, r.body)
	}
}

func TestTheIdleTimeoutSurvivesARestart(t *testing.T) {
	e := start(t)
	token := e.signIn("auditadmin")
	e.clock.advance(10 * time.Minute)
	if r := e.call("GET", "/api/v1/me", token, ""); r.status != 200 { // last use: now
		t.Fatalf("a session used within the idle time: %v", r.body)
	}
	e.clock.advance(14 * time.Minute)
	e.restart()
	if r := e.call("GET", "/api/v1/me", token, ""); r.status != 200 {
		t.Fatalf("14 minutes idle, across a restart: %v", r.body)
	}
	e.clock.advance(16 * time.Minute)
	e.restart()
	if r := e.call("GET", "/api/v1/me", token, ""); r.status != 401 {
		t.Fatalf("16 minutes idle, across a restart, still signed in: %d %v", r.status, r.body)
	}
}

// restart stops the node and opens it again on the same folder.
func (e *env) restart() {
	e.t.Helper()
	e.n.Close()
	n, err := node.Open(context.Background(), e.opts)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { n.Close() })
	e.n, e.base = n, "https://"+n.APIAddr()
	for n.Status().Leader == "" {
		time.Sleep(10 * time.Millisecond)
	}
}

func TestAnonymousCallersAreLimitedPerSource(t *testing.T) {
	e := start(t)
	e.opts.Limits = &api.Limits{Anonymous: 1, AnonymousBurst: 5, Logins: 1, LoginBurst: 2, Hold: 10 * time.Millisecond}
	token := e.signIn("auditadmin") // before the limits: the unlimited node
	e.restart()
	codes := map[int]int{}
	var throttled reply
	for range 30 {
		r := e.call("GET", "/api/v1/captcha", "", "")
		codes[r.status]++
		if r.status == 429 {
			throttled = r
		}
	}
	if codes[201] > 6 || codes[429] < 20 || throttled.code() != "rate_limited" {
		t.Fatalf("30 anonymous captchas at once: %v", codes)
	}
	// Logins have a tighter budget of their own.
	logins := map[string]int{}
	for range 5 {
		logins[e.login("nobody", "Wrong-Password-1!").code()]++
	}
	if logins["rate_limited"] == 0 {
		t.Fatalf("5 logins at once, budget 2: %v", logins)
	}
	// A signed-in caller from the same address is not limited.
	for range 10 {
		if r := e.call("GET", "/api/v1/me", token, ""); r.status != 200 {
			t.Fatalf("a signed-in caller was limited: %d %v", r.status, r.body)
		}
	}
	// Refusals are audited, counted, not one record each.
	var recs []auditlog.Entry
	for range 100 {
		if recs = e.audited("request.throttled"); len(recs) > 0 {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if len(recs) == 0 || len(recs) > 2 || recs[0].Result != "rate_limited" || !strings.Contains(recs[0].Object, "refused") {
		t.Fatalf("throttled requests in the audit log: %+v", recs)
	}
}

func TestSweepsPurgeExpiredCaptchasChallengesAttemptsAndSessions(t *testing.T) {
	e := start(t)
	token := e.signIn("auditadmin")
	sec := e.signIn("secadmin")
	e.login("sysadmin", "Wrong-Password-1!")
	e.call("POST", "/api/v1/accounts/acct-sysadmin/unlock", sec, "", "Idempotency-Key", "preview-only")
	if r := e.confirmed("POST", "/api/v1/accounts/acct-sysadmin/unlock", sec, "", "unlock-1"); r.status != 200 {
		t.Fatalf("unlock: %v", r.body)
	}
	for range 5 {
		e.call("GET", "/api/v1/captcha", "", "")
		e.call("POST", "/api/v1/sessions/challenge", "", "")
	}
	count := func(bucket string) int {
		n := 0
		e.n.Cluster().ReadBarrier(context.Background())
		e.n.Cluster().State().View(func(tx *state.ReadTx) error {
			return tx.ForEach(bucket, func(k, v []byte) error { n++; return nil })
		})
		return n
	}
	sweep := func() {
		if _, err := e.n.Cluster().ProposeOK(context.Background(), state.SweepCommand(1000, e.clock.Now())); err != nil {
			t.Fatal(err)
		}
	}
	e.login("sysadmin", "Wrong-Password-1!") // after the unlock: a failure to remember
	sweep()
	if count(identity.CaptchasBucket) != 5 || count(identity.ChallengesBucket) != 5 || count(identity.AttemptsBucket) == 0 ||
		count(important.ConfirmBucket) != 1 || count(important.IdempotencyBucket) != 1 {
		t.Fatal("a sweep removed records that had not expired")
	}
	e.clock.advance(20 * time.Minute) // past captchas, challenges, the failure window and the idle time
	sweep()
	for _, b := range []string{identity.CaptchasBucket, identity.ChallengesBucket, identity.AttemptsBucket, identity.SessionsBucket, important.ConfirmBucket} {
		if n := count(b); n != 0 {
			t.Errorf("%d records left in %s after they expired", n, b)
		}
	}
	if count(important.IdempotencyBucket) != 1 {
		t.Error("an idempotency record was swept within its 24 hours")
	}
	e.clock.advance(important.KeyTTL)
	sweep()
	if n := count(important.IdempotencyBucket); n != 0 {
		t.Errorf("%d idempotency records left after 24 hours", n)
	}
	if r := e.call("GET", "/api/v1/me", token, ""); r.status != 401 {
		t.Fatalf("a swept session still works: %v", r.body)
	}
}

// The SM2 enrolment helper below is shared with the factor tests: it signs a
// challenge for a purpose with key.
func signChallenge(e *env, key *sm.PrivateKey, purpose, who string) (string, string) {
	e.t.Helper()
	ch := e.call("POST", "/api/v1/sessions/challenge", "", "")
	nonce, _ := base64.StdEncoding.DecodeString(ch.body["nonce"].(string))
	sig, err := key.Sign(identity.SM2Message(purpose, nonce, who))
	if err != nil {
		e.t.Fatal(err)
	}
	return ch.body["challenge_id"].(string), base64.StdEncoding.EncodeToString(sig)
}

func TestReplacingAnSM2KeyNeedsThePasswordAndTheCurrentKey(t *testing.T) {
	e := start(t)
	token, secret := e.signInMFA("secadmin")
	key, _ := sm.GenerateKey()
	pub, _ := key.Public().MarshalPEM()
	id, sig := signChallenge(e, key, "enroll", "acct-secadmin")
	body := fmt.Sprintf(`{"public_key":%q,"challenge_id":%q,"signature":%q}`, pub, id, sig)
	if r := e.call("POST", "/api/v1/me/mfa/sm2", token, body); r.status != 401 || r.code() != "reauthentication_required" {
		t.Fatalf("an SM2 key over a TOTP factor with no proof: %d %v", r.status, r.body)
	}
	id, sig = signChallenge(e, key, "enroll", "acct-secadmin")
	body = fmt.Sprintf(`{"public_key":%q,"challenge_id":%q,"signature":%q,"current_password":%q,"totp":%q}`, pub, id, sig, e.admins["secadmin"], e.code(secret))
	if r := e.call("POST", "/api/v1/me/mfa/sm2", token, body); r.status != 200 {
		t.Fatalf("with password and code: %d %v", r.status, r.body)
	}
}
