package notify

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"mime"
	"net/http"
	"net/smtp"
	"strings"
	"sync"
	"time"

	"cxt/storage/auditlog"
	"cxt/storage/cluster"
	"cxt/storage/state"
)

// Config says how to reach people. A channel left empty settles its
// deliveries as not_configured.
type Config struct {
	SMTPAddr     string `json:"smtp_addr,omitempty"` // host:port
	SMTPFrom     string `json:"smtp_from,omitempty"`
	SMTPUser     string `json:"smtp_user,omitempty"`
	SMTPPassword string `json:"smtp_password,omitempty"`
	SMSWebhook   string `json:"sms_webhook,omitempty"` // POST {"to":…,"text":…}; 2xx means accepted
}

// Sender works off the outbox while its node leads.
type Sender struct {
	Node     *cluster.Node
	Config   Config
	Now      func() time.Time
	Log      *slog.Logger
	Interval time.Duration
	HTTP     *http.Client

	told sync.Map // channels already reported as not configured
}

// Run sends due deliveries every Interval until ctx ends.
func (s *Sender) Run(ctx context.Context) {
	if s.Interval == 0 {
		s.Interval = time.Second
	}
	if s.HTTP == nil {
		s.HTTP = &http.Client{Timeout: 10 * time.Second}
	}
	t := time.NewTicker(s.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if s.Node.Status().Role != "leader" {
			continue
		}
		s.Once(ctx)
	}
}

// Once attempts every due delivery once.
func (s *Sender) Once(ctx context.Context) {
	var due []Pending
	if err := s.Node.State().View(func(r *state.ReadTx) error {
		var err error
		due, err = Due(r, s.Now())
		return err
	}); err != nil {
		s.Log.Error("outbox unreadable", "err", err)
		return
	}
	for _, p := range due {
		err := s.deliver(ctx, p)
		res := Result{Account: p.Notification.Account, Key: p.Notification.Key, Channel: p.Channel}
		outcome := "ok"
		switch {
		case errors.Is(err, errNotConfigured):
			res.NotConfigured, outcome = true, NotConfigured
			s.notConfigured(p.Channel)
		case err != nil:
			res.Error, outcome = err.Error(), "delivery_failed"
			s.Log.Warn("notification not delivered", "channel", p.Channel, "key", p.Notification.Key, "err", err)
		}
		b, _ := json.Marshal(res)
		cmd := state.NewCommand(CmdResult, b, s.Now())
		// The audit record carries the delivery's outcome: the command that
		// records a failed attempt itself succeeds, and its record must not
		// read "ok". The error text stays out of it (it may quote an address).
		cmd.Audit = auditlog.Context{Subject: "system", Action: "notify.deliver",
			Object: p.Notification.Account + " " + p.Notification.Event + " " + p.Channel, Result: outcome}.Encode()
		if _, err := s.Node.ProposeOK(ctx, cmd); err != nil {
			s.Log.Error("cannot record a delivery", "err", err)
			return
		}
	}
}

var errNotConfigured = errors.New("no provider is configured for this channel")

// notConfigured says once per channel that its deliveries are settled as
// not_configured, instead of a warning per message.
func (s *Sender) notConfigured(channel string) {
	if _, said := s.told.LoadOrStore(channel, true); !said {
		s.Log.Info("notifications on this channel are not configured in node.json; its deliveries are marked not_configured", "channel", channel)
	}
}

func (s *Sender) deliver(ctx context.Context, p Pending) error {
	d := p.Notification.Deliveries[p.Channel]
	switch p.Channel {
	case Email:
		if s.Config.SMTPAddr == "" {
			return errNotConfigured
		}
		var auth smtp.Auth
		if s.Config.SMTPUser != "" {
			host, _, _ := strings.Cut(s.Config.SMTPAddr, ":")
			auth = smtp.PlainAuth("", s.Config.SMTPUser, s.Config.SMTPPassword, host)
		}
		return smtp.SendMail(s.Config.SMTPAddr, auth, s.Config.SMTPFrom, []string{d.To}, message(s.Config.SMTPFrom, d.To, p.Notification))
	case SMS:
		if s.Config.SMSWebhook == "" {
			return errNotConfigured
		}
		body, _ := json.Marshal(map[string]string{"to": d.To, "text": p.Notification.Subject + ": " + p.Notification.Body, "id": p.Notification.Key})
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.Config.SMSWebhook, bytes.NewReader(body))
		if err != nil {
			return err
		}
		req.Header.Set("Content-Type", "application/json")
		resp, err := s.HTTP.Do(req)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode/100 != 2 {
			return fmt.Errorf("SMS provider answered %s", resp.Status)
		}
		return nil
	}
	return fmt.Errorf("unknown channel %q", p.Channel)
}

// message formats an RFC 5322 message with a UTF-8 subject and body.
func message(from, to string, n Notification) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "From: %s\r\nTo: %s\r\n", from, to)
	fmt.Fprintf(&b, "Subject: %s\r\n", mime.QEncoding.Encode("utf-8", n.Subject))
	fmt.Fprintf(&b, "Date: %s\r\nMessage-ID: <%s@cxt>\r\n", n.Created.Format(time.RFC1123Z), n.Key)
	b.WriteString("MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n")
	b.WriteString(strings.ReplaceAll(n.Body, "\n", "\r\n"))
	b.WriteString("\r\n")
	return b.Bytes()
}
