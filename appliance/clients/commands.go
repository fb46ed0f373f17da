package clients

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"cxt/appliance/callbacks"
	"cxt/appliance/merchants"
	"cxt/appliance/signedreq"
	"cxt/storage/state"
)

// Buckets.
const (
	Bucket         = "clients"         // client ID -> Client
	KeysBucket     = "client-keys"     // key fingerprint -> client ID, revoked or not
	MerchantBucket = "client-merchant" // merchant/client ID -> ""
	NoncesBucket   = "client-nonces"   // client ID \x00 nonce -> expiry (8 bytes, Unix ns)
)

// Command types.
const (
	CmdRegister = "client.register"
	CmdRevoke   = "client.revoke"
	CmdNonce    = "client.nonce"
)

// Refusals besides the general ones.
var (
	// CodeReplayed refuses a nonce its client used already.
	CodeReplayed = signedreq.CodeReplayed
	// CodeSignature refuses a signed request whose client is unknown or
	// revoked, or whose signature does not verify.
	CodeSignature = state.NewCode(state.KindUnauthenticated, "request_signature_invalid")
	// CodeKeyTaken refuses a public key another client holds or held.
	CodeKeyTaken = state.NewCode(state.KindConflict, "client_key_taken")
)

// Register adds the clients' buckets and commands (command set 4).
func Register(reg *state.Registry) {
	for _, b := range []string{Bucket, KeysBucket, MerchantBucket, NoncesBucket} {
		reg.Bucket(b)
	}
	reg.HandleFrom(state.MoneySet, CmdRegister, register)
	reg.HandleFrom(state.MoneySet, CmdRevoke, revoke)
	reg.HandleFrom(state.MoneySet, CmdNonce, nonce)
	reg.Expire(NoncesBucket, signedreq.Expire(NoncesBucket))
}

// getter is a state transaction, read-only or not.
type getter interface {
	Get(bucket string, key []byte) ([]byte, error)
}

// Get reads a client; not_found if there is none.
func Get(tx getter, id string) (*Client, error) {
	b, err := tx.Get(Bucket, []byte(id))
	if err != nil {
		return nil, err
	}
	if b == nil {
		return nil, state.Reject(state.NotFound, "no client %s", id)
	}
	var c Client
	if err := json.Unmarshal(b, &c); err != nil {
		return nil, fmt.Errorf("clients: %s: %w", id, err)
	}
	return &c, nil
}

// Find reads a client; nil if there is none.
func Find(tx getter, id string) (*Client, error) {
	c, err := Get(tx, id)
	var rej *state.Rejection
	if errors.As(err, &rej) && rej.Kind == state.KindNotFound {
		return nil, nil
	}
	return c, err
}

// OfMerchant lists a merchant's clients, oldest registration first by ID.
func OfMerchant(tx *state.ReadTx, merchant string) ([]*Client, error) {
	prefix := []byte(merchant + "/")
	var out []*Client
	err := tx.Seek(MerchantBucket, prefix, false, func(k, _ []byte) (bool, error) {
		if !bytes.HasPrefix(k, prefix) {
			return false, nil
		}
		c, err := Get(tx, string(k[len(prefix):]))
		if err != nil {
			return false, err
		}
		out = append(out, c)
		return true, nil
	})
	return out, err
}

func put(tx *state.Tx, c *Client) ([]byte, error) {
	b, err := json.Marshal(c)
	if err != nil {
		return nil, err
	}
	return b, tx.Put(Bucket, []byte(c.ID), b)
}

var errStop = errors.New("stop")

// live counts a merchant's clients that are not revoked, as tx sees them.
func live(tx *state.Tx, merchant string) (int, error) {
	prefix := merchant + "/"
	n := 0
	var ids []string
	_, err := tx.Scan(MerchantBucket, []byte(prefix), 10_000, func(k, _ []byte) error {
		if !strings.HasPrefix(string(k), prefix) {
			return errStop
		}
		ids = append(ids, strings.TrimPrefix(string(k), prefix))
		return nil
	})
	if err != nil && !errors.Is(err, errStop) {
		return 0, err
	}
	for _, id := range ids {
		c, err := Get(tx, id)
		if err != nil {
			return 0, err
		}
		if c.Live() {
			n++
		}
	}
	return n, nil
}

