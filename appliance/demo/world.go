// Package demo fills a fresh node with the documented demo world through
// the public API, as an evaluator's scripts would, and writes down everything
// it made (world.json): every account with its password and TOTP secret,
// the plaintext of what was registered, the IDs created, the artifacts
// downloaded. Each capability of the product extends the same world.
package demo

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"cxt/appliance/ident"
)

// World is what the demo made; it is written to DIR/demo/world.json.
type World struct {
	API       string     `json:"api"`     // https://host:port
	CAFile    string     `json:"ca_file"` // the API certificate to trust
	Created   time.Time  `json:"created"`
	Accounts  []Account  `json:"accounts"`
	Merchants []Merchant `json:"merchants"`
	Workers   []Worker   `json:"workers"`
	Tasks     []Task     `json:"tasks,omitempty"`
	Payouts   *Payouts   `json:"payouts,omitempty"`
	Months    []Month    `json:"months,omitempty"` // the calendar months the demo paid in, on its clock
	Risk      *Risk      `json:"risk,omitempty"`   // what the demo planted for the risk rules, and what they caught
	Filing    *Filing    `json:"filing,omitempty"` // the declarations of the months over, tax paid, certificates
	Books     *Books     `json:"books,omitempty"`  // invoices of both models, the first batch's day's statement reconciled
	Artifacts []Artifact `json:"artifacts,omitempty"`
	// Destroyed are the workers whose archive the demo destroyed, with
	// their certificates (docs/archives.md): nothing of them opens.
	Destroyed []Destroyed `json:"destroyed,omitempty"`
	// The tax bureaus' gateway (docs/gateway.md): where it listens, its
	// certificate, the platform's profile, and the bureaus' clients the
	// demo registered, with their keys: cxt gateway pull works at once.
	GatewayURL      string    `json:"gateway_url,omitempty"`
	GatewayCA       string    `json:"gateway_ca,omitempty"` // the gateway's certificate to trust (--ca)
	Platform        *Platform `json:"platform,omitempty"`
	BureauKey       string    `json:"bureau_key,omitempty"`        // the platform's office's bureau: the whole feed
	BureauOfficeKey string    `json:"bureau_office_key,omitempty"` // a merchant's office's bureau: that office's chain
	Bureaus         []Bureau  `json:"bureaus,omitempty"`
	Try             []string  `json:"try"`
	mu              sync.Mutex
	progress        func(string)
}

// Account is a demo account past its first login.
type Account struct {
	Username string `json:"username"`
	Role     string `json:"role"`
	Password string `json:"password"`
	TOTP     string `json:"totp_secret,omitempty"` // base32; any TOTP app takes it
	Phone    string `json:"phone,omitempty"`       // where SMS codes go (DIR/demo/sms.jsonl)
	Merchant string `json:"merchant,omitempty"`
	Worker   string `json:"worker,omitempty"`
}

// Merchant is a demo merchant: what was registered, in plaintext, and the
// IDs it got.
type Merchant struct {
	ID         string         `json:"id"`
	Status     string         `json:"status"`
	TaxOffice  string         `json:"tax_office"`          // the office its gateway feed entries go to
	Registered map[string]any `json:"registered"`          // the application as sent
	Admin      string         `json:"admin"`               // username
	Documents  []string       `json:"documents"`           // document IDs
	Agreement  string         `json:"agreement,omitempty"` // the signed cooperation agreement
}

// Worker is a demo worker: what was registered, in plaintext, and the IDs
// it got.
type Worker struct {
	ID         string            `json:"id"`
	Username   string            `json:"username"`
	Merchant   string            `json:"merchant"`
	Registered map[string]string `json:"registered"` // name, id_number, phone, bank_card as sent
	RealName   string            `json:"real_name"`  // the sandbox's answer
	Agreement  string            `json:"agreement"`  // the signed tripartite agreement
}

// Artifact is a file the demo downloaded.
type Artifact struct {
	What string `json:"what"`
	Path string `json:"path"`
}

