package callbacks

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"cxt/storage/state"
)

// Buckets.
const (
	Bucket          = "callbacks"          // merchant/delivery ID -> Delivery
	OutboxBucket    = "callback-outbox"    // next try (8 bytes, Unix ns) ‖ merchant/delivery ID -> ""
	EndpointsBucket = "callback-endpoints" // merchant/client ID -> callback URL
	KeyBucket       = "callback-key"       // "key" -> Key, the platform's signing key
)

// Command types.
const (
	CmdAttempt = "callback.attempt"
	CmdReplay  = "callback.replay"
	CmdTest    = "callback.test"
	CmdKey     = "callback.key"
)

// Refusals besides the general ones.
var (
	// CodeStale refuses the outcome of a try the delivery no longer waits
	// for: another leader recorded it, or a replay began a new round.
	CodeStale = state.NewCode(state.KindConflict, "callback_stale")
	// CodeNoEndpoint refuses a test delivery to a merchant none of whose
	// clients has a callback URL.
	CodeNoEndpoint = state.NewCode(state.KindConflict, "callback_no_endpoint")
)

// Retention is how long a delivery that is no longer pending stays in the
// merchant's log.
const Retention = 90 * 24 * time.Hour

// Register adds the callbacks' buckets and commands (command set 4).
func Register(reg *state.Registry) {
	for _, b := range []string{Bucket, OutboxBucket, EndpointsBucket, KeyBucket} {
		reg.Bucket(b)
	}
	reg.HandleFrom(state.MoneySet, CmdAttempt, attempt)
	reg.HandleFrom(state.MoneySet, CmdReplay, replay)
	reg.HandleFrom(state.MoneySet, CmdTest, test)
	reg.HandleFrom(state.MoneySet, CmdKey, slot.Install)
	reg.Expire(Bucket, expire)
}

// getter is a state transaction, read-only or not.
type getter interface {
	Get(bucket string, key []byte) ([]byte, error)
}

func key(merchant, id string) []byte { return []byte(merchant + "/" + id) }

// Get reads a merchant's delivery; not_found if there is none.
func Get(tx getter, merchant, id string) (*Delivery, error) {
	b, err := tx.Get(Bucket, key(merchant, id))
	if err != nil {
		return nil, err
	}
	if b == nil {
		return nil, state.Reject(state.NotFound, "merchant %s has no callback delivery %s", merchant, id)
	}
	var d Delivery
	if err := json.Unmarshal(b, &d); err != nil {
		return nil, fmt.Errorf("callbacks: %s/%s: %w", merchant, id, err)
	}
	return &d, nil
}

func put(tx *state.Tx, d *Delivery) error {
	b, err := json.Marshal(d)
	if err != nil {
		return err
	}
	return tx.Put(Bucket, key(d.Merchant, d.ID), b)
}

func outboxKey(at time.Time, merchant, id string) []byte {
	k := binary.BigEndian.AppendUint64(nil, uint64(at.UnixNano()))
	return append(k, key(merchant, id)...)
}

// SetEndpoint makes url, inside the command that registers a client, the
// callback URL of that client of merchant: every event enqueued for the
// merchant from then on is delivered there too. The caller has checked it
// (CheckURL).
func SetEndpoint(tx *state.Tx, merchant, client, url string) error {
	if merchant == "" || client == "" || strings.Contains(merchant, "/") || url == "" {
		return state.Reject(state.InvalidRequest, "a callback endpoint names a merchant, a client and a URL")
	}
	return tx.Put(EndpointsBucket, key(merchant, client), []byte(url))
}

// RemoveEndpoint ends a client's callbacks (it was revoked). Deliveries
// still pending for it end dead at their next try.
func RemoveEndpoint(tx *state.Tx, merchant, client string) error {
	return tx.Delete(EndpointsBucket, key(merchant, client))
}

// Endpoint returns a client's callback URL, or "".
func Endpoint(tx getter, merchant, client string) (string, error) {
	b, err := tx.Get(EndpointsBucket, key(merchant, client))
	return string(b), err
}

// maxEndpoints bounds the callback URLs one event goes to.
const maxEndpoints = 64

var errStop = errors.New("stop")

// endpoints lists merchant's clients with a callback URL, as tx sees them.
func endpoints(tx *state.Tx, merchant string) ([]string, error) {
	prefix := merchant + "/"
	var out []string
	_, err := tx.Scan(EndpointsBucket, []byte(prefix), maxEndpoints, func(k, _ []byte) error {
		if !bytes.HasPrefix(k, []byte(prefix)) {
			return errStop
		}
		out = append(out, strings.TrimPrefix(string(k), prefix))
		return nil
	})
	if err != nil && !errors.Is(err, errStop) {
		return nil, err
	}
	return out, nil
}

