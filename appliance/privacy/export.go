package privacy

import (
	"encoding/json"
	"strings"
	"time"

	"cxt/appliance/payouts"
	"cxt/appliance/subjects"
	"cxt/appliance/workers"
	"cxt/crypto/keyring"
	"cxt/crypto/subjectkey"
	"cxt/storage/state"
)

// ExportFormat names the export's layout; a change to it is a new version.
const ExportFormat = "cxt.personal-data-export/v1"

// Export is a worker's own copy of their personal information (PIPL art.
// 45), opened under their key: their record, checks, consents, merchant
// links, tax registrations, payments and privacy requests.
func Export(tx *state.ReadTx, keys *keyring.Keyring, worker string, now time.Time) (map[string]any, error) {
	w, err := workers.Get(tx, worker)
	if err != nil {
		return nil, err
	}
	key, err := subjects.Key(tx, keys, w.ID)
	if err != nil {
		return nil, err
	}
	p, err := w.Open(key)
	if err != nil {
		return nil, err
	}
	record := map[string]any{"id": w.ID, "origin": w.Origin, "created": w.Created, "account": w.Account,
		"name": p.Name, "id_number": p.IDNumber, "phone": p.Phone, "bank_card": p.BankCard}
	if w.Cancelled != nil {
		record["cancelled"] = w.Cancelled
	}
	if w.Restricted != nil {
		record["restricted"] = w.Restricted
	}
	consents, err := children[workers.Consent](tx, workers.ConsentBucket, w.ID)
	if err != nil {
		return nil, err
	}
	links := []workers.Link{}
	for _, m := range w.Merchants {
		l, err := workers.GetLink(tx, m, w.ID)
		if err != nil {
			return nil, err
		}
		links = append(links, *l)
	}
	tax, err := children[workers.TaxRegistration](tx, workers.TaxBucket, w.ID)
	if err != nil {
		return nil, err
	}
	taxOut := make([]map[string]any, len(tax))
	for i, t := range tax {
		m := map[string]any{"id": t.ID, "kind": t.Kind, "merchant": t.Merchant, "status": t.Status, "consent": t.Consent,
			"requested": t.Requested, "by": t.By, "reason": t.Reason}
		if !t.Decided.IsZero() {
			m["decided"] = t.Decided
		}
		var ref string
		if len(t.Reference) > 0 && subjects.Open(key, workers.ReferenceAAD(w.ID, "tax/"+t.ID), t.Reference, &ref) == nil {
			m["reference"] = ref
		}
		taxOut[i] = m
	}
	payments := []map[string]any{}
	if err := payouts.WorkerPayments(tx, w.ID, func(p *payouts.Payment) error {
		payments = append(payments, p.View())
		return nil
	}); err != nil {
		return nil, err
	}
	requests, err := children[Request](tx, Bucket, w.ID)
	if err != nil {
		return nil, err
	}
	reqOut := make([]map[string]any, len(requests))
	for i := range requests {
		reqOut[i] = view(&requests[i], key, false, now)
	}
	return map[string]any{
		"format": ExportFormat, "generated": now, "worker": record,
		"real_name": w.RealName.Own(key, w.ID, workers.CheckRealName),
		"liveness":  w.Liveness.Own(key, w.ID, workers.CheckLiveness),
		"consents":  consents, "merchant_links": links, "tax_registrations": taxOut,
		"payments": payments, "privacy_requests": reqOut,
		"notice": Notice{
			ZH: "这是平台保存的您的个人信息副本（《个人信息保护法》第四十五条）。如有错误，可申请更正（POST /api/v1/workers/" + w.ID + "/privacy-requests，kind=correction）；也可申请删除（kind=deletion）。平台在30日内答复。",
			EN: "This is a copy of the personal information the platform keeps about you (PIPL art. 45). If something is wrong, ask for a correction (POST /api/v1/workers/" + w.ID + "/privacy-requests, kind=correction); you may also ask for deletion (kind=deletion). The platform answers within 30 days.",
		},
	}, nil
}

// view is a request as the API shows it: a correction's new values masked
// (opened whole in the worker's own export, full), overdue flagged.
func view(q *Request, key *subjectkey.Key, masked bool, now time.Time) map[string]any {
	out := map[string]any{"id": q.ID, "worker": q.Worker, "kind": q.Kind, "status": q.Status, "filed": q.Filed, "due": q.Due,
		"by": q.By, "overdue": q.Overdue(now)}
	if len(q.Fields) > 0 {
		out["fields"] = q.Fields
	}
	if q.Cancellation {
		out["cancellation"] = true
	}
	if !q.Decided.IsZero() {
		out["decided"], out["decided_by"] = q.Decided, q.DecidedBy
	}
	for k, v := range map[string]string{"reason": q.Reason, "basis": q.Basis, "certificate": q.Certificate} {
		if v != "" {
			out[k] = v
		}
	}
	if !q.Until.IsZero() {
		out["until"] = q.Until
	}
	if q.Notice != nil {
		out["notice"] = q.Notice
	}
	if !q.Completed.IsZero() {
		out["completed"] = q.Completed
	}
	if key != nil && len(q.Values) > 0 {
		var v Values
		if subjects.Open(key, RequestAAD(q.Worker, q.ID), q.Values, &v) == nil {
			if masked {
				v = v.masked()
			}
			out["values"] = v
		}
	}
	return out
}

// children reads a worker's records of bucket keyed worker/….
func children[T any](tx *state.ReadTx, bucket, worker string) ([]T, error) {
	out := []T{}
	err := tx.Seek(bucket, []byte(worker+"/"), false, func(k, v []byte) (bool, error) {
		if !strings.HasPrefix(string(k), worker+"/") {
			return false, nil
		}
		var t T
		if err := json.Unmarshal(v, &t); err != nil {
			return false, err
		}
		out = append(out, t)
		return true, nil
	})
	return out, err
}