func (w *World) account(a Account) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.Accounts = append(w.Accounts, a)
}

func (w *World) say(format string, args ...any) {
	if w.progress != nil {
		w.progress(fmt.Sprintf(format, args...))
	}
}

// Admin is an administrator's one-time password as init printed it.
type Admin struct{ Role, Username, Password string }

// Options shape a demo world.
type Options struct {
	// Workers is how many workers to register (DemoWorkers if 0).
	Workers int
	// Progress, if not nil, is told each step.
	Progress func(string)
	// Gateway is the node's gateway listener (host:port) and GatewayCA
	// the file of its certificate; without one the world registers no
	// bureau.
	Gateway, GatewayCA string
	// Clock, if not nil, is the node's clock, which the world moves: it
	// begins two months back and pays in three months (Clock).
	Clock *Clock
	// Statement, if not nil, is the demo bank's statement (对账单) of a
	// day (yyyy-mm-dd, China), which the world reconciles.
	Statement func(day string) ([]byte, error)
}

// Fill builds the demo world on the node at addr, whose administrators'
// one-time passwords are admins, and writes dir/world.json.
func Fill(ctx context.Context, addr string, caPEM []byte, caFile string, admins []Admin, sms *SMSSink, dir string, o Options) (*World, error) {
	if o.Workers <= 0 {
		o.Workers = DemoWorkers
	}
	progress := o.Progress
	c, err := NewClient(addr, caPEM)
	if err != nil {
		return nil, err
	}
	if o.Clock != nil {
		c.Clock = o.Clock
		o.Clock.Begin(demoStart(o.Clock.Now()))
	}
	w := &World{API: "https://" + addr, CAFile: caFile, Created: time.Now().UTC(), progress: progress}
	if o.Gateway != "" {
		w.GatewayURL, w.GatewayCA = "https://"+o.Gateway, o.GatewayCA
	}
	f := &filler{c: c, w: w, dir: dir, sms: sms, opts: o, sessions: map[string]*Session{}, moved: map[string]bool{}}
	if err := f.run(ctx, admins); err != nil {
		return w, err
	}
	return w, f.write()
}

type filler struct {
	c    *Client
	w    *World
	dir  string
	sms  *SMSSink
	opts Options

	admins             map[string]*Session // by role
	operator, reviewer *Session
	sessions           map[string]*Session // by username
	moved              map[string]bool     // workers whose session the clock's move ended
	paidAt             time.Time           // when the first batch was paid
}

