package callbacks

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"cxt/appliance/api"
	"cxt/appliance/errs"
	"cxt/appliance/merchants"
	"cxt/storage/state"
)

// Backend serves the platform key and merchants' delivery logs over the API.
type Backend struct{}

// Register adds the callbacks' buckets and commands.
func (b *Backend) Register(reg *state.Registry) { Register(reg) }

// Routes lists the callbacks' endpoints.
func (b *Backend) Routes() []api.Route {
	m := merchants.Resource
	return []api.Route{
		{Method: "GET", Path: "/api/v1/callbacks/key", Action: "callbacks.key", Kind: api.Read, Handle: b.key},
		{Method: "GET", Path: "/api/v1/callbacks/key.pem", Action: "callbacks.key", Kind: api.Read, Handle: b.keyPEM},
		{Method: "GET", Path: "/api/v1/merchants/{id}/callbacks", Action: "callbacks.read", Kind: api.Read, Resource: m, Handle: b.list},
		{Method: "POST", Path: "/api/v1/merchants/{id}/callbacks/test", Action: "callbacks.send", Kind: api.Write, Resource: m, Handle: b.test},
		{Method: "GET", Path: "/api/v1/merchants/{id}/callbacks/{delivery}", Action: "callbacks.read", Kind: api.Read, Resource: m, Handle: b.read},
		{Method: "POST", Path: "/api/v1/merchants/{id}/callbacks/{delivery}/replay", Action: "callbacks.send", Kind: api.Write, Resource: m, Handle: b.replay},
	}
}

func (b *Backend) platformKey(r *api.Request) (*Key, error) {
	var k *Key
	err := r.View(func(tx *state.ReadTx) error {
		var err error
		k, err = GetKey(tx)
		return err
	})
	if err == nil && k == nil {
		err = errs.E("callback key", errs.Unavailable, "the platform's callback key is made by the leader within seconds of the cluster speaking command set %d; retry", state.MoneySet)
	}
	return k, err
}

// key answers the platform's public callback key and how to verify with it.
func (b *Backend) key(r *api.Request) (int, any, error) {
	k, err := b.platformKey(r)
	if err != nil {
		return 0, nil, err
	}
	return 200, public(k), nil
}

// keyPEM answers the public key as a PEM file, for openssl.
func (b *Backend) keyPEM(r *api.Request) (int, any, error) {
	k, err := b.platformKey(r)
	if err != nil {
		return 0, nil, err
	}
	return 200, &api.Raw{ContentType: "application/x-pem-file", Name: "callback-key.pem", Body: []byte(k.Public)}, nil
}

// summary is a delivery in the merchant's log, without its body.
func (d *Delivery) summary() map[string]any {
	out := map[string]any{
		"id": d.ID, "client": d.Client, "event": d.Event, "created": d.Created, "status": d.Status,
		"round": d.Round, "tries": d.Tries,
	}
	if !d.Next.IsZero() {
		out["next_attempt"] = d.Next
	}
	if n := len(d.Attempts); n > 0 {
		out["last_attempt"] = d.Attempts[n-1]
	}
	return out
}

// full is a delivery with its body and every try.
func (d *Delivery) full() map[string]any {
	out := d.summary()
	out["body"] = string(d.Body)
	out["attempts"] = d.Attempts
	return out
}

const (
	defaultPage = 50
	maxPage     = 500
)

// list answers a merchant's deliveries, newest first, a page at a time:
// ?status= pending, delivered or dead; ?limit= (default 50, at most 500);
// ?cursor= the next_cursor of the page before.
func (b *Backend) list(r *api.Request) (int, any, error) {
	const op = "list callbacks"
	q := r.HTTP.URL.Query()
	status := q.Get("status")
	if status != "" && status != Pending && status != Delivered && status != Dead {
		return 0, nil, errs.E(op, errs.Invalid, "status: pending, delivered or dead")
	}
	limit := defaultPage
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > maxPage {
			return 0, nil, errs.E(op, errs.Invalid, "limit: 1 to %d", maxPage)
		}
		limit = n
	}
	merchant := r.Var("id")
	prefix := merchant + "/"
	start := []byte(prefix + "\xff")
	cursor := q.Get("cursor")
	if cursor != "" {
		if !validID(cursor) {
			return 0, nil, errs.Coded(op, errs.Invalid, "invalid_cursor", "cursor: the next_cursor of an earlier page")
		}
		start = key(merchant, cursor)
	}
	out := []map[string]any{}
	next := ""
	err := r.View(func(tx *state.ReadTx) error {
		return tx.Seek(Bucket, start, true, func(k, v []byte) (bool, error) {
			if !strings.HasPrefix(string(k), prefix) {
				return false, nil
			}
			if cursor != "" && string(k) == string(start) {
				return true, nil // the last of the page before
			}
			var d Delivery
			if err := json.Unmarshal(v, &d); err != nil {
				return false, fmt.Errorf("callbacks: %s: %w", k, err)
			}
			if status != "" && d.Status != status {
				return true, nil
			}
			if len(out) == limit {
				next = out[len(out)-1]["id"].(string)
				return false, nil
			}
			out = append(out, d.summary())
			return true, nil
		})
	})
	if err != nil {
		return 0, nil, err
	}
	resp := map[string]any{"deliveries": out}
	if next != "" {
		resp["next_cursor"] = next
	}
	return 200, resp, nil
}

func validID(id string) bool {
	if len(id) != 3+20 || !strings.HasPrefix(id, "cb_") {
		return false
	}
	for _, c := range id[3:] {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// read answers one delivery with its body and tries.
func (b *Backend) read(r *api.Request) (int, any, error) {
	var d *Delivery
	if err := r.View(func(tx *state.ReadTx) error {
		var err error
		d, err = Get(tx, r.Var("id"), r.Var("delivery"))
		return err
	}); err != nil {
		return 0, nil, api.Classify(err)
	}
	return 200, d.full(), nil
}

// replay sends a delivery again: a new round of tries with the same body.
func (b *Backend) replay(r *api.Request) (int, any, error) {
	r.Audit.Object = r.Var("id") + "/" + r.Var("delivery")
	v, err := r.Propose(state.NewCommand(CmdReplay, mustJSON(Replay{Merchant: r.Var("id"), ID: r.Var("delivery"), By: r.Subject.ID}), r.Now()))
	if err != nil {
		return 0, nil, err
	}
	var d Delivery
	if err := json.Unmarshal(v, &d); err != nil {
		return 0, nil, err
	}
	return 200, d.summary(), nil
}

// test enqueues a test event to each of the merchant's callback URLs.
func (b *Backend) test(r *api.Request) (int, any, error) {
	r.Audit.Object = r.Var("id")
	v, err := r.Propose(state.NewCommand(CmdTest, mustJSON(Test{Merchant: r.Var("id"), By: r.Subject.ID}), r.Now()))
	if err != nil {
		return 0, nil, err
	}
	var ds []Delivery
	if err := json.Unmarshal(v, &ds); err != nil {
		return 0, nil, err
	}
	out := []map[string]any{}
	for i := range ds {
		out = append(out, ds[i].summary())
	}
	return 201, map[string]any{"deliveries": out}, nil
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}