// register adds a client. The proposer checked the actions against the
// policy in force; the state machine checks everything it can decide alone.
func register(tx *state.Tx, cmd *state.Command) ([]byte, error) {
	var c Client
	if err := json.Unmarshal(cmd.Body, &c); err != nil || !strings.HasPrefix(c.ID, "cl_") || c.Merchant == "" || c.CreatedBy == "" {
		return nil, state.Reject(state.InvalidRequest, "a client names its ID, its merchant and who registered it")
	}
	if _, err := CheckName(c.Name); err != nil {
		return nil, state.Reject(state.InvalidRequest, "%v", err)
	}
	if _, fp, err := CheckKey(c.PublicKey); err != nil || fp != c.Fingerprint {
		return nil, state.Reject(state.InvalidRequest, "public_key: an SM2 public key whose fingerprint is the one given")
	}
	if err := CheckActionNames(c.Actions); err != nil {
		return nil, state.Reject(state.InvalidRequest, "%v", err)
	}
	if ips, err := CheckAllowIPs(c.AllowIPs); err != nil || !slices.Equal(ips, c.AllowIPs) {
		return nil, state.Reject(state.InvalidRequest, "allow_ips: canonical CIDRs")
	}
	if c.CallbackURL != "" && !strings.HasPrefix(c.CallbackURL, "https://") {
		return nil, state.Reject(state.InvalidRequest, "callback_url: https only")
	}
	m, err := merchants.Get(tx, c.Merchant)
	if err != nil {
		return nil, err
	}
	if m.Status != merchants.Approved {
		return nil, state.Reject(merchants.CodeStatus, "a %s merchant registers no clients; it must be approved", m.Status)
	}
	if prev, err := tx.Get(Bucket, []byte(c.ID)); err != nil {
		return nil, err
	} else if prev != nil {
		return nil, state.Reject(state.Conflict, "client %s exists", c.ID)
	}
	if holder, err := tx.Get(KeysBucket, []byte(c.Fingerprint)); err != nil {
		return nil, err
	} else if holder != nil {
		return nil, state.Reject(CodeKeyTaken, "this public key is client %s's (revoked or not): make a new key for each client", holder)
	}
	if n, err := live(tx, c.Merchant); err != nil {
		return nil, err
	} else if n >= MaxLive {
		return nil, state.Reject(state.Conflict, "merchant %s has %d live clients, the most it may; revoke one first", c.Merchant, n)
	}
	c.Created, c.Revoked, c.RevokedBy, c.Reason = tx.Time(), time.Time{}, "", ""
	if err := tx.Put(KeysBucket, []byte(c.Fingerprint), []byte(c.ID)); err != nil {
		return nil, err
	}
	if err := tx.Put(MerchantBucket, []byte(c.Merchant+"/"+c.ID), nil); err != nil {
		return nil, err
	}
	if c.CallbackURL != "" {
		if err := callbacks.SetEndpoint(tx, c.Merchant, c.ID, c.CallbackURL); err != nil {
			return nil, err
		}
	}
	return put(tx, &c)
}

// Revocation is the body of CmdRevoke.
type Revocation struct {
	ID       string `json:"id"`
	Merchant string `json:"merchant"`
	By       string `json:"by"`
	Reason   string `json:"reason"`
}

// revoke ends a client: its signatures are refused from the next request
// on, on every node, and its callbacks stop.
func revoke(tx *state.Tx, cmd *state.Command) ([]byte, error) {
	var r Revocation
	if err := json.Unmarshal(cmd.Body, &r); err != nil || r.ID == "" || r.Merchant == "" || r.By == "" || strings.TrimSpace(r.Reason) == "" {
		return nil, state.Reject(state.InvalidRequest, "a revocation names the client, its merchant, who revokes it and why")
	}
	c, err := Get(tx, r.ID)
	if err != nil {
		return nil, err
	}
	if c.Merchant != r.Merchant {
		return nil, state.Reject(state.NotFound, "merchant %s has no client %s", r.Merchant, r.ID)
	}
	if !c.Live() {
		return nil, state.Reject(state.Conflict, "client %s was revoked at %s", c.ID, c.Revoked.Format(time.RFC3339))
	}
	c.Revoked, c.RevokedBy, c.Reason = tx.Time(), r.By, r.Reason
	if err := callbacks.RemoveEndpoint(tx, c.Merchant, c.ID); err != nil {
		return nil, err
	}
	return put(tx, c)
}

// Nonce is the body of CmdNonce: a verified request's nonce, kept until its
// timestamp could no longer pass on any node.
type Nonce = signedreq.Nonce

// NonceTTL is how long after its timestamp a nonce is kept.
const NonceTTL = signedreq.TTL

// nonce records a request's nonce, once: a second request with it is
// refused whichever node it came to, and of two racing ones the second in
// the log.
func nonce(tx *state.Tx, cmd *state.Command) ([]byte, error) {
	var n Nonce
	if err := json.Unmarshal(cmd.Body, &n); err != nil || n.Client == "" || n.Nonce == "" || n.Expires.IsZero() {
		return nil, state.Reject(state.InvalidRequest, "a nonce names its client, itself and when it expires")
	}
	c, err := Find(tx, n.Client)
	if err != nil {
		return nil, err
	}
	if c == nil || !c.Live() {
		return nil, state.Reject(CodeSignature, "client %s is unknown or revoked", n.Client)
	}
	return nil, signedreq.Record(tx, NoncesBucket, n)
}
