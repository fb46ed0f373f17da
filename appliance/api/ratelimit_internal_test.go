package api

import (
	"testing"
	"time"
)

func TestOneIPv6HostIsOneSource(t *testing.T) {
	for addr, want := range map[string]string{
		"192.0.2.7":            "192.0.2.7",
		"2001:db8:1:2:3:4:5:6": "2001:db8:1:2::/64",
		"2001:db8:1:2:ffff::1": "2001:db8:1:2::/64",
		"::ffff:192.0.2.7":     "::ffff:192.0.2.7",
		"not an address":       "not an address",
		"2001:db8:1:3:3:4:5:6": "2001:db8:1:3::/64",
	} {
		if got := sourceKey(addr); got != want {
			t.Errorf("sourceKey(%q) = %q, want %q", addr, got, want)
		}
	}
}

func TestALimiterRefillsAndCountsItsRefusals(t *testing.T) {
	l := &limiter{limits: Limits{Anonymous: 1, AnonymousBurst: 2, Logins: 1, LoginBurst: 1}}
	now := time.Unix(1_800_000_000, 0)
	for i := range 2 {
		if ok, _ := l.take("a", false, now); !ok {
			t.Fatalf("request %d within the burst refused", i)
		}
	}
	ok, record := l.take("a", false, now)
	if ok || record != 1 {
		t.Fatalf("over the burst: ok %v, record %d (the first refusal is recorded)", ok, record)
	}
	for range 5 {
		if ok, record := l.take("a", false, now.Add(10*time.Millisecond)); ok || record != 0 {
			t.Fatalf("later refusals within the minute: ok %v, record %d", ok, record)
		}
	}
	if ok, _ := l.take("b", false, now); !ok {
		t.Fatal("another address shares the first one's budget")
	}
	if ok, _ := l.take("a", true, now); !ok {
		t.Fatal("the login budget is spent by other requests")
	}
	if ok, _ := l.take("a", false, now.Add(1100*time.Millisecond)); !ok {
		t.Fatal("the bucket did not refill after a second")
	}
	// A minute on, the refusals since the last record are counted into the next.
	l.take("a", false, now.Add(61*time.Second))
	l.take("a", false, now.Add(61*time.Second))
	if ok, record := l.take("a", false, now.Add(61*time.Second)); ok || record != 6 {
		t.Fatalf("a minute later: ok %v, record %d, want the 6 refusals since the last record", ok, record)
	}
}
