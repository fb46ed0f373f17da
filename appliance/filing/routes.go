package filing

import (
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"regexp"
	"strconv"
	"time"

	"github.com/shopspring/decimal"

	"cxt/appliance/api"
	"cxt/appliance/errs"
	"cxt/appliance/ledger"
	"cxt/appliance/payouts"
	"cxt/policy"
	"cxt/storage/state"
)

// Backend serves declarations and tax payments over the API.
type Backend struct {
	Rules *Rules
}

// Register adds the filing's buckets and commands.
func (b *Backend) Register(reg *state.Registry) { Register(reg, b.Rules) }

// MaxImportBytes bounds an imported tax-payment file.
const MaxImportBytes = 256 << 10

// Routes lists the filing's endpoints, all platform staff's: an agent's
// periods; a period's versions, its two forms (JSON or CSV) and its tax
// payments.
func (b *Backend) Routes() []api.Route {
	const read, write = api.Read, api.Write
	res := resource
	base := "/api/v1/filings/{agent}"
	per := base + "/{period}"
	return []api.Route{
		{Method: "GET", Path: base, Action: "filing.read", Kind: read, Resource: res, Handle: b.periods},
		{Method: "POST", Path: per + "/declarations", Action: "filing.declare", Kind: write, Resource: res, Handle: b.declare},
		{Method: "GET", Path: per + "/declarations", Action: "filing.read", Kind: read, Resource: res, Handle: b.versions},
		{Method: "GET", Path: per + "/iit", Action: "filing.export", Kind: read, Resource: res, Handle: b.iit},
		{Method: "GET", Path: per + "/vat", Action: "filing.export", Kind: read, Resource: res, Handle: b.vat},
		{Method: "GET", Path: per + "/payments", Action: "filing.read", Kind: read, Resource: res, Handle: b.taxPayments},
		{Method: "POST", Path: per + "/payments", Action: "filing.pay", Kind: write, Resource: res, Handle: b.pay},
		{Method: "POST", Path: per + "/payments/import", Action: "filing.pay", Kind: write, Resource: res, Handle: b.importPayments, MaxBody: MaxImportBytes + 1},
	}
}

// resource is an agent's filings: platform records (label 1, no tenant).
// An unknown agent or period is the handler's to refuse with its own code.
func resource(*api.Request) (api.Resource, error) {
	return api.Resource{Resource: policy.Resource{Label: 1}, Noun: "filing"}, nil
}

// target reads {agent} and {period}: agent_unknown, period_invalid.
func target(r *api.Request) (string, Period, error) {
	agent := r.Var("agent")
	if err := checkAgent(agent); err != nil {
		return "", Period{}, err
	}
	r.Audit.Object = agent
	if r.Var("period") == "" {
		return agent, Period{}, nil // GET /api/v1/filings/{agent}
	}
	p, err := ParsePeriod(r.Var("period"))
	if err != nil {
		return "", Period{}, err
	}
	r.Audit.Object = agent + "/" + p.String()
	return agent, p, nil
}

func (b *Backend) periods(r *api.Request) (int, any, error) {
	agent, _, err := target(r)
	if err != nil {
		return 0, nil, err
	}
	var list []Declared
	if err := r.View(func(tx *state.ReadTx) (err error) { list, err = Periods(tx, agent); return }); err != nil {
		return 0, nil, err
	}
	if list == nil {
		list = []Declared{}
	}
	return 200, map[string]any{"agent": agent, "periods": list}, nil
}

// declare files the period: v1, or a correction when the payments changed
// since (reason required); the same figures again are declaration_unchanged.
func (b *Backend) declare(r *api.Request) (int, any, error) {
	agent, p, err := target(r)
	if err != nil {
		return 0, nil, err
	}
	var in struct {
		Reason string `json:"reason"`
	}
	if r.HTTP.ContentLength != 0 {
		if err := r.Decode(&in); err != nil {
			return 0, nil, err
		}
	}
	if now := r.Now(); !p.Over(now) {
		return 0, nil, state.Reject(CodePeriodOpen, "%s is not over in China time (it ends %s): a month is declared once it has ended", p, p.End().Format(time.RFC3339))
	}
	v, err := r.Propose(state.NewCommand(CmdDeclare, mustJSON(Declare{Agent: agent, Period: p.String(), Reason: in.Reason, By: r.Subject.ID}), r.Now()))
	if err != nil {
		return 0, nil, err
	}
	var s Summary
	if err := json.Unmarshal(v, &s); err != nil {
		return 0, nil, err
	}
	return 201, s, nil
}

