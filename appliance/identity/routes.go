package identity

import (
	"encoding/json"
	"slices"
	"time"

	"cxt/appliance/api"
	"cxt/policy"
	"cxt/storage/state"
)

// Backend serves accounts, sessions and second factors over the API, and the
// security administration built on them: the policy's review and the audit
// log's search, export and signed heads. It is also the API's api.Sessions.
type Backend struct {
	// Policy is the login policy: lockout, session lifetimes, password
	// ages.
	Policy Policy
	// Hashing makes password hashes (the zero value: production's count);
	// a login that verifies a hash with fewer iterations re-derives it.
	Hashing Hashing
	// Authz is the policy in force, which the policy routes read and
	// review changes against.
	Authz *policy.Authorizer
	// Sign signs with the node's SM2 key and returns the signature and the
	// node certificate (PEM); signed audit heads use it. Set at unseal.
	Sign func(msg []byte) (sig, certPEM []byte, err error)
	// RiskReplay, when set, decides the recorded inputs of the last 30
	// days' payouts again by a candidate policy's payout rules, for the
	// preview of a policy change (the payouts domain answers it).
	RiskReplay func(r *api.Request, candidate *policy.Authorizer) (any, error)
}

// Register adds identity's buckets and commands, password hashes held to
// b.Hashing's floor.
func (b *Backend) Register(reg *state.Registry) { RegisterWith(reg, b.Hashing) }

// Routes lists identity's endpoints.
func (b *Backend) Routes() []api.Route {
	const read, write, important = api.Read, api.Write, api.Important
	account := accountResource
	return []api.Route{
		{Method: "GET", Path: "/api/v1/captcha", Action: "captcha.create", Kind: write, Handle: b.captcha},
		{Method: "POST", Path: "/api/v1/sessions", Action: "sessions.create", Kind: write, Handle: b.login},
		{Method: "POST", Path: "/api/v1/sessions/sms", Action: "sessions.sms_code", Kind: write, Handle: b.requestSMS},
		{Method: "POST", Path: "/api/v1/sessions/challenge", Action: "sessions.challenge", Kind: write, Handle: b.challenge},
		{Method: "GET", Path: "/api/v1/sessions", Action: "sessions.list_own", Kind: read, Handle: b.listSessions},
		{Method: "DELETE", Path: "/api/v1/sessions/current", Action: "sessions.delete_own", Kind: write, Handle: b.logout},
		{Method: "DELETE", Path: "/api/v1/sessions/{id}", Action: "sessions.delete_own", Kind: write, Resource: api.PathOwner("id"), Handle: b.endSession},
		{Method: "GET", Path: "/api/v1/me", Action: "sessions.current", Kind: read, Handle: b.me},
		{Method: "POST", Path: "/api/v1/me/password", Action: "accounts.password", Kind: write, Handle: b.changePassword},
		{Method: "POST", Path: "/api/v1/me/mfa/totp", Action: "accounts.mfa_enroll", Kind: write, Handle: b.beginTOTP},
		{Method: "POST", Path: "/api/v1/me/mfa/totp/confirm", Action: "accounts.mfa_enroll", Kind: write, Handle: b.confirmTOTP},
		{Method: "POST", Path: "/api/v1/me/mfa/sm2", Action: "accounts.mfa_enroll", Kind: write, Handle: b.enrollSM2},
		{Method: "POST", Path: "/api/v1/me/step-up", Action: "sessions.step_up", Kind: write, Handle: b.stepUp},
		{Method: "GET", Path: "/api/v1/me/notifications", Action: "notifications.list_own", Kind: read, Handle: b.notifications},
		{Method: "POST", Path: "/api/v1/accounts", Action: "accounts.create", Kind: important, Prepare: b.createAccount},
		{Method: "POST", Path: "/api/v1/accounts/{id}/unlock", Action: "accounts.unlock", Kind: important, Resource: account, Prepare: b.unlockAccount},
		{Method: "POST", Path: "/api/v1/accounts/{id}/roles", Action: "accounts.roles", Kind: important, Resource: account, Prepare: b.setRoles},
		{Method: "POST", Path: "/api/v1/accounts/{id}/close", Action: "accounts.close", Kind: important, Resource: account, Prepare: b.closeAccount},
		{Method: "POST", Path: "/api/v1/accounts/{id}/mfa/reset", Action: "accounts.mfa_reset", Kind: important, Resource: account, Prepare: b.resetFactors},
		{Method: "DELETE", Path: "/api/v1/accounts/{id}/sessions", Action: "sessions.delete_any", Kind: write, Resource: account, Handle: b.endAccountSessions},
		{Method: "POST", Path: "/api/v1/accounts/{id}/unmask", Action: "accounts.unmask", Kind: important, Resource: account, Prepare: b.unmaskAccount},
		{Method: "GET", Path: "/api/v1/policy", Action: "policy.read", Kind: read, Handle: b.getPolicy},
		{Method: "PUT", Path: "/api/v1/policy", Action: "policy.change", Kind: important, Prepare: b.setPolicy},
		{Method: "GET", Path: "/api/v1/policy/history", Action: "policy.read", Kind: read, Handle: b.policyHistory},
		{Method: "POST", Path: "/api/v1/policy/rollback", Action: "policy.change", Kind: important, Prepare: b.rollbackPolicy},
		{Method: "GET", Path: "/api/v1/audit", Action: "audit.search", Kind: read, Handle: b.searchAudit},
		{Method: "POST", Path: "/api/v1/audit/export", Action: "audit.export", Kind: important, Prepare: b.exportAudit},
		{Method: "GET", Path: "/api/v1/audit/head", Action: "audit.verify", Kind: read, Handle: b.auditHead},
		{Method: "GET", Path: "/api/v1/audit/proof", Action: "audit.verify", Kind: read, Handle: b.auditProof},
	}
}

// accountResource finds the account a route names by its {id}: its ID is
// the owner (the policy refuses administrators acting on themselves where
// that matters) and its clearance the label (nobody acts on an account
// cleared above them). An account this node does not know yet is looked up
// again after a read barrier, for a signed-in caller, before it is called
// absent.
func accountResource(r *api.Request) (api.Resource, error) {
	res := api.Resource{Resource: policy.Resource{Label: 1, Owner: r.Var("id")}, Noun: "account"}
	found, err := r.Lookup(func(tx *state.ReadTx) (bool, error) {
		acct, err := AccountByID(tx, res.Owner)
		if acct != nil && acct.Clearance > 0 {
			res.Label = acct.Clearance
		}
		return acct != nil, err
	})
	res.Absent = !found
	return res, err
}

// AdminRole is the administrator role among roles, or "".
func AdminRole(roles []string) string {
	for _, r := range roles {
		if slices.Contains(AdminRoles, r) {
			return r
		}
	}
	return ""
}

// stepUpFor is how long a re-authentication counts for important operations.
const stepUpFor = 5 * time.Minute

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}
