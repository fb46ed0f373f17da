package cxt.risk.rating_test

import rego.v1

import data.cxt.risk.rating

rate(patch) := r if {
	r := rating.rating with input as object.union(
		{"status": "approved", "document_kinds": [], "agreement_signed": false, "months_approved": 0},
		patch,
	)
}

values(r) := {e.input: e.value | some e in r.explain}

test_the_weights_add_up_to_100 if {
	sum([i.weight | some i in data.cxt.risk_settings.rating.inputs]) == 100
}

test_a_new_approved_merchant_with_nothing_on_file if {
	r := rate({})
	[r.score, r.grade] == ["40.00", "D"]
	values(r) == {"qualification": 100, "documents": 0, "agreement": 0, "tenure": 0, "returns": 0, "findings": 100}
	[e.input | some e in r.explain] == ["qualification", "documents", "agreement", "tenure", "returns", "findings"]
}

test_a_business_licence_lifts_it_to_52 if {
	rate({"document_kinds": ["business_licence"]}).score == "52.00"
}

test_documents_count_each_kind_once_and_at_most_100 if {
	values(rate({"document_kinds": ["business_licence", "business_licence"]})).documents == 60
	values(rate({"document_kinds": ["other", "bank_permit"]})).documents == 40
	values(rate({"document_kinds": ["business_licence", "bank_permit", "legal_rep_id", "other"]})).documents == 100
}

test_a_long_standing_merchant_with_a_clean_history_is_graded_a if {
	r := rate({
		"document_kinds": ["business_licence", "bank_permit", "legal_rep_id"], "agreement_signed": true,
		"months_approved": 14, "payments": 1000, "returns": 0,
	})
	[r.score, r.grade] == ["100.00", "A"]
}

test_returns_cost_10_points_a_percent if {
	values(rate({"payments": 200, "returns": 3})).returns == 85
	values(rate({"payments": 200, "returns": 30})).returns == 0
	values(rate({"payments": 3, "returns": 1})).returns == 0
	values(rate({"payments": 1000, "returns": 1})).returns == 99
}

test_findings_and_complaints_cost_20_points_each if {
	r := rate({"findings": 1, "complaints": 2})
	values(r).findings == 40
	[e.why | some e in r.explain; e.input == "findings"] == ["1 inspection findings, 2 complaints"]
	values(rate({"findings": 9})).findings == 0
}

test_missing_history_fields_default_to_zero if {
	r := rating.rating with input as {"status": "applied", "document_kinds": [], "agreement_signed": false}
	r.score == "25.00"
}

test_grades_follow_the_score_boundaries if {
	# licence + agreement + approved: 30 + 12 + 20 + 10 (no findings) = 72
	r := rate({"document_kinds": ["business_licence"], "agreement_signed": true})
	[r.score, r.grade] == ["72.00", "B"]
	# 50.00 exactly is C, 49.00 is D
	s := rate({"months_approved": 10})
	[s.score, s.grade] == ["50.00", "C"]
	u := rate({"months_approved": 9})
	[u.score, u.grade] == ["49.00", "D"]
	t := rate({"status": "more_info", "document_kinds": ["business_licence", "bank_permit"], "agreement_signed": true, "months_approved": 0})
	[t.score, t.grade] == ["53.50", "C"]
}

test_the_explanation_names_the_settings_version if {
	rate({}).version == data.cxt.risk_settings.rating.version
}
