package reports_test

import (
	"bytes"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"cxt/appliance/ident"
	"cxt/appliance/ledger"
	"cxt/appliance/payouts"
	"cxt/appliance/subjects"
	"cxt/crypto/sm"
	"cxt/gateway/feed"
	"cxt/gateway/reports"
	"cxt/storage/state"
	"cxt/storage/state/statetest"
)

// ledgerQuarter sums, straight from the ledger's postings dated in q, what
// the income table must come to: the gross booked (worker payable and the
// taxes credited by payout.execute and payout.release), the fees booked
// less the fees given back, and what the reversals gave the merchants back
// (their credits of cause return) less those fees.
func ledgerQuarter(t *testing.T, w *world, q string) (gross, fees, refunds int64) {
	t.Helper()
	qq, _ := reports.ParseQuarter(q)
	w.view(func(r *state.ReadTx) error {
		return r.Scan(ledger.PostingsBucket, func(_, v []byte, openErr error) error {
			if openErr != nil {
				return openErr
			}
			p, err := ledger.Decode(v)
			if err != nil || !qq.Contains(p.Time) {
				return err
			}
			booking := p.Event == payouts.CmdExecute || p.Event == payouts.CmdRelease
			for _, l := range p.Lines {
				_, merchant := ledger.MerchantOf(l.Account)
				switch {
				case booking && !l.Debit && (l.Account == ledger.WorkerPayable && l.Cause == ledger.CausePayment ||
					slices.Contains([]string{ledger.IIT, ledger.VAT, ledger.Surcharges}, l.Account) && l.Cause == ledger.CauseTax):
					gross += l.Fen
				case booking && !l.Debit && l.Account == ledger.FeeIncome && l.Cause == ledger.CauseFee:
					fees += l.Fen
				case l.Debit && l.Cause == ledger.CauseReturn && l.Account == ledger.FeeIncome:
					fees -= l.Fen
					refunds -= l.Fen
				case !l.Debit && l.Cause == ledger.CauseReturn && merchant:
					refunds += l.Fen
				}
			}
			return nil
		})
	})
	return gross, fees, refunds
}

