package platform

import (
	"encoding/json"
	"errors"

	"cxt/appliance/api"
	"cxt/appliance/errs"
	"cxt/appliance/platformkey"
	"cxt/crypto/sm"
	"cxt/storage/state"
)

// Backend serves the platform's profile and the gateway key to operators
// on the business API.
type Backend struct{}

// Register adds the platform's buckets and commands.
func (b *Backend) Register(reg *state.Registry) { Register(reg) }

// Routes lists the business API's endpoints of the platform's profile and
// gateway key.
func (b *Backend) Routes() []api.Route {
	return []api.Route{
		{Method: "GET", Path: "/api/v1/gateway/platform", Action: "gateway.platform.read", Kind: api.Read, Handle: b.profile},
		{Method: "PUT", Path: "/api/v1/gateway/platform", Action: "gateway.platform.set", Kind: api.Important, Prepare: b.set},
		{Method: "GET", Path: "/api/v1/gateway/key", Action: "gateway.key.read", Kind: api.Read, Handle: b.key},
	}
}

func (b *Backend) profile(r *api.Request) (int, any, error) {
	var p *Profile
	if err := r.View(func(tx *state.ReadTx) error {
		var err error
		p, err = Get(tx)
		return err
	}); err != nil {
		return 0, nil, err
	}
	if p == nil {
		return 0, nil, errs.E("platform profile", errs.NotExist, "no platform profile is set yet: a system administrator sets it (PUT /api/v1/gateway/platform)")
	}
	return 200, map[string]any{"profile": p}, nil
}

type profileIn struct {
	Office       string   `json:"office"`
	LegalName    string   `json:"legal_name"`
	USCC         string   `json:"uscc"`
	Domain       string   `json:"domain"`
	BusinessType string   `json:"business_type"`
	Entities     []Entity `json:"operating_entities"`
}

// set puts a new version of the profile in force (an important operation).
func (b *Backend) set(r *api.Request) (*api.Op, error) {
	const op = "set platform profile"
	var in profileIn
	if err := r.Decode(&in); err != nil {
		return nil, err
	}
	p, err := Check(Profile{Office: in.Office, LegalName: in.LegalName, USCC: in.USCC, Domain: in.Domain, BusinessType: in.BusinessType, Entities: in.Entities})
	if err != nil {
		var fe *FieldError
		errors.As(err, &fe)
		if e := new(errs.Error); errors.As(err, &e) { // an identifier's own code (uscc_check_character, …)
			out := *e
			out.Field = fe.Field
			return nil, &out
		}
		return nil, &errs.Error{Op: op, Kind: errs.Invalid, Code: "invalid_request", Msg: err.Error(), Field: fe.Field}
	}
	var prev *Profile
	if err := r.View(func(tx *state.ReadTx) error {
		var err error
		prev, err = Get(tx)
		return err
	}); err != nil {
		return nil, err
	}
	p.UpdatedBy, p.Updated, p.Version = r.Subject.ID, r.Now().UTC(), 1
	risks := []string{"every gateway client whose offices include " + p.Office + " reads the whole feed, every office's entries"}
	impact := map[string]any{"office": p.Office, "legal_name": p.LegalName, "uscc": p.USCC, "domain": p.Domain}
	if prev != nil {
		p.Version = prev.Version + 1
		if prev.Office != p.Office {
			impact["office"] = prev.Office + " → " + p.Office
			risks = append(risks, "clients of "+prev.Office+" alone no longer read the whole feed, only that office's entries")
		}
	}
	r.Audit.Object = "platform profile"
	return &api.Op{
		Impact: impact, Risks: risks,
		Command: state.NewCommand(CmdProfile, mustJSON(p), r.Now()),
		Status:  200, Response: map[string]any{"profile": p},
	}, nil
}

// Public is the gateway key as anyone may see it, and how OpenSSL checks a
// page head with it.
func Public(k *platformkey.Key) map[string]any {
	return map[string]any{
		"public_key": k.Public, "fingerprint_sm3": k.Fingerprint, "created": k.Created,
		"verify": "openssl dgst -sm3 -sigopt " + sm.DistID + " -verify platform-sm2.pem -signature page-N.sig page-N.head",
	}
}

// Current reads the gateway key for a route: unavailable until the leader
// made it.
func Current(r *api.Request) (*platformkey.Key, error) {
	var k *platformkey.Key
	err := r.View(func(tx *state.ReadTx) error {
		var err error
		k, err = Slot.Get(tx)
		return err
	})
	if err == nil && k == nil {
		err = errs.E("gateway key", errs.Unavailable, "the gateway key is made by the leader within seconds of the cluster speaking command set %d; retry", state.GatewaySet)
	}
	return k, err
}

func (b *Backend) key(r *api.Request) (int, any, error) {
	k, err := Current(r)
	if err != nil {
		return 0, nil, err
	}
	return 200, map[string]any{"key": Public(k)}, nil
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}
