package risk_test

import (
	"testing"
	"time"

	"cxt/appliance/risk"
	"cxt/storage/state"
	"cxt/storage/state/statetest"
)

// openCase opens a case as a job step would, and answers its ID.
func (w *world) openCase(subject string) string {
	w.t.Helper()
	w.seq++
	job := "j-" + subject
	w.ok(risk.CmdJobStart, risk.JobStart{ID: job, Period: "2026-04", Trigger: risk.TriggerDemand, By: "acct-op"})
	f := risk.Finding{Kind: risk.VolumeSpike, Subject: subject, Period: "2026-04", Rule: "r", Reason: "why", Parties: []string{"merchant/" + subject}}
	w.ok(risk.CmdJobStep, risk.JobStep{Job: job, Step: risk.Step{Detector: risk.VolumeSpike, Policy: "p"}, Findings: []risk.Finding{f}})
	w.ok(risk.CmdJobEnd, risk.JobEnd{Job: job, Error: "stopped on purpose"})
	return risk.CaseID(f.Key())
}

func (w *world) getCase(id string) *risk.Case {
	w.t.Helper()
	var c *risk.Case
	w.view(func(tx *state.ReadTx) (err error) { c, err = risk.GetCase(tx, id); return })
	return c
}

func TestCaseTransitions(t *testing.T) {
	assign := func(reviewer, by string) (string, risk.Action) {
		return risk.CmdCaseAssign, risk.Action{Reviewer: reviewer, By: by}
	}
	evidence := func(kind, ref, note string) (string, risk.Action) {
		return risk.CmdCaseEvidence, risk.Action{Kind: kind, Ref: ref, Note: note, By: "acct-rev1"}
	}
	closing := func(outcome, note, by string) (string, risk.Action) {
		return risk.CmdCaseClose, risk.Action{Outcome: outcome, Note: note, By: by}
	}
	type step struct {
		typ string
		a   risk.Action
	}
	s := func(typ string, a risk.Action) step { return step{typ, a} }
	cases := []struct {
		name       string
		before     []step // applied first, each must pass
		then       step
		code       string // "" when it passes
		status     string // the case's status after
		reviewer   string
		outcome    string
		evidenceN  int
		historyLen int
	}{
		{"an open case is assigned to a reviewer", nil, s(assign("acct-rev1", "acct-op")), "", risk.CaseInvestigating, "acct-rev1", "", 0, 2},
		{"evidence is attached to an open case", nil, s(evidence(risk.EvidencePayment, "pb-1-000001", "")), "", risk.CaseOpen, "", "", 1, 2},
		{"an open case is not closed", nil, s(closing(risk.NoIssue, "fine", "acct-rev1")), "case_status", risk.CaseOpen, "", "", 0, 1},
		{"a case under investigation is reassigned", []step{s(assign("acct-rev1", "acct-op"))}, s(assign("acct-rev2", "acct-op")), "", risk.CaseInvestigating, "acct-rev2", "", 0, 3},
		{"a case is not assigned to whom it is assigned", []step{s(assign("acct-rev1", "acct-op"))}, s(assign("acct-rev1", "acct-op")), "case_status", risk.CaseInvestigating, "acct-rev1", "", 0, 2},
		{"its reviewer closes a case with an outcome", []step{s(assign("acct-rev1", "acct-op"))}, s(closing(risk.ConfirmedWarned, "warned by phone", "acct-rev1")), "", risk.CaseClosed, "acct-rev1", risk.ConfirmedWarned, 0, 3},
		{"another reviewer does not close it", []step{s(assign("acct-rev1", "acct-op"))}, s(closing(risk.NoIssue, "fine", "acct-rev2")), "case_assignee", risk.CaseInvestigating, "acct-rev1", "", 0, 2},
		{"a close says why", []step{s(assign("acct-rev1", "acct-op"))}, s(closing(risk.NoIssue, " ", "acct-rev1")), "invalid_request", risk.CaseInvestigating, "acct-rev1", "", 0, 2},
		{"a close has a known outcome", []step{s(assign("acct-rev1", "acct-op"))}, s(closing("maybe", "hmm", "acct-rev1")), "invalid_request", risk.CaseInvestigating, "acct-rev1", "", 0, 2},
		{"a closed case is not closed again", []step{s(assign("acct-rev1", "acct-op")), s(closing(risk.NoIssue, "fine", "acct-rev1"))}, s(closing(risk.ConfirmedBlocked, "blocked", "acct-rev1")), "case_status", risk.CaseClosed, "acct-rev1", risk.NoIssue, 0, 3},
		{"a closed case is not reopened by an assignment", []step{s(assign("acct-rev1", "acct-op")), s(closing(risk.NoIssue, "fine", "acct-rev1"))}, s(assign("acct-rev2", "acct-op")), "case_status", risk.CaseClosed, "acct-rev1", risk.NoIssue, 0, 3},
		{"a closed case takes no evidence", []step{s(assign("acct-rev1", "acct-op")), s(closing(risk.NoIssue, "fine", "acct-rev1"))}, s(evidence(risk.EvidenceNote, "", "late")), "case_status", risk.CaseClosed, "acct-rev1", risk.NoIssue, 0, 3},
		{"evidence of a record names it", nil, s(evidence(risk.EvidenceWorker, "", "")), "invalid_request", risk.CaseOpen, "", "", 0, 1},
		{"a note says something", nil, s(evidence(risk.EvidenceNote, "", "  ")), "invalid_request", risk.CaseOpen, "", "", 0, 1},
		{"evidence is of a known kind", nil, s(evidence("rumour", "x", "")), "invalid_request", risk.CaseOpen, "", "", 0, 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			w := newWorld(t)
			id := w.openCase("m1")
			for _, b := range c.before {
				b.a.Case = id
				w.ok(b.typ, b.a)
			}
			c.then.a.Case = id
			res := w.Send(c.then.typ, c.then.a)
			if statetest.Code(res.Err) != c.code {
				t.Fatalf("refusal %v, want %q", res.Err, c.code)
			}
			got := w.getCase(id)
			if got.Status != c.status || got.Reviewer != c.reviewer || got.Outcome != c.outcome || len(got.Evidence) != c.evidenceN || len(got.History) != c.historyLen {
				t.Fatalf("case after: %s reviewer %q outcome %q, %d evidence, %d events", got.Status, got.Reviewer, got.Outcome, len(got.Evidence), len(got.History))
			}
		})
	}
}

func TestRacingCaseStepsAreDecidedByTheLog(t *testing.T) {
	w := newWorld(t)
	id := w.openCase("m1")
	w.ok(risk.CmdCaseAssign, risk.Action{Case: id, Reviewer: "acct-rev1", By: "acct-op"})
	w.Now = time.Now()
	// Two closes with different outcomes reach the leader together: one
	// log entry, the first wins, the second meets a closed case.
	res := w.ApplyEntry(
		state.NewCommand(risk.CmdCaseClose, mustJSON(risk.Action{Case: id, Outcome: risk.ConfirmedBlocked, Note: "blocked", By: "acct-rev1"}), w.Now),
		state.NewCommand(risk.CmdCaseClose, mustJSON(risk.Action{Case: id, Outcome: risk.NoIssue, Note: "fine", By: "acct-rev1"}), w.Now),
	)
	if res[0].Err != nil || statetest.Code(res[1].Err) != "case_status" {
		t.Fatalf("racing closes: %v, %v", res[0].Err, res[1].Err)
	}
	if c := w.getCase(id); c.Outcome != risk.ConfirmedBlocked {
		t.Fatalf("outcome %s", c.Outcome)
	}
}
