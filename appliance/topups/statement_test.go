package topups

import (
	"bytes"
	"encoding/csv"
	"fmt"
	"strings"
	"testing"
)

const header = "txn_id,value_date,amount,currency,payer_account,payer_name,payer_bank,memo\n"

func TestParseStatementReadsTheDocumentedFormat(t *testing.T) {
	data := "\uFEFF" + header +
		"B20260301001,2026-03-01,1000.00,CNY,6222 0202 0011 2233,福州某某科技有限公司,工商银行福州分行,充值 CX4K7QP25\r\n" +
		",,,,,,,\n" + // a blank row is skipped
		"B20260301002,2026-03-01,-25.5,RMB,,,,手续费\n" +
		"\"B20260301003\",2026-03-02,3,人民币,622202-0200,\"某某, 有限公司\",,\n"
	lines, err := ParseStatement([]byte(data))
	if err != nil {
		t.Fatal(err)
	}
	want := []Line{
		{Row: 2, TxnID: "B20260301001", ValueDate: "2026-03-01", Fen: 100000, PayerAccount: "6222020200112233", PayerName: "福州某某科技有限公司", PayerBank: "工商银行福州分行", Memo: "充值 CX4K7QP25"},
		{Row: 4, TxnID: "B20260301002", ValueDate: "2026-03-01", Fen: -2550, Memo: "手续费"},
		{Row: 5, TxnID: "B20260301003", ValueDate: "2026-03-02", Fen: 300, PayerAccount: "6222020200", PayerName: "某某, 有限公司"},
	}
	if fmt.Sprint(lines) != fmt.Sprint(want) {
		t.Fatalf("got  %+v\nwant %+v", lines, want)
	}
	if lines[1].Incoming() || !lines[0].Incoming() {
		t.Fatal("a negative amount is money going out")
	}
	// The Chinese column names, in another order.
	cn := "金额,交易流水号,起息日,币种,付款账号,付款户名,付款行,附言\n12.34,T1,2026-01-31,CNY,123456,甲,乙,丙\n"
	lines, err = ParseStatement([]byte(cn))
	if err != nil || len(lines) != 1 || lines[0].Fen != 1234 || lines[0].TxnID != "T1" || lines[0].Memo != "丙" {
		t.Fatalf("Chinese header: %+v %v", lines, err)
	}
}

func TestParseStatementRefusesAFileNamingTheRow(t *testing.T) {
	row := func(fields ...string) string { return strings.Join(fields, ",") + "\n" }
	ok := []string{"T1", "2026-03-01", "10.00", "CNY", "123456", "甲公司", "乙银行", "memo"}
	with := func(i int, v string) string {
		f := append([]string{}, ok...)
		f[i] = v
		return header + row(ok...) + row(f...)
	}
	cases := []struct {
		name, data string
		row        int
		column     string
		code       string
	}{
		{"empty file", "", 1, "", CodeStatementFormat},
		{"unknown column", strings.Replace(header, "memo", "remark", 1) + row(ok...), 1, "", CodeStatementFormat},
		{"missing column", "txn_id,value_date,amount,currency,payer_account,payer_name,payer_bank\n", 1, "", CodeStatementFormat},
		{"a column twice", strings.Replace(header, "memo", "txn_id", 1), 1, "", CodeStatementFormat},
		{"header only", header, 2, "", CodeStatementFormat},
		{"short row", header + row(ok...) + "T2,2026-03-01\n", 3, "", CodeStatementFormat},
		{"no transaction ID", with(0, ""), 3, "txn_id", CodeStatementFormat},
		{"a space in the transaction ID", with(0, "T 2"), 3, "txn_id", CodeStatementFormat},
		{"a transaction ID too long", with(0, strings.Repeat("9", 65)), 3, "txn_id", CodeStatementFormat},
		{"a date that does not exist", with(1, "2026-02-30"), 3, "value_date", CodeStatementFormat},
		{"a date in another form", with(1, "2026/03/01"), 3, "value_date", CodeStatementFormat},
		{"three decimals", with(2, "10.001"), 3, "amount", CodeStatementFormat},
		{"thousands separators", with(2, "\"1,000.00\""), 3, "amount", CodeStatementFormat},
		{"a plus sign", with(2, "+10"), 3, "amount", CodeStatementFormat},
		{"zero", with(2, "0.00"), 3, "amount", CodeStatementFormat},
		{"an exponent", with(2, "1e3"), 3, "amount", CodeStatementFormat},
		{"fourteen digits", with(2, "10000000000000"), 3, "amount", CodeStatementFormat},
		{"dollars", with(3, "USD"), 3, "currency", CodeStatementFormat},
		{"letters in the account", with(4, "6222AB0200"), 3, "payer_account", CodeStatementFormat},
		{"a short account", with(4, "12345"), 3, "payer_account", CodeStatementFormat},
		{"a long memo", with(7, strings.Repeat("款", 201)), 3, "memo", CodeStatementFormat},
		{"a line break in a field", with(7, "\"a\nb\""), 3, "memo", CodeStatementFormat},
		{"a bare quote", header + row(ok...) + "T2,2026-03-01,1\"0,CNY,,,,\n", 3, "", CodeStatementFormat},
		{"not UTF-8", header + row(ok...) + "T2,2026-03-01,10,CNY,,\xb8\xa3\xd6\xdd,,\n", 3, "", CodeStatementFormat},
		{"blank lines before the header", "\n\n" + header + row(ok...), 1, "", CodeStatementFormat},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			lines, err := ParseStatement([]byte(c.data))
			if err == nil {
				t.Fatalf("accepted: %+v", lines)
			}
			if err.Row != c.row || err.Column != c.column || err.Code != c.code {
				t.Fatalf("refused as row %d column %q code %s (%v); want row %d column %q code %s", err.Row, err.Column, err.Code, err, c.row, c.column, c.code)
			}
			if !strings.HasPrefix(err.Error(), fmt.Sprintf("row %d", c.row)) {
				t.Fatalf("the message does not name the row: %v", err)
			}
		})
	}
}

