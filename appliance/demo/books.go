package demo

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// Books is what the demo did with the books after paying: invoices under
// both operating models, and a day's channel statement reconciled.
type Books struct {
	Invoices  []Invoice `json:"invoices"`
	Statement string    `json:"statement"`      // the reconciled statement's ID
	File      string    `json:"statement_file"` // the bank's file, as imported
	Expected  int       `json:"expected"`       // payments the platform expected on it
	Matched   int       `json:"matched"`
	Cases     []string  `json:"cases"`         // one per difference found
	Merchant  string    `json:"merchant_file"` // a merchant's reconciliation file of the month (CSV)
	// Batches are the one-row batches the operating merchant paid to have
	// a paid payment to invoice: none unless the sandbox bank failed the
	// risk batch's (livePayment).
	Batches []string `json:"batches,omitempty"`
}

// Invoice is one invoice the demo asked for.
type Invoice struct {
	ID     string `json:"id"`
	Kind   string `json:"kind"`
	Model  string `json:"operating_model"`
	Status string `json:"status"`
	Number string `json:"number,omitempty"`
	Total  string `json:"total"`
}

// books asks for the invoices each operating model issues — the operating
// merchant's full invoice of its paid payment, the intermediary merchant's
// 代开 record of a worker's month — lets them through, waits for the
// numbers; then imports the sandbox bank's statement of the day the first
// batch was paid and downloads the first merchant's reconciliation file of
// that month.
func (f *filler) books(ctx context.Context) error {
	if f.opts.Statement == nil || len(f.w.Months) < 2 || f.w.Risk == nil || len(f.w.Merchants) < 2 {
		return nil
	}
	b := &Books{}
	f.w.Books = b
	dir := filepath.Join(f.dir, "books")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	// 参与经营型: the platform invoices the merchant the whole amount.
	op := f.w.Merchants[1]
	paid, err := f.livePayment(ctx, op)
	if err != nil {
		return err
	}
	if err := f.invoice(ctx, op, map[string]any{"kind": "full", "payments": []string{paid}}, ""); err != nil {
		return err
	}
	// 中间介绍型: the tax office issues the worker's invoice (代开); the
	// platform records it against the worker's payments of last month.
	im := f.w.Merchants[0]
	prev := f.w.Months[len(f.w.Months)-2]
	var ps struct {
		Payments []struct {
			ID     string `json:"id"`
			Worker string `json:"worker"`
		} `json:"payments"`
	}
	if _, err := f.c.call(ctx, "GET", "/api/v1/payments?batch="+prev.Batches[0]+"&status=paid&limit=1", f.operator.Token, nil, &ps); err != nil {
		return err
	}
	if len(ps.Payments) == 0 {
		return fmt.Errorf("demo: batch %s paid nothing", prev.Batches[0])
	}
	number := fmt.Sprintf("%s%016d", f.opts.Clock.Now().In(china).Format("06")+"35", 1) // 20 digits: year, province (35: 福建), sequence
	if err := f.invoice(ctx, im, map[string]any{"kind": "worker", "worker": ps.Payments[0].Worker, "payments": []string{ps.Payments[0].ID}}, number); err != nil {
		return err
	}
	return f.reconcile(ctx, b, dir)
}

// livePayment is a paid payment of the operating merchant m to invoice:
// the one its risk batch paid (-000002, the first of the two just under
// the limit) — unless the sandbox bank failed it, as it fails a few of
// every hundred, when m pays one of its other workers a small amount, a
// batch of one row, until the bank pays one.
func (f *filler) livePayment(ctx context.Context, m Merchant) (string, error) {
	admin := f.session(m.Admin)
	batch := f.w.Risk.Batch
	mine, task := f.w.paying(m.ID)
	for try := 1; ; try++ {
		if _, err := f.settled(ctx, admin, batch); err != nil {
			return "", err
		}
		var ps struct {
			Payments []struct {
				ID string `json:"id"`
			} `json:"payments"`
		}
		if _, err := f.c.call(ctx, "GET", "/api/v1/payments?batch="+batch+"&status=paid&limit=1", admin.Token, nil, &ps); err != nil {
			return "", err
		}
		if len(ps.Payments) > 0 {
			return ps.Payments[0].ID, nil
		}
		if try > 5 {
			return "", fmt.Errorf("demo: the sandbox bank paid none of %s's last %d batches", m.ID, try)
		}
		w := mine[len(mine)-1] // not the officer (mine[0]) nor the payee of the limit (mine[1]) when there are more
		f.w.say("the sandbox bank failed %s's payment; %s pays %s 800.00 to have a paid payment to invoice", batch, m.ID, w.Username)
		csv := fmt.Sprintf("worker,task,amount,memo\n%s,%s,800.00,开票前的劳务费\n", w.ID, task)
		var err error
		if batch, _, err = f.pay(ctx, m, fmt.Sprintf("demo-invoice-%d", try), csv); err != nil {
			return "", err
		}
		f.w.Books.Batches = append(f.w.Books.Batches, batch)
	}
}

