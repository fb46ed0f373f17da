package reconcile

import (
	"bytes"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// The benchmark: a day's statement of 1,000,000 lines against
// 1,000,000 payments, next to a plain sort-merge of the same two files in
// the same run. Both start from the bytes of the two files: the
// reconciliation reads the statement whole (every field checked, no
// reference twice, the trailer's count, total and SM3), reads the
// platform's file, and classifies; the sort-merge splits both files into
// lines, sorts each by reference and walks them together, counting the
// references both hold and those whose lines are equal — the least a
// comparison of two files does.
//
//	go test ./appliance/reconcile -run '^$' -bench 1M -benchtime 3x

const benchN = 1_000_000

var benchFiles struct{ statement, platform []byte }

// benchData writes the two files once: every payment settled on the day,
// one in a thousand lines differing (amount, status, date, unknown, or
// missing), in an order the sort has to work for.
func benchData(tb testing.TB) (statement, platform []byte) {
	if benchFiles.statement != nil {
		return benchFiles.statement, benchFiles.platform
	}
	const day = Day(20261201)
	lines := make([]Line, 0, benchN)
	var pf bytes.Buffer
	pf.WriteString("ref,amount,status,date\n")
	for i := range benchN {
		// Payment IDs as payouts makes them, batches of 2,000 rows,
		// written in a scrambled order as a bank would list them.
		j := (i * 7919) % benchN
		ref := fmt.Sprintf("pb-%016x-%06d", j/2000, j%2000+1)
		fen := int64(5_000 + j%200_000)
		pf.WriteString(ref + "," + yuan(fen) + ",paid,2026-12-01\n")
		l := Line{Ref: ref, BankRef: "BK" + strconv.Itoa(j), Fen: fen, Status: "paid", Date: day}
		switch i % 1000 {
		case 1:
			l.Fen++
		case 2:
			l.Status = "failed"
		case 3:
			l.Date = 20261202
		case 4:
			l.Ref = "pb-unknown-" + strconv.Itoa(i)
		case 5:
			continue // missing on the channel's side
		}
		lines = append(lines, l)
	}
	benchFiles.statement, benchFiles.platform = WriteStatement(lines), pf.Bytes()
	return benchFiles.statement, benchFiles.platform
}

// parsePlatform reads the benchmark's platform file: ref,amount,status,date.
func parsePlatform(data []byte) []Payment {
	s := string(data)
	s = s[strings.IndexByte(s, '\n')+1:]
	out := make([]Payment, 0, len(s)/40)
	for len(s) > 0 {
		nl := strings.IndexByte(s, '\n')
		line := s[:nl]
		s = s[nl+1:]
		a := strings.IndexByte(line, ',')
		b := a + 1 + strings.IndexByte(line[a+1:], ',')
		c := b + 1 + strings.IndexByte(line[b+1:], ',')
		fen, _ := parseYuan(line[a+1 : b])
		d, _ := ParseDay(line[c+1:])
		out = append(out, Payment{Ref: line[:a], Fen: fen, Status: line[b+1 : c], Date: d, Taken: true})
	}
	return out
}

func BenchmarkReconcile1M(b *testing.B) {
	st, pf := benchData(b)
	b.SetBytes(int64(len(st) + len(pf)))
	b.ResetTimer()
	var res *Result
	for b.Loop() {
		f, err := ParseStatement(st)
		if err != nil {
			b.Fatal(err)
		}
		res = Reconcile(20261201, f, parsePlatform(pf))
	}
	b.ReportMetric(float64(res.Lines)*float64(b.N)/b.Elapsed().Seconds(), "lines/s")
	// The unknown reference leaves its payment missing too: six per thousand.
	if want := benchN / 1000 * 6; len(res.Differences) != want {
		b.Fatalf("%d differences, want %d", len(res.Differences), want)
	}
}

func BenchmarkSortMerge1M(b *testing.B) {
	st, pf := benchData(b)
	b.SetBytes(int64(len(st) + len(pf)))
	b.ResetTimer()
	var lines, both int
	for b.Loop() {
		left, right := splitSorted(st), splitSorted(pf)
		lines, both = len(left), 0
		for i, j := 0, 0; i < len(left) && j < len(right); {
			switch c := strings.Compare(left[i][0], right[j][0]); {
			case c < 0:
				i++
			case c > 0:
				j++
			default:
				if left[i][1] == right[j][1] {
					both++
				}
				i, j = i+1, j+1
			}
		}
	}
	b.ReportMetric(float64(lines)*float64(b.N)/b.Elapsed().Seconds(), "lines/s")
	if both == 0 {
		b.Fatal("the merge found nothing in common")
	}
}

// splitSorted splits a file's lines (header and trailer dropped) into
// reference and amount, sorted by reference.
func splitSorted(data []byte) [][2]string {
	s := string(data)
	s = s[strings.IndexByte(s, '\n')+1:]
	out := make([][2]string, 0, len(s)/40)
	for len(s) > 0 {
		nl := strings.IndexByte(s, '\n')
		line := s[:nl]
		s = s[nl+1:]
		if strings.HasPrefix(line, "#END") {
			break
		}
		a := strings.IndexByte(line, ',')
		rest := line[a+1:]
		if strings.Count(line, ",") == 4 { // the statement: skip bank_ref
			rest = rest[strings.IndexByte(rest, ',')+1:]
		}
		out = append(out, [2]string{line[:a], rest[:strings.IndexByte(rest, ',')]})
	}
	slices.SortFunc(out, func(x, y [2]string) int { return strings.Compare(x[0], y[0]) })
	return out
}
