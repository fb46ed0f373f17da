package reconcile

import (
	"bytes"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// The benchmark — a day's statement of a million lines against a
// million payments, next to a plain sort-merge of the same two files in
// the same run — is measured both by `go test -bench 1M` here
// (bench_test.go) and by `make bench` (ops/bench -only reconcile). Both
// use what this file exports: the two files, the platform file's reader,
// and the sort-merge.

// BenchDay is the day the benchmark's files are of.
const BenchDay = Day(20261201)

// BenchFiles writes the benchmark's two files of n payments each: the
// channel's statement (the documented format, trailer and SM3 included)
// and the platform's payments as "ref,amount,status,date" lines under a
// header. Every payment is paid on BenchDay; one line in a thousand
// differs — amount, status, date, an unknown reference (whose payment is
// then missing too), or a line left out — so the reconciliation finds
// BenchDifferences(n) differences. The references are payouts' IDs
// (batches of 2,000 rows) in a scrambled order, as a bank would list them,
// so a sort has work to do. The same n gives the same bytes.
func BenchFiles(n int) (statement, platform []byte) {
	lines := make([]Line, 0, n)
	var pf bytes.Buffer
	pf.Grow(n * 44)
	pf.WriteString("ref,amount,status,date\n")
	for i := range n {
		j := (i * 7919) % n
		ref := fmt.Sprintf("pb-%016x-%06d", j/2000, j%2000+1)
		fen := int64(5_000 + j%200_000)
		pf.WriteString(ref + "," + yuan(fen) + ",paid," + BenchDay.String() + "\n")
		l := Line{Ref: ref, BankRef: "BK" + strconv.Itoa(j), Fen: fen, Status: "paid", Date: BenchDay}
		switch i % 1000 {
		case 1:
			l.Fen++
		case 2:
			l.Status = "failed"
		case 3:
			l.Date = BenchDay + 1
		case 4:
			l.Ref = "pb-unknown-" + strconv.Itoa(i)
		case 5:
			continue // missing on the channel's side
		}
		lines = append(lines, l)
	}
	return WriteStatement(lines), pf.Bytes()
}

// BenchDifferences is how many differences BenchFiles(n) holds: per
// thousand lines one each of amount, status and date, an unknown reference
// that leaves its payment missing as well (two), and a missing line.
func BenchDifferences(n int) int {
	per := func(k int) int { // lines i < n with i % 1000 == k
		if n <= k {
			return 0
		}
		return (n-1-k)/1000 + 1
	}
	return per(1) + per(2) + per(3) + 2*per(4) + per(5)
}

// ParsePlatformFile reads BenchFiles' platform file into the payments the
// reconciliation holds a statement against. It trusts its input: it is
// the benchmark's, not a file anyone sends.
func ParsePlatformFile(data []byte) []Payment {
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

// ReconcileFiles is the reconciliation as the benchmark times it, from the
// two files' bytes: the statement read whole (every field checked, no
// reference twice, the trailer's count, total and SM3), the platform's
// file read, and every line classified.
func ReconcileFiles(statement, platform []byte) (*Result, error) {
	f, err := ParseStatement(statement)
	if err != nil {
		return nil, err
	}
	return Reconcile(BenchDay, f, ParsePlatformFile(platform)), nil
}

// SortMerge is the plain comparison the reconciliation is measured
// against: both files split into lines (header and trailer dropped), each
// sorted by reference, walked together. It returns the statement's lines
// and how many references both files hold with the same amount — the
// least a comparison of two files does, with no checks and no classes.
func SortMerge(statement, platform []byte) (lines, same int) {
	left, right := splitSorted(statement), splitSorted(platform)
	for i, j := 0, 0; i < len(left) && j < len(right); {
		switch c := strings.Compare(left[i][0], right[j][0]); {
		case c < 0:
			i++
		case c > 0:
			j++
		default:
			if left[i][1] == right[j][1] {
				same++
			}
			i, j = i+1, j+1
		}
	}
	return len(left), same
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
		if strings.HasPrefix(line, trailerTag) {
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
