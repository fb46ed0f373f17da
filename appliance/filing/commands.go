package filing

import (
	"bytes"
	"encoding/json"
	"regexp"
	"strconv"
	"strings"
	"time"

	"cxt/appliance/ledger"
	"cxt/appliance/payouts"
	"cxt/appliance/tax"
	"cxt/storage/state"
)

// Rules are what a declaration is computed by; every replica is given the
// same.
type Rules struct {
	Tax *tax.Rules
	// Office names the tax office the VAT and surcharge summary is filed
	// with: the platform's competent tax office (主管税务机关), since the
	// platform files on the workers' behalf (代办) where it is registered —
	// the same place payouts.Rules.Location takes the surcharge rate from.
	// OfficeOf, when set, reads it from the state (the platform's profile,
	// gateway/platform); Office is the fallback while it answers "".
	OfficeOf func(tx Getter) (string, error)
	Office   string
}

// office is the tax office the VAT summary is filed with.
func (r *Rules) office(tx Getter) (string, error) {
	if r.OfficeOf != nil {
		o, err := r.OfficeOf(tx)
		if err != nil || o != "" {
			return o, err
		}
	}
	if r.Office != "" {
		return r.Office, nil
	}
	return DefaultOffice, nil
}

// DefaultOffice is the office a node files with unless configured.
const DefaultOffice = "platform-competent-office"

// Register adds the buckets and commands, computing by rules.
func Register(reg *state.Registry, rules *Rules) {
	for _, b := range []string{DeclBucket, CurrentBucket, PaymentBucket, ReceiptBucket} {
		reg.Bucket(b)
	}
	h := &handlers{rules: rules}
	reg.HandleFrom(state.FilingSet, CmdDeclare, h.declare)
	reg.HandleFrom(state.FilingSet, CmdPay, h.pay)
}

type handlers struct{ rules *Rules }

// Declare is the body of CmdDeclare.
type Declare struct {
	Agent  string `json:"agent"`
	Period string `json:"period"`
	Reason string `json:"reason,omitempty"` // required for a correction
	By     string `json:"by"`
}

// declare computes the period from the payments as they stand and files it
// as the next version — unless it says exactly what the current one says.
func (h *handlers) declare(tx *state.Tx, cmd *state.Command) ([]byte, error) {
	var in Declare
	if err := json.Unmarshal(cmd.Body, &in); err != nil {
		return nil, state.Reject(state.InvalidRequest, "a declaration names its agent and period")
	}
	if err := checkAgent(in.Agent); err != nil {
		return nil, err
	}
	p, err := ParsePeriod(in.Period)
	if err != nil {
		return nil, err
	}
	now := tx.Time()
	if !p.Over(now) {
		return nil, state.Reject(CodePeriodOpen, "%s is not over in China time (it ends %s): a month is declared once it has ended", p, p.End().Format(time.RFC3339))
	}
	if _, err := h.rules.Tax.For(p.Year); err != nil {
		// A month no tax rule set of cxt's governs is none it withheld
		// in: a declaration of it would be a fact for the bureaus' feed
		// about nothing (the red team filed 2000-01).
		return nil, state.Reject(CodePeriod, "cxt withheld nothing in %s: it has no tax rules for %d", p, p.Year)
	}
	office, err := h.rules.office(tx)
	if err != nil {
		return nil, err
	}
	d, err := Compute(func(fn func(*payouts.Payment) error) error { return payouts.EachPayment(tx, fn) }, h.rules.Tax, office, in.Agent, p)
	if err != nil {
		return nil, err
	}
	cur, err := CurrentVersion(tx, in.Agent, p.String())
	if err != nil {
		return nil, err
	}
	if cur > 0 {
		prev, err := Get(tx, in.Agent, p.String(), cur)
		if err != nil {
			return nil, err
		}
		if sameContent(prev, d) {
			return nil, state.Reject(CodeUnchanged, "%s %s v%d already says exactly this: nothing to correct", in.Agent, p, cur)
		}
		if strings.TrimSpace(in.Reason) == "" {
			return nil, state.Reject(CodeCorrectionNote, "%s %s is filed (v%d) and the payments now say otherwise: a correction says why (reason)", in.Agent, p, cur)
		}
		d.Supersedes = cur
		d.Reason = in.Reason
	}
	d.Version, d.By, d.Filed, d.Due, d.Late = cur+1, in.By, now, p.Due(), p.LateAt(now)
	v, err := json.Marshal(d)
	if err != nil {
		return nil, err
	}
	if err := tx.Put(DeclBucket, versionKey(in.Agent, p.String(), d.Version), v); err != nil {
		return nil, err
	}
	if err := tx.Put(CurrentBucket, periodKey(in.Agent, p.String()), []byte(strconv.Itoa(d.Version))); err != nil {
		return nil, err
	}
	if err := feedDeclared(tx, d); err != nil {
		return nil, err
	}
	return json.Marshal(d.Summary())
}