func TestTheIncomeTableReconcilesToTheLedgerPerQuarterAndOffice(t *testing.T) {
	w := newWorld(t)
	ws := []string{"w1", "w2", "w3", "w4", "w5"}
	w.parties(map[string]string{"m1": officeA, "m2": officeB, "m3": ""}, ws, nil)

	// Q2: a payment to w1 that comes back in Q3.
	w.at(2026, 6, 15, 10, 0, 0)
	q2 := w.pay("m1", row("w1", 50_000))
	w.result(payouts.Paid, q2...)

	// Q3: three merchants pay; some payments are paid, one fails, one is
	// paid and returned, one is returned only in Q4.
	w.at(2026, 8, 10, 10, 0, 0)
	a := w.pay("m1", row("w1", 300_000), row("w2", 120_000), row("w3", 2_500_000))
	b := w.pay("m2", row("w2", 80_000), row("w4", 45_055), row("w5", 99))
	c := w.pay("m3", row("w1", 70_000))
	w.at(2026, 8, 12, 9, 0, 0)
	w.result(payouts.Paid, a[0], a[2], b[0], b[1], c[0])
	w.result(payouts.Failed, a[1])
	w.result(payouts.Returned, q2[0], b[0]) // w1's Q2 payment and w2's from m2 come back
	w.result(payouts.Paid, b[2])
	// Q4: w3's big payment comes back — a Q4 refund, not Q3's.
	w.at(2026, 10, 9, 9, 0, 0)
	w.result(payouts.Returned, a[2])

	gross, fees, refunds := ledgerQuarter(t, w, "2026Q3")
	all := w.compute("2026Q3", "")
	if all.Totals.GrossFen != gross || all.Totals.FeeFen != fees || all.Totals.RefundFen != refunds || all.Totals.NetFen != gross-refunds {
		t.Fatalf("platform totals %+v; the ledger's postings of 2026Q3: gross %s, fees %s, refunds %s", all.Totals, yuan(gross), yuan(fees), yuan(refunds))
	}
	// By hand: 3,000.00 + 1,200.00 + 25,000.00 + 800.00 + 450.55 + 0.99 + 700.00 booked; 1,200.00 failed,
	// 500.00 (Q2's) and 800.00 returned.
	if gross != 3_115_154 || refunds != 120_000+50_000+80_000 || all.Totals.Orders != 7 {
		t.Fatalf("the ledger says gross %s refunds %s, orders %d: the world is not what the test meant", yuan(gross), yuan(refunds), all.Totals.Orders)
	}
	// Fees: 1% booked, given back with the failure and the returns (Q2's 5.00 too).
	// 1% of each payment in fen, rounded down per payment (0.99 pays none), less the failed and returned ones' fees.
	if want := int64(3_000+1_200+25_000+800+450+0+700) - 1_200 - 500 - 800; fees != want {
		t.Fatalf("fees %s, want %s", yuan(fees), yuan(want))
	}
	var rowsGross, rowsRefunds, rowsFees int64
	for _, r := range all.Income {
		rowsGross += int64(r["gross"].(reports.Fen))
		rowsRefunds += int64(r["refunds"].(reports.Fen))
		rowsFees += int64(r["service_fees"].(reports.Fen))
		if r["net"].(reports.Fen) != r["gross"].(reports.Fen)-r["refunds"].(reports.Fen) {
			t.Errorf("row %v: net is not gross less refunds", r)
		}
	}
	if rowsGross != gross || rowsRefunds != refunds || rowsFees != fees {
		t.Fatalf("rows sum to %s / %s / %s", yuan(rowsGross), yuan(rowsRefunds), yuan(rowsFees))
	}
	// w1: 3,000.00 from m1 and 700.00 from m3 in Q3, and Q2's 500.00 came back: net 3,200.00.
	w1 := find(t, all.Income, "w1")
	if w1["gross"] != reports.Fen(370_000) || w1["refunds"] != reports.Fen(50_000) || w1["net"] != reports.Fen(320_000) || w1["orders"] != 2 || w1["income_type"] != reports.IncomeLabor {
		t.Fatalf("w1: %v", w1)
	}

	// Office A sees m1's payments only; office B m2's; m3 has no office and
	// is in the platform's report alone.
	da, db := w.compute("2026Q3", officeA), w.compute("2026Q3", officeB)
	if da.Totals.GrossFen != 300_000+120_000+2_500_000 || da.Totals.RefundFen != 120_000+50_000 || da.Totals.Workers != 3 {
		t.Fatalf("office A: %+v", da.Totals)
	}
	if db.Totals.GrossFen != 80_000+45_055+99 || db.Totals.RefundFen != 80_000 || db.Totals.Workers != 3 {
		t.Fatalf("office B: %+v", db.Totals)
	}
	if got := da.Totals.GrossFen + db.Totals.GrossFen + 70_000; got != all.Totals.GrossFen {
		t.Fatalf("offices A and B and m3's payment make %s, the platform %s", yuan(got), yuan(all.Totals.GrossFen))
	}
	if find(t, da.Income, "w1")["gross"] != reports.Fen(300_000) {
		t.Fatalf("office A counts w1's payment from m3")
	}

	// Q4 holds the late return as a refund with no income: net negative.
	q4 := w.compute("2026Q4", officeA)
	g4, _, r4 := ledgerQuarter(t, w, "2026Q4")
	if w3 := find(t, q4.Income, "w3"); w3["refunds"] != reports.Fen(2_500_000) || w3["net"] != reports.Fen(-2_500_000) || w3["orders"] != 0 || q4.Totals.RefundFen != r4 || g4 != 0 {
		t.Fatalf("Q4: %v, ledger refunds %s", q4.Income, yuan(r4))
	}
	var rep *payouts.Report
	w.view(func(r *state.ReadTx) (err error) { rep, err = payouts.Verify(r); return })
	if !rep.OK {
		t.Fatalf("the books do not verify: %v", rep.Problems)
	}
}

func find(t *testing.T, rows []reports.Row, worker string) reports.Row {
	t.Helper()
	for _, r := range rows {
		if r["account_id"] == worker {
			return r
		}
	}
	t.Fatalf("no row of %s in %v", worker, rows)
	return nil
}