// versions lists a period's versions, oldest first, and what its tax
// payments leave unpaid against the current one.
func (b *Backend) versions(r *api.Request) (int, any, error) {
	agent, p, err := target(r)
	if err != nil {
		return 0, nil, err
	}
	var ds []*Declaration
	var ps []*TaxPayment
	err = r.View(func(tx *state.ReadTx) error {
		if ds, err = Versions(tx, agent, p.String()); err != nil {
			return err
		}
		ps, err = TaxPayments(tx, agent, p.String())
		return err
	})
	if err != nil {
		return 0, nil, err
	}
	out := map[string]any{"agent": agent, "period": p.String(), "due": p.Due(), "current": len(ds)}
	list := make([]Summary, len(ds))
	for i, d := range ds {
		list[i] = d.Summary()
	}
	out["versions"] = list
	if len(ds) > 0 {
		out["balance"] = balance(ds[len(ds)-1], ps)
	}
	return 200, out, nil
}

// balance is, by kind, what the version declares, what was paid and what
// is unpaid.
func balance(d *Declaration, ps []*TaxPayment) map[string]map[string]string {
	paid := Paid(ps)
	out := map[string]map[string]string{}
	for _, k := range []string{KindIIT, KindVAT, KindSurcharges} {
		out[k] = map[string]string{"declared": ledger.Yuan(d.Payable(k)), "paid": ledger.Yuan(paid[k]), "unpaid": ledger.Yuan(d.Payable(k) - paid[k])}
	}
	return out
}

// form reads ?format= (json, the default, or csv) and ?version= (the
// current one if absent) and the version asked for.
func (b *Backend) form(r *api.Request) (*Declaration, string, error) {
	agent, p, err := target(r)
	if err != nil {
		return nil, "", err
	}
	q := r.HTTP.URL.Query()
	format := q.Get("format")
	if format == "" {
		format = "json"
	}
	if format != "json" && format != "csv" {
		return nil, "", errs.OnField(errs.E("export", errs.Invalid, "format: json or csv"), "format")
	}
	version := 0
	if s := q.Get("version"); s != "" {
		if version, err = strconv.Atoi(s); err != nil || version < 1 {
			return nil, "", errs.OnField(errs.E("export", errs.Invalid, "version: a version number, 1 on"), "version")
		}
	}
	var d *Declaration
	if err := r.View(func(tx *state.ReadTx) (err error) { d, err = Get(tx, agent, p.String(), version); return }); err != nil {
		return nil, "", err
	}
	return d, format, nil
}

func (b *Backend) iit(r *api.Request) (int, any, error) {
	d, format, err := b.form(r)
	if err != nil {
		return 0, nil, err
	}
	if format == "csv" {
		return 200, &api.Raw{ContentType: "text/csv; charset=utf-8", Name: fmt.Sprintf("iit-%s-%s-v%d.csv", d.Agent, d.Period, d.Version), Body: IITCSV(&d.IIT)}, nil
	}
	return 200, &d.IIT, nil
}

func (b *Backend) vat(r *api.Request) (int, any, error) {
	d, format, err := b.form(r)
	if err != nil {
		return 0, nil, err
	}
	if format == "csv" {
		return 200, &api.Raw{ContentType: "text/csv; charset=utf-8", Name: fmt.Sprintf("vat-%s-%s-v%d.csv", d.Agent, d.Period, d.Version), Body: VATCSV(&d.VAT)}, nil
	}
	return 200, &d.VAT, nil
}

func (b *Backend) taxPayments(r *api.Request) (int, any, error) {
	agent, p, err := target(r)
	if err != nil {
		return 0, nil, err
	}
	var ps []*TaxPayment
	var d *Declaration
	err = r.View(func(tx *state.ReadTx) error {
		if ps, err = TaxPayments(tx, agent, p.String()); err != nil {
			return err
		}
		d, err = Get(tx, agent, p.String(), 0)
		return err
	})
	if err != nil {
		return 0, nil, err
	}
	list := make([]map[string]any, len(ps))
	for i, tp := range ps {
		list[i] = tp.view()
	}
	return 200, map[string]any{"agent": agent, "period": p.String(), "version": d.Version, "payments": list, "balance": balance(d, ps)}, nil
}

