package demo

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"regexp"
	"strings"
	"sync"
	"time"
)

// SMSSink is the demo's SMS gateway: it accepts the node's SMS webhook
// (POST {"to","text"}), appends every message to a file an evaluator can
// read (one JSON object a line), and hands codes to the filler.
type SMSSink struct {
	URL  string
	path string
	srv  *http.Server

	mu   sync.Mutex
	msgs []SMS
	new  chan struct{}
}

// SMS is one message the node sent.
type SMS struct {
	To   string    `json:"to"`
	Text string    `json:"text"`
	At   time.Time `json:"at"`
}

// StartSMSSink listens on loopback and appends messages to path.
func StartSMSSink(path string) (*SMSSink, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &SMSSink{URL: "http://" + ln.Addr().String() + "/sms", path: path, new: make(chan struct{}, 1)}
	s.srv = &http.Server{Handler: http.HandlerFunc(s.accept), ReadHeaderTimeout: 5 * time.Second}
	go s.srv.Serve(ln)
	return s, nil
}

func (s *SMSSink) accept(w http.ResponseWriter, r *http.Request) {
	var m SMS
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10)).Decode(&m); err != nil || m.To == "" {
		http.Error(w, "want {\"to\",\"text\"}", http.StatusBadRequest)
		return
	}
	m.At = time.Now().UTC()
	s.mu.Lock()
	s.msgs = append(s.msgs, m)
	f, err := os.OpenFile(s.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err == nil {
		b, _ := json.Marshal(m)
		f.Write(append(b, '\n'))
		f.Close()
	}
	s.mu.Unlock()
	select {
	case s.new <- struct{}{}:
	default:
	}
	w.WriteHeader(http.StatusAccepted)
}

var sixDigits = regexp.MustCompile(`\b(\d{6})\b`)

// Code waits for the first message to phone after since whose text holds
// about (an agreement's ID, say; "" for any) and a six-digit code, and
// returns the code.
func (s *SMSSink) Code(ctx context.Context, phone, about string, since time.Time) (string, error) {
	for {
		s.mu.Lock()
		for _, m := range s.msgs {
			if m.To == phone && !m.At.Before(since) && strings.Contains(m.Text, about) {
				if c := sixDigits.FindStringSubmatch(m.Text); c != nil {
					s.mu.Unlock()
					return c[1], nil
				}
			}
		}
		s.mu.Unlock()
		select {
		case <-ctx.Done():
			return "", fmt.Errorf("no SMS code for %s: %w", phone, ctx.Err())
		case <-s.new:
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// Close stops the sink.
func (s *SMSSink) Close() error { return s.srv.Close() }
