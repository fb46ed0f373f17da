package filing_test

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"cxt/appliance/filing"
	"cxt/appliance/payouts"
	"cxt/appliance/payouts/payoutstest"
	"cxt/storage/state"
)

var update = flag.Bool("update", false, "rewrite the golden files")

func mustDecimal(t *testing.T, s string) decimal.Decimal {
	t.Helper()
	d, err := decimal.NewFromString(s)
	if err != nil {
		t.Fatalf("%q is not a decimal: %v", s, err)
	}
	return d
}

// goldenWorld is two months of three workers, every figure fixed: January
// w1 10,000.00 and w2 3,000.00; February w1 120,000.00 (above the monthly
// VAT exemption, so VAT and surcharges are withheld, and its cumulative
// base is in the 10% row), w2 1,500.00 that the bank fails and 500.00
// paid, w3 800.00. February is declared on 10 March.
func goldenWorld(t *testing.T) *world {
	w := newWorld(t)
	w.ok(payoutstest.CmdSeed, payoutstest.Seed{Merchants: []string{"m1"}, Workers: []string{"w1", "w2", "w3"}})
	w.ok(payoutstest.CmdTopUp, payoutstest.TopUp{Merchant: "m1", Fen: 1_000_000_00, Ref: "t1"})
	w.Now = time.Date(2026, 1, 10, 10, 0, 0, 0, payouts.China)
	w.result(payouts.Paid, w.pay("w1", "10000.00", "w2", "3000.00")...)
	w.Now = time.Date(2026, 2, 10, 10, 0, 0, 0, payouts.China)
	feb := w.pay("w1", "120000.00", "w2", "1500.00", "w2", "500.00", "w3", "800.00")
	w.result(payouts.Failed, feb[1])
	w.result(payouts.Paid, feb[0], feb[2], feb[3])
	w.Now = time.Date(2026, 3, 10, 9, 30, 0, 0, payouts.China)
	w.declare("2026-02", "")
	return w
}

func golden(t *testing.T, name string, got []byte) []byte {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -run %s -update once to write it)", err, t.Name())
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from what the declaration exports now:\n--- got\n%s\n--- want\n%s", path, got, want)
	}
	return want
}

