package server

import (
	"fmt"
	"net/url"
	"strconv"

	"cxt/appliance/api"
	"cxt/appliance/errs"
	"cxt/appliance/subjects"
	"cxt/gateway/bureaus"
	"cxt/gateway/feed"
	"cxt/gateway/platform"
	"cxt/gateway/receipts"
	"cxt/storage/state"
)

// Page sizes.
const (
	DefaultLimit = 1000
	MaxLimit     = 10000
)

// Feed serves the feed and the gateway key on the gateway listener (the
// feed's buckets are the state machine's own: appliance/node registers
// them).
type Feed struct {
	signer platform.Signer
}

// GatewayRoutes lists the feed's and the key's routes.
func (f *Feed) GatewayRoutes() []api.Route {
	return []api.Route{
		{Method: "GET", Path: "/gateway/v1/key", Action: "gateway.key", Kind: api.Read, Handle: f.key},
		{Method: "GET", Path: "/gateway/v1/feed", Action: "gateway.feed", Kind: api.Write, Handle: f.page},
	}
}

// key answers the gateway's public key as a PEM file, what OpenSSL and the
// reference client read: anybody may fetch it, signed or not, since it is
// no secret and a page proves itself only against a key the bureau also
// obtained out of band (docs/gateway.md).
func (f *Feed) key(r *api.Request) (int, any, error) {
	if err := bureaus.NoBody(r); err != nil {
		return 0, nil, err
	}
	k, err := platform.Current(r)
	if err != nil {
		return 0, nil, err
	}
	return 200, &api.Raw{ContentType: "application/x-pem-file", Name: "platform-sm2.pem", Body: []byte(k.Public)}, nil
}

func invalid(field, code, format string, args ...any) error {
	return &errs.Error{Op: "feed", Kind: errs.Invalid, Code: code, Msg: fmt.Sprintf(format, args...), Field: field}
}

// query reads the feed's parameters: after (default 0), limit (default
// DefaultLimit, at most MaxLimit) and office; nothing else.
func query(q url.Values) (after uint64, limit int, office string, err error) {
	for k, vs := range q {
		switch {
		case k != "after" && k != "limit" && k != "office":
			return 0, 0, "", invalid(k, "invalid_request", "unknown parameter %q: the feed takes after, limit and office", k)
		case len(vs) != 1:
			return 0, 0, "", invalid(k, "invalid_request", "%s is given once", k)
		}
	}
	if s := q.Get("after"); s != "" {
		if after, err = strconv.ParseUint(s, 10, 64); err != nil || strconv.FormatUint(after, 10) != s {
			return 0, 0, "", invalid("after", "invalid_request", "after: the number of the last entry held, 0 or more")
		}
	}
	limit = DefaultLimit
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		switch {
		case err != nil || n < 1 || strconv.Itoa(n) != s:
			return 0, 0, "", invalid("limit", "invalid_request", "limit: 1 to %d entries", MaxLimit)
		case n > MaxLimit:
			return 0, 0, "", invalid("limit", "limit_too_large", "limit: at most %d entries a page (%d asked)", MaxLimit, n)
		}
		limit = n
	}
	return after, limit, q.Get("office"), nil
}

// page serves one page of the caller's scope, signed with the gateway
// key, and records how far the caller was served (the command that
// audits the request).
func (f *Feed) page(r *api.Request) (int, any, error) {
	caller, err := bureaus.Caller(r)
	if err != nil {
		return 0, nil, err
	}
	after, limit, office, err := query(r.HTTP.URL.Query())
	if err != nil {
		return 0, nil, err
	}
	var page []byte
	var head feed.Head
	if err := r.View(func(tx *state.ReadTx) error {
		po, err := platform.Office(tx)
		if err != nil {
			return err
		}
		scope, err := bureaus.Scope(caller.Client, po, office)
		if err != nil {
			return err
		}
		_, priv, err := f.signer.Key(tx, r.Node.Keys())
		if err != nil {
			return err
		}
		if priv == nil {
			return errs.E("feed", errs.Unavailable, "the gateway key is made by the leader within seconds of the cluster speaking command set %d; retry", state.GatewaySet)
		}
		var entries []byte
		if head, entries, err = feed.ReadJSON(tx, scope, after, limit, subjects.FeedOpener(tx, r.Node.Keys())); err != nil {
			return err
		}
		if scope == feed.Platform {
			head.Office = po
		}
		page, err = feed.SignJSON(head, entries, r.Now(), priv.Sign)
		return err
	}); err != nil {
		return 0, nil, api.Classify(err)
	}
	r.Audit.Object = head.Scope + " " + strconv.FormatUint(head.First, 10) + "-" + strconv.FormatUint(head.Last, 10)
	if _, err := r.Propose(receipts.ServedCommand(receipts.Served{Client: caller.Client.ID, Scope: head.Scope, First: head.First, Last: head.Last}, r.Now())); err != nil {
		return 0, nil, err
	}
	return 200, &api.Raw{ContentType: "application/json", Body: page, Inline: true}, nil
}
