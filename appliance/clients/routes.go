package clients

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"

	"cxt/appliance/api"
	"cxt/appliance/callbacks"
	"cxt/appliance/errs"
	"cxt/appliance/merchants"
	"cxt/crypto/sm"
	"cxt/policy"
	"cxt/storage/state"
)

// Backend serves machine clients over the API, and authenticates their
// requests for the pipeline (api.Clients).
type Backend struct {
	// Authz is the policy in force: a client is registered only for
	// actions it allows a machine client and the merchant's own users.
	Authz *policy.Authorizer
	// AllowPrivateCallbacks lets callback URLs name private and loopback
	// addresses (tests; see callbacks.CheckURL).
	AllowPrivateCallbacks bool
}

// Register adds the clients' buckets and commands.
func (b *Backend) Register(reg *state.Registry) { Register(reg) }

// Routes lists the clients' endpoints.
func (b *Backend) Routes() []api.Route {
	m := merchants.Resource
	return []api.Route{
		{Method: "POST", Path: "/api/v1/merchants/{id}/clients", Action: "clients.register", Kind: api.Important, Resource: m, Prepare: b.register},
		{Method: "GET", Path: "/api/v1/merchants/{id}/clients", Action: "clients.read", Kind: api.Read, Resource: m, Handle: b.list},
		{Method: "GET", Path: "/api/v1/merchants/{id}/clients/{client}", Action: "clients.read", Kind: api.Read, Resource: m, Handle: b.read},
		{Method: "POST", Path: "/api/v1/merchants/{id}/clients/{client}/revoke", Action: "clients.revoke", Kind: api.Important, Resource: m, Prepare: b.revoke},
	}
}

// public is a client as the API shows it.
func (c *Client) public() map[string]any {
	out := map[string]any{
		"id": c.ID, "merchant": c.Merchant, "name": c.Name, "public_key": c.PublicKey, "fingerprint_sm3": c.Fingerprint,
		"actions": c.Actions, "allow_ips": c.AllowIPs, "created": c.Created, "created_by": c.CreatedBy, "status": "live",
	}
	if c.AllowIPs == nil {
		out["allow_ips"] = []string{}
	}
	if c.CallbackURL != "" {
		out["callback_url"] = c.CallbackURL
	}
	if !c.Live() {
		out["status"], out["revoked"], out["revoked_by"], out["revoke_reason"] = "revoked", c.Revoked, c.RevokedBy, c.Reason
	}
	return out
}

type registration struct {
	Name        string   `json:"name"`
	PublicKey   string   `json:"public_key"`
	Actions     []string `json:"actions"`
	AllowIPs    []string `json:"allow_ips"`
	CallbackURL string   `json:"callback_url"`
}

func invalid(field, code, format string, args ...any) error {
	return &errs.Error{Op: "register client", Kind: errs.Invalid, Code: code, Msg: fmt.Sprintf(format, args...), Field: field}
}

// checkActions refuses an action that no route takes, that is important,
// or that the policy in force does not let both a machine client and one
// of the merchant's own roles take.
func (b *Backend) checkActions(r *api.Request, merchant string, actions []string) error {
	known, important := map[string]bool{}, map[string]bool{}
	for _, rt := range r.Routes() {
		known[rt.Action] = true
		important[rt.Action] = important[rt.Action] || rt.Important()
	}
	res := policy.Resource{Label: 1, Owner: merchant, Tenanted: true, Merchants: []string{merchant}}
	allows := func(s policy.Subject, action string) (bool, error) {
		d, err := b.Authz.Decide(r.Ctx, policy.Input{Subject: s, Action: action, Resource: res})
		return d.Allow, err
	}
	for _, a := range actions {
		switch {
		case !known[a]:
			return invalid("actions", "client_action", "actions: no route takes the action %q (docs/security.md lists them)", a)
		case important[a]:
			return invalid("actions", "client_action", "actions: %s is an important operation, which a person confirms; a machine client cannot be registered for it", a)
		}
		client, err := allows(policy.Subject{ID: "new client", Roles: []string{policy.MerchantClient}, Clearance: 1, Merchant: merchant, Scope: []string{a}}, a)
		if err != nil {
			return err
		}
		users := false
		for _, role := range []string{"merchant_admin", "merchant_operator"} {
			ok, err := allows(policy.Subject{ID: "merchant user", Roles: []string{role}, Clearance: 1, Merchant: merchant, MFA: true}, a)
			if err != nil {
				return err
			}
			users = users || ok
		}
		if !client || !users {
			return invalid("actions", "client_action", "actions: %s is not an action the policy lets a merchant's machine client take", a)
		}
	}
	return nil
}

// clientID derives the new client's ID from who registers it, the
// Idempotency-Key and the key, so the preview and the confirm name the same
// client.
func clientID(r *api.Request, merchant, fingerprint string) string {
	h := sm.Sum([]byte("cxt/client-id/v1\x00" + merchant + "\x00" + r.Subject.ID + "\x00" + r.HTTP.Header.Get("Idempotency-Key") + "\x00" + fingerprint))
	return "cl_" + hex.EncodeToString(h[:8])
}

