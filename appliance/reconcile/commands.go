package reconcile

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"cxt/appliance/ledger"
	"cxt/appliance/merchants"
	"cxt/storage/state"
)

// Register adds the buckets and commands.
func Register(reg *state.Registry) {
	for _, b := range []string{StatementsBucket, KeysBucket, CasesBucket, AdjustmentsBucket, MetaBucket} {
		reg.Bucket(b)
	}
	reg.HandleFrom(state.FilingSet, CmdImport, importStatement)
	reg.HandleFrom(state.FilingSet, CmdFeeCheck, feeCheck)
	reg.HandleFrom(state.FilingSet, CmdCase, moveCase)
	reg.HandleFrom(state.FilingSet, CmdAdjustPropose, proposeAdjustment)
	reg.HandleFrom(state.FilingSet, CmdAdjustDecide, decideAdjustment)
}

// Import is the body of CmdImport: a statement and what its
// reconciliation found.
type Import struct {
	Channel     string       `json:"channel"`
	Day         Day          `json:"day"`
	Name        string       `json:"name,omitempty"`
	SM3         string       `json:"sm3"`
	Bytes       int          `json:"bytes"`
	Lines       int          `json:"lines"`
	TotalFen    int64        `json:"total_fen"`
	Expected    int          `json:"expected"`
	Matched     int          `json:"matched"`
	Differences []Difference `json:"differences"`
	By          string       `json:"by"`
}

// StatementID names a channel's statement of a day.
func StatementID(channel string, day Day) string { return fmt.Sprintf("rs-%s-%d", channel, day) }

func importStatement(tx *state.Tx, cmd *state.Command) ([]byte, error) {
	var in Import
	if err := json.Unmarshal(cmd.Body, &in); err != nil || in.Channel == "" || in.Day == 0 || in.SM3 == "" || in.By == "" {
		return nil, state.Reject(state.InvalidRequest, "an import names the channel, the day, the file's SM3 and who imports it")
	}
	if len(in.Differences) > MaxDifferences {
		return nil, state.Reject(CodeTooMany, "%d differences, more than %d: is it the statement of channel %s for %s?", len(in.Differences), MaxDifferences, in.Channel, in.Day)
	}
	if end := in.Day.End(); tx.Time().Before(end) {
		return nil, state.Reject(CodeDayOpen, "%s is not over in China: its statement is imported from %s on", in.Day, end.Format(time.RFC3339))
	}
	// A file is held to its SM3 only when it has lines: a quiet day's
	// statement (header and trailer) is the same bytes every day, and the
	// one statement per channel and day is all that keeps it once.
	sm3Key := []byte("sm3/" + in.SM3)
	if in.Lines > 0 {
		if id, err := tx.Get(KeysBucket, sm3Key); err != nil {
			return nil, err
		} else if id != nil {
			return nil, state.Reject(CodeStatementImported, "this file was imported already, as statement %s", id)
		}
	}
	dayKey := []byte(fmt.Sprintf("day/%s/%d", in.Channel, in.Day))
	if id, err := tx.Get(KeysBucket, dayKey); err != nil {
		return nil, err
	} else if id != nil {
		return nil, state.Reject(CodeDayImported, "channel %s's statement of %s was reconciled already (statement %s): work its cases", in.Channel, in.Day, id)
	}
	now := tx.Time()
	st := &Statement{ID: StatementID(in.Channel, in.Day), Channel: in.Channel, Day: in.Day, Name: in.Name, SM3: in.SM3, Bytes: in.Bytes,
		Lines: in.Lines, TotalFen: in.TotalFen, Expected: in.Expected, Matched: in.Matched, Classes: map[Class]int{}, Cases: []string{}, By: in.By, At: now}
	for _, d := range in.Differences {
		if !slices.Contains(Classes, d.Class) || d.Ref == "" {
			return nil, state.Reject(state.InvalidRequest, "a difference of class %q for %q is not one the reconciliation finds", d.Class, d.Ref)
		}
		c := &Case{Kind: KindChannel, Class: d.Class, Statement: st.ID, Channel: in.Channel, Day: in.Day, Difference: d}
		if err := openCase(tx, c, in.By, fmt.Sprintf("%s line %d", st.ID, d.Line)); err != nil {
			return nil, err
		}
		st.Classes[d.Class]++
		st.Cases = append(st.Cases, c.ID)
		if err := supersede(tx, c, in.By); err != nil {
			return nil, err
		}
	}
	if in.Lines > 0 {
		if err := tx.Put(KeysBucket, sm3Key, []byte(st.ID)); err != nil {
			return nil, err
		}
	}
	if err := tx.Put(KeysBucket, dayKey, []byte(st.ID)); err != nil {
		return nil, err
	}
	return putJSON(tx, StatementsBucket, []byte(st.ID), st)
}

