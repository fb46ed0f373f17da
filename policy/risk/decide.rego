# The shape every risk decision takes (policy/risk/payout.rego decides its
# rows alike, inline, for its fast path): the first hit by outcome — reject
# before hold — and then by rule name decides, and is named with its code
# and reason; hits lists every rule that fired. No hit: allow.
package cxt.risk.decide

import rego.v1

rank := {"reject": 0, "hold": 1}

# decision(hits, meta, reasons): hits a set of rule names, meta each rule's
# {outcome, code}, reasons each hit's sentence for a person.
decision(hits, meta, reasons) := d if {
	count(hits) == 0
	d := {"outcome": "allow", "rule": "", "code": "", "reason": "", "hits": []}
}

decision(hits, meta, reasons) := d if {
	count(hits) > 0
	ranked := sort([[rank[meta[r].outcome], r] | some r in hits])
	first := ranked[0][1]
	d := {
		"outcome": meta[first].outcome,
		"rule": first,
		"code": meta[first].code,
		"reason": reasons[first],
		"hits": [{"rule": r, "outcome": meta[r].outcome, "code": meta[r].code, "reason": reasons[r]} | some [_, r] in ranked],
	}
}
