# A worker's identity at registration (standard §7 风控, 事前: 黑名单): a
# reject refuses the registration; a hold registers the worker and records
# the hold on their record, for platform staff to see.
#
# Input (every field present; the appliance builds it, docs/onboarding.md):
#   worker {id_bi (blind index of the resident ID number, hex),
#           device_bi (blind index of the registering device, hex; "" when
#           the appliance has none)}
package cxt.risk.worker

import rego.v1

import data.cxt.risk.decide

lists := data.cxt.risk_lists

meta := {
	"lists.id": {"outcome": "reject", "code": "risk_blacklisted"},
	"lists.device": {"outcome": "hold", "code": "risk_listed_device"},
}

hits contains "lists.id" if {
	input.worker.id_bi != ""
	input.worker.id_bi in lists.black.ids
}

hits contains "lists.device" if {
	input.worker.device_bi != ""
	input.worker.device_bi in lists.black.devices
	not input.worker.id_bi in lists.white.ids
}

reasons["lists.id"] := "the resident ID number is on the platform's blacklist" if "lists.id" in hits

reasons["lists.device"] := "the registration came from a device on the platform's blacklist" if "lists.device" in hits

decision := decide.decision(hits, meta, reasons)
