package cxt.sys_test

import rego.v1

import data.cxt.authz

subject(roles) := {"id": "u1", "roles": roles, "clearance": 2, "mfa": true}

decide(action, roles) if {
	authz.decision.allow with input as {"action": action, "subject": subject(roles), "resource": {"label": 1}}
}

# Probes and load balancers have no session: health is for everyone.
test_anyone_may_ask_for_health if {
	decide("sys.health", {"anonymous"})
	decide("sys.health", {"worker"})
}

# Addresses, terms, key terms and the policy version are for administrators.
test_only_administrators_see_the_full_status if {
	not decide("sys.status", {"anonymous"})
	not decide("sys.status", {"worker"})
	not decide("sys.status", {"merchant_admin"})
	decide("sys.status", {"system_admin"})
	decide("sys.status", {"security_admin"})
	decide("sys.status", {"audit_admin"})
}

# A key share is given without a session: a sealed node cannot read one.
test_unseal_is_anonymous if {
	decide("sys.unseal", {"anonymous"})
	not decide("sys.unseal", {"worker"})
}
