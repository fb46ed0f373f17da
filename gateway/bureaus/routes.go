package bureaus

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/time/rate"

	"cxt/appliance/api"
	"cxt/appliance/errs"
	"cxt/crypto/sm"
	"cxt/policy"
	"cxt/storage/state"
)

// Backend serves the gateway clients on the business API, and
// authenticates their requests on the gateway listener (api.Clients).
type Backend struct {
	// Rate and Burst limit each client's requests on this node (0: the
	// defaults).
	Rate   rate.Limit
	Burst  int
	limits limiter
}

// Register adds the bureaus' buckets and commands.
func (b *Backend) Register(reg *state.Registry) { Register(reg) }

// Routes lists the business API's endpoints of gateway clients.
func (b *Backend) Routes() []api.Route {
	return []api.Route{
		{Method: "POST", Path: "/api/v1/gateway/clients", Action: "gateway.clients.register", Kind: api.Important, Prepare: b.register},
		{Method: "GET", Path: "/api/v1/gateway/clients", Action: "gateway.clients.read", Kind: api.Read, Handle: b.list},
		{Method: "GET", Path: "/api/v1/gateway/clients/{client}", Action: "gateway.clients.read", Kind: api.Read, Resource: resource, Handle: b.read},
		{Method: "POST", Path: "/api/v1/gateway/clients/{client}/suspend", Action: "gateway.clients.suspend", Kind: api.Important, Resource: resource, Prepare: b.change(ActSuspend)},
		{Method: "POST", Path: "/api/v1/gateway/clients/{client}/resume", Action: "gateway.clients.resume", Kind: api.Important, Resource: resource, Prepare: b.change(ActResume)},
		{Method: "POST", Path: "/api/v1/gateway/clients/{client}/rotate", Action: "gateway.clients.rotate", Kind: api.Important, Resource: resource, Prepare: b.rotate},
		{Method: "POST", Path: "/api/v1/gateway/clients/{client}/revoke", Action: "gateway.clients.revoke", Kind: api.Important, Resource: resource, Prepare: b.change(ActRevoke)},
	}
}

// resource is the route's client, for the policy: the platform's own
// record (no owner, label 1), or absent.
func resource(r *api.Request) (api.Resource, error) {
	found, err := r.Lookup(func(tx *state.ReadTx) (bool, error) {
		c, err := Find(tx, r.Var("client"))
		return c != nil, err
	})
	return api.Resource{Resource: policy.Resource{Label: 1}, Noun: "gateway client", Absent: !found}, err
}

// public is a client as the API shows it.
func (c *Client) public() map[string]any {
	out := map[string]any{
		"id": c.ID, "name": c.Name, "offices": c.Offices, "public_key": c.PublicKey, "fingerprint_sm3": c.Fingerprint,
		"status": c.Status, "created": c.Created, "created_by": c.CreatedBy,
	}
	if c.Certificate != "" {
		out["certificate"] = c.Certificate
	}
	if c.TLS != nil {
		out["tls_certificate"] = map[string]any{"fingerprint_sm3": c.TLS.Fingerprint, "subject": c.TLS.Subject, "not_after": c.TLS.NotAfter}
	}
	if !c.Changed.IsZero() {
		out["changed"], out["changed_by"], out["reason"] = c.Changed, c.ChangedBy, c.Reason
	}
	if len(c.Retired) > 0 {
		out["retired_keys"] = c.Retired
	}
	return out
}

// fieldErr is err about field: an identifier's own code (tax_office_format,
// …) if it has one, invalid_request otherwise.
func fieldErr(op, field string, err error) error {
	var e *errs.Error
	if errors.As(err, &e) {
		out := *e
		out.Field = field
		return &out
	}
	return invalid(op, field, "%s: %v", field, err)
}

func invalid(op, field, format string, args ...any) error {
	return &errs.Error{Op: op, Kind: errs.Invalid, Code: "invalid_request", Msg: fmt.Sprintf(format, args...), Field: field}
}

type registration struct {
	Name           string   `json:"name"`
	Offices        []string `json:"offices"`
	PublicKey      string   `json:"public_key"`
	Certificate    string   `json:"certificate"`
	TLSCertificate string   `json:"tls_certificate"`
}

