package channel

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"
	"sync"
	"time"

	"cxt/crypto/sm"
)

// Sandbox is a simulated bank: it takes orders, pays each after Latency,
// fails a share of them and returns (退汇) a share of the paid ones after
// ReturnDelay — which ones is decided by the seed and the reference, so a
// run can be repeated. It keeps its orders in a journal file, if given one,
// so a restarted node finds the bank as it left it, and it never pays a
// reference twice. The journal holds no payee's name or card: only the
// reference, the amount and a digest of the payee.
type Sandbox struct {
	Seed        int64
	Latency     time.Duration
	FailRate    float64 // of orders, 0..1
	ReturnRate  float64 // of paid orders, 0..1
	ReturnDelay time.Duration
	Now         func() time.Time

	mu      sync.Mutex
	orders  map[string]*order
	seq     []string // refs in the order they were taken
	events  []Event  // emitted, in order; the cursor is an index into it
	journal *os.File
	payouts map[string]int // ref -> times money left the bank: never above 1
}

type order struct {
	Ref        string    `json:"ref"`
	ChannelRef string    `json:"channel_ref"`
	Fen        int64     `json:"fen"`
	Payee      string    `json:"payee_sm3"`
	Taken      time.Time `json:"taken"`
	Emitted    int       `json:"emitted"` // events emitted: 0, 1 (paid/failed), 2 (returned)
}

// NewSandbox returns a sandbox that keeps its journal at path ("": in
// memory only).
func NewSandbox(path string, seed int64) (*Sandbox, error) {
	s := &Sandbox{Seed: seed, Latency: 2 * time.Second, FailRate: 0.02, ReturnRate: 0.01, ReturnDelay: time.Minute,
		orders: map[string]*order{}, payouts: map[string]int{}}
	if path == "" {
		return s, nil
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("channel: sandbox journal: %w", err)
	}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		var rec struct {
			Order *order `json:"order,omitempty"`
			Event *Event `json:"event,omitempty"`
		}
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			continue // a torn last line: the order it began was never acknowledged
		}
		switch {
		case rec.Order != nil:
			s.orders[rec.Order.Ref] = rec.Order
			s.seq = append(s.seq, rec.Order.Ref)
		case rec.Event != nil:
			s.events = append(s.events, *rec.Event)
			if o := s.orders[rec.Event.Ref]; o != nil {
				o.Emitted++
			}
			if rec.Event.Status == Paid {
				s.payouts[rec.Event.Ref]++
			}
		}
	}
	if err := sc.Err(); err != nil {
		f.Close()
		return nil, fmt.Errorf("channel: sandbox journal: %w", err)
	}
	s.journal = f
	return s, nil
}

// Name is "sandbox".
func (s *Sandbox) Name() string { return "sandbox" }

// Close closes the journal.
func (s *Sandbox) Close() error {
	if s.journal == nil {
		return nil
	}
	return s.journal.Close()
}

func (s *Sandbox) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// fate is where the seed and the reference send an order: a number in
// [0, 1) for failure and one for return.
func (s *Sandbox) fate(ref string) (fail, ret float64) {
	h := sm.Sum([]byte(strconv.FormatInt(s.Seed, 10) + "/" + ref))
	a := binary.BigEndian.Uint64(h[:8]) >> 11
	b := binary.BigEndian.Uint64(h[8:16]) >> 11
	return float64(a) / (1 << 53), float64(b) / (1 << 53)
}