func (f *filler) run(ctx context.Context, admins []Admin) error {
	f.w.say("signing the three administrators in (new passwords, TOTP)")
	f.admins = map[string]*Session{}
	if err := parallel(len(admins), func(i int) error {
		s, err := f.c.firstLogin(ctx, admins[i].Username, admins[i].Password)
		if err != nil {
			return fmt.Errorf("administrator %s: %w", admins[i].Username, err)
		}
		f.w.account(Account{Username: s.Username, Role: admins[i].Role, Password: s.Password, TOTP: s.TOTP})
		f.w.mu.Lock()
		f.admins[admins[i].Role] = s
		f.w.mu.Unlock()
		return nil
	}); err != nil {
		return err
	}
	sec := f.admins["security_admin"]
	if sec == nil {
		return fmt.Errorf("demo: no security administrator among %v", admins)
	}
	f.w.say("the security administrator steps up (waits for the next TOTP step)")
	if err := f.c.stepUp(ctx, sec); err != nil {
		return err
	}
	f.w.say("creating the platform's operator and reviewer")
	staff := []struct{ role, username, phone string }{{"platform_operator", "ops", "13900000001"}, {"platform_reviewer", "reviewer", "13900000002"}}
	oneTime := make([]string, len(staff))
	for i, s := range staff {
		var created struct {
			OneTime string `json:"one_time_password"`
		}
		if err := f.c.important(ctx, "POST", "/api/v1/accounts", sec.Token, "demo-create-"+s.username,
			map[string]any{"username": s.username, "roles": []string{s.role}, "phone": s.phone}, &created); err != nil {
			return fmt.Errorf("create %s: %w", s.username, err)
		}
		oneTime[i] = created.OneTime
	}
	sessions := make([]*Session, len(staff))
	if err := parallel(len(staff), func(i int) error {
		s, err := f.c.firstLogin(ctx, staff[i].username, oneTime[i])
		sessions[i] = s
		if err == nil {
			f.w.account(Account{Username: s.Username, Role: staff[i].role, Password: s.Password, TOTP: s.TOTP, Phone: staff[i].phone})
		}
		return err
	}); err != nil {
		return err
	}
	f.operator, f.reviewer = sessions[0], sessions[1]
	if f.w.GatewayURL != "" {
		if err := f.gateway(ctx); err != nil {
			return err
		}
	}
	if err := f.merchants(ctx); err != nil {
		return err
	}
	if err := f.agreements(ctx); err != nil {
		return err
	}
	if err := f.workers(ctx); err != nil {
		return err
	}
	if err := f.leaver(ctx); err != nil {
		return err
	}
	if err := f.tasks(ctx); err != nil {
		return err
	}
	if err := f.payouts(ctx); err != nil {
		return err
	}
	if err := f.months(ctx, f.paidAt.In(china).Format("2006-01")); err != nil {
		return err
	}
	if err := f.risk(ctx); err != nil {
		return err
	}
	if err := f.filing(ctx); err != nil {
		return err
	}
	if err := f.books(ctx); err != nil {
		return err
	}
	if err := f.destroy(ctx); err != nil {
		return err
	}
	f.w.Try = []string{
		"export CXT=" + f.w.API + " CA=" + f.w.CAFile,
		`TOKEN=$(curl -s --cacert $CA -H 'Content-Type: application/json' -d '{"username":"reviewer","password":"<its password in world.json>","totp":"<oathtool --totp -b its totp_secret>"}' $CXT/api/v1/sessions | jq -r .token)`,
		`curl -s --cacert $CA -H "Authorization: Bearer $TOKEN" $CXT/api/v1/merchants | jq '.merchants[] | {id, name, status}'`,
		`curl -s --cacert $CA -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' -d '{"method":"vat_agent","month_income":"101000","location":"city","year":2026,"month":3}' $CXT/api/v1/tax/quotes | jq -r .text   # the VAT Law: 100,000.00 of sales is taxed in 2026 (docs/tax.md)`,
		`curl -s --cacert $CA -H "Authorization: Bearer $TOKEN" "$CXT/api/v1/payments?batch=<payouts.batches[0].id>&status=returned" | jq '.payments[] | {id, amount, iit, net, reason}'   # 退汇: the money and the withholding went back`,
		`curl -s --cacert $CA -H "Authorization: Bearer $TOKEN" -o receipt.zip $CXT/api/v1/payments/<a paid payment's id>/receipt && unzip -o receipt.zip && cat README.txt   # 电子回单: its OpenSSL check (docs/payouts.md)`,
		"docs/onboarding.md walks every flow against this world; docs/payouts.md the money",
	}
	if fl := f.w.Filing; fl != nil && len(fl.Declarations) > 0 {
		p := fl.Declarations[0].Period
		f.w.Try = append(f.w.Try,
			"OPS=$(the ops account's token, signed in as above); bin/cxt filing export --url $CXT --ca $CA --token $OPS --period "+p+" --format csv   # the withholding declaration (扣缴申报明细) of "+p+", column by column in docs/filing.md",
			`curl -s --cacert $CA -H "Authorization: Bearer <a worker's token>" -o cert.zip $CXT/api/v1/workers/<its id>/tax-certificates/`+p+" && unzip -o cert.zip && cat README.txt   # 完税证明: its OpenSSL check (docs/filing.md)",
			"bin/cxt invoice list --url $CXT --ca $CA --token $OPS; bin/cxt reconcile cases --url $CXT --ca $CA --token $OPS --status all   # invoices (docs/invoices.md), discrepancy cases (docs/reconciliation.md)")
	}
	for _, d := range f.w.Destroyed {
		f.w.Try = append(f.w.Try,
			`curl -s --cacert $CA -H "Authorization: Bearer $OPS" $CXT/api/v1/archives/`+d.Worker+` | jq '{state, destroyed}'; curl -s --cacert $CA -H "Authorization: Bearer $OPS" $CXT/api/v1/workers/`+d.Worker+" | jq .error.code   # the destroyed archive: subject_shredded (docs/archives.md)",
			"cd "+d.Dir+" && cat README.txt   # destruction certificate "+d.Certificate+": the OpenSSL lines that verify certificate.sig over certificate.json")
	}
	if f.w.GatewayURL != "" {
		pulled, office := filepath.Join(f.dir, "feed"), filepath.Join(f.dir, "feed-office")
		all := f.w.PullCommands(f.w.BureauKey, pulled)
		mine := f.w.PullCommands(f.w.BureauOfficeKey, office)
		f.w.say("every fact above is in the gateway's feed, each in the Raft command of its fact; the tax bureau of the platform's office pulls the whole feed and verifies it offline (docs/gateway.md §5):")
		for _, c := range all {
			f.w.say("    %s", c)
		}
		f.w.say("and %s's bureau that office's chain only: %s", f.w.Bureaus[1].Offices[0], mine[0])
		f.w.Try = append(f.w.Try,
			all[0]+"   # the platform's office's bureau: the whole feed, every page verified before it is kept (docs/gateway.md §5)",
			all[1]+" && python3 docs/gateway-verify.py "+pulled+"   # offline: chain, heads, signatures; then with OpenSSL alone (§6)",
			mine[0]+"   # "+f.w.Bureaus[1].Offices[0]+"'s bureau: that office's chain only",
		)
	}
	return nil
}

