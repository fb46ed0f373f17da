package demo

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Payouts is what the demo's money looks like: the statements imported,
// the batches paid, and the receipts downloaded.
type Payouts struct {
	Codes      map[string]string `json:"remittance_codes"` // merchant -> code
	Statements []string          `json:"statements"`       // statement IDs
	Batches    []Batch           `json:"batches"`
	BatchFile  string            `json:"batch_file"` // the CSV the batch was uploaded from
	Receipts   []Artifact        `json:"receipts"`   // receipts (电子回单) of a paid and a returned payment
}

// Batch is one demo payout batch, as it ended.
type Batch struct {
	ID       string         `json:"id"`
	Merchant string         `json:"merchant"`
	Rows     int            `json:"rows"`
	Counts   map[string]int `json:"counts"`
	Returned []string       `json:"returned,omitempty"` // payments the bank sent back (退汇)
}

// DemoBatchRows is the size of the demo's payout batch.
const DemoBatchRows = 1000

// DemoReturnDelay is how long after paying the demo node's sandbox bank
// sends a returned payment back: short, so that the demo shows returns.
const DemoReturnDelay = 5 * time.Second

// payouts tops the merchants up from a bank statement (one line left for
// suspense), then has the first merchant pay its workers a batch of
// DemoBatchRows rows — a few to a worker who does not exist (rejected), the
// last ones beyond its balance (held) — confirmed after a preview; it waits
// for the sandbox bank to pay (and fail and return a few), tops up again,
// and releases the held rows.
func (f *filler) payouts(ctx context.Context) error {
	f.w.say("the merchants open their funding; a bank statement tops them up (one line unmatched, to suspense)")
	p := &Payouts{Codes: map[string]string{}}
	f.w.Payouts = p
	for _, m := range f.w.Merchants {
		var fund struct {
			Code string `json:"remittance_code"`
		}
		if _, err := f.c.call(ctx, "POST", "/api/v1/merchants/"+m.ID+"/funding", f.session(m.Admin).Token, nil, &fund); err != nil {
			return fmt.Errorf("funding of %s: %w", m.ID, err)
		}
		p.Codes[m.ID] = fund.Code
	}
	m := f.w.Merchants[0]
	mine, task := f.w.paying(m.ID)
	if len(mine) == 0 || task == "" {
		return fmt.Errorf("demo: merchant %s has no workers or no task to pay", m.ID)
	}
	// Amounts keep each worker's month well inside the monthly limit.
	rng := rand.New(rand.NewPCG(2026, 12))
	avg := min(500, 30000*len(mine)/DemoBatchRows)
	var csv strings.Builder
	csv.WriteString("worker,task,amount,memo\n")
	var total int
	for i := range DemoBatchRows {
		worker := mine[i%len(mine)].ID
		if i%200 == 7 {
			worker = "wk-not-registered" // rejected: worker_unknown
		}
		fen := (avg/2+rng.IntN(avg))*100 + rng.IntN(100)
		if worker != "wk-not-registered" {
			total += fen
		}
		fmt.Fprintf(&csv, "%s,%s,%d.%02d,本月第%d单\n", worker, task, fen/100, fen%100, i+1)
	}
	// The first top-up covers nine tenths of the batch: the rest is held.
	first := total * 9 / 10
	lines := [][2]string{{fmt.Sprintf("%d.%02d", first/100, first%100), "服务费预付 " + p.Codes[m.ID]}}
	for _, o := range f.w.Merchants[1:] {
		lines = append(lines, [2]string{"150000.00", "充值 " + p.Codes[o.ID]})
	}
	lines = append(lines, [2]string{"888.00", "no code: goes to suspense"})
	if _, err := f.statement(ctx, "demo-statement-1", lines); err != nil {
		return err
	}

	f.w.say("%s uploads a %d-row payout batch, previews and confirms it; the leader executes it and the sandbox bank pays", m.ID, DemoBatchRows)
	admin := f.session(m.Admin)
	var up struct {
		Batch string `json:"batch"`
	}
	period := f.opts.Clock.Now().In(china).Format("2006-01")
	f.paidAt = f.opts.Clock.Now()
	if _, err := f.c.call(ctx, "POST", "/api/v1/merchants/"+m.ID+"/payout-batches?ref=demo-"+period, admin.Token, csvBody(csv.String()), &up); err != nil {
		return fmt.Errorf("upload: %w", err)
	}
	if err := os.WriteFile(filepath.Join(f.dir, "payout-batch.csv"), []byte(csv.String()), 0o600); err != nil {
		return err
	}
	if err := f.c.stepUp(ctx, admin); err != nil {
		return err
	}
	if err := f.c.important(ctx, "POST", "/api/v1/payout-batches/"+up.Batch+"/confirm", admin.Token, "demo-confirm-"+up.Batch, nil, nil); err != nil {
		return fmt.Errorf("confirm: %w", err)
	}
	if _, err := f.settled(ctx, admin, up.Batch); err != nil {
		return err
	}
	f.w.say("a second top-up arrives; the held rows are released and paid; returns (退汇) come back from the bank")
	rest := total - first + 100000
	if _, err := f.statement(ctx, "demo-statement-2", [][2]string{{fmt.Sprintf("%d.%02d", rest/100, rest%100), "补足余额 " + p.Codes[m.ID]}}); err != nil {
		return err
	}
	if _, err := f.c.call(ctx, "POST", "/api/v1/payout-batches/"+up.Batch+"/release", admin.Token, nil, nil); err != nil {
		return fmt.Errorf("release: %w", err)
	}
	if _, err := f.settled(ctx, admin, up.Batch); err != nil {
		return err
	}
	// The sandbox returns a few paid payments a little later.
	time.Sleep(DemoReturnDelay + time.Second)
	counts, err := f.settled(ctx, admin, up.Batch)
	if err != nil {
		return err
	}
	b := Batch{ID: up.Batch, Merchant: m.ID, Rows: DemoBatchRows, Counts: counts}
	var returned struct {
		Payments []struct {
			ID string `json:"id"`
		} `json:"payments"`
	}
	if _, err := f.c.call(ctx, "GET", "/api/v1/payments?batch="+up.Batch+"&status=returned", admin.Token, nil, &returned); err != nil {
		return err
	}
	for _, r := range returned.Payments {
		b.Returned = append(b.Returned, r.ID)
	}
	p.Batches = append(p.Batches, b)
	p.BatchFile = filepath.Join(f.dir, "payout-batch.csv")
	return f.receipts(ctx, up.Batch, b.Returned)
}

