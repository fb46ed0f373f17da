package tasks

import (
	"encoding/hex"
	"fmt"
	"testing"
	"time"

	"cxt/appliance/identity"
	"cxt/appliance/merchants"
	"cxt/appliance/subjects"
	"cxt/appliance/workers"
	"cxt/appliance/workers/partiestest"
	"cxt/crypto/sm"
	"cxt/policy"
	"cxt/storage/state"
	"cxt/storage/state/statetest"
)

// world is the parties' test world (partiestest) with the tasks' commands.
type world struct {
	*partiestest.World
	t    *testing.T
	keys map[string]uint32 // merchant -> its subject key's ID
}

func newWorld(t *testing.T) *world {
	return &world{World: partiestest.NewWorld(t, Register), t: t, keys: map[string]uint32{}}
}

// merchant has a merchant apply and, if approve, approves it.
func (w *world) merchant(id string, approve bool) {
	w.t.Helper()
	k, fresh, _ := subjects.NewKey(w.Keys, id)
	priv, _ := subjects.Seal(k, merchants.PrivateAAD(id), merchants.Private{USCC: id})
	w.Must(w.Send(merchants.CmdApply, merchants.Application{ID: id, Name: "某某公司 " + id, Model: merchants.Intermediary,
		USCCIndex: "uscc-" + id, Private: priv, Key: fresh, Applicant: "acct-" + id}))
	if approve {
		w.Must(w.Send(merchants.CmdReview, merchants.DirectApproval(id, "reviewer", "a test world")))
	}
	w.keys[id] = k.ID()
}

func idx(s string) []byte { h := sm.Sum([]byte(s)); return h[:] }

// worker registers worker n with an account and links them to each of
// active (they accept) and invited (they do not).
func (w *world) worker(n int, active, invited []string) string {
	w.t.Helper()
	id := fmt.Sprintf("w_%d", n)
	p := workers.Private{Name: "工人", IDNumber: fmt.Sprintf("id-%d", n), Phone: fmt.Sprintf("1380000%04d", n)}
	k, f, _ := subjects.NewKey(w.Keys, id)
	priv, _ := subjects.Seal(k, workers.PrivateAAD(id), p)
	acct := identity.Account{ID: "acct-" + id, Username: id, Roles: []string{identity.Worker}, Clearance: 1, Worker: id, Phone: p.Phone}
	w.Must(w.Send(workers.CmdRegister, workers.Registration{ID: id, IDIndex: idx("id" + id), PhoneIndex: idx("ph" + id), Key: f, Private: priv,
		Account: identity.CreateAccount{Account: acct, NameIndex: []byte("name-" + id)}, Risk: workers.DirectIdentity("a test world")}))
	for _, m := range append(append([]string{}, active...), invited...) {
		w.Must(w.Send(workers.CmdInvite, workers.Invitation{Merchant: m, By: "acct-" + m, Rows: []workers.Invitee{{Row: 1, ID: id}}}))
	}
	for _, m := range active {
		w.Must(w.Send(workers.CmdAccept, workers.Acceptance{Worker: id, Merchant: m, By: "acct-" + id}))
	}
	return id
}

var taskN int

// draft creates a draft task of merchant.
func (w *world) draft(merchant, budget string, headcount int) string {
	w.t.Helper()
	taskN++
	id := fmt.Sprintf("t_%03d", taskN)
	w.Must(w.Send(CmdCreate, w.creation(id, merchant, budget, headcount)))
	return id
}

func (w *world) creation(id, merchant, budget string, headcount int) Creation {
	return Creation{ID: id, Merchant: merchant, By: "acct-" + merchant, Title: "仓库搬运", Category: "logistics",
		Description: "卸货与上架", Budget: budget, Headcount: headcount, Period: Period{Start: "2026-03-01", End: "2026-03-31"}, Location: "福州市"}
}

// open creates and publishes a task the rule lets through.
func (w *world) open(merchant, budget string, headcount int) string {
	id := w.draft(merchant, budget, headcount)
	w.Must(w.Send(CmdPublish, Publication{ID: id, By: "acct-" + merchant, Risk: decided(policy.Allow, "", "")}))
	return id
}

