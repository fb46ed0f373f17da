// Package clients keeps merchants' machine clients: the back-end systems a
// merchant integrates through (as with 云账户's open API), each an SM2
// public key that signs its requests (package reqsig) instead of a person's
// session, scoped to its merchant and to named actions, optionally to
// source addresses, optionally with a callback URL (package callbacks).
//
// Invariants:
//   - A client acts as the role merchant_client of exactly one merchant
//     (tenancy), and only on the actions it was registered for (its scope),
//     which are actions the merchant's own users may take and none of them
//     important: an important operation needs a person's step-up and
//     confirm, and a client cannot register or revoke clients.
//   - Each request is signed over its method, path, query, body, timestamp
//     and nonce; a timestamp more than five minutes off is refused, and each
//     nonce is recorded by a replicated command before the request is
//     served, so it is taken once on whichever node, and two racing
//     requests with one nonce are served once.
//   - A public key belongs to one client, ever: a revoked key cannot be
//     registered again.
//   - Registering and revoking are important operations of the merchant's
//     administrator (revoking also of a platform operator).
package clients

import (
	"encoding/hex"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"cxt/crypto/sm"
)

// Client is a machine client as the state keeps it.
type Client struct {
	ID          string    `json:"id"`
	Merchant    string    `json:"merchant"`
	Name        string    `json:"name"`
	PublicKey   string    `json:"public_key"`      // PEM
	Fingerprint string    `json:"fingerprint_sm3"` // hex SM3 of the DER public key
	Actions     []string  `json:"actions"`
	AllowIPs    []string  `json:"allow_ips,omitempty"` // CIDRs; none: any address
	CallbackURL string    `json:"callback_url,omitempty"`
	Created     time.Time `json:"created"`
	CreatedBy   string    `json:"created_by"`
	Revoked     time.Time `json:"revoked,omitzero"`
	RevokedBy   string    `json:"revoked_by,omitempty"`
	Reason      string    `json:"revoke_reason,omitempty"`
}

// Live reports whether the client may still sign requests.
func (c *Client) Live() bool { return c.Revoked.IsZero() }

// Allows reports whether a request from addr may come from this client.
func (c *Client) Allows(addr string) bool {
	if len(c.AllowIPs) == 0 {
		return true
	}
	ip, err := netip.ParseAddr(addr)
	if err != nil {
		return false
	}
	ip = ip.Unmap()
	for _, s := range c.AllowIPs {
		if p, err := netip.ParsePrefix(s); err == nil && p.Contains(ip) {
			return true
		}
	}
	return false
}

// Limits of a registration.
const (
	MaxName     = 100
	MaxActions  = 50
	MaxAllowIPs = 32
	// MaxLive bounds a merchant's clients that are not revoked.
	MaxLive = 20
)

// CheckName trims a client's name and refuses an empty or long one, or one
// with control characters.
func CheckName(name string) (string, error) {
	name = strings.TrimSpace(name)
	if name == "" || utf8.RuneCountInString(name) > MaxName || strings.ContainsFunc(name, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return "", fmt.Errorf("name: 1-%d characters naming the system, without control characters", MaxName)
	}
	return name, nil
}

// CheckKey parses an SM2 public key and returns its PEM and fingerprint.
func CheckKey(pemKey string) (*sm.PublicKey, string, error) {
	pub, err := sm.ParsePublicKeyPEM([]byte(pemKey))
	if err != nil {
		return nil, "", fmt.Errorf("public_key: an SM2 public key in PEM (openssl pkey -in key.pem -pubout): %v", err)
	}
	fp := pub.Fingerprint()
	return pub, hex.EncodeToString(fp[:]), nil
}

// CheckAllowIPs parses CIDRs (or single addresses) and returns them in
// their canonical form.
func CheckAllowIPs(in []string) ([]string, error) {
	if len(in) > MaxAllowIPs {
		return nil, fmt.Errorf("allow_ips: at most %d", MaxAllowIPs)
	}
	var out []string
	for _, s := range in {
		s = strings.TrimSpace(s)
		p, err := netip.ParsePrefix(s)
		if err != nil {
			a, aerr := netip.ParseAddr(s)
			if aerr != nil || a.Zone() != "" {
				return nil, fmt.Errorf("allow_ips: %q is not an address or a CIDR such as 203.0.113.0/24", s)
			}
			p = netip.PrefixFrom(a, a.BitLen())
		}
		if p.Addr().Is4In6() {
			return nil, fmt.Errorf("allow_ips: write %q as an IPv4 address or CIDR", s)
		}
		p = p.Masked()
		if !slices.Contains(out, p.String()) {
			out = append(out, p.String())
		}
	}
	return out, nil
}

// CheckActionNames refuses an empty, long or repeated list of actions.
func CheckActionNames(actions []string) error {
	if len(actions) == 0 || len(actions) > MaxActions {
		return fmt.Errorf("actions: 1 to %d action names (docs/security.md's role table)", MaxActions)
	}
	seen := map[string]bool{}
	for _, a := range actions {
		if a == "" || seen[a] {
			return fmt.Errorf("actions: %q is empty or named twice", a)
		}
		seen[a] = true
	}
	return nil
}
