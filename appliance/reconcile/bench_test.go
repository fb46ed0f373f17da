package reconcile

import (
	"testing"
)

// The benchmark (benchdata.go): a day's statement of 1,000,000
// lines against 1,000,000 payments, next to a plain sort-merge of the same
// two files in the same run. `make bench` measures the same with
// ops/bench -only reconcile.
//
//	go test ./appliance/reconcile -run '^$' -bench 1M -benchtime 3x

const benchN = 1_000_000

var benchFiles struct{ statement, platform []byte }

func benchData(tb testing.TB) (statement, platform []byte) {
	if benchFiles.statement == nil {
		benchFiles.statement, benchFiles.platform = BenchFiles(benchN)
	}
	return benchFiles.statement, benchFiles.platform
}

func BenchmarkReconcile1M(b *testing.B) {
	st, pf := benchData(b)
	b.SetBytes(int64(len(st) + len(pf)))
	b.ResetTimer()
	var res *Result
	for b.Loop() {
		var err error
		if res, err = ReconcileFiles(st, pf); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(res.Lines)*float64(b.N)/b.Elapsed().Seconds(), "lines/s")
	if want := BenchDifferences(benchN); len(res.Differences) != want || want != benchN/1000*6 {
		b.Fatalf("%d differences, want %d", len(res.Differences), want)
	}
}

func BenchmarkSortMerge1M(b *testing.B) {
	st, pf := benchData(b)
	b.SetBytes(int64(len(st) + len(pf)))
	b.ResetTimer()
	var lines, same int
	for b.Loop() {
		lines, same = SortMerge(st, pf)
	}
	b.ReportMetric(float64(lines)*float64(b.N)/b.Elapsed().Seconds(), "lines/s")
	if same == 0 {
		b.Fatal("the merge found nothing in common")
	}
}

// The exported files hold exactly the differences they promise, on a size
// that is not a multiple of a thousand, and the sort-merge agrees on what
// matches.
func TestBenchFilesHoldWhatTheyPromise(t *testing.T) {
	for _, n := range []int{1, 6, 2_345} {
		st, pf := BenchFiles(n)
		res, err := ReconcileFiles(st, pf)
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Differences) != BenchDifferences(n) {
			t.Fatalf("n=%d: %d differences, BenchDifferences says %d", n, len(res.Differences), BenchDifferences(n))
		}
		lines, same := SortMerge(st, pf)
		if lines != res.Lines {
			t.Fatalf("n=%d: sort-merge saw %d lines, the reconciliation %d", n, lines, res.Lines)
		}
		// Same reference, same amount: matched, or differing in status or date only.
		if want := res.Matched + res.Count(Status) + res.Count(Date); same != want {
			t.Fatalf("n=%d: sort-merge found %d alike, want %d", n, same, want)
		}
	}
}