// decided is a task rules' decision by rule (none: allow).
func decided(outcome, rule, reason string) *policy.Decided {
	d := &policy.Decided{Concern: policy.RiskTask, Policy: "embedded", Settings: "1", InputSM3: "ab", Input: []byte(`{}`)}
	d.Outcome = outcome
	if rule != "" {
		d.Rule, d.Code, d.Reason = rule, "risk_x", reason
		d.Hits = []policy.Hit{{Rule: rule, Outcome: outcome, Code: "risk_x", Reason: reason}}
	}
	return d
}

func (w *world) task(id string) *Task {
	w.t.Helper()
	var t *Task
	if err := w.State.View(func(tx *state.ReadTx) error {
		var err error
		t, err = Get(tx, id)
		return err
	}); err != nil {
		w.t.Fatal(err)
	}
	return t
}

func (w *world) work(task, worker string) *Work {
	w.t.Helper()
	var out *Work
	if err := w.State.View(func(tx *state.ReadTx) error {
		var err error
		out, err = GetWork(tx, task, worker)
		return err
	}); err != nil {
		w.t.Fatal(err)
	}
	return out
}

// file files a proof document for worker's work.
func (w *world) file(task, worker, merchant, doc string) state.Result {
	sum := sm.Sum([]byte(doc))
	return w.Send(CmdProof, Filed{Task: task, Worker: worker, KeyID: w.keys[merchant],
		Doc: ProofRef{ID: doc, Type: "application/pdf", Size: 10, SM3: hex.EncodeToString(sum[:]), By: "acct-" + worker}})
}

