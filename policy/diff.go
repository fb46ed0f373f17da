package policy

import (
	"context"
	"encoding/json"
	"errors"
	"runtime"
	"slices"
	"sync"

	"github.com/open-policy-agent/opa/v1/ast"
)

// The permission diff of a policy change says who gains and who loses
// which action: each role alone (a generic subject cleared MaxLabel), and
// every real account as it is (its ID, roles and clearance), over every
// action × resource labels 1 to the subject's clearance × with and without
// a second factor. It shows effective permissions: a cell the code rules
// refuse (duty rules, mandatory access control) is refused under both
// policies and never differs. A rule keyed on one account's ID changes no
// role, so only the per-account part shows it — which is why it exists.

// DiffAccount is a real account the diff evaluates.
type DiffAccount struct {
	ID        string   `json:"id"`
	Username  string   `json:"username"`
	Roles     []string `json:"roles"`
	Clearance int      `json:"clearance"`
}

// Change is a role whose decision on an action differs between two
// policies: at which resource labels, and with (true) or without (false) a
// second factor.
type Change struct {
	Role         string `json:"role"`
	Action       string `json:"action"`
	Labels       []int  `json:"labels"`
	SecondFactor []bool `json:"second_factor"`
}

// CellChange is a Change of one account, or of a group of them.
type CellChange struct {
	Action       string `json:"action"`
	Labels       []int  `json:"labels"`
	SecondFactor []bool `json:"second_factor"`
}

// AccountGroup is the accounts whose gains and losses are the same.
type AccountGroup struct {
	Count    int           `json:"count"`
	Accounts []DiffAccount `json:"accounts"` // the first GroupSample, by ID
	Gained   []CellChange  `json:"gained"`
	Lost     []CellChange  `json:"lost"`
}

// GroupSample bounds the accounts a group names; its count says how many
// it holds.
const GroupSample = 20

// Diff is the permission diff of a policy change.
type Diff struct {
	Gained   []Change       `json:"gained"` // per role
	Lost     []Change       `json:"lost"`
	Accounts []AccountGroup `json:"accounts"` // accounts with a change, fewest first
	// AccountsChecked is how many accounts were evaluated.
	AccountsChecked int `json:"accounts_checked"`
	// ReadsSubjectID says that a policy's decision may depend on the
	// subject's ID, so each account was evaluated on its own rather than
	// once per roles and clearance.
	ReadsSubjectID bool `json:"reads_subject_id,omitempty"`
}

// diffOwner owns the resources the diff asks about: another account than
// every subject's own.
const diffOwner = "diff:another-account"

