# The payout rules (standard §7 风控, 事中): every row of a payout batch is
# decided here, inside the state machine, by the bundle in force at the
# row's log index. A rule that fires is a hit; the decision is the first hit
# by outcome (reject before hold) and then by rule name, and names it. No
# hit: the row is allowed. Money is whole fen, never a float.
#
# The input is one row's facts, every field always present (the appliance
# builds it; docs/risk.md):
#   amount_fen
#   merchant {id, status, grade ("A".."D"; "" when the rating rules gave
#             none), day_fen}
#   worker   {id, id_bi, card_bi, device_bi, verified, signed, blacklisted,
#             officer, day_fen, month_fen, year_fen, day_merchants, day_near}
#   task     {present, accepted, budget_fen}
# day_fen, month_fen and year_fen are what was paid before this row, in the
# China calendar; day_merchants counts the merchants that paid the worker
# today with this one; day_near counts today's earlier payments just under
# the per-payment limit.
#
# Hits are written as plain comparisons of the input with settings, so that
# OPA's partial evaluation reduces them to a residual the appliance compiles
# for its fast path (policy/residual.go); a differential test holds the fast
# path to this module on random rows.
package cxt.risk.payout

import rego.v1

s := data.cxt.risk_settings.payout

lists := data.cxt.risk_lists

# meta is each rule's outcome and stable code; a hold a platform reviewer
# may let pass for one payment is clearable (the others wait for a fact to
# change: a verification, a signature, an acceptance).
meta := {
	"merchant.status": {"outcome": "reject", "code": "merchant_status"},
	"merchant.rating": {"outcome": "hold", "code": "risk_merchant_rating", "clearable": true},
	"lists.worker": {"outcome": "reject", "code": "risk_blacklisted"},
	"lists.card": {"outcome": "reject", "code": "risk_blacklisted"},
	"lists.device": {"outcome": "hold", "code": "risk_listed_device", "clearable": true},
	"lists.merchant": {"outcome": "reject", "code": "risk_blacklisted_merchant"},
	"identity.unverified": {"outcome": "hold", "code": "worker_unverified"},
	"identity.unsigned": {"outcome": "hold", "code": "agreement_unsigned"},
	"identity.officer": {"outcome": "reject", "code": "risk_officer"},
	"limits.payment": {"outcome": "reject", "code": "risk_payment_limit"},
	"limits.worker_day": {"outcome": "reject", "code": "risk_daily_limit"},
	"limits.worker_month": {"outcome": "reject", "code": "risk_monthly_limit"},
	"limits.worker_year": {"outcome": "reject", "code": "risk_yearly_limit"},
	"limits.merchant_day": {"outcome": "hold", "code": "risk_merchant_daily_limit", "clearable": true},
	"limits.vat": {"outcome": "hold", "code": "risk_vat_threshold", "clearable": true},
	"velocity.structuring": {"outcome": "hold", "code": "risk_structuring", "clearable": true},
	"velocity.merchants": {"outcome": "hold", "code": "risk_many_merchants", "clearable": true},
	"task.missing": {"outcome": "hold", "code": "risk_no_task", "clearable": true},
	"task.unaccepted": {"outcome": "hold", "code": "task_not_accepted"},
	"task.over_budget": {"outcome": "hold", "code": "risk_over_budget", "clearable": true},
}

white_worker if input.worker.id_bi in lists.white.ids

hits contains "merchant.status" if input.merchant.status != "approved"

hits contains "merchant.rating" if input.merchant.grade in s.hold_grades

hits contains "merchant.rating" if input.merchant.grade == ""

hits contains "lists.worker" if input.worker.blacklisted

hits contains "lists.worker" if input.worker.id_bi in lists.black.ids

hits contains "lists.card" if input.worker.card_bi in lists.black.cards

hits contains "lists.device" if input.worker.device_bi in lists.black.devices

hits contains "lists.merchant" if input.merchant.id in lists.black.merchants

hits contains "identity.unverified" if not input.worker.verified

hits contains "identity.unsigned" if not input.worker.signed

# 董监高: a merchant paying its own directors, supervisors or senior
# managers as gig workers disguises wages or dividends.
hits contains "identity.officer" if input.worker.officer

hits contains "limits.payment" if {
	s.payment_fen > 0
	input.amount_fen > s.payment_fen
}

hits contains "limits.worker_day" if {
	s.worker_day_fen > 0
	input.worker.day_fen + input.amount_fen > s.worker_day_fen
}

hits contains "limits.worker_month" if {
	s.monthly_limit_fen > 0
	input.worker.month_fen + input.amount_fen > s.monthly_limit_fen
}

hits contains "limits.worker_year" if {
	s.worker_year_fen > 0
	input.worker.year_fen + input.amount_fen > s.worker_year_fen
}

hits contains "limits.merchant_day" if {
	s.merchant_day_fen > 0
	input.merchant.day_fen + input.amount_fen > s.merchant_day_fen
}

# The row that carries a worker's month across the VAT line (小规模纳税人
# 月销售额免税标准): a person looks before the worker's month turns taxable.
hits contains "limits.vat" if {
	input.worker.month_fen <= s.vat_month_fen
	input.worker.month_fen + input.amount_fen > s.vat_month_fen
}

