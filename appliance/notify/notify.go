// Package notify tells users about important events (§9): new-address
// logins, lockouts, password and factor changes, important operations done.
//
// A notification is written by the same command as its event, so an event
// never happens without its notification queued. Each notification has a
// delivery per channel — the in-app inbox always, e-mail over SMTP and SMS
// through an HTTP provider when the account has an address — and an outbox
// entry per pending delivery, which the leader's sender works off with
// retries and backoff, recording each outcome as a replicated command.
// Delivery is at least once: a leader that dies after sending but before
// recording may have the message sent again by the next.
package notify

import (
	"encoding/json"
	"fmt"
	"time"

	"cxt/storage/state"
)

// Buckets.
const (
	NotificationsBucket = "notifications" // account \x00 key -> Notification
	OutboxBucket        = "outbox"        // key \x00 channel -> account (pending deliveries)
)

// CmdResult records a delivery attempt.
const CmdResult = "notify.result"

// Channels.
const (
	Inbox = "inbox"
	Email = "email"
	SMS   = "sms"
)

// Retry policy: the n-th failure waits min(5 s × 2^n, 1 h); after
// MaxAttempts the delivery is given up as failed.
const MaxAttempts = 10

// Delivery is one channel's progress.
type Delivery struct {
	To          string    `json:"to,omitempty"` // address (sealed at rest like every value)
	Status      string    `json:"status"`       // pending, sent, failed, not_configured
	Attempts    int       `json:"attempts"`
	NextAttempt time.Time `json:"next_attempt,omitempty"`
	LastError   string    `json:"last_error,omitempty"`
}

// Notification is one message to one account.
type Notification struct {
	Key        string              `json:"key"`
	Account    string              `json:"account"`
	Event      string              `json:"event"`
	Subject    string              `json:"subject"`
	Body       string              `json:"body"`
	Created    time.Time           `json:"created"`
	Deliveries map[string]Delivery `json:"deliveries"`
}

// Recipient is where an account can be reached.
type Recipient struct {
	Account, Email, Phone string
}

// Register adds the buckets and the result command.
func Register(reg *state.Registry) {
	reg.Bucket(NotificationsBucket)
	reg.Bucket(OutboxBucket)
	reg.Bucket(SecretsBucket)
	reg.Handle(CmdResult, result)
}

// Enqueue writes a notification inside the command that causes it.
func Enqueue(tx *state.Tx, to Recipient, event, subject, body string) error {
	_, err := enqueue(tx, to, event, subject, body)
	return err
}

// enqueue writes a notification and returns its key.
func enqueue(tx *state.Tx, to Recipient, event, subject, body string) (string, error) {
	now := tx.Time()
	var key string
	for seq := 0; ; seq++ { // several notifications of one command get distinct keys
		key = fmt.Sprintf("%016x-%d-%d", now.UnixNano(), tx.Index(), seq)
		if v, err := tx.Get(NotificationsBucket, notifKey(to.Account, key)); err != nil {
			return "", err
		} else if v == nil {
			break
		}
	}
	n := Notification{Key: key, Account: to.Account, Event: event, Subject: subject, Body: body, Created: now,
		Deliveries: map[string]Delivery{Inbox: {Status: "sent"}}}
	for ch, addr := range map[string]string{Email: to.Email, SMS: to.Phone} {
		if addr == "" {
			continue
		}
		n.Deliveries[ch] = Delivery{To: addr, Status: "pending", NextAttempt: now}
		if err := tx.Put(OutboxBucket, outboxKey(key, ch), []byte(to.Account)); err != nil {
			return "", err
		}
	}
	return key, save(tx, &n)
}

func notifKey(account, key string) []byte { return []byte(account + "\x00" + key) }

func outboxKey(key, channel string) []byte { return []byte(key + "\x00" + channel) }

func save(tx *state.Tx, n *Notification) error {
	b, err := json.Marshal(n)
	if err != nil {
		return err
	}
	return tx.Put(NotificationsBucket, notifKey(n.Account, n.Key), b)
}