func TestATaskIsReviewedWorkedOnAcceptedAndEvaluated(t *testing.T) {
	w := newWorld(t)
	w.merchant("m_a", true)
	w1 := w.worker(1, []string{"m_a"}, nil)
	w2 := w.worker(2, []string{"m_a"}, nil)

	id := w.draft("m_a", "1000.00", 2)
	if got := w.task(id); got.Status != Draft || got.MerchantName != "某某公司 m_a" {
		t.Fatalf("draft: %+v", got)
	}
	w.Refused(CmdApply, Step{Task: id, Worker: w1, By: "acct-" + w1}, "task_status")

	// The risk rule gave reasons: a person reviews.
	reasons := []string{"the budget of 1000.00 yuan is above 500.00 yuan"}
	w.Must(w.Send(CmdPublish, Publication{ID: id, By: "acct-m_a", Risk: decided(policy.Hold, "task.budget", reasons[0])}))
	if got := w.task(id); got.Status != PendingReview || got.Review.Decision != "" || got.Review.Reasons[0] != reasons[0] || got.Review.Risk.Rule != "task.budget" {
		t.Fatalf("published: %+v %+v", got, got.Review)
	}
	w.Refused(CmdApply, Step{Task: id, Worker: w1, By: "acct-" + w1}, "task_status")
	w.Refused(CmdReview, Decision{ID: id, By: "reviewer", Decision: Approve}, "invalid_request")
	w.Must(w.Send(CmdReview, Decision{ID: id, By: "reviewer", Decision: Approve, Reason: "预算与行业相符"}))
	if got := w.task(id); got.Status != Open || got.Review.By != "reviewer" || got.Review.Decision != Approve {
		t.Fatalf("approved: %+v", got.Review)
	}
	w.Refused(CmdReview, Decision{ID: id, By: "reviewer", Decision: Reject, Reason: "again"}, "task_status")

	// Worker 1 applies and is accepted; worker 2 is assigned directly.
	w.Must(w.Send(CmdApply, Step{Task: id, Worker: w1, By: "acct-" + w1, Note: "有叉车证"}))
	w.Refused(CmdApply, Step{Task: id, Worker: w1, By: "acct-" + w1}, "work_status")
	w.Refused(CmdAssign, Step{Task: id, Worker: w2, By: "acct-m_a", Application: true}, "not_found")
	w.Must(w.Send(CmdAssign, Step{Task: id, Worker: w1, By: "acct-m_a", Application: true}))
	w.Refused(CmdAssign, Step{Task: id, Worker: w1, By: "acct-m_a", Application: true}, "work_status")
	w.Must(w.Send(CmdAssign, Step{Task: id, Worker: w2, By: "acct-m_a"}))
	if got := w.task(id); got.Assigned != 2 {
		t.Fatalf("assigned %d", got.Assigned)
	}

	// Proof, a rejection, more proof, acceptance.
	w.Refused(CmdAccept, Step{Task: id, Worker: w1, By: "acct-m_a"}, "work_status")
	w.Must(w.file(id, w1, "m_a", "doc-1"))
	if got := w.work(id, w1); got.Status != Submitted || len(got.Proof) != 1 || got.Proof[0].Uploaded.IsZero() {
		t.Fatalf("submitted: %+v", got)
	}
	w.Refused(CmdReject, Step{Task: id, Worker: w1, By: "acct-m_a"}, "invalid_request")
	w.Must(w.Send(CmdReject, Step{Task: id, Worker: w1, By: "acct-m_a", Reason: "缺少签收单"}))
	if got := w.work(id, w1); got.Status != WorkRejected {
		t.Fatalf("rejected: %+v", got)
	}
	w.Refused(CmdEvaluate, Evaluated{Task: id, Worker: w1, Side: SideMerchant, By: "acct-m_a", Stars: 5}, "work_status")
	w.Must(w.file(id, w1, "m_a", "doc-2"))
	w.Refused(CmdAccept, Step{Task: id, Worker: w1, By: "acct-m_a", Amount: "500.01"}, "amount_over_share")
	w.Refused(CmdAccept, Step{Task: id, Worker: w1, By: "acct-m_a", Amount: "0.00"}, "amount_invalid")
	w.Refused(CmdAccept, Step{Task: id, Worker: w1, By: "acct-m_a", Amount: "-5"}, "amount_invalid")
	w.Refused(CmdAccept, Step{Task: id, Worker: w1, By: "acct-m_a", Amount: "12.345"}, "amount_invalid")
	w.Must(w.Send(CmdAccept, Step{Task: id, Worker: w1, By: "acct-m_a", Amount: "480.5"}))
	if got := w.work(id, w1); got.Status != Accepted || got.Amount != "480.50" || got.Accepted.IsZero() || got.AcceptedBy != "acct-m_a" {
		t.Fatalf("accepted: %+v", got)
	}
	if got := w.task(id); got.Status != Open || got.Accepted != 1 {
		t.Fatalf("one of two accepted: %+v", got)
	}
	w.Must(w.file(id, w2, "m_a", "doc-3"))
	w.Must(w.Send(CmdAccept, Step{Task: id, Worker: w2, By: "acct-m_a"}))
	if got := w.work(id, w2); got.Amount != "500.00" {
		t.Fatalf("the default amount is the share: %+v", got)
	}
	if got := w.task(id); got.Status != Completed || got.Accepted != 2 {
		t.Fatalf("completed: %+v", got)
	}
	w.Refused(CmdCancel, Decision{ID: id, By: "acct-m_a", Reason: "不需要了"}, "task_status")

	// Both sides evaluate, once each.
	w.Must(w.Send(CmdEvaluate, Evaluated{Task: id, Worker: w1, Side: SideMerchant, By: "acct-m_a", Stars: 4, Comment: "按时完成"}))
	w.Must(w.Send(CmdEvaluate, Evaluated{Task: id, Worker: w1, Side: SideWorker, By: "acct-" + w1, Stars: 5}))
	w.Refused(CmdEvaluate, Evaluated{Task: id, Worker: w1, Side: SideWorker, By: "acct-" + w1, Stars: 1}, "already_evaluated")
	w.Refused(CmdEvaluate, Evaluated{Task: id, Worker: w2, Side: SideWorker, By: "acct-" + w2, Stars: 6}, "invalid_request")
	if got := w.work(id, w1); got.ByMerchant.Stars != 4 || got.ByWorker.Stars != 5 || got.ByMerchant.At.IsZero() {
		t.Fatalf("evaluations: %+v %+v", got.ByMerchant, got.ByWorker)
	}
}

func TestATaskTheRuleLetsThroughOpensApprovedByThePolicy(t *testing.T) {
	w := newWorld(t)
	w.merchant("m_a", true)
	id := w.open("m_a", "300", 1)
	got := w.task(id)
	if got.Status != Open || got.Review.By != ByPolicy || got.Review.Decision != Approve || got.Review.Rule != "1" || got.Review.PolicyVersion != "embedded" {
		t.Fatalf("published: %+v %+v", got, got.Review)
	}
	if n := len(got.History); n != 3 || got.History[2].By != ByPolicy {
		t.Fatalf("history: %+v", got.History)
	}
	w.Refused(CmdPublish, Publication{ID: id, By: "acct-m_a", PolicyVersion: "embedded", Risk: decided(policy.Allow, "", "")}, "task_status")
}

