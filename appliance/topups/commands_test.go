package topups

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"cxt/appliance/identity"
	"cxt/appliance/ledger"
	"cxt/appliance/merchants"
	"cxt/appliance/notify"
	"cxt/appliance/subjects"
	"cxt/gateway/feed"
	"cxt/storage/state"
	"cxt/storage/state/statetest"
)

type world struct {
	*statetest.Machine
	t      testing.TB
	regKey uint32
}

func newWorld(t testing.TB, fee FeeAtTopUp) *world {
	return &world{statetest.New(t, func(reg *state.Registry) { registerWorld(reg, fee) }), t, 0}
}

func registerWorld(reg *state.Registry, fee FeeAtTopUp) {
	identity.Register(reg)
	notify.Register(reg)
	subjects.Register(reg, nil)
	feed.Register(reg) // merchants speak command set 6, which appends to the feed
	merchants.Register(reg)
	ledger.Register(reg)
	Register(reg, fee)
}

// ok applies a command that must succeed and decodes its result into out.
func (w *world) ok(typ string, body, out any) {
	w.t.Helper()
	res := w.Send(typ, body)
	if res.Err != nil {
		w.t.Fatalf("%s: %v", typ, res.Err)
	}
	if out != nil {
		if err := json.Unmarshal(res.Value, out); err != nil {
			w.t.Fatal(err)
		}
	}
}

// refused applies a command that must be refused with code.
func (w *world) refused(code, typ string, body any) {
	w.t.Helper()
	if res := w.Send(typ, body); statetest.Code(res.Err) != code {
		w.t.Fatalf("%s %+v: %v, want %s", typ, body, res.Err, code)
	}
}

// merchant applies for merchant id and has it approved.
func (w *world) merchant(id string) {
	w.t.Helper()
	k, fresh, err := subjects.NewKey(w.Keys, id)
	if err != nil {
		w.t.Fatal(err)
	}
	priv, _ := subjects.Seal(k, merchants.PrivateAAD(id), merchants.Private{USCC: "uscc-" + id})
	w.ok(merchants.CmdApply, merchants.Application{ID: id, Name: id + " 有限公司", Model: merchants.Intermediary, USCCIndex: "idx-" + id,
		Private: priv, Key: fresh, Applicant: "acct-" + id}, nil)
	w.ok(merchants.CmdReview, merchants.DirectApproval(id, "reviewer", "a test world"), nil)
}

// open issues merchant's remittance code.
func (w *world) open(merchant string) string {
	w.t.Helper()
	var f Funding
	w.ok(CmdOpen, Open{Merchant: merchant, By: "op-1"}, &f)
	return f.Code
}

func (w *world) index(domain, value string) []byte {
	key, err := w.Keys.IndexKey()
	if err != nil {
		w.t.Fatal(err)
	}
	return Index(key, domain, value)
}

func (w *world) registration(id, merchant, account, by string) PayerRegistration {
	var key []byte
	w.State.View(func(r *state.ReadTx) error {
		k, err := subjects.Key(r, w.Keys, merchant)
		if err == nil {
			sealed, _ := subjects.Seal(k, PayerAAD(merchant, id), PayerDetails{Account: account, Bank: "工商银行", Name: merchant})
			key = sealed
			w.regKey = k.ID()
		}
		return err
	})
	return PayerRegistration{ID: id, Merchant: merchant, Index: w.index("payer", account), KeyID: w.regKey, Details: key, Masked: "****", By: by}
}

// payer registers and confirms account for merchant.
func (w *world) payer(id, merchant, account string) {
	w.t.Helper()
	w.ok(CmdPayerRegister, w.registration(id, merchant, account, "boss-"+merchant), nil)
	w.ok(CmdPayerReview, PayerReview{ID: id, Merchant: merchant, Decision: DecideConfirm, By: "op-1"}, nil)
}

// importer proposes through the machine, one command per chunk.
func (w *world) importer(chunk int) *Importer {
	return &Importer{Keys: w.Keys, Chunk: chunk, Propose: func(_ bool, cmd *state.Command) ([]byte, error) {
		res := w.Apply(cmd)
		if res.Err != nil {
			return nil, res.Err
		}
		return res.Value, nil
	}}
}

