# Risk rules: decisions on the business, not on who may call what. This
# package keeps the first payout rules (payout_limits, payout_row); each
# concern's rules since live in a package of their own beside it
# (cxt.risk.payout, .merchant, .worker, .task, .rating). Settings are
# data (data.cxt.risk_settings in policy/risk/data.json). The task review
# rule that was here is cxt.risk.task.
package cxt.risk

import rego.v1

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