// demoMerchants are the demo's merchants: both operating models, credit
// codes valid by GB 32100 (computed, not real companies').
var demoMerchants = []struct {
	name, area, model, admin, phone, rep string
	bureau                               string // the tax bureau of the office it is presumed to file with
}{
	{"福州云帆信息技术有限公司", "350100", "intermediary", "yunfan-admin", "13800000001", "陈云帆", "国家税务总局福州市税务局"},
	{"深圳启明物流服务有限公司", "440300", "operating", "qiming-admin", "13800000002", "林启明", "国家税务总局深圳市税务局"},
	{"北京海川家政服务有限公司", "110108", "intermediary", "haichuan-admin", "13800000003", "赵海川", "国家税务总局北京市海淀区税务局"},
}

// USCC builds a valid unified social credit code for an enterprise
// registered in area, on a fixed organisation code whose own check holds.
func USCC(area string) (string, error) {
	first := "91" + area + "M000100Y4"
	c, err := ident.USCCCheckChar(first)
	if err != nil {
		return "", err
	}
	return first + string(c), nil
}

// ResidentID builds a valid resident ID number: region, birth date,
// sequence, check digit (GB 11643). Test identities only.
func ResidentID(region string, born time.Time, seq int) (string, error) {
	first := fmt.Sprintf("%s%s%03d", region, born.Format("20060102"), seq%1000)
	d, err := ident.ResidentIDCheckDigit(first)
	if err != nil {
		return "", err
	}
	return first + string(d), nil
}

// BankCard builds a 19-digit UnionPay card number whose Luhn digit holds.
func BankCard(seq int) string {
	payload := fmt.Sprintf("622202%012d", seq)
	return payload + string(ident.LuhnCheckDigit(payload))
}