// supersede keeps one case per difference across days. A payment missing
// from its day's statement (missing_channel) is remembered by its
// reference; when a later statement lists it on another day (a date
// difference), that is the one difference, and the missing case is closed
// naming the date case.
func supersede(tx *state.Tx, c *Case, by string) error {
	key := []byte("missing/" + c.Channel + "/" + c.Ref)
	switch c.Class {
	case MissingChannel:
		return tx.Put(KeysBucket, key, []byte(c.ID))
	case Date:
	default:
		return nil
	}
	id, err := tx.Get(KeysBucket, key)
	if err != nil || id == nil {
		return err
	}
	old, err := GetCase(tx, string(id))
	if err != nil || old.Final() || old.Adjustment != "" {
		return err
	}
	note := fmt.Sprintf("the channel listed it on %s: one difference, case %s (date)", c.Day, c.ID)
	old.History = append(old.History, CaseEvent{At: tx.Time(), By: by, Event: ActClose, From: old.Status, To: Closed, Note: note})
	old.Status, old.Explanation, old.Updated = Closed, note, tx.Time()
	_, err = putJSON(tx, CasesBucket, []byte(old.ID), old)
	return err
}

// openCase numbers a new case and stores it, open.
func openCase(tx *state.Tx, c *Case, by, note string) error {
	n, err := next(tx, "case")
	if err != nil {
		return err
	}
	now := tx.Time()
	c.ID, c.Status, c.Created, c.Updated = fmt.Sprintf("rc-%06d", n), Open, now, now
	c.History = []CaseEvent{{At: now, By: by, Event: "opened", To: Open, Note: note}}
	_, err = putJSON(tx, CasesBucket, []byte(c.ID), c)
	return err
}

// next gives the next number of a kind of record.
func next(tx *state.Tx, kind string) (uint64, error) {
	v, err := tx.Get(MetaBucket, []byte(kind))
	if err != nil {
		return 0, err
	}
	var n uint64
	if len(v) == 8 {
		n = binary.BigEndian.Uint64(v)
	}
	n++
	return n, tx.Put(MetaBucket, []byte(kind), binary.BigEndian.AppendUint64(nil, n))
}

// FeeCheck is the body of CmdFeeCheck.
type FeeCheck struct {
	Merchant    string          `json:"merchant,omitempty"` // "" for every merchant
	Period      string          `json:"period"`             // yyyy-mm
	Checked     int             `json:"checked"`
	Differences []FeeDifference `json:"differences"`
	By          string          `json:"by"`
}

// FeeCheckResult is what a fee check recorded.
type FeeCheckResult struct {
	Period  string   `json:"period"`
	Checked int      `json:"checked"`
	Found   int      `json:"found"`
	Opened  []string `json:"opened"`  // new cases
	Already []string `json:"already"` // cases opened by an earlier check
}

// feeCheck opens one case per payment whose fee differs, once: a payment
// with a fee case already keeps that one.
func feeCheck(tx *state.Tx, cmd *state.Command) ([]byte, error) {
	var in FeeCheck
	if err := json.Unmarshal(cmd.Body, &in); err != nil || in.By == "" {
		return nil, state.Reject(state.InvalidRequest, "a fee check names its period and who runs it")
	}
	if _, ok := ParsePeriod(in.Period); !ok {
		return nil, state.Reject(state.InvalidRequest, "period %q: yyyy-mm", in.Period)
	}
	if len(in.Differences) > MaxFeeDifferences {
		return nil, state.Reject(CodeTooMany, "%d fee differences, more than %d: check one merchant at a time", len(in.Differences), MaxFeeDifferences)
	}
	out := FeeCheckResult{Period: in.Period, Checked: in.Checked, Found: len(in.Differences), Opened: []string{}, Already: []string{}}
	for i := range in.Differences {
		d := in.Differences[i]
		key := []byte("fee/" + d.Payment)
		if id, err := tx.Get(KeysBucket, key); err != nil {
			return nil, err
		} else if id != nil {
			out.Already = append(out.Already, string(id))
			continue
		}
		c := &Case{Kind: KindFee, Class: FeeClass, Period: in.Period, Fee: &d,
			Difference: Difference{Class: FeeClass, Ref: d.Payment, Merchant: d.Merchant}}
		if err := openCase(tx, c, in.By, "fee check "+in.Period); err != nil {
			return nil, err
		}
		if err := tx.Put(KeysBucket, key, []byte(c.ID)); err != nil {
			return nil, err
		}
		out.Opened = append(out.Opened, c.ID)
	}
	return json.Marshal(out)
}

