package reconcile

import (
	"flag"
	"os"
	"strings"
	"testing"
	"time"

	"cxt/appliance/payouts"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// golden compares got with testdata/name, or writes it under -update.
func golden(t *testing.T, name string, got []byte) []string {
	t.Helper()
	path := "testdata/" + name
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if string(want) != string(got) {
		t.Fatalf("%s changed; if the format changed on purpose, update docs/reconciliation.md and run with -update\n--- got\n%s", path, got)
	}
	return strings.Split(strings.TrimSuffix(string(want), "\n"), "\n")
}

// The channel statement, as docs/reconciliation.md documents it, read
// back line by line.
func TestTheStatementFormatIsTheGoldenFile(t *testing.T) {
	lines := []Line{
		{Ref: "pb-0f3c9a-000001", BankRef: "BK20261210000001", Fen: 123450, Status: "paid", Date: 20261210},
		{Ref: "pb-0f3c9a-000002", BankRef: "BK20261210000002", Fen: 98000, Status: "failed", Date: 20261210},
		{Ref: "pb-0e11d2-000017", BankRef: "", Fen: 500, Status: "returned", Date: 20261210},
	}
	rows := golden(t, "statement.csv", WriteStatement(lines))
	if len(rows) != 5 {
		t.Fatalf("%d lines: header, three payments, trailer", len(rows))
	}
	// Line 1: the header, these five names in this order.
	if rows[0] != "ref,bank_ref,amount,status,date" {
		t.Fatalf("header %q", rows[0])
	}
	for i, row := range rows[1:4] {
		f := strings.Split(row, ",")
		l := lines[i]
		switch {
		case len(f) != 5:
			t.Fatalf("line %d: %d fields", i+2, len(f))
		case f[0] != l.Ref: // ref: the payment's ID, the reference cxt handed over
		case f[1] != l.BankRef: // bank_ref: the channel's own reference, or empty
		case f[2] != yuan(l.Fen): // amount: yuan, two decimals, what the worker received
		case f[3] != l.Status: // status: paid, failed or returned, as of the day's end
		case f[4] != "2026-12-10": // date: the day the channel settled it, China
		default:
			continue
		}
		t.Fatalf("line %d: %q", i+2, row)
	}
	// The trailer: #END, the number of lines, their total in yuan, the
	// SM3 of every byte before the trailer line.
	tr := strings.Split(rows[4], ",")
	if tr[0] != "#END" || tr[1] != "3" || tr[2] != "2219.50" || len(tr[3]) != 64 {
		t.Fatalf("trailer %q", rows[4])
	}
	f, err := ParseStatement(WriteStatement(lines))
	if err != nil || len(f.Lines) != 3 || f.Total != 221950 || f.Lines[2].Row != 4 {
		t.Fatalf("the golden statement does not read back: %v %+v", err, f)
	}
}

// A merchant's reconciliation file, read back line by line.
func TestTheMerchantFileFormatIsTheGoldenFile(t *testing.T) {
	at := func(day, hour int) time.Time { return time.Date(2026, 12, day, hour, 0, 0, 0, payouts.China) }
	mf := &MerchantFile{Merchant: "m1", Period: "2026-12", From: at(1, 0), Opening: 1_000_00, Lines: []MerchantLine{
		{Time: at(1, 9), Kind: KindTopUp, Ref: "ts-20261201/3", CreditFen: 50_000_00, Posting: 11},
		{Time: at(1, 11), Kind: KindPayment, Ref: "pb-0f3c9a/0", Payment: "pb-0f3c9a-000001", Worker: "w0001", AmountFen: 1_234_50, FeeFen: 12_35, DebitFen: 1_246_85, Posting: 12},
		{Time: at(2, 10), Kind: KindReversal, Ref: "sandbox", Payment: "pb-0f3c9a-000001", Worker: "w0001", AmountFen: 1_234_50, FeeFen: 12_35, CreditFen: 1_246_85, Posting: 15},
		{Time: at(3, 9), Kind: KindFeeCharge, Ref: "m1/2026-11", DebitFen: 30_00, Posting: 16},
		{Time: at(4, 9), Kind: KindAdjustment, Ref: "adj-000001", CreditFen: 1, Posting: 17},
	}}
	mf.total()
	rows := golden(t, "merchant.csv", mf.CSV())
	// Line 1: the header.
	if rows[0] != "time,kind,ref,payment,worker,amount,fee,debit,credit,balance,posting" {
		t.Fatalf("header %q", rows[0])
	}
	want := [][]string{
		// time (China, RFC 3339), kind, ref (the posting's), payment, worker,
		// amount and fee (payment and reversal lines only), debit, credit
		// (yuan, the side that moved), balance (after the line), posting
		// (the ledger's sequence)
		{"2026-12-01T00:00:00+08:00", "opening", "", "", "", "", "", "", "", "1000.00", ""}, // the period's start and the balance then
		{"2026-12-01T09:00:00+08:00", "top_up", "ts-20261201/3", "", "", "", "", "", "50000.00", "51000.00", "11"},
		{"2026-12-01T11:00:00+08:00", "payment", "pb-0f3c9a/0", "pb-0f3c9a-000001", "w0001", "1234.50", "12.35", "1246.85", "", "49753.15", "12"},
		{"2026-12-02T10:00:00+08:00", "reversal", "sandbox", "pb-0f3c9a-000001", "w0001", "1234.50", "12.35", "", "1246.85", "51000.00", "15"},
		{"2026-12-03T09:00:00+08:00", "fee", "m1/2026-11", "", "", "", "", "30.00", "", "50970.00", "16"},
		{"2026-12-04T09:00:00+08:00", "adjustment", "adj-000001", "", "", "", "", "", "0.01", "50970.01", "17"},
		// #TOTAL, the movements, debits and credits in their columns, the
		// closing balance in the balance column: opening + credits −
		// debits = closing.
		{"#TOTAL", "5", "", "", "", "", "", "1276.85", "51246.86", "50970.01", ""},
	}
	if len(rows) != len(want)+1 {
		t.Fatalf("%d lines, want %d", len(rows), len(want)+1)
	}
	for i, w := range want {
		if got := strings.Split(rows[i+1], ","); strings.Join(got, "|") != strings.Join(w, "|") {
			t.Fatalf("line %d: %q, want %q", i+2, got, w)
		}
	}
}