func (tp *TaxPayment) view() map[string]any {
	return map[string]any{"n": tp.N, "version": tp.Version, "kind": tp.Kind, "amount": ledger.Yuan(tp.Fen), "date": tp.Date,
		"receipt": tp.Receipt, "source": tp.Source, "by": tp.By, "posting": tp.Posting, "recorded": tp.Recorded}
}

// pay records one tax payment entered by hand.
func (b *Backend) pay(r *api.Request) (int, any, error) {
	agent, p, err := target(r)
	if err != nil {
		return 0, nil, err
	}
	var in struct {
		Kind    string          `json:"kind"`
		Amount  json.RawMessage `json:"amount"`
		Date    string          `json:"date"`
		Receipt string          `json:"receipt"`
		Version int             `json:"version"`
	}
	if err := r.Decode(&in); err != nil {
		return 0, nil, err
	}
	fen, err := parseMoney("amount", in.Amount)
	if err != nil {
		return 0, nil, err
	}
	it := PayItem{Kind: in.Kind, Fen: fen, Date: in.Date, Receipt: in.Receipt}
	if err := CheckItem(it, p, r.Now().In(payouts.China).Format(time.DateOnly)); err != nil {
		return 0, nil, err
	}
	return b.propose(r, Pay{Agent: agent, Period: p.String(), Version: in.Version, Source: "entered", Items: []PayItem{it}, By: r.Subject.ID})
}

// importPayments records a file of tax payments (text/csv, header
// kind,amount,date,receipt): every line or none.
func (b *Backend) importPayments(r *api.Request) (int, any, error) {
	agent, p, err := target(r)
	if err != nil {
		return 0, nil, err
	}
	if mt, _, err := mime.ParseMediaType(r.HTTP.Header.Get("Content-Type")); err != nil || mt != "text/csv" {
		return 0, nil, errs.E("import tax payments", errs.Unsupported, "send the file as Content-Type: text/csv")
	}
	data, err := io.ReadAll(r.HTTP.Body)
	if err != nil || len(data) > MaxImportBytes {
		return 0, nil, errs.Coded("import tax payments", errs.TooLarge, "too_large", "a tax-payment file is at most %d bytes", MaxImportBytes)
	}
	items, err := ParsePayments(data, p, r.Now().In(payouts.China).Format(time.DateOnly))
	if err != nil {
		return 0, nil, err
	}
	version := 0
	if s := r.HTTP.URL.Query().Get("version"); s != "" {
		if version, err = strconv.Atoi(s); err != nil || version < 1 {
			return 0, nil, errs.OnField(errs.E("import tax payments", errs.Invalid, "version: a version number, 1 on"), "version")
		}
	}
	return b.propose(r, Pay{Agent: agent, Period: p.String(), Version: version, Source: "imported", Items: items, By: r.Subject.ID})
}

func (b *Backend) propose(r *api.Request, in Pay) (int, any, error) {
	v, err := r.Propose(state.NewCommand(CmdPay, mustJSON(in), r.Now()))
	if err != nil {
		return 0, nil, err
	}
	var ps []*TaxPayment
	if err := json.Unmarshal(v, &ps); err != nil {
		return 0, nil, err
	}
	list := make([]map[string]any, len(ps))
	for i, tp := range ps {
		list[i] = tp.view()
	}
	return 201, map[string]any{"agent": in.Agent, "period": in.Period, "recorded": len(ps), "payments": list}, nil
}

// CodeMoneyFormat refuses an amount that is not a JSON string of yuan with
// at most two decimals, above zero (the code top-ups use too).
const CodeMoneyFormat = "money_format"

var moneyPattern = regexp.MustCompile(`^(0|[1-9][0-9]{0,12})(\.[0-9]{1,2})?$`)

func parseMoney(field string, raw json.RawMessage) (int64, error) {
	fail := func() (int64, error) {
		return 0, errs.OnField(errs.Coded("amount", errs.Invalid, CodeMoneyFormat, "%s: an amount in yuan above zero, as a JSON string with at most 2 decimals, such as \"1000.00\"", field), field)
	}
	var s string
	if len(raw) == 0 || raw[0] != '"' || json.Unmarshal(raw, &s) != nil {
		return fail()
	}
	return moneyFen(s, fail)
}

func moneyFen(s string, fail func() (int64, error)) (int64, error) {
	if !moneyPattern.MatchString(s) {
		return fail()
	}
	fen, err := ledger.Fen(decimal.RequireFromString(s))
	if err != nil || fen <= 0 {
		return fail()
	}
	return fen, nil
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}