func (f *filler) merchants(ctx context.Context) error {
	f.w.say("3 merchants apply, file their business licences, name their officers (董监高), and are approved by the qualification rules")
	out := make([]Merchant, len(demoMerchants))
	err := parallel(len(demoMerchants), func(i int) error {
		d := demoMerchants[i]
		code, err := USCC(d.area)
		if err != nil {
			return err
		}
		repID, err := ResidentID("350102", time.Date(1978, 3, 14+i, 0, 0, 0, 0, time.UTC), 101+i)
		if err != nil {
			return err
		}
		app := map[string]any{
			"name": d.name, "uscc": code, "operating_model": d.model,
			"legal_rep": map[string]string{"name": d.rep, "id_number": repID},
			"contacts":  []map[string]string{{"name": d.rep, "phone": d.phone, "email": d.admin + "@example.cn"}},
			"bank":      map[string]string{"name": "中国工商银行" + string([]rune(d.name)[:2]) + "支行", "account": fmt.Sprintf("95588%014d", i+1), "holder": d.name},
			"applicant": map[string]string{"username": d.admin, "phone": d.phone, "email": d.admin + "@example.cn"},
		}
		var applied struct {
			Merchant struct {
				ID        string `json:"id"`
				TaxOffice string `json:"tax_office"`
			} `json:"merchant"`
			OneTime string `json:"one_time_password"`
		}
		if _, err := f.c.call(ctx, "POST", "/api/v1/merchants", "", app, &applied); err != nil {
			return fmt.Errorf("apply %s: %w", d.name, err)
		}
		id := applied.Merchant.ID
		s, err := f.c.firstLogin(ctx, d.admin, applied.OneTime)
		if err != nil {
			return fmt.Errorf("merchant admin %s: %w", d.admin, err)
		}
		f.w.account(Account{Username: d.admin, Role: "merchant_admin", Password: s.Password, TOTP: s.TOTP, Merchant: id, Phone: d.phone})
		f.w.mu.Lock()
		f.sessions[d.admin] = s
		f.w.mu.Unlock()
		var doc struct {
			ID string `json:"id"`
		}
		if _, err := f.c.call(ctx, "POST", "/api/v1/merchants/"+id+"/documents?kind=business_licence", s.Token, licence(code), &doc); err != nil {
			return fmt.Errorf("licence of %s: %w", d.name, err)
		}
		// 董监高: the legal representative is the merchant's director; the
		// qualification rules hold an approval of a merchant naming none.
		officers := map[string]any{"officers": []map[string]string{{"name": d.rep, "id_number": repID, "role": "director"}}}
		if _, err := f.c.call(ctx, "PUT", "/api/v1/merchants/"+id+"/officers", s.Token, officers, nil); err != nil {
			return fmt.Errorf("officers of %s: %w", d.name, err)
		}
		var reviewed struct {
			Status string `json:"status"`
		}
		if _, err := f.c.call(ctx, "POST", "/api/v1/merchants/"+id+"/review", f.reviewer.Token, map[string]string{"decision": "approve"}, &reviewed); err != nil {
			return fmt.Errorf("approve %s: %w", d.name, err)
		}
		out[i] = Merchant{ID: id, Status: reviewed.Status, TaxOffice: applied.Merchant.TaxOffice, Registered: app, Admin: d.admin, Documents: []string{doc.ID}}
		return nil
	})
	f.w.Merchants = out
	return err
}

// demoPlatform is the platform company the demo's e-signing authority names.
const demoPlatform = "诚薪通演示平台有限公司"