// statement writes lines as a statement file and imports it.
func (w *world) statement(id string, rows ...string) (*Imported, error) {
	w.t.Helper()
	data := []byte(header + strings.Join(rows, "\n") + "\n")
	lines, perr := ParseStatement(data)
	if perr != nil {
		w.t.Fatal(perr)
	}
	return w.importer(2).Import(id, "", data, lines, "op-1")
}

func row(txn, amount, account, memo string) string {
	return fmt.Sprintf("%s,2026-03-01,%s,CNY,%s,付款人,某银行,%s", txn, amount, account, memo)
}

func (w *world) balance(account string) string {
	w.t.Helper()
	var fen int64
	if err := w.State.View(func(r *state.ReadTx) (err error) { fen, err = ledger.Balance(r, account); return }); err != nil {
		w.t.Fatal(err)
	}
	return ledger.Yuan(fen)
}

// verified checks the ledger rebuilds from its postings without a problem.
func (w *world) verified() *ledger.Report {
	w.t.Helper()
	var rep *ledger.Report
	if err := w.State.View(func(r *state.ReadTx) (err error) { rep, err = ledger.Verify(r); return }); err != nil {
		w.t.Fatal(err)
	}
	if len(rep.Problems) != 0 {
		w.t.Fatalf("the ledger does not verify: %v", rep.Problems)
	}
	return rep
}

func statuses(lines []LineReport) string {
	var out []string
	for _, l := range lines {
		s := l.Status
		if l.MatchedBy != "" {
			s += "/" + l.MatchedBy + "/" + l.Merchant
		}
		if l.Reason != "" {
			s += "/" + l.Reason
		}
		out = append(out, s)
	}
	return strings.Join(out, " ")
}

func TestLinesAreRecognisedByAccountAndCodeWithTheDocumentedPrecedence(t *testing.T) {
	w := newWorld(t, nil)
	for _, m := range []string{"m_a", "m_b", "m_c"} {
		w.merchant(m)
	}
	codeA, codeB := w.open("m_a"), w.open("m_b")
	w.open("m_c")
	if codeA == codeB || w.open("m_a") != codeA {
		t.Fatalf("codes %s %s; opening again gave another", codeA, codeB)
	}
	w.payer("pa-a", "m_a", "6222000011112222")
	w.ok(CmdPayerRegister, w.registration("pa-b", "m_b", "6222000033334444", "boss-b"), nil) // pending: not confirmed
	w.payer("pa-c", "m_c", "6222000055556666")
	w.ok(merchants.CmdClose, merchants.Review{ID: "m_c", Action: merchants.ActClose, By: "op", Reason: "contract ended"}, nil)

	res, err := w.statement("st-1",
		row("T1", "100.00", "6222000011112222", "充值"+codeA),   // account and code agree
		row("T2", "200.00", "", "货款 "+strings.ToLower(codeB)), // code only
		row("T3", "300.00", "6222-0000-1111-2222", "March"),   // account only
		row("T4", "400.00", "6222000011112222", codeB),        // they disagree
		row("T5", "500.00", "6222000033334444", "none"),       // a pending account matches nothing
		row("T6", "600.00", "", codeA+" "+codeB),              // two codes
		row("T7", "700.00", "6222000055556666", ""),           // a closed merchant's account
		row("T8", "-50.00", "6222000011112222", codeA),        // money going out
		row("T9", "1.00", "", codeA[:8]+"X"),                  // a code with the wrong check character
	)
	if err != nil {
		t.Fatal(err)
	}
	want := "matched/account+code/m_a matched/code/m_b matched/account/m_a suspense/ambiguous suspense/unmatched suspense/ambiguous suspense/merchant_inactive skipped/outgoing suspense/unmatched"
	if got := statuses(res.Lines); got != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
	if c := res.Lines[3].Candidates; len(c) != 2 || c[0] != "m_a" || c[1] != "m_b" {
		t.Fatalf("the ambiguous line's candidates: %v", c)
	}
	st := res.Statement
	if st.Matched != (Tally{3, 60000}) || st.Suspense != (Tally{5, 220100}) || st.Skipped != (Tally{1, 5000}) || st.Duplicate.Lines != 0 ||
		st.Lines != 9 || st.Rows != 9 || st.Chunks != 5 || st.Finished.IsZero() {
		t.Fatalf("statement %+v", st)
	}
	for account, want := range map[string]string{
		ledger.Merchant("m_a"): "400.00", ledger.Merchant("m_b"): "200.00", ledger.Merchant("m_c"): "0.00",
		ledger.Suspense: "2201.00", ledger.Bank: "2801.00",
	} {
		if got := w.balance(account); got != want {
			t.Errorf("%s holds %s, want %s", account, got, want)
		}
	}
	if rep := w.verified(); rep.Postings != 8 {
		t.Fatalf("%d postings, want one per credited line", rep.Postings)
	}
}