// PermissionDiff evaluates old and next for each role alone and for each
// account, over actions. Accounts alike in roles and clearance are decided
// alike by a policy that does not read the subject's ID (ReadsSubjectID),
// so such a policy is evaluated once per roles and clearance; one that
// does is evaluated for each account as itself. The evaluations run in
// parallel; the answer does not depend on their order.
func PermissionDiff(ctx context.Context, old, next *Authorizer, roles, actions []string, accounts []DiffAccount) (*Diff, error) {
	g := grid{actions: actions}
	var jobs []gridJob
	job := func(a *Authorizer, sub Subject) int {
		jobs = append(jobs, gridJob{a, sub})
		return len(jobs) - 1
	}
	type pair struct{ before, after int }
	roleJobs := make([]pair, len(roles))
	for i, role := range roles {
		sub := Subject{ID: "diff:role", Roles: []string{role}, Clearance: MaxLabel}
		roleJobs[i] = pair{job(old, sub), job(next, sub)}
	}
	reads := [2]bool{ReadsSubjectID(old.Bundle()), ReadsSubjectID(next.Bundle())}
	classes := [2]map[string]int{{}, {}}
	acctJobs := make([]pair, len(accounts))
	for i, acct := range accounts {
		rs := slices.Clone(acct.Roles)
		slices.Sort(rs)
		class := Subject{ID: "diff:account", Roles: rs, Clearance: acct.Clearance}
		key, _ := json.Marshal(class)
		var idx [2]int
		for side, a := range []*Authorizer{old, next} {
			if reads[side] {
				self := class
				self.ID = acct.ID
				idx[side] = job(a, self)
			} else if n, ok := classes[side][string(key)]; ok {
				idx[side] = n
			} else {
				idx[side] = job(a, class)
				classes[side][string(key)] = idx[side]
			}
		}
		acctJobs[i] = pair{idx[0], idx[1]}
	}
	results, err := g.run(ctx, jobs)
	if err != nil {
		return nil, err
	}

	d := &Diff{Gained: []Change{}, Lost: []Change{}, Accounts: []AccountGroup{}, AccountsChecked: len(accounts),
		ReadsSubjectID: reads[0] || reads[1]}
	for i, role := range roles {
		gained, lost := g.diff(results[roleJobs[i].before], results[roleJobs[i].after])
		for _, c := range gained {
			d.Gained = append(d.Gained, Change{role, c.Action, c.Labels, c.SecondFactor})
		}
		for _, c := range lost {
			d.Lost = append(d.Lost, Change{role, c.Action, c.Labels, c.SecondFactor})
		}
	}
	groups := map[string]*AccountGroup{}
	var order []string
	for i, acct := range accounts {
		gained, lost := g.diff(results[acctJobs[i].before], results[acctJobs[i].after])
		if len(gained) == 0 && len(lost) == 0 {
			continue
		}
		gk, _ := json.Marshal(gained)
		lk, _ := json.Marshal(lost)
		k := string(gk) + "\x00" + string(lk)
		grp := groups[k]
		if grp == nil {
			grp = &AccountGroup{Accounts: []DiffAccount{}, Gained: orEmpty(gained), Lost: orEmpty(lost)}
			groups[k] = grp
			order = append(order, k)
		}
		grp.Count++
		if len(grp.Accounts) < GroupSample {
			grp.Accounts = append(grp.Accounts, acct)
		}
	}
	for _, k := range order {
		d.Accounts = append(d.Accounts, *groups[k])
	}
	// The accounts singled out first: a group of one is what a rule keyed
	// on an ID, or a lock-out of a named administrator, looks like.
	slices.SortStableFunc(d.Accounts, func(a, b AccountGroup) int { return a.Count - b.Count })
	return d, nil
}

func orEmpty(cs []CellChange) []CellChange {
	if cs == nil {
		return []CellChange{}
	}
	return cs
}

// grid is the cells a subject is decided on: actions × labels 1..MaxLabel
// × without and with a second factor. Cells above the subject's clearance
// and cells the duty rules refuse are refused by code whatever the policy
// says, so they are left false and never differ.
type grid struct{ actions []string }

type gridJob struct {
	a   *Authorizer
	sub Subject
}

func (g grid) cell(action, label, mfa int) int { return (action*MaxLabel+label-1)*2 + mfa }

// decide fills the grid of one subject under one policy.
func (g grid) decide(ctx context.Context, a *Authorizer, sub Subject) ([]bool, error) {
	out := make([]bool, len(g.actions)*MaxLabel*2)
	for ai, action := range g.actions {
		for label := 1; label <= min(sub.Clearance, MaxLabel); label++ {
			for m, mfa := range []bool{false, true} {
				sub.MFA = mfa
				in := Input{Subject: sub, Action: action, Resource: Resource{Owner: diffOwner, Label: label}}
				if CheckDuty(in) != nil {
					continue
				}
				ok, err := a.allows(ctx, in)
				if err != nil {
					return nil, err
				}
				out[g.cell(ai, label, m)] = ok
			}
		}
	}
	return out, nil
}

// run decides every job, GOMAXPROCS at a time; results are by job index.
func (g grid) run(ctx context.Context, jobs []gridJob) ([][]bool, error) {
	results := make([][]bool, len(jobs))
	errs := make([]error, len(jobs))
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(runtime.GOMAXPROCS(0), len(jobs)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				results[i], errs[i] = g.decide(ctx, jobs[i].a, jobs[i].sub)
			}
		}()
	}
	for i := range jobs {
		next <- i
	}
	close(next)
	wg.Wait()
	return results, errors.Join(errs...)
}