// sameContent reports whether two versions file the same figures.
func sameContent(a, b *Declaration) bool {
	ja, err1 := json.Marshal([]any{a.IIT, a.VAT, a.IITFen, a.VATFen, a.SurFen})
	jb, err2 := json.Marshal([]any{b.IIT, b.VAT, b.IITFen, b.VATFen, b.SurFen})
	return err1 == nil && err2 == nil && bytes.Equal(ja, jb)
}

// Summary is a version without its lines: what a declare answers and a
// list shows.
type Summary struct {
	Agent      string    `json:"agent"`
	Period     string    `json:"period"`
	Version    int       `json:"version"`
	Supersedes int       `json:"supersedes,omitempty"`
	Reason     string    `json:"reason,omitempty"`
	By         string    `json:"by"`
	Filed      time.Time `json:"filed"`
	Due        string    `json:"due"`
	Late       bool      `json:"late"`
	RuleSets   []string  `json:"rule_sets"`
	Lines      int       `json:"lines"`
	Income     string    `json:"income"`
	IIT        string    `json:"iit"`
	VAT        string    `json:"vat"`
	Surcharges string    `json:"surcharges"`
}

// Summary returns the version's summary.
func (d *Declaration) Summary() Summary {
	return Summary{Agent: d.Agent, Period: d.Period, Version: d.Version, Supersedes: d.Supersedes, Reason: d.Reason, By: d.By,
		Filed: d.Filed, Due: d.Due, Late: d.Late, RuleSets: d.RuleSets, Lines: d.IIT.Totals.Lines, Income: d.IIT.Totals.Income,
		IIT: ledger.Yuan(d.IITFen), VAT: ledger.Yuan(d.VATFen), Surcharges: ledger.Yuan(d.SurFen)}
}

// Pay is the body of CmdPay: tax payments against the current version of
// a period, all recorded or none.
type Pay struct {
	Agent   string    `json:"agent"`
	Period  string    `json:"period"`
	Version int       `json:"version,omitempty"` // the version the payer saw; 0: the current one
	Source  string    `json:"source"`            // entered or imported
	Items   []PayItem `json:"items"`
	By      string    `json:"by"`
}

// PayItem is one payment: its kind, amount, day and receipt.
type PayItem struct {
	Line    int    `json:"line,omitempty"` // its line in an imported file, for messages
	Kind    string `json:"kind"`
	Fen     int64  `json:"fen"`
	Date    string `json:"date"`
	Receipt string `json:"receipt"`
}

// MaxImport bounds the payments one import records.
const MaxImport = 1000

var receiptPattern = regexp.MustCompile(`^[0-9A-Za-z-]{4,64}$`)

// CheckItem refuses a payment that cannot be one, before anything is
// looked up: the proposer and the command both run it.
func CheckItem(it PayItem, p Period, today string) error {
	at := ""
	if it.Line > 0 {
		at = "line " + strconv.Itoa(it.Line) + ": "
	}
	switch {
	case it.Kind != KindIIT && it.Kind != KindVAT && it.Kind != KindSurcharges:
		return state.Reject(CodeTaxPayment, "%skind %q: iit, vat or surcharges", at, it.Kind)
	case it.Fen <= 0 || it.Fen > ledger.MaxBalance:
		return state.Reject(CodeTaxPayment, "%san amount above zero", at)
	case !receiptPattern.MatchString(it.Receipt):
		return state.Reject(CodeTaxPayment, "%sreceipt %q: the authority's receipt number, 4 to 64 letters, digits or '-'", at, it.Receipt)
	}
	d, err := time.Parse(time.DateOnly, it.Date)
	if err != nil || d.Format(time.DateOnly) != it.Date {
		return state.Reject(CodeTaxPayment, "%sdate %q: yyyy-mm-dd", at, it.Date)
	}
	if first := p.End().Format(time.DateOnly); it.Date < first || it.Date > today {
		return state.Reject(CodeTaxPayment, "%sdate %s: a month's tax is paid after it ends (%s on) and not in the future (today %s)", at, it.Date, first, today)
	}
	return nil
}

