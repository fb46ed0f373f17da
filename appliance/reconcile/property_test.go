package reconcile

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"
)

// Whatever the statement and the payments, every line is matched or in
// exactly one difference, every expected payment is on a line or missing
// once, and the differences come lines first, in file order.
func TestEveryLineAndEveryExpectedPaymentIsAccountedForOnce(t *testing.T) {
	seed := time.Now().UnixNano()
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(uint64(seed), 7))
	statuses := []string{"accepted", "submitted", "paid", "failed", "returned"}
	for round := range 200 {
		const day = Day(20261210)
		var pay []Payment
		for i := range rng.IntN(60) {
			pay = append(pay, Payment{Ref: fmt.Sprintf("p%d", i), Fen: int64(1 + rng.IntN(3)), Status: statuses[rng.IntN(len(statuses))],
				Date: day + Day(rng.IntN(3)) - 1, Taken: rng.IntN(5) > 0})
		}
		f := &File{}
		for i := range rng.IntN(60) {
			ref := fmt.Sprintf("p%d", rng.IntN(80))
			if f.index == nil {
				f.index = map[string]int32{}
			}
			if _, dup := f.index[ref]; dup {
				continue
			}
			f.index[ref] = int32(len(f.Lines))
			f.Lines = append(f.Lines, Line{Row: i + 2, Ref: ref, Fen: int64(1 + rng.IntN(3)), Status: []string{"paid", "failed", "returned"}[rng.IntN(3)],
				Date: day + Day(rng.IntN(3)) - 1})
		}
		res := Reconcile(day, f, pay)
		seen := map[string]int{}
		lastLine := 0
		for _, d := range res.Differences {
			seen[d.Ref]++
			if d.Line > 0 && d.Line < lastLine || d.Line > 0 && lastLine < 0 {
				t.Fatalf("round %d: differences out of order", round)
			}
			if d.Line == 0 {
				lastLine = -1
			} else {
				lastLine = d.Line
			}
		}
		for ref, n := range seen {
			if n != 1 {
				t.Fatalf("round %d: %s in %d differences", round, ref, n)
			}
		}
		if lines := len(res.Differences) - res.Count(MissingChannel); res.Matched+lines != len(f.Lines) {
			t.Fatalf("round %d: %d matched + %d line differences ≠ %d lines", round, res.Matched, lines, len(f.Lines))
		}
		expected := 0
		for i := range pay {
			if pay[i].Date == day && pay[i].Settled() {
				expected++
				if _, listed := f.index[pay[i].Ref]; !listed && seen[pay[i].Ref] != 1 {
					t.Fatalf("round %d: expected %s is neither listed nor missing", round, pay[i].Ref)
				}
			}
		}
		if expected != res.Expected {
			t.Fatalf("round %d: expected %d, counted %d", round, expected, res.Expected)
		}
	}
}
