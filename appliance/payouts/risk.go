package payouts

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"cxt/appliance/api"
	"cxt/appliance/errs"
	"cxt/appliance/merchants"
	"cxt/crypto/sm"
	"cxt/policy"
	"cxt/storage/state"
)

// From command set state.RiskSet on, a chunk's rows are decided by the
// payout rules of the policy bundle stored in the state (policy/risk/
// payout.rego) — allow, hold for a person, or reject, naming the rule —
// through the residual compiled from OPA's partial evaluation, and in
// full for the rows it flags. Each payment records the decision with the
// bundle's version and digest and its canonical input, whose SM3 anyone
// can recompute, so that any decision can be replayed and explained.

// RiskBucket holds the counters the velocity and limit rules read:
// "w/<worker>/d/<yyyymmdd>" → the worker's day (fen, payments just under
// the per-payment limit, the merchants that paid), "w/<worker>/y/<yyyy>" →
// the worker's year in fen, "m/<merchant>/d/<yyyymmdd>" → the merchant's
// day in fen. They count what was booked, in the China calendar; a payment
// that later fails or returns still counts — the limits err on the side of
// caution.
const RiskBucket = "payout-risk"

// ReasonNoDecision holds a row the payout rules gave no decision on.
const ReasonNoDecision = "risk_no_decision"

// CodeRiskRules refuses a chunk proposed under payout rules that are no
// longer the stored ones: a bundle was activated in between. The driver
// proposes again under the new ones.
var CodeRiskRules = state.NewCode(state.KindConflict, "risk_rules_changed")

// Risk is a payment's risk decision as recorded.
type Risk struct {
	Outcome string // policy.Allow, Hold or Reject
	Rule    string // the rule that made it; "" when allowed
	Bundle  string // the bundle's version
	Digest  string // the bundle's SM3, hex
	Input   []byte // the canonical input (policy.PayoutRow.AppendJSON)
	// Cleared are the hold rules a platform reviewer looked at and let
	// pass for this payment (CmdRiskClear), by whom and why: when the row
	// is decided again, holds by these rules alone no longer hold it. A
	// reject is never cleared.
	Cleared   []string
	ClearedBy string
	ClearNote string
	// Clearable: the deciding rule is a hold a reviewer may clear.
	Clearable bool
}

// CmdRiskClear records a platform reviewer's clearance of the rule that
// holds a payment (from command set 6).
const CmdRiskClear = "payouts.risk_clear"

// RiskClear is the body of CmdRiskClear.
type RiskClear struct {
	Payment string `json:"payment"`
	By      string `json:"by"`
	Note    string `json:"note"`
}

// CodePaymentNotRiskHeld refuses a clearance of a payment that no risk
// rule holds.
var CodePaymentNotRiskHeld = state.NewCode(state.KindConflict, "payment_not_risk_held")

func riskClear(tx *state.Tx, cmd *state.Command) ([]byte, error) {
	var in RiskClear
	if err := json.Unmarshal(cmd.Body, &in); err != nil || in.Payment == "" || in.By == "" {
		return nil, state.Reject(state.InvalidRequest, "a clearance names its payment and who clears it")
	}
	if in.Note == "" || len(in.Note) > 2000 {
		return nil, state.Reject(state.InvalidRequest, "a clearance says why, in at most 2,000 bytes")
	}
	p, err := GetPayment(tx, in.Payment)
	if err != nil {
		return nil, err
	}
	if p.Status != OnHold || p.Risk == nil || p.Risk.Outcome != policy.Hold {
		return nil, state.Reject(CodePaymentNotRiskHeld, "payment %s is %s, not held by a risk rule", p.ID, p.Status)
	}
	if !p.Risk.Clearable {
		return nil, state.Reject(CodePaymentNotRiskHeld, "payment %s is held by %s, which waits for a fact to change (%s), not for a reviewer", p.ID, p.Risk.Rule, p.Code)
	}
	if !slices.Contains(p.Risk.Cleared, p.Risk.Rule) {
		p.Risk.Cleared = append(p.Risk.Cleared, p.Risk.Rule)
		slices.Sort(p.Risk.Cleared)
	}
	p.Risk.ClearedBy, p.Risk.ClearNote, p.Updated = in.By, in.Note, tx.Time()
	if err := putPayment(tx, p); err != nil {
		return nil, err
	}
	return json.Marshal(map[string]any{"payment": p.ID, "batch": p.Batch, "cleared": p.Risk.Cleared})
}