// Result is the outcome of one delivery attempt.
type Result struct {
	Account string `json:"account"`
	Key     string `json:"key"`
	Channel string `json:"channel"`
	Error   string `json:"error,omitempty"`
	// NotConfigured settles the delivery: this appliance has no provider
	// for the channel, and retrying cannot change that.
	NotConfigured bool `json:"not_configured,omitempty"`
}

// NotConfigured is the final status of a delivery on a channel without a
// provider.
const NotConfigured = "not_configured"

func result(tx *state.Tx, cmd *state.Command) ([]byte, error) {
	var r Result
	if err := json.Unmarshal(cmd.Body, &r); err != nil {
		return nil, state.Reject(state.InvalidRequest, "notify.result: %v", err)
	}
	raw, err := tx.Get(NotificationsBucket, notifKey(r.Account, r.Key))
	if err != nil || raw == nil {
		return nil, err
	}
	var n Notification
	if err := json.Unmarshal(raw, &n); err != nil {
		return nil, err
	}
	d, ok := n.Deliveries[r.Channel]
	if !ok || d.Status != "pending" {
		return nil, nil // already settled: a late or repeated report
	}
	d.Attempts++
	switch {
	case r.NotConfigured:
		d.Status, d.LastError, d.NextAttempt = NotConfigured, "no provider is configured for this channel", time.Time{}
	case r.Error == "":
		d.Status, d.LastError, d.NextAttempt = "sent", "", time.Time{}
	case d.Attempts >= MaxAttempts:
		d.Status, d.LastError, d.NextAttempt = "failed", r.Error, time.Time{}
	default:
		d.LastError = r.Error
		d.NextAttempt = tx.Time().Add(backoff(d.Attempts))
	}
	n.Deliveries[r.Channel] = d
	if d.Status != "pending" {
		if err := tx.Delete(OutboxBucket, outboxKey(r.Key, r.Channel)); err != nil {
			return nil, err
		}
		if err := forgetSecret(tx, &n); err != nil {
			return nil, err
		}
	}
	return nil, save(tx, &n)
}

func backoff(attempts int) time.Duration {
	d := 5 * time.Second << min(attempts, 10)
	return min(d, time.Hour)
}

// Pending is one delivery due for an attempt.
type Pending struct {
	Notification Notification
	Channel      string
}

// Due lists the pending deliveries whose next attempt is at or before now.
func Due(r *state.ReadTx, now time.Time) ([]Pending, error) {
	var out []Pending
	err := r.ForEach(OutboxBucket, func(k, v []byte) error {
		key, channel := splitOutbox(k)
		raw, err := r.Get(NotificationsBucket, notifKey(string(v), key))
		if err != nil || raw == nil {
			return err
		}
		var n Notification
		if err := json.Unmarshal(raw, &n); err != nil {
			return err
		}
		if d := n.Deliveries[channel]; d.Status == "pending" && !d.NextAttempt.After(now) {
			if err := withSecret(r, &n); err != nil {
				return err
			}
			out = append(out, Pending{Notification: n, Channel: channel})
		}
		return nil
	})
	return out, err
}

func splitOutbox(k []byte) (string, string) {
	for i := len(k) - 1; i >= 0; i-- {
		if k[i] == 0 {
			return string(k[:i]), string(k[i+1:])
		}
	}
	return string(k), ""
}

// ForAccount lists an account's notifications, newest first.
func ForAccount(r *state.ReadTx, account string, limit int) ([]Notification, error) {
	var out []Notification
	prefix := account + "\x00"
	err := r.ForEach(NotificationsBucket, func(k, v []byte) error {
		if len(k) < len(prefix) || string(k[:len(prefix)]) != prefix {
			return nil
		}
		var n Notification
		if err := json.Unmarshal(v, &n); err != nil {
			return err
		}
		out = append(out, n)
		return nil
	})
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	if limit > 0 && len(out) > limit {
		out = out[:limit]
	}
	return out, err
}
