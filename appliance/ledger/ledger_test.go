package ledger_test

import (
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/shopspring/decimal"

	"cxt/appliance/ledger"
	"cxt/storage/state"
	"cxt/storage/state/statetest"
)

// post is a test command that books the posting in its body.
const post = "test.post"

func machine(t *testing.T) *statetest.Machine {
	return statetest.New(t, func(reg *state.Registry) {
		ledger.Register(reg)
		reg.Handle(post, func(tx *state.Tx, cmd *state.Command) ([]byte, error) {
			var p ledger.Posting
			if err := jsonUnmarshal(cmd.Body, &p); err != nil {
				return nil, err
			}
			return nil, ledger.Post(tx, &p)
		})
	})
}

func line(account string, debit bool, fen int64, cause string) ledger.Line {
	return ledger.Line{Account: account, Debit: debit, Fen: fen, Cause: cause}
}

func balance(t *testing.T, m *statetest.Machine, account string) int64 {
	t.Helper()
	var b int64
	if err := m.State.View(func(r *state.ReadTx) (err error) { b, err = ledger.Balance(r, account); return }); err != nil {
		t.Fatal(err)
	}
	return b
}

func TestPostingsMoveBalancesAndNeverBelowZero(t *testing.T) {
	m := machine(t)
	topUp := ledger.Posting{Event: "top_up", Ref: "s1", Lines: []ledger.Line{
		line(ledger.Bank, true, 100_000, ledger.CauseTopUp), line(ledger.Merchant("m1"), false, 100_000, ledger.CauseTopUp),
	}}
	if res := m.Send(post, topUp); res.Error() != nil {
		t.Fatal(res.Error())
	}
	pay := ledger.Posting{Event: "pay", Ref: "b1", Lines: []ledger.Line{
		line(ledger.Merchant("m1"), true, 60_000, ledger.CausePayment),
		line(ledger.WorkerPayable, false, 55_000, ledger.CausePayment),
		line(ledger.IIT, false, 5_000, ledger.CauseTax),
	}}
	if res := m.Send(post, pay); res.Error() != nil {
		t.Fatal(res.Error())
	}
	if got := balance(t, m, ledger.Merchant("m1")); got != 40_000 {
		t.Fatalf("merchant has %d fen, want 40000", got)
	}
	if got := balance(t, m, ledger.Bank); got != 100_000 {
		t.Fatalf("bank has %d fen, want 100000", got)
	}
	// A second payment of 600.00 would take the merchant to -200.00.
	res := m.Send(post, pay)
	if statetest.Code(res.Err) != "insufficient_balance" {
		t.Fatalf("overdraft: %+v", res)
	}
	if got := balance(t, m, ledger.WorkerPayable); got != 55_000 {
		t.Fatalf("a refused posting moved worker-payable to %d", got)
	}
	unbalanced := ledger.Posting{Event: "bad", Ref: "x", Lines: []ledger.Line{
		line(ledger.Bank, true, 100, ledger.CauseTopUp), line(ledger.Merchant("m1"), false, 99, ledger.CauseTopUp),
	}}
	if err := unbalanced.Check(); !errors.Is(err, ledger.ErrUnbalanced) {
		t.Fatalf("unbalanced posting checked as %v", err)
	}
	var rep *ledger.Report
	if err := m.State.View(func(r *state.ReadTx) (err error) { rep, err = ledger.Verify(r); return }); err != nil {
		t.Fatal(err)
	}
	if len(rep.Problems) != 0 || rep.Postings != 2 || rep.Accounts != 4 {
		t.Fatalf("verify: %+v", rep)
	}
}

func TestFenRefusesOverPrecision(t *testing.T) {
	for in, want := range map[string]int64{"0.01": 1, "12.30": 1230, "100000": 10_000_000} {
		got, err := ledger.Fen(decimal.RequireFromString(in))
		if err != nil || got != want {
			t.Errorf("Fen(%s) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"0.001", "1.005", "1e20"} {
		if _, err := ledger.Fen(decimal.RequireFromString(in)); err == nil {
			t.Errorf("Fen(%s) accepted", in)
		}
	}
	if got := ledger.Yuan(-5); got != "-0.05" || ledger.Yuan(123456) != "1234.56" {
		t.Errorf("Yuan: %s", got)
	}
}

func TestAccountNames(t *testing.T) {
	for _, ok := range []string{ledger.Bank, ledger.Merchant("m-1"), ledger.Clearing("sandbox"), ledger.IIT} {
		if err := ledger.Valid(ok); err != nil {
			t.Error(err)
		}
	}
	for _, bad := range []string{"", "merchant//available", "channel/a/b/clearing", "cash", "merchant/x"} {
		if err := ledger.Valid(bad); err == nil || !strings.Contains(err.Error(), "no account") {
			t.Errorf("Valid(%q) = %v", bad, err)
		}
	}
}

func TestNoBalanceOverflows(t *testing.T) {
	m := machine(t)
	huge := ledger.Posting{Event: "top_up", Ref: "h", Lines: []ledger.Line{
		line(ledger.Bank, true, ledger.MaxBalance-1, ledger.CauseTopUp), line(ledger.Merchant("m1"), false, ledger.MaxBalance-1, ledger.CauseTopUp),
	}}
	if res := m.Send(post, huge); res.Err != nil {
		t.Fatal(res.Err)
	}
	again := ledger.Posting{Event: "top_up", Ref: "h2", Lines: []ledger.Line{
		line(ledger.Bank, true, 2, ledger.CauseTopUp), line(ledger.Merchant("m2"), false, 2, ledger.CauseTopUp),
	}}
	if res := m.Send(post, again); statetest.Code(res.Err) != "ledger_limit" {
		t.Fatalf("the bank past the limit: %+v", res)
	}
	if got := balance(t, m, ledger.Bank); got != ledger.MaxBalance-1 {
		t.Fatalf("bank %d", got)
	}
}

// Yuan writes what the decimal library writes, for every kind of amount.
func TestYuanIsTheDecimalsTwoPlaces(t *testing.T) {
	for _, fen := range []int64{0, 1, 9, 10, 99, 100, 101, 123456, -1, -10, -99, -100, -123456, 1 << 62, -(1 << 62), math.MaxInt64, math.MinInt64 + 1} {
		if got, want := ledger.Yuan(fen), ledger.Decimal(fen).StringFixed(2); got != want {
			t.Errorf("Yuan(%d) = %s, want %s", fen, got, want)
		}
	}
}