func TestParseStatementKeepsToItsRowLimit(t *testing.T) {
	var b bytes.Buffer
	b.WriteString(header)
	for i := range MaxStatementRows + 1 {
		fmt.Fprintf(&b, "T%d,2026-03-01,1,CNY,,,,\n", i)
	}
	_, err := ParseStatement(b.Bytes())
	if err == nil || err.Code != CodeStatementTooMany || err.Row != MaxStatementRows+2 {
		t.Fatalf("one row too many: %v", err)
	}
	lines, err := ParseStatement(b.Bytes()[:bytes.LastIndex(b.Bytes()[:b.Len()-1], []byte("\n"))+1])
	if err != nil || len(lines) != MaxStatementRows {
		t.Fatalf("exactly the limit: %d lines, %v", len(lines), err)
	}
}

// FuzzParseStatement: whatever the bytes, the parser never panics; it
// either refuses with a row-numbered error of a documented code, or
// accepts lines in file order whose every field keeps the documented
// rules, and which read back the same when written out again.
func FuzzParseStatement(f *testing.F) {
	f.Add([]byte(header + "B1,2026-03-01,1000.00,CNY,6222020200112233,甲,乙,CX4K7QP25\n"))
	f.Add([]byte("\uFEFF金额,交易流水号,起息日,币种,付款账号,付款户名,付款行,附言\r\n-1,T,2026-01-31,RMB,,,,\r\n,,,,,,,\r\n"))
	f.Add([]byte(header + "\"a\"\"b\",2026-03-01,1,CNY,,,,\nx,y\n"))
	f.Add([]byte(header + "T,2026-03-01,1,CNY,,\"unterminated\n"))
	f.Add([]byte("txn_id\xff,value_date\n"))
	f.Add([]byte(header + "T1,2024-02-29,0.01,cny,1234567,,,\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		lines, err := ParseStatement(data)
		if err != nil {
			if err.Row < 1 || (err.Code != CodeStatementFormat && err.Code != CodeStatementTooMany) {
				t.Fatalf("refused as row %d, code %q: %v", err.Row, err.Code, err)
			}
			if !strings.HasPrefix(err.Error(), fmt.Sprintf("row %d", err.Row)) {
				t.Fatalf("the message does not name the row: %v", err)
			}
			if api := err.API(); api == nil {
				t.Fatal("no API error")
			}
			return
		}
		if len(lines) == 0 || len(lines) > MaxStatementRows {
			t.Fatalf("%d lines", len(lines))
		}
		var buf bytes.Buffer
		cw := csv.NewWriter(&buf)
		cw.Write(columnOrder)
		for i, l := range lines {
			if l.Row < 2 || i > 0 && l.Row <= lines[i-1].Row {
				t.Fatalf("row %d after %d", l.Row, lines[i-1].Row)
			}
			if l.Fen == 0 || abs(l.Fen) >= 1_000_000_000_000_000 || l.TxnID == "" || len(l.TxnID) > maxTxnID ||
				(l.PayerAccount != "" && !digits(l.PayerAccount, 6, 32)) {
				t.Fatalf("accepted %+v", l)
			}
			amount := fmt.Sprintf("%d.%02d", abs(l.Fen)/100, abs(l.Fen)%100)
			if l.Fen < 0 {
				amount = "-" + amount
			}
			cw.Write([]string{l.TxnID, l.ValueDate, amount, "CNY", l.PayerAccount, l.PayerName, l.PayerBank, l.Memo})
		}
		cw.Flush()
		again, err := ParseStatement(buf.Bytes())
		if err != nil || len(again) != len(lines) {
			t.Fatalf("written out again: %v\n%s", err, buf.Bytes())
		}
		for i := range again {
			a, b := again[i], lines[i]
			a.Row, b.Row = 0, 0
			if a != b {
				t.Fatalf("line %d read back as %+v, was %+v", i, a, b)
			}
		}
	})
}