func (h *handlers) pay(tx *state.Tx, cmd *state.Command) ([]byte, error) {
	var in Pay
	if err := json.Unmarshal(cmd.Body, &in); err != nil || len(in.Items) == 0 {
		return nil, state.Reject(state.InvalidRequest, "tax payments name their agent, period and at least one payment")
	}
	if len(in.Items) > MaxImport {
		return nil, state.Reject(CodeTaxPayment, "at most %d payments at once; this has %d", MaxImport, len(in.Items))
	}
	if in.Source != "entered" && in.Source != "imported" {
		return nil, state.Reject(state.InvalidRequest, "source: entered or imported")
	}
	if err := checkAgent(in.Agent); err != nil {
		return nil, err
	}
	p, err := ParsePeriod(in.Period)
	if err != nil {
		return nil, err
	}
	d, err := Get(tx, in.Agent, p.String(), 0)
	if err != nil {
		return nil, err
	}
	if in.Version != 0 && in.Version != d.Version {
		return nil, state.Reject(CodeSuperseded, "%s %s v%d is superseded by v%d: pay against the current version", in.Agent, p, in.Version, d.Version)
	}
	now := tx.Time()
	today := now.In(payouts.China).Format(time.DateOnly)
	done, err := TaxPayments(tx, in.Agent, p.String())
	if err != nil {
		return nil, err
	}
	paid := Paid(done)
	seen := map[string]int{}  // receipt -> line
	lines := map[string]int{} // the whole line -> its first line
	for i := range in.Items {
		// A receipt number is one whatever its letters' case: ABCD and
		// abcd are the same receipt, recorded as the authority writes it.
		in.Items[i].Receipt = strings.ToUpper(in.Items[i].Receipt)
	}
	for i, it := range in.Items {
		if err := CheckItem(it, p, today); err != nil {
			return nil, err
		}
		no := it.Line
		if no == 0 {
			no = i + 1
		}
		whole := it.Kind + "|" + strconv.FormatInt(it.Fen, 10) + "|" + it.Date + "|" + it.Receipt
		if first, dup := lines[whole]; dup {
			return nil, state.Reject(CodeImportLine, "line %d repeats line %d: nothing was recorded", no, first)
		}
		lines[whole] = no
		if first, dup := seen[it.Receipt]; dup {
			return nil, state.Reject(CodeReceiptUsed, "line %d: receipt %s is also on line %d: nothing was recorded", no, it.Receipt, first)
		}
		seen[it.Receipt] = no
		if prev, err := tx.Get(ReceiptBucket, []byte(it.Receipt)); err != nil {
			return nil, err
		} else if prev != nil {
			return nil, state.Reject(CodeReceiptUsed, "receipt %s is recorded already (%s): a receipt pays once", it.Receipt, prev)
		}
		if unpaid := d.Payable(it.Kind) - paid[it.Kind]; it.Fen > unpaid {
			return nil, state.Reject(CodeOverUnpaid, "%s %s v%d leaves %s of %s unpaid; %s (receipt %s) is more: nothing was recorded",
				in.Agent, p, d.Version, ledger.Yuan(unpaid), it.Kind, ledger.Yuan(it.Fen), it.Receipt)
		}
		paid[it.Kind] += it.Fen
	}
	n := len(done)
	out := make([]*TaxPayment, 0, len(in.Items))
	for _, it := range in.Items {
		n++
		key := paymentKey(in.Agent, p.String(), n)
		posting := &ledger.Posting{Event: CmdPay, Ref: string(key) + " " + it.Receipt, Lines: []ledger.Line{
			{Account: account(it.Kind), Debit: true, Fen: it.Fen, Cause: ledger.CauseTax},
			{Account: ledger.Bank, Fen: it.Fen, Cause: ledger.CauseTax},
		}}
		if err := ledger.Post(tx, posting); err != nil {
			return nil, err
		}
		tp := &TaxPayment{N: n, Agent: in.Agent, Period: p.String(), Version: d.Version, Kind: it.Kind, Fen: it.Fen, Date: it.Date,
			Receipt: it.Receipt, Source: in.Source, By: in.By, Posting: posting.Seq, Recorded: now}
		v, err := json.Marshal(tp)
		if err != nil {
			return nil, err
		}
		if err := tx.Put(PaymentBucket, key, v); err != nil {
			return nil, err
		}
		if err := tx.Put(ReceiptBucket, []byte(it.Receipt), key); err != nil {
			return nil, err
		}
		out = append(out, tp)
	}
	if err := tx.Put(CurrentBucket, []byte("pay/"+in.Agent+"/"+p.String()), []byte(strconv.Itoa(n))); err != nil {
		return nil, err
	}
	if err := feedPaid(tx, out); err != nil {
		return nil, err
	}
	return json.Marshal(out)
}

// account is a tax kind's ledger account.
func account(kind string) string {
	switch kind {
	case KindVAT:
		return ledger.VAT
	case KindSurcharges:
		return ledger.Surcharges
	}
	return ledger.IIT
}
