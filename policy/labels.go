package policy

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
)

// Mandatory access control (GB/T 22239 level 4) is a code rule like the
// duty rules: a subject never acts on a resource labelled above its
// clearance (no read up, no write up), whatever the editable policy says.
// The request pipeline decides such a request as if the resource were
// absent, so the answer does not reveal it either; a candidate policy that
// would allow one is refused like a duty violation (CheckCandidate).

// Security labels run from 1 (public) to MaxLabel (secret).
const MaxLabel = 4

// RuleReadUp names mandatory access control in refusals.
const RuleReadUp = "read_up"

// CheckLabel returns the violation of a request on a resource labelled
// above the subject's clearance, or nil.
func CheckLabel(in Input) *Violation {
	if in.Resource.Label <= in.Subject.Clearance {
		return nil
	}
	return &Violation{Rule: RuleReadUp, Role: strings.Join(in.Subject.Roles, "+"), Action: in.Action,
		Why: fmt.Sprintf("a subject cleared %d may not %s on a resource labelled %d", in.Subject.Clearance, in.Action, in.Resource.Label)}
}

// embeddedActions are the actions the embedded role table names: every
// route's (a test keeps them so), whatever a candidate's table says.
var embeddedActions = sync.OnceValue(func() []string {
	b, err := Embedded()
	if err != nil {
		return nil
	}
	return ActionsOf(b)
})

// labelCells returns the cells a candidate is tried with for read-up:
// each role alone cleared 1 to MaxLabel-1, and each extra subject cleared
// below MaxLabel, × every action the tables name × every label above the
// subject's clearance, on another account, with a second factor. A rule
// keyed on something else (two roles together, an account created later)
// escapes the matrix; the pipeline's own check holds then.
func labelCells(b *Bundle, extra []Subject) []Input {
	// A fresh slice: embeddedActions is shared by every caller (every
	// replica in one process), and appending to it, then sorting and
	// compacting in place, wrote into its spare capacity — a data race
	// the race detector found with three nodes activating a bundle at once.
	actions := slices.Concat(embeddedActions(), ActionsOf(b), dutyMatrixActions())
	slices.Sort(actions)
	actions = slices.Compact(actions)
	var subs []Subject
	for _, r := range RolesOf(b) {
		for c := 1; c < MaxLabel; c++ {
			subs = append(subs, Subject{ID: "label-check", Roles: []string{r}, Clearance: c, MFA: true})
		}
	}
	for _, s := range extra {
		if s.Clearance < MaxLabel {
			subs = append(subs, s)
		}
	}
	var out []Input
	for _, s := range subs {
		for _, action := range actions {
			for l := max(s.Clearance, 0) + 1; l <= MaxLabel; l++ {
				out = append(out, Input{Subject: s, Action: action, Resource: Resource{Owner: "someone-else", Label: l}})
			}
		}
	}
	return out
}

// checkReadUp returns a violation for every role and action the candidate
// would let read or write up, one per role and action, in cell order.
func checkReadUp(ctx context.Context, a *Authorizer, b *Bundle, extra []Subject) ([]Violation, error) {
	var out []Violation
	seen := map[string]bool{}
	for _, in := range labelCells(b, extra) {
		v := CheckLabel(in)
		if key := v.Role + "\x00" + v.Action; seen[key] {
			continue
		}
		allowed, err := a.allows(ctx, in)
		if err != nil {
			return nil, err
		}
		if allowed {
			seen[v.Role+"\x00"+v.Action] = true
			out = append(out, *v)
		}
	}
	return out, nil
}