// invoice has merchant m's administrator ask for an invoice and the
// platform's operator let it through — with the tax office's number for a
// 代开 one — then waits until it is issued.
func (f *filler) invoice(ctx context.Context, m Merchant, body map[string]any, number string) error {
	f.w.say("%s (%s) asks for a %s invoice; the operator lets it through", m.ID, m.Registered["operating_model"], body["kind"])
	var inv map[string]any
	if _, err := f.c.call(ctx, "POST", "/api/v1/merchants/"+m.ID+"/invoices", f.session(m.Admin).Token, body, &inv); err != nil {
		return fmt.Errorf("invoice of %s: %w", m.ID, err)
	}
	id, _ := inv["id"].(string)
	var issue any
	if number != "" {
		issue = map[string]string{"number": number}
	}
	if _, err := f.c.call(ctx, "POST", "/api/v1/invoices/"+id+"/issue", f.operator.Token, issue, nil); err != nil {
		return fmt.Errorf("issue %s: %w", id, err)
	}
	for inv["status"] != "issued" {
		if err := sleep(ctx, 200*time.Millisecond); err != nil {
			return err
		}
		if _, err := f.c.call(ctx, "GET", "/api/v1/invoices/"+id, f.operator.Token, nil, &inv); err != nil {
			return err
		}
	}
	str := func(k string) string { s, _ := inv[k].(string); return s }
	f.w.Books.Invoices = append(f.w.Books.Invoices, Invoice{ID: id, Kind: str("kind"), Model: str("operating_model"), Status: str("status"), Number: str("number"), Total: str("total")})
	return nil
}

// reconcile imports the sandbox bank's statement of the day the first
// batch was paid — a day over: today's statement comes tomorrow
// (recon_day_open) — and downloads the first merchant's reconciliation
// file of that month, as its administrator.
func (f *filler) reconcile(ctx context.Context, b *Books, dir string) error {
	day := f.paidAt.In(china).Format(time.DateOnly)
	data, err := f.opts.Statement(day)
	if err != nil {
		return err
	}
	b.File = filepath.Join(dir, "statement-sandbox-"+day+".csv")
	if err := os.WriteFile(b.File, data, 0o600); err != nil {
		return err
	}
	f.w.say("the sandbox bank's statement (对账单) of %s, the day the first batch was paid, is reconciled against the payments: each difference would open a case", day)
	var res struct {
		Statement struct {
			ID       string `json:"id"`
			Expected int    `json:"expected"`
			Matched  int    `json:"matched"`
		} `json:"statement"`
		Differences []struct {
			Case string `json:"case"`
		} `json:"differences"`
	}
	if _, err := f.c.call(ctx, "POST", "/api/v1/reconcile/statements?channel=sandbox&day="+day, f.operator.Token, csvBody(data), &res); err != nil {
		return fmt.Errorf("statement of %s: %w", day, err)
	}
	b.Statement, b.Expected, b.Matched = res.Statement.ID, res.Statement.Expected, res.Statement.Matched
	b.Cases = []string{}
	for _, d := range res.Differences {
		b.Cases = append(b.Cases, d.Case)
	}
	m := f.w.Merchants[0]
	file, err := f.c.raw(ctx, "GET", "/api/v1/merchants/"+m.ID+"/reconciliation?format=csv&period="+day[:7], f.session(m.Admin).Token)
	if err != nil {
		return fmt.Errorf("reconciliation file of %s: %w", m.ID, err)
	}
	b.Merchant = filepath.Join(dir, "reconciliation-"+m.ID+"-"+day[:7]+".csv")
	return os.WriteFile(b.Merchant, file, 0o600)
}