// Subscribed reports whether any of merchant's clients registered a
// callback URL: a command that would tell it of many changes asks first,
// and builds no payload for a merchant nobody listens for.
func Subscribed(tx *state.Tx, merchant string) (bool, error) {
	clients, err := endpoints(tx, merchant)
	return len(clients) > 0, err
}

// Enqueue reports event with payload to merchant's systems, inside the
// command that makes the change: one delivery to each callback URL its
// clients registered, sent by the leader from now on. A merchant without
// one is told nothing. payload is encoded as JSON under "data".
func Enqueue(tx *state.Tx, merchant, event string, payload any) error {
	_, err := enqueue(tx, merchant, event, payload)
	return err
}

func enqueue(tx *state.Tx, merchant, event string, payload any) ([]*Delivery, error) {
	if err := CheckEvent(event); err != nil {
		return nil, state.Reject(state.InvalidRequest, "%v", err)
	}
	if merchant == "" || strings.Contains(merchant, "/") {
		return nil, state.Reject(state.InvalidRequest, "a callback names its merchant")
	}
	clients, err := endpoints(tx, merchant)
	if err != nil || len(clients) == 0 {
		return nil, err
	}
	data, err := json.Marshal(payload)
	if err != nil {
		return nil, fmt.Errorf("callbacks: %s: %w", event, err)
	}
	now := tx.Time()
	var out []*Delivery
	for _, client := range clients {
		id, err := newID(tx, merchant)
		if err != nil {
			return nil, err
		}
		body, err := json.Marshal(Envelope{ID: id, Event: event, Merchant: merchant, Created: now, Data: json.RawMessage(data)})
		if err != nil {
			return nil, err
		}
		d := &Delivery{ID: id, Merchant: merchant, Client: client, Event: event, Body: body, Created: now,
			Status: Pending, Round: 1, Next: now, Attempts: []Attempt{}}
		if err := put(tx, d); err != nil {
			return nil, err
		}
		if err := tx.Put(OutboxBucket, outboxKey(now, merchant, id), nil); err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, nil
}

// newID names a delivery after the log index of the command that enqueues
// it, so IDs sort by time on every replica, and a sequence within the
// command.
func newID(tx *state.Tx, merchant string) (string, error) {
	for seq := 0; seq < 1<<16; seq++ {
		id := fmt.Sprintf("cb_%016x%04x", tx.Index(), seq)
		if b, err := tx.Get(Bucket, key(merchant, id)); err != nil {
			return "", err
		} else if b == nil {
			return id, nil
		}
	}
	return "", state.Reject(state.Conflict, "too many callbacks in one command")
}

// Outcome is the body of CmdAttempt: how one try went.
type Outcome struct {
	Merchant string `json:"merchant"`
	ID       string `json:"id"`
	Round    int    `json:"round"`
	Try      int    `json:"try"` // 1 for the first try of a round
	Status   int    `json:"status,omitempty"`
	Error    string `json:"error,omitempty"`
	Duration int64  `json:"duration_ms"`
	Node     string `json:"node"`
	// RetryIn is how long after this failure the next try is due; 0 ends
	// the round (out of tries, or nowhere to send).
	RetryIn time.Duration `json:"retry_in"`
}

// OK reports whether the try was answered 2xx.
func (o Outcome) OK() bool { return o.Status >= 200 && o.Status < 300 && o.Error == "" }

const maxError = 300

func attempt(tx *state.Tx, cmd *state.Command) ([]byte, error) {
	var o Outcome
	if err := json.Unmarshal(cmd.Body, &o); err != nil || o.Merchant == "" || o.ID == "" || o.Try < 1 || o.RetryIn < 0 {
		return nil, state.Reject(state.InvalidRequest, "a callback attempt names its delivery, round and try")
	}
	d, err := Get(tx, o.Merchant, o.ID)
	if err != nil {
		return nil, err
	}
	if d.Status != Pending || o.Round != d.Round || o.Try != d.Tries+1 {
		return nil, state.Reject(CodeStale, "delivery %s is %s at round %d after %d tries; this outcome is of round %d try %d", d.ID, d.Status, d.Round, d.Tries, o.Round, o.Try)
	}
	if len(o.Error) > maxError {
		o.Error = o.Error[:maxError]
	}
	now := tx.Time()
	if err := tx.Delete(OutboxBucket, outboxKey(d.Next, d.Merchant, d.ID)); err != nil {
		return nil, err
	}
	d.Tries++
	d.Attempts = append(d.Attempts, Attempt{Round: d.Round, Try: d.Tries, At: now, Status: o.Status, Error: o.Error, Duration: o.Duration, Node: o.Node})
	if len(d.Attempts) > maxAttemptsKept {
		d.Attempts = d.Attempts[len(d.Attempts)-maxAttemptsKept:]
	}
	switch {
	case o.OK():
		d.Status, d.Next = Delivered, time.Time{}
	case o.RetryIn == 0:
		d.Status, d.Next = Dead, time.Time{}
	default:
		d.Next = now.Add(o.RetryIn)
		if err := tx.Put(OutboxBucket, outboxKey(d.Next, d.Merchant, d.ID), nil); err != nil {
			return nil, err
		}
	}
	if err := put(tx, d); err != nil {
		return nil, err
	}
	return json.Marshal(d)
}

// Replay is the body of CmdReplay.
type Replay struct {
	Merchant string `json:"merchant"`
	ID       string `json:"id"`
	By       string `json:"by"`
}

// replay starts a new round of tries of a delivery that is no longer
// pending, with the same body; the merchant's endpoint must still be there.
func replay(tx *state.Tx, cmd *state.Command) ([]byte, error) {
	var r Replay
	if err := json.Unmarshal(cmd.Body, &r); err != nil || r.Merchant == "" || r.ID == "" || r.By == "" {
		return nil, state.Reject(state.InvalidRequest, "a replay names the delivery and who asked")
	}
	d, err := Get(tx, r.Merchant, r.ID)
	if err != nil {
		return nil, err
	}
	if d.Status == Pending {
		return nil, state.Reject(state.Conflict, "delivery %s is still pending: its next try is at %s", d.ID, d.Next.Format(time.RFC3339))
	}
	if url, err := Endpoint(tx, d.Merchant, d.Client); err != nil {
		return nil, err
	} else if url == "" {
		return nil, state.Reject(CodeNoEndpoint, "client %s of delivery %s has no callback URL any more (revoked)", d.Client, d.ID)
	}
	now := tx.Time()
	d.Status, d.Round, d.Tries, d.Next = Pending, d.Round+1, 0, now
	if err := tx.Put(OutboxBucket, outboxKey(now, d.Merchant, d.ID), nil); err != nil {
		return nil, err
	}
	if err := put(tx, d); err != nil {
		return nil, err
	}
	return json.Marshal(d)
}

// Test is the body of CmdTest.
type Test struct {
	Merchant string `json:"merchant"`
	By       string `json:"by"`
}

// test enqueues a callback.test event, so a merchant sees its endpoint
// receive and verify one.
func test(tx *state.Tx, cmd *state.Command) ([]byte, error) {
	var t Test
	if err := json.Unmarshal(cmd.Body, &t); err != nil || t.Merchant == "" || t.By == "" {
		return nil, state.Reject(state.InvalidRequest, "a test callback names the merchant and who asked")
	}
	ds, err := enqueue(tx, t.Merchant, EventTest, map[string]string{"requested_by": t.By, "note": "a test delivery: verify its signature as docs/payouts.md shows"})
	if err != nil {
		return nil, err
	}
	if len(ds) == 0 {
		return nil, state.Reject(CodeNoEndpoint, "no client of merchant %s has a callback URL", t.Merchant)
	}
	return json.Marshal(ds)
}

// expire forgets a delivery that is no longer pending Retention after it
// was created.
func expire(tx *state.Tx, k, v []byte, now time.Time) (bool, error) {
	var d Delivery
	if err := json.Unmarshal(v, &d); err != nil {
		return false, fmt.Errorf("callbacks: %s: %w", k, err)
	}
	if d.Status == Pending || now.Sub(d.Created) < Retention {
		return false, nil
	}
	return true, tx.Delete(Bucket, k)
}

// Due is a delivery whose try is due, with where it goes.
type Due struct {
	Delivery *Delivery
	URL      string // "" when the client has none any more
}

// DueAt lists up to limit deliveries due at now, earliest first.
func DueAt(tx *state.ReadTx, now time.Time, limit int) ([]Due, error) {
	var out []Due
	cutoff := binary.BigEndian.AppendUint64(nil, uint64(now.UnixNano()))
	err := tx.Seek(OutboxBucket, nil, false, func(k, _ []byte) (bool, error) {
		if len(k) < 8 || bytes.Compare(k[:8], cutoff) > 0 || len(out) == limit {
			return false, nil
		}
		merchant, id, ok := strings.Cut(string(k[8:]), "/")
		if !ok {
			return false, fmt.Errorf("callbacks: outbox key %x", k)
		}
		d, err := Get(tx, merchant, id)
		if err != nil {
			return false, err
		}
		url, err := Endpoint(tx, merchant, d.Client)
		if err != nil {
			return false, err
		}
		out = append(out, Due{Delivery: d, URL: url})
		return true, nil
	})
	return out, err
}
