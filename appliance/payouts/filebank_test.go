package payouts_test

import (
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"cxt/appliance/channel"
	"cxt/appliance/payouts"
	"cxt/storage/state"
)

// The driver pays through a file bank: payment files out, result files in,
// with a bank that reads each file once and pays each reference once. A
// result for a reference the appliance never gave, and one repeated,
// change nothing; the bank's reference is the paid payment's.
func TestTheDriverPaysThroughPaymentFilesAndResultFiles(t *testing.T) {
	rules := defaultRules()
	rules.Channel = "bank-fz"
	w := newWorld(t, rules)
	ws := workerIDs("w", 12)
	w.ok(cmdSeed, seed_(ws))
	w.ok(cmdTopUp, topUp{Merchant: "m1", Fen: 100_000_000, Ref: "t1"})
	dir := t.TempDir()
	out, in := filepath.Join(dir, "out"), filepath.Join(dir, "in")
	os.Mkdir(out, 0o750)
	os.Mkdir(in, 0o750)
	clock := w.Now
	fb, err := channel.NewFileBank(channel.FileBankConfig{Name: "bank-fz", Outbound: out, Inbound: in, Journal: filepath.Join(dir, "journal.jsonl"),
		Now: func() time.Time { return clock }})
	if err != nil {
		t.Fatal(err)
	}
	defer fb.Close()
	p := &proposer{w: w}
	d := &payouts.Driver{Node: p, Leading: func() bool { return true }, Channel: fb, Page: 5,
		Payee: func(_ *state.ReadTx, worker string) (channel.Payee, error) {
			return channel.Payee{Name: "姓名" + worker, Card: "6222020" + strings.TrimPrefix(worker, "w")}, nil
		},
		Now: func() time.Time { return clock }, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	id := w.upload("m1", "b1", rowsFor(ws, 1_000_00))
	w.ok(payouts.CmdConfirm, payouts.Confirm{Batch: id, By: "acct-admin"})
	// The leader stops after the first hand-over, before recording it: the
	// next round hands the same references over again.
	p.fail = func(cmd *state.Command) bool { return cmd.Type == payouts.CmdSent }
	if err := d.Round(context.Background()); err == nil {
		t.Fatal("the failed record went unnoticed")
	}
	p.fail = nil
	if err := d.Round(context.Background()); err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(out, "PAY-*.csv"))
	// Pages of 5: three files the first round; the second wrote none.
	if len(files) != 3 || fb.Taken() != len(ws) {
		t.Fatalf("%d payment files, %d references", len(files), fb.Taken())
	}
	for _, pm := range payments(w, id) {
		if pm.Status != payouts.Submitted || pm.Channel != "bank-fz" || !strings.HasPrefix(pm.ChannelRef, "PAY-") {
			t.Fatalf("%s: %s %s %s", pm.ID, pm.Status, pm.Channel, pm.ChannelRef)
		}
	}

	// The bank pays all but one, and reports a stranger.
	var lines []string
	for i, f := range files {
		data, _ := os.ReadFile(f)
		recs, _ := csv.NewReader(strings.NewReader(string(data))).ReadAll()
		for _, r := range recs[1 : len(recs)-1] {
			status, reason := "paid", ""
			if i == 1 && r[0] == recs[1][0] {
				status, reason = "failed", "账户已冻结"
			}
			lines = append(lines, fmt.Sprintf("%s,%s,BK-%s,%s,2026-03-10T11:00:00+08:00", r[0], status, r[0][len(r[0])-3:], reason))
		}
	}
	lines = append(lines, "pb-unknown-000001,paid,BK-X,,2026-03-10T11:00:00+08:00", lines[0])
	os.WriteFile(filepath.Join(in, "RES-0001.csv"), []byte(channel.ResultHeader+"\n"+strings.Join(lines, "\n")+"\n"), 0o640)
	for range 2 {
		if err := d.Round(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	counts := map[payouts.Status]int{}
	for _, pm := range payments(w, id) {
		counts[pm.Status]++
		if pm.Status == payouts.Paid && pm.ChannelRef != "BK-"+pm.ID[len(pm.ID)-3:] {
			t.Errorf("%s is paid under %q", pm.ID, pm.ChannelRef)
		}
	}
	if counts[payouts.Paid] != len(ws)-1 || counts[payouts.Failed] != 1 {
		t.Fatalf("payments: %v", counts)
	}
	var cursor string
	w.view(func(r *state.ReadTx) (err error) { cursor, err = payouts.Cursor(r, "bank-fz"); return })
	if cursor != fmt.Sprintf("RES-0001.csv:%d", len(lines)+1) {
		t.Fatalf("cursor %q", cursor)
	}
	audit(t, w.State, w.rules)
}

func payments(w *world, batch string) []*payouts.Payment {
	w.t.Helper()
	var out []*payouts.Payment
	for row := 1; ; row++ {
		var pm *payouts.Payment
		err := w.State.View(func(r *state.ReadTx) (err error) {
			pm, err = payouts.GetPayment(r, payouts.PaymentID(batch, row))
			return
		})
		if err != nil {
			return out
		}
		out = append(out, pm)
	}
}
