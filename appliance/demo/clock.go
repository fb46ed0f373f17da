package demo

import (
	"fmt"
	"sync/atomic"
	"time"
)

// Clock is the demo node's clock: the real time moved by an offset. The
// demo world begins in the past — two months back, so that its workers are
// paid in three calendar months and their cumulative withholding (累计预扣法)
// and the declarations of the months already over show — and the clock is
// moved forward, never back, to each month it pays in, ending on the real
// time: the node serves the finished world in the present.
//
// cxt demo hands Now to the node (its API, leader loops and commands), to
// the sandbox bank, and to the demo's client for its TOTP codes, so that
// every party reads the same time. A nil Clock is the real one.
type Clock struct{ offset atomic.Int64 }

// Now is the demo's time.
func (c *Clock) Now() time.Time {
	if c == nil {
		return time.Now()
	}
	return time.Now().Add(time.Duration(c.offset.Load()))
}

// Begin puts the clock at t, back in time, before the world is filled:
// only the node's initialisation (its administrators, its first policy)
// happened on the real time before it.
func (c *Clock) Begin(t time.Time) { c.offset.Store(int64(time.Until(t))) }

// Set moves the clock to t. It never goes back: sessions, codes and the
// months the ledger has closed all assume time moves forward.
func (c *Clock) Set(t time.Time) error {
	if now := c.Now(); t.Before(now) {
		return fmt.Errorf("demo: the clock is at %s and does not go back to %s", now.Format(time.RFC3339), t.Format(time.RFC3339))
	}
	c.offset.Store(int64(time.Until(t)))
	return nil
}

// Real puts the clock back on the real time, which is never behind it.
func (c *Clock) Real() { c.offset.Store(0) }

// Shifted reports whether the clock is off the real time.
func (c *Clock) Shifted() bool { return c != nil && c.offset.Load() != 0 }

// demoStart is when the demo world begins: the 15th, at 09:00 in China, of
// the month two before now's. The demo then pays in that month, the next
// and now's.
func demoStart(now time.Time) time.Time {
	china := time.FixedZone("CST", 8*3600)
	now = now.In(china)
	return time.Date(now.Year(), now.Month()-2, 15, 9, 0, 0, 0, china)
}