# Structuring: the worker was already paid several amounts just under the
# per-payment limit today, and this is another.
hits contains "velocity.structuring" if {
	not white_worker
	s.payment_fen > 0
	input.amount_fen * 100 >= s.payment_fen * s.near_limit_pct
	input.amount_fen <= s.payment_fen
	input.worker.day_near >= s.near_limit_count
}

hits contains "velocity.merchants" if {
	not white_worker
	input.worker.day_merchants > s.max_day_merchants
}

hits contains "task.missing" if {
	s.require_task
	not input.task.present
}

hits contains "task.unaccepted" if {
	input.task.present
	not input.task.accepted
}

hits contains "task.over_budget" if {
	input.task.present
	input.amount_fen * 100 > input.task.budget_fen * s.over_budget_pct
}

# reasons says, for a person, why each hit fired.
reasons[r] := msg if {
	some r in hits
	msg := reason(r)
}

yuan(fen) := sprintf("%d.%02d", [floor(fen / 100), fen % 100])

reason("merchant.status") := sprintf("merchant %s is %s", [input.merchant.id, input.merchant.status])

reason("merchant.rating") := sprintf("merchant %s is rated %s; its payments wait for a person", [input.merchant.id, grade_word])

grade_word := input.merchant.grade if input.merchant.grade != ""

grade_word := "nothing (the rating rules gave no grade)" if input.merchant.grade == ""

reason("lists.worker") := sprintf("worker %s is on the platform's blacklist", [input.worker.id])

reason("lists.card") := sprintf("the bank card of worker %s is on the platform's blacklist", [input.worker.id])

reason("lists.device") := sprintf("worker %s registered from a listed device", [input.worker.id])

reason("lists.merchant") := sprintf("merchant %s is on the platform's blacklist", [input.merchant.id])

reason("identity.unverified") := sprintf("worker %s has not passed real-name verification", [input.worker.id])

reason("identity.unsigned") := sprintf("worker %s has no complete service agreement with this merchant", [input.worker.id])

reason("identity.officer") := sprintf("worker %s is a director, supervisor or senior manager of merchant %s", [input.worker.id, input.merchant.id])

reason("limits.payment") := sprintf("%s is over the per-payment limit of %s", [yuan(input.amount_fen), yuan(s.payment_fen)])

reason("limits.worker_day") := sprintf("worker %s would be paid %s today on the platform, over the limit of %s", [input.worker.id, yuan(input.worker.day_fen + input.amount_fen), yuan(s.worker_day_fen)])

reason("limits.worker_month") := sprintf("worker %s would be paid %s this month on the platform, over the limit of %s", [input.worker.id, yuan(input.worker.month_fen + input.amount_fen), yuan(s.monthly_limit_fen)])

reason("limits.worker_year") := sprintf("worker %s would be paid %s this year on the platform, over the limit of %s", [input.worker.id, yuan(input.worker.year_fen + input.amount_fen), yuan(s.worker_year_fen)])

reason("limits.merchant_day") := sprintf("merchant %s would pay %s today, over its daily limit of %s", [input.merchant.id, yuan(input.merchant.day_fen + input.amount_fen), yuan(s.merchant_day_fen)])

reason("limits.vat") := sprintf("worker %s's month would pass the VAT threshold of %s (%s with this payment)", [input.worker.id, yuan(s.vat_month_fen), yuan(input.worker.month_fen + input.amount_fen)])

reason("velocity.structuring") := sprintf("worker %s was paid %d amount(s) just under the per-payment limit of %s today; %s is another", [input.worker.id, input.worker.day_near, yuan(s.payment_fen), yuan(input.amount_fen)])

reason("velocity.merchants") := sprintf("worker %s is paid by %d merchants today, more than %d", [input.worker.id, input.worker.day_merchants, s.max_day_merchants])

reason("task.missing") := "the payment names no task"

reason("task.unaccepted") := sprintf("worker %s's work on the task is not accepted", [input.worker.id])

reason("task.over_budget") := sprintf("%s is over %d%% of the task's budget of %s", [yuan(input.amount_fen), s.over_budget_pct, yuan(input.task.budget_fen)])

rank := {"reject": 0, "hold": 1}

clearable(r) := object.get(meta[r], "clearable", false)

# decision is the row's answer: allow, or the first hit's outcome, rule,
# code and reason; hits lists every rule that fired with its reason, for an
# explanation.
default decision := {"outcome": "allow", "rule": "", "code": "", "reason": "", "clearable": false, "hits": []}

decision := d if {
	count(hits) > 0
	ranked := sort([[rank[meta[r].outcome], r] | some r in hits])
	first := ranked[0][1]
	d := {
		"outcome": meta[first].outcome,
		"rule": first,
		"code": meta[first].code,
		"reason": reasons[first],
		"clearable": clearable(first),
		"hits": [{"rule": r, "outcome": meta[r].outcome, "code": meta[r].code, "reason": reasons[r], "clearable": clearable(r)} | some [_, r] in ranked],
	}
}