// A task the rules reject is refused for good by the policy, its reason on
// record and told to whoever wrote it; a publication without a decision is
// refused.
func TestATaskTheRulesRejectIsRefusedByThePolicy(t *testing.T) {
	w := newWorld(t)
	w.merchant("m_a", true)
	id := w.draft("m_a", "300", 1)
	w.Refused(CmdPublish, Publication{ID: id, By: "acct-m_a", PolicyVersion: "embedded"}, "invalid_request")
	w.Must(w.Send(CmdPublish, Publication{ID: id, By: "acct-m_a", PolicyVersion: "embedded",
		Risk: decided(policy.Reject, "lists.merchant", "merchant m_a is on the platform's blacklist")}))
	got := w.task(id)
	if got.Status != Rejected || got.Review.By != ByPolicy || got.Review.Decision != Reject || got.Review.Reason != "merchant m_a is on the platform's blacklist" ||
		got.Review.Risk == nil || got.Review.Risk.InputSM3 != "ab" {
		t.Fatalf("rejected: %+v %+v", got, got.Review)
	}
	w.Refused(CmdReview, Decision{ID: id, By: "reviewer", Decision: Approve, Reason: "还是批准"}, "task_status")
}

func TestWhatATaskStepRefuses(t *testing.T) {
	w := newWorld(t)
	w.merchant("m_a", true)
	w.merchant("m_b", true)
	w.merchant("m_pending", false)
	mine := w.worker(1, []string{"m_a"}, nil)
	invitedOnly := w.worker(2, nil, []string{"m_a"})
	others := w.worker(3, []string{"m_b"}, nil)

	bad := func(f func(*Creation)) Creation {
		c := w.creation("t_bad", "m_a", "100.00", 1)
		f(&c)
		return c
	}
	w.Refused(CmdCreate, w.creation("t_x", "m_pending", "100.00", 1), "merchant_status")
	w.Refused(CmdCreate, w.creation("t_x", "m_none", "100.00", 1), "not_found")
	w.Refused(CmdCreate, bad(func(c *Creation) { c.Budget = "0" }), "amount_invalid")
	w.Refused(CmdCreate, bad(func(c *Creation) { c.Budget = "1.001" }), "amount_invalid")
	w.Refused(CmdCreate, bad(func(c *Creation) { c.Category = "astrology" }), "invalid_request")
	w.Refused(CmdCreate, bad(func(c *Creation) { c.Headcount = 0 }), "invalid_request")
	w.Refused(CmdCreate, bad(func(c *Creation) { c.Period = Period{Start: "2026-03-02", End: "2026-03-01"} }), "invalid_request")
	w.Refused(CmdCreate, bad(func(c *Creation) { c.Title = "" }), "invalid_request")

	id := w.open("m_a", "100.00", 1)
	w.Refused(CmdCreate, w.creation(id, "m_a", "100.00", 1), "conflict")
	w.Refused(CmdApply, Step{Task: id, Worker: invitedOnly, By: "acct-" + invitedOnly}, "not_found")
	w.Refused(CmdApply, Step{Task: id, Worker: others, By: "acct-" + others}, "not_found")
	w.Refused(CmdAssign, Step{Task: id, Worker: others, By: "acct-m_a"}, "not_found")
	w.Refused(CmdAssign, Step{Task: id, Worker: "w_none", By: "acct-m_a"}, "not_found")
	w.Refused(CmdProof, Filed{Task: id, Worker: mine, Doc: ProofRef{ID: "d", SM3: "00", By: "x"}}, "invalid_request")
	if res := w.file(id, mine, "m_a", "doc-early"); statetest.Code(res.Err) != "not_found" {
		t.Errorf("proof before any work: %v", res.Err)
	}
	w.Must(w.Send(CmdAssign, Step{Task: id, Worker: mine, By: "acct-m_a"}))
	w.keys["m_a"]++ // not the merchant's key
	if res := w.file(id, mine, "m_a", "doc-wrong-key"); statetest.Code(res.Err) != "subject_key_mismatch" {
		t.Errorf("proof sealed under another key: %v", res.Err)
	}
	w.keys["m_a"]--
	w.Must(w.file(id, mine, "m_a", "doc-1"))
	if res := w.file(id, mine, "m_a", "doc-1"); statetest.Code(res.Err) != "conflict" {
		t.Errorf("the same document twice: %v", res.Err)
	}
	w.Refused(CmdApply, Step{Task: id, Worker: mine, By: "acct-" + mine}, "work_status")

	// A full task takes no application.
	full := w.open("m_a", "100.00", 1)
	w.Must(w.Send(CmdAssign, Step{Task: full, Worker: mine, By: "acct-m_a"}))
	w2 := w.worker(4, []string{"m_a"}, nil)
	w.Refused(CmdApply, Step{Task: full, Worker: w2, By: "acct-" + w2}, "task_full")
	w.Refused(CmdAssign, Step{Task: full, Worker: w2, By: "acct-m_a"}, "task_full")
	w.Refused(CmdReview, Decision{ID: full, By: "reviewer", Decision: Approve, Reason: "ok"}, "task_status")
	w.Refused(CmdReview, Decision{ID: full, By: "reviewer", Decision: "maybe", Reason: "ok"}, "invalid_request")
}