// clientID derives the new client's ID from who registers it, the
// Idempotency-Key and the key, so the preview and the confirm name the same
// client.
func clientID(r *api.Request, fingerprint string) string {
	h := sm.Sum([]byte("cxt/gateway-client-id/v1\x00" + r.Subject.ID + "\x00" + r.HTTP.Header.Get("Idempotency-Key") + "\x00" + fingerprint))
	return "bu_" + hex.EncodeToString(h[:8])
}

// keyField names the field a key error is about.
func keyField(publicKey, certificate string) string {
	if certificate != "" && publicKey == "" {
		return "certificate"
	}
	return "public_key"
}

// keyTaken refuses, at the preview already, a key some client holds or held.
func keyTaken(r *api.Request, op, fp string) error {
	var holder []byte
	if err := r.View(func(tx *state.ReadTx) error {
		var err error
		holder, err = tx.Get(KeysBucket, []byte(fp))
		return err
	}); err != nil {
		return api.Classify(err)
	}
	if holder != nil {
		return errs.Coded(op, errs.Conflict, CodeKeyTaken.String(), "this public key is or was gateway client %s's: make a new key", holder)
	}
	return nil
}

// register adds a bureau's gateway client (an important operation).
func (b *Backend) register(r *api.Request) (*api.Op, error) {
	const op = "register gateway client"
	var in registration
	if err := r.Decode(&in); err != nil {
		return nil, err
	}
	name, err := CheckName(in.Name)
	if err != nil {
		return nil, invalid(op, "name", "%v", err)
	}
	offices, err := CheckOffices(in.Offices)
	if err != nil {
		return nil, fieldErr(op, "offices", err)
	}
	key, err := CheckKey(in.PublicKey, in.Certificate)
	if err != nil {
		return nil, invalid(op, keyField(in.PublicKey, in.Certificate), "%v", err)
	}
	var tlsCert *TLSCert
	if in.TLSCertificate != "" {
		if tlsCert, err = CheckTLS(in.TLSCertificate); err != nil {
			return nil, invalid(op, "tls_certificate", "%v", err)
		}
	}
	if err := keyTaken(r, op, key.Fingerprint); err != nil {
		return nil, err
	}
	c := Client{ID: clientID(r, key.Fingerprint), Name: name, Offices: offices, Key: key, TLS: tlsCert,
		Status: Live, CreatedBy: r.Subject.ID, Created: r.Now().UTC()}
	r.Audit.Object = c.ID
	risks := []string{"whoever holds the private key reads every feed entry, report and answer of these tax offices (" + strings.Join(offices, ", ") + ") until the client is suspended or revoked"}
	if tlsCert == nil {
		risks = append(risks, "no TLS client certificate pinned: the SM2 signature alone authenticates the bureau's requests")
	}
	impact := map[string]any{"client": c.ID, "name": name, "offices": offices, "fingerprint_sm3": key.Fingerprint}
	if tlsCert != nil {
		impact["tls_certificate_sm3"] = tlsCert.Fingerprint
	}
	return &api.Op{
		Impact: impact, Risks: risks,
		Command: state.NewCommand(CmdRegister, mustJSON(c), r.Now()),
		Status:  201, Response: map[string]any{"client": c.public()},
	}, nil
}

// load reads the route's client.
func load(r *api.Request) (*Client, error) {
	var c *Client
	if err := r.View(func(tx *state.ReadTx) error {
		var err error
		c, err = Find(tx, r.Var("client"))
		return err
	}); err != nil {
		return nil, api.Classify(err)
	}
	if c == nil {
		return nil, errs.E("gateway client", errs.NotExist, "no gateway client %s", r.Var("client"))
	}
	return c, nil
}

func reason(op string, in *string) error {
	if len([]rune(strings.TrimSpace(*in))) < 5 {
		return invalid(op, "reason", "reason: say why (at least 5 characters)")
	}
	*in = strings.TrimSpace(*in)
	return nil
}

