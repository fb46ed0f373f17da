# The merchant rating (standard §7 商户评级): a score from 0 to 100, the sum
# of each input's value (0 to 100) times its weight in percent, with a
# grade, and an explanation anyone shown the rating can redo it from. It is
# computed from the merchant's current facts whenever it is read, and inside
# the state machine by the bundle stored there (merchants.GradeOf). Integer
# arithmetic only: points are hundredths of a score.
#
# Input (the appliance builds it, docs/onboarding.md; history counts default to 0):
#   status           the merchant's status
#   document_kinds   kinds of its documents on file and not expired
#   agreement_signed the cooperation agreement is signed by both parties
#   months_approved  whole months since its approval
#   payments, returns      its payments paid, and of those returned (退汇)
#   findings, complaints   inspection findings and complaints against it
package cxt.risk.rating

import rego.v1

s := data.cxt.risk_settings.rating

# Absent counts are 0. (Fields are read by name, never the input whole:
# policy.ReadsSubjectID must see that no rule here singles out an account.)
default months := 0

months := input.months_approved

default payments := 0

payments := input.payments

default returns := 0

returns := input.returns

default findings := 0

findings := input.findings

default complaints := 0

complaints := input.complaints

default kinds := set()

kinds := {k | some k in input.document_kinds}

value("qualification") := object.get(s.qualification, input.status, 0)

why("qualification") := sprintf("status %s", [input.status])

value("documents") := min([100, sum([object.get(s.documents, k, s.documents.default) | some k in kinds])])

why("documents") := sprintf("kinds on file and in force: %v", [sort(kinds)])

value("agreement") := 100 if input.agreement_signed

else := 0

why("agreement") := sprintf("signed by both: %v", [input.agreement_signed])

value("tenure") := min([100, max([0, months]) * s.tenure_per_month])

why("tenure") := sprintf("%d months since approval", [max([0, months])])

value("returns") := 0 if payments == 0

else := max([0, 100 - floor((returns * 100 * s.returns_penalty_pct) / payments)])

why("returns") := "no payments yet" if payments == 0

else := sprintf("%d of %d payments returned", [returns, payments])

value("findings") := max([0, 100 - (findings + complaints) * s.finding_penalty])

why("findings") := sprintf("%d inspection findings, %d complaints", [findings, complaints])

explain := [{"input": i.input, "value": value(i.input), "weight": i.weight, "why": why(i.input)} | some i in s.inputs]

points := sum([p | some e in explain; p := e.value * e.weight])

score := sprintf("%d.%02d", [floor(points / 100), points % 100])

grades := [g.grade | some g in s.grades; points >= g.min * 100]

grade := grades[0] if count(grades) > 0

else := s.lowest_grade

rating := {"version": s.version, "score": score, "grade": grade, "explain": explain}
