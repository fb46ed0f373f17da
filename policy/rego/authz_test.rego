package cxt.authz_test

import rego.v1

import data.cxt.authz

subject(roles) := {"id": "u1", "roles": roles, "clearance": 2, "mfa": true}

test_unknown_actions_are_denied if {
	not authz.decision.allow with input as {"action": "nope", "subject": subject({"security_admin"}), "resource": {}}
}

test_anonymous_may_log_in_but_not_search_audit if {
	authz.decision.allow with input as {"action": "sessions.create", "subject": subject({"anonymous"}), "resource": {}}
	not authz.decision.allow with input as {"action": "audit.search", "subject": subject({"anonymous"}), "resource": {}}
}

test_only_audit_admins_search_the_audit_log if {
	authz.decision.allow with input as {"action": "audit.search", "subject": subject({"audit_admin"}), "resource": {}}
	not authz.decision.allow with input as {"action": "audit.search", "subject": subject({"security_admin"}), "resource": {}}
	not authz.decision.allow with input as {"action": "audit.search", "subject": subject({"system_admin"}), "resource": {}}
}

test_no_read_up if {
	not authz.decision.allow with input as {"action": "tax.quote", "subject": subject({"worker"}), "resource": {"label": 3}}
	authz.decision.allow with input as {"action": "tax.quote", "subject": subject({"worker"}), "resource": {"label": 2}}
}

test_security_admin_cannot_change_own_roles if {
	not authz.decision.allow with input as {"action": "accounts.roles", "subject": subject({"security_admin"}), "resource": {"owner": "u1", "roles": ["worker"]}}
	authz.decision.allow with input as {"action": "accounts.roles", "subject": subject({"security_admin"}), "resource": {"owner": "u2", "roles": ["worker"]}}
}

test_security_admin_cannot_close_own_account if {
	not authz.decision.allow with input as {"action": "accounts.close", "subject": subject({"security_admin"}), "resource": {"owner": "u1"}}
	authz.decision.allow with input as {"action": "accounts.close", "subject": subject({"security_admin"}), "resource": {"owner": "u2"}}
}

test_only_administrators_take_part_in_approvals if {
	authz.decision.allow with input as {"action": "approvals.decide", "subject": subject({"system_admin"}), "resource": {}}
	not authz.decision.allow with input as {"action": "approvals.decide", "subject": subject({"worker"}), "resource": {}}
}

test_two_admin_roles_are_never_granted if {
	not authz.decision.allow with input as {"action": "accounts.roles", "subject": subject({"security_admin"}), "resource": {"owner": "u2", "roles": ["system_admin", "audit_admin"]}}
}

test_sensitive_actions_need_a_second_factor if {
	s := object.union(subject({"security_admin"}), {"mfa": false})
	not authz.decision.allow with input as {"action": "accounts.unlock", "subject": s, "resource": {"owner": "u2"}}
}

test_denials_say_why if {
	d := authz.decision with input as {"action": "audit.search", "subject": subject({"worker"}), "resource": {}}
	d.reasons == ["no role of the caller may audit.search"]
}

# allow (the fast path) and decision (with reasons) must always agree.
test_allow_and_decision_agree if {
	every action in object.keys(authz.permissions) | {"unknown"} {
		every roles in [{"anonymous"}, {"worker"}, {"security_admin"}, {"audit_admin"}, {"system_admin"}] {
			every mfa in [true, false] {
				inp := {"action": action, "subject": {"id": "u1", "roles": roles, "clearance": 2, "mfa": mfa}, "resource": {"owner": "u2", "label": 1, "roles": []}}
				a := authz.allow with input as inp
				d := authz.decision with input as inp
				a == d.allow
			}
		}
	}
}

tenant(roles, merchant, worker) := {"id": "u9", "roles": roles, "clearance": 2, "mfa": true, "merchant": merchant, "worker": worker}

test_a_merchants_users_act_only_on_their_merchants_records if {
	authz.decision.allow with input as {"action": "tax.quote", "subject": tenant({"merchant_admin"}, "m_1", ""), "resource": {"label": 1, "tenanted": true, "merchants": ["m_1", "m_3"]}}
	not authz.decision.allow with input as {"action": "tax.quote", "subject": tenant({"merchant_admin"}, "m_2", ""), "resource": {"label": 1, "tenanted": true, "merchants": ["m_1"]}}
	not authz.decision.allow with input as {"action": "tax.quote", "subject": tenant({"merchant_operator"}, "", ""), "resource": {"label": 1, "tenanted": true, "merchants": [""]}}
	"the resource belongs to another tenant" in authz.decision.reasons with input as {"action": "tax.quote", "subject": tenant({"merchant_admin"}, "m_2", ""), "resource": {"label": 1, "tenanted": true, "merchants": ["m_1"]}}
}

test_a_worker_acts_only_on_their_own_records if {
	authz.decision.allow with input as {"action": "tax.quote", "subject": tenant({"worker"}, "", "w_1"), "resource": {"label": 1, "tenanted": true, "worker": "w_1"}}
	not authz.decision.allow with input as {"action": "tax.quote", "subject": tenant({"worker"}, "", "w_1"), "resource": {"label": 1, "tenanted": true, "worker": "w_2", "merchants": ["m_1"]}}
}

test_platform_staff_act_across_merchants_by_role if {
	authz.decision.allow with input as {"action": "tax.quote", "subject": tenant({"platform_operator"}, "", ""), "resource": {"label": 1, "tenanted": true, "merchants": ["m_1"]}}
	authz.decision.allow with input as {"action": "tax.quote", "subject": tenant({"platform_reviewer"}, "", ""), "resource": {"label": 1, "tenanted": true, "worker": "w_1"}}
}

client(merchant, scope) := {"id": "cl_1", "roles": {"merchant_client"}, "clearance": 1, "mfa": false, "merchant": merchant, "scope": scope}

test_a_machine_client_acts_only_within_its_scope_and_its_merchant if {
	authz.decision.allow with input as {"action": "workers.list", "subject": client("m_1", {"workers.list"}), "resource": {"label": 1}}
	not authz.decision.allow with input as {"action": "workers.list", "subject": client("m_1", {"merchants.read"}), "resource": {"label": 1}}
	"the action is outside the machine client's scope" in authz.decision.reasons with input as {"action": "workers.list", "subject": client("m_1", {"merchants.read"}), "resource": {"label": 1}}
	authz.decision.allow with input as {"action": "merchants.read", "subject": client("m_1", {"merchants.read"}), "resource": {"label": 1, "tenanted": true, "merchants": ["m_1"]}}
	not authz.decision.allow with input as {"action": "merchants.read", "subject": client("m_2", {"merchants.read"}), "resource": {"label": 1, "tenanted": true, "merchants": ["m_1"]}}
}

test_a_scope_gives_a_client_no_action_its_role_lacks if {
	not authz.decision.allow with input as {"action": "accounts.create", "subject": client("m_1", {"accounts.create"}), "resource": {"label": 1}}
	not authz.decision.allow with input as {"action": "merchants.close", "subject": client("m_1", {"merchants.close"}), "resource": {"label": 1}}
}
