package cxt.risk_test

import rego.v1

import data.cxt.risk

review(budget, category, rating) := r if {
	r := risk.task_review with input as {
		"task": {"category": category, "budget": budget, "headcount": 1},
		"merchant": {"id": "m_1", "rating": rating},
	}
}

test_an_ordinary_task_of_a_rated_merchant_needs_nobody if {
	r := review("1200.00", "delivery", "72.00")
	r.reasons == []
	r.version == data.cxt.risk_settings.task_review.version
}

test_the_budget_threshold_is_exclusive_to_the_fen if {
	review("50000.00", "delivery", "72.00").reasons == []
	count(review("50000.01", "delivery", "72.00").reasons) == 1
}

test_listed_categories_are_always_reviewed if {
	r := review("100.00", "consulting", "90.00")
	r.reasons == ["tasks of the category consulting are always reviewed"]
}

test_a_low_rating_is_reviewed_and_the_boundary_is_not if {
	review("100.00", "delivery", "50.00").reasons == []
	review("100.00", "delivery", "49.99").reasons == ["the merchant's rating 49.99 is below 50.00"]
}

test_every_reason_is_given_at_once if {
	count(review("80000.00", "other", "40.00").reasons) == 3
}