// register adds a machine client of the merchant (an important operation).
func (b *Backend) register(r *api.Request) (*api.Op, error) {
	const op = "register client"
	var in registration
	if err := r.Decode(&in); err != nil {
		return nil, err
	}
	name, err := CheckName(in.Name)
	if err != nil {
		return nil, invalid("name", "invalid_request", "%v", err)
	}
	_, fp, err := CheckKey(in.PublicKey)
	if err != nil {
		return nil, invalid("public_key", "invalid_request", "%v", err)
	}
	if err := CheckActionNames(in.Actions); err != nil {
		return nil, invalid("actions", "invalid_request", "%v", err)
	}
	ips, err := CheckAllowIPs(in.AllowIPs)
	if err != nil {
		return nil, invalid("allow_ips", "invalid_request", "%v", err)
	}
	url := ""
	if in.CallbackURL != "" {
		if url, err = callbacks.CheckURL(in.CallbackURL, b.AllowPrivateCallbacks); err != nil {
			return nil, invalid("callback_url", "invalid_request", "callback_url: %v", strings.TrimPrefix(err.Error(), "callback URL: "))
		}
	}
	merchant := r.Var("id")
	if err := b.checkActions(r, merchant, in.Actions); err != nil {
		return nil, err
	}
	var m *merchants.Merchant
	var holder []byte
	if err := r.View(func(tx *state.ReadTx) error {
		var err error
		if m, err = merchants.Get(tx, merchant); err != nil {
			return err
		}
		holder, err = tx.Get(KeysBucket, []byte(fp))
		return err
	}); err != nil {
		return nil, api.Classify(err)
	}
	if m.Status != merchants.Approved {
		return nil, errs.Coded(op, errs.Conflict, "merchant_status", "a %s merchant registers no clients; it must be approved first", m.Status)
	}
	if holder != nil {
		return nil, errs.Coded(op, errs.Conflict, "client_key_taken", "this public key is client %s's (revoked or not): make a new key for each client", holder)
	}
	c := Client{ID: clientID(r, merchant, fp), Merchant: merchant, Name: name, PublicKey: in.PublicKey, Fingerprint: fp,
		Actions: in.Actions, AllowIPs: ips, CallbackURL: url, CreatedBy: r.Subject.ID, Created: r.Now().UTC()}
	r.Audit.Object = c.ID
	risks := []string{"whoever holds the private key acts for " + m.Name + " on these actions, from the allowed addresses, until the client is revoked"}
	if len(ips) == 0 {
		risks = append(risks, "no allow_ips: signed requests are taken from any address")
	}
	if url != "" {
		risks = append(risks, "every state change of the merchant's batches and payments is sent to "+url)
	}
	impact := map[string]any{"merchant": merchant, "client": c.ID, "name": name, "fingerprint_sm3": fp, "actions": in.Actions, "allow_ips": c.public()["allow_ips"]}
	if url != "" {
		impact["callback_url"] = url
	}
	return &api.Op{
		Impact: impact, Risks: risks,
		Command: state.NewCommand(CmdRegister, mustJSON(c), r.Now()),
		Status:  201, Response: map[string]any{"client": c.public()},
	}, nil
}

// load reads the route's client of the route's merchant; not_found for
// another merchant's.
func load(r *api.Request) (*Client, error) {
	var c *Client
	if err := r.View(func(tx *state.ReadTx) error {
		var err error
		c, err = Find(tx, r.Var("client"))
		return err
	}); err != nil {
		return nil, api.Classify(err)
	}
	if c == nil || c.Merchant != r.Var("id") {
		return nil, errs.E("client", errs.NotExist, "merchant %s has no client %s", r.Var("id"), r.Var("client"))
	}
	return c, nil
}

// revoke ends a client (an important operation).
func (b *Backend) revoke(r *api.Request) (*api.Op, error) {
	var in struct {
		Reason string `json:"reason"`
	}
	if err := r.Decode(&in); err != nil {
		return nil, err
	}
	if len([]rune(strings.TrimSpace(in.Reason))) < 5 {
		return nil, &errs.Error{Op: "revoke client", Kind: errs.Invalid, Code: "invalid_request", Msg: "reason: say why the client is revoked (at least 5 characters)", Field: "reason"}
	}
	c, err := load(r)
	if err != nil {
		return nil, err
	}
	if !c.Live() {
		return nil, errs.E("revoke client", errs.Conflict, "client %s was revoked already", c.ID)
	}
	r.Audit.Object, r.Audit.Reason = c.ID, in.Reason
	after := *c
	after.Revoked, after.RevokedBy, after.Reason = r.Now().UTC(), r.Subject.ID, in.Reason
	return &api.Op{
		Impact:  map[string]any{"merchant": c.Merchant, "client": c.ID, "name": c.Name, "status": "live → revoked", "reason": in.Reason},
		Risks:   []string{"the client's signed requests are refused from now on, on every node, and its callbacks stop; a revoked client is not restored (register a new key)"},
		Command: state.NewCommand(CmdRevoke, mustJSON(Revocation{ID: c.ID, Merchant: c.Merchant, By: r.Subject.ID, Reason: in.Reason}), r.Now()),
		Status:  200, Response: map[string]any{"client": after.public()},
	}, nil
}

// list answers the merchant's clients, revoked ones too.
func (b *Backend) list(r *api.Request) (int, any, error) {
	out := []map[string]any{}
	if err := r.View(func(tx *state.ReadTx) error {
		cs, err := OfMerchant(tx, r.Var("id"))
		for _, c := range cs {
			out = append(out, c.public())
		}
		return err
	}); err != nil {
		return 0, nil, err
	}
	return 200, map[string]any{"clients": out}, nil
}

func (b *Backend) read(r *api.Request) (int, any, error) {
	c, err := load(r)
	if err != nil {
		return 0, nil, err
	}
	return 200, map[string]any{"client": c.public()}, nil
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}
