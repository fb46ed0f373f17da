package cxt.risk.inspection_test

import rego.v1

import data.cxt.risk.inspection

kinds(fs) := {[f.kind, f.subject] | some f in fs}

test_a_card_on_three_workers_is_an_anomaly_and_on_two_is_not if {
	fs := inspection.findings with input as {"period": "2026-03", "shared_cards": [
		{"subject": "card:a", "workers": 3},
		{"subject": "card:b", "workers": 2},
	]}
	kinds(fs) == {["shared_card", "card:a"]}
}

test_a_device_is_held_to_a_lower_count_than_an_address if {
	fs := inspection.findings with input as {"period": "2026-03", "registrations": [
		{"subject": "device:a", "source": "device", "workers": 3, "window_hours": 24},
		{"subject": "ip:a", "source": "ip", "workers": 3, "window_hours": 24},
		{"subject": "ip:b", "source": "ip", "workers": 10, "window_hours": 24},
	]}
	kinds(fs) == {["registration_burst", "device:a"], ["registration_burst", "ip:b"]}
}

test_concentration_needs_the_share_and_the_floor if {
	fs := inspection.findings with input as {"period": "2026-03", "concentration": [
		{"subject": "m1/w1", "merchant": "m1", "worker": "w1", "worker_fen": 2500000, "merchant_fen": 5000000},
		{"subject": "m1/w2", "merchant": "m1", "worker": "w2", "worker_fen": 2499999, "merchant_fen": 5000000},
		{"subject": "m2/w1", "merchant": "m2", "worker": "w1", "worker_fen": 4999999, "merchant_fen": 4999999},
	]}
	kinds(fs) == {["income_concentration", "m1/w1"]}
}

test_a_spike_is_three_times_the_average_above_the_floor_after_months_that_paid if {
	fs := inspection.findings with input as {"period": "2026-03", "volume": [
		{"subject": "m1", "merchant": "m1", "month_fen": 30000000, "previous_fen": 30000000},
		{"subject": "m2", "merchant": "m2", "month_fen": 29999999, "previous_fen": 30000000},
		{"subject": "m3", "merchant": "m3", "month_fen": 9999999, "previous_fen": 30},
		{"subject": "m4", "merchant": "m4", "month_fen": 90000000, "previous_fen": 0},
	]}
	kinds(fs) == {["volume_spike", "m1"]}
}

test_every_finding_names_its_rule_and_the_settings_version if {
	fs := inspection.findings with input as {"period": "2026-03", "shared_cards": [{"subject": "card:a", "workers": 9}]}
	some f in fs
	f.rule == "cxt.risk.inspection.shared_card/v1"
	contains(f.reason, "9 workers")
}

test_settings_are_data if {
	fs := inspection.findings with input as {"period": "2026-03", "shared_cards": [{"subject": "card:a", "workers": 2}]}
		with data.cxt.risk_settings.inspection.shared_card.min_workers as 2
	count(fs) == 1
}

test_params_give_the_window if {
	inspection.params == {"version": "1", "window_hours": 24}
}
