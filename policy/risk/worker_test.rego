package cxt.risk.worker_test

import rego.v1

import data.cxt.risk.worker

decide(id_bi, device_bi) := d if {
	d := worker.decision with input as {"worker": {"id_bi": id_bi, "device_bi": device_bi}}
		with data.cxt.risk_lists.black as {"ids": ["aa11"], "devices": ["dd11"], "cards": [], "merchants": []}
		with data.cxt.risk_lists.white as {"ids": ["ww11"]}
}

test_an_unlisted_worker_is_allowed if {
	decide("bb22", "ee22").outcome == "allow"
	decide("bb22", "").outcome == "allow"
}

test_a_listed_id_number_is_rejected if {
	d := decide("aa11", "")
	[d.outcome, d.rule, d.code] == ["reject", "lists.id", "risk_blacklisted"]
	d.reason == "the resident ID number is on the platform's blacklist"
}

test_a_listed_device_holds_unless_the_person_is_white_listed if {
	d := decide("bb22", "dd11")
	[d.outcome, d.rule, d.code] == ["hold", "lists.device", "risk_listed_device"]
	decide("ww11", "dd11").outcome == "allow"
}

test_an_empty_index_matches_no_list_entry if {
	d := worker.decision with input as {"worker": {"id_bi": "", "device_bi": ""}}
		with data.cxt.risk_lists.black as {"ids": [""], "devices": [""], "cards": [], "merchants": []}
	d.outcome == "allow"
}

test_both_listed_rejects_naming_both if {
	d := decide("aa11", "dd11")
	d.outcome == "reject"
	count(d.hits) == 2
}