// agreements sets up the e-signing authority and has each merchant sign
// its cooperation agreement with the platform; the evidence packages are
// downloaded into the demo folder.
func (f *filler) agreements(ctx context.Context) error {
	f.w.say("the system administrator sets up the e-signing authority")
	sys := f.admins["system_admin"]
	if sys == nil {
		return fmt.Errorf("demo: no system administrator")
	}
	code, err := platformUSCC()
	if err != nil {
		return err
	}
	if _, err := f.c.call(ctx, "POST", "/api/v1/esign/authority", sys.Token, map[string]string{"platform_name": demoPlatform, "platform_uscc": code}, nil); err != nil {
		return fmt.Errorf("e-signing authority: %w", err)
	}
	f.w.say("each merchant signs its cooperation agreement with the platform (SMS codes)")
	evidence := filepath.Join(f.dir, "evidence")
	if err := os.MkdirAll(evidence, 0o700); err != nil {
		return err
	}
	today := f.opts.Clock.Now().In(china)
	for i := range f.w.Merchants {
		m := &f.w.Merchants[i]
		var a struct {
			ID  string `json:"id"`
			SM3 string `json:"document_sm3"`
		}
		if _, err := f.c.call(ctx, "POST", "/api/v1/merchants/"+m.ID+"/agreements", f.operator.Token, map[string]string{
			"service_fee_rate": "6.00%", "billing_timing": "prepaid", "start_date": today.Format(time.DateOnly), "end_date": today.AddDate(1, 0, -1).Format(time.DateOnly),
		}, &a); err != nil {
			return fmt.Errorf("cooperation agreement of %s: %w", m.ID, err)
		}
		admin := f.session(m.Admin)
		for _, s := range []*Session{admin, f.operator} {
			if err := f.signWithSMS(ctx, a.ID, a.SM3, s, f.phone(s.Username)); err != nil {
				return err
			}
		}
		zip, err := f.c.raw(ctx, "GET", "/api/v1/agreements/"+a.ID+"/evidence", admin.Token)
		if err != nil {
			return fmt.Errorf("evidence of %s: %w", a.ID, err)
		}
		path := filepath.Join(evidence, a.ID+".zip")
		if err := os.WriteFile(path, zip, 0o600); err != nil {
			return err
		}
		m.Agreement = a.ID
		f.w.Artifacts = append(f.w.Artifacts, Artifact{What: "evidence package of " + m.ID + "'s cooperation agreement (docs/e-signing.md verifies it with OpenSSL)", Path: path})
	}
	return nil
}

// session returns the signed-in session of a demo account.
func (f *filler) session(username string) *Session {
	f.w.mu.Lock()
	defer f.w.mu.Unlock()
	return f.sessions[username]
}

// licence is a one-page PDF standing in for a scanned business licence.
func licence(code string) []byte {
	return pdfPage(fmt.Sprintf("Business licence (demo) - USCC %s", code))
}

// pdfPage is a one-page PDF showing text (ASCII).
func pdfPage(text string) []byte {
	content := fmt.Sprintf("BT /F1 14 Tf 72 720 Td (%s) Tj ET", text)
	objs := []string{
		"<< /Type /Catalog /Pages 2 0 R >>",
		"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
		"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>",
		fmt.Sprintf("<< /Length %d >>\nstream\n%s\nendstream", len(content), content),
		"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
	}
	var b []byte
	b = append(b, "%PDF-1.4\n"...)
	offsets := make([]int, len(objs))
	for i, o := range objs {
		offsets[i] = len(b)
		b = append(b, fmt.Sprintf("%d 0 obj\n%s\nendobj\n", i+1, o)...)
	}
	xref := len(b)
	b = append(b, fmt.Sprintf("xref\n0 %d\n0000000000 65535 f \n", len(objs)+1)...)
	for _, off := range offsets {
		b = append(b, fmt.Sprintf("%010d 00000 n \n", off)...)
	}
	b = append(b, fmt.Sprintf("trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n", len(objs)+1, xref)...)
	return b
}

func (f *filler) write() error {
	if err := os.MkdirAll(f.dir, 0o700); err != nil {
		return err
	}
	b, err := json.MarshalIndent(f.w, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(f.dir, "world.json"), append(b, '\n'), 0o600)
}

// parallel runs fn for 0..n-1 at once and returns the first error.
func parallel(n int, fn func(i int) error) error {
	errs := make(chan error, n)
	for i := range n {
		go func() { errs <- fn(i) }()
	}
	var first error
	for range n {
		if err := <-errs; err != nil && first == nil {
			first = err
		}
	}
	return first
}
