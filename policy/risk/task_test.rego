package cxt.risk.task_test

import rego.v1

import data.cxt.risk.task

decide(budget_fen, category, score, grade) := d if {
	d := task.decision with input as {
		"task": {"category": category, "budget_fen": budget_fen, "headcount": 1},
		"merchant": {"id": "m_1", "score": score, "grade": grade},
	}
}

test_an_ordinary_task_of_a_rated_merchant_is_allowed if {
	decide(120000, "delivery", "72.00", "B").outcome == "allow"
}

test_the_budget_threshold_is_exclusive_to_the_fen if {
	decide(5000000, "delivery", "72.00", "B").outcome == "allow"
	d := decide(5000001, "delivery", "72.00", "B")
	[d.outcome, d.rule, d.code] == ["hold", "task.budget", "risk_task_budget"]
	d.reason == "the budget of 50000.01 yuan is above 50000.00 yuan"
}

test_listed_categories_are_always_reviewed if {
	d := decide(10000, "consulting", "90.00", "A")
	[d.outcome, d.rule] == ["hold", "task.category"]
	d.reason == "tasks of the category consulting are always reviewed"
}

test_a_low_rating_is_reviewed_and_the_boundary_is_not if {
	decide(10000, "delivery", "50.00", "C").outcome == "allow"
	d := decide(10000, "delivery", "49.99", "D")
	[d.outcome, d.rule, d.code] == ["hold", "merchant.rating", "risk_merchant_rating"]
	d.reason == "the merchant's rating 49.99 is below 50.00"
}

test_every_reason_is_given_at_once if {
	count(decide(8000000, "other", "40.00", "D").hits) == 3
}

test_a_grade_below_the_floor_and_a_listed_merchant_are_refused if {
	d := decide(10000, "delivery", "40.00", "D") with data.cxt.risk_settings.task.reject_grades as ["D"]
	[d.outcome, d.rule, d.code] == ["reject", "merchant.grade", "risk_merchant_grade"]
	e := decide(10000, "delivery", "90.00", "A") with data.cxt.risk_lists.black.merchants as ["m_1"]
	[e.outcome, e.rule, e.code] == ["reject", "lists.merchant", "risk_blacklisted_merchant"]
}
