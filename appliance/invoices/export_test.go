package invoices_test

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"cxt/appliance/invoices"
	"cxt/appliance/payouts"
	"cxt/storage/state"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// The export for the tax-control system lists the platform's invoices not
// issued yet — a blue one requested, one let through, and a red letter
// naming its original's number — and not the 代开 one, the issued one or
// the cancelled one. Golden files, and each line read back column by
// column.
func TestTheExportListsWhatTheTaxControlSystemIsToIssue(t *testing.T) {
	w := newWorld(t)
	w.setup(both, 3, nil)
	m1 := w.pay("m1", payouts.Row{Worker: "w0000", Fen: 123_457}, payouts.Row{Worker: "w0001", Fen: 50_000}, payouts.Row{Worker: "w0002", Fen: 7_000})
	m2 := w.pay("m2", payouts.Row{Worker: "w0000", Fen: 200_000}, payouts.Row{Worker: "w0001", Fen: 100_000})
	w.settle()
	issued := w.request(invoices.Request{Merchant: "m1", Kind: invoices.Full, Payments: m1[:1], Buyer: "上海某某科技有限公司", BuyerTaxID: "91310000MA1FL0000K"})
	w.ok(invoices.CmdIssue, invoices.Issue{Invoice: issued.ID, By: "op"})
	d, _ := driverOf(w, &invoices.Sandbox{})
	if err := d.Round(t.Context()); err != nil {
		t.Fatal(err)
	}
	w.ok(invoices.CmdReverse, invoices.Reverse{Invoice: issued.ID, Reason: "买方名称有误", By: "op"})    // a red letter, issuing
	pending := w.request(invoices.Request{Merchant: "m1", Kind: invoices.Full, Payments: m1[1:2]}) // requested
	cancelled := w.request(invoices.Request{Merchant: "m1", Kind: invoices.Full, Payments: m1[2:]})
	w.ok(invoices.CmdReverse, invoices.Reverse{Invoice: cancelled.ID, Reason: "撤回", By: "op"})
	fee := w.request(invoices.Request{Merchant: "m2", Kind: invoices.Fee, Payments: m2, Buyer: "深圳某某网络有限公司", BuyerTaxID: "91440300MA5G000000"})
	w.ok(invoices.CmdIssue, invoices.Issue{Invoice: fee.ID, By: "op"}) // issuing
	w.request(invoices.Request{Merchant: "m2", Kind: invoices.Worker, Worker: "w0000", Payments: m2[:1], Seller: "w0000"})

	var lines []invoices.Line
	w.view(func(r *state.ReadTx) (err error) { lines, err = invoices.Pending(r, ""); return })
	if len(lines) != 3 {
		t.Fatalf("%d lines: %+v", len(lines), lines)
	}
	red, blue, feeLine := lines[0], lines[1], lines[2]
	orig := w.invoice(issued.ID)
	p1, p2a, p2b := w.payment(m1[1]), w.payment(m2[0]), w.payment(m2[1])
	for _, c := range []struct {
		name string
		got  invoices.Line
		want invoices.Line
	}{
		{"the red letter", red, invoices.Line{Invoice: orig.ReversedBy, Kind: invoices.Full, Seller: "灵活用工平台有限公司", SellerTaxID: "91110000MA01ABCD2X",
			Buyer: "上海某某科技有限公司", BuyerTaxID: "91310000MA1FL0000K", Item: "*现代服务*服务费", Rate: "6%", Amount: "-1240.40", Tax: "-74.42", Total: "-1314.82",
			OriginalNumber: orig.Number, Payments: 1, Requested: "2026-03-10"}},
		{"the requested blue one", blue, invoices.Line{Invoice: pending.ID, Kind: invoices.Full, Seller: "灵活用工平台有限公司", SellerTaxID: "91110000MA01ABCD2X",
			Buyer: "商户 m1", BuyerTaxID: "91310000MA1FL0000K", Item: "*现代服务*服务费", Rate: "6%", Amount: yuan(p1.AmountFen + p1.FeeFen - tax6(p1.AmountFen+p1.FeeFen)),
			Tax: yuan(tax6(p1.AmountFen + p1.FeeFen)), Total: yuan(p1.AmountFen + p1.FeeFen), Payments: 1, Requested: "2026-03-10"}},
		{"the fee invoice", feeLine, invoices.Line{Invoice: fee.ID, Kind: invoices.Fee, Seller: "灵活用工平台有限公司", SellerTaxID: "91110000MA01ABCD2X",
			Buyer: "深圳某某网络有限公司", BuyerTaxID: "91440300MA5G000000", Item: "*经纪代理服务*经纪代理服务费", Rate: "6%",
			Amount: yuan(p2a.FeeFen + p2b.FeeFen - tax6(p2a.FeeFen+p2b.FeeFen)), Tax: yuan(tax6(p2a.FeeFen + p2b.FeeFen)), Total: yuan(p2a.FeeFen + p2b.FeeFen),
			Payments: 2, Requested: "2026-03-10"}},
	} {
		if c.got != c.want {
			t.Errorf("%s:\n got %+v\nwant %+v", c.name, c.got, c.want)
		}
	}
	// 1,234.57 + its fee 80.25 (6.5 %, 80.247 rounded) = 1,314.82; the tax
	// 1,314.82 × 6/106 = 74.4238 → 74.42; the red letter negates them all.
	if orig.TotalFen != 131_482 || orig.TaxFen != 7_442 {
		t.Errorf("blue: %+v", orig)
	}

	csvOut, err := invoices.CSV(lines)
	if err != nil {
		t.Fatal(err)
	}
	jsonOut, err := invoices.JSON(lines)
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "export.csv", csvOut)
	golden(t, "export.json", jsonOut)
	// The CSV reads back to the same columns; the JSON totals add up.
	rows, err := csv.NewReader(bytes.NewReader(csvOut)).ReadAll()
	if err != nil || len(rows) != 4 || len(rows[0]) != len(invoices.Columns) || rows[1][11] != orig.Number || rows[3][6] != "*经纪代理服务*经纪代理服务费" {
		t.Fatalf("CSV: %v %q", err, rows)
	}
	var e invoices.Export
	if err := json.Unmarshal(jsonOut, &e); err != nil || e.Count != 3 {
		t.Fatal(err)
	}
	var sum int64
	for _, l := range lines {
		sum += parseFen(t, l.Total)
	}
	if e.Totals.Total != yuan(sum) || parseFen(t, e.Totals.Amount)+parseFen(t, e.Totals.Tax) != sum {
		t.Fatalf("totals %+v, lines %d", e.Totals, sum)
	}
}

func tax6(total int64) int64 { return (total*600*2 + 10_600) / 21_200 }

func yuan(f int64) string {
	var e invoices.Invoice
	e.TotalFen = f
	return e.View()["total"].(string)
}

func parseFen(t *testing.T, s string) int64 {
	t.Helper()
	neg := s[0] == '-'
	if neg {
		s = s[1:]
	}
	var whole, frac int64
	var seenDot bool
	for _, c := range s {
		switch {
		case c == '.':
			seenDot = true
		case seenDot:
			frac = frac*10 + int64(c-'0')
		default:
			whole = whole*10 + int64(c-'0')
		}
	}
	v := whole*100 + frac
	if neg {
		return -v
	}
	return v
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to write it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file:\n%s", name, got)
	}
}