// CaseMove is the body of CmdCase.
type CaseMove struct {
	Case   string `json:"case"`
	Action string `json:"action"`
	Note   string `json:"note"`
	By     string `json:"by"`
}

// moveCase takes a case a step: investigate (open → investigating),
// resolve or close (open or investigating → resolved or closed, with an
// explanation). A case waiting on an adjustment is resolved by its
// decision, not by hand.
func moveCase(tx *state.Tx, cmd *state.Command) ([]byte, error) {
	var in CaseMove
	if err := json.Unmarshal(cmd.Body, &in); err != nil || in.Case == "" || in.By == "" {
		return nil, state.Reject(state.InvalidRequest, "a case step names the case and who takes it")
	}
	if utf8.RuneCountInString(in.Note) > maxText {
		return nil, state.Reject(state.InvalidRequest, "a note is at most %d characters", maxText)
	}
	c, err := GetCase(tx, in.Case)
	if err != nil {
		return nil, err
	}
	from := c.Status
	switch in.Action {
	case ActInvestigate:
		if c.Status != Open {
			return nil, state.Reject(CodeCaseStatus, "case %s is %s; only an open case is taken up", c.ID, c.Status)
		}
		c.Status = Investigating
	case ActResolve, ActClose:
		if c.Final() {
			return nil, state.Reject(CodeCaseStatus, "case %s is %s already", c.ID, c.Status)
		}
		if c.Adjustment != "" {
			return nil, state.Reject(CodeCaseStatus, "case %s waits for adjustment %s: approve or reject it first", c.ID, c.Adjustment)
		}
		if strings.TrimSpace(in.Note) == "" {
			return nil, state.Reject(state.InvalidRequest, "to %s a case without an adjustment, explain why", in.Action)
		}
		c.Status, c.Explanation = map[string]string{ActResolve: Resolved, ActClose: Closed}[in.Action], in.Note
	default:
		return nil, state.Reject(state.InvalidRequest, "action %q is not investigate, resolve or close", in.Action)
	}
	c.Updated = tx.Time()
	c.History = append(c.History, CaseEvent{At: c.Updated, By: in.By, Event: in.Action, From: from, To: c.Status, Note: in.Note})
	return putJSON(tx, CasesBucket, []byte(c.ID), c)
}

// Proposal is the body of CmdAdjustPropose.
type Proposal struct {
	Case   string        `json:"case"`
	Lines  []ledger.Line `json:"lines"`
	Reason string        `json:"reason"`
	By     string        `json:"by"`
}

// CheckLines refuses an adjustment's lines that the books cannot take: not
// 2 to 20 lines of positive amounts, debits unequal to credits
// (recon_adjustment_unbalanced), or an account that is not the ledger's or
// that an adjustment does not move — one whose balance is the detail of
// other records (ledger.NotAdjustable: the payments, the suspense items,
// the bank's statement): recon_adjustment_account. The cause of every
// line is adjustment. The proposal checks it, and the decision again.
func CheckLines(lines []ledger.Line) error {
	if len(lines) < 2 || len(lines) > maxAdjustLines {
		return state.Reject(CodeUnbalanced, "an adjustment has 2 to %d lines; it has %d", maxAdjustLines, len(lines))
	}
	var dr, cr int64
	for i, l := range lines {
		if err := ledger.Valid(l.Account); err != nil {
			return state.Reject(CodeAccount, "line %d: no account %q", i+1, l.Account)
		}
		if why := ledger.NotAdjustable(l.Account, l.Debit); why != "" {
			return state.Reject(CodeAccount, "line %d: %s cannot be %s by an adjustment: %s", i+1, l.Account, side(l.Debit), why)
		}
		if l.Fen <= 0 || l.Fen > ledger.MaxBalance {
			return state.Reject(state.InvalidRequest, "line %d: an amount above zero", i+1)
		}
		if l.Cause != ledger.CauseAdjustment {
			return state.Reject(state.InvalidRequest, "line %d: the cause of an adjustment's line is %s", i+1, ledger.CauseAdjustment)
		}
		if l.Debit {
			dr += l.Fen
		} else {
			cr += l.Fen
		}
	}
	if dr != cr {
		return state.Reject(CodeUnbalanced, "debits %s and credits %s differ by %s: an adjustment balances", ledger.Yuan(dr), ledger.Yuan(cr), ledger.Yuan(dr-cr))
	}
	return nil
}

func side(debit bool) string {
	if debit {
		return "debited"
	}
	return "credited"
}