// cleared reports whether every hit of d is a hold by a rule in rules.
func cleared(d policy.RiskDecision, rules []string) bool {
	if d.Outcome != policy.Hold || len(rules) == 0 {
		return false
	}
	for _, h := range d.Hits {
		if h.Outcome != policy.Hold || !h.Clearable || !slices.Contains(rules, h.Rule) {
			return false
		}
	}
	return len(d.Hits) > 0
}

// riskDay is a worker's day as the rules count it.
type riskDay struct {
	fen, near int64
	merchants []string // sorted
}

func (d *riskDay) pack() []byte {
	b := binary.AppendVarint(nil, d.fen)
	b = binary.AppendVarint(b, d.near)
	b = binary.AppendUvarint(b, uint64(len(d.merchants)))
	for _, m := range d.merchants {
		b = binary.AppendUvarint(b, uint64(len(m)))
		b = append(b, m...)
	}
	return b
}

func unpackRiskDay(v []byte) (*riskDay, error) {
	u := unpacker{b: v}
	d := &riskDay{fen: u.int(), near: u.int()}
	n := u.uint()
	for i := uint64(0); i < n && u.err == nil; i++ {
		d.merchants = append(d.merchants, u.str())
	}
	if u.err != nil || len(u.b) != 0 {
		return nil, fmt.Errorf("payouts: a risk day does not unpack")
	}
	return d, nil
}

// riskCounters are the counters a command reads and writes, kept in memory
// and written when it finishes.
type riskCounters struct {
	days  map[string]*riskDay // by key
	fens  map[string]int64    // year and merchant-day totals, by key
	dirty map[string]bool
}

func (c *riskCounters) day(tx Getter, key string) (*riskDay, error) {
	if d, ok := c.days[key]; ok {
		return d, nil
	}
	v, err := tx.Get(RiskBucket, []byte(key))
	if err != nil {
		return nil, err
	}
	d := &riskDay{}
	if v != nil {
		if d, err = unpackRiskDay(v); err != nil {
			return nil, err
		}
	}
	c.days[key] = d
	return d, nil
}

func (c *riskCounters) fen(tx Getter, key string) (int64, error) {
	if f, ok := c.fens[key]; ok {
		return f, nil
	}
	v, err := tx.Get(RiskBucket, []byte(key))
	if err != nil {
		return 0, err
	}
	var f int64
	if v != nil {
		var n int
		if f, n = binary.Varint(v); n <= 0 || n != len(v) {
			return 0, fmt.Errorf("payouts: risk counter %s does not unpack", key)
		}
	}
	c.fens[key] = f
	return f, nil
}

func (c *riskCounters) save(tx *state.Tx) error {
	keys := make([]string, 0, len(c.dirty))
	for k := range c.dirty {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		var v []byte
		if d, ok := c.days[k]; ok {
			v = d.pack()
		} else {
			v = binary.AppendVarint(nil, c.fens[k])
		}
		if err := tx.Put(RiskBucket, []byte(k), v); err != nil {
			return err
		}
	}
	return nil
}

// riskRun is what a run decides under when the payout rules decide.
type riskRun struct {
	rules    *policy.PayoutRules
	grade    string
	nearFen  int64 // a payment at or above this is "just under the limit" (0: none)
	limitFen int64 // the per-payment limit
	counters riskCounters
	day      string // yyyymmdd in China
	year     string
}

