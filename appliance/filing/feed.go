package filing

import (
	"time"

	"cxt/appliance/ledger"
	"cxt/gateway/feed"
	"cxt/storage/state"
)

// The facts the tax bureaus' feed carries of filings (docs/gateway.md), in
// the platform's own chain: a version filed, and each tax payment
// recorded. Neither names a worker: the detail is the export's.
const (
	FactDeclared = "filing.declared"
	FactPaid     = "filing.paid"
)

func feedDeclared(tx *state.Tx, d *Declaration) error {
	_, err := feed.Append(tx, feed.Fact{Type: FactDeclared, Version: 1, Payload: map[string]any{
		"agent": d.Agent, "period": d.Period, "version": d.Version, "supersedes": d.Supersedes, "reason": d.Reason,
		"filed": d.Filed.UTC().Format(time.RFC3339), "due": d.Due, "late": d.Late, "rule_sets": d.RuleSets,
		"lines": d.IIT.Totals.Lines, "income": d.IIT.Totals.Income,
		"iit": ledger.Yuan(d.IITFen), "vat": ledger.Yuan(d.VATFen), "surcharges": ledger.Yuan(d.SurFen)}})
	return err
}

func feedPaid(tx *state.Tx, ps []*TaxPayment) error {
	if len(ps) == 0 {
		return nil
	}
	list := make([]map[string]any, len(ps))
	for i, p := range ps {
		list[i] = map[string]any{"n": p.N, "kind": p.Kind, "amount": ledger.Yuan(p.Fen), "date": p.Date, "receipt": p.Receipt, "posting": p.Posting}
	}
	_, err := feed.Append(tx, feed.Fact{Type: FactPaid, Version: 1, Payload: map[string]any{
		"agent": ps[0].Agent, "period": ps[0].Period, "version": ps[0].Version, "source": ps[0].Source, "payments": list}})
	return err
}
