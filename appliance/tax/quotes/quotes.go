// Package quotes is the tax engine's backend: it serves POST
// /api/v1/tax/quotes. It is a package of its own so that package tax keeps
// no I/O and no dependency on the API: the command line and the API both
// call the same pure engine.
package quotes

import (
	"errors"
	"mime"

	"cxt/appliance/api"
	"cxt/appliance/errs"
	"cxt/appliance/tax"
	"cxt/storage/state"
)

// Backend serves quotes computed under its rule sets.
type Backend struct {
	Tax *tax.Rules
}

// Register adds nothing: a quote changes no state.
func (b *Backend) Register(*state.Registry) {}

// Routes lists the quote's endpoint: a Write that proposes nothing, so its
// audit record, with its outcome, is written before the answer leaves.
func (b *Backend) Routes() []api.Route {
	return []api.Route{
		{Method: "POST", Path: "/api/v1/tax/quotes", Action: "tax.quote", Kind: api.Write, Handle: b.taxQuote},
	}
}

func (b *Backend) taxQuote(r *api.Request) (int, any, error) {
	if mt, _, err := mime.ParseMediaType(r.HTTP.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		return 0, nil, errs.E("tax quote", errs.Unsupported, "send the body as Content-Type: application/json")
	}
	req, err := tax.DecodeRequest(r.HTTP.Body)
	if err == nil {
		var q *tax.Quote
		if q, err = b.Tax.Quote(req, r.Now()); err == nil {
			return 200, q, nil
		}
	}
	return 0, nil, &errs.Error{Op: "tax quote", Kind: errs.Invalid, Code: "invalid_request", Msg: err.Error(), Err: err, Field: field(err)}
}

// field is the request field a refusal names, if any.
func field(err error) string {
	var fe *tax.FieldError
	if errors.As(err, &fe) {
		return fe.Field
	}
	return ""
}
