package api

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"io"
	"time"

	"cxt/appliance/errs"
	"cxt/appliance/important"
	"cxt/crypto/sm"
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
}

// confirmFor is how long a preview can be confirmed.
const confirmFor = 5 * time.Minute

// important runs §9's protocol around an important operation: an
// Idempotency-Key is required; without X-Confirm-Token the answer is a
// preview and a single-use token bound to the SM3 of exactly that preview;
// with it, the operation runs once, and a repeat of the key returns the
// first answer.
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

	var prev *important.Outcome
	if err := r.View(func(tx *state.ReadTx) error {
		var err error
		prev, err = important.Remembered(tx.Get, idem, s.Now())
		return err
	}); err != nil {
		return 0, nil, err
	}
	if prev != nil {
		if !bytes.Equal(prev.BodyHash, bodyHash[:]) {
			return 0, nil, errs.Coded(op, errs.Conflict, "idempotency_conflict", "this Idempotency-Key was used with another request")
		}
		return prev.Status, prev.Response, nil
	}

	o, err := rt.prepare(r)
	if err != nil {
		return 0, nil, err
	}
	shown := map[string]any{"action": rt.Action, "impact": o.Impact, "risks": o.Risks}
	canonical, _ := json.Marshal(map[string]any{"shown": shown, "request": bodyHash[:]})
	content := sm.Sum(canonical)
	now := s.Now()

	token := r.HTTP.Header.Get("X-Confirm-Token")
	if token == "" {
		raw := make([]byte, 32)
		rand.Read(raw)
		h := tokenHash(raw)
		expires := now.Add(confirmFor)
		p := important.Preview{TokenHash: h, Confirmation: important.Confirmation{Subject: r.Subject.ID, Action: rt.Action, Content: content[:], Expires: expires}}
		if _, err := r.Propose(state.NewCommand(important.CmdPreview, mustJSON(p), now)); err != nil {
			return 0, nil, err
		}
		return 200, map[string]any{
			"preview": shown, "confirm_token": base64.RawURLEncoding.EncodeToString(raw), "expires_at": expires,
			"next": "repeat this request with the header X-Confirm-Token and the same Idempotency-Key",
		}, nil
	}
	raw, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil || len(raw) != 32 {
		return 0, nil, errs.Coded(op, errs.Conflict, "confirm_mismatch", "the confirm token is malformed")
	}
	resp, _ := json.Marshal(o.Response)
	run := important.Run{
		Key: idem, BodyHash: bodyHash[:], TokenHash: tokenHash(raw), Subject: r.Subject.ID, Action: rt.Action,
		Content: content[:], Type: o.Command.Type, Body: o.Command.Body, Status: o.Status, Response: resp,
	}
	out, err := r.Propose(state.NewCommand(important.CmdRun, mustJSON(run), now))
	if err != nil {
		return 0, nil, err
	}
	var outcome important.Outcome
	if err := json.Unmarshal(out, &outcome); err != nil {
		return 0, nil, err
	}
	return outcome.Status, outcome.Response, nil
}
