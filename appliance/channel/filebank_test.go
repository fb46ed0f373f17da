package channel_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"cxt/appliance/channel"
	"cxt/crypto/sm"
)

// folders are a file bank's outbound and inbound folders and its journal.
type folders struct{ out, in, journal string }

func newFolders(t *testing.T) folders {
	dir := t.TempDir()
	f := folders{out: filepath.Join(dir, "out"), in: filepath.Join(dir, "in"), journal: filepath.Join(dir, "file-bank.jsonl")}
	for _, d := range []string{f.out, f.in} {
		if err := os.Mkdir(d, 0o750); err != nil {
			t.Fatal(err)
		}
	}
	return f
}

var t0 = time.Date(2026, 3, 10, 10, 0, 0, 0, channel.China)

func (f folders) open(t *testing.T) *channel.FileBank {
	t.Helper()
	b, err := channel.NewFileBank(channel.FileBankConfig{Outbound: f.out, Inbound: f.in, Journal: f.journal, Node: "n1", Now: func() time.Time { return t0 }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

// fakeBank is the bank's side as docs/payouts.md describes it: it
// picks up every payment file it has not read, checks its trailer, pays
// each reference once whatever file it comes in, and drops result files.
type fakeBank struct {
	t      *testing.T
	f      folders
	read   map[string]bool
	paid   map[string]int // ref -> times paid
	amount map[string]string
	card   map[string]string
	n      int
}

func newFakeBank(t *testing.T, f folders) *fakeBank {
	return &fakeBank{t: t, f: f, read: map[string]bool{}, paid: map[string]int{}, amount: map[string]string{}, card: map[string]string{}}
}

// pickUp reads the new payment files and returns the new references.
func (k *fakeBank) pickUp() []string {
	k.t.Helper()
	entries, err := os.ReadDir(k.f.out)
	if err != nil {
		k.t.Fatal(err)
	}
	var fresh []string
	for _, e := range entries {
		name := e.Name()
		if !channel.PaymentFileName(name) || k.read[name] {
			continue
		}
		k.read[name] = true
		data, err := os.ReadFile(filepath.Join(k.f.out, name))
		if err != nil {
			k.t.Fatal(err)
		}
		rows := checkPaymentFile(k.t, name, data)
		for _, r := range rows {
			if k.paid[r[0]] > 0 {
				continue // the bank pays a reference once
			}
			k.paid[r[0]]++
			k.amount[r[0]], k.card[r[0]] = r[1], r[3]
			fresh = append(fresh, r[0])
		}
	}
	return fresh
}

// checkPaymentFile parses a payment file as a bank would and checks its
// header and trailer; it returns the rows.
func checkPaymentFile(t *testing.T, name string, data []byte) [][]string {
	t.Helper()
	body, trailer, ok := bytes.Cut(data, []byte("\n#END,"))
	if !ok || !bytes.HasSuffix(trailer, []byte("\n")) {
		t.Fatalf("%s: no trailer line", name)
	}
	body = append(body, '\n')
	recs, err := csv.NewReader(bytes.NewReader(body)).ReadAll()
	if err != nil || len(recs) < 2 || strings.Join(recs[0], ",") != channel.PaymentHeader {
		t.Fatalf("%s: %v %q", name, err, recs)
	}
	tr := strings.Split(strings.TrimSuffix(string(trailer), "\n"), ",")
	var total int64
	for _, r := range recs[1:] {
		y, f, _ := strings.Cut(r[1], ".")
		n, _ := strconv.ParseInt(y+f, 10, 64)
		total += n
	}
	sum := sm.Sum(body)
	if len(tr) != 3 || tr[0] != strconv.Itoa(len(recs)-1) || tr[1] != fmt.Sprintf("%d.%02d", total/100, total%100) || tr[2] != hex.EncodeToString(sum[:]) {
		t.Fatalf("%s: trailer %q for %d rows totalling %d fen", name, tr, len(recs)-1, total)
	}
	return recs[1:]
}

// drop writes a result file as the bank must: whole, under a name that
// sorts after the ones before.
func (k *fakeBank) drop(lines ...string) string {
	k.t.Helper()
	k.n++
	name := fmt.Sprintf("RES-20260310-%04d.csv", k.n)
	tmp := filepath.Join(k.f.in, "."+name)
	if err := os.WriteFile(tmp, []byte(channel.ResultHeader+"\n"+strings.Join(lines, "\n")+"\n"), 0o640); err != nil {
		k.t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(k.f.in, name)); err != nil {
		k.t.Fatal(err)
	}
	return name
}

func orders(n int, from int) []channel.Order {
	out := make([]channel.Order, n)
	for i := range out {
		out[i] = channel.Order{Ref: fmt.Sprintf("pb-1-%06d", from+i), Fen: int64(10_000 + from + i),
			Payee: channel.Payee{Name: "张三" + strconv.Itoa(from+i), Card: fmt.Sprintf("62220200%011d", from+i)}}
	}
	return out
}

// drain reads every result there is, a page of `page` at a time, from
// cursor; it returns them and the cursor after them.
func drain(t *testing.T, b *channel.FileBank, cursor string, page int) ([]channel.Event, string) {
	t.Helper()
	var all []channel.Event
	for {
		evs, next, err := b.Results(context.Background(), cursor, page)
		if err != nil {
			t.Fatal(err)
		}
		if len(evs) == 0 {
			return all, cursor
		}
		all, cursor = append(all, evs...), next
	}
}

func TestPaymentsGoOutInFilesAndResultsComeBackInFiles(t *testing.T) {
	f := newFolders(t)
	b := f.open(t)
	bank := newFakeBank(t, f)
	if b.Name() != "file" {
		t.Fatalf("name %q", b.Name())
	}
	acks, err := b.Submit(context.Background(), orders(5, 1))
	if err != nil {
		t.Fatal(err)
	}
	for i, a := range acks {
		if a.Refused != "" || a.Ref != orders(5, 1)[i].Ref || !strings.HasSuffix(a.ChannelRef, "#"+strconv.Itoa(i+1)) {
			t.Fatalf("ack %d: %+v", i, a)
		}
	}
	file, _, _ := strings.Cut(acks[0].ChannelRef, "#")
	if file != "PAY-20260310100000-n1-000001.csv" {
		t.Fatalf("payment file %q", file)
	}
	if _, err := b.Submit(context.Background(), orders(3, 6)); err != nil {
		t.Fatal(err)
	}
	fresh := bank.pickUp()
	if len(fresh) != 8 || bank.amount["pb-1-000001"] != "100.01" || bank.card["pb-1-000003"] != "6222020000000000003" {
		t.Fatalf("the bank read %v %v %v", fresh, bank.amount, bank.card)
	}
	// Only payment files and nothing half-written are in the folder, none
	// readable by every user.
	entries, _ := os.ReadDir(f.out)
	for _, e := range entries {
		fi, _ := e.Info()
		if !channel.PaymentFileName(e.Name()) || fi.Mode().Perm()&0o007 != 0 {
			t.Errorf("outbound folder holds %s (%s)", e.Name(), fi.Mode())
		}
	}

	// Results in two files, read a page of 3 at a time: every line once,
	// in order, resumable at every cursor.
	bank.drop(
		"pb-1-000001,paid,B0001,,2026-03-10T10:05:00+08:00",
		"pb-1-000002,failed,B0002,账户已冻结,2026-03-10T10:05:01+08:00",
		"",
		`pb-1-000003,paid,,"no bank ref, ours stands",2026-03-10T10:05:02+08:00`,
		"pb-1-000004,paid,B0004,,2026-03-10T02:05:03Z",
	)
	bank.drop(
		"pb-1-000005,paid,B0005,,2026-03-10T10:06:00+08:00",
		"pb-1-000001,returned,B0001R,收款账户已销户,2026-03-12T09:00:00+08:00",
	)
	got, cursor := drain(t, b, "", 3)
	want := []string{"pb-1-000001 paid B0001", "pb-1-000002 failed B0002", "pb-1-000003 paid " + acks[2].ChannelRef, "pb-1-000004 paid B0004",
		"pb-1-000005 paid B0005", "pb-1-000001 returned B0001R"}
	var seen []string
	for _, e := range got {
		seen = append(seen, e.Ref+" "+e.Status+" "+e.ChannelRef)
	}
	if !slices.Equal(seen, want) {
		t.Fatalf("results %q, want %q", seen, want)
	}
	if got[1].Reason != "账户已冻结" || got[2].Reason != "no bank ref, ours stands" || !got[3].At.Equal(time.Date(2026, 3, 10, 2, 5, 3, 0, time.UTC)) {
		t.Fatalf("fields: %+v", got)
	}
	if cursor != "RES-20260310-0002.csv:3" {
		t.Fatalf("cursor %q", cursor)
	}
	// Every cursor along the way gives the rest; the last gives nothing
	// until the bank drops another file.
	for i := range got {
		c := ""
		if i > 0 {
			_, c = drainN(t, b, i)
		}
		rest, _ := drain(t, b, c, 100)
		if len(rest) != len(got)-i {
			t.Fatalf("from result %d (cursor %q) %d more, want %d", i, c, len(rest), len(got)-i)
		}
	}
	bank.drop("pb-1-000006,paid,B0006,,2026-03-10T11:00:00+08:00")
	if more, _ := drain(t, b, cursor, 100); len(more) != 1 || more[0].Ref != "pb-1-000006" {
		t.Fatalf("after the last cursor: %+v", more)
	}
}

// drainN reads n results one at a time and returns the cursor after them.
func drainN(t *testing.T, b *channel.FileBank, n int) ([]channel.Event, string) {
	t.Helper()
	var all []channel.Event
	cursor := ""
	for range n {
		evs, next, err := b.Results(context.Background(), cursor, 1)
		if err != nil || len(evs) != 1 {
			t.Fatalf("%d results at %q: %v", len(evs), cursor, err)
		}
		all, cursor = append(all, evs...), next
	}
	return all, cursor
}

func TestAReferenceGoesIntoOneFileHoweverOftenItIsSubmitted(t *testing.T) {
	f := newFolders(t)
	b := f.open(t)
	first, err := b.Submit(context.Background(), orders(4, 1))
	if err != nil {
		t.Fatal(err)
	}
	// Again, mixed with new ones and one named twice, then after a restart.
	again, err := b.Submit(context.Background(), append(orders(6, 1), orders(1, 6)...))
	if err != nil {
		t.Fatal(err)
	}
	for i := range 4 {
		if again[i].ChannelRef != first[i].ChannelRef {
			t.Fatalf("%s: %q then %q", again[i].Ref, first[i].ChannelRef, again[i].ChannelRef)
		}
	}
	if again[5].ChannelRef == "" || again[6].ChannelRef != again[5].ChannelRef {
		t.Fatalf("a reference named twice in one call: %+v", again[5:])
	}
	b.Close()
	b = f.open(t)
	third, err := b.Submit(context.Background(), orders(6, 1))
	if err != nil {
		t.Fatal(err)
	}
	for i := range 6 {
		if third[i].ChannelRef != again[i].ChannelRef {
			t.Fatalf("after a restart %s: %q, was %q", third[i].Ref, third[i].ChannelRef, again[i].ChannelRef)
		}
	}
	// Two files; each reference in exactly one; the journal holds no name
	// or card.
	entries, _ := os.ReadDir(f.out)
	if len(entries) != 2 {
		t.Fatalf("%d files", len(entries))
	}
	count := map[string]int{}
	for _, e := range entries {
		data, _ := os.ReadFile(filepath.Join(f.out, e.Name()))
		for _, r := range checkPaymentFile(t, e.Name(), data) {
			count[r[0]]++
		}
	}
	for _, o := range orders(6, 1) {
		if count[o.Ref] != 1 {
			t.Errorf("%s is in %d files", o.Ref, count[o.Ref])
		}
	}
	journal, _ := os.ReadFile(f.journal)
	for _, o := range orders(6, 1) {
		if bytes.Contains(journal, []byte(o.Payee.Card)) || bytes.Contains(journal, []byte(o.Payee.Name)) {
			t.Fatalf("the journal holds %s's name or card", o.Ref)
		}
	}
	if b.Taken() != 6 {
		t.Fatalf("taken %d", b.Taken())
	}
}

func TestOrdersNoFileCanCarryAreRefusedAndWriteNothing(t *testing.T) {
	f := newFolders(t)
	b := f.open(t)
	bad := []channel.Order{
		{Ref: "pb-1-000001", Fen: 0, Payee: channel.Payee{Name: "张三", Card: "6222020000000000001"}},
		{Ref: "pb-1-000002", Fen: 100, Payee: channel.Payee{Name: "张三", Card: ""}},
		{Ref: "pb-1-000003", Fen: 100, Payee: channel.Payee{Name: "张\n三", Card: "6222020000000000001"}},
		{Ref: "pb-1-000004", Fen: 100, Payee: channel.Payee{Name: "张三", Card: "6222-0200"}},
		{Ref: "pb,1", Fen: 100, Payee: channel.Payee{Name: "张三", Card: "6222020000000000001"}},
		{Ref: "pb-1-000006", Fen: 100, Payee: channel.Payee{Name: " ", Card: "6222020000000000001"}},
	}
	acks, err := b.Submit(context.Background(), bad)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range acks {
		if a.Refused == "" || a.ChannelRef != "" {
			t.Errorf("%s: %+v", a.Ref, a)
		}
	}
	if entries, _ := os.ReadDir(f.out); len(entries) != 0 {
		t.Fatalf("refused orders wrote %d file(s)", len(entries))
	}
}

// A crash after the journal said "pending": the file that exists is the
// bank's (its orders are taken), the one that does not is written again;
// a half-written temporary file is removed.
func TestACrashBetweenTheJournalAndTheFileLosesNothingAndDoublesNothing(t *testing.T) {
	f := newFolders(t)
	b := f.open(t)
	a1, err := b.Submit(context.Background(), orders(2, 1))
	if err != nil {
		t.Fatal(err)
	}
	a2, err := b.Submit(context.Background(), orders(2, 3))
	if err != nil {
		t.Fatal(err)
	}
	b.Close()
	// Drop both "written" lines: the crash came after each rename.
	journal, _ := os.ReadFile(f.journal)
	var kept []string
	for _, l := range strings.Split(strings.TrimSpace(string(journal)), "\n") {
		if !strings.HasPrefix(l, `{"written"`) {
			kept = append(kept, l)
		}
	}
	if len(kept) != 2 {
		t.Fatalf("journal: %s", journal)
	}
	os.WriteFile(f.journal, []byte(strings.Join(kept, "\n")+"\n"+`{"pending":{"file":"PAY-2026`), 0o600) // and a torn line
	// The second file never made it (the crash came before the rename),
	// and a temporary file is left.
	second, _, _ := strings.Cut(a2[0].ChannelRef, "#")
	os.Remove(filepath.Join(f.out, second))
	tmp := filepath.Join(f.out, ".PAY-20260310100000-n1-000009.csv.tmp")
	os.WriteFile(tmp, []byte("half"), 0o600)

	b = f.open(t)
	if _, err := os.Stat(tmp); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("the half-written file is still there")
	}
	again, err := b.Submit(context.Background(), orders(4, 1))
	if err != nil {
		t.Fatal(err)
	}
	if again[0].ChannelRef != a1[0].ChannelRef || again[1].ChannelRef != a1[1].ChannelRef {
		t.Fatalf("the written file's orders: %+v, were %+v", again[:2], a1)
	}
	third, _, _ := strings.Cut(again[2].ChannelRef, "#")
	if third == second || !strings.HasSuffix(third, "-000003.csv") || again[3].ChannelRef != third+"#2" {
		t.Fatalf("the lost file's orders went into %v (lost: %s)", again[2:], second)
	}
	// A restart now changes nothing.
	b.Close()
	b = f.open(t)
	if fourth, _ := b.Submit(context.Background(), orders(4, 1)); !slices.Equal(fourth, again) {
		t.Fatalf("after a clean restart: %+v, was %+v", fourth, again)
	}
}

func TestTheFileBankStartsOnlyWithFoldersTheOperatorConfigured(t *testing.T) {
	f := newFolders(t)
	open := filepath.Join(t.TempDir(), "open")
	os.Mkdir(open, 0o755)
	os.Chmod(open, 0o755)
	file := filepath.Join(t.TempDir(), "file")
	os.WriteFile(file, nil, 0o600)
	for name, c := range map[string]channel.FileBankConfig{
		"no outbound folder":              {Inbound: f.in, Journal: f.journal},
		"no inbound folder":               {Outbound: f.out, Journal: f.journal},
		"no journal":                      {Outbound: f.out, Inbound: f.in},
		"a relative folder":               {Outbound: "out", Inbound: f.in, Journal: f.journal},
		"a missing folder":                {Outbound: f.out + "-not-there", Inbound: f.in, Journal: f.journal},
		"a file for a folder":             {Outbound: file, Inbound: f.in, Journal: f.journal},
		"an outbound folder all can read": {Outbound: open, Inbound: f.in, Journal: f.journal},
		"one folder both ways":            {Outbound: f.out, Inbound: f.out + "/", Journal: f.journal},
		"a name no account can carry":     {Name: "Bank/1", Outbound: f.out, Inbound: f.in, Journal: f.journal},
	} {
		if b, err := channel.NewFileBank(c); err == nil {
			b.Close()
			t.Errorf("%s: the file bank started", name)
		}
	}
	b, err := channel.NewFileBank(channel.FileBankConfig{Name: "icbc-fz", Outbound: f.out, Inbound: f.in, Journal: f.journal})
	if err != nil || b.Name() != "icbc-fz" {
		t.Fatalf("a named file bank: %v", err)
	}
	b.Close()
}

func TestAResultForAReferenceTheBankWasNeverGivenIsPassedOn(t *testing.T) {
	f := newFolders(t)
	b := f.open(t)
	bank := newFakeBank(t, f)
	bank.drop("pb-9-000001,paid,B1,,2026-03-10T10:05:00+08:00")
	evs, cursor, err := b.Results(context.Background(), "", 10)
	if err != nil || len(evs) != 1 || evs[0].Ref != "pb-9-000001" || evs[0].ChannelRef != "B1" || cursor != "RES-20260310-0001.csv:2" {
		t.Fatalf("%+v %q %v", evs, cursor, err)
	}
}

func TestAMalformedResultLineIsNamedAndTheCursorStaysBeforeIt(t *testing.T) {
	f := newFolders(t)
	b := f.open(t)
	bank := newFakeBank(t, f)
	bank.drop("pb-1-000001,paid,B1,,2026-03-10T10:05:00+08:00")
	name := bank.drop(
		"pb-1-000002,paid,B2,,2026-03-10T10:05:00+08:00",
		"pb-1-000003,settled,B3,,2026-03-10T10:05:00+08:00",
		"pb-1-000004,paid,B4,,2026-03-10T10:05:00+08:00",
	)
	// The results before the line come first, with the cursor before it.
	evs, cursor, err := b.Results(context.Background(), "", 10)
	if err != nil || len(evs) != 2 || cursor != name+":2" {
		t.Fatalf("%+v %q %v", evs, cursor, err)
	}
	// Then the line, named, however often it is asked, and nothing past it.
	for range 2 {
		evs, next, err := b.Results(context.Background(), cursor, 10)
		var re *channel.ResultError
		if !errors.As(err, &re) || re.File != name || re.Line != 3 || !strings.Contains(err.Error(), name+" line 3") || len(evs) != 0 || next != cursor {
			t.Fatalf("%+v %q %v", evs, next, err)
		}
	}
	// The bank corrects the line: the reading goes on from there.
	data, _ := os.ReadFile(filepath.Join(f.in, name))
	os.WriteFile(filepath.Join(f.in, name), bytes.Replace(data, []byte("settled"), []byte("failed"), 1), 0o640)
	evs, next, err := b.Results(context.Background(), cursor, 10)
	if err != nil || len(evs) != 2 || evs[0].Ref != "pb-1-000003" || evs[0].Status != channel.Failed || next != name+":4" {
		t.Fatalf("after the correction: %+v %q %v", evs, next, err)
	}
	// A cursor that names no result file is refused.
	for _, c := range []string{"x", "../RES.csv:1", "RES.csv:-1", "RES.csv"} {
		if _, _, err := b.Results(context.Background(), c, 10); err == nil {
			t.Errorf("cursor %q accepted", c)
		}
	}
}

func TestResultLinesAreCheckedFieldByField(t *testing.T) {
	for name, line := range map[string]string{
		"too few fields":      "pb-1,paid,B1,2026-03-10T10:05:00+08:00",
		"too many fields":     "pb-1,paid,B1,,2026-03-10T10:05:00+08:00,x",
		"no ref":              ",paid,B1,,2026-03-10T10:05:00+08:00",
		"an unknown status":   "pb-1,PAID,B1,,2026-03-10T10:05:00+08:00",
		"no time":             "pb-1,paid,B1,,",
		"a time without zone": "pb-1,paid,B1,,2026-03-10 10:05:00",
		"a bare quote":        `pb-1,paid,B"1,,2026-03-10T10:05:00+08:00`,
		"a long ref":          strings.Repeat("x", 65) + ",paid,B1,,2026-03-10T10:05:00+08:00",
		"a control character": "pb-1,paid,B\x071,,2026-03-10T10:05:00+08:00",
		"not UTF-8":           "pb-1,paid,B1,\xff,2026-03-10T10:05:00+08:00",
		"a line too long":     "pb-1,paid,B1," + strings.Repeat("长", 2000) + ",2026-03-10T10:05:00+08:00",
	} {
		_, last, err := channel.ParseResults("R.csv", []byte(channel.ResultHeader+"\n"+line+"\n"), 0, 10)
		var re *channel.ResultError
		if !errors.As(err, &re) || re.Line != 2 || last != 1 {
			t.Errorf("%s: %v (last %d)", name, err, last)
		}
	}
	if _, _, err := channel.ParseResults("R.csv", []byte("ref,status,bank_reference,reason,time\n"), 0, 10); err == nil {
		t.Error("a wrong header was accepted")
	}
	evs, last, err := channel.ParseResults("R.csv", []byte("\ufeff"+channel.ResultHeader+"\r\npb-1,returned,B1,退汇,2026-03-10T10:05:00+08:00\r\n"), 0, 10)
	if err != nil || len(evs) != 1 || evs[0].Reason != "退汇" || last != 2 {
		t.Fatalf("a BOM and CRLF: %+v %d %v", evs, last, err)
	}
}

// FuzzResultFile holds the result-file parser to what the cursor relies
// on: it never panics, every result it returns is whole, and reading a
// page at a time from each returned line gives exactly what one reading
// gives.
func FuzzResultFile(f *testing.F) {
	f.Add([]byte(channel.ResultHeader+"\npb-1,paid,B1,,2026-03-10T10:05:00+08:00\n\npb-2,failed,,\"a, b\",2026-03-10T10:05:00Z\n"), 2)
	f.Add([]byte("\ufeff"+channel.ResultHeader+"\r\npb-1,returned,B1,退汇,2026-03-10T10:05:00+08:00\r\nbad\n"), 1)
	f.Add([]byte(channel.ResultHeader+"\n\"pb\n1\",paid,,,2026-03-10T10:05:00Z\n"), 3)
	f.Fuzz(func(t *testing.T, data []byte, page int) {
		page = 1 + int(uint(page)%5)
		all, lastAll, errAll := channel.ParseResults("F.csv", data, 0, 1<<30)
		for _, e := range all {
			if e.Ref == "" || e.Status != channel.Paid && e.Status != channel.Failed && e.Status != channel.Returned || e.At.IsZero() {
				t.Fatalf("a result that is not whole: %+v", e)
			}
		}
		var paged []channel.Event
		after := 0
		for {
			evs, last, err := channel.ParseResults("F.csv", data, after, page)
			if len(evs) > page || last < after {
				t.Fatalf("page of %d from %d: %d results, last %d", page, after, len(evs), last)
			}
			paged = append(paged, evs...)
			if err != nil {
				if errAll == nil || err.Error() != errAll.Error() {
					t.Fatalf("paged error %v, whole-file error %v", err, errAll)
				}
				break
			}
			if len(evs) == 0 {
				if errAll != nil || last != lastAll {
					t.Fatalf("paged reading ended at %d without error; whole file: %d %v", last, lastAll, errAll)
				}
				break
			}
			after = last
		}
		if len(paged) != len(all) {
			t.Fatalf("paged %d results, whole file %d", len(paged), len(all))
		}
		for i := range all {
			if paged[i] != all[i] {
				t.Fatalf("result %d: %+v paged, %+v whole", i, paged[i], all[i])
			}
		}
	})
}

// The bank's check of a payment file, as docs/payouts.md prints it,
// gives the trailer's SM3 with stock tools.
func TestThePaymentFileTrailerChecksWithTheDocumentedCommand(t *testing.T) {
	_, here, _, _ := runtime.Caller(0)
	doc, err := os.ReadFile(filepath.Join(filepath.Dir(here), "../../docs/payouts.md"))
	if err != nil {
		t.Fatal(err)
	}
	const check = "head -n -1 PAY-20260310100000-node1-000001.csv | openssl dgst -sm3 -r"
	if !bytes.Contains(doc, []byte(check)) {
		t.Fatalf("docs/payouts.md does not print %q", check)
	}
	f := newFolders(t)
	b, err := channel.NewFileBank(channel.FileBankConfig{Outbound: f.out, Inbound: f.in, Journal: f.journal, Node: "node1", Now: func() time.Time { return t0 }})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if _, err := b.Submit(context.Background(), orders(3, 1)); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("sh", "-c", check)
	cmd.Dir = f.out
	out, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(filepath.Join(f.out, "PAY-20260310100000-node1-000001.csv"))
	lines := strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
	trailer := strings.Split(lines[len(lines)-1], ",")
	if got, _, _ := strings.Cut(string(out), " "); got != trailer[3] {
		t.Fatalf("openssl says %s, the trailer %s", got, trailer[3])
	}
}
