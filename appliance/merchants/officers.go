package merchants

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"cxt/appliance/api"
	"cxt/appliance/errs"
	"cxt/appliance/ident"
	"cxt/appliance/subjects"
	"cxt/crypto/sm"
	"cxt/policy"
	"cxt/storage/state"
)

// Officer roles (董监高, Company Law art. 178: directors, supervisors and
// senior managers).
const (
	RoleDirector   = "director"   // 董事
	RoleSupervisor = "supervisor" // 监事
	RoleManager    = "manager"    // 高级管理人员
)

// OfficerRoles lists the roles.
var OfficerRoles = []string{RoleDirector, RoleSupervisor, RoleManager}

// MaxOfficers bounds a merchant's list.
const MaxOfficers = 50

// Officer is one of a merchant's directors, supervisors or senior managers.
type Officer struct {
	Name     string `json:"name"`
	IDNumber string `json:"id_number"`
	Role     string `json:"role"`
}

// OfficersAAD names a merchant's sealed officers.
func OfficersAAD(id string) string { return "merchant/" + id + "/officers" }

// CmdOfficers replaces a merchant's officers (command set 6).
const CmdOfficers = "merchant.officers"

// Officers is the body of CmdOfficers: the list sealed under the
// merchant's key, and the blind indexes of the ID numbers.
type Officers struct {
	ID     string          `json:"id"`
	KeyID  uint32          `json:"key_id"`
	Sealed subjects.Sealed `json:"sealed"`
	Index  []string        `json:"index"` // hex, one per officer
	By     string          `json:"by"`
}

// PersonIndex is the blind index of a resident ID number, hex: HMAC-SM3
// under the keyring's index key with the label cxt/worker-id/v1 — the very
// index workers are found by (workers.Indexes, workers.IDIndexOf), so that
// an officer and a worker who are one person compare equal.
func PersonIndex(indexKey []byte, idNumber string) string {
	mac := sm.HMAC(indexKey, []byte("cxt/worker-id/v1\x00"), []byte(idNumber))
	return hex.EncodeToString(mac[:])
}

func setOfficers(tx *state.Tx, cmd *state.Command) ([]byte, error) {
	var o Officers
	if err := json.Unmarshal(cmd.Body, &o); err != nil || o.ID == "" || o.By == "" || len(o.Sealed) == 0 || len(o.Index) > MaxOfficers {
		return nil, state.Reject(state.InvalidRequest, "officers name the merchant, who sets them, the sealed list and at most %d indexes", MaxOfficers)
	}
	for _, x := range o.Index {
		if b, err := hex.DecodeString(x); err != nil || len(b) != sm.HashSize {
			return nil, state.Reject(state.InvalidRequest, "an officer's index is a hex HMAC-SM3")
		}
	}
	m, err := Get(tx, o.ID)
	if err != nil {
		return nil, err
	}
	if m.Status == Closed || m.Status == Rejected {
		return nil, state.Reject(CodeStatus, "a %s merchant names no officers", m.Status)
	}
	if err := subjects.Require(tx, m.ID, o.KeyID); err != nil {
		return nil, err
	}
	idx := slices.Clone(o.Index)
	slices.Sort(idx)
	idx = slices.Compact(idx)
	for _, x := range m.OfficerIndex {
		if _, still := slices.BinarySearch(idx, x); !still {
			if i, had := slices.BinarySearch(m.FormerOfficerIndex, x); !had {
				m.FormerOfficerIndex = slices.Insert(m.FormerOfficerIndex, i, x)
			}
		}
	}
	m.Officers, m.OfficerIndex = o.Sealed, idx
	return put(tx, m)
}

// IsOfficer reports whether the person whose ID number has the blind index
// idIndexHex (PersonIndex) is one of the merchant's officers.
func IsOfficer(tx policy.Getter, merchantID, idIndexHex string) (bool, error) {
	if idIndexHex == "" {
		return false, nil
	}
	m, err := Get(tx, merchantID)
	if err != nil {
		return false, err
	}
	return m.HasOfficer(idIndexHex), nil
}

// HasOfficer reports whether the person whose ID number has the blind
// index idIndexHex is, or was ever named, one of m's directors,
// supervisors or senior managers.
func (m *Merchant) HasOfficer(idIndexHex string) bool {
	if idIndexHex == "" {
		return false
	}
	x := strings.ToLower(idIndexHex)
	_, now := slices.BinarySearch(m.OfficerIndex, x)
	_, once := slices.BinarySearch(m.FormerOfficerIndex, x)
	return now || once
}

// officersIn is what PUT /merchants/{id}/officers takes.
type officersIn struct {
	Officers []Officer `json:"officers"`
}

// check validates the list: names, ID numbers (GB 11643) and roles; one
// person once.
func (in *officersIn) check(r *api.Request) error {
	const op = "set officers"
	if len(in.Officers) > MaxOfficers {
		return errs.E(op, errs.Invalid, "officers: at most %d", MaxOfficers)
	}
	seen := map[string]bool{}
	for i := range in.Officers {
		o := &in.Officers[i]
		o.Name = strings.TrimSpace(o.Name)
		if o.Name == "" || len([]rune(o.Name)) > maxName {
			return &errs.Error{Op: op, Kind: errs.Invalid, Code: errs.Invalid.Code(), Field: "officers", Msg: fmt.Sprintf("officers[%d].name: 1-%d characters", i, maxName)}
		}
		id, err := ident.ParseResidentID(strings.TrimSpace(o.IDNumber), r.Now())
		if err != nil {
			return err
		}
		o.IDNumber = id.Number
		if !slices.Contains(OfficerRoles, o.Role) {
			return &errs.Error{Op: op, Kind: errs.Invalid, Code: errs.Invalid.Code(), Field: "officers", Msg: fmt.Sprintf("officers[%d].role: director, supervisor or manager", i)}
		}
		if seen[o.IDNumber] {
			return &errs.Error{Op: op, Kind: errs.Invalid, Code: errs.Invalid.Code(), Field: "officers", Msg: fmt.Sprintf("officers[%d]: the same person twice", i)}
		}
		seen[o.IDNumber] = true
	}
	return nil
}

// putOfficers replaces the merchant's officers: its administrator or
// platform staff. The answer masks them like every personal field.
func (b *Backend) putOfficers(r *api.Request) (int, any, error) {
	var in officersIn
	if err := r.Decode(&in); err != nil {
		return 0, nil, err
	}
	if in.Officers == nil {
		return 0, nil, errs.E("set officers", errs.Invalid, "officers: the list, [] for none")
	}
	if err := in.check(r); err != nil {
		return 0, nil, err
	}
	m, key, err := load(r)
	if err != nil {
		return 0, nil, err
	}
	indexKey, err := r.Node.Keys().IndexKey()
	if err != nil {
		return 0, nil, err
	}
	sealed, err := subjects.Seal(key, OfficersAAD(m.ID), in.Officers)
	if err != nil {
		return 0, nil, err
	}
	idx := make([]string, len(in.Officers))
	for i, o := range in.Officers {
		idx[i] = PersonIndex(indexKey, o.IDNumber)
	}
	r.Audit.Object = m.ID
	v, err := r.Propose(state.NewCommand(CmdOfficers, mustJSON(Officers{ID: m.ID, KeyID: key.ID(), Sealed: sealed, Index: idx, By: r.Subject.ID}), r.Now()))
	if err != nil {
		return 0, nil, err
	}
	if m, err = decode(v); err != nil {
		return 0, nil, err
	}
	return 200, m.public(key, false), nil
}