func TestCancellingATaskEndsItsOpenWork(t *testing.T) {
	w := newWorld(t)
	w.merchant("m_a", true)
	w1 := w.worker(1, []string{"m_a"}, nil)
	w2 := w.worker(2, []string{"m_a"}, nil)
	id := w.open("m_a", "100.00", 2)
	w.Must(w.Send(CmdApply, Step{Task: id, Worker: w1, By: "acct-" + w1}))
	w.Must(w.Send(CmdAssign, Step{Task: id, Worker: w2, By: "acct-m_a"}))
	w.Refused(CmdCancel, Decision{ID: id, By: "acct-m_a"}, "invalid_request")
	w.Must(w.Send(CmdCancel, Decision{ID: id, By: "acct-m_a", Reason: "项目取消"}))
	if got := w.task(id); got.Status != Cancelled || got.Assigned != 0 {
		t.Fatalf("cancelled: %+v", got)
	}
	for _, wk := range []string{w1, w2} {
		if got := w.work(id, wk); got.Status != WorkCancelled || got.History[len(got.History)-1].Reason != "项目取消" {
			t.Fatalf("%s's work: %+v", wk, got)
		}
	}
	w.Refused(CmdCancel, Decision{ID: id, By: "acct-m_a", Reason: "again"}, "task_status")
	w.Refused(CmdAssign, Step{Task: id, Worker: w1, By: "acct-m_a", Application: true}, "task_status")
	if res := w.file(id, w2, "m_a", "doc-late"); statetest.Code(res.Err) != "task_status" {
		t.Fatalf("proof for a cancelled task: %v", res.Err)
	}
	// A draft is cancelled too; a rejected task is not.
	w.Must(w.Send(CmdCancel, Decision{ID: w.draft("m_a", "1.00", 1), By: "acct-m_a", Reason: "写错了"}))
	rej := w.draft("m_a", "1.00", 1)
	w.Must(w.Send(CmdPublish, Publication{ID: rej, By: "acct-m_a", Risk: decided(policy.Hold, "task.category", "r")}))
	w.Must(w.Send(CmdReview, Decision{ID: rej, By: "reviewer", Decision: Reject, Reason: "类目不符"}))
	w.Refused(CmdCancel, Decision{ID: rej, By: "acct-m_a", Reason: "x"}, "task_status")
}

