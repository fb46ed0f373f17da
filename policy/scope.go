package policy

import (
	"slices"
	"strings"
)

// A machine client — a merchant's back-end system that signs its requests
// with a registered SM2 key (appliance/clients) — acts with the role
// MerchantClient, within its merchant's tenancy like the merchant's users,
// and only on the actions it was registered for: its scope. The scope is a
// code rule like tenancy and the labels: the policy says it too, and the
// pipeline refuses an action outside the scope whatever the policy says.

// MerchantClient is the role of a merchant's machine client.
const MerchantClient = "merchant_client"

// RuleScope names the scope rule in refusals.
const RuleScope = "client_scope"

// ReasonScope is the policy's denial reason for an action outside a
// client's scope.
const ReasonScope = "the action is outside the machine client's scope"

// ScopeBound reports whether s acts only within a scope of actions.
func ScopeBound(s Subject) bool { return slices.Contains(s.Roles, MerchantClient) }

// CheckScope returns the violation of a scope-bound subject acting outside
// its scope, or nil.
func CheckScope(in Input) *Violation {
	if !ScopeBound(in.Subject) || slices.Contains(in.Subject.Scope, in.Action) {
		return nil
	}
	return &Violation{Rule: RuleScope, Role: strings.Join(in.Subject.Roles, "+"), Action: in.Action,
		Why: "machine client " + in.Subject.ID + " is not registered for " + in.Action}
}
