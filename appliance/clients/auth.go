package clients

import (
	"encoding/json"
	"errors"
	"strings"
	"time"

	"cxt/appliance/api"
	"cxt/appliance/errs"
	"cxt/appliance/signedreq"
	"cxt/crypto/sm"
	"cxt/crypto/sm/reqsig"
	"cxt/policy"
	"cxt/storage/state"
)

// Authenticate checks a signed request (api.Clients): the client its
// headers name is registered and live, the request comes from an address
// it allows, its timestamp is within the window, its signature verifies
// over its canonical form, and its nonce is new — recorded by a replicated
// command under the request's audit context before anything is served.
// The checks that cost nothing come first; the nonce, which writes, last.
func (b *Backend) Authenticate(r *api.Request) error {
	const op = "authenticate client"
	signed, _, err := signedreq.Read(r)
	if errors.Is(err, reqsig.ErrMalformed) {
		return refuse(r, "", strings.TrimPrefix(err.Error(), "reqsig: "))
	} else if err != nil {
		return err
	}
	c, err := b.find(r, signed.Client)
	if err != nil {
		return err
	}
	if c == nil || !c.Live() {
		return refuse(r, signed.Client, "the client is unknown or revoked")
	}
	if !c.Allows(r.Audit.Source) {
		r.Audit.Reason = "signed as client " + c.ID + " from an address outside its allow-list"
		return errs.Coded(op, errs.Permission, "client_ip_refused", "client %s does not sign requests from %s (its allow_ips)", c.ID, r.Audit.Source)
	}
	if err := signed.Fresh(r.Now()); err != nil {
		r.Audit.Reason = "signed as client " + c.ID + " with a stale timestamp"
		return errs.Coded(op, errs.Unauthenticated, "request_expired", "%s; the server's time is %d (Unix seconds): check the client's clock", strings.TrimPrefix(err.Error(), "reqsig: "), r.Now().Unix())
	}
	pub, err := sm.ParsePublicKeyPEM([]byte(c.PublicKey))
	if err != nil {
		return err
	}
	if err := signed.Verify(pub); err != nil {
		return refuse(r, c.ID, strings.TrimPrefix(err.Error(), "reqsig: ")+" (see docs/payouts.md, \"Machine clients\")")
	}
	r.Audit.Subject = c.ID
	b2, _ := json.Marshal(signedreq.For(c.ID, signed))
	if _, err := r.ProposeAside(state.NewCommand(CmdNonce, b2, r.Now())); err != nil {
		return err
	}
	r.Subject = policy.Subject{ID: c.ID, Roles: []string{policy.MerchantClient}, Clearance: 1, Merchant: c.Merchant, Scope: c.Actions}
	r.Session = session{}
	return nil
}

// refuse answers a signature that does not authenticate; the record names
// the client it claimed.
func refuse(r *api.Request, claimed, why string) error {
	if claimed != "" {
		r.Audit.Reason = "signed as client " + claimed + ": " + why
	}
	return errs.Coded("authenticate client", errs.Unauthenticated, CodeSignature.String(), "%s", why)
}

// validID reports whether id looks like a client ID this API issued.
func validID(id string) bool {
	if len(id) != 3+16 || !strings.HasPrefix(id, "cl_") {
		return false
	}
	for _, c := range id[3:] {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// find reads a client, after a read barrier if this node has not applied
// its registration yet.
func (b *Backend) find(r *api.Request, id string) (*Client, error) {
	if !validID(id) {
		return nil, nil
	}
	var c *Client
	_, err := r.LookupFresh(func(tx *state.ReadTx) (bool, error) {
		var err error
		c, err = Find(tx, id)
		return c != nil, err
	})
	return c, err
}

// Live reports whether id names a live client (api.Clients).
func (b *Backend) Live(tx *state.ReadTx, id string) bool {
	if !validID(id) {
		return false
	}
	c, err := Find(tx, id)
	return err == nil && c != nil && c.Live()
}

// session is a machine client's standing in the pipeline: it has no
// password to change and no factor to enroll, and it runs no important
// operation, which needs a person's step-up and confirm.
type session struct{}

func (session) Admits(action string, important bool, _ time.Time) error {
	if important {
		return errs.Coded("authorize", errs.Permission, "client_scope", "%s is an important operation: a person of the merchant signs in and confirms it; machine clients run none", action)
	}
	return nil
}
