package topups

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"io"
	"math"
	"mime"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/shopspring/decimal"

	"cxt/appliance/api"
	"cxt/appliance/errs"
	"cxt/appliance/ident"
	"cxt/appliance/ledger"
	"cxt/appliance/merchants"
	"cxt/appliance/subjects"
	"cxt/crypto/subjectkey"
	"cxt/storage/state"
)

// Backend serves top-ups over the API.
type Backend struct {
	// FeeAtTopUp charges a fee when a top-up is credited (package billing,
	// for merchants charged before the work is paid); nil charges none. It
	// is read when a command applies, so it may be set after Register.
	FeeAtTopUp FeeAtTopUp
	// Chunk is the number of statement lines per command (ChunkLines if 0).
	Chunk int
}

// Register adds the top-ups' buckets and commands.
func (b *Backend) Register(reg *state.Registry) {
	Register(reg, func(tx *state.Tx, event, merchant string, fen int64, ref string) error {
		if b.FeeAtTopUp == nil {
			return nil
		}
		return b.FeeAtTopUp(tx, event, merchant, fen, ref)
	})
}

// Routes lists the top-ups' endpoints: a merchant's funding details,
// balance and top-ups under the merchant (its own users and platform
// staff), statements and suspense for platform staff. Every account's
// balance is the ledger's route (GET /api/v1/ledger/balances).
func (b *Backend) Routes() []api.Route {
	const read, write, important = api.Read, api.Write, api.Important
	m, st, sus := merchants.Resource, api.StaffRecord(StatementsBucket, "statement"), api.StaffRecord(SuspenseBucket, "suspense item")
	return []api.Route{
		{Method: "GET", Path: "/api/v1/merchants/{id}/funding", Action: "topups.read", Kind: read, Resource: m, Handle: b.funding},
		{Method: "POST", Path: "/api/v1/merchants/{id}/funding", Action: "topups.funding", Kind: write, Resource: m, Handle: b.open},
		{Method: "POST", Path: "/api/v1/merchants/{id}/payer-accounts", Action: "topups.funding", Kind: write, Resource: m, Handle: b.registerPayer},
		{Method: "POST", Path: "/api/v1/merchants/{id}/payer-accounts/{payer}/review", Action: "topups.payer_review", Kind: write, Resource: m, Handle: b.reviewPayer},
		{Method: "GET", Path: "/api/v1/merchants/{id}/balance", Action: "topups.read", Kind: read, Resource: m, Handle: b.balance},
		{Method: "GET", Path: "/api/v1/merchants/{id}/topups", Action: "topups.read", Kind: read, Resource: m, Handle: b.topUps},
		{Method: "POST", Path: "/api/v1/topups/statements", Action: "topups.import", Kind: write, Handle: b.importStatement, MaxBody: MaxStatementBytes + 1},
		{Method: "GET", Path: "/api/v1/topups/statements", Action: "topups.statements", Kind: read, Handle: b.statements},
		{Method: "GET", Path: "/api/v1/topups/statements/{id}", Action: "topups.statements", Kind: read, Resource: st, Handle: b.statement},
		{Method: "GET", Path: "/api/v1/topups/statements/{id}/lines", Action: "topups.statements", Kind: read, Resource: st, Handle: b.statementLines},
		{Method: "GET", Path: "/api/v1/topups/suspense", Action: "topups.suspense", Kind: read, Handle: b.suspenseList},
		{Method: "GET", Path: "/api/v1/topups/suspense/{id}", Action: "topups.suspense", Kind: read, Resource: sus, Handle: b.suspenseItem},
		{Method: "POST", Path: "/api/v1/topups/suspense/{id}/proposal", Action: "topups.suspense_propose", Kind: write, Resource: sus, Handle: b.propose},
		{Method: "POST", Path: "/api/v1/topups/suspense/{id}/decision", Action: "topups.suspense_decide", Kind: important, Resource: sus, Prepare: b.decide},
	}
}

// CodeMoneyFormat refuses an amount that is not a JSON string of yuan with
// at most two decimals, above zero (a JSON number included).
const CodeMoneyFormat = "money_format"

var moneyPattern = regexp.MustCompile(`^(0|[1-9][0-9]{0,12})(\.[0-9]{1,2})?$`)

