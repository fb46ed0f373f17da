package policy

import (
	"fmt"
	"slices"
	"strings"
)

// Tenancy is a code rule like mandatory access control: a merchant's users
// act only on what belongs to their merchant, a worker only on what is
// theirs, whatever the editable policy says (the policy says it too). Platform
// staff act across merchants by role. The request pipeline answers a request
// on another tenant's resource as if it were absent, so that guessing IDs
// learns nothing.

// TenantRoles are the roles whose holders act only within their tenant: a
// merchant's users and machine clients, and workers.
var TenantRoles = []string{"merchant_admin", "merchant_operator", MerchantClient, "worker"}

// RuleTenant names tenancy in refusals.
const RuleTenant = "tenant"

// TenantBound reports whether s acts only within a tenant.
func TenantBound(s Subject) bool {
	return slices.ContainsFunc(s.Roles, func(r string) bool { return slices.Contains(TenantRoles, r) })
}

// CheckTenant returns the violation of a tenant-bound subject acting on a
// tenanted resource that is not theirs, or nil.
func CheckTenant(in Input) *Violation {
	r, s := in.Resource, in.Subject
	if !r.Tenanted || !TenantBound(s) {
		return nil
	}
	if s.Merchant != "" && slices.Contains(r.Merchants, s.Merchant) || s.Worker != "" && r.Worker == s.Worker {
		return nil
	}
	return &Violation{Rule: RuleTenant, Role: strings.Join(s.Roles, "+"), Action: in.Action,
		Why: fmt.Sprintf("%s may %s only on what belongs to their own merchant or to themselves", s.ID, in.Action)}
}
