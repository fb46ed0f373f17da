# A task a merchant publishes (standard §7 任务审核, 事前): allow opens it at
# once, approved by the policy; hold waits for a platform reviewer; reject
# refuses it for good, the reason on its record (appliance/tasks).
#
# Input (every field present; the appliance builds it, docs/tasks.md):
#   task     {category, budget_fen (the whole task's), headcount}
#   merchant {id, score ("0.00".."100.00", its rating now), grade ("A".."D")}
package cxt.risk.task

import rego.v1

import data.cxt.risk.decide

s := data.cxt.risk_settings.task

lists := data.cxt.risk_lists

meta := {
	"task.budget": {"outcome": "hold", "code": "risk_task_budget"},
	"task.category": {"outcome": "hold", "code": "risk_task_category"},
	"merchant.rating": {"outcome": "hold", "code": "risk_merchant_rating"},
	"merchant.grade": {"outcome": "reject", "code": "risk_merchant_grade"},
	"lists.merchant": {"outcome": "reject", "code": "risk_blacklisted_merchant"},
}

hits contains "task.budget" if input.task.budget_fen > s.budget_above_fen

hits contains "task.category" if input.task.category in s.categories

hits contains "merchant.rating" if to_number(input.merchant.score) < to_number(s.min_rating)

hits contains "merchant.grade" if input.merchant.grade in s.reject_grades

hits contains "lists.merchant" if input.merchant.id in lists.black.merchants

yuan(fen) := sprintf("%d.%02d", [floor(fen / 100), fen % 100])

reasons[r] := reason(r) if some r in hits

reason("task.budget") := sprintf("the budget of %s yuan is above %s yuan", [yuan(input.task.budget_fen), yuan(s.budget_above_fen)])

reason("task.category") := sprintf("tasks of the category %s are always reviewed", [input.task.category])

reason("merchant.rating") := sprintf("the merchant's rating %s is below %s", [input.merchant.score, s.min_rating])

reason("merchant.grade") := sprintf("merchant %s is graded %s; its tasks are refused", [input.merchant.id, input.merchant.grade])

reason("lists.merchant") := sprintf("merchant %s is on the platform's blacklist", [input.merchant.id])

decision := decide.decision(hits, meta, reasons)