func TestALineIsNeverCreditedTwice(t *testing.T) {
	w := newWorld(t, nil)
	w.merchant("m_a")
	code := w.open("m_a")
	rows := []string{row("T1", "100.00", "", code), row("T2", "5.00", "", "?"), row("T1", "100.00", "", code), row("T3", "7.00", "", code)}
	first, err := w.statement("st-1", rows...)
	if err != nil {
		t.Fatal(err)
	}
	if got := statuses(first.Lines); got != "matched/code/m_a suspense/unmatched duplicate matched/code/m_a" {
		t.Fatalf("first import: %s", got)
	}
	if d := first.Lines[2]; d.FirstStatement != "st-1" || d.FirstRow != 2 {
		t.Fatalf("a duplicate within the file: %+v", d)
	}
	// The same statement again: nothing moves.
	again, err := w.statement("st-2", rows...)
	if err != nil {
		t.Fatal(err)
	}
	if got := statuses(again.Lines); got != "duplicate duplicate duplicate duplicate" || again.Statement.Duplicate != (Tally{4, 21200}) {
		t.Fatalf("the same statement twice: %s %+v", got, again.Statement.Duplicate)
	}
	if d := again.Lines[1]; d.FirstStatement != "st-1" || d.FirstRow != 3 {
		t.Fatalf("a duplicate of the first import: %+v", d)
	}
	// An overlapping statement: only its new line moves.
	over, err := w.statement("st-3", row("T3", "7.00", "", code), row("T4", "9.00", "", code))
	if err != nil {
		t.Fatal(err)
	}
	if got := statuses(over.Lines); got != "duplicate matched/code/m_a" {
		t.Fatalf("overlapping statement: %s", got)
	}
	// Two imports of one file whose chunks interleave in the log.
	data := []byte(header + row("T5", "1.00", "", code) + "\n" + row("T6", "2.00", "", code) + "\n")
	lines, _ := ParseStatement(data)
	var cmds [2][]*state.Command
	for i, id := range []string{"st-4", "st-5"} {
		im := &Importer{Keys: w.Keys, Chunk: 1, Propose: func(_ bool, cmd *state.Command) ([]byte, error) {
			cmds[i] = append(cmds[i], cmd)
			return json.Marshal(ImportResult{Statement: &Statement{}})
		}}
		if _, err := im.Import(id, "", data, lines, "op-1"); err != nil {
			t.Fatal(err)
		}
	}
	var got []string
	for _, cmd := range []*state.Command{cmds[0][0], cmds[1][0], cmds[1][1], cmds[0][1]} {
		res := w.Apply(cmd)
		var r ImportResult
		json.Unmarshal(res.Value, &r)
		got = append(got, statuses(r.Lines))
	}
	if strings.Join(got, " ") != "matched/code/m_a duplicate matched/code/m_a duplicate" {
		t.Fatalf("interleaved imports: %v", got)
	}
	if b := w.balance(ledger.Merchant("m_a")); b != "119.00" {
		t.Fatalf("the merchant holds %s, want 100 + 7 + 9 + 1 + 2", b)
	}
	w.verified()
	// A chunk applied twice under another command is refused whole.
	w.refused("conflict", CmdImport, mustDecode[ImportChunk](t, cmds[0][0].Body))
}

func mustDecode[T any](t *testing.T, b []byte) T {
	var v T
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	return v
}

