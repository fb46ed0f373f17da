package merchants

import (
	"fmt"
	"sort"

	"github.com/shopspring/decimal"
)

// A merchant's rating (商户评级) is a score from 0 to 100: a weighted sum of
// inputs, each itself 0 to 100, with the weights shown next to the inputs
// so that anyone shown a rating can redo it. It is recomputed from the
// merchant's record whenever an event changes an input.

// Weight is one input's share of the score, in percent.
type Weight struct {
	Input  string `json:"input"`
	Weight int64  `json:"weight"`
	What   string `json:"what"`
}

// Weights are the inputs of today's rating and their shares (they add up to
// 100). Later inputs (payouts on time, complaints, risk findings) join the
// table as their records arrive.
var Weights = []Weight{
	{"qualification", 40, "the review's outcome: approved 100, waiting 50, more information asked 25, rejected 0"},
	{"documents", 20, "qualification documents on file: business licence 60, each further kind 20, at most 100"},
	{"agreement", 20, "the cooperation agreement signed by both parties: 100, else 0"},
	{"tenure", 20, "months since approval, 10 a month, at most 100"},
}

// Input is one input's value and how it was found.
type Input struct {
	Input  string `json:"input"`
	Value  int64  `json:"value"` // 0..100
	Weight int64  `json:"weight"`
	Why    string `json:"why"`
}

// Rating is a score with its working.
type Rating struct {
	Score  string  `json:"score"` // 0.00..100.00
	Grade  string  `json:"grade"` // A ≥ 85, B ≥ 70, C ≥ 50, D below
	Inputs []Input `json:"inputs"`
}

// Facts are what a rating is computed from.
type Facts struct {
	Status          Status
	DocumentKinds   []string
	AgreementSigned bool
	MonthsApproved  int
}

// Rate computes a rating from facts.
func Rate(f Facts) Rating {
	values := map[string]Input{}
	q := map[Status]int64{Approved: 100, Applied: 50, MoreInfo: 25, Rejected: 0, Closed: 0}[f.Status]
	values["qualification"] = Input{Value: q, Why: "status " + string(f.Status)}

	kinds := map[string]bool{}
	for _, k := range f.DocumentKinds {
		kinds[k] = true
	}
	d := int64(0)
	if kinds[DocBusinessLicence] {
		d = 60
	}
	for k := range kinds {
		if k != DocBusinessLicence {
			d += 20
		}
	}
	d = min(d, 100)
	names := make([]string, 0, len(kinds))
	for k := range kinds {
		names = append(names, k)
	}
	sort.Strings(names)
	values["documents"] = Input{Value: d, Why: fmt.Sprintf("kinds on file: %v", names)}

	a := int64(0)
	if f.AgreementSigned {
		a = 100
	}
	values["agreement"] = Input{Value: a, Why: fmt.Sprintf("signed by both: %v", f.AgreementSigned)}
	t := min(int64(max(f.MonthsApproved, 0))*10, 100)
	values["tenure"] = Input{Value: t, Why: fmt.Sprintf("%d months since approval", max(f.MonthsApproved, 0))}

	score := decimal.Zero
	r := Rating{}
	for _, w := range Weights {
		in := values[w.Input]
		in.Input, in.Weight = w.Input, w.Weight
		r.Inputs = append(r.Inputs, in)
		score = score.Add(decimal.NewFromInt(in.Value * w.Weight).Div(decimal.NewFromInt(100)))
	}
	r.Score = score.StringFixed(2)
	switch {
	case score.GreaterThanOrEqual(decimal.NewFromInt(85)):
		r.Grade = "A"
	case score.GreaterThanOrEqual(decimal.NewFromInt(70)):
		r.Grade = "B"
	case score.GreaterThanOrEqual(decimal.NewFromInt(50)):
		r.Grade = "C"
	default:
		r.Grade = "D"
	}
	return r
}