func TestAReturnedPaymentIsARefundAndAFailedOneToo(t *testing.T) {
	w := newWorld(t)
	w.parties(map[string]string{"m1": officeA}, []string{"w1", "w2"}, nil)
	w.at(2026, 7, 20, 10, 0, 0)
	ids := w.pay("m1", row("w1", 100_000), row("w1", 40_000), row("w2", 10_000))
	w.result(payouts.Paid, ids[0], ids[1])
	w.result(payouts.Returned, ids[1]) // 退汇
	w.result(payouts.Failed, ids[2])
	d := w.compute("2026Q3", officeA)
	w1, w2 := find(t, d.Income, "w1"), find(t, d.Income, "w2")
	if w1["gross"] != reports.Fen(140_000) || w1["refunds"] != reports.Fen(40_000) || w1["net"] != reports.Fen(100_000) ||
		w1["orders"] != 2 || w1["refunded_orders"] != 1 || w1["service_fees"] != reports.Fen(1_000) {
		t.Fatalf("w1: %v", w1)
	}
	if w2["gross"] != reports.Fen(10_000) || w2["refunds"] != reports.Fen(10_000) || w2["net"] != reports.Fen(0) || w2["service_fees"] != reports.Fen(0) {
		t.Fatalf("w2: %v", w2)
	}
	rep := w.mustGenerate(reports.Request{Kind: reports.KindIncome, Quarter: "2026Q3", Office: officeA, Format: reports.FormatCSV,
		Generated: time.Date(2026, 10, 2, 9, 0, 0, 0, reports.China)})
	recs := readCSV(t, rep.Body)
	if got := recs[1][8:12]; !slices.Equal(got, []string{"1400.00", "400.00", "1000.00", "10.00"}) {
		t.Fatalf("w1's CSV money columns: %v", got)
	}
}

func TestAQuarterIsCutAtMidnightChinaStandardTime(t *testing.T) {
	w := newWorld(t)
	w.parties(map[string]string{"m1": officeA}, []string{"w1"}, nil)
	w.at(2026, 9, 30, 23, 59, 59)
	w.pay("m1", row("w1", 10_000))
	w.at(2026, 10, 1, 0, 0, 0)
	w.pay("m1", row("w1", 20_000))
	// 2026-09-30 16:00 UTC is already Q4 in China: a UTC cut would put it in Q3.
	w.Now = time.Date(2026, 9, 30, 16, 0, 1, 0, time.UTC)
	w.pay("m1", row("w1", 40_000))
	q3, q4 := w.compute("2026Q3", officeA), w.compute("2026Q4", officeA)
	if q3.Totals.GrossFen != 10_000 || q3.Totals.Orders != 1 {
		t.Fatalf("Q3: %+v", q3.Totals)
	}
	if q4.Totals.GrossFen != 60_000 || q4.Totals.Orders != 2 {
		t.Fatalf("Q4: %+v", q4.Totals)
	}
	if r := find(t, q3.Income, "w1"); r["period_start"] != time.Date(2026, 7, 1, 0, 0, 0, 0, reports.China) || r["period_end"] != time.Date(2026, 9, 30, 0, 0, 0, 0, reports.China) {
		t.Fatalf("period %v – %v", r["period_start"], r["period_end"])
	}
	// The quarter's reports wait until it has ended, by the same cut.
	_, err := w.generate(reports.Request{Kind: reports.KindIncome, Quarter: "2026Q4", Office: officeA, Format: reports.FormatCSV,
		Generated: time.Date(2026, 12, 31, 23, 59, 59, 0, reports.China)})
	if statetest.Code(asRejection(err)) != "report_quarter_open" {
		t.Fatalf("a report of a quarter not yet over: %v", err)
	}
	if _, err := w.generate(reports.Request{Kind: reports.KindIncome, Quarter: "2026Q4", Office: officeA, Format: reports.FormatCSV,
		Generated: time.Date(2027, 1, 1, 0, 0, 0, 0, reports.China)}); err != nil {
		t.Fatal(err)
	}
}

func asRejection(err error) *state.Rejection {
	var rej *state.Rejection
	errors.As(err, &rej)
	return rej
}

func TestQuartersParseStrictly(t *testing.T) {
	for _, s := range []string{"2026Q1", "2026Q4", "2000Q2"} {
		if q, err := reports.ParseQuarter(s); err != nil || q.String() != s {
			t.Errorf("%s: %v %v", s, q, err)
		}
	}
	for _, s := range []string{"", "2026Q0", "2026Q5", "2026q3", "26Q3", "2026Q3 ", "2026-Q3", "1999Q4", "２026Q3"} {
		if _, err := reports.ParseQuarter(s); statetest.Code(asRejection(err)) != "report_quarter_invalid" {
			t.Errorf("%q: %v", s, err)
		}
	}
}

// readCSV checks the BOM and CRLF and parses the rest.
func readCSV(t *testing.T, b []byte) [][]string {
	t.Helper()
	if !bytes.HasPrefix(b, []byte("\xEF\xBB\xBF")) || !bytes.HasSuffix(b, []byte("\r\n")) {
		t.Fatalf("a CSV report starts with a BOM and ends its lines with CRLF: %q", b)
	}
	recs, err := csv.NewReader(bytes.NewReader(b[3:])).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	return recs
}