// openRisk loads the stored payout rules for a command proposed under
// want (a digest), or refuses it.
func openRisk(tx *state.Tx, want string, m *merchants.Merchant, r *run) (*riskRun, error) {
	if ok, err := tx.Speaks(state.RiskSet); err != nil {
		return nil, err
	} else if !ok {
		return nil, state.Reject(state.Unavailable, "payout rules decide rows from command set %d on; the cluster speaks less", state.RiskSet)
	}
	rules, err := policy.StoredPayout(context.Background(), tx)
	if err != nil {
		return nil, err
	}
	if rules == nil || rules.Digest != want {
		have := "none"
		if rules != nil {
			have = rules.Version + " (" + rules.Digest[:16] + ")"
		}
		return nil, state.Reject(CodeRiskRules, "the chunk was proposed under payout rules %.16s; the state holds %s: propose it again", want, have)
	}
	cn := r.now.In(China)
	rr := &riskRun{rules: rules, day: cn.Format("20060102"), year: cn.Format("2006"),
		counters: riskCounters{days: map[string]*riskDay{}, fens: map[string]int64{}, dirty: map[string]bool{}}}
	// A grade the stored rules cannot give (a bundle without the rating
	// rules, say) is "": the payout rules hold such a merchant's rows for
	// a person, on every replica alike, rather than stop the state machine.
	if rr.grade, err = merchants.GradeOf(tx, m.ID, r.now); err != nil {
		rr.grade = ""
	}
	rr.limitFen, rr.nearFen = rules.NearLimit()
	return rr, nil
}

// decideRisk builds p's row and decides it. verified and signed are the
// payee's identity state; month is the worker's month before p.
func (r *run) decideRisk(p *Payment, pe payeeOf, month, budget int64, task bool, accepted bool) (policy.RiskDecision, error) {
	rr := r.risk
	wd, err := rr.counters.day(r.tx, "w/"+p.Worker+"/d/"+rr.day)
	if err != nil {
		return policy.RiskDecision{}, err
	}
	year, err := rr.counters.fen(r.tx, "w/"+p.Worker+"/y/"+rr.year)
	if err != nil {
		return policy.RiskDecision{}, err
	}
	mday, err := rr.counters.fen(r.tx, "m/"+p.Merchant+"/d/"+rr.day)
	if err != nil {
		return policy.RiskDecision{}, err
	}
	merchantsToday := int64(len(wd.merchants))
	if _, found := slices.BinarySearch(wd.merchants, p.Merchant); !found {
		merchantsToday++
	}
	row := policy.PayoutRow{
		AmountFen: p.AmountFen,
		Merchant:  policy.RowMerchant{ID: p.Merchant, Status: string(r.merchant.Status), Grade: rr.grade, DayFen: mday},
		Worker: policy.RowWorker{ID: p.Worker, IDBI: pe.idIndex, CardBI: pe.cardIndex, DeviceBI: pe.deviceIndex,
			Verified: pe.verified, Signed: pe.agreement != "", Blacklisted: pe.blocked != "", Officer: pe.officer,
			DayFen: wd.fen, MonthFen: month, YearFen: year, DayMerchants: merchantsToday, DayNear: wd.near},
		Task: policy.RowTask{Present: task, Accepted: accepted, BudgetFen: budget},
	}
	d, err := rr.rules.DecideRow(context.Background(), &row)
	if err != nil {
		// Rules that give no decision or fail on a row fail alike on every
		// replica (the same bundle, no clock, no randomness): the row waits
		// for a person rather than stopping the state machine. The reason
		// is fixed text: an evaluator's error message is not part of the
		// replicated outcome.
		d = policy.RiskDecision{Outcome: policy.Hold, Rule: "no_decision", Code: ReasonNoDecision,
			Reason: "the payout rules of bundle " + rr.rules.Version + " gave no decision on this row; GET /api/v1/payments/{id}/risk replays it"}
	}
	k := &Risk{Outcome: d.Outcome, Rule: d.Rule, Bundle: rr.rules.Version, Digest: rr.rules.Digest, Input: row.AppendJSON(nil), Clearable: d.Clearable}
	if prev := p.Risk; prev != nil && len(prev.Cleared) > 0 {
		k.Cleared, k.ClearedBy, k.ClearNote = prev.Cleared, prev.ClearedBy, prev.ClearNote
		if cleared(d, prev.Cleared) {
			d = policy.RiskDecision{Outcome: policy.Allow, Hits: d.Hits}
			k.Outcome, k.Rule = policy.Allow, ""
		}
	}
	p.Risk = k
	return d, nil
}

