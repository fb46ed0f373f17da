package receipts

import (
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"

	"cxt/appliance/api"
	"cxt/appliance/errs"
	"cxt/gateway/bureaus"
	"cxt/gateway/feed"
	"cxt/gateway/platform"
	"cxt/storage/state"
)

// Backend serves receipts: posted by bureaus on the gateway listener
// (GatewayRoutes), read by operators on the business API (Routes).
type Backend struct{}

// Register adds the receipts' buckets and commands.
func (b *Backend) Register(reg *state.Registry) { Register(reg) }

// Routes lists the business API's endpoint of receipts.
func (b *Backend) Routes() []api.Route {
	return []api.Route{
		{Method: "GET", Path: "/api/v1/gateway/receipts", Action: "gateway.receipts.read", Kind: api.Read, Handle: b.list},
	}
}

// GatewayRoutes lists the gateway listener's endpoint of receipts.
func (b *Backend) GatewayRoutes() []api.Route {
	return []api.Route{
		{Method: "POST", Path: "/gateway/v1/receipts", Action: "gateway.receipts.create", Kind: api.Write, MaxBody: 4 << 10, Handle: b.create},
	}
}

func invalid(field, format string, args ...any) error {
	return &errs.Error{Op: "receipt", Kind: errs.Invalid, Code: "invalid_request", Msg: fmt.Sprintf(format, args...), Field: field}
}

// create keeps a bureau's signed acknowledgement.
func (b *Backend) create(r *api.Request) (int, any, error) {
	caller, err := bureaus.Caller(r)
	if err != nil {
		return 0, nil, err
	}
	var ack Ack
	if err := r.Decode(&ack); err != nil {
		return 0, nil, err
	}
	if ack.Seq == 0 {
		return 0, nil, invalid("seq", "seq: the number of the last entry held, 1 or more")
	}
	if h, err := hex.DecodeString(ack.ChainHash); err != nil || len(h) != 32 || hex.EncodeToString(h) != ack.ChainHash {
		return 0, nil, invalid("chain_hash", "chain_hash: the scope's chain after seq, 64 lower-case hex digits")
	}
	office := ack.Scope
	if office == "" {
		return 0, nil, invalid("scope", "scope: %q or a tax office code, as the page heads name it", feed.ScopePlatform)
	}
	var scope string
	var up uint64
	var chain feed.Hash
	if err := r.View(func(tx *state.ReadTx) error {
		po, err := platform.Office(tx)
		if err != nil {
			return err
		}
		if scope, err = bureaus.Scope(caller.Client, po, office); err != nil {
			return err
		}
		// The platform's office code names the whole feed, as on the feed.
		ack.Scope = ScopeOf(scope)
		if up, err = ServedUpTo(tx, caller.Client.ID, ScopeOf(scope)); err != nil || ack.Seq > up {
			return err
		}
		chain, err = feed.ChainAt(tx, scope, ack.Seq)
		return err
	}); err != nil {
		return 0, nil, err
	}
	if ack.Seq > up {
		return 0, nil, errs.Coded("receipt", errs.Invalid, CodeBeyondServed.String(), "entry %d of scope %s was not served to %s yet (served up to %d): acknowledge only what you pulled", ack.Seq, ack.Scope, caller.Client.ID, up)
	}
	if hex.EncodeToString(chain[:]) != ack.ChainHash {
		return 0, nil, errs.Coded("receipt", errs.Invalid, CodeChainMismatch.String(), "the chain of scope %s after entry %d is %x, not %s: the entries you hold differ from the feed's", ack.Scope, ack.Seq, chain, ack.ChainHash)
	}
	s := caller.Signed
	rc := Receipt{Client: caller.Client.ID, Scope: ack.Scope, Seq: ack.Seq, ChainHash: ack.ChainHash, Canonical: s.Canonical,
		Signature: base64.StdEncoding.EncodeToString(s.Signature), Body: string(caller.Body), Fingerprint: caller.Client.Fingerprint}
	r.Audit.Object = fmt.Sprintf("%s up to %d", ack.Scope, ack.Seq)
	b2, _ := json.Marshal(rc)
	v, err := r.Propose(state.NewCommand(CmdReceipt, b2, r.Now()))
	if err != nil {
		return 0, nil, err
	}
	var kept Receipt
	if err := json.Unmarshal(v, &kept); err != nil {
		return 0, nil, err
	}
	return 201, map[string]any{"receipt": kept.public("")}, nil
}

// public is a receipt as operators and the bureau see it.
func (rc *Receipt) public(name string) map[string]any {
	who := rc.Client
	if name != "" {
		who = name + " (" + rc.Client + ")"
	}
	return map[string]any{
		"client": rc.Client, "scope": rc.Scope, "seq": rc.Seq, "chain_hash": rc.ChainHash, "acknowledged": rc.Received,
		"key_fingerprint_sm3": rc.Fingerprint, "canonical_request": rc.Canonical, "signature": rc.Signature, "body": rc.Body,
		"statement": fmt.Sprintf("%s holds everything of scope %s up to %d, acknowledged at %s", who, rc.Scope, rc.Seq, rc.Received.UTC().Format(time.RFC3339)),
	}
}

// list answers, per client and scope, its latest receipt.
func (b *Backend) list(r *api.Request) (int, any, error) {
	out := []map[string]any{}
	if err := r.View(func(tx *state.ReadTx) error {
		rcs, err := Latest(tx)
		for _, rc := range rcs {
			name := ""
			if c, _ := bureaus.Find(tx, rc.Client); c != nil {
				name = c.Name
			}
			p := rc.public(name)
			p["client_name"] = name
			out = append(out, p)
		}
		return err
	}); err != nil {
		return 0, nil, err
	}
	return 200, map[string]any{"receipts": out}, nil
}
