# Post-hoc inspection (事后巡检, standard §7 风控): which of the aggregates the
# inspection jobs compute over past records (appliance/risk) are anomalies.
# Go counts; this decides. Settings are data
# (data.cxt.risk_settings.inspection in data.json). Evaluated as
# data.cxt.risk.inspection.findings, one detector's aggregates at a time;
# money in whole fen, shares and factors in whole percent, never a float.
#
# Input: {"period": "yyyy-mm", and one of
#   "shared_cards":  [{"subject", "workers"}],
#   "registrations": [{"subject", "source" ("ip" | "device"), "workers", "window_hours"}],
#   "concentration": [{"subject", "merchant", "worker", "worker_fen", "merchant_fen"}],
#   "volume":        [{"subject", "merchant", "month_fen", "previous_fen" (the 3 months before, summed)}]}
# Each finding: {"kind", "subject", "rule", "reason"}; the rule names this
# package's rule and the settings' version.
package cxt.risk.inspection

import rego.v1

settings := data.cxt.risk_settings.inspection

# params are what Go needs before it counts: the window registrations are
# counted in, and the settings' version.
params := {"version": settings.version, "window_hours": settings.registration_burst.window_hours}

rule(name) := sprintf("cxt.risk.inspection.%s/v%s", [name, settings.version])

findings contains {
	"kind": "shared_card",
	"subject": a.subject,
	"rule": rule("shared_card"),
	"reason": sprintf("one bank card is on %d workers (at least %d is an anomaly)", [a.workers, s.min_workers]),
} if {
	s := settings.shared_card
	some a in input.shared_cards
	a.workers >= s.min_workers
}

findings contains {
	"kind": "registration_burst",
	"subject": a.subject,
	"rule": rule("registration_burst"),
	"reason": sprintf("one %s registered %d workers within %d hours (at least %d is an anomaly)", [a.source, a.workers, a.window_hours, least]),
} if {
	some a in input.registrations
	least := burst_min[a.source]
	a.workers >= least
}

burst_min := {"ip": settings.registration_burst.ip_min_workers, "device": settings.registration_burst.device_min_workers}

findings contains {
	"kind": "income_concentration",
	"subject": a.subject,
	"rule": rule("income_concentration"),
	"reason": sprintf("worker %s received %d of merchant %s's %d fen in %s (at least %d%% of a month above %d fen is an anomaly)", [a.worker, a.worker_fen, a.merchant, a.merchant_fen, input.period, s.min_share_percent, s.min_merchant_fen]),
} if {
	s := settings.income_concentration
	some a in input.concentration
	a.merchant_fen >= s.min_merchant_fen
	a.worker_fen * 100 >= s.min_share_percent * a.merchant_fen
}

findings contains {
	"kind": "volume_spike",
	"subject": a.subject,
	"rule": rule("volume_spike"),
	"reason": sprintf("merchant %s paid out %d fen in %s against %d fen in the 3 months before (at least %d%% of their average, above %d fen, is an anomaly)", [a.merchant, a.month_fen, input.period, a.previous_fen, s.factor_percent, s.min_month_fen]),
} if {
	s := settings.volume_spike
	some a in input.volume
	a.previous_fen > 0
	a.month_fen >= s.min_month_fen
	a.month_fen * 300 >= s.factor_percent * a.previous_fen
}