func (s *Sandbox) write(v any) error {
	if s.journal == nil {
		return nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	if _, err := s.journal.Write(append(b, '\n')); err != nil {
		return err
	}
	return s.journal.Sync()
}

// Submit takes orders; a reference seen before is answered as it was.
func (s *Sandbox) Submit(ctx context.Context, orders []Order) ([]Ack, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	acks := make([]Ack, 0, len(orders))
	var fresh []*order
	for _, o := range orders {
		if prev, ok := s.orders[o.Ref]; ok {
			acks = append(acks, Ack{Ref: o.Ref, ChannelRef: prev.ChannelRef})
			continue
		}
		if o.Fen <= 0 || o.Payee.Card == "" {
			acks = append(acks, Ack{Ref: o.Ref, Refused: "the order names no amount or no card"})
			continue
		}
		digest := sm.Sum([]byte(o.Payee.Name + "\x00" + o.Payee.Card))
		rec := &order{Ref: o.Ref, ChannelRef: fmt.Sprintf("SBX%010d", len(s.seq)+len(fresh)+1), Fen: o.Fen,
			Payee: fmt.Sprintf("%x", digest[:]), Taken: s.now().UTC()}
		fresh = append(fresh, rec)
		acks = append(acks, Ack{Ref: o.Ref, ChannelRef: rec.ChannelRef})
	}
	for _, rec := range fresh {
		if err := s.write(map[string]any{"order": rec}); err != nil {
			return nil, fmt.Errorf("channel: sandbox journal: %w", err)
		}
		s.orders[rec.Ref] = rec
		s.seq = append(s.seq, rec.Ref)
	}
	return acks, ctx.Err()
}

// Results emits what has happened by now — payments paid or failed after
// Latency, returns after ReturnDelay — and returns the events after cursor.
func (s *Sandbox) Results(ctx context.Context, cursor string, limit int) ([]Event, string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.emit(); err != nil {
		return nil, cursor, err
	}
	from := 0
	if cursor != "" {
		n, err := strconv.Atoi(cursor)
		if err != nil || n < 0 || n > len(s.events) {
			return nil, cursor, errors.New("channel: sandbox: no such cursor " + strconv.Quote(cursor))
		}
		from = n
	}
	to := min(len(s.events), from+limit)
	out := append([]Event(nil), s.events[from:to]...)
	return out, strconv.Itoa(to), ctx.Err()
}

func (s *Sandbox) emit() error {
	now := s.now()
	for _, ref := range s.seq {
		o := s.orders[ref]
		fail, ret := s.fate(ref)
		var ev *Event
		switch {
		case o.Emitted == 0 && !now.Before(o.Taken.Add(s.Latency)):
			ev = &Event{Ref: ref, ChannelRef: o.ChannelRef, Status: Paid, At: o.Taken.Add(s.Latency)}
			if fail < s.FailRate {
				ev.Status, ev.Reason = Failed, "sandbox: the card was refused"
			}
		case o.Emitted == 1 && fail >= s.FailRate && ret < s.ReturnRate && !now.Before(o.Taken.Add(s.Latency+s.ReturnDelay)):
			ev = &Event{Ref: ref, ChannelRef: o.ChannelRef, Status: Returned, Reason: "sandbox: the receiving account is closed", At: o.Taken.Add(s.Latency + s.ReturnDelay)}
		}
		if ev == nil {
			continue
		}
		if err := s.write(map[string]any{"event": ev}); err != nil {
			return err
		}
		s.events = append(s.events, *ev)
		o.Emitted++
		if ev.Status == Paid {
			s.payouts[ref]++
		}
	}
	return nil
}

// Payouts returns how many times money left the bank for ref: 0 or 1, the
// exactly-once property the tests hold the appliance to.
func (s *Sandbox) Payouts(ref string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.payouts[ref]
}

// Orders returns how many distinct orders the sandbox took.
func (s *Sandbox) Orders() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.seq)
}

// Settled is one line of the sandbox bank's own account of a day: a
// reference whose last word the bank sent that day, where it stood at the
// end of it, the amount and the bank's reference.
type Settled struct {
	Ref, ChannelRef string
	Fen             int64
	Status          string
	At              time.Time
}

// Statement is the bank's account of a day in loc (what its statement,
// 对账单, lists): each reference whose last event fell on that day, in the
// order the bank took them.
func (s *Sandbox) Statement(day string, loc *time.Location) ([]Settled, error) {
	from, err := time.ParseInLocation(time.DateOnly, day, loc)
	if err != nil {
		return nil, fmt.Errorf("channel: statement day %q: %w", day, err)
	}
	to := from.AddDate(0, 0, 1)
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.emit(); err != nil {
		return nil, err
	}
	last := map[string]Event{}
	for _, ev := range s.events {
		last[ev.Ref] = ev
	}
	var out []Settled
	for _, ref := range s.seq {
		ev, ok := last[ref]
		if ok && !ev.At.Before(from) && ev.At.Before(to) {
			out = append(out, Settled{Ref: ref, ChannelRef: ev.ChannelRef, Fen: s.orders[ref].Fen, Status: ev.Status, At: ev.At})
		}
	}
	return out, nil
}
