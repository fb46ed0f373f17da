package filing_test

import (
	"fmt"
	"testing"

	"cxt/appliance/filing"
	"cxt/appliance/payouts"
	"cxt/appliance/tax"
)

// BenchmarkDeclare200k: a month's declaration computed from 200,000
// payments of 10,000 workers over the year's first three months (the
// walk is in memory: the bbolt scan a command adds is the store's own
// cost, measured by ops/bench).
//
//	go test ./appliance/filing -run '^$' -bench Declare -benchtime 3x
func BenchmarkDeclare200k(b *testing.B) {
	const n, workers = 200_000, 10_000
	pays := make([]payouts.Payment, n)
	for i := range pays {
		pays[i] = payouts.Payment{ID: fmt.Sprintf("p%06d", i), Worker: fmt.Sprintf("w%05d", i%workers), Status: payouts.Paid,
			AmountFen: int64(100_00 + i%5_000_00), IITFen: int64(i % 300), Month: 202601 + (i/(n/3))%3, RuleSet: "cn-2026.2"}
	}
	walk := func(fn func(*payouts.Payment) error) error {
		for i := range pays {
			if err := fn(&pays[i]); err != nil {
				return err
			}
		}
		return nil
	}
	p, _ := filing.ParsePeriod("2026-03")
	b.ResetTimer()
	var d *filing.Declaration
	for b.Loop() {
		var err error
		if d, err = filing.Compute(walk, tax.Default(), "office", filing.Platform, p); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "payments/s")
	if len(d.IIT.Lines) != workers {
		b.Fatalf("%d lines", len(d.IIT.Lines))
	}
}
