package reconcile

import (
	"encoding/json"
	"io"
	"mime"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/shopspring/decimal"

	"cxt/appliance/api"
	"cxt/appliance/errs"
	"cxt/appliance/ledger"
	"cxt/appliance/merchants"
	"cxt/storage/state"
)

// Backend serves the reconciliation over the API.
type Backend struct{}

// Register adds the buckets and commands.
func (b *Backend) Register(reg *state.Registry) { Register(reg) }

// Routes lists the endpoints: statements, cases, fee checks and
// adjustments for platform staff; a merchant's reconciliation file under
// the merchant (its own users and platform staff).
func (b *Backend) Routes() []api.Route {
	const read, write, important = api.Read, api.Write, api.Important
	st, cs, adj := api.StaffRecord(StatementsBucket, "statement"), api.StaffRecord(CasesBucket, "case"), api.StaffRecord(AdjustmentsBucket, "adjustment")
	return []api.Route{
		{Method: "POST", Path: "/api/v1/reconcile/statements", Action: "reconcile.import", Kind: write, Handle: b.importStatement, MaxBody: MaxStatementBytes + 1},
		{Method: "GET", Path: "/api/v1/reconcile/statements", Action: "reconcile.read", Kind: read, Handle: b.statements},
		{Method: "GET", Path: "/api/v1/reconcile/statements/{id}", Action: "reconcile.read", Kind: read, Resource: st, Handle: b.statement},
		{Method: "GET", Path: "/api/v1/reconcile/cases", Action: "reconcile.read", Kind: read, Handle: b.cases},
		{Method: "GET", Path: "/api/v1/reconcile/cases/{id}", Action: "reconcile.read", Kind: read, Resource: cs, Handle: b.caseOne},
		{Method: "POST", Path: "/api/v1/reconcile/cases/{id}/steps", Action: "reconcile.case", Kind: write, Resource: cs, Handle: b.step},
		{Method: "POST", Path: "/api/v1/reconcile/fee-checks", Action: "reconcile.fee_check", Kind: write, Handle: b.feeCheck},
		{Method: "POST", Path: "/api/v1/reconcile/adjustments", Action: "reconcile.adjust_propose", Kind: write, Handle: b.propose},
		{Method: "GET", Path: "/api/v1/reconcile/adjustments", Action: "reconcile.read", Kind: read, Handle: b.adjustments},
		{Method: "GET", Path: "/api/v1/reconcile/adjustments/{id}", Action: "reconcile.read", Kind: read, Resource: adj, Handle: b.adjustment},
		{Method: "POST", Path: "/api/v1/reconcile/adjustments/{id}/decision", Action: "reconcile.adjust_decide", Kind: important, Resource: adj, Prepare: b.decide},
		{Method: "GET", Path: "/api/v1/merchants/{id}/reconciliation", Action: "reconcile.merchant_read", Kind: read, Resource: merchants.Resource, Handle: b.merchantFile},
	}
}

