# Risk rules: decisions on the business, not on who may call what. Each
# returns the reasons a person must look first; none means the appliance
# goes ahead and records that the policy decided. Settings are data
# (data.cxt.risk_settings in rego/data.json). Evaluated as data.cxt.risk.<rule>.
package cxt.risk

import rego.v1

settings := data.cxt.risk_settings.task_review

# task_review decides whether a task a merchant publishes opens at once or
# waits for a platform reviewer (standard §7 任务审核). Input:
# {"task": {"category", "budget" (yuan, a decimal string), "headcount"},
#  "merchant": {"id", "rating" (0.00-100.00, a decimal string)}}.
task_review := {"version": settings.version, "reasons": sort(task_reasons)}

task_reasons contains sprintf("the budget of %s yuan is above %s yuan", [input.task.budget, settings.budget_above]) if {
	to_number(input.task.budget) > to_number(settings.budget_above)
}

task_reasons contains sprintf("tasks of the category %s are always reviewed", [input.task.category]) if {
	input.task.category in settings.categories
}

task_reasons contains sprintf("the merchant's rating %s is below %s", [input.merchant.rating, settings.min_rating]) if {
	to_number(input.merchant.rating) < to_number(settings.min_rating)
}

payout_settings := data.cxt.risk_settings.payout

# payout_limits are the settings a payout chunk is decided under: read once
# per chunk by its proposer and carried in the command (appliance/payouts).
payout_limits := {"version": payout_settings.version, "monthly_limit_fen": payout_settings.monthly_limit_fen}

# payout_row decides one row of a payout batch (standard §7 交易, 风控):
# the merchant must be approved, the worker off the blacklist, and the
# worker's month on the platform within the monthly limit (0: none). The
# first that fails decides. Input: {"limits": {"monthly_limit_fen"},
# "merchant": {"status"}, "worker": {"blacklisted", "month_fen"},
# "amount_fen"}; money in whole fen, never a float.
default payout_row := {"code": ""}

payout_row := {"code": "merchant_status"} if {
	input.merchant.status != "approved"
} else := {"code": "risk_blacklisted"} if {
	input.worker.blacklisted
} else := {"code": "risk_monthly_limit"} if {
	input.limits.monthly_limit_fen > 0
	input.worker.month_fen + input.amount_fen > input.limits.monthly_limit_fen
}