// diff returns per action the cells after allows and before does not
// (gained), and the reverse (lost), in action order.
func (g grid) diff(before, after []bool) (gained, lost []CellChange) {
	for ai, action := range g.actions {
		gc, lc := CellChange{Action: action}, CellChange{Action: action}
		for label := 1; label <= MaxLabel; label++ {
			for m := range 2 {
				b, a := before[g.cell(ai, label, m)], after[g.cell(ai, label, m)]
				switch {
				case a && !b:
					gc.add(label, m == 1)
				case b && !a:
					lc.add(label, m == 1)
				}
			}
		}
		if len(gc.Labels) > 0 {
			gained = append(gained, gc)
		}
		if len(lc.Labels) > 0 {
			lost = append(lost, lc)
		}
	}
	return gained, lost
}

// add notes a changed cell; labels and second-factor states come in
// ascending order (false before true).
func (c *CellChange) add(label int, mfa bool) {
	if !slices.Contains(c.Labels, label) {
		c.Labels = append(c.Labels, label)
	}
	if !slices.Contains(c.SecondFactor, mfa) {
		c.SecondFactor = append(c.SecondFactor, mfa)
		if len(c.SecondFactor) == 2 {
			c.SecondFactor = []bool{false, true}
		}
	}
}

var (
	subjectIDRef     = ast.MustParseRef("input.subject.id")
	resourceOwnerRef = ast.MustParseRef("input.resource.owner")
	subjectRef       = ast.MustParseRef("input.subject")
)

// ReadsSubjectID reports whether a bundle's decisions may depend on the
// subject's ID, beyond comparing it with the resource's owner (which the
// diff sets to another account than every subject). Anything it cannot
// rule out counts: the input or the subject taken whole, a key computed at
// run time, a module that does not parse.
func ReadsSubjectID(b *Bundle) bool {
	if b == nil {
		return false
	}
	names := make([]string, 0, len(b.Modules))
	for name := range b.Modules {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		m, err := ast.ParseModuleWithOpts(name, b.Modules[name], ast.ParserOptions{RegoVersion: ast.RegoV1})
		if err != nil {
			return true
		}
		owned := 0 // uses of the ID in an owner comparison
		ast.WalkExprs(m, func(e *ast.Expr) bool {
			if ownerComparison(e) {
				owned++
			}
			return false
		})
		uses, dynamic := 0, false
		ast.WalkRefs(m, func(r ast.Ref) bool {
			if !r.HasPrefix(ast.InputRootRef) {
				return false
			}
			switch {
			case len(r) == 1 || !r[1].IsGround():
				dynamic = true // input whole, or input[x]
			case r.HasPrefix(subjectRef) && (len(r) == 2 || !r[2].IsGround()):
				dynamic = true // the subject whole, or subject[x]
			case r.HasPrefix(subjectIDRef):
				uses++
			}
			return false
		})
		if dynamic || uses > owned {
			return true
		}
	}
	return false
}

// ownerComparison reports whether e is input.resource.owner compared with
// input.subject.id (==, != or =), in either order.
func ownerComparison(e *ast.Expr) bool {
	if !e.IsCall() || len(e.Operands()) != 2 {
		return false
	}
	op := e.Operator()
	if !op.Equal(ast.Equal.Ref()) && !op.Equal(ast.NotEqual.Ref()) && !op.Equal(ast.Equality.Ref()) {
		return false
	}
	a, b := e.Operand(0), e.Operand(1)
	ref := func(t *ast.Term, want ast.Ref) bool {
		r, ok := t.Value.(ast.Ref)
		return ok && r.Equal(want)
	}
	return (ref(a, subjectIDRef) && ref(b, resourceOwnerRef)) || (ref(a, resourceOwnerRef) && ref(b, subjectIDRef))
}
