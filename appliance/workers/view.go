package workers

import (
	"encoding/json"
	"strings"
	"time"

	"cxt/appliance/ident"
	"cxt/appliance/subjects"
	"cxt/crypto/subjectkey"
)

// public is a worker as the API shows it: identifiers masked unless
// unmasked, the links the caller may see.
func (w *Worker) public(key *subjectkey.Key, unmasked bool, links []Link) map[string]any {
	out := map[string]any{
		"id": w.ID, "origin": w.Origin, "created": w.Created, "masked": !unmasked,
		"real_name": w.RealName.public(key, w.ID, CheckRealName, unmasked),
		"liveness":  w.Liveness.public(key, w.ID, CheckLiveness, unmasked),
	}
	if w.Account != "" {
		out["account"] = w.Account
	}
	if w.Cancelled != nil {
		out["cancelled"] = w.Cancelled
	}
	if w.Restricted != nil {
		out["restricted"] = w.Restricted
	}
	if links != nil {
		out["links"] = links
	}
	p, err := w.openWith(key)
	if err != nil {
		out["private"] = "unreadable"
		return out
	}
	if !unmasked {
		p.Name, p.IDNumber, p.Phone = ident.MaskName(p.Name), ident.MaskResidentID(p.IDNumber), ident.MaskPhone(p.Phone)
		if p.BankCard != "" {
			p.BankCard = ident.MaskBankCard(p.BankCard)
		}
	}
	out["name"], out["id_number"], out["phone"] = p.Name, p.IDNumber, p.Phone
	if p.BankCard != "" {
		out["bank_card"] = p.BankCard
	}
	return out
}

// public is a recorded check: its reference shown only when unmasked.
func (c *Check) public(key *subjectkey.Key, worker, kind string, unmasked bool) map[string]any {
	if c == nil {
		return map[string]any{"status": Unverified}
	}
	out := map[string]any{"status": c.Status, "provider": c.Provider, "score": c.Score, "at": c.At, "by": c.By}
	if c.Reason != "" {
		out["reason"] = c.Reason
	}
	if unmasked {
		var ref string
		if err := subjects.Open(key, ReferenceAAD(worker, kind), c.Reference, &ref); err == nil {
			out["reference"] = ref
		}
	}
	return out
}

// public is a tax registration request; the tax office's reference is
// shown to those who may read the worker (it is theirs).
func (t *TaxRegistration) public(key *subjectkey.Key) map[string]any {
	out := map[string]any{"id": t.ID, "worker": t.Worker, "kind": t.Kind, "status": t.Status, "consent": t.Consent,
		"requested": t.Requested, "by": t.By}
	if t.Merchant != "" {
		out["merchant"] = t.Merchant
	}
	if !t.Decided.IsZero() {
		out["decided"], out["decided_by"] = t.Decided, t.DecidedBy
	}
	if t.Reason != "" {
		out["reason"] = t.Reason
	}
	if key != nil && len(t.Reference) > 0 {
		var ref string
		if err := subjects.Open(key, ReferenceAAD(t.Worker, "tax/"+t.ID), t.Reference, &ref); err == nil {
			out["reference"] = ident.MaskBankCard(ref) // a temporary registration's number may be the ID number
		}
	}
	return out
}

// normalID reads an ID number given to search by: checked, not aged.
func normalID(s string, on time.Time) (string, error) {
	id, err := ident.ParseResidentID(strings.TrimSpace(s), on)
	return id.Number, err
}

func parsePhone(s string) (string, error) { return ident.ParsePhone(strings.TrimSpace(s)) }

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }

// jsonValue is a command's JSON result as an answer.
func jsonValue(b []byte) json.RawMessage { return json.RawMessage(b) }