func TestPayerAccountsBelongToOneMerchantAndAreConfirmedByAnotherPerson(t *testing.T) {
	w := newWorld(t, nil)
	w.merchant("m_a")
	w.merchant("m_b")
	w.ok(CmdPayerRegister, w.registration("pa-1", "m_a", "6222000011112222", "boss-a"), nil)
	w.refused("payer_account_taken", CmdPayerRegister, w.registration("pa-2", "m_b", "6222000011112222", "boss-b"))
	w.refused("payer_account_taken", CmdPayerRegister, w.registration("pa-3", "m_a", "6222000011112222", "boss-a"))
	w.refused("maker_checker", CmdPayerReview, PayerReview{ID: "pa-1", Merchant: "m_a", Decision: DecideConfirm, By: "boss-a"})
	w.refused("not_found", CmdPayerReview, PayerReview{ID: "pa-1", Merchant: "m_b", Decision: DecideConfirm, By: "op-1"})
	w.refused("payer_account_status", CmdPayerReview, PayerReview{ID: "pa-1", Merchant: "m_a", Decision: DecideRemove, Reason: "x", By: "op-1"})
	w.refused("invalid_request", CmdPayerReview, PayerReview{ID: "pa-1", Merchant: "m_a", Decision: DecideReject, By: "op-1"})
	w.ok(CmdPayerReview, PayerReview{ID: "pa-1", Merchant: "m_a", Decision: DecideReject, Reason: "not the company's account", By: "op-1"}, nil)
	// Rejected, the account is free for the merchant it really belongs to.
	w.ok(CmdPayerRegister, w.registration("pa-2", "m_b", "6222000011112222", "boss-b"), nil)
	w.ok(CmdPayerReview, PayerReview{ID: "pa-2", Merchant: "m_b", Decision: DecideConfirm, By: "op-1"}, nil)
	w.refused("payer_account_status", CmdPayerReview, PayerReview{ID: "pa-2", Merchant: "m_b", Decision: DecideConfirm, By: "op-2"})
	res, err := w.statement("st-1", row("T1", "10.00", "6222000011112222", ""))
	if err != nil || statuses(res.Lines) != "matched/account/m_b" {
		t.Fatalf("after the move: %v %v", statuses(res.Lines), err)
	}
	w.ok(CmdPayerReview, PayerReview{ID: "pa-2", Merchant: "m_b", Decision: DecideRemove, Reason: "account closed", By: "op-2"}, nil)
	res, _ = w.statement("st-2", row("T2", "10.00", "6222000011112222", ""))
	if statuses(res.Lines) != "suspense/unmatched" {
		t.Fatalf("a removed account still matched: %s", statuses(res.Lines))
	}
	// A merchant not approved registers nothing and has no code.
	k, fresh, _ := subjects.NewKey(w.Keys, "m_x")
	priv, _ := subjects.Seal(k, merchants.PrivateAAD("m_x"), merchants.Private{})
	w.ok(merchants.CmdApply, merchants.Application{ID: "m_x", Name: "x", Model: merchants.Intermediary, USCCIndex: "idx-x", Private: priv, Key: fresh, Applicant: "acct-x"}, nil)
	w.refused("merchant_status", CmdOpen, Open{Merchant: "m_x", By: "op-1"})
	w.refused("merchant_status", CmdPayerRegister, w.registration("pa-9", "m_x", "6222000099999999", "boss-x"))
}