// parseMoney reads an amount from a request body: a JSON string such as
// "1000.00", never a number, whose float reading could differ from what
// was meant.
func parseMoney(field string, raw json.RawMessage) (int64, error) {
	fail := func(format string, args ...any) (int64, error) {
		e := errs.Coded("amount", errs.Invalid, CodeMoneyFormat, format, args...).(*errs.Error)
		e.Field = field
		return 0, e
	}
	if len(raw) == 0 || raw[0] != '"' {
		return fail("%s: write money as a JSON string of yuan, such as \"1000.00\"; a JSON number is refused", field)
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil || !moneyPattern.MatchString(s) {
		return fail("%s: an amount in yuan with at most 2 decimals, such as \"1000.00\"", field)
	}
	fen, err := ledger.Fen(decimal.RequireFromString(s))
	if err != nil || fen <= 0 {
		return fail("%s: an amount above zero, at most 2 decimals", field)
	}
	return fen, nil
}

// getView reads through the request's linearizable view.
func getView[T any](r *api.Request, read func(*state.ReadTx) (*T, error)) (*T, error) {
	var v *T
	err := r.View(func(tx *state.ReadTx) error {
		var err error
		v, err = read(tx)
		return err
	})
	return v, err
}

// funding answers a merchant's remittance code and payer accounts.
func (b *Backend) funding(r *api.Request) (int, any, error) {
	id := r.Var("id")
	out := map[string]any{"merchant": id, "opened": false, "payer_accounts": []map[string]any{}}
	err := r.View(func(tx *state.ReadTx) error {
		f, err := GetFunding(tx, id)
		if err != nil {
			return err
		}
		if f != nil {
			out["opened"], out["remittance_code"], out["opened_at"] = true, f.Code, f.Opened
			out["instructions"] = "转账时请在附言（用途）中填写汇款识别码 " + f.Code + "；从已登记的付款账户转账可自动识别。/ Write the remittance code " +
				f.Code + " in the memo of every transfer; transfers from a registered payer account are recognised by the account as well."
		}
		payers, err := merchantPayers(tx, id)
		if err != nil || len(payers) == 0 {
			return err
		}
		key, err := subjects.Key(tx, r.Node.Keys(), id)
		if err != nil {
			return err
		}
		list := make([]map[string]any, len(payers))
		for i, p := range payers {
			list[i] = p.view(key)
		}
		out["payer_accounts"] = list
		return nil
	})
	if err != nil {
		return 0, nil, err
	}
	return 200, out, nil
}

// merchantPayers lists a merchant's payer accounts, every status.
func merchantPayers(tx *state.ReadTx, merchant string) ([]*Payer, error) {
	var out []*Payer
	err := tx.ForEach(PayersBucket, func(_, v []byte) error {
		var p Payer
		if err := json.Unmarshal(v, &p); err != nil {
			return err
		}
		if p.Merchant == merchant {
			out = append(out, &p)
		}
		return nil
	})
	return out, err
}

// open issues the merchant's remittance code; again, it answers the same.
func (b *Backend) open(r *api.Request) (int, any, error) {
	var in struct{}
	if r.HTTP.ContentLength != 0 {
		if err := r.Decode(&in); err != nil {
			return 0, nil, err
		}
	}
	id := r.Var("id")
	r.Audit.Object = id
	v, err := r.Propose(state.NewCommand(CmdOpen, mustJSON(Open{Merchant: id, By: r.Subject.ID}), r.Now()))
	if err != nil {
		return 0, nil, err
	}
	var f Funding
	if err := json.Unmarshal(v, &f); err != nil {
		return 0, nil, err
	}
	return 200, map[string]any{"merchant": f.Merchant, "remittance_code": f.Code, "opened_at": f.Opened}, nil
}

// registerPayer registers an account the merchant pays from; it matches
// statement lines once a platform operator has confirmed it.
func (b *Backend) registerPayer(r *api.Request) (int, any, error) {
	const op = "register payer account"
	var in PayerDetails
	if err := r.Decode(&in); err != nil {
		return 0, nil, err
	}
	account := strings.NewReplacer(" ", "", "-", "").Replace(in.Account)
	in.Bank, in.Name = strings.TrimSpace(in.Bank), strings.TrimSpace(in.Name)
	switch {
	case !digits(account, 6, 32):
		return 0, nil, errs.OnField(errs.E(op, errs.Invalid, "account: 6-32 digits (spaces and hyphens are ignored)"), "account")
	case in.Bank == "" || utf8.RuneCountInString(in.Bank) > maxText:
		return 0, nil, errs.OnField(errs.E(op, errs.Invalid, "bank: the bank and branch, 1-%d characters", maxText), "bank")
	case in.Name == "" || utf8.RuneCountInString(in.Name) > maxText:
		return 0, nil, errs.OnField(errs.E(op, errs.Invalid, "name: the account's name, 1-%d characters", maxText), "name")
	}
	in.Account = account
	merchant := r.Var("id")
	// A payer account is the merchant's own company account (同名账户):
	// its name is the merchant's registered name. Another company's
	// account — a rival's settlement account, say — is refused, so that its
	// transfers are never credited to the wrong merchant.
	m, err := getView(r, func(tx *state.ReadTx) (*merchants.Merchant, error) { return merchants.Get(tx, merchant) })
	if err != nil {
		return 0, nil, err
	}
	if normalName(in.Name) != normalName(m.Name) {
		return 0, nil, errs.OnField(errs.Coded(op, errs.Invalid, "payer_name_mismatch",
			"name: a payer account is the merchant's own, in its registered name %q; %q is another's", m.Name, in.Name), "name")
	}
	idx, err := r.Node.Keys().IndexKey()
	if err != nil {
		return 0, nil, err
	}
	key, err := getView(r, func(tx *state.ReadTx) (*subjectkey.Key, error) { return subjects.Key(tx, r.Node.Keys(), merchant) })
	if err != nil {
		return 0, nil, err
	}
	var rnd [8]byte
	rand.Read(rnd[:])
	id := "pa-" + hex.EncodeToString(rnd[:])
	sealed, err := subjects.Seal(key, PayerAAD(merchant, id), in)
	if err != nil {
		return 0, nil, err
	}
	reg := PayerRegistration{ID: id, Merchant: merchant, Index: Index(idx, "payer", account), KeyID: key.ID(), Details: sealed,
		Masked: ident.MaskBankCard(account), By: r.Subject.ID}
	r.Audit.Object = merchant + "/" + id
	v, err := r.Propose(state.NewCommand(CmdPayerRegister, mustJSON(reg), r.Now()))
	if err != nil {
		return 0, nil, err
	}
	var p Payer
	if err := json.Unmarshal(v, &p); err != nil {
		return 0, nil, err
	}
	return 201, p.view(key), nil
}

// reviewPayer confirms, rejects or removes a payer account.
func (b *Backend) reviewPayer(r *api.Request) (int, any, error) {
	var in struct {
		Decision string `json:"decision"`
		Reason   string `json:"reason"`
	}
	if err := r.Decode(&in); err != nil {
		return 0, nil, err
	}
	if in.Decision != DecideConfirm && in.Decision != DecideReject && in.Decision != DecideRemove {
		return 0, nil, errs.OnField(errs.E("review payer account", errs.Invalid, "decision: confirm, reject or remove"), "decision")
	}
	merchant := r.Var("id")
	r.Audit.Object = merchant + "/" + r.Var("payer")
	v, err := r.Propose(state.NewCommand(CmdPayerReview, mustJSON(PayerReview{ID: r.Var("payer"), Merchant: merchant,
		Decision: in.Decision, Reason: in.Reason, By: r.Subject.ID}), r.Now()))
	if err != nil {
		return 0, nil, err
	}
	var p Payer
	if err := json.Unmarshal(v, &p); err != nil {
		return 0, nil, err
	}
	return 200, p.view(nil), nil
}

// balance answers a merchant's available balance, read linearizably.
func (b *Backend) balance(r *api.Request) (int, any, error) {
	id := r.Var("id")
	var fen int64
	if err := r.View(func(tx *state.ReadTx) (err error) { fen, err = Balance(tx, id); return }); err != nil {
		return 0, nil, err
	}
	return 200, map[string]any{"merchant": id, "available": ledger.Yuan(fen), "currency": "CNY"}, nil
}

// page reads ?limit= (1 to max, def if absent).
func page(r *api.Request, def, max int) (int, error) {
	s := r.HTTP.URL.Query().Get("limit")
	if s == "" {
		return def, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > max {
		return 0, errs.OnField(errs.E("page", errs.Invalid, "limit: 1 to %d", max), "limit")
	}
	return n, nil
}

// topUps answers a merchant's top-ups, newest first: ?after= is the
// posting of the last one of the previous page (its "next").
func (b *Backend) topUps(r *api.Request) (int, any, error) {
	limit, err := page(r, 50, 500)
	if err != nil {
		return 0, nil, err
	}
	id := r.Var("id")
	start := MerchantKey(id, math.MaxUint64)
	if s := r.HTTP.URL.Query().Get("after"); s != "" {
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil || n == 0 {
			return 0, nil, errs.OnField(errs.E("list top-ups", errs.Invalid, "after: the next of the previous page"), "after")
		}
		start = MerchantKey(id, n-1)
	}
	out := []map[string]any{}
	var next string
	err = r.View(func(tx *state.ReadTx) error {
		prefix := id + "/"
		return tx.Seek(MerchantBucket, start, true, func(k, v []byte) (bool, error) {
			if !strings.HasPrefix(string(k), prefix) || len(k) != len(prefix)+8 {
				return false, nil
			}
			posting := binary.BigEndian.Uint64(k[len(prefix):])
			if len(out) == limit {
				next = strconv.FormatUint(posting+1, 10)
				return false, nil
			}
			c, err := getCredit(tx, v)
			if err != nil || c == nil {
				return false, err
			}
			out = append(out, c.topUpView(posting))
			return true, nil
		})
	})
	if err != nil {
		return 0, nil, err
	}
	ans := map[string]any{"merchant": id, "topups": out}
	if next != "" {
		ans["next"] = next
	}
	return 200, ans, nil
}

// importStatement takes a bank statement (text/csv), proposes it in chunks
// and answers its report: the tallies and, unless ?report=summary, what
// happened to every line.
func (b *Backend) importStatement(r *api.Request) (int, any, error) {
	const op = "import statement"
	if mt, _, err := mime.ParseMediaType(r.HTTP.Header.Get("Content-Type")); err != nil || mt != "text/csv" {
		return 0, nil, errs.E(op, errs.Unsupported, "send the statement as Content-Type: text/csv")
	}
	q := r.HTTP.URL.Query()
	name := strings.TrimSpace(q.Get("name"))
	if utf8.RuneCountInString(name) > maxText {
		return 0, nil, errs.OnField(errs.E(op, errs.Invalid, "name: at most %d characters", maxText), "name")
	}
	summary := q.Get("report") == "summary"
	if rep := q.Get("report"); rep != "" && rep != "summary" && rep != "lines" {
		return 0, nil, errs.OnField(errs.E(op, errs.Invalid, "report: lines (the default) or summary"), "report")
	}
	data, err := io.ReadAll(r.HTTP.Body)
	if err != nil || len(data) > MaxStatementBytes {
		return 0, nil, errs.Coded(op, errs.TooLarge, "too_large", "a statement is at most %d bytes", MaxStatementBytes)
	}
	lines, perr := ParseStatement(data)
	if perr != nil {
		return 0, nil, perr.API()
	}
	id := NewStatementID(r.Now())
	r.Audit.Object = id
	im := &Importer{Keys: r.Node.Keys(), Now: r.Now(), Chunk: b.Chunk,
		Propose: func(first bool, cmd *state.Command) ([]byte, error) {
			if first {
				return r.Propose(cmd)
			}
			return r.ProposeAside(cmd)
		}}
	res, err := im.Import(id, name, data, lines, r.Subject.ID)
	if err != nil {
		e := errs.Of(api.Classify(err))
		if res == nil || res.Statement == nil {
			return 0, nil, err
		}
		return 0, nil, errs.Coded(op, e.Kind, e.Code,
			"the import stopped after %d of %d lines (statement %s): %s; import the same file again: the lines already credited come back as duplicates",
			res.Statement.Lines, res.Statement.Rows, id, e.Msg)
	}
	out := map[string]any{"statement": res.Statement.view()}
	if !summary {
		list := make([]map[string]any, len(res.Lines))
		for i := range res.Lines {
			list[i] = res.Lines[i].view()
		}
		out["lines"] = list
	}
	return 201, out, nil
}

// statements lists the statements imported, newest first (?after= the
// last ID of the previous page).
func (b *Backend) statements(r *api.Request) (int, any, error) {
	limit, err := page(r, 50, 500)
	if err != nil {
		return 0, nil, err
	}
	var start []byte
	after := r.HTTP.URL.Query().Get("after")
	if after != "" {
		start = []byte(after)
	}
	out := []map[string]any{}
	var next string
	err = r.View(func(tx *state.ReadTx) error {
		return tx.Seek(StatementsBucket, start, true, func(k, v []byte) (bool, error) {
			if string(k) == after {
				return true, nil
			}
			if len(out) == limit {
				next = out[len(out)-1]["id"].(string)
				return false, nil
			}
			var s Statement
			if err := json.Unmarshal(v, &s); err != nil {
				return false, err
			}
			out = append(out, s.view())
			return true, nil
		})
	})
	if err != nil {
		return 0, nil, err
	}
	ans := map[string]any{"statements": out}
	if next != "" {
		ans["next"] = next
	}
	return 200, ans, nil
}

func (b *Backend) statement(r *api.Request) (int, any, error) {
	s, err := getView(r, func(tx *state.ReadTx) (*Statement, error) { return GetStatement(tx, r.Var("id")) })
	if err != nil {
		return 0, nil, err
	}
	if s == nil {
		return 0, nil, errs.E("read statement", errs.NotExist, "no statement %s", r.Var("id"))
	}
	return 200, s.view(), nil
}

// statementLines pages a statement's line reports in file order (?after=
// the last row of the previous page).
func (b *Backend) statementLines(r *api.Request) (int, any, error) {
	const op = "statement lines"
	limit, err := page(r, 500, 5000)
	if err != nil {
		return 0, nil, err
	}
	after := 0
	if s := r.HTTP.URL.Query().Get("after"); s != "" {
		if after, err = strconv.Atoi(s); err != nil || after < 1 {
			return 0, nil, errs.OnField(errs.E(op, errs.Invalid, "after: the last row of the previous page"), "after")
		}
	}
	id := r.Var("id")
	prefix := id + "/"
	out := []map[string]any{}
	next := 0
	err = r.View(func(tx *state.ReadTx) error {
		if s, err := GetStatement(tx, id); err != nil || s == nil {
			if err == nil {
				err = errs.E(op, errs.NotExist, "no statement %s", id)
			}
			return err
		}
		start := binary.BigEndian.AppendUint32([]byte(prefix), uint32(after+1))
		return tx.Seek(ReportsBucket, start, false, func(k, v []byte) (bool, error) {
			if !strings.HasPrefix(string(k), prefix) || len(k) != len(prefix)+4 {
				return false, nil
			}
			var l LineReport
			if err := json.Unmarshal(v, &l); err != nil {
				return false, err
			}
			if len(out) == limit {
				next = out[len(out)-1]["row"].(int)
				return false, nil
			}
			out = append(out, l.view())
			return true, nil
		})
	})
	if err != nil {
		return 0, nil, err
	}
	ans := map[string]any{"statement": id, "lines": out}
	if next > 0 {
		ans["next"] = strconv.Itoa(next)
	}
	return 200, ans, nil
}

// suspenseList lists suspense items (?status= one status; default the
// open and proposed ones).
func (b *Backend) suspenseList(r *api.Request) (int, any, error) {
	status := r.HTTP.URL.Query().Get("status")
	switch status {
	case "", "all", SuspenseOpen, SuspenseProposed, SuspenseMatched, SuspenseReturned:
	default:
		return 0, nil, errs.OnField(errs.E("list suspense", errs.Invalid, "status: open, proposed, matched, returned or all"), "status")
	}
	out := []map[string]any{}
	total := int64(0)
	err := r.View(func(tx *state.ReadTx) error {
		return tx.ForEach(SuspenseBucket, func(_, v []byte) error {
			var s Suspense
			if err := json.Unmarshal(v, &s); err != nil {
				return err
			}
			switch {
			case status == "" && s.Status != SuspenseOpen && s.Status != SuspenseProposed:
				return nil
			case status != "" && status != "all" && s.Status != status:
				return nil
			}
			c, err := getCredit(tx, s.Txn)
			if err != nil {
				return err
			}
			out = append(out, s.view(c))
			total += s.Fen
			return nil
		})
	})
	if err != nil {
		return 0, nil, err
	}
	return 200, map[string]any{"suspense": out, "total": ledger.Yuan(total)}, nil
}

func (b *Backend) suspenseItem(r *api.Request) (int, any, error) {
	var out map[string]any
	err := r.View(func(tx *state.ReadTx) error {
		s, err := GetSuspense(tx, r.Var("id"))
		if err != nil {
			return err
		}
		c, err := getCredit(tx, s.Txn)
		out = s.view(c)
		return err
	})
	if err != nil {
		return 0, nil, err
	}
	return 200, out, nil
}

// propose is a maker's proposal for a suspense item: credit it to a
// merchant, or send it back to the payer. It restates the item's amount.
func (b *Backend) propose(r *api.Request) (int, any, error) {
	const op = "propose suspense"
	var in struct {
		Action   string          `json:"action"`
		Merchant string          `json:"merchant"`
		Amount   json.RawMessage `json:"amount"`
		Reason   string          `json:"reason"`
	}
	if err := r.Decode(&in); err != nil {
		return 0, nil, err
	}
	fen, err := parseMoney("amount", in.Amount)
	if err != nil {
		return 0, nil, err
	}
	switch {
	case in.Action != ActMatch && in.Action != ActReturn:
		return 0, nil, errs.OnField(errs.E(op, errs.Invalid, "action: match (credit a merchant) or return (send the money back)"), "action")
	case in.Action == ActMatch && in.Merchant == "":
		return 0, nil, errs.OnField(errs.E(op, errs.Invalid, "merchant: the merchant to credit"), "merchant")
	case strings.TrimSpace(in.Reason) == "":
		return 0, nil, errs.OnField(errs.E(op, errs.Invalid, "reason: say how the item was identified"), "reason")
	}
	id := r.Var("id")
	r.Audit.Object = id
	v, err := r.Propose(state.NewCommand(CmdSuspensePropose, mustJSON(SuspenseProposal{Item: id, Action: in.Action, Merchant: in.Merchant,
		Fen: fen, Reason: in.Reason, By: r.Subject.ID}), r.Now()))
	if err != nil {
		return 0, nil, err
	}
	var s Suspense
	if err := json.Unmarshal(v, &s); err != nil {
		return 0, nil, err
	}
	return 200, s.view(nil), nil
}

// decide is a checker's decision on a suspense proposal (an important
// operation): approving posts it, once; its maker never decides it.
func (b *Backend) decide(r *api.Request) (*api.Op, error) {
	const op = "decide suspense"
	var in struct {
		Decision string `json:"decision"`
		Reason   string `json:"reason"`
	}
	if err := r.Decode(&in); err != nil {
		return nil, err
	}
	if in.Decision != "approve" && in.Decision != "reject" {
		return nil, errs.OnField(errs.E(op, errs.Invalid, "decision: approve or reject"), "decision")
	}
	if in.Decision == "reject" && strings.TrimSpace(in.Reason) == "" {
		return nil, errs.OnField(errs.E(op, errs.Invalid, "reason: say why the proposal is rejected"), "reason")
	}
	s, err := getView(r, func(tx *state.ReadTx) (*Suspense, error) { return GetSuspense(tx, r.Var("id")) })
	if err != nil {
		return nil, err
	}
	p := s.Proposal
	if s.Status != SuspenseProposed || p == nil {
		return nil, errs.Coded(op, errs.Conflict, CodeSuspenseStatus.String(), "suspense item %s is %s: there is no proposal to decide", s.ID, s.Status)
	}
	if p.By == r.Subject.ID {
		return nil, errs.Coded(op, errs.Permission, CodeMakerChecker.String(), "who proposed a suspense %s does not approve or reject it", p.Action)
	}
	r.Audit.Object, r.Audit.Reason = s.ID, in.Reason
	amount := ledger.Yuan(s.Fen)
	impact := map[string]any{"suspense": s.ID, "amount": amount, "action": p.Action, "proposed_by": p.By, "proposal_reason": p.Reason, "decision": in.Decision}
	result := map[string]any{"suspense": s.ID, "status": SuspenseOpen}
	risks := []string{"rejecting sends the item back to open; nothing moves"}
	if in.Decision == "approve" {
		switch p.Action {
		case ActMatch:
			impact["merchant"] = p.Merchant
			impact["posting"] = []string{"Dr " + ledger.Suspense + " " + amount, "Cr " + ledger.Merchant(p.Merchant) + " " + amount}
			result["status"], result["merchant"] = SuspenseMatched, p.Merchant
			risks = []string{"the merchant can spend the money at once; undoing it takes an adjustment"}
		case ActReturn:
			impact["posting"] = []string{"Dr " + ledger.Suspense + " " + amount, "Cr " + ledger.Bank + " " + amount}
			result["status"] = SuspenseReturned
			risks = []string{"the money is recorded as sent back to the payer: make the bank transfer that returns it"}
		}
	}
	return &api.Op{
		Impact: impact, Risks: risks,
		Command: state.NewCommand(CmdSuspenseDecide, mustJSON(SuspenseDecision{Item: s.ID, Proposal: p.N, Approve: in.Decision == "approve",
			Reason: in.Reason, By: r.Subject.ID}), r.Now()),
		Status: 200, Response: result,
	}, nil
}

// normalName compares company names as banks print them: without spaces,
// with full-width brackets as half-width.
func normalName(s string) string {
	return strings.NewReplacer(" ", "", "\u3000", "", "（", "(", "）", ")").Replace(strings.TrimSpace(s))
}
