// Package important keeps the records behind §9's important operations:
// idempotency keys (a repeat within 24 hours returns the first response,
// secrets withheld, and changes nothing; the same key with another body is
// refused), single-use confirm tokens bound to the SM3 hash of exactly the
// preview the user saw and to its idempotency key, and the four-eyes
// approvals that changes to the administrators and to the policy wait for
// (approvals.go).
package important

import (
	"encoding/json"
	"time"

	"cxt/appliance/identity"
	"cxt/appliance/important/confirm"
	"cxt/storage/state"
)

// The protocol's records live in package confirm, which the API pipeline
// writes without importing this package (and so the domains it imports).
const (
	IdempotencyBucket = confirm.IdempotencyBucket
	ConfirmBucket     = confirm.ConfirmBucket
	CmdPreview        = confirm.CmdPreview
	CmdRun            = confirm.CmdRun
	KeyTTL            = confirm.KeyTTL
)

type (
	Confirmation = confirm.Confirmation
	Outcome      = confirm.Outcome
	Preview      = confirm.Preview
	Run          = confirm.Run
)

// Register adds the buckets and commands.
func Register(reg *state.Registry) {
	reg.Bucket(IdempotencyBucket)
	reg.Bucket(ConfirmBucket)
	reg.Bucket(ApprovalsBucket)
	expireApprovals(reg)
	expireRecords(reg)
	reg.Handle(CmdPreview, func(tx *state.Tx, cmd *state.Command) ([]byte, error) {
		var p Preview
		if err := json.Unmarshal(cmd.Body, &p); err != nil {
			return nil, state.Reject(state.InvalidRequest, "op.preview: %v", err)
		}
		b, _ := json.Marshal(p.Confirmation)
		return nil, tx.Put(ConfirmBucket, p.TokenHash, b)
	})
	reg.Handle(CmdRun, run)
}

func run(tx *state.Tx, cmd *state.Command) ([]byte, error) {
	var r Run
	if err := json.Unmarshal(cmd.Body, &r); err != nil {
		return nil, state.Reject(state.InvalidRequest, "op.run: %v", err)
	}
	now := tx.Time()
	// The operation is audited as the change it makes (account.create,
	// policy.set …), refused or not; the wrapper's own type says nothing.
	if r.Event != "" {
		tx.AuditAs(r.Event)
	} else {
		tx.AuditAs(r.Type)
	}
	if prev, err := Remembered(tx.Get, r.Key, now); err != nil {
		return nil, err
	} else if prev != nil {
		if string(prev.BodyHash) != string(r.BodyHash) {
			return nil, state.Reject(codeIdempotencyConflict, "this idempotency key was used with another request")
		}
		prev.Replay = true
		return json.Marshal(prev) // the first answer, and nothing else happens
	}
	raw, err := tx.Get(ConfirmBucket, r.TokenHash)
	if err != nil {
		return nil, err
	}
	var c Confirmation
	if raw == nil || json.Unmarshal(raw, &c) != nil || now.After(c.Expires) ||
		c.Subject != r.Subject || c.Action != r.Action || string(c.Content) != string(r.Content) ||
		string(c.Key) != string(r.Key) {
		return nil, state.Reject(codeConfirmMismatch, "the confirm token is unknown, used, expired, or was issued for something else than this request and Idempotency-Key")
	}
	if err := tx.Delete(ConfirmBucket, r.TokenHash); err != nil {
		return nil, err
	}
	out := Outcome{BodyHash: r.BodyHash, Status: r.Status, Response: r.Response, At: now}
	event, title, text := "operation.done", "重要操作已执行 / Important operation done",
		"The operation "+r.Action+" you confirmed was carried out at "+now.Format(time.RFC3339)+"."
	if r.Type == CmdDecide {
		if out.Response, err = decide(tx, r.Subject, r.Body); err != nil {
			return nil, err
		}
	} else if req, err := FourEyes(tx.Get, r.Type, r.Body); err != nil {
		return nil, err
	} else if req != nil {
		// A second administrator must approve: the change waits, and the
		// log says it was proposed, not made.
		tx.AuditAs("approval.request")
		a, err := propose(tx, cmd, &r, req)
		if err != nil {
			return nil, err
		}
		out.Status, out.Response = 202, mustJSON(map[string]any{"approval": a.View()})
		event, title, text = "operation.proposed", "重要操作待复核 / Important operation awaits approval",
			"The operation "+r.Action+" you confirmed at "+now.Format(time.RFC3339)+" awaits the approval of a second administrator ("+a.ID+")."
	} else if _, err := tx.Run(r.Type, r.Body); err != nil {
		return nil, err
	}
	if err := identity.Notify(tx, r.Subject, event, title, text); err != nil {
		return nil, err
	}
	b, _ := json.Marshal(out)
	return b, tx.Put(IdempotencyBucket, r.Key, b)
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

// Remembered returns the outcome stored under an idempotency key if it is
// younger than KeyTTL.
func Remembered(get func(string, []byte) ([]byte, error), key []byte, now time.Time) (*Outcome, error) {
	return confirm.Remembered(get, key, now)
}
