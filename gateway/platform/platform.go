// Package platform keeps what the gateway says about the platform itself:
// its profile — the tax office it reports to (主管税务机关), which sees the
// whole feed, its legal name, credit code, domain, business type and
// operating entities, for the feed's scope and the quarterly
// basic-information report — and the SM2 key that signs every page the
// gateway serves.
//
// Invariants:
//   - The profile is set by the system administrator as an important
//     operation, checked by the state machine as by the API; every
//     version is kept, numbered from 1, so a report names the version it
//     was made from.
//   - The gateway key is made once by the leader after the cluster speaks
//     command set 5 (package platformkey; its private half is wrapped by
//     the keyring, purpose signing), and never changes: every page a
//     bureau ever pulled verifies with the key it fetched once.
package platform

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"log/slog"
	"regexp"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"cxt/appliance/ident"
	"cxt/appliance/platformkey"
	"cxt/crypto/keyring"
	"cxt/crypto/sm"
	"cxt/storage/cluster"
	"cxt/storage/state"
)

// Buckets.
const (
	Bucket    = "gateway-platform" // "profile" -> Profile in force; "v" ‖ version (8 bytes) -> Profile
	KeyBucket = "gateway-key"      // "key" -> platformkey.Key
)

// Command types (command set 5).
const (
	CmdProfile = "gateway.platform"
	CmdKey     = "gateway.key"
)

// Slot is where the gateway key lives.
var Slot = platformkey.Slot{Bucket: KeyBucket, Name: []byte("key"), AAD: []byte("cxt/gateway/feed-key/v1"),
	Command: CmdKey, Label: "gateway key", Action: "gateway.key"}

// Register adds the platform's buckets and commands.
func Register(reg *state.Registry) {
	reg.Bucket(Bucket)
	reg.Bucket(KeyBucket)
	reg.HandleFrom(state.GatewaySet, CmdProfile, setProfile)
	reg.HandleFrom(state.GatewaySet, CmdKey, Slot.Install)
}

// Profile is the platform as it reports itself to the tax authorities.
type Profile struct {
	Office       string    `json:"office"` // its 主管税务机关: sees the whole feed
	LegalName    string    `json:"legal_name"`
	USCC         string    `json:"uscc"`
	Domain       string    `json:"domain"`
	BusinessType string    `json:"business_type"`
	Entities     []Entity  `json:"operating_entities"`
	Version      int       `json:"version"`
	Updated      time.Time `json:"updated"`
	UpdatedBy    string    `json:"updated_by"`
}

// Entity is one operating entity (经营主体) of the platform.
type Entity struct {
	Name string `json:"name"`
	USCC string `json:"uscc"`
}

// Limits of a profile.
const (
	MaxText     = 200
	MaxEntities = 50
)

var domainRE = regexp.MustCompile(`^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$`)

// FieldError names the field a profile is refused for.
type FieldError struct {
	Field string
	Err   error
}

func (e *FieldError) Error() string { return e.Err.Error() }
func (e *FieldError) Unwrap() error { return e.Err }

func text(field, s string) (string, error) {
	s = strings.TrimSpace(s)
	if s == "" || utf8.RuneCountInString(s) > MaxText || strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return "", &FieldError{field, fmt.Errorf("%s: 1-%d characters without control characters", field, MaxText)}
	}
	return s, nil
}

// Check returns p in its canonical form (trimmed, the credit codes as
// parsed, the domain in lower case), or the first field that is wrong.
func Check(p Profile) (Profile, error) {
	var err error
	if err := ident.CheckTaxOffice(p.Office); err != nil {
		return p, &FieldError{"office", err}
	}
	if p.LegalName, err = text("legal_name", p.LegalName); err != nil {
		return p, err
	}
	u, err := ident.ParseUSCC(strings.TrimSpace(p.USCC))
	if err != nil {
		return p, &FieldError{"uscc", err}
	}
	p.USCC = u.Code
	p.Domain = strings.ToLower(strings.TrimSpace(p.Domain))
	if len(p.Domain) > 253 || !domainRE.MatchString(p.Domain) {
		return p, &FieldError{"domain", fmt.Errorf("domain: the platform's domain name, such as cxt.example.cn")}
	}
	if p.BusinessType, err = text("business_type", p.BusinessType); err != nil {
		return p, err
	}
	if len(p.Entities) == 0 || len(p.Entities) > MaxEntities {
		return p, &FieldError{"operating_entities", fmt.Errorf("operating_entities: 1 to %d, each a name and a credit code", MaxEntities)}
	}
	entities := make([]Entity, len(p.Entities))
	for i, e := range p.Entities {
		if e.Name, err = text("operating_entities", e.Name); err != nil {
			return p, err
		}
		u, err := ident.ParseUSCC(strings.TrimSpace(e.USCC))
		if err != nil {
			return p, &FieldError{"operating_entities", err}
		}
		e.USCC = u.Code
		entities[i] = e
	}
	p.Entities = entities
	return p, nil
}

