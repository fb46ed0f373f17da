package billing

import (
	"encoding/json"
	"fmt"

	"cxt/appliance/merchants"
	"cxt/storage/state"
)

// Buckets.
const (
	ConfigsBucket = "billing-configs" // merchant ID "/" version, 10 digits -> Config
	IndexBucket   = "billing-index"   // merchant ID -> []Entry, oldest first
)

// CmdSet records a new version of a merchant's fee configuration; its body
// is the Config, numbered as the version it will be.
const CmdSet = "billing.set"

// Refusals besides the general ones.
var (
	// CodeBackdated: a version may not take effect before today.
	CodeBackdated = state.NewCode(state.KindInvalid, "billing_backdated")
	// CodeVersion: the version is not the next one, or its day is not
	// after the latest version's.
	CodeVersion = state.NewCode(state.KindConflict, "billing_version")
)

// Entry is a version as a merchant's index lists it.
type Entry struct {
	Version   int  `json:"version"`
	Effective Date `json:"effective"`
}

// Register adds the billing buckets and commands (command set 4).
func Register(reg *state.Registry) {
	reg.Bucket(ConfigsBucket)
	reg.Bucket(IndexBucket)
	reg.HandleFrom(state.MoneySet, CmdSet, set)
}

func configKey(merchant string, version int) []byte {
	return fmt.Appendf(nil, "%s/%010d", merchant, version)
}

func set(tx *state.Tx, cmd *state.Command) ([]byte, error) {
	var c Config
	if err := json.Unmarshal(cmd.Body, &c); err != nil {
		return nil, state.Reject(state.InvalidRequest, "a fee configuration: %v", err)
	}
	if c.Merchant == "" || c.By == "" || c.Version < 1 || c.Version > maxVersion {
		return nil, state.Reject(state.InvalidRequest, "a fee configuration names its merchant, its version and who set it")
	}
	if err := c.Validate(); err != nil {
		return nil, state.Reject(state.InvalidRequest, "%v", err)
	}
	m, err := merchants.Get(tx, c.Merchant)
	if err != nil {
		return nil, err
	}
	if m.Status == merchants.Closed || m.Status == merchants.Rejected {
		return nil, state.Reject(merchants.CodeStatus, "a %s merchant is charged no fees", m.Status)
	}
	now := tx.Time()
	if today := Day(now); c.Effective < today {
		return nil, state.Reject(CodeBackdated, "a version takes effect today (%s) or later, not on %s: fees already charged are never re-priced", today, c.Effective)
	}
	index, err := Index(tx, c.Merchant)
	if err != nil {
		return nil, err
	}
	next := 1
	if len(index) > 0 {
		last := index[len(index)-1]
		next = last.Version + 1
		if c.Effective <= last.Effective {
			return nil, state.Reject(CodeVersion, "version %d takes effect on %s: a new version takes effect after it", last.Version, last.Effective)
		}
	}
	if c.Version != next {
		return nil, state.Reject(CodeVersion, "the next version of %s's fees is %d, not %d: read its versions again", c.Merchant, next, c.Version)
	}
	c.Created = now
	b, err := json.Marshal(&c)
	if err != nil {
		return nil, err
	}
	ib, err := json.Marshal(append(index, Entry{Version: c.Version, Effective: c.Effective}))
	if err != nil {
		return nil, err
	}
	if err := tx.Put(ConfigsBucket, configKey(c.Merchant, c.Version), b); err != nil {
		return nil, err
	}
	return b, tx.Put(IndexBucket, []byte(c.Merchant), ib)
}