// countRisk adds a booked payment to the counters.
func (r *run) countRisk(p *Payment) error {
	rr := r.risk
	dk := "w/" + p.Worker + "/d/" + rr.day
	wd, err := rr.counters.day(r.tx, dk)
	if err != nil {
		return err
	}
	wd.fen += p.AmountFen
	if rr.nearFen > 0 && p.AmountFen >= rr.nearFen && p.AmountFen <= rr.limitFen {
		wd.near++
	}
	if i, found := slices.BinarySearch(wd.merchants, p.Merchant); !found {
		wd.merchants = slices.Insert(wd.merchants, i, p.Merchant)
	}
	rr.counters.dirty[dk] = true
	for _, k := range []string{"w/" + p.Worker + "/y/" + rr.year, "m/" + p.Merchant + "/d/" + rr.day} {
		f, err := rr.counters.fen(r.tx, k)
		if err != nil {
			return err
		}
		rr.counters.fens[k] = f + p.AmountFen
		rr.counters.dirty[k] = true
	}
	return nil
}

// view is the decision as a payment shows it to its parties: the outcome,
// the rule and the bundle, and the input's SM3 — not the input, which
// holds blind indexes only platform staff see (explain).
func (k *Risk) view() map[string]any {
	sum := sm.Sum(k.Input)
	out := map[string]any{"outcome": k.Outcome, "rule": k.Rule, "bundle": k.Bundle, "bundle_sm3": k.Digest,
		"input_sm3": hex.EncodeToString(sum[:])}
	if len(k.Cleared) > 0 {
		out["cleared"], out["cleared_by"], out["clear_note"] = k.Cleared, k.ClearedBy, k.ClearNote
	}
	return out
}

// clearRisk answers POST /api/v1/payments/{payment}/risk/clear: a platform
// reviewer lets the rule that holds a payment pass for it, with a note, and
// the payment's batch runs its held rows again — the payment is paid if no
// other rule, and the balance, hold it.
func (b *Backend) clearRisk(r *api.Request) (int, any, error) {
	var in struct {
		Note string `json:"note"`
	}
	if err := r.Decode(&in); err != nil {
		return 0, nil, err
	}
	r.Audit.Object = r.Var("payment")
	v, err := r.Propose(state.NewCommand(CmdRiskClear, mustJSON(RiskClear{Payment: r.Var("payment"), By: r.Subject.ID, Note: in.Note}), r.Now()))
	if err != nil {
		return 0, nil, err
	}
	var done struct {
		Batch string `json:"batch"`
	}
	if err := json.Unmarshal(v, &done); err != nil {
		return 0, nil, err
	}
	rel := Release{Batch: done.Batch}
	if b.Limits != nil {
		if rel.Limits, err = b.Limits(r.Ctx); err != nil {
			return 0, nil, err
		}
	}
	if _, err := r.Propose(state.NewCommand(CmdRelease, mustJSON(rel), r.Now())); err != nil {
		return 0, nil, err
	}
	if b.Kick != nil {
		b.Kick()
	}
	var p *Payment
	if err := r.View(func(tx *state.ReadTx) (err error) { p, err = GetPayment(tx, r.Var("payment")); return }); err != nil {
		return 0, nil, err
	}
	return 200, p.View(), nil
}