func proposeAdjustment(tx *state.Tx, cmd *state.Command) ([]byte, error) {
	var in Proposal
	if err := json.Unmarshal(cmd.Body, &in); err != nil || in.Case == "" || in.By == "" {
		return nil, state.Reject(state.InvalidRequest, "an adjustment names the case it resolves and who proposes it")
	}
	if r := strings.TrimSpace(in.Reason); r == "" || utf8.RuneCountInString(r) > maxText {
		return nil, state.Reject(state.InvalidRequest, "an adjustment says why, in 1 to %d characters", maxText)
	}
	if err := CheckLines(in.Lines); err != nil {
		return nil, err
	}
	for _, l := range in.Lines {
		if m, ok := ledger.MerchantOf(l.Account); ok {
			if _, err := merchants.Get(tx, m); err != nil {
				return nil, err
			}
		}
	}
	c, err := GetCase(tx, in.Case)
	if err != nil {
		return nil, err
	}
	if c.Final() || c.Adjustment != "" {
		return nil, state.Reject(CodeCaseStatus, "case %s is %s%s: it takes no adjustment", c.ID, c.Status, map[bool]string{true: ", waiting for adjustment " + c.Adjustment}[c.Adjustment != ""])
	}
	n, err := next(tx, "adjustment")
	if err != nil {
		return nil, err
	}
	now := tx.Time()
	a := &Adjustment{ID: fmt.Sprintf("adj-%06d", n), Case: c.ID, Lines: in.Lines, Reason: in.Reason, Status: Proposed, By: in.By, Proposed: now}
	c.Adjustment, c.Updated = a.ID, now
	c.History = append(c.History, CaseEvent{At: now, By: in.By, Event: "adjustment_proposed", From: c.Status, To: c.Status, Note: in.Reason, Adjust: a.ID})
	if _, err := putJSON(tx, CasesBucket, []byte(c.ID), c); err != nil {
		return nil, err
	}
	return putJSON(tx, AdjustmentsBucket, []byte(a.ID), a)
}

// Decision is the body of CmdAdjustDecide.
type Decision struct {
	Adjustment string `json:"adjustment"`
	Approve    bool   `json:"approve"`
	Note       string `json:"note,omitempty"`
	By         string `json:"by"`
}

// decideAdjustment approves (one posting, the case resolved) or rejects
// (the case free for another proposal) an adjustment: once, never by its
// maker.
func decideAdjustment(tx *state.Tx, cmd *state.Command) ([]byte, error) {
	var in Decision
	if err := json.Unmarshal(cmd.Body, &in); err != nil || in.Adjustment == "" || in.By == "" {
		return nil, state.Reject(state.InvalidRequest, "a decision names the adjustment and who decides")
	}
	a, err := GetAdjustment(tx, in.Adjustment)
	if err != nil {
		return nil, err
	}
	if a.Status != Proposed {
		return nil, state.Reject(CodeAdjustmentStatus, "adjustment %s is %s already", a.ID, a.Status)
	}
	if a.By == in.By {
		return nil, state.Reject(CodeMakerChecker, "who proposed adjustment %s does not approve or reject it", a.ID)
	}
	if !in.Approve && strings.TrimSpace(in.Note) == "" {
		return nil, state.Reject(state.InvalidRequest, "to reject an adjustment, say why")
	}
	c, err := GetCase(tx, a.Case)
	if err != nil {
		return nil, err
	}
	now := tx.Time()
	a.DecidedBy, a.Decided, a.Note = in.By, now, in.Note
	from := c.Status
	c.Updated = now
	if in.Approve {
		if err := CheckLines(a.Lines); err != nil {
			return nil, err
		}
		p := &ledger.Posting{Event: EventAdjust, Ref: a.ID, Lines: a.Lines}
		if err := ledger.Post(tx, p); err != nil {
			return nil, err
		}
		a.Status, a.Posting = Approved, p.Seq
		c.Status = Resolved
		c.History = append(c.History, CaseEvent{At: now, By: in.By, Event: "adjustment_approved", From: from, To: Resolved, Note: in.Note, Adjust: a.ID})
	} else {
		a.Status, c.Adjustment = Rejected, ""
		c.History = append(c.History, CaseEvent{At: now, By: in.By, Event: "adjustment_rejected", From: from, To: from, Note: in.Note, Adjust: a.ID})
	}
	if _, err := putJSON(tx, CasesBucket, []byte(c.ID), c); err != nil {
		return nil, err
	}
	return putJSON(tx, AdjustmentsBucket, []byte(a.ID), a)
}

func putJSON(tx *state.Tx, bucket string, key []byte, v any) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return b, tx.Put(bucket, key, b)
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}
