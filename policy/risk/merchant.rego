# Merchant qualification (standard §7 商户资质审核, 事前): decided when a
# platform reviewer approves a merchant. A reject refuses the approval with
# its reason; a hold lets it through only when the reviewer acknowledges
# each held rule by name in the request (appliance/merchants).
#
# Input (every field present; the appliance builds it, docs/onboarding.md):
#   merchant  {id, operating_model, uscc_valid (appliance/ident's GB 32100
#              check of the code on record), officers (how many 董监高 are
#              on record)}
#   documents [{kind, expires ("YYYY-MM-DD", "" when it does not expire)}]
#   today     "YYYY-MM-DD" in China's calendar, the review's day
package cxt.risk.merchant

import rego.v1

import data.cxt.risk.decide

s := data.cxt.risk_settings.merchant

lists := data.cxt.risk_lists

meta := {
	"documents.missing": {"outcome": "reject", "code": "risk_qualification"},
	"documents.expired": {"outcome": "reject", "code": "risk_qualification"},
	"documents.expiring": {"outcome": "hold", "code": "risk_documents_expiring"},
	"uscc.invalid": {"outcome": "reject", "code": "risk_qualification"},
	"model.unset": {"outcome": "reject", "code": "risk_qualification"},
	"lists.merchant": {"outcome": "reject", "code": "risk_blacklisted_merchant"},
	"officers.missing": {"outcome": "hold", "code": "risk_officers_missing"},
}

day_ns := 86400000000000

# days_left is how many days a document with an expiry has from today: 0 on
# its last day, negative once expired.
days_left(doc) := (time.parse_ns("2006-01-02", doc.expires) - time.parse_ns("2006-01-02", input.today)) / day_ns

of_kind(kind) := [d | some d in input.documents; d.kind == kind]

valid(doc) if doc.expires == ""

valid(doc) if {
	doc.expires != ""
	days_left(doc) >= 0
}

# missing: required kinds with no document on file at all.
missing contains kind if {
	some kind in s.required_kinds
	count(of_kind(kind)) == 0
}

# expired: required kinds whose every document on file has expired.
expired contains kind if {
	some kind in s.required_kinds
	docs := of_kind(kind)
	count(docs) > 0
	not any_valid(docs)
}

any_valid(docs) if {
	some d in docs
	valid(d)
}

# expiring: required kinds whose longest-lived valid document expires
# within expiring_days.
expiring contains kind if {
	some kind in s.required_kinds
	docs := [d | some d in of_kind(kind); valid(d)]
	count(docs) > 0
	every d in docs {
		d.expires != ""
		days_left(d) < s.expiring_days
	}
}

hits contains "documents.missing" if count(missing) > 0

hits contains "documents.expired" if count(expired) > 0

hits contains "documents.expiring" if count(expiring) > 0

hits contains "uscc.invalid" if not input.merchant.uscc_valid

hits contains "model.unset" if not input.merchant.operating_model in {"intermediary", "operating"}

hits contains "lists.merchant" if input.merchant.id in lists.black.merchants

hits contains "officers.missing" if {
	s.require_officers
	input.merchant.officers == 0
}

reasons[r] := reason(r) if some r in hits

reason("documents.missing") := sprintf("merchant %s has not filed: %s", [input.merchant.id, concat(", ", sort(missing))])

reason("documents.expired") := sprintf("the documents of merchant %s have expired: %s", [input.merchant.id, concat(", ", sort(expired))])

reason("documents.expiring") := sprintf("the documents of merchant %s expire within %d days: %s", [input.merchant.id, s.expiring_days, concat(", ", sort(expiring))])

reason("uscc.invalid") := sprintf("the unified social credit code of merchant %s fails its check (GB 32100)", [input.merchant.id])

reason("model.unset") := sprintf("merchant %s has no operating model (intermediary or operating)", [input.merchant.id])

reason("lists.merchant") := sprintf("merchant %s is on the platform's blacklist", [input.merchant.id])

reason("officers.missing") := sprintf("merchant %s names no directors, supervisors or senior managers (董监高)", [input.merchant.id])

decision := decide.decision(hits, meta, reasons)