func TestColumnsComeInTheTemplatesOrderInCSVAndJSON(t *testing.T) {
	w := newWorld(t)
	w.parties(map[string]string{"m1": officeA}, []string{"w1", "w2"}, nil)
	w.at(2026, 8, 1, 10, 0, 0)
	w.pay("m1", row("w1", 12_345), row("w2", 100))
	tpl, err := reports.Lookup("2025-15-v1")
	if err != nil {
		t.Fatal(err)
	}
	if got, err := reports.For(reports.Quarter{Year: 2026, Q: 3}); err != nil || got.Version != "2025-15-v1" {
		t.Fatalf("the template of 2026Q3: %v %v", got, err)
	}
	if _, err := reports.For(reports.Quarter{Year: 2025, Q: 2}); statetest.Code(asRejection(err)) != "report_template_unknown" {
		t.Fatalf("a quarter before every template: %v", err)
	}
	generated := time.Date(2026, 10, 3, 9, 0, 0, 0, reports.China)
	for _, kind := range []string{reports.KindIdentity, reports.KindIncome} {
		cols := tpl.Tables[kind].Columns
		rep := w.mustGenerate(reports.Request{Kind: kind, Quarter: "2026Q3", Office: officeA, Format: reports.FormatCSV, Generated: generated})
		recs := readCSV(t, rep.Body)
		if len(recs) != 3 || len(recs[0]) != len(cols) {
			t.Fatalf("%s: %d records of %d columns", kind, len(recs), len(recs[0]))
		}
		for i, c := range cols {
			if recs[0][i] != c.Zh {
				t.Errorf("%s CSV column %d is %q, the template says %q", kind, i, recs[0][i], c.Zh)
			}
		}
		js := w.mustGenerate(reports.Request{Kind: kind, Quarter: "2026Q3", Office: officeA, Format: reports.FormatJSON, Generated: generated})
		var doc struct {
			Report  map[string]any    `json:"report"`
			Columns []reports.Column  `json:"columns"`
			Rows    []json.RawMessage `json:"rows"`
		}
		if err := json.Unmarshal(js.Body, &doc); err != nil {
			t.Fatal(err)
		}
		if doc.Report["id"] != js.Head.ID || doc.Report["quarter"] != "2026Q3" || doc.Report["template"] != "2025-15-v1" || len(doc.Rows) != 2 {
			t.Fatalf("%s JSON: %s", kind, js.Body)
		}
		for i, c := range cols {
			if doc.Columns[i].Key != c.Key || doc.Columns[i].En != c.En || doc.Columns[i].Type != c.Type {
				t.Errorf("%s JSON column %d: %+v, want %+v", kind, i, doc.Columns[i], c)
			}
		}
		for _, r := range doc.Rows {
			if keys := objectKeys(t, r); !slices.Equal(keys, keysOf(cols)) {
				t.Errorf("%s JSON row keys %v, want %v", kind, keys, keysOf(cols))
			}
		}
	}
	// The income row's values, as the bureau reads them.
	rep := w.mustGenerate(reports.Request{Kind: reports.KindIncome, Quarter: "2026Q3", Office: officeA, Format: reports.FormatCSV, Generated: generated})
	want := []string{"1", "w1", "工人w1", "居民身份证", "110105199001010000", "2026-07-01", "2026-09-30", "劳务报酬", "123.45", "0.00", "123.45", "1.23", "1"}
	if got := readCSV(t, rep.Body)[1]; !slices.Equal(got, want) {
		t.Fatalf("income row\n got %q\nwant %q", got, want)
	}
	id := w.mustGenerate(reports.Request{Kind: reports.KindIdentity, Quarter: "2026Q3", Office: officeA, Format: reports.FormatJSON, Generated: generated})
	if !bytes.Contains(id.Body, []byte(`{"seq":2,"account_id":"w2","name":"工人w2","id_type":"居民身份证","id_number":"110105199001010001","nationality":"中国","registered":"2026-07-06","phone":"13800000001","identity_status":"有效"}`)) {
		t.Fatalf("identity JSON: %s", id.Body)
	}
}

func keysOf(cols []reports.Column) []string {
	out := make([]string, len(cols))
	for i, c := range cols {
		out[i] = c.Key
	}
	return out
}