var profileKey = []byte("profile")

func versionKey(v int) []byte { return binary.BigEndian.AppendUint64([]byte("v"), uint64(v)) }

type getter interface {
	Get(bucket string, key []byte) ([]byte, error)
}

// Get reads the profile in force; nil if none was set yet.
func Get(tx getter) (*Profile, error) { return read(tx, profileKey) }

// Version reads a version of the profile; nil if there is none.
func Version(tx getter, v int) (*Profile, error) { return read(tx, versionKey(v)) }

func read(tx getter, k []byte) (*Profile, error) {
	b, err := tx.Get(Bucket, k)
	if err != nil || b == nil {
		return nil, err
	}
	var p Profile
	if err := json.Unmarshal(b, &p); err != nil {
		return nil, fmt.Errorf("platform profile: %w", err)
	}
	return &p, nil
}

// Office is the platform's own tax office, "" while no profile is set.
func Office(tx getter) (string, error) {
	p, err := Get(tx)
	if p == nil || err != nil {
		return "", err
	}
	return p.Office, nil
}

// setProfile puts a new version of the profile in force.
func setProfile(tx *state.Tx, cmd *state.Command) ([]byte, error) {
	var in Profile
	if err := json.Unmarshal(cmd.Body, &in); err != nil || in.UpdatedBy == "" {
		return nil, state.Reject(state.InvalidRequest, "a platform profile names who sets it")
	}
	p, err := Check(in)
	if err != nil {
		return nil, state.Reject(state.InvalidRequest, "%v", err)
	}
	prev, err := Get(tx)
	if err != nil {
		return nil, err
	}
	p.Version, p.Updated = 1, tx.Time()
	if prev != nil {
		p.Version = prev.Version + 1
	}
	b, err := json.Marshal(p)
	if err != nil {
		return nil, err
	}
	if err := tx.Put(Bucket, versionKey(p.Version), b); err != nil {
		return nil, err
	}
	return b, tx.Put(Bucket, profileKey, b)
}

// Keep makes the gateway key while this node leads, once the cluster
// speaks its command set, and returns when the key exists or ctx ends.
func Keep(ctx context.Context, c *cluster.Node, now func() time.Time, log *slog.Logger, every time.Duration) {
	if every <= 0 {
		every = time.Second
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		if c.Status().Role == "leader" && c.State().Proposable(CmdKey) == nil {
			if k, err := Slot.Ensure(ctx, c, now()); err == nil && k != nil {
				return
			} else if err != nil && ctx.Err() == nil {
				log.Warn("gateway: no gateway key yet; retrying", "err", err)
			}
		} else if k, _ := key(c); k != nil {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func key(c *cluster.Node) (*platformkey.Key, error) {
	var k *platformkey.Key
	err := c.State().View(func(tx *state.ReadTx) error {
		var err error
		k, err = Slot.Get(tx)
		return err
	})
	return k, err
}

// Signer opens the gateway key for signing pages; it keeps the opened key
// for the next page.
type Signer struct {
	mu     sync.Mutex
	fp     string
	opened *sm.PrivateKey
}

// Key returns the gateway key in tx and its private half, or nil if the
// leader has not made it yet.
func (s *Signer) Key(tx *state.ReadTx, keys *keyring.Keyring) (*platformkey.Key, *sm.PrivateKey, error) {
	k, err := Slot.Get(tx)
	if k == nil || err != nil {
		return nil, nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fp != k.Fingerprint {
		priv, err := Slot.Open(keys, k)
		if err != nil {
			return nil, nil, err
		}
		s.fp, s.opened = k.Fingerprint, priv
	}
	return k, s.opened, nil
}
