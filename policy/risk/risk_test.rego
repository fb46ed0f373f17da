package cxt.risk_test

import rego.v1

import data.cxt.risk

row(status, blacklisted, month_fen, amount_fen, limit) := r if {
	r := risk.payout_row with input as {
		"limits": {"monthly_limit_fen": limit},
		"merchant": {"status": status},
		"worker": {"blacklisted": blacklisted, "month_fen": month_fen},
		"amount_fen": amount_fen,
	}
}

test_the_first_payout_rules_decide_in_order if {
	row("approved", false, 0, 100, 1000).code == ""
	row("closed", true, 0, 100, 1000).code == "merchant_status"
	row("approved", true, 2000, 100, 1000).code == "risk_blacklisted"
	row("approved", false, 950, 100, 1000).code == "risk_monthly_limit"
	row("approved", false, 900, 100, 1000).code == ""
	row("approved", false, 5000, 100, 0).code == ""
}

test_the_payout_limits_are_the_settings if {
	risk.payout_limits.monthly_limit_fen == data.cxt.risk_settings.payout.monthly_limit_fen
}