// Racing assignments are decided one by one: whichever way the log batches
// them, no more workers than the headcount are taken on.
func TestRacingAssignmentsNeverExceedTheHeadcount(t *testing.T) {
	w := newWorld(t)
	w.merchant("m_a", true)
	var ws []string
	for i := range 6 {
		ws = append(ws, w.worker(10+i, []string{"m_a"}, nil))
	}
	for _, headcount := range []int{1, 2, 5} {
		id := w.open("m_a", "1000.00", headcount)
		for _, wk := range ws[:3] {
			w.Must(w.Send(CmdApply, Step{Task: id, Worker: wk, By: "acct-" + wk}))
		}
		// One entry: three acceptances of applications and three direct
		// assignments, each seeing the writes of those before it.
		var cmds []*state.Command
		for i, wk := range ws {
			cmds = append(cmds, state.NewCommand(CmdAssign, mustJSON(Step{Task: id, Worker: wk, By: "acct-m_a", Application: i < 3}), time.Now()))
		}
		ok, full := 0, 0
		for _, res := range w.ApplyEntry(cmds...) {
			switch statetest.Code(res.Err) {
			case "":
				ok++
			case "task_full":
				full++
			default:
				t.Errorf("headcount %d: refused %v", headcount, res.Err)
			}
		}
		if want := min(headcount, len(ws)); ok != want || full != len(ws)-want {
			t.Errorf("headcount %d: %d assigned, %d full", headcount, ok, full)
		}
		holding := 0
		w.State.View(func(tx *state.ReadTx) error {
			return tx.ForEach(WorkBucket, func(_, v []byte) error {
				wk, err := decodeWork(v)
				if err == nil && wk.Task == id && wk.Status.holdsSlot() {
					holding++
				}
				return err
			})
		})
		if got := w.task(id); got.Assigned != ok || holding != ok {
			t.Errorf("headcount %d: the task counts %d, %d works hold a slot, %d were assigned", headcount, got.Assigned, holding, ok)
		}
	}
}

func TestPayableNamesOnlyTheMerchantsTaskWithTheWorkersAcceptedWork(t *testing.T) {
	w := newWorld(t)
	w.merchant("m_a", true)
	w.merchant("m_b", true)
	w1 := w.worker(1, []string{"m_a", "m_b"}, nil)
	w2 := w.worker(2, []string{"m_a"}, nil)
	id := w.open("m_a", "800.00", 2)
	w.Must(w.Send(CmdAssign, Step{Task: id, Worker: w1, By: "acct-m_a"}))
	w.Must(w.Send(CmdAssign, Step{Task: id, Worker: w2, By: "acct-m_a"}))
	w.Must(w.file(id, w1, "m_a", "doc-1"))
	w.Must(w.Send(CmdAccept, Step{Task: id, Worker: w1, By: "acct-m_a", Amount: "350"}))
	w.Must(w.file(id, w2, "m_a", "doc-2"))

	payable := func(task, merchant, worker string) (*Task, *Work, string) {
		var tk *Task
		var wk *Work
		var code string
		w.State.View(func(tx *state.ReadTx) error {
			var err error
			tk, wk, err = Payable(tx, task, merchant, worker)
			if rej, ok := err.(*state.Rejection); ok {
				code = rej.Code
			} else if err != nil {
				code = err.Error()
			}
			return nil
		})
		return tk, wk, code
	}
	if tk, wk, code := payable(id, "m_a", w1); code != "" || tk.ID != id || wk.Status != Accepted || wk.Amount != "350.00" || wk.Accepted.IsZero() {
		t.Fatalf("payable: %+v %+v %s", tk, wk, code)
	}
	for _, c := range []struct{ task, merchant, worker, code string }{
		{id, "m_b", w1, "task_not_found"},       // another merchant's task
		{"t_none", "m_a", w1, "task_not_found"}, // no such task
		{id, "m_a", w2, "task_not_accepted"},    // submitted, not accepted
		{id, "m_a", "w_none", "task_not_accepted"},
	} {
		if _, _, code := payable(c.task, c.merchant, c.worker); code != c.code {
			t.Errorf("%+v: %s", c, code)
		}
		// AcceptedAmount, which payouts call, refuses alike.
		w.State.View(func(tx *state.ReadTx) error {
			amount, err := AcceptedAmount(tx, c.task, c.merchant, c.worker)
			if rej, ok := err.(*state.Rejection); !ok || rej.Code != c.code || amount != "" {
				t.Errorf("AcceptedAmount %+v: %q %v", c, amount, err)
			}
			return nil
		})
	}
	w.State.View(func(tx *state.ReadTx) error {
		if amount, err := AcceptedAmount(tx, id, "m_a", w1); err != nil || amount != "350.00" {
			t.Errorf("AcceptedAmount: %q %v", amount, err)
		}
		return nil
	})
}
