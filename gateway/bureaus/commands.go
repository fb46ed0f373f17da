package bureaus

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"cxt/appliance/signedreq"
	"cxt/storage/state"
)

// Buckets.
const (
	Bucket       = "gateway-clients"     // client ID -> Client
	KeysBucket   = "gateway-client-keys" // key fingerprint -> client ID, retired or not
	NoncesBucket = "gateway-nonces"      // client ID \x00 nonce -> expiry (8 bytes, Unix ns)
)

// Command types (command set 5).
const (
	CmdRegister = "gateway.client_register"
	CmdChange   = "gateway.client_change"
	CmdRotate   = "gateway.client_rotate"
	CmdNonce    = "gateway.nonce"
)

// Refusals besides the general ones.
var (
	// CodeSuspended refuses a request of a suspended client.
	CodeSuspended = state.NewCode(state.KindPermission, "client_suspended")
	// CodeRevoked refuses a request of a revoked client.
	CodeRevoked = state.NewCode(state.KindUnauthenticated, "client_revoked")
	// CodeSignature refuses a signed request whose client is unknown or
	// whose signature does not verify.
	CodeSignature = state.NewCode(state.KindUnauthenticated, "request_signature_invalid")
	// CodeKeyTaken refuses a public key another client holds or held, or
	// this one held before.
	CodeKeyTaken = state.NewCode(state.KindConflict, "client_key_taken")
	// CodeStatus refuses a change the client's status does not allow.
	CodeStatus = state.NewCode(state.KindConflict, "client_status")
)

// Register adds the bureaus' buckets and commands.
func Register(reg *state.Registry) {
	for _, b := range []string{Bucket, KeysBucket, NoncesBucket} {
		reg.Bucket(b)
	}
	reg.HandleFrom(state.GatewaySet, CmdRegister, register)
	reg.HandleFrom(state.GatewaySet, CmdChange, change)
	reg.HandleFrom(state.GatewaySet, CmdRotate, rotate)
	reg.HandleFrom(state.GatewaySet, CmdNonce, nonce)
	reg.Expire(NoncesBucket, signedreq.Expire(NoncesBucket))
}

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
		return nil, state.Reject(state.NotFound, "no gateway client %s", id)
	}
	var c Client
	if err := json.Unmarshal(b, &c); err != nil {
		return nil, fmt.Errorf("bureaus: %s: %w", id, err)
	}
	return &c, nil
}

// Find reads a client; nil if there is none.
func Find(tx getter, id string) (*Client, error) {
	c, err := Get(tx, id)
	if state.NotFound.Is(err) {
		return nil, nil
	}
	return c, err
}

// KeyNamePrefix starts the name a client signs as when it names itself by
// its key alone: "key-" and the first 16 bytes of its public key's SM3
// fingerprint in hex (32 digits), as gateway/pull.KeyClient makes it.
const KeyNamePrefix = "key-"

// KeyName is the name a key of fingerprint fp (hex, as Key.Fingerprint)
// signs as when its client names itself by its key.
func KeyName(fp string) string { return KeyNamePrefix + fp[:min(len(fp), 32)] }

