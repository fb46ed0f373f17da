package demo

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Filing is what the demo filed after paying: each month over declared,
// its forms downloaded, the first month's taxes paid and its certificates
// (完税证明) downloaded by a worker and by the merchant that paid them.
type Filing struct {
	Dir          string        `json:"dir"` // DIR/demo/filing
	Declarations []Declaration `json:"declarations"`
	TaxPayments  []TaxPayment  `json:"tax_payments"`
	Certificates []Artifact    `json:"certificates"`
}

// Declaration is one month's withholding declaration as filed.
type Declaration struct {
	Period     string   `json:"period"`
	Version    int      `json:"version"`
	Due        string   `json:"due"`
	Lines      int      `json:"lines"`
	Income     string   `json:"income"`
	IIT        string   `json:"iit"`
	VAT        string   `json:"vat"`
	Surcharges string   `json:"surcharges"`
	Files      []string `json:"files"` // iit and vat forms, JSON and CSV
}

// TaxPayment is a payment of a declared tax to the authority.
type TaxPayment struct {
	Period  string `json:"period"`
	Kind    string `json:"kind"`
	Amount  string `json:"amount"`
	Receipt string `json:"receipt"`
}

// filing declares every month the world paid in that is over, writes the
// forms under DIR/demo/filing/<period>/, pays the first month's taxes with
// the authority's receipt numbers, and downloads that month's certificate
// of a worker — by the worker — and its merchant-scoped one by the
// merchant's administrator.
func (f *filler) filing(ctx context.Context) error {
	over := f.w.Months
	if len(over) > 0 {
		over = over[:len(over)-1] // now's month is not over
	}
	if len(over) == 0 {
		return nil
	}
	fl := &Filing{Dir: filepath.Join(f.dir, "filing")}
	f.w.Filing = fl
	f.w.say("the operator files the withholding declarations (扣缴申报) of %d months over and downloads their forms to %s", len(over), fl.Dir)
	for _, m := range over {
		var d Declaration
		base := "/api/v1/filings/platform/" + m.Period
		if _, err := f.c.call(ctx, "POST", base+"/declarations", f.operator.Token, nil, &d); err != nil {
			return fmt.Errorf("declare %s: %w", m.Period, err)
		}
		dir := filepath.Join(fl.Dir, m.Period)
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return err
		}
		for _, form := range []string{"iit", "vat"} {
			for _, format := range []string{"json", "csv"} {
				b, err := f.c.raw(ctx, "GET", fmt.Sprintf("%s/%s?format=%s&version=%d", base, form, format, d.Version), f.operator.Token)
				if err != nil {
					return fmt.Errorf("%s form of %s: %w", form, m.Period, err)
				}
				path := filepath.Join(dir, fmt.Sprintf("%s-v%d.%s", form, d.Version, format))
				if err := os.WriteFile(path, b, 0o600); err != nil {
					return err
				}
				d.Files = append(d.Files, path)
			}
		}
		fl.Declarations = append(fl.Declarations, d)
	}
	first := fl.Declarations[0]
	f.w.say("the operator records the tax paid for %s (IIT %s) with the authority's receipt numbers", first.Period, first.IIT)
	today := f.opts.Clock.Now().In(china).Format("2006-01-02")
	for _, k := range []struct{ kind, amount string }{{"iit", first.IIT}, {"vat", first.VAT}, {"surcharges", first.Surcharges}} {
		if k.amount == "0.00" || k.amount == "" {
			continue
		}
		tp := TaxPayment{Period: first.Period, Kind: k.kind, Amount: k.amount,
			Receipt: fmt.Sprintf("DEMO%s%s", strings.ReplaceAll(first.Period, "-", ""), strings.ToUpper(k.kind[:3]))}
		if _, err := f.c.call(ctx, "POST", "/api/v1/filings/platform/"+first.Period+"/payments", f.operator.Token,
			map[string]any{"kind": tp.Kind, "amount": tp.Amount, "date": today, "receipt": tp.Receipt}, nil); err != nil {
			return fmt.Errorf("pay %s of %s: %w", k.kind, first.Period, err)
		}
		fl.TaxPayments = append(fl.TaxPayments, tp)
	}
	return f.certificates(ctx, first.Period)
}

// certificates downloads a month's tax certificate of the first merchant's
// first worker that had income tax withheld, by the worker, and the
// merchant's own one of the same worker.
func (f *filler) certificates(ctx context.Context, period string) error {
	var form struct {
		Lines []struct {
			Worker   string `json:"worker"`
			Withheld string `json:"withheld"`
		} `json:"lines"`
	}
	if _, err := f.c.call(ctx, "GET", "/api/v1/filings/platform/"+period+"/iit", f.operator.Token, nil, &form); err != nil {
		return err
	}
	var who *Worker
	for _, l := range form.Lines {
		for i := range f.w.Workers {
			if w := &f.w.Workers[i]; w.ID == l.Worker && l.Withheld != "0.00" && who == nil {
				who = w
			}
		}
	}
	if who == nil {
		return fmt.Errorf("demo: no worker had income tax withheld in %s", period)
	}
	f.w.say("%s downloads their tax certificate (完税证明) of %s, and %s's administrator the one of its own payments: PDFs signed by the platform, checked with OpenSSL", who.Username, period, who.Merchant)
	ws, err := f.workerSession(ctx, *who)
	if err != nil {
		return err
	}
	var admin *Session
	for _, m := range f.w.Merchants {
		if m.ID == who.Merchant {
			admin = f.session(m.Admin)
		}
	}
	dir := filepath.Join(f.w.Filing.Dir, "certificates")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	path := "/api/v1/workers/" + who.ID + "/tax-certificates/" + period
	for _, get := range []struct {
		s          *Session
		name, what string
	}{
		{ws, who.ID + "-" + period + ".zip", "tax certificate of " + period + ", downloaded by the worker"},
		{admin, who.ID + "-" + period + "-" + who.Merchant + ".zip", "tax certificate of " + period + " scoped to the merchant's payments, downloaded by its administrator"},
	} {
		b, err := f.c.raw(ctx, "GET", path, get.s.Token)
		if err != nil {
			return fmt.Errorf("certificate %s: %w", get.name, err)
		}
		p := filepath.Join(dir, get.name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			return err
		}
		f.w.Filing.Certificates = append(f.w.Filing.Certificates, Artifact{What: get.what, Path: p})
	}
	return nil
}
