package payouts_test

import (
	"encoding/json"
	"strings"
	"testing"

	"cxt/appliance/ledger"
	"cxt/appliance/payouts"
	"cxt/storage/state"
)

// cmdCorrupt rewrites a record as a bug (or a forger holding the keys)
// might: the file stays validly sealed, so only the books can tell.
const cmdCorrupt = "test.corrupt"

// cmdFee charges a fee outside payouts, as a fee at top-up is.
const cmdFee = "test.fee"

type corrupt struct {
	Bucket string `json:"bucket"`
	Key    string `json:"key"`
	Value  []byte `json:"value"`
}

func verify(t *testing.T, w *world) *payouts.Report {
	t.Helper()
	var rep *payouts.Report
	w.view(func(r *state.ReadTx) (err error) { rep, err = payouts.Verify(r); return })
	return rep
}

func TestVerifyFindsBooksThatDoNotHold(t *testing.T) {
	newCorruptible := func(t *testing.T) (*world, string) {
		w := newWorldWith(t, func(reg *state.Registry) {
			reg.HandleFrom(state.MoneySet, cmdFee, func(tx *state.Tx, cmd *state.Command) ([]byte, error) {
				var in topUp
				if err := json.Unmarshal(cmd.Body, &in); err != nil {
					return nil, err
				}
				return nil, ledger.Post(tx, &ledger.Posting{Event: cmdFee, Ref: in.Ref, Lines: []ledger.Line{
					{Account: ledger.Merchant(in.Merchant), Debit: true, Fen: in.Fen, Cause: ledger.CauseFee},
					{Account: ledger.FeeIncome, Fen: in.Fen, Cause: ledger.CauseFee}}})
			})
			reg.HandleFrom(state.MoneySet, cmdCorrupt, func(tx *state.Tx, cmd *state.Command) ([]byte, error) {
				var in corrupt
				if err := json.Unmarshal(cmd.Body, &in); err != nil {
					return nil, err
				}
				if in.Value == nil {
					return nil, tx.Delete(in.Bucket, []byte(in.Key))
				}
				return nil, tx.Put(in.Bucket, []byte(in.Key), in.Value)
			})
		})
		w.ok(cmdSeed, seed{Merchants: []string{"m1"}, Workers: workerIDs("w", 3)})
		w.ok(cmdTopUp, topUp{Merchant: "m1", Fen: 1_000_000, Ref: "t1"})
		b := w.run(w.upload("m1", "x", rowsFor(workerIDs("w", 3), 100_000)))
		if rep := verify(t, w); !rep.OK || rep.Payments != 3 || rep.Postings != 2 {
			t.Fatalf("clean books: %+v", rep)
		}
		return w, b.ID
	}
	t.Run("a fee charged at top-up holds", func(t *testing.T) {
		w, _ := newCorruptible(t)
		w.ok(cmdFee, topUp{Merchant: "m1", Fen: 500, Ref: "fee-at-top-up"})
		if rep := verify(t, w); !rep.OK {
			t.Fatalf("%+v", rep)
		}
	})
	t.Run("a balance changed", func(t *testing.T) {
		w, _ := newCorruptible(t)
		w.ok(cmdCorrupt, corrupt{Bucket: ledger.BalancesBucket, Key: ledger.Merchant("m1"), Value: []byte{0, 0, 0, 0, 0, 0x0f, 0x42, 0x40}})
		if rep := verify(t, w); rep.OK || !strings.Contains(strings.Join(rep.Problems, "\n"), "the postings make") {
			t.Fatalf("%+v", rep)
		}
	})
	t.Run("an outbox entry lost", func(t *testing.T) {
		w, _ := newCorruptible(t)
		var items []payouts.SentItem
		w.view(func(r *state.ReadTx) (err error) { items, err = payouts.Outbox(r, 0, 10); return })
		w.ok(cmdCorrupt, corrupt{Bucket: payouts.OutboxBucket, Key: "\x00\x00\x00\x00\x00\x00\x00\x02" + items[1].Payment})
		if rep := verify(t, w); rep.OK || !strings.Contains(strings.Join(rep.Problems, "\n"), "would never be paid") {
			t.Fatalf("%+v", rep)
		}
	})
	t.Run("a payment's status rewritten", func(t *testing.T) {
		w, batch := newCorruptible(t)
		var packed []byte
		w.view(func(r *state.ReadTx) (err error) {
			packed, err = r.Get(payouts.PaymentBucket, []byte(payouts.PaymentID(batch, 1)))
			return
		})
		forged := []byte(strings.Replace(string(packed), "accepted", "rejected", 1))
		w.ok(cmdCorrupt, corrupt{Bucket: payouts.PaymentBucket, Key: payouts.PaymentID(batch, 1), Value: forged})
		rep := verify(t, w)
		if rep.OK || len(rep.Problems) < 2 {
			t.Fatalf("%+v", rep)
		}
	})
}
