package channel_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"cxt/appliance/channel"
)

// The sandbox's statement of a day lists each reference whose last word
// fell on that day, where it stood at the day's end: paid or failed that
// day, returned that day though paid before; a payment paid the day
// before and not returned is on that day's statement, not this one's.
func TestTheSandboxStatementListsWhatItSettledThatDay(t *testing.T) {
	china := time.FixedZone("CST", 8*3600)
	now := time.Date(2026, 12, 9, 23, 0, 0, 0, china)
	s, err := channel.NewSandbox("", 7)
	if err != nil {
		t.Fatal(err)
	}
	s.Latency, s.ReturnDelay, s.FailRate, s.ReturnRate = time.Hour, 24*time.Hour, 0.3, 0.5
	s.Now = func() time.Time { return now }
	var orders []channel.Order
	for i := range 40 {
		orders = append(orders, channel.Order{Ref: fmt.Sprintf("p-%02d", i), Fen: int64(100 + i), Payee: channel.Payee{Name: "n", Card: "6222"}})
	}
	if _, err := s.Submit(context.Background(), orders); err != nil {
		t.Fatal(err)
	}
	now = now.Add(48 * time.Hour) // paid or failed on the 10th at 00:00, returns on the 11th
	// Each round emits one word per order: the payments, then the returns.
	events, cursor, err := s.Results(context.Background(), "", 1000)
	if err != nil {
		t.Fatal(err)
	}
	more, _, err := s.Results(context.Background(), cursor, 1000)
	if err != nil {
		t.Fatal(err)
	}
	events = append(events, more...)
	want := map[string]map[string]string{"2026-12-10": {}, "2026-12-11": {}}
	for _, ev := range events {
		want[ev.At.In(china).Format(time.DateOnly)][ev.Ref] = ev.Status // the last word wins
		for day, m := range want {
			if day != ev.At.In(china).Format(time.DateOnly) {
				delete(m, ev.Ref)
			}
		}
	}
	kinds := map[string]int{}
	for day, refs := range want {
		got, err := s.Statement(day, china)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(refs) {
			t.Fatalf("%s: %d lines, want %d", day, len(got), len(refs))
		}
		for _, l := range got {
			if refs[l.Ref] != l.Status || l.Fen < 100 || l.ChannelRef == "" {
				t.Errorf("%s: %+v, want %s", day, l, refs[l.Ref])
			}
			kinds[l.Status]++
		}
	}
	if kinds[channel.Paid] == 0 || kinds[channel.Failed] == 0 || kinds[channel.Returned] == 0 {
		t.Fatalf("the seed settled no mix: %v", kinds)
	}
	if _, err := s.Statement("2026-13-01", china); err == nil {
		t.Fatal("a day that is none")
	}
}
