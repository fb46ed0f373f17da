package payouts_test

import (
	"errors"
	"strings"
	"testing"

	"cxt/appliance/payouts"
	"cxt/storage/state"
)

func TestBatchFilesRefuseRowsThatCannotBePayments(t *testing.T) {
	rows, err := payouts.ParseCSV([]byte("\xef\xbb\xbfworker,task,amount,memo\nw1,t1,1200.00,a\nw2,t1,\"3,5\",b\n"))
	if err != nil || len(rows) != 2 {
		t.Fatalf("%v %v", rows, err)
	}
	_, err = payouts.UploadCommands("pb-1", "m1", "r", "acct", rows, testNow)
	var re payouts.RowErrors
	if !errors.As(err, &re) || len(re) != 1 || re[0].Row != 2 || re[0].Field != "amount" {
		t.Fatalf("a bad amount: %v", err)
	}
	for _, bad := range []string{"0", "-1.00", "1.005", "abc", "1e3", ""} {
		_, err := payouts.UploadCommands("pb-1", "m1", "r", "acct", []payouts.Row{{Worker: "w", Task: "t", Amount: bad}}, testNow)
		if !errors.As(err, &re) {
			t.Errorf("amount %q accepted", bad)
		}
	}
	if _, err := payouts.ParseJSON([]byte(`{"ref":"r","rows":[{"worker":"w","task":"t","amount":12.5}]}`)); !errors.As(err, &re) || !strings.Contains(re[0].Message, "never a JSON number") {
		t.Fatalf("a JSON number: %v", err)
	}
	if _, err := payouts.ParseCSV([]byte("name,amount\nx,1\n")); !errors.As(err, &re) || re[0].Field != "header" {
		t.Fatalf("a wrong header: %v", err)
	}
	many := make([]payouts.Row, payouts.MaxRows+1)
	var rej *state.Rejection
	if _, err := payouts.UploadCommands("pb-1", "m1", "r", "acct", many, testNow); !errors.As(err, &rej) || rej.Code != "batch_too_large" {
		t.Fatalf("%d rows: %v", len(many), err)
	}
}

// FuzzParseBatch: the batch parsers never panic, and what they accept either
// checks as payments or is refused naming its rows.
func FuzzParseBatch(f *testing.F) {
	f.Add([]byte("worker,task,amount,memo\nw1,t1,1200.00,a\n"), false)
	f.Add([]byte(`{"ref":"r","rows":[{"worker":"w","task":"t","amount":"1.00"}]}`), true)
	f.Add([]byte(`{"ref":"r","rows":[{"worker":"w","task":"t","amount":1}]}`), true)
	f.Fuzz(func(t *testing.T, data []byte, asJSON bool) {
		var rows []payouts.Row
		var err error
		if asJSON {
			var file *payouts.File
			if file, err = payouts.ParseJSON(data); err == nil {
				rows = file.Rows
			}
		} else {
			rows, err = payouts.ParseCSV(data)
		}
		if err != nil {
			return
		}
		cmds, err := payouts.UploadCommands("pb-f", "m1", "r", "acct", rows, testNow)
		var re payouts.RowErrors
		var rej *state.Rejection
		switch {
		case err == nil && len(cmds) != 1+(len(rows)+payouts.ChunkRows-1)/payouts.ChunkRows:
			t.Fatalf("%d rows made %d commands", len(rows), len(cmds))
		case err != nil && !errors.As(err, &re) && !errors.As(err, &rej):
			t.Fatalf("refused without naming rows: %v", err)
		}
	})
}

func TestAJSONBatchIsReadStrictly(t *testing.T) {
	for _, body := range []string{
		`{"ref":"r","rows":[{"worker":"w","task":"t","amount":"1.00","AMOUNT":"9000.00"}]}`,
		`{"ref":"r","rows":[{"worker":"w","task":"t","amount":"1.00","amount":"9000.00"}]}`,
		`{"ref":"r","rows":[{"worker":"w","task":"t","amount":"1.00","extra":1}]}`,
		`{"ref":"r","ref":"s","rows":[]}`,
	} {
		if f, err := payouts.ParseJSON([]byte(body)); err == nil {
			t.Errorf("%s read as %+v", body, f)
		}
	}
	f, err := payouts.ParseJSON([]byte(`{"ref":"r","rows":[{"worker":"w","task":"t","amount":" 100.00"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := payouts.UploadCommands("pb-1", "m1", "r", "acct", f.Rows, testNow); err == nil {
		t.Fatal("an amount with a space around it was taken")
	}
}
