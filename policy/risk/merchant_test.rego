package cxt.risk.merchant_test

import rego.v1

import data.cxt.risk.merchant

base := {
	"merchant": {"id": "m_1", "operating_model": "operating", "uscc_valid": true, "officers": 2},
	"documents": [{"kind": "business_licence", "expires": "2030-06-30"}, {"kind": "bank_permit", "expires": ""}],
	"today": "2026-03-01",
}

decide(patch) := d if {
	d := merchant.decision with input as json.patch(base, [{"op": "replace", "path": p, "value": v} | some p, v in patch])
}

rules(d) := {h.rule | some h in d.hits}

test_a_qualified_merchant_is_allowed if {
	decide({}) == {"outcome": "allow", "rule": "", "code": "", "reason": "", "hits": []}
}

test_a_licence_without_expiry_is_in_force if {
	decide({"/documents": [{"kind": "business_licence", "expires": ""}]}).outcome == "allow"
}

test_no_licence_rejects if {
	d := decide({"/documents": [{"kind": "bank_permit", "expires": ""}]})
	[d.outcome, d.rule, d.code] == ["reject", "documents.missing", "risk_qualification"]
	d.reason == "merchant m_1 has not filed: business_licence"
}

test_an_expired_licence_rejects_and_its_last_day_does_not if {
	d := decide({"/documents": [{"kind": "business_licence", "expires": "2026-02-28"}]})
	[d.outcome, d.rule] == ["reject", "documents.expired"]
	d.reason == "the documents of merchant m_1 have expired: business_licence"
	decide({"/documents": [{"kind": "business_licence", "expires": "2026-03-01"}]}).rule == "documents.expiring"
}

test_a_renewed_licence_beside_an_expired_one_counts if {
	decide({"/documents": [
		{"kind": "business_licence", "expires": "2025-01-01"},
		{"kind": "business_licence", "expires": "2031-01-01"},
	]}).outcome == "allow"
}

test_a_licence_expiring_within_the_window_holds if {
	d := decide({"/documents": [{"kind": "business_licence", "expires": "2026-03-30"}]})
	[d.outcome, d.rule, d.code] == ["hold", "documents.expiring", "risk_documents_expiring"]
	d.reason == "the documents of merchant m_1 expire within 30 days: business_licence"
	decide({"/documents": [{"kind": "business_licence", "expires": "2026-03-31"}]}).outcome == "allow"
}

test_a_failed_credit_code_and_no_model_reject if {
	decide({"/merchant/uscc_valid": false}).rule == "uscc.invalid"
	decide({"/merchant/operating_model": ""}).rule == "model.unset"
	decide({"/merchant/operating_model": ""}).code == "risk_qualification"
}

test_a_listed_merchant_is_rejected if {
	d := merchant.decision with input as base with data.cxt.risk_lists.black.merchants as ["m_1"]
	[d.outcome, d.rule, d.code] == ["reject", "lists.merchant", "risk_blacklisted_merchant"]
}

test_no_officers_holds_unless_the_settings_say_otherwise if {
	d := decide({"/merchant/officers": 0})
	[d.outcome, d.rule, d.code] == ["hold", "officers.missing", "risk_officers_missing"]
	off := object.union(data.cxt.risk_settings.merchant, {"require_officers": false})
	e := merchant.decision with input as json.patch(base, [{"op": "replace", "path": "/merchant/officers", "value": 0}])
		with data.cxt.risk_settings.merchant as off
	e.outcome == "allow"
}

test_a_reject_comes_before_a_hold_and_every_hit_is_listed if {
	d := decide({"/merchant/officers": 0, "/merchant/uscc_valid": false, "/documents": []})
	d.outcome == "reject"
	d.rule == "documents.missing" # rejects by name order
	rules(d) == {"documents.missing", "uscc.invalid", "officers.missing"}
	d.hits[2].rule == "officers.missing" # holds after rejects
}