// objectKeys lists a JSON object's keys in the order they come.
func objectKeys(t *testing.T, raw json.RawMessage) []string {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(raw))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		t.Fatalf("not an object: %s", raw)
	}
	var keys []string
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, tok.(string))
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			t.Fatal(err)
		}
	}
	return keys
}

func TestASecondTemplateVersionRendersItsOwnColumns(t *testing.T) {
	w := newWorld(t)
	w.parties(map[string]string{"m1": officeA}, []string{"w1"}, nil)
	w.at(2026, 8, 1, 10, 0, 0)
	w.pay("m1", row("w1", 2_000_000)) // 20,000.00 in a first month: 330.00 withheld
	b, err := os.ReadFile("testdata/2026-test-v2.json")
	if err != nil {
		t.Fatal(err)
	}
	v2, err := reports.ParseTemplate(b)
	if err != nil {
		t.Fatal(err)
	}
	d := w.compute("2026Q3", officeA)
	h := reports.Head{ID: "rpt-v2", Kind: reports.KindIncome, Quarter: "2026Q3", Office: officeA, Template: v2.Version, Format: reports.FormatCSV}
	out, err := reports.Render(v2, h, d.Income)
	if err != nil {
		t.Fatal(err)
	}
	recs := readCSV(t, out)
	wantHead := []string{"平台内账号ID", "收入类型", "收入净额", "收入总额", "退款金额", "已扣缴个人所得税", "姓名", "证件号码"}
	if !slices.Equal(recs[0], wantHead) || !slices.Equal(recs[1], []string{"w1", "LABOUR", "20000.00", "20000.00", "0.00", "330.00", "工人w1", "110105199001010000"}) {
		t.Fatalf("v2:\n%q", recs)
	}
	v1, _ := reports.Lookup("2025-15-v1")
	h.Template = v1.Version
	old, err := reports.Render(v1, h, d.Income)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(old, out) || readCSV(t, old)[0][5] != "所属期起" {
		t.Fatal("v1 and v2 render alike")
	}
}

