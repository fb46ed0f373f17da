package topups

import (
	"bytes"
	"fmt"
	"testing"
)

// statementOf writes a statement of n lines: a third recognised by a payer
// account, a third by a code, a third unmatched; prefix keeps transaction
// IDs apart between statements.
func statementOf(prefix string, n int, accounts, codes []string) []byte {
	var b bytes.Buffer
	b.WriteString(header)
	for i := range n {
		account, memo := "", "货款"
		switch i % 3 {
		case 0:
			account = accounts[i%len(accounts)]
		case 1:
			memo += codes[i%len(codes)]
		}
		fmt.Fprintf(&b, "%s%07d,2026-03-01,%d.%02d,CNY,%s,某某有限公司,某银行,%s\n", prefix, i, 1+i%5000, i%100, account, memo)
	}
	return b.Bytes()
}

// fundedWorld has k approved merchants, each with a code and a confirmed
// payer account.
func fundedWorld(tb testing.TB, k int) (w *world, accounts, codes []string) {
	w = newWorld(tb, nil)
	for i := range k {
		m := fmt.Sprintf("m_%d", i)
		w.merchant(m)
		codes = append(codes, w.open(m))
		account := fmt.Sprintf("62220000%08d", i)
		w.payer(fmt.Sprintf("pa-%d", i), m, account)
		accounts = append(accounts, account)
	}
	return w, accounts, codes
}

// BenchmarkImport50k applies a 50,000-line statement to a state machine
// (no Raft, no HTTP): parse, index and apply in chunks of ChunkLines, each
// chunk one command in one bbolt transaction. Run it with -benchtime=1x;
// docs/payouts.md gives the figures.
func BenchmarkImport50k(b *testing.B) {
	w, accounts, codes := fundedWorld(b, 100)
	for i := range b.N {
		data := statementOf(fmt.Sprintf("B%d-", i), 50_000, accounts, codes)
		lines, perr := ParseStatement(data)
		if perr != nil {
			b.Fatal(perr)
		}
		res, err := w.importer(0).Import(fmt.Sprintf("st-%d", i), "", data, lines, "op-1")
		if err != nil {
			b.Fatal(err)
		}
		if res.Statement.Matched.Lines+res.Statement.Suspense.Lines != 50_000 || res.Statement.Suspense.Lines < 16_000 {
			b.Fatalf("statement %+v", res.Statement.Tallies)
		}
	}
	b.ReportMetric(float64(50_000*b.N)/b.Elapsed().Seconds(), "lines/s")
}
