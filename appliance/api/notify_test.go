package api_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"cxt/appliance/notify"
)

// mailbox is a real SMTP server on loopback that keeps what it receives.
type mailbox struct {
	mu   sync.Mutex
	msgs []string // "to|data"
}

type mailSession struct {
	box *mailbox
	to  []string
}

func (s *mailSession) Reset()        {}
func (s *mailSession) Logout() error { return nil }
func (s *mailSession) Mail(from string, opts *smtp.MailOptions) error {
	return nil
}
func (s *mailSession) Rcpt(to string, opts *smtp.RcptOptions) error {
	s.to = append(s.to, to)
	return nil
}
func (s *mailSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	s.box.mu.Lock()
	s.box.msgs = append(s.box.msgs, strings.Join(s.to, ",")+"|"+string(b))
	s.box.mu.Unlock()
	return err
}

func startSMTP(t *testing.T) (*mailbox, string) {
	box := &mailbox{}
	srv := smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) { return &mailSession{box: box}, nil }))
	srv.Domain = "localhost"
	srv.AllowInsecureAuth = true
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return box, ln.Addr().String()
}

func (m *mailbox) find(to, text string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, msg := range m.msgs {
		if strings.HasPrefix(msg, to+"|") && strings.Contains(msg, text) {
			return true
		}
	}
	return false
}

func eventually(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("never happened: %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestNotificationsGoOutByEmailAndSMSAndShowInTheAPI(t *testing.T) {
	box, smtpAddr := startSMTP(t)
	var smsMu sync.Mutex
	var sent []map[string]string
	failSMS := true
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		smsMu.Lock()
		defer smsMu.Unlock()
		if failSMS { // the provider is down at first: the delivery is retried
			http.Error(w, "down", http.StatusBadGateway)
			return
		}
		var m map[string]string
		json.NewDecoder(r.Body).Decode(&m)
		sent = append(sent, m)
	}))
	defer hook.Close()
	e := startWith(t, &notify.Config{SMTPAddr: smtpAddr, SMTPFrom: "cxt@example.cn", SMSWebhook: hook.URL})

	sec, _ := e.signInMFA("secadmin")
	created := e.confirmed("POST", "/api/v1/accounts", sec,
		`{"username":"worker-zhang","roles":["merchant_operator"],"email":"zhang@example.cn","phone":"13812345678"}`, "create-w1")
	if created.status != 201 {
		t.Fatalf("create: %d %v", created.status, created.body)
	}
	if acct := created.body["account"].(map[string]any); acct["phone"] != "138****5678" || acct["email"] != "z***@example.cn" {
		t.Fatalf("addresses are not masked: %v", acct)
	}
	// The security admin is told the important operation was done (in-app).
	// The user's first login comes from a new address: e-mail and SMS. (A
	// merchant user: a worker's login needs an SMS code, see sms_test.go.)
	r := e.login("worker-zhang", created.body["one_time_password"].(string))
	if r.status != 201 {
		t.Fatalf("worker login: %d %v", r.status, r.body)
	}
	worker := r.body["token"].(string)
	eventually(t, "an e-mail about the new-address login", func() bool { return box.find("zhang@example.cn", "127.0.0.1") })
	pw := fmt.Sprintf(`{"current_password":%q,"new_password":"Worker-Strong-2026!"}`, created.body["one_time_password"])
	if r := e.call("POST", "/api/v1/me/password", worker, pw); r.status != 200 {
		t.Fatalf("worker password: %d %v", r.status, r.body)
	}
	loginNote := func() map[string]any {
		list := e.call("GET", "/api/v1/me/notifications", worker, "")
		ns, _ := list.body["notifications"].([]any)
		for _, x := range ns {
			if n := x.(map[string]any); n["event"] == "login.new_address" {
				return n
			}
		}
		t.Fatalf("no new-address notification: %d %v", list.status, list.body)
		return nil
	}
	sms := func() map[string]any { return loginNote()["deliveries"].(map[string]any)["sms"].(map[string]any) }
	if d := loginNote()["deliveries"].(map[string]any); d["inbox"].(map[string]any)["status"] != "sent" {
		t.Fatalf("inbox delivery: %v", d)
	}
	eventually(t, "a failed SMS attempt recorded for retry", func() bool {
		d := sms()
		return d["status"] == "pending" && d["attempts"].(float64) >= 1 && d["last_error"] != ""
	})
	smsMu.Lock()
	failSMS = false
	smsMu.Unlock()
	e.clock.advance(time.Minute) // past the backoff (10 s after one failure), within the idle timeout
	eventually(t, "the SMS delivered after the provider recovered", func() bool {
		smsMu.Lock()
		defer smsMu.Unlock()
		for _, m := range sent {
			if m["to"] == "13812345678" && strings.Contains(m["text"], "127.0.0.1") {
				return true
			}
		}
		return false
	})
	eventually(t, "the SMS delivery marked sent", func() bool {
		d := sms()
		return d["status"] == "sent" && d["to"] == "138****5678"
	})

	secNotes := e.call("GET", "/api/v1/me/notifications", sec, "").body["notifications"].([]any)
	events := map[string]bool{}
	for _, x := range secNotes {
		events[x.(map[string]any)["event"].(string)] = true
	}
	for _, want := range []string{"operation.done", "account.password_changed", "account.factor_changed", "login.new_address"} {
		if !events[want] {
			t.Errorf("the security admin was not notified of %s: %v", want, events)
		}
	}
}
