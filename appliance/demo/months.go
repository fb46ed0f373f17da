package demo

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// Month is one calendar month the demo paid in.
type Month struct {
	Period  string   `json:"period"`  // yyyy-mm
	Paid    string   `json:"paid_at"` // when the demo clock paid it
	Batches []string `json:"batches"`
}

// months pays the first merchant's workers again in the two months after
// the one the world began in: the clock moves to the next month's 15th,
// the merchant tops up and pays each of its workers once, then to the real
// time for the same again. A worker's tax then shows the cumulative method
// at work — the month's income added to the year's, 5,000.00 deducted for
// each month of continuous income, the year's tax less what was withheld
// before — and the months already over can be declared.
//
// Without a demo clock (a node on the real time) the world pays in one
// month only.
func (f *filler) months(ctx context.Context, first string) error {
	clock := f.opts.Clock
	f.w.Months = []Month{{Period: first, Paid: f.paidAt.Format(time.RFC3339), Batches: f.batchIDs()}}
	if !clock.Shifted() {
		return nil
	}
	m := f.w.Merchants[0]
	mine, task := f.w.paying(m.ID)
	now := clock.Now().In(china)
	next := time.Date(now.Year(), now.Month()+1, 15, 9, 0, 0, 0, china)
	steps := []time.Time{next, {}}
	if !next.Before(time.Now()) { // the next month's 15th is not yet: one step, to the real time
		steps = steps[1:]
	}
	for i, at := range steps {
		if at.IsZero() {
			clock.Real()
		} else if err := clock.Set(at); err != nil {
			return err
		}
		now := clock.Now()
		period := now.In(china).Format("2006-01")
		f.w.say("the demo clock moves to %s: every session has timed out, the staff and merchants sign in again", now.In(china).Format("2006-01-02 15:04"))
		if err := f.relogin(ctx); err != nil {
			return err
		}
		f.w.say("%s: %s tops up and pays each of its %d workers again (their withholding is cumulative over the year)", period, m.ID, len(mine))
		var csv strings.Builder
		csv.WriteString("worker,task,amount,memo\n")
		var total int
		for j, w := range mine {
			fen := (6000+(j*1733+i*977)%9000)*100 + (j*37)%100
			total += fen
			fmt.Fprintf(&csv, "%s,%s,%d.%02d,%s劳务费\n", w.ID, task, fen/100, fen%100, period)
		}
		top := total + 100000
		if _, err := f.statement(ctx, fmt.Sprintf("demo-statement-%s", period), [][2]string{
			{fmt.Sprintf("%d.%02d", top/100, top%100), period + "预付 " + f.w.Payouts.Codes[m.ID]}}); err != nil {
			return err
		}
		id, _, err := f.pay(ctx, m, "demo-"+period, csv.String())
		if err != nil {
			return err
		}
		f.w.Months = append(f.w.Months, Month{Period: period, Paid: now.Format(time.RFC3339), Batches: []string{id}})
	}
	return nil
}

var china = time.FixedZone("CST", 8*3600)

// batchIDs are the batches paid so far.
func (f *filler) batchIDs() []string {
	var ids []string
	for _, b := range f.w.Payouts.Batches {
		ids = append(ids, b.ID)
	}
	return ids
}

// relogin signs every staff and merchant account the demo holds a session
// of in again, with its password and a TOTP code, after the clock moved:
// the same Session values carry the new tokens. Workers sign in again when
// they next act (workerSession).
func (f *filler) relogin(ctx context.Context) error {
	seen := map[*Session]bool{}
	var all []*Session
	add := func(s *Session) {
		if s != nil && s.TOTP != "" && !seen[s] {
			seen[s] = true
			all = append(all, s)
		}
	}
	f.w.mu.Lock()
	for _, s := range f.admins {
		add(s)
	}
	add(f.operator)
	add(f.reviewer)
	for _, s := range f.sessions {
		add(s)
	}
	for name, s := range f.sessions {
		if s.TOTP == "" {
			f.moved[name] = true
		}
	}
	f.w.mu.Unlock()
	return parallel(len(all), func(i int) error {
		s := all[i]
		code, err := f.c.code(ctx, s.TOTP)
		if err != nil {
			return err
		}
		var login struct {
			Token string `json:"token"`
		}
		if _, err := f.c.call(ctx, "POST", "/api/v1/sessions", "", map[string]string{"username": s.Username, "password": s.Password, "totp": code}, &login); err != nil {
			return fmt.Errorf("%s signing in again: %w", s.Username, err)
		}
		f.w.mu.Lock()
		s.Token = login.Token
		f.w.mu.Unlock()
		return nil
	})
}

// workerSession is a worker's session, signed in again with an SMS code if
// the clock moved since it was made.
func (f *filler) workerSession(ctx context.Context, w Worker) (*Session, error) {
	f.w.mu.Lock()
	s, moved := f.sessions[w.Username], f.moved[w.Username]
	f.w.mu.Unlock()
	if s != nil && !moved {
		return s, nil
	}
	var password string
	f.w.mu.Lock()
	for _, a := range f.w.Accounts {
		if a.Username == w.Username {
			password = a.Password
		}
	}
	f.w.mu.Unlock()
	s, err := f.smsLogin(ctx, w.Username, password, w.Registered["phone"])
	if err != nil {
		return nil, err
	}
	f.w.mu.Lock()
	f.sessions[w.Username] = s
	delete(f.moved, w.Username)
	f.w.mu.Unlock()
	return s, nil
}

// pay uploads a batch for merchant m, confirms it after a step-up and
// waits until the bank has answered every payment; it returns the batch
// and its counts by status.
func (f *filler) pay(ctx context.Context, m Merchant, ref, csv string) (string, map[string]int, error) {
	admin := f.session(m.Admin)
	var up struct {
		Batch string `json:"batch"`
	}
	if _, err := f.c.call(ctx, "POST", "/api/v1/merchants/"+m.ID+"/payout-batches?ref="+ref, admin.Token, csvBody(csv), &up); err != nil {
		return "", nil, fmt.Errorf("upload %s: %w", ref, err)
	}
	if err := f.c.stepUp(ctx, admin); err != nil {
		return "", nil, err
	}
	if err := f.c.important(ctx, "POST", "/api/v1/payout-batches/"+up.Batch+"/confirm", admin.Token, "demo-confirm-"+up.Batch, nil, nil); err != nil {
		return "", nil, fmt.Errorf("confirm %s: %w", ref, err)
	}
	counts, err := f.settled(ctx, admin, up.Batch)
	return up.Batch, counts, err
}

// settled waits until batch is executed and the bank has answered every
// payment of it.
func (f *filler) settled(ctx context.Context, admin *Session, batch string) (map[string]int, error) {
	for {
		var b struct {
			Status string         `json:"status"`
			Counts map[string]int `json:"counts"`
		}
		if _, err := f.c.call(ctx, "GET", "/api/v1/payout-batches/"+batch, admin.Token, nil, &b); err != nil {
			return nil, err
		}
		if b.Status == "executed" && b.Counts["accepted"] == 0 && b.Counts["submitted"] == 0 {
			return b.Counts, nil
		}
		if err := sleep(ctx, 300*time.Millisecond); err != nil {
			return nil, err
		}
	}
}