// change suspends, resumes or revokes a client (important operations).
func (b *Backend) change(action string) func(*api.Request) (*api.Op, error) {
	return func(r *api.Request) (*api.Op, error) {
		op := action + " gateway client"
		var in struct {
			Reason string `json:"reason"`
		}
		if err := r.Decode(&in); err != nil {
			return nil, err
		}
		if err := reason(op, &in.Reason); err != nil {
			return nil, err
		}
		c, err := load(r)
		if err != nil {
			return nil, err
		}
		to := next(c.Status, action)
		if to == "" {
			return nil, errs.Coded(op, errs.Conflict, CodeStatus.String(), "a %s client cannot be %s", c.Status, pastTense(action))
		}
		r.Audit.Object, r.Audit.Reason = c.ID, in.Reason
		after := *c
		after.Status, after.Changed, after.ChangedBy, after.Reason = to, r.Now().UTC(), r.Subject.ID, in.Reason
		risk := map[string]string{
			ActSuspend: "the client's requests are refused (client_suspended) from the next one on, on every node, until it is resumed",
			ActResume:  "the client's signed requests are served again",
			ActRevoke:  "the client's requests are refused (client_revoked) for good, and its key can never be registered again",
		}[action]
		return &api.Op{
			Impact:  map[string]any{"client": c.ID, "name": c.Name, "status": c.Status + " → " + to, "reason": in.Reason},
			Risks:   []string{risk},
			Command: state.NewCommand(CmdChange, mustJSON(Change{ID: c.ID, Action: action, By: r.Subject.ID, Reason: in.Reason}), r.Now()),
			Status:  200, Response: map[string]any{"client": after.public()},
		}, nil
	}
}

// rotate replaces a client's signing key, and its TLS certificate if one
// is given (an important operation).
func (b *Backend) rotate(r *api.Request) (*api.Op, error) {
	const op = "rotate gateway client key"
	var in struct {
		PublicKey      string `json:"public_key"`
		Certificate    string `json:"certificate"`
		TLSCertificate string `json:"tls_certificate"`
		Reason         string `json:"reason"`
	}
	if err := r.Decode(&in); err != nil {
		return nil, err
	}
	if err := reason(op, &in.Reason); err != nil {
		return nil, err
	}
	key, err := CheckKey(in.PublicKey, in.Certificate)
	if err != nil {
		return nil, invalid(op, keyField(in.PublicKey, in.Certificate), "%v", err)
	}
	var tlsCert *TLSCert
	if in.TLSCertificate != "" {
		if tlsCert, err = CheckTLS(in.TLSCertificate); err != nil {
			return nil, invalid(op, "tls_certificate", "%v", err)
		}
	}
	c, err := load(r)
	if err != nil {
		return nil, err
	}
	if c.Status == Revoked {
		return nil, errs.Coded(op, errs.Conflict, CodeStatus.String(), "a revoked client's key is not rotated: register a new client")
	}
	if err := keyTaken(r, op, key.Fingerprint); err != nil {
		return nil, err
	}
	r.Audit.Object, r.Audit.Reason = c.ID, in.Reason
	after := *c
	after.Retired = append(append([]RetiredKey(nil), c.Retired...), RetiredKey{Fingerprint: c.Fingerprint, Until: r.Now().UTC()})
	after.Key, after.Changed, after.ChangedBy, after.Reason = key, r.Now().UTC(), r.Subject.ID, in.Reason
	impact := map[string]any{"client": c.ID, "name": c.Name, "fingerprint_sm3": c.Fingerprint + " → " + key.Fingerprint, "reason": in.Reason}
	if tlsCert != nil {
		after.TLS = tlsCert
		impact["tls_certificate_sm3"] = tlsCert.Fingerprint
	}
	return &api.Op{
		Impact:  impact,
		Risks:   []string{"requests signed with the old key are refused from the confirm on, on every node, and the old key can never be registered again"},
		Command: state.NewCommand(CmdRotate, mustJSON(Rotation{ID: c.ID, Key: key, TLS: tlsCert, By: r.Subject.ID, Reason: in.Reason}), r.Now()),
		Status:  200, Response: map[string]any{"client": after.public()},
	}, nil
}

// list answers every client, revoked ones too.
func (b *Backend) list(r *api.Request) (int, any, error) {
	out := []map[string]any{}
	if err := r.View(func(tx *state.ReadTx) error {
		cs, err := List(tx)
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
