# Authorization of every API action: deny by default, roles from a table,
# separation of duties among the three administrators, and mandatory access
# control by security label. Evaluated as data.cxt.authz.decision.
package cxt.authz

import rego.v1

# The role table (rego/data.json) is data, not rules, so that it is looked up
# rather than evaluated on every request.
admins := {r | some r in data.cxt.roles.admins}

permissions := data.cxt.roles.permissions

needs_mfa := {a | some a in data.cxt.roles.needs_mfa}

# allow is the fast path the appliance evaluates on every request; decision
# (with the reasons) is evaluated only to explain a denial.
default allow := false

allow if {
	some role in input.subject.roles
	role in permissions[input.action]
	input.resource.label <= input.subject.clearance
	mfa_satisfied
	tenant_satisfied
	scope_satisfied
	not acts_on_self
	not grants_two_admin_roles
}

mfa_satisfied if not needs_mfa[input.action]

mfa_satisfied if input.subject.mfa

# Tenancy: a merchant's users act only on what belongs to their merchant, a
# worker only on what is theirs; platform staff act across merchants by role.
# (The appliance enforces this in code as well, whatever a policy says.)
tenant_roles := {"merchant_admin", "merchant_operator", "merchant_client", "worker"}

tenant_bound if {
	some role in input.subject.roles
	role in tenant_roles
}

default tenant_satisfied := false

tenant_satisfied if not input.resource.tenanted

tenant_satisfied if {
	input.resource.tenanted
	not tenant_bound
}

tenant_satisfied if {
	input.resource.tenanted
	input.subject.merchant != ""
	input.subject.merchant in input.resource.merchants
}

tenant_satisfied if {
	input.resource.tenanted
	input.subject.worker != ""
	input.subject.worker == input.resource.worker
}

# A merchant's machine client (role merchant_client) acts only on the
# actions it was registered for, listed in its subject's scope. (The
# appliance enforces this in code as well, whatever a policy says.)
scope_bound if "merchant_client" in input.subject.roles

default scope_satisfied := false

scope_satisfied if not scope_bound

scope_satisfied if {
	scope_bound
	input.action in input.subject.scope
}

acts_on_self if {
	input.action in {"accounts.roles", "accounts.unlock", "accounts.close", "accounts.mfa_reset"}
	input.resource.owner == input.subject.id
}

grants_two_admin_roles if {
	input.action in {"accounts.create", "accounts.roles"}
	count(admins & {r | some r in input.resource.roles}) > 1
}

default decision := {"allow": false, "reasons": ["denied by default"]}

decision := {"allow": true, "reasons": []} if {
	count(deny) == 0
}

decision := {"allow": false, "reasons": sort(deny)} if {
	count(deny) > 0
}

deny contains "unknown action" if {
	not permissions[input.action]
}

deny contains sprintf("no role of the caller may %s", [input.action]) if {
	permissions[input.action]
	not has_role
}

has_role if {
	some role in input.subject.roles
	role in permissions[input.action]
}

# Mandatory access control: the caller's clearance must dominate the
# resource's label (no read up, no write up).
deny contains "the resource's security label is above the caller's clearance" if {
	input.resource.label > input.subject.clearance
}

deny contains "a second factor is required for this action" if {
	needs_mfa[input.action]
	not input.subject.mfa
}

deny contains "the resource belongs to another tenant" if not tenant_satisfied

deny contains "the action is outside the machine client's scope" if not scope_satisfied

# Nobody changes their own roles, closes or unlocks themselves: separation of duties.
deny contains "an administrator cannot act on their own account here" if acts_on_self

# A role change may not make an account hold two administrator roles.
deny contains "an account may hold at most one administrator role" if grants_two_admin_roles