// TestTheDeclarationFormatsMatchTheirGoldenFilesLineByLine: the JSON and
// CSV exports of February are the files in testdata, byte for byte; then
// the CSV is read back line by line, each column checked for what it means.
func TestTheDeclarationFormatsMatchTheirGoldenFilesLineByLine(t *testing.T) {
	w := goldenWorld(t)
	d := w.declaration("2026-02", 0)
	js, err := json.MarshalIndent(&d.IIT, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "iit-2026-02.json", append(js, '\n'))
	vs, _ := json.MarshalIndent(&d.VAT, "", "  ")
	golden(t, "vat-2026-02.json", append(vs, '\n'))
	golden(t, "vat-2026-02.csv", filing.VATCSV(&d.VAT))
	data := golden(t, "iit-2026-02.csv", filing.IITCSV(&d.IIT))

	// The JSON's field order is the CSV's column order.
	var raw struct {
		Lines []json.RawMessage `json:"lines"`
	}
	json.Unmarshal(js, &raw)
	dec := json.NewDecoder(bytes.NewReader(raw.Lines[0]))
	dec.Token()
	var keys []string
	for dec.More() {
		k, _ := dec.Token()
		keys = append(keys, k.(string))
		var skip json.RawMessage
		dec.Decode(&skip)
	}
	if strings.Join(keys, ",") != strings.Join(filing.IITColumns, ",") {
		t.Fatalf("JSON line fields %v, CSV columns %v", keys, filing.IITColumns)
	}

	rows, err := csv.NewReader(bytes.NewReader(data)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(rows[0], ",") != strings.Join(filing.IITColumns, ",") {
		t.Fatalf("header %v", rows[0])
	}
	// What the payments say, independently of the declaration: January's
	// and February's IIT base and withholding per worker.
	base := map[string][2]int64{}     // worker -> {January, February} amount − VAT
	withheld := map[string][2]int64{} // worker -> {January, February} Σ IIT withheld
	w.view(func(r *state.ReadTx) error {
		return payouts.Payments(r, func(p *payouts.Payment) error {
			if p.Live() {
				i := p.Month%100 - 1
				b, h := base[p.Worker], withheld[p.Worker]
				b[i] += p.AmountFen - p.VATFen
				h[i] += p.IITFen
				base[p.Worker], withheld[p.Worker] = b, h
			}
			return nil
		})
	})
	var sumIncome, sumWithheld decimal.Decimal
	lines := rows[1 : len(rows)-1]
	if len(lines) != 3 {
		t.Fatalf("%d lines, want w1, w2, w3", len(lines))
	}
	for i, l := range lines {
		col := func(name string) decimal.Decimal { return mustDecimal(t, l[columnOf(t, name)]) }
		// worker: each worker with income in February, once, sorted.
		if want := []string{"w1", "w2", "w3"}[i]; l[0] != want {
			t.Fatalf("line %d is %s, want %s", i+1, l[0], want)
		}
		wk := l[0]
		// method: 2026's rule set withholds by the cumulative method from January.
		if l[1] != "labor_cumulative" {
			t.Errorf("%s: method %s", wk, l[1])
		}
		// month: the month the income counts in, the period.
		if l[2] != "2026-02" {
			t.Errorf("%s: month %s", wk, l[2])
		}
		// income: February's live payments less the VAT withheld with them
		// (w2's failed 1,500.00 is not income).
		income := col("income")
		if !income.Equal(decimal.New(base[wk][1], -2)) {
			t.Errorf("%s: income %s, the payments say %s", wk, income, decimal.New(base[wk][1], -2))
		}
		// cumulative_income: January's income and February's.
		ci := col("cumulative_income")
		if !ci.Equal(decimal.New(base[wk][0]+base[wk][1], -2)) {
			t.Errorf("%s: cumulative income %s", wk, ci)
		}
		// cumulative_cost: 20% of the cumulative income, exact.
		cost := col("cumulative_cost")
		if !cost.Equal(ci.Mul(decimal.RequireFromString("0.2"))) {
			t.Errorf("%s: cumulative cost %s of %s", wk, cost, ci)
		}
		// cumulative_deduction: 5,000.00 a month of continuous income —
		// two for w1 and w2 (January and February), one for w3.
		months := int64(2)
		if base[wk][0] == 0 {
			months = 1
		}
		if ded := col("cumulative_deduction"); !ded.Equal(decimal.NewFromInt(5000 * months)) {
			t.Errorf("%s: cumulative deduction %s for %d months", wk, ded, months)
		}
		// cumulative_taxable: income less cost less deduction, never below zero.
		taxable := col("cumulative_taxable")
		want := decimal.Max(decimal.Zero, ci.Sub(cost).Sub(col("cumulative_deduction")))
		if !taxable.Equal(want) {
			t.Errorf("%s: cumulative taxable %s, want %s", wk, taxable, want)
		}
		// rate and quick_deduction: the row of 预扣率表一 the taxable falls in.
		rate, quick := col("rate"), col("quick_deduction")
		wantRate, wantQuick := "0.03", "0"
		if taxable.GreaterThan(decimal.NewFromInt(36000)) {
			wantRate, wantQuick = "0.1", "2520"
		}
		if !rate.Equal(decimal.RequireFromString(wantRate)) || !quick.Equal(decimal.RequireFromString(wantQuick)) {
			t.Errorf("%s: rate %s quick %s for taxable %s", wk, rate, quick, taxable)
		}
		// withheld: what February's payments withheld.
		wh := col("withheld")
		if !wh.Equal(decimal.New(withheld[wk][1], -2)) {
			t.Errorf("%s: withheld %s, the payments %s", wk, wh, decimal.New(withheld[wk][1], -2))
		}
		// cumulative_withheld: January's withholding and February's — and,
		// no payment having come back, the tax on the cumulative base.
		cw := col("cumulative_withheld")
		if !cw.Equal(decimal.New(withheld[wk][0]+withheld[wk][1], -2)) {
			t.Errorf("%s: cumulative withheld %s", wk, cw)
		}
		if owed := taxable.Mul(rate).Sub(quick).Round(2); !cw.Equal(owed) {
			t.Errorf("%s: cumulative withheld %s, the cumulative base's tax %s", wk, cw, owed)
		}
		sumIncome, sumWithheld = sumIncome.Add(income), sumWithheld.Add(wh)
	}
	// The last line: TOTAL, the number of lines, the period, the income,
	// empty cumulative columns, the withheld.
	last := rows[len(rows)-1]
	if last[0] != filing.Total || last[1] != strconv.Itoa(len(lines)) || last[2] != "2026-02" ||
		!mustDecimal(t, last[3]).Equal(sumIncome) || !mustDecimal(t, last[11]).Equal(sumWithheld) || strings.Join(last[4:11], "") != "" {
		t.Errorf("totals line %v; the lines sum income %s, withheld %s", last, sumIncome, sumWithheld)
	}
	if got := w.ledgerIIT("2026-02"); got != d.IITFen || !decimal.New(got, -2).Equal(sumWithheld) {
		t.Errorf("the ledger's February IIT %d fen; declared %d", got, d.IITFen)
	}
}

func columnOf(t *testing.T, name string) int {
	for i, c := range filing.IITColumns {
		if c == name {
			return i
		}
	}
	t.Fatalf("no column %s", name)
	return -1
}
