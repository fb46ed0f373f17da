package api

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"time"

	"cxt/appliance/errs"
	"cxt/appliance/important/confirm"
	"cxt/crypto/sm"
	"cxt/storage/auditlog"
	"cxt/storage/state"
)

// Op is an important operation prepared from a request and the current
// state: what it will do (shown in the preview), and the change and answer
// that confirming it makes.
type Op struct {
	Impact   map[string]any
	Risks    []string
	Command  *state.Command
	Status   int
	Response any
	// Secrets names the top-level fields of Response that only the request
	// that made the change sees (one-time passwords, unmasked personal
	// data, exported entries). They are never replicated or remembered: a
	// replay of the Idempotency-Key answers without them, listing their
	// names under "withheld".
	Secrets []string
	// Advise, if set, adds advice to a preview that the confirm token does
	// not bind, because it moves with every request (the replay of recent
	// decisions under a new policy). It runs for previews only.
	Advise func() (map[string]any, error)
}

// confirmFor is how long a preview can be confirmed.
const confirmFor = 5 * time.Minute

// ReplayHeader marks an answer repeated for an Idempotency-Key already used.
const ReplayHeader = "Idempotent-Replayed"

// important runs §9's protocol around an important operation: an
// Idempotency-Key is required; without X-Confirm-Token the answer is a
// preview and a single-use token bound to the SM3 of exactly that preview
// and to the key; with it, the operation runs once — or, if it needs a
// second administrator, waits for one (202) — and a repeat of the key
// returns the first answer with its secrets withheld.
func (s *Server) important(r *Request, rt Route) (int, any, error) {
	const op = "important operation"
	key := r.HTTP.Header.Get("Idempotency-Key")
	if key == "" || len(key) > 128 {
		return 0, nil, errs.E(op, errs.Invalid, "an Idempotency-Key header (1-128 characters) is required")
	}
	body, err := io.ReadAll(r.HTTP.Body)
	if err != nil {
		return 0, nil, errs.E(op, errs.TooLarge, "the body is too large")
	}
	r.HTTP.Body = io.NopCloser(bytes.NewReader(body))
	bodyHash := sm.Sum([]byte(r.HTTP.Method + " " + r.HTTP.URL.Path + "\x00" + string(body)))
	idem := []byte(r.Subject.ID + "\x00" + key)

	remembered := func() (*confirm.Outcome, error) {
		var prev *confirm.Outcome
		err := r.View(func(tx *state.ReadTx) error {
			var err error
			prev, err = confirm.Remembered(tx.Get, idem, s.Now())
			return err
		})
		if err != nil || prev == nil {
			return nil, err
		}
		if !bytes.Equal(prev.BodyHash, bodyHash[:]) {
			return nil, errs.Coded(op, errs.Conflict, "idempotency_conflict", "this Idempotency-Key was used with another request")
		}
		return prev, nil
	}
	if prev, err := remembered(); err != nil {
		return 0, nil, err
	} else if prev != nil {
		r.replayed()
		return prev.Status, prev.Response, nil
	}

	o, err := rt.Prepare(r)
	if err != nil {
		// A twin of this request (a client's retry) may have run the
		// operation since the key was looked up, and so changed what
		// Prepare reads — a batch confirmed is not confirmed again. Its
		// outcome is this request's answer too, not the refusal.
		if prev, perr := remembered(); perr == nil && prev != nil {
			r.replayed()
			return prev.Status, prev.Response, nil
		}
		return 0, nil, err
	}
	shown := map[string]any{"action": rt.Action, "impact": o.Impact, "risks": o.Risks}
	// Whether a second administrator must approve is the state machine's
	// call at the confirm; the preview shows what it will say now.
	var approvers *Approvers
	if s.FourEyes != nil {
		if err := r.View(func(tx *state.ReadTx) error {
			var err error
			approvers, err = s.FourEyes.Approvers(tx, r.Subject, o.Command)
			return err
		}); err != nil {
			return 0, nil, Classify(err)
		}
	}
	if approvers != nil {
		shown["approval"] = map[string]any{
			"required": true, "approver_roles": approvers.Roles,
			"expires_in": approvers.Within.String(),
		}
		shown["risks"] = append(slices.Clone(o.Risks), "nothing changes at the confirm: a second administrator of another duty must approve within "+approvers.Within.String())
	}
	canonical, _ := json.Marshal(map[string]any{"shown": shown, "request": bodyHash[:]})
	content := sm.Sum(canonical)
	now := s.Now()

	token := r.HTTP.Header.Get("X-Confirm-Token")
	if token == "" {
		raw := make([]byte, 32)
		rand.Read(raw)
		h := tokenHash(raw)
		expires := now.Add(confirmFor)
		p := confirm.Preview{TokenHash: h, Confirmation: confirm.Confirmation{Subject: r.Subject.ID, Action: rt.Action, Content: content[:], Key: idem, Expires: expires}}
		if _, err := r.Propose(state.NewCommand(confirm.CmdPreview, mustJSON(p), now)); err != nil {
			return 0, nil, err
		}
		preview := shown
		if o.Advise != nil {
			advice, err := o.Advise()
			if err != nil {
				return 0, nil, err
			}
			preview = map[string]any{"advice": advice}
			for k, v := range shown {
				preview[k] = v
			}
		}
		return 200, map[string]any{
			"preview": preview, "confirm_token": base64.RawURLEncoding.EncodeToString(raw), "expires_at": expires,
			"next": "repeat this request with the header X-Confirm-Token and the same Idempotency-Key",
		}, nil
	}
	raw, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil || len(raw) != 32 {
		return 0, nil, errs.Coded(op, errs.Conflict, "confirm_mismatch", "the confirm token is malformed")
	}
	run := confirm.Run{
		Key: idem, BodyHash: bodyHash[:], TokenHash: tokenHash(raw), Subject: r.Subject.ID, Action: rt.Action,
		Content: content[:], Type: o.Command.Type, Body: o.Command.Body, Event: recordedEvent(o.Command),
		Status: o.Status, Response: withhold(o.Response, o.Secrets), Shown: mustJSON(shown),
	}
	out, err := r.Propose(state.NewCommand(confirm.CmdRun, mustJSON(run), now))
	if err != nil {
		return 0, nil, err
	}
	var outcome confirm.Outcome
	if err := json.Unmarshal(out, &outcome); err != nil {
		return 0, nil, err
	}
	switch {
	case outcome.Replay: // a twin request with the same key got there first
		r.replayed()
	case len(o.Secrets) > 0 && outcome.Status == o.Status:
		// This request made the change: it alone sees the secrets.
		return o.Status, o.Response, nil
	}
	return outcome.Status, outcome.Response, nil
}

func tokenHash(token []byte) []byte { h := sm.Sum(token); return h[:] }

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

// withhold returns resp as JSON without its secret fields, naming them
// under "withheld".
func withhold(resp any, secrets []string) json.RawMessage {
	b := mustJSON(resp)
	if len(secrets) == 0 {
		return b
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		panic("important operation: a response with secrets must be a JSON object")
	}
	for _, k := range secrets {
		delete(m, k)
	}
	m["withheld"] = mustJSON(secrets)
	return mustJSON(m)
}

// recordedEvent is the audit type of an operation whose command only
// records an event (unmasking, export): that event; otherwise "".
func recordedEvent(cmd *state.Command) string {
	if cmd.Type != auditlog.CmdRecord {
		return ""
	}
	var c auditlog.Context
	json.Unmarshal(cmd.Audit, &c)
	return c.Event
}

// replayed marks the answer as the repeat of an earlier one.
func (r *Request) replayed() {
	if r.header == nil {
		r.header = http.Header{}
	}
	r.header.Set(ReplayHeader, "true")
}
