package node

import (
	"fmt"
	"slices"
	"time"

	"cxt/appliance/identity"
)

// passwordAges applies node.json's security.password_max_age to p: a role
// name the appliance does not know is a typo that would silently keep the
// default, so it stops the node from starting.
func passwordAges(p *identity.Policy, ages map[string]string) error {
	if len(ages) == 0 {
		return nil
	}
	known := append(slices.Clone(identity.AdminRoles), identity.PlatformOperator, identity.PlatformReviewer,
		identity.MerchantAdmin, identity.MerchantOperator, identity.Worker)
	p.PasswordMaxAge = make(map[string]time.Duration, len(ages))
	for role, s := range ages {
		if !slices.Contains(known, role) {
			return fmt.Errorf("node.json security.password_max_age: %q is not an account role (one of %v)", role, known)
		}
		d, err := identity.ParseAge(s)
		if err != nil {
			return fmt.Errorf("node.json security.password_max_age.%s: %v", role, err)
		}
		p.PasswordMaxAge[role] = d
	}
	return nil
}