var channelName = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,31}$`)

// importStatement takes a channel's statement of a day (text/csv,
// ?channel=&day=), reconciles it against the payments the platform handed
// to that channel, and records it with one case per difference — or
// refuses it whole.
func (b *Backend) importStatement(r *api.Request) (int, any, error) {
	const op = "import channel statement"
	if mt, _, err := mime.ParseMediaType(r.HTTP.Header.Get("Content-Type")); err != nil || mt != "text/csv" {
		return 0, nil, errs.E(op, errs.Unsupported, "send the statement as Content-Type: text/csv")
	}
	q := r.HTTP.URL.Query()
	ch := q.Get("channel")
	if !channelName.MatchString(ch) {
		return 0, nil, errs.OnField(errs.E(op, errs.Invalid, "channel: the channel's name, such as sandbox"), "channel")
	}
	day, ok := ParseDay(q.Get("day"))
	if !ok {
		return 0, nil, errs.OnField(errs.E(op, errs.Invalid, "day: the statement's day, yyyy-mm-dd"), "day")
	}
	if end := day.End(); r.Now().Before(end) {
		return 0, nil, errs.OnField(errs.Coded(op, errs.Conflict, CodeDayOpen.String(), "day: %s is not over in China; its statement is imported from %s on", day, end.Format(time.RFC3339)), "day")
	}
	name := strings.TrimSpace(q.Get("name"))
	if utf8.RuneCountInString(name) > 100 {
		return 0, nil, errs.OnField(errs.E(op, errs.Invalid, "name: at most 100 characters"), "name")
	}
	data, err := io.ReadAll(r.HTTP.Body)
	if err != nil || len(data) > MaxStatementBytes {
		return 0, nil, errs.Coded(op, errs.TooLarge, "too_large", "a statement is at most %d bytes", MaxStatementBytes)
	}
	f, err := ParseStatement(data)
	if err != nil {
		fe := err.(*FileError)
		return 0, nil, errs.Coded(op, errs.Invalid, fe.Code, "the statement is refused whole, nothing of it recorded: %s", fe.Error())
	}
	var in *Import
	err = r.View(func(tx *state.ReadTx) (err error) {
		in, _, err = Prepare(tx, ch, day, name, data, f, r.Subject.ID)
		return err
	})
	if err != nil {
		return 0, nil, err
	}
	r.Audit.Object = StatementID(ch, day)
	v, err := r.Propose(state.NewCommand(CmdImport, mustJSON(in), r.Now()))
	if err != nil {
		return 0, nil, err
	}
	var s Statement
	if err := json.Unmarshal(v, &s); err != nil {
		return 0, nil, err
	}
	diffs := make([]map[string]any, len(in.Differences))
	for i := range in.Differences {
		diffs[i] = differenceView(&in.Differences[i])
		diffs[i]["case"] = s.Cases[i]
	}
	return 201, map[string]any{"statement": s.view(), "differences": diffs}, nil
}

func (s *Statement) view() map[string]any {
	classes := map[string]int{}
	for _, c := range Classes {
		classes[string(c)] = s.Classes[c]
	}
	return map[string]any{"id": s.ID, "channel": s.Channel, "day": s.Day.String(), "name": s.Name, "sm3": s.SM3, "bytes": s.Bytes,
		"lines": s.Lines, "total": ledger.Yuan(s.TotalFen), "expected": s.Expected, "matched": s.Matched, "classes": classes,
		"cases": s.Cases, "imported_by": s.By, "imported": s.At}
}

func sideView(s *Side) map[string]any {
	if s == nil {
		return nil
	}
	return map[string]any{"amount": ledger.Yuan(s.Fen), "status": s.Status, "date": s.Date.String()}
}

func differenceView(d *Difference) map[string]any {
	out := map[string]any{"class": d.Class, "ref": d.Ref}
	if d.Line > 0 {
		out["line"] = d.Line
	}
	if d.BankRef != "" {
		out["bank_ref"] = d.BankRef
	}
	if d.Merchant != "" {
		out["merchant"] = d.Merchant
	}
	if d.Channel != nil {
		out["channel"] = sideView(d.Channel)
	}
	if d.Platform != nil {
		out["platform"] = sideView(d.Platform)
	}
	if len(d.Also) > 0 {
		out["also"] = d.Also
	}
	return out
}

func (c *Case) view() map[string]any {
	out := differenceView(&c.Difference)
	out["id"], out["kind"], out["class"], out["status"], out["history"], out["created"], out["updated"] = c.ID, c.Kind, c.Class, c.Status, c.History, c.Created, c.Updated
	if c.Statement != "" {
		out["statement"], out["channel_name"], out["day"] = c.Statement, c.Channel, c.Day.String()
	}
	if c.Period != "" {
		out["period"] = c.Period
	}
	if f := c.Fee; f != nil {
		out["fee"] = map[string]any{"payment": f.Payment, "amount": ledger.Yuan(f.AmountFen), "booked": ledger.Yuan(f.BookedFen), "booked_rule": f.BookedRule,
			"expected": ledger.Yuan(f.ExpectedFen), "expected_rule": f.ExpectedRule, "explain": f.Explain}
	}
	if c.Adjustment != "" {
		out["adjustment"] = c.Adjustment
	}
	if c.Explanation != "" {
		out["explanation"] = c.Explanation
	}
	return out
}

func (a *Adjustment) view() map[string]any {
	lines := make([]map[string]any, len(a.Lines))
	for i, l := range a.Lines {
		side := "credit"
		if l.Debit {
			side = "debit"
		}
		lines[i] = map[string]any{"account": l.Account, "side": side, "amount": ledger.Yuan(l.Fen)}
	}
	out := map[string]any{"id": a.ID, "case": a.Case, "lines": lines, "reason": a.Reason, "status": a.Status, "proposed_by": a.By, "proposed": a.Proposed}
	if a.DecidedBy != "" {
		out["decided_by"], out["decided"] = a.DecidedBy, a.Decided
	}
	if a.Note != "" {
		out["note"] = a.Note
	}
	if a.Posting != 0 {
		out["posting"] = a.Posting
	}
	return out
}

// list reads every record of a bucket the filter keeps, in key order.
func list[T any](r *api.Request, bucket string, keep func(*T) bool, view func(*T) map[string]any) ([]map[string]any, error) {
	out := []map[string]any{}
	err := r.View(func(tx *state.ReadTx) error {
		return tx.ForEach(bucket, func(_, v []byte) error {
			var x T
			if err := json.Unmarshal(v, &x); err != nil {
				return err
			}
			if keep(&x) {
				out = append(out, view(&x))
			}
			return nil
		})
	})
	return out, err
}

func (b *Backend) statements(r *api.Request) (int, any, error) {
	ch := r.HTTP.URL.Query().Get("channel")
	out, err := list(r, StatementsBucket, func(s *Statement) bool { return ch == "" || s.Channel == ch }, (*Statement).view)
	if err != nil {
		return 0, nil, err
	}
	return 200, map[string]any{"statements": out}, nil
}

func (b *Backend) statement(r *api.Request) (int, any, error) {
	var out map[string]any
	err := r.View(func(tx *state.ReadTx) error {
		s, err := GetStatement(tx, r.Var("id"))
		if err != nil {
			return err
		}
		out = s.view()
		diffs := make([]map[string]any, 0, len(s.Cases))
		for _, id := range s.Cases {
			c, err := GetCase(tx, id)
			if err != nil {
				return err
			}
			diffs = append(diffs, c.view())
		}
		out["differences"] = diffs
		return nil
	})
	if err != nil {
		return 0, nil, err
	}
	return 200, out, nil
}

// cases lists cases: ?status= (default the open and investigating ones;
// all), ?class=, ?statement=.
func (b *Backend) cases(r *api.Request) (int, any, error) {
	q := r.HTTP.URL.Query()
	status, class, statement := q.Get("status"), q.Get("class"), q.Get("statement")
	if status != "" && !slices.Contains([]string{"all", Open, Investigating, Resolved, Closed}, status) {
		return 0, nil, errs.OnField(errs.E("list cases", errs.Invalid, "status: open, investigating, resolved, closed or all"), "status")
	}
	out, err := list(r, CasesBucket, func(c *Case) bool {
		switch {
		case status == "" && c.Final(), status != "" && status != "all" && c.Status != status:
			return false
		case class != "" && string(c.Class) != class, statement != "" && c.Statement != statement:
			return false
		}
		return true
	}, (*Case).view)
	if err != nil {
		return 0, nil, err
	}
	return 200, map[string]any{"cases": out}, nil
}

func (b *Backend) caseOne(r *api.Request) (int, any, error) {
	var c *Case
	if err := r.View(func(tx *state.ReadTx) (err error) { c, err = GetCase(tx, r.Var("id")); return }); err != nil {
		return 0, nil, err
	}
	return 200, c.view(), nil
}

// step takes a case a step: investigate, resolve or close.
func (b *Backend) step(r *api.Request) (int, any, error) {
	var in struct {
		Action string `json:"action"`
		Note   string `json:"note"`
	}
	if err := r.Decode(&in); err != nil {
		return 0, nil, err
	}
	if in.Action != ActInvestigate && in.Action != ActResolve && in.Action != ActClose {
		return 0, nil, errs.OnField(errs.E("case step", errs.Invalid, "action: investigate, resolve or close"), "action")
	}
	r.Audit.Object, r.Audit.Reason = r.Var("id"), in.Note
	v, err := r.Propose(state.NewCommand(CmdCase, mustJSON(CaseMove{Case: r.Var("id"), Action: in.Action, Note: in.Note, By: r.Subject.ID}), r.Now()))
	if err != nil {
		return 0, nil, err
	}
	var c Case
	if err := json.Unmarshal(v, &c); err != nil {
		return 0, nil, err
	}
	return 200, c.view(), nil
}

// feeCheck recomputes the fees of a month's payments ({"period",
// "merchant"}) and opens a case per payment whose fee differs, once.
func (b *Backend) feeCheck(r *api.Request) (int, any, error) {
	var in struct {
		Period   string `json:"period"`
		Merchant string `json:"merchant"`
	}
	if err := r.Decode(&in); err != nil {
		return 0, nil, err
	}
	month, ok := ParsePeriod(in.Period)
	if !ok {
		return 0, nil, errs.OnField(errs.E("fee check", errs.Invalid, "period: a month, yyyy-mm"), "period")
	}
	var fc FeeCheck
	err := r.View(func(tx *state.ReadTx) error {
		if in.Merchant != "" {
			if _, err := merchants.Get(tx, in.Merchant); err != nil {
				return err
			}
		}
		diffs, checked, err := FeeDifferences(tx, in.Merchant, month)
		fc = FeeCheck{Merchant: in.Merchant, Period: in.Period, Checked: checked, Differences: diffs, By: r.Subject.ID}
		return err
	})
	if err != nil {
		return 0, nil, err
	}
	r.Audit.Object = "fees/" + in.Period
	v, err := r.Propose(state.NewCommand(CmdFeeCheck, mustJSON(fc), r.Now()))
	if err != nil {
		return 0, nil, err
	}
	var out FeeCheckResult
	if err := json.Unmarshal(v, &out); err != nil {
		return 0, nil, err
	}
	return 200, out, nil
}

// CodeMoneyFormat refuses an amount that is not a JSON string of yuan with
// at most two decimals, above zero.
const CodeMoneyFormat = "money_format"

var moneyPattern = regexp.MustCompile(`^(0|[1-9][0-9]{0,12})(\.[0-9]{1,2})?$`)

// propose is a maker's adjustment: {"case", "reason", "lines":
// [{"account", "side": "debit"|"credit", "amount": "12.00"}]}.
func (b *Backend) propose(r *api.Request) (int, any, error) {
	const op = "propose adjustment"
	var in struct {
		Case   string `json:"case"`
		Reason string `json:"reason"`
		Lines  []struct {
			Account string          `json:"account"`
			Side    string          `json:"side"`
			Amount  json.RawMessage `json:"amount"`
		} `json:"lines"`
	}
	if err := r.Decode(&in); err != nil {
		return 0, nil, err
	}
	if in.Case == "" {
		return 0, nil, errs.OnField(errs.E(op, errs.Invalid, "case: the case the adjustment resolves"), "case")
	}
	lines := make([]ledger.Line, len(in.Lines))
	for i, l := range in.Lines {
		var s string
		if len(l.Amount) == 0 || l.Amount[0] != '"' || json.Unmarshal(l.Amount, &s) != nil || !moneyPattern.MatchString(s) {
			return 0, nil, errs.OnField(errs.Coded(op, errs.Invalid, CodeMoneyFormat, "lines[%d].amount: yuan as a JSON string, such as \"12.00\"", i), "lines")
		}
		fen, err := ledger.Fen(decimal.RequireFromString(s))
		if err != nil || fen <= 0 {
			return 0, nil, errs.OnField(errs.Coded(op, errs.Invalid, CodeMoneyFormat, "lines[%d].amount: above zero, at most 2 decimals", i), "lines")
		}
		if l.Side != "debit" && l.Side != "credit" {
			return 0, nil, errs.OnField(errs.E(op, errs.Invalid, "lines[%d].side: debit or credit", i), "lines")
		}
		lines[i] = ledger.Line{Account: l.Account, Debit: l.Side == "debit", Fen: fen, Cause: ledger.CauseAdjustment}
	}
	r.Audit.Object, r.Audit.Reason = in.Case, in.Reason
	v, err := r.Propose(state.NewCommand(CmdAdjustPropose, mustJSON(Proposal{Case: in.Case, Lines: lines, Reason: in.Reason, By: r.Subject.ID}), r.Now()))
	if err != nil {
		return 0, nil, err
	}
	var a Adjustment
	if err := json.Unmarshal(v, &a); err != nil {
		return 0, nil, err
	}
	return 201, a.view(), nil
}

func (b *Backend) adjustments(r *api.Request) (int, any, error) {
	status := r.HTTP.URL.Query().Get("status")
	out, err := list(r, AdjustmentsBucket, func(a *Adjustment) bool { return status == "" || a.Status == status }, (*Adjustment).view)
	if err != nil {
		return 0, nil, err
	}
	return 200, map[string]any{"adjustments": out}, nil
}

func (b *Backend) adjustment(r *api.Request) (int, any, error) {
	var a *Adjustment
	if err := r.View(func(tx *state.ReadTx) (err error) { a, err = GetAdjustment(tx, r.Var("id")); return }); err != nil {
		return 0, nil, err
	}
	return 200, a.view(), nil
}

// decide is the checker's decision on an adjustment (an important
// operation): approving books its posting, once; its maker never decides.
func (b *Backend) decide(r *api.Request) (*api.Op, error) {
	const op = "decide adjustment"
	var in struct {
		Decision string `json:"decision"`
		Note     string `json:"note"`
	}
	if err := r.Decode(&in); err != nil {
		return nil, err
	}
	if in.Decision != "approve" && in.Decision != "reject" {
		return nil, errs.OnField(errs.E(op, errs.Invalid, "decision: approve or reject"), "decision")
	}
	if in.Decision == "reject" && strings.TrimSpace(in.Note) == "" {
		return nil, errs.OnField(errs.E(op, errs.Invalid, "note: say why the adjustment is rejected"), "note")
	}
	var a *Adjustment
	if err := r.View(func(tx *state.ReadTx) (err error) { a, err = GetAdjustment(tx, r.Var("id")); return }); err != nil {
		return nil, err
	}
	if a.Status != Proposed {
		return nil, errs.Coded(op, errs.Conflict, CodeAdjustmentStatus.String(), "adjustment %s is %s already", a.ID, a.Status)
	}
	if a.By == r.Subject.ID {
		return nil, errs.Coded(op, errs.Permission, CodeMakerChecker.String(), "who proposed adjustment %s does not approve or reject it", a.ID)
	}
	if in.Decision == "approve" {
		// An adjustment proposed before a rule tightened is shown as
		// refused, not as a posting to confirm (the command checks again).
		if err := CheckLines(a.Lines); err != nil {
			return nil, err
		}
	}
	r.Audit.Object, r.Audit.Reason = a.ID, in.Note
	posting := make([]string, len(a.Lines))
	for i, l := range a.Lines {
		posting[i] = map[bool]string{true: "Dr ", false: "Cr "}[l.Debit] + l.Account + " " + ledger.Yuan(l.Fen)
	}
	impact := map[string]any{"adjustment": a.ID, "case": a.Case, "proposed_by": a.By, "reason": a.Reason, "decision": in.Decision}
	risks := []string{"rejecting leaves the case open for another proposal; nothing moves"}
	status := Rejected
	if in.Decision == "approve" {
		impact["posting"], status = posting, Approved
		risks = []string{"the posting moves the balances at once; undoing it takes another adjustment"}
	}
	return &api.Op{
		Impact: impact, Risks: risks,
		Command: state.NewCommand(CmdAdjustDecide, mustJSON(Decision{Adjustment: a.ID, Approve: in.Decision == "approve", Note: in.Note, By: r.Subject.ID}), r.Now()),
		Status:  200, Response: map[string]any{"adjustment": a.ID, "case": a.Case, "status": status},
	}, nil
}

// merchantFile answers a merchant's reconciliation of a month or a day
// (?period=yyyy-mm|yyyy-mm-dd): JSON, or the CSV file with ?format=csv.
func (b *Backend) merchantFile(r *api.Request) (int, any, error) {
	const op = "merchant reconciliation"
	q := r.HTTP.URL.Query()
	period, format := q.Get("period"), q.Get("format")
	if _, _, ok := PeriodBounds(period); !ok {
		return 0, nil, errs.OnField(errs.E(op, errs.Invalid, "period: a month (yyyy-mm) or a day (yyyy-mm-dd)"), "period")
	}
	if format != "" && format != "json" && format != "csv" {
		return 0, nil, errs.OnField(errs.E(op, errs.Invalid, "format: json (the default) or csv"), "format")
	}
	id := r.Var("id")
	var mf *MerchantFile
	if err := r.View(func(tx *state.ReadTx) (err error) { mf, err = MerchantReconciliation(tx, id, period); return }); err != nil {
		return 0, nil, err
	}
	if format == "csv" {
		return 200, &api.Raw{ContentType: "text/csv; charset=utf-8", Name: "reconciliation-" + id + "-" + period + ".csv", Body: mf.CSV()}, nil
	}
	lines := make([]map[string]any, len(mf.Lines))
	for i, l := range mf.Lines {
		m := map[string]any{"time": l.Time, "kind": l.Kind, "ref": l.Ref, "posting": l.Posting,
			"debit": ledger.Yuan(l.DebitFen), "credit": ledger.Yuan(l.CreditFen), "balance": ledger.Yuan(l.BalanceFen)}
		if l.Payment != "" {
			m["payment"], m["worker"], m["amount"], m["fee"] = l.Payment, l.Worker, ledger.Yuan(l.AmountFen), ledger.Yuan(l.FeeFen)
		}
		lines[i] = m
	}
	return 200, map[string]any{"merchant": id, "period": period, "opening": ledger.Yuan(mf.Opening), "closing": ledger.Yuan(mf.Closing),
		"debits": ledger.Yuan(mf.Debits), "credits": ledger.Yuan(mf.Credits), "lines": lines}, nil
}
