package queries

import (
	"cxt/appliance/api"
	"cxt/appliance/errs"
	"cxt/crypto/keyring"
	"cxt/gateway/bureaus"
	"cxt/gateway/platform"
	"cxt/storage/blob"
	"cxt/storage/state"
)

// Backend serves the queries on the gateway listener: a bureau's client
// asks about one worker or merchant of its scope, and for their documents
// sealed to its own registered key. It has no commands of its own.
type Backend struct {
	// Documents is the document store (nil while the node is sealed).
	Documents func() *blob.Store
}

// GatewayRoutes lists the gateway listener's endpoints of the queries.
// They change nothing, yet are Write routes: a Write's audit record is
// written once the answer is known, so it names the worker or merchant by
// the platform's ID — never by the ID number a bureau may have asked
// with, which is all a Read's record, written before the subject is
// found, could name.
func (b *Backend) GatewayRoutes() []api.Route {
	return []api.Route{
		{Method: "GET", Path: "/gateway/v1/workers/{identifier}", Action: "gateway.workers", Kind: api.Write, Handle: b.worker},
		{Method: "GET", Path: "/gateway/v1/merchants/{identifier}", Action: "gateway.merchants", Kind: api.Write, Handle: b.merchant},
		{Method: "GET", Path: "/gateway/v1/workers/{identifier}/documents/{ref}", Action: "gateway.documents", Kind: api.Write, Handle: b.document(OfWorker)},
		{Method: "GET", Path: "/gateway/v1/merchants/{identifier}/documents/{ref}", Action: "gateway.documents", Kind: api.Write, Handle: b.document(OfMerchant)},
	}
}

// caller is the request's gateway client; a query takes no parameters.
func caller(r *api.Request) (*bureaus.Session, error) {
	c, err := bureaus.Caller(r)
	if err != nil {
		return nil, err
	}
	if len(r.HTTP.URL.Query()) > 0 {
		return nil, &errs.Error{Op: "gateway query", Kind: errs.Invalid, Code: "invalid_request", Msg: "a query is named by its path alone: no parameters"}
	}
	return c, nil
}

// scopeIn is the client's scope as tx has it: its offices, and whether it
// holds the platform's own office (named by the platform's profile).
func scopeIn(tx *state.ReadTx, c *bureaus.Client) (Scope, error) {
	po, err := platform.Office(tx)
	return Scope{Offices: c.Offices, Platform: po != "" && c.Sees(po)}, err
}

// answer runs a query in one read of the caller's scope.
func answer[A any](r *api.Request, query func(*state.ReadTx, *keyring.Keyring, Scope, Identifier) (A, error)) (A, error) {
	var a A
	c, err := caller(r)
	if err != nil {
		return a, err
	}
	err = r.View(func(tx *state.ReadTx) error {
		scope, err := scopeIn(tx, c.Client)
		if err != nil {
			return err
		}
		a, err = query(tx, r.Node.Keys(), scope, Identifier(r.Var("identifier")))
		return err
	})
	return a, err
}

// worker answers one worker of the caller's scope. The audit names the
// worker by their ID, never by the ID number a bureau may have asked with.
func (b *Backend) worker(r *api.Request) (int, any, error) {
	a, err := answer(r, Worker)
	if err != nil {
		return 0, nil, err
	}
	r.Audit.Object = a.ID
	return 200, a, nil
}

// merchant answers one merchant of the caller's scope.
func (b *Backend) merchant(r *api.Request) (int, any, error) {
	a, err := answer(r, Merchant)
	if err != nil {
		return 0, nil, err
	}
	r.Audit.Object = a.ID
	return 200, a, nil
}

// document answers a document of a worker or merchant of the caller's
// scope, sealed to the SM2 key the caller's client is registered with —
// the key its requests are signed with, so only the bureau that asked
// opens it.
func (b *Backend) document(of Of) func(*api.Request) (int, any, error) {
	return func(r *api.Request) (int, any, error) {
		c, err := caller(r)
		if err != nil {
			return 0, nil, err
		}
		var scope Scope
		if err := r.View(func(tx *state.ReadTx) error {
			scope, err = scopeIn(tx, c.Client)
			return err
		}); err != nil {
			return 0, nil, err
		}
		to, err := c.Client.Public()
		if err != nil {
			return 0, nil, err
		}
		d, err := Document(r.Ctx, r.View, r.Node.Keys(), b.Documents(), scope, of, Identifier(r.Var("identifier")), r.Var("ref"), to)
		if err != nil {
			return 0, nil, err
		}
		r.Audit.Object = d.Ref
		return 200, d, nil
	}
}