// explainRisk answers GET /api/v1/payments/{payment}/risk: the decision as
// recorded — the outcome, the rule, the bundle, the canonical input and
// its SM3 — and the same input decided again by the bundle stored now,
// with whether the two agree. A payment decided before command set 6 has
// no decision to explain.
func (b *Backend) explainRisk(r *api.Request) (int, any, error) {
	var p *Payment
	var now *policy.PayoutRules
	err := r.View(func(tx *state.ReadTx) (err error) {
		if p, err = GetPayment(tx, r.Var("payment")); err != nil {
			return err
		}
		now, err = policy.StoredPayout(r.Ctx, tx)
		return err
	})
	if err != nil {
		return 0, nil, err
	}
	if p.Risk == nil {
		return 0, nil, errs.Coded("explain risk", errs.NotExist, "risk_not_decided", "payment %s was decided before the payout rules decided rows (command set %d): its code and reason are all there is", p.ID, state.RiskSet)
	}
	var input any
	if err := json.Unmarshal(p.Risk.Input, &input); err != nil {
		return 0, nil, fmt.Errorf("payouts: payment %s: its risk input: %w", p.ID, err)
	}
	out := p.Risk.view()
	out["payment"], out["input"], out["code"], out["reason"] = p.ID, input, p.Code, p.Reason
	if p.Risk.Outcome == policy.Allow {
		out["code"], out["reason"] = "", ""
	}
	if now != nil {
		var row policy.PayoutRow
		if err := row.UnmarshalJSON(p.Risk.Input); err != nil {
			return 0, nil, fmt.Errorf("payouts: payment %s: its risk input: %w", p.ID, err)
		}
		d, err := now.DecideEach(r.Ctx, []policy.PayoutRow{row})
		replay := map[string]any{"bundle": now.Version, "bundle_sm3": now.Digest}
		if err != nil {
			replay["error"] = err.Error()
		} else {
			replay["decision"] = d[0]
			replay["same"] = d[0].Outcome == p.Risk.Outcome && d[0].Rule == p.Risk.Rule
		}
		out["replay"] = replay
	}
	return 200, out, nil
}

// RiskReplay is what a candidate bundle's payout rules would decide
// differently on the recorded inputs of recent payments: the preview of a
// policy change (docs/risk.md).
type RiskReplay struct {
	Since    time.Time      `json:"since"`
	Replayed int            `json:"replayed"` // payments with a recorded input since Since
	Changed  int            `json:"changed"`
	ByChange map[string]int `json:"by_change"` // "allow→hold" → count
	Examples []string       `json:"examples,omitempty"`
	Capped   bool           `json:"capped,omitempty"` // more than max payments: the first max replayed
}

// ReplayRisk decides the recorded inputs of payments made since since
// again by rules, at most max of them, and counts the outcomes that change.
// A decision that changes only its rule is counted too ("hold→hold").
func ReplayRisk(ctx context.Context, r *state.ReadTx, rules *policy.PayoutRules, since time.Time, max int) (*RiskReplay, error) {
	out := &RiskReplay{Since: since, ByChange: map[string]int{}}
	err := r.ForEach(PaymentBucket, func(_, v []byte) error {
		p, err := unpackPayment(v)
		if err != nil {
			return err
		}
		if p.Risk == nil || p.Created.Before(since) {
			return nil
		}
		if out.Replayed == max {
			out.Capped = true
			return nil
		}
		var row policy.PayoutRow
		if err := row.UnmarshalJSON(p.Risk.Input); err != nil {
			return fmt.Errorf("payouts: payment %s: %w", p.ID, err)
		}
		d, err := rules.DecideRow(ctx, &row)
		if err != nil {
			d = policy.RiskDecision{Outcome: policy.Hold, Rule: "no_decision"}
		}
		out.Replayed++
		// A payment a reviewer cleared was allowed: the candidate agrees if it
		// holds it only by the rules cleared.
		was := p.Risk.Outcome
		if was == policy.Allow && cleared(d, p.Risk.Cleared) {
			d = policy.RiskDecision{Outcome: policy.Allow}
		}
		if d.Outcome != was || d.Rule != p.Risk.Rule {
			out.Changed++
			out.ByChange[was+"→"+d.Outcome]++
			if len(out.Examples) < 10 {
				out.Examples = append(out.Examples, p.ID)
			}
		}
		return nil
	})
	return out, err
}