// receipts downloads the receipt (电子回单) of the batch's first paid
// payment as its merchant's administrator, and of a returned one as the
// worker it paid.
func (f *filler) receipts(ctx context.Context, batch string, returned []string) error {
	f.w.say("the merchant downloads a paid payment's receipt (电子回单), a worker a returned one's: each a PDF signed by the platform, checked with OpenSSL")
	p := f.w.Payouts
	admin := f.session(f.w.Merchants[0].Admin)
	var paid struct {
		Payments []struct {
			ID string `json:"id"`
		} `json:"payments"`
	}
	if _, err := f.c.call(ctx, "GET", "/api/v1/payments?batch="+batch+"&status=paid&limit=1", admin.Token, nil, &paid); err != nil {
		return err
	}
	if len(paid.Payments) == 0 {
		return fmt.Errorf("demo: batch %s paid nothing", batch)
	}
	get := func(payment, token, what string) error {
		zip, err := f.c.raw(ctx, "GET", "/api/v1/payments/"+payment+"/receipt", token)
		if err != nil {
			return fmt.Errorf("receipt of %s: %w", payment, err)
		}
		path := filepath.Join(f.dir, "receipts", payment+".zip")
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return err
		}
		if err := os.WriteFile(path, zip, 0o600); err != nil {
			return err
		}
		p.Receipts = append(p.Receipts, Artifact{What: what, Path: path})
		return nil
	}
	if err := get(paid.Payments[0].ID, admin.Token, "receipt of a paid payment, downloaded by its merchant"); err != nil {
		return err
	}
	if len(returned) == 0 {
		return nil
	}
	var pm struct {
		Worker string `json:"worker"`
	}
	if _, err := f.c.call(ctx, "GET", "/api/v1/payments/"+returned[0], admin.Token, nil, &pm); err != nil {
		return err
	}
	for _, w := range f.w.Workers {
		if w.ID == pm.Worker {
			return get(returned[0], f.session(w.Username).Token, "receipt of a returned payment (退汇), downloaded by the worker")
		}
	}
	return fmt.Errorf("demo: payment %s paid no demo worker", returned[0])
}

// paying returns a merchant's workers and its (last) task.
func (w *World) paying(merchant string) (mine []Worker, task string) {
	for _, wk := range w.Workers {
		if wk.Merchant == merchant {
			mine = append(mine, wk)
		}
	}
	for _, t := range w.Tasks {
		if t.Merchant == merchant {
			task = t.ID
		}
	}
	return mine, task
}

// statement imports a bank statement of lines (amount, memo) dated on the
// demo clock's day, as the platform's operator.
func (f *filler) statement(ctx context.Context, name string, lines [][2]string) (string, error) {
	var st strings.Builder
	st.WriteString("txn_id,value_date,amount,currency,payer_account,payer_name,payer_bank,memo\n")
	day := f.opts.Clock.Now().In(china).Format("2006-01-02")
	for i, l := range lines {
		fmt.Fprintf(&st, "%s-%03d,%s,%s,CNY,,%s,,%s\n", strings.ToUpper(name), i+1, day, l[0], "demo payer", l[1])
	}
	var imported struct {
		Statement struct {
			ID string `json:"id"`
		} `json:"statement"`
	}
	if _, err := f.c.call(ctx, "POST", "/api/v1/topups/statements?name="+name+".csv&report=summary", f.operator.Token, csvBody(st.String()), &imported); err != nil {
		return "", fmt.Errorf("statement %s: %w", name, err)
	}
	if imported.Statement.ID == "" {
		return "", fmt.Errorf("statement %s: the import answered no statement ID", name)
	}
	p := f.w.Payouts
	p.Statements = append(p.Statements, imported.Statement.ID)
	return imported.Statement.ID, nil
}