func TestSuspenseIsMatchedOrReturnedByTwoPeopleOnce(t *testing.T) {
	w := newWorld(t, nil)
	w.merchant("m_a")
	res, err := w.statement("st-1", row("T1", "1000.00", "6222000011112222", "货款"), row("T2", "30.00", "", ""))
	if err != nil {
		t.Fatal(err)
	}
	item, other := res.Lines[0].Suspense, res.Lines[1].Suspense
	if item == "" || other == "" || item == other {
		t.Fatalf("suspense items %q %q", item, other)
	}
	match := SuspenseProposal{Item: item, Action: ActMatch, Merchant: "m_a", Fen: 100000, Reason: "the payer called", By: "op-1"}
	w.refused("suspense_status", CmdSuspenseDecide, SuspenseDecision{Item: item, Proposal: 1, Approve: true, By: "op-2"}) // nothing proposed
	bad := match
	bad.Fen = 99999
	w.refused("amount_mismatch", CmdSuspensePropose, bad)
	bad = match
	bad.Merchant = "m_nobody"
	w.refused("not_found", CmdSuspensePropose, bad)
	w.ok(CmdSuspensePropose, match, nil)
	w.refused("suspense_status", CmdSuspensePropose, match) // one proposal at a time
	w.refused("maker_checker", CmdSuspenseDecide, SuspenseDecision{Item: item, Proposal: 1, Approve: true, By: "op-1"})
	w.refused("invalid_request", CmdSuspenseDecide, SuspenseDecision{Item: item, Proposal: 1, By: "op-2"}) // a rejection says why
	w.ok(CmdSuspenseDecide, SuspenseDecision{Item: item, Proposal: 1, Reason: "check the contract first", By: "op-2"}, nil)
	if b := w.balance(ledger.Suspense); b != "1030.00" {
		t.Fatalf("a rejected proposal moved money: suspense %s", b)
	}
	w.ok(CmdSuspensePropose, match, nil)
	w.refused("suspense_status", CmdSuspenseDecide, SuspenseDecision{Item: item, Proposal: 1, Approve: true, By: "rev-1"}) // shown the old one
	var s Suspense
	w.ok(CmdSuspenseDecide, SuspenseDecision{Item: item, Proposal: 2, Approve: true, By: "rev-1"}, &s)
	if s.Status != SuspenseMatched || s.Settled == 0 || len(s.History) != 4 {
		t.Fatalf("matched item %+v", s)
	}
	w.refused("suspense_status", CmdSuspenseDecide, SuspenseDecision{Item: item, Proposal: 2, Approve: true, By: "rev-2"}) // once
	if a, sus := w.balance(ledger.Merchant("m_a")), w.balance(ledger.Suspense); a != "1000.00" || sus != "30.00" {
		t.Fatalf("after the match: merchant %s, suspense %s", a, sus)
	}
	// The merchant's top-ups list the line matched by hand.
	var c *Credit
	w.State.View(func(r *state.ReadTx) (err error) { c, err = getCredit(r, s.Txn); return })
	if c.Merchant != "m_a" || c.MatchedBy != ByHand {
		t.Fatalf("credit %+v", c)
	}
	// A return sends the other item back to the payer.
	w.refused("invalid_request", CmdSuspensePropose, SuspenseProposal{Item: other, Action: ActReturn, Merchant: "m_a", Fen: 3000, Reason: "x", By: "op-1"})
	w.ok(CmdSuspensePropose, SuspenseProposal{Item: other, Action: ActReturn, Fen: 3000, Reason: "nobody knows the payer", By: "op-1"}, nil)
	w.ok(CmdSuspenseDecide, SuspenseDecision{Item: other, Proposal: 1, Approve: true, By: "op-2"}, &s)
	if s.Status != SuspenseReturned || w.balance(ledger.Suspense) != "0.00" || w.balance(ledger.Bank) != "1000.00" {
		t.Fatalf("after the return: %+v, suspense %s, bank %s", s.Status, w.balance(ledger.Suspense), w.balance(ledger.Bank))
	}
	w.verified()
}

func TestAFeeAtTopUpIsChargedInTheSameCommandOrNothingApplies(t *testing.T) {
	refuse := false
	fee := func(tx *state.Tx, event, merchant string, fen int64, ref string) error {
		if refuse {
			return state.Reject(state.Conflict, "no fee configuration for %s", merchant)
		}
		return ledger.Post(tx, &ledger.Posting{Event: event, Ref: ref, Lines: []ledger.Line{
			{Account: ledger.Merchant(merchant), Debit: true, Fen: fen / 100, Cause: ledger.CauseFee},
			{Account: ledger.FeeIncome, Fen: fen / 100, Cause: ledger.CauseFee},
		}})
	}
	w := newWorld(t, fee)
	w.merchant("m_a")
	code := w.open("m_a")
	if _, err := w.statement("st-1", row("T1", "1000.00", "", code)); err != nil {
		t.Fatal(err)
	}
	if a, f := w.balance(ledger.Merchant("m_a")), w.balance(ledger.FeeIncome); a != "990.00" || f != "10.00" {
		t.Fatalf("after a top-up with a 1%% fee: merchant %s, fees %s", a, f)
	}
	refuse = true
	_, err := w.statement("st-2", row("T2", "5.00", "", "?"), row("T3", "500.00", "", code))
	if err == nil || !strings.Contains(err.Error(), "no fee configuration") {
		t.Fatalf("a refused fee: %v", err)
	}
	var st *Statement
	var c *Credit
	w.State.View(func(r *state.ReadTx) (err error) {
		if st, err = GetStatement(r, "st-2"); err == nil {
			c, err = getCredit(r, w.index("txn", "T2"))
		}
		return
	})
	if st != nil || c != nil || w.balance(ledger.Suspense) != "0.00" {
		t.Fatalf("a refused chunk left %+v %+v, suspense %s", st, c, w.balance(ledger.Suspense))
	}
	w.verified()
}