// keyNamePrefix returns the fingerprint's prefix a key name holds, or ""
// if name is not one.
func keyNamePrefix(name string) string {
	fp, ok := strings.CutPrefix(name, KeyNamePrefix)
	if !ok || len(fp) != 32 || strings.ContainsFunc(fp, func(c rune) bool { return !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') }) {
		return ""
	}
	return fp
}

// FindByName reads the client a signed request names: by its ID, or by
// the name of a key it holds or held (KeyName), through KeysBucket, which
// register and rotate keep. A key rotated away still names its client,
// whose key in force then refuses the signature. nil if none.
func FindByName(tx *state.ReadTx, name string) (*Client, error) {
	if validID(name) {
		return Find(tx, name)
	}
	prefix := keyNamePrefix(name)
	if prefix == "" {
		return nil, nil
	}
	var holders []string
	err := tx.Seek(KeysBucket, []byte(prefix), false, func(k, v []byte) (bool, error) {
		if !strings.HasPrefix(string(k), prefix) {
			return false, nil
		}
		holders = append(holders, string(v))
		return len(holders) < 2, nil
	})
	// Two keys sharing 128 bits of their SM3 is not expected ever; if it
	// happened, the name would name neither.
	if err != nil || len(holders) != 1 {
		return nil, err
	}
	return Find(tx, holders[0])
}

// List returns every client, by ID.
func List(tx *state.ReadTx) ([]*Client, error) {
	var out []*Client
	err := tx.Seek(Bucket, nil, false, func(_, v []byte) (bool, error) {
		var c Client
		if err := json.Unmarshal(v, &c); err != nil {
			return false, err
		}
		out = append(out, &c)
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

// claimKey takes a key fingerprint for client id, once ever.
func claimKey(tx *state.Tx, fp, id string) error {
	if holder, err := tx.Get(KeysBucket, []byte(fp)); err != nil {
		return err
	} else if holder != nil {
		return state.Reject(CodeKeyTaken, "this public key is or was gateway client %s's: make a new key", holder)
	}
	return tx.Put(KeysBucket, []byte(fp), []byte(id))
}

// checkKey verifies a key's fields against each other.
func checkKey(k Key) error {
	got, err := CheckKey(k.PublicKey, "")
	if err != nil || got.Fingerprint != k.Fingerprint {
		return state.Reject(state.InvalidRequest, "public_key: an SM2 public key whose fingerprint is the one given")
	}
	if k.Certificate != "" {
		fromCert, err := CheckKey("", k.Certificate)
		if err != nil || fromCert.Fingerprint != k.Fingerprint {
			return state.Reject(state.InvalidRequest, "certificate: an SM2 certificate of the public key given")
		}
	}
	return nil
}

func checkTLS(t *TLSCert) error {
	if t == nil {
		return nil
	}
	got, err := CheckTLS(t.PEM)
	if err != nil || *got != *t {
		return state.Reject(state.InvalidRequest, "tls_certificate: a certificate whose fingerprint and names are the ones given")
	}
	return nil
}

// register adds a client. The proposer read and checked its input; the
// state machine checks everything it can decide alone.
func register(tx *state.Tx, cmd *state.Command) ([]byte, error) {
	var c Client
	if err := json.Unmarshal(cmd.Body, &c); err != nil || !validID(c.ID) || c.CreatedBy == "" {
		return nil, state.Reject(state.InvalidRequest, "a gateway client names its ID and who registered it")
	}
	if name, err := CheckName(c.Name); err != nil || name != c.Name {
		return nil, state.Reject(state.InvalidRequest, "name: a trimmed name of 1-%d characters", MaxName)
	}
	if offices, err := CheckOffices(c.Offices); err != nil || strings.Join(offices, ",") != strings.Join(c.Offices, ",") {
		return nil, state.Reject(state.InvalidRequest, "offices: sorted tax office codes")
	}
	if err := checkKey(c.Key); err != nil {
		return nil, err
	}
	if err := checkTLS(c.TLS); err != nil {
		return nil, err
	}
	if prev, err := Find(tx, c.ID); err != nil {
		return nil, err
	} else if prev != nil {
		return nil, state.Reject(state.Conflict, "gateway client %s exists", c.ID)
	}
	if err := claimKey(tx, c.Fingerprint, c.ID); err != nil {
		return nil, err
	}
	c.Status, c.Created, c.Changed, c.ChangedBy, c.Reason, c.Retired = Live, tx.Time(), time.Time{}, "", "", nil
	return put(tx, &c)
}

// Change actions.
const (
	ActSuspend = "suspend"
	ActResume  = "resume"
	ActRevoke  = "revoke"
)

// Change is the body of CmdChange.
type Change struct {
	ID     string `json:"id"`
	Action string `json:"action"`
	By     string `json:"by"`
	Reason string `json:"reason"`
}

// next is the status an action leads to from from, or "" if it may not.
func next(from, action string) string {
	switch {
	case action == ActSuspend && from == Live:
		return Suspended
	case action == ActResume && from == Suspended:
		return Live
	case action == ActRevoke && from != Revoked:
		return Revoked
	}
	return ""
}

// change suspends, resumes or revokes a client: from the next request on,
// on every node.
func change(tx *state.Tx, cmd *state.Command) ([]byte, error) {
	var ch Change
	if err := json.Unmarshal(cmd.Body, &ch); err != nil || ch.ID == "" || ch.By == "" || strings.TrimSpace(ch.Reason) == "" {
		return nil, state.Reject(state.InvalidRequest, "a change names the client, the action, who makes it and why")
	}
	c, err := Get(tx, ch.ID)
	if err != nil {
		return nil, err
	}
	to := next(c.Status, ch.Action)
	if to == "" {
		return nil, state.Reject(CodeStatus, "a %s client cannot be %s", c.Status, pastTense(ch.Action))
	}
	c.Status, c.Changed, c.ChangedBy, c.Reason = to, tx.Time(), ch.By, ch.Reason
	return put(tx, c)
}

func pastTense(action string) string {
	switch action {
	case ActSuspend:
		return "suspended"
	case ActResume:
		return "resumed"
	case ActRevoke:
		return "revoked"
	}
	return fmt.Sprintf("changed by %q", action)
}

// Rotation is the body of CmdRotate: the client's new signing key and,
// if given, its new TLS certificate.
type Rotation struct {
	ID     string   `json:"id"`
	Key    Key      `json:"key"`
	TLS    *TLSCert `json:"tls,omitempty"` // nil keeps the one in force
	By     string   `json:"by"`
	Reason string   `json:"reason"`
}

// rotate replaces a client's key: the old one is refused from this
// command on and can never be registered again.
func rotate(tx *state.Tx, cmd *state.Command) ([]byte, error) {
	var r Rotation
	if err := json.Unmarshal(cmd.Body, &r); err != nil || r.ID == "" || r.By == "" || strings.TrimSpace(r.Reason) == "" {
		return nil, state.Reject(state.InvalidRequest, "a rotation names the client, the new key, who rotates it and why")
	}
	if err := checkKey(r.Key); err != nil {
		return nil, err
	}
	if err := checkTLS(r.TLS); err != nil {
		return nil, err
	}
	c, err := Get(tx, r.ID)
	if err != nil {
		return nil, err
	}
	if c.Status == Revoked {
		return nil, state.Reject(CodeStatus, "a revoked client's key is not rotated: register a new client")
	}
	if err := claimKey(tx, r.Key.Fingerprint, c.ID); err != nil {
		return nil, err
	}
	c.Retired = append(c.Retired, RetiredKey{Fingerprint: c.Fingerprint, Until: tx.Time()})
	c.Key = r.Key
	if r.TLS != nil {
		c.TLS = r.TLS
	}
	c.Changed, c.ChangedBy, c.Reason = tx.Time(), r.By, r.Reason
	return put(tx, c)
}

// Standing refuses a client that may not sign requests now, with its
// status's code.
func (c *Client) Standing() error {
	switch c.Status {
	case Live:
		return nil
	case Suspended:
		return state.Reject(CodeSuspended, "gateway client %s is suspended (%s): its requests are refused until a security administrator resumes it", c.ID, c.Reason)
	case Revoked:
		return state.Reject(CodeRevoked, "gateway client %s was revoked: its requests are refused for good", c.ID)
	}
	return state.Reject(CodeSignature, "gateway client %s has no status a request may be served in", c.ID)
}

// nonce records a verified request's nonce once, while its client may
// still sign: a suspension or revocation applied before it refuses it.
func nonce(tx *state.Tx, cmd *state.Command) ([]byte, error) {
	var n signedreq.Nonce
	if err := json.Unmarshal(cmd.Body, &n); err != nil {
		return nil, state.Reject(state.InvalidRequest, "a nonce names its client, itself and when it expires")
	}
	c, err := Find(tx, n.Client)
	if err != nil {
		return nil, err
	}
	if c == nil {
		return nil, state.Reject(CodeSignature, "no gateway client %s", n.Client)
	}
	if err := c.Standing(); err != nil {
		return nil, err
	}
	return nil, signedreq.Record(tx, NoncesBucket, n)
}

// validID reports whether id looks like a client ID this gateway issued.
func validID(id string) bool {
	if len(id) != 3+16 || !strings.HasPrefix(id, "bu_") {
		return false
	}
	for _, c := range id[3:] {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}
