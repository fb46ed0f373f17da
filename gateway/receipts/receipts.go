// Package receipts keeps the tax bureaus' acknowledgements of the feed
// (回执): a bureau's gateway client posts, as a signed request, that it
// holds one scope of the feed up to a number, with the chain hash there;
// the whole signed request — canonical string, signature, body, client and
// key fingerprint — is kept as non-repudiation evidence, and operators see
// "bureau X holds everything up to N, acknowledged at T".
//
// Invariants:
//   - A receipt acknowledges only what was served: the feed route records,
//     in the command that audits each page it serves (gateway.served), how
//     far each client has been served in each scope, and a receipt beyond
//     that is refused by the state machine (receipt_beyond_served). Since
//     nothing is served beyond the chain's end, neither is a receipt.
//   - A receipt's chain hash is the scope's chain after its number, or it
//     is refused (receipt_chain_mismatch): the proposer checks it, which is
//     enough because a chain, once written, never changes.
//   - Receipts are never deleted; a second receipt of the same number is
//     answered with the first.
package receipts

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"time"

	"cxt/gateway/feed"
	"cxt/storage/state"
)

// Buckets.
const (
	Bucket       = "gateway-receipts" // client \x00 scope \x00 seq (8 bytes) -> Receipt
	ServedBucket = "gateway-served"   // client \x00 scope -> last number served (8 bytes)
)

// Command types (command set 5).
const (
	CmdServed  = "gateway.served"
	CmdReceipt = "gateway.receipt"
)

// Refusals.
var (
	// CodeBeyondServed refuses a receipt for a number not yet served to
	// the client in that scope.
	CodeBeyondServed = state.NewCode(state.KindInvalid, "receipt_beyond_served")
	// CodeChainMismatch refuses a receipt whose chain hash is not the
	// scope's chain after its number.
	CodeChainMismatch = state.NewCode(state.KindInvalid, "receipt_chain_mismatch")
)

// Register adds the receipts' buckets and commands.
func Register(reg *state.Registry) {
	reg.Bucket(Bucket)
	reg.Bucket(ServedBucket)
	reg.HandleFrom(state.GatewaySet, CmdServed, served)
	reg.HandleFrom(state.GatewaySet, CmdReceipt, receipt)
}

// Served is the body of CmdServed: a page served to a client.
type Served struct {
	Client string `json:"client"`
	Scope  string `json:"scope"` // feed.ScopePlatform or an office
	First  uint64 `json:"first_seq"`
	Last   uint64 `json:"last_seq"` // First-1 for an empty page
}

// ServedCommand is the command that records a page served (and audits its
// request).
func ServedCommand(s Served, now time.Time) *state.Command {
	b, _ := json.Marshal(s)
	return state.NewCommand(CmdServed, b, now)
}

func servedKey(client, scope string) []byte { return []byte(client + "\x00" + scope) }

// ServedUpTo is how far client was served in scope.
func ServedUpTo(tx interface {
	Get(string, []byte) ([]byte, error)
}, client, scope string) (uint64, error) {
	v, err := tx.Get(ServedBucket, servedKey(client, scope))
	if err != nil || v == nil {
		return 0, err
	}
	if len(v) != 8 {
		return 0, fmt.Errorf("receipts: served mark of %s/%s is %d bytes", client, scope, len(v))
	}
	return binary.BigEndian.Uint64(v), nil
}

func served(tx *state.Tx, cmd *state.Command) ([]byte, error) {
	var s Served
	if err := json.Unmarshal(cmd.Body, &s); err != nil || s.Client == "" || s.Scope == "" || s.First == 0 || s.Last+1 < s.First {
		return nil, state.Reject(state.InvalidRequest, "a page served names its client, scope and numbers")
	}
	prev, err := ServedUpTo(tx, s.Client, s.Scope)
	if err != nil || prev >= s.Last {
		return nil, err
	}
	return nil, tx.Put(ServedBucket, servedKey(s.Client, s.Scope), binary.BigEndian.AppendUint64(nil, s.Last))
}

// Receipt is one acknowledgement as it is kept.
type Receipt struct {
	Client      string    `json:"client"`
	Scope       string    `json:"scope"`
	Seq         uint64    `json:"seq"`
	ChainHash   string    `json:"chain_hash"`
	Canonical   string    `json:"canonical_request"` // what the signature covers (crypto/sm/reqsig)
	Signature   string    `json:"signature"`         // base64 of the DER SM2 signature, as sent
	Body        string    `json:"body"`              // the request body, whose SM3 the canonical request names
	Fingerprint string    `json:"key_fingerprint_sm3"`
	Received    time.Time `json:"received"`
}

func receiptKey(client, scope string, seq uint64) []byte {
	return binary.BigEndian.AppendUint64(append(servedKey(client, scope), 0), seq)
}

// Ack is the body a bureau posts.
type Ack struct {
	Scope     string `json:"scope"`
	Seq       uint64 `json:"seq"`
	ChainHash string `json:"chain_hash"`
}

// receipt keeps a bureau's acknowledgement, once, if it acknowledges no
// more than was served to it.
func receipt(tx *state.Tx, cmd *state.Command) ([]byte, error) {
	var rc Receipt
	if err := json.Unmarshal(cmd.Body, &rc); err != nil || rc.Client == "" || rc.Scope == "" || rc.Seq == 0 || rc.Canonical == "" || rc.Signature == "" || rc.Fingerprint == "" {
		return nil, state.Reject(state.InvalidRequest, "a receipt names its client, scope, number and the signed request")
	}
	var ack Ack
	if err := json.Unmarshal([]byte(rc.Body), &ack); err != nil || ack.Scope != rc.Scope || ack.Seq != rc.Seq || ack.ChainHash != rc.ChainHash {
		return nil, state.Reject(state.InvalidRequest, "a receipt's body is the acknowledgement it records")
	}
	up, err := ServedUpTo(tx, rc.Client, rc.Scope)
	if err != nil {
		return nil, err
	}
	if rc.Seq > up {
		return nil, state.Reject(CodeBeyondServed, "entry %d of scope %s was not served to %s yet (it was served up to %d): acknowledge only what you pulled", rc.Seq, rc.Scope, rc.Client, up)
	}
	k := receiptKey(rc.Client, rc.Scope, rc.Seq)
	if prev, err := tx.Get(Bucket, k); err != nil || prev != nil {
		return prev, err
	}
	rc.Received = tx.Time()
	b, err := json.Marshal(rc)
	if err != nil {
		return nil, err
	}
	return b, tx.Put(Bucket, k, b)
}

// Latest is the highest receipt of each client and scope, by client and
// scope.
func Latest(tx *state.ReadTx) ([]*Receipt, error) {
	var out []*Receipt
	var group []byte
	err := tx.Seek(Bucket, nil, false, func(k, v []byte) (bool, error) {
		if len(k) < 8 {
			return false, fmt.Errorf("receipts: a key of %d bytes", len(k))
		}
		var rc Receipt
		if err := json.Unmarshal(v, &rc); err != nil {
			return false, err
		}
		if g := k[:len(k)-8]; len(out) > 0 && bytes.Equal(g, group) {
			out[len(out)-1] = &rc // keys ascend: the last of a group is its highest
		} else {
			group = append(group[:0], g...)
			out = append(out, &rc)
		}
		return true, nil
	})
	return out, err
}

// ScopeOf is a feed scope's name in a receipt: feed.ScopePlatform or the
// office.
func ScopeOf(office string) string {
	if office == feed.Platform {
		return feed.ScopePlatform
	}
	return office
}
