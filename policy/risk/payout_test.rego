package cxt.risk.payout_test

import rego.v1

import data.cxt.risk.payout

base := {
	"amount_fen": 120000,
	"merchant": {"id": "m_1", "status": "approved", "grade": "B", "day_fen": 0},
	"worker": {
		"id": "w_1", "id_bi": "aa11", "card_bi": "cc11", "device_bi": "dd11",
		"verified": true, "signed": true, "blacklisted": false, "officer": false,
		"day_fen": 0, "month_fen": 0, "year_fen": 0, "day_merchants": 1, "day_near": 0,
	},
	"task": {"present": true, "accepted": true, "budget_fen": 500000},
}

row(patch) := json.patch(base, [{"op": "replace", "path": p, "value": v} | some p, v in patch])

decide(patch) := d if {
	d := payout.decision with input as row(patch)
}

lists(black) := object.union(data.cxt.risk_lists, {"black": black})

test_an_ordinary_row_is_allowed if {
	decide({}) == {"outcome": "allow", "rule": "", "code": "", "reason": "", "clearable": false, "hits": []}
}

test_a_merchant_not_approved_is_rejected if {
	d := decide({"/merchant/status": "suspended"})
	d.outcome == "reject"
	d.rule == "merchant.status"
	d.reason == "merchant m_1 is suspended"
}

test_a_low_grade_merchants_rows_wait if {
	d := decide({"/merchant/grade": "D"})
	[d.outcome, d.rule, d.code] == ["hold", "merchant.rating", "risk_merchant_rating"]
}

test_a_merchant_the_rules_could_not_rate_waits if {
	d := decide({"/merchant/grade": ""})
	[d.outcome, d.code] == ["hold", "risk_merchant_rating"]
	d.reason == "merchant m_1 is rated nothing (the rating rules gave no grade); its payments wait for a person"
}

test_the_operational_blacklist_rejects if {
	decide({"/worker/blacklisted": true}).code == "risk_blacklisted"
}

test_listed_ids_cards_devices_and_merchants if {
	l := lists({"ids": ["aa11"], "cards": ["cc11"], "devices": ["dd11"], "merchants": ["m_1"]})
	d := payout.decision with input as row({}) with data.cxt.risk_lists as l
	{h.rule | some h in d.hits} == {"lists.worker", "lists.card", "lists.device", "lists.merchant"}
	d.outcome == "reject"
	d.rule == "lists.card" # rejects by name order
}

test_identity_state_holds if {
	decide({"/worker/verified": false}).code == "worker_unverified"
	decide({"/worker/signed": false}).code == "agreement_unsigned"
	decide({"/worker/signed": false}).outcome == "hold"
}

test_paying_the_merchants_own_officer_is_rejected if {
	d := decide({"/worker/officer": true})
	[d.outcome, d.code] == ["reject", "risk_officer"]
	d.reason == "worker w_1 is a director, supervisor or senior manager of merchant m_1"
}

test_the_per_payment_limit_is_inclusive if {
	decide({"/amount_fen": 5000000, "/task/budget_fen": 9000000}).outcome == "allow"
	d := decide({"/amount_fen": 5000001, "/task/budget_fen": 9000000})
	d.code == "risk_payment_limit"
	d.reason == "50000.01 is over the per-payment limit of 50000.00"
}

test_worker_day_month_and_year_limits if {
	decide({"/worker/day_fen": 8900000}).code == "risk_daily_limit"
	decide({"/worker/month_fen": 9900000}).code == "risk_monthly_limit"
	decide({"/worker/year_fen": 119900000}).code == "risk_yearly_limit"
	decide({"/worker/year_fen": 119880000}).outcome == "allow"
}

test_the_merchant_day_limit_holds_when_set if {
	decide({"/merchant/day_fen": 999999999}).outcome == "allow"
	d := payout.decision with input as row({"/merchant/day_fen": 100000}) with data.cxt.risk_settings.payout.merchant_day_fen as 200000
	[d.outcome, d.code] == ["hold", "risk_merchant_daily_limit"]
}

test_the_row_crossing_the_vat_line_waits if {
	d := payout.decision with input as row({"/worker/month_fen": 9950000}) with data.cxt.risk_settings.payout.monthly_limit_fen as 0
	[d.outcome, d.code] == ["hold", "risk_vat_threshold"]
	e := payout.decision with input as row({"/worker/month_fen": 10000001}) with data.cxt.risk_settings.payout.monthly_limit_fen as 0
	e.outcome == "allow" # past the line already: held once, not on every row
}

test_structuring_just_under_the_limit if {
	decide({"/amount_fen": 4000000, "/worker/day_near": 1, "/task/budget_fen": 9000000}).code == "risk_structuring"
	decide({"/amount_fen": 3999999, "/worker/day_near": 1, "/task/budget_fen": 9000000}).outcome == "allow"
	decide({"/amount_fen": 4000000, "/worker/day_near": 0, "/task/budget_fen": 9000000}).outcome == "allow"
}

test_a_white_listed_worker_is_spared_velocity_not_limits if {
	l := object.union(data.cxt.risk_lists, {"white": {"ids": ["aa11"]}})
	a := payout.decision with input as row({"/amount_fen": 4000000, "/worker/day_near": 5, "/task/budget_fen": 9000000, "/worker/day_merchants": 9}) with data.cxt.risk_lists as l
	a.outcome == "allow"
	b := payout.decision with input as row({"/amount_fen": 5000001, "/task/budget_fen": 9000000}) with data.cxt.risk_lists as l
	b.code == "risk_payment_limit"
}

test_many_merchants_in_a_day if {
	decide({"/worker/day_merchants": 3}).outcome == "allow"
	decide({"/worker/day_merchants": 4}).code == "risk_many_merchants"
}

test_task_consistency if {
	decide({"/task/present": false}).outcome == "allow"
	d := payout.decision with input as row({"/task/present": false}) with data.cxt.risk_settings.payout.require_task as true
	d.code == "risk_no_task"
	decide({"/task/accepted": false}).code == "task_not_accepted"
	decide({"/amount_fen": 500001}).code == "risk_over_budget"
	decide({"/amount_fen": 500000}).outcome == "allow"
}

test_reject_beats_hold_and_every_hit_is_explained if {
	d := decide({"/worker/signed": false, "/worker/officer": true})
	d.rule == "identity.officer"
	[h.rule | some h in d.hits] == ["identity.officer", "identity.unsigned"]
}


test_only_holds_for_a_person_are_clearable if {
	decide({"/worker/day_merchants": 4}).clearable
	not decide({"/worker/signed": false}).clearable
	not decide({"/worker/officer": true}).clearable
}