func TestATemplateIsCheckedWhenRead(t *testing.T) {
	good, err := os.ReadFile("testdata/2026-test-v2.json")
	if err != nil {
		t.Fatal(err)
	}
	for name, edit := range map[string][2]string{
		"an unknown field":      {`"key": "iit_withheld"`, `"key": "iit_paid"`},
		"a field's wrong type":  {`"key": "gross", "zh": "收入总额", "en": "Gross income", "type": "decimal"`, `"key": "gross", "zh": "收入总额", "en": "Gross income", "type": "int"`},
		"a field twice":         {`"key": "name"`, `"key": "account_id"`},
		"an unknown kind":       {`"platform":`, `"merchants":`},
		"a quarter that is not": {`"effective": "2026Q3"`, `"effective": "2026-07"`},
		"an unknown attribute":  {`"title_en"`, `"titleEn"`},
	} {
		bad := strings.Replace(string(good), edit[0], edit[1], 1)
		if bad == string(good) {
			t.Fatalf("%s: the edit does not apply", name)
		}
		if _, err := reports.ParseTemplate([]byte(bad)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if all, err := reports.Templates(); err != nil || len(all) == 0 {
		t.Fatalf("embedded templates: %v %v", all, err)
	}
}

func TestNamesWithCommasAndQuotesAreEscaped(t *testing.T) {
	w := newWorld(t)
	// The register refuses such names (worker_name); the renderer must not
	// count on it.
	names := map[string]string{"w1": `Li, "Lei"`, "w2": "多行\n名字", "w3": `=SUM(A1)`}
	w.parties(map[string]string{"m1": officeA}, []string{"w1", "w2", "w3"}, names)
	w.at(2026, 8, 1, 10, 0, 0)
	w.pay("m1", row("w1", 100), row("w2", 100), row("w3", 100))
	rep := w.mustGenerate(reports.Request{Kind: reports.KindIdentity, Quarter: "2026Q3", Office: officeA, Format: reports.FormatCSV,
		Generated: time.Date(2026, 10, 1, 0, 0, 0, 0, reports.China)})
	if !bytes.Contains(rep.Body, []byte(`,"Li, ""Lei""",`)) {
		t.Fatalf("CSV: %s", rep.Body)
	}
	recs := readCSV(t, rep.Body)
	for i, id := range []string{"w1", "w2", "w3"} {
		if recs[i+1][1] != id || recs[i+1][2] != names[id] {
			t.Errorf("row %d reads back %q", i+1, recs[i+1])
		}
	}
	js := w.mustGenerate(reports.Request{Kind: reports.KindIdentity, Quarter: "2026Q3", Office: officeA, Format: reports.FormatJSON,
		Generated: time.Date(2026, 10, 1, 0, 0, 0, 0, reports.China)})
	var doc struct {
		Rows []map[string]any `json:"rows"`
	}
	if err := json.Unmarshal(js.Body, &doc); err != nil {
		t.Fatal(err)
	}
	for i, id := range []string{"w1", "w2", "w3"} {
		if doc.Rows[i]["name"] != names[id] {
			t.Errorf("JSON row %d: %v", i, doc.Rows[i])
		}
	}
}

func TestAShreddedWorkerIsReportedAsDestroyedNotDropped(t *testing.T) {
	w := newWorld(t)
	w.parties(map[string]string{"m1": officeA}, []string{"w1", "w2"}, nil)
	w.at(2026, 8, 1, 10, 0, 0)
	w.pay("m1", row("w1", 30_000), row("w2", 40_000))
	w.Apply(subjects.ShredCommand("w2", "erasure request 7", w.Now))
	d := w.compute("2026Q3", officeA)
	if d.Totals.Workers != 2 || d.Totals.Destroyed != 1 || d.Totals.GrossFen != 70_000 {
		t.Fatalf("totals %+v", d.Totals)
	}
	gen := time.Date(2026, 10, 1, 0, 0, 0, 0, reports.China)
	id := readCSV(t, w.mustGenerate(reports.Request{Kind: reports.KindIdentity, Quarter: "2026Q3", Office: officeA, Format: reports.FormatCSV, Generated: gen}).Body)
	if want := []string{"2", "w2", "", "", "", "", "2026-07-06", "", "已销毁"}; !slices.Equal(id[2], want) {
		t.Fatalf("shredded identity row %q, want %q", id[2], want)
	}
	if id[1][2] != "工人w1" || id[1][8] != "有效" {
		t.Fatalf("w1's row %q", id[1])
	}
	inc := readCSV(t, w.mustGenerate(reports.Request{Kind: reports.KindIncome, Quarter: "2026Q3", Office: officeA, Format: reports.FormatCSV, Generated: gen}).Body)
	if inc[2][1] != "w2" || inc[2][2] != "" || inc[2][4] != "" || inc[2][8] != "400.00" {
		t.Fatalf("shredded income row %q", inc[2])
	}
	js := w.mustGenerate(reports.Request{Kind: reports.KindIdentity, Quarter: "2026Q3", Office: officeA, Format: reports.FormatJSON, Generated: gen})
	if !bytes.Contains(js.Body, []byte(`{"seq":2,"account_id":"w2","name":null,"id_type":null,"id_number":null,"nationality":null,"registered":"2026-07-06","phone":null,"identity_status":"已销毁"}`)) {
		t.Fatalf("shredded identity in JSON: %s", js.Body)
	}
}

func TestVoidAndResubmitKeepsBothAndMarksTheCurrentOne(t *testing.T) {
	w := newWorld(t)
	w.parties(map[string]string{"m1": officeA}, []string{"w1"}, nil)
	w.at(2026, 8, 1, 10, 0, 0)
	w.pay("m1", row("w1", 30_000))
	w.at(2026, 10, 5, 9, 0, 0)
	req := reports.Request{Kind: reports.KindIncome, Quarter: "2026Q3", Office: officeA, Format: reports.FormatCSV}
	first := w.mustGenerate(req)
	// The signature covers the head, and the head the bytes.
	if !w.key.Public().Verify(first.HeadBytes, first.Signature) {
		t.Fatal("the head's signature does not verify")
	}
	if sum := sm.Sum(first.Body); first.Head.SM3 != hex.EncodeToString(sum[:]) || first.Head.Rows != 1 || first.Head.Office != officeA {
		t.Fatalf("head %+v", first.Head)
	}
	if res := w.Apply(first.IssueCommand("acct-op", "doc-1", w.Now)); res.Err != nil {
		t.Fatal(res.Err)
	}
	if res := w.Apply(first.IssueCommand("acct-op", "doc-1", w.Now)); statetest.Code(res.Err) != "conflict" {
		t.Fatalf("the same report twice: %v", res.Err)
	}
	second := w.mustGenerate(req)
	if res := w.Apply(second.IssueCommand("acct-op", "", w.Now)); statetest.Code(res.Err) != "report_current_exists" {
		t.Fatalf("a second report beside the current one: %v", res.Err)
	}
	// A correction supersedes it.
	w.at(2026, 10, 6, 9, 0, 0)
	req.Supersedes = first.Head.ID
	second = w.mustGenerate(req)
	if res := w.Apply(second.IssueCommand("acct-op", "", w.Now)); res.Err != nil {
		t.Fatal(res.Err)
	}
	// Another office's and another kind's slots are their own.
	other := w.mustGenerate(reports.Request{Kind: reports.KindIdentity, Quarter: "2026Q3", Office: officeA, Format: reports.FormatJSON})
	if res := w.Apply(other.IssueCommand("acct-op", "", w.Now)); res.Err != nil {
		t.Fatal(res.Err)
	}
	list := w.list("2026Q3", officeA)
	if len(list) != 3 || list[0].ID != first.Head.ID || list[0].Current || list[0].SupersededBy != second.Head.ID || list[0].Voided == nil ||
		!list[1].Current || list[1].Supersedes != first.Head.ID || list[1].ID != second.Head.ID || !list[2].Current || list[2].Document != "" {
		t.Fatalf("list: %s", mustJSON(list))
	}
	if list[0].Document != "doc-1" || list[0].Head != string(first.HeadBytes) || !bytes.Equal(list[0].Signature, first.Signature) {
		t.Fatalf("the first record lost what was issued: %+v", list[0])
	}
	// A correction of a report no longer current is refused; a void voids
	// the current one, and a new report may then be issued plainly.
	stale := w.mustGenerate(req)
	if res := w.Apply(stale.IssueCommand("acct-op", "", w.Now)); statetest.Code(res.Err) != "report_supersedes_mismatch" {
		t.Fatalf("superseding a voided report: %v", res.Err)
	}
	if res := w.Apply(reports.VoidCommand(second.Head.ID, "wrong office", "acct-op", w.Now)); res.Err != nil {
		t.Fatal(res.Err)
	}
	if res := w.Apply(reports.VoidCommand(second.Head.ID, "again", "acct-op", w.Now)); statetest.Code(res.Err) != "report_voided" {
		t.Fatalf("voiding twice: %v", res.Err)
	}
	req.Supersedes = ""
	third := w.mustGenerate(req)
	if res := w.Apply(third.IssueCommand("acct-op", "", w.Now)); res.Err != nil {
		t.Fatal(res.Err)
	}
	list = w.list("2026Q3", officeA)
	current := map[string]bool{}
	for _, r := range list {
		current[r.ID] = r.Current
	}
	if len(list) != 4 || current[first.Head.ID] || current[second.Head.ID] || !current[third.Head.ID] || !current[other.Head.ID] {
		t.Fatalf("after the void: %s", mustJSON(list))
	}
	if len(w.list("2026Q3", officeB)) != 0 || len(w.list("2026Q2", officeA)) != 0 {
		t.Fatal("another office or quarter lists these reports")
	}

	// The feed has each issue and each void, in order, in the office's chain.
	var types []string
	var issued []map[string]any
	w.view(func(r *state.ReadTx) error {
		_, entries, err := feed.Read(r, officeA, 0, 100, nil)
		for _, e := range entries {
			if !strings.HasPrefix(e.Type, "report.") {
				continue // the payouts' own facts
			}
			types = append(types, e.Type)
			if e.Type == reports.FactIssued {
				var p map[string]any
				if err := json.Unmarshal([]byte(e.Payload), &p); err != nil {
					return err
				}
				issued = append(issued, p)
			}
		}
		return err
	})
	want := []string{"report.issued", "report.voided", "report.issued", "report.issued", "report.voided", "report.issued"}
	if !slices.Equal(types, want) {
		t.Fatalf("feed: %v, want %v", types, want)
	}
	if issued[0]["head"] != string(first.HeadBytes) || issued[1]["supersedes"] != first.Head.ID || issued[0]["sm3"] != first.Head.SM3 {
		t.Fatalf("report.issued payloads: %v", issued)
	}
}

func (w *world) list(q, office string) []*reports.Record {
	w.t.Helper()
	var out []*reports.Record
	w.view(func(r *state.ReadTx) (err error) { out, err = reports.List(r, q, office); return })
	return out
}

func mustJSON(v any) string {
	b, _ := json.MarshalIndent(v, "", "  ")
	return string(b)
}

func TestAnIssueThatIsNotAGeneratedHeadIsRefused(t *testing.T) {
	w := newWorld(t)
	w.at(2026, 10, 5, 9, 0, 0)
	rep := w.mustGenerate(reports.Request{Kind: reports.KindPlatform, Quarter: "2026Q3", Format: reports.FormatJSON,
		Platform: &reports.PlatformInfo{Name: "诚薪通", Domains: []string{"cxt.example.cn"}, BusinessType: "flexible_employment",
			Entities: []reports.Entity{{USCC: "91310101MA1FPX1234", Name: "诚薪通（上海）科技有限公司"}}}})
	good := string(rep.HeadBytes)
	for name, head := range map[string]string{
		"not JSON":             "{",
		"an unknown field":     strings.Replace(good, `"rows"`, `"lines"`, 1),
		"another protocol":     strings.Replace(good, reports.Protocol, "cxt-report/0", 1),
		"a short SM3":          strings.Replace(good, `"sm3":"`, `"sm3":"ab`, 1)[:len(good)-2] + `"}`,
		"an office not a code": strings.Replace(good, `"office":"platform"`, `"office":"310101"`, 1),
		"a bad quarter":        strings.Replace(good, `"2026Q3"`, `"2026Q7"`, 1),
		"an unknown kind":      strings.Replace(good, `"kind":"platform"`, `"kind":"merchants"`, 1),
	} {
		if head == good {
			t.Fatalf("%s: the edit does not apply", name)
		}
		res := w.Send(reports.CmdIssue, reports.Issue{Head: head, Signature: rep.Signature, By: "acct-op"})
		if c := statetest.Code(res.Err); c != "invalid_request" && c != "report_quarter_invalid" {
			t.Errorf("%s: %v", name, res.Err)
		}
	}
	if res := w.Send(reports.CmdIssue, reports.Issue{Head: good, By: "acct-op"}); statetest.Code(res.Err) != "invalid_request" {
		t.Errorf("no signature: %v", res.Err)
	}
	if res := w.Send(reports.CmdIssue, reports.Issue{Head: good, Signature: rep.Signature, By: "acct-op"}); res.Err != nil {
		t.Fatal(res.Err)
	}
	// The platform's report sits in the platform's slot and feed chain.
	if l := w.list("2026Q3", ""); len(l) != 1 || l[0].Office != "" || !l[0].Current {
		t.Fatalf("platform list %+v", l)
	}
	var js struct {
		Rows []map[string]any `json:"rows"`
	}
	if err := json.Unmarshal(rep.Body, &js); err != nil || len(js.Rows) != 1 || js.Rows[0]["business_type"] != "灵活用工平台" || js.Rows[0]["domains"] != "cxt.example.cn" {
		t.Fatalf("platform report %s (%v)", rep.Body, err)
	}
}

func TestGenerateRefusesBadRequests(t *testing.T) {
	w := newWorld(t)
	w.at(2026, 10, 5, 9, 0, 0)
	ok := reports.Request{Kind: reports.KindIncome, Quarter: "2026Q3", Office: officeA, Format: reports.FormatCSV}
	for name, c := range map[string]struct {
		edit func(*reports.Request)
		code string
	}{
		"an unknown kind":         {func(r *reports.Request) { r.Kind = "merchants" }, "invalid_request"},
		"an unknown format":       {func(r *reports.Request) { r.Format = "xlsx" }, "invalid_request"},
		"a bad quarter":           {func(r *reports.Request) { r.Quarter = "2026-3" }, "report_quarter_invalid"},
		"an unknown template":     {func(r *reports.Request) { r.Template = "2099-v9" }, "report_template_unknown"},
		"an office of no area":    {func(r *reports.Request) { r.Office = "19999990000" }, "tax_office_region"},
		"an office not a code":    {func(r *reports.Request) { r.Office = "abc" }, "tax_office_format"},
		"a bad ID":                {func(r *reports.Request) { r.ID = "RPT 1" }, "invalid_request"},
		"no platform information": {func(r *reports.Request) { r.Kind = reports.KindPlatform }, "invalid_request"},
	} {
		req := ok
		req.ID = reports.NewID()
		c.edit(&req)
		_, err := w.generate(req)
		if got := codeOf(err); got != c.code {
			t.Errorf("%s: %v (%s), want %s", name, err, got, c.code)
		}
	}
	if _, err := w.generate(ok); err != nil {
		t.Fatalf("the good request: %v", err)
	}
}

// codeOf is an error's stable code, a rejection's or an identifier
// check's.
func codeOf(err error) string {
	var rej *state.Rejection
	if errors.As(err, &rej) {
		return rej.Code
	}
	var ie *ident.Error
	if errors.As(err, &ie) {
		return string(ie.Code)
	}
	if err == nil {
		return ""
	}
	return err.Error()
}
