package reconcile

import (
	"encoding/hex"
	"strings"
	"testing"

	"cxt/crypto/sm"
)

func TestABadStatementIsRefusedWholeWithItsCodeAndLine(t *testing.T) {
	good := string(WriteStatement([]Line{{Ref: "pb-a-000001", Fen: 100, Status: "paid", Date: 20261210}, {Ref: "pb-a-000002", Fen: 200, Status: "failed", Date: 20261210}}))
	rows := strings.SplitAfter(good, "\n")
	for name, c := range map[string]struct {
		data string
		code string
		line int
	}{
		"no header":                   {strings.Join(rows[1:], ""), CodeStatementFormat, 1},
		"a header in Chinese":         {"参考号,银行流水,金额,状态,日期\n" + strings.Join(rows[1:], ""), CodeStatementFormat, 1},
		"six fields":                  {rows[0] + "pb-a-000001,,1.00,paid,2026-12-10,x\n" + rows[3], CodeLineInvalid, 2},
		"a quoted field":              {rows[0] + "\"pb-a-000001\",,1.00,paid,2026-12-10\n" + rows[3], CodeLineInvalid, 2},
		"an amount of zero":           {rows[0] + "pb-a-000001,,0.00,paid,2026-12-10\n" + rows[3], CodeLineInvalid, 2},
		"a negative amount":           {rows[0] + "pb-a-000001,,-1.00,paid,2026-12-10\n" + rows[3], CodeLineInvalid, 2},
		"a status in capitals":        {rows[0] + "pb-a-000001,,1.00,PAID,2026-12-10\n" + rows[3], CodeLineInvalid, 2},
		"a day that does not exist":   {rows[0] + "pb-a-000001,,1.00,paid,2026-02-30\n" + rows[3], CodeLineInvalid, 2},
		"a blank line":                {rows[0] + rows[1] + "\n" + rows[2] + rows[3], CodeLineInvalid, 3},
		"a line twice":                {rows[0] + rows[1] + rows[2] + rows[1] + rows[3], CodeLineDuplicate, 4},
		"no trailer":                  {rows[0] + rows[1] + rows[2], CodeTrailer, 4},
		"a trailer counting wrong":    {rows[0] + rows[1] + rows[2] + strings.Replace(rows[3], "#END,2,", "#END,3,", 1), CodeTrailer, 4},
		"a trailer's total wrong":     {rows[0] + rows[1] + rows[2] + strings.Replace(rows[3], ",3.00,", ",3.01,", 1), CodeTrailer, 4},
		"a line dropped":              {rows[0] + rows[1] + strings.Replace(rows[3], "#END,2,3.00,", "#END,1,1.00,", 1), CodeTrailer, 3},
		"something after the trailer": {good + "x\n", CodeStatementFormat, 5},
		"no final line feed":          {strings.TrimSuffix(good, "\n"), CodeStatementFormat, 4},
	} {
		_, err := ParseStatement([]byte(c.data))
		fe, ok := err.(*FileError)
		if !ok || fe.Code != c.code || fe.Line != c.line {
			t.Errorf("%s: %v, want %s on line %d", name, err, c.code, c.line)
		}
	}
	// A byte order mark and CR LF line ends are read, the SM3 covering
	// them as every byte before the trailer.
	body := "\ufeff" + strings.ReplaceAll(rows[0]+rows[1]+rows[2], "\n", "\r\n")
	sum := sm.Sum([]byte(body))
	if f, err := ParseStatement([]byte(body + "#END,2,3.00," + hex.EncodeToString(sum[:]) + "\r\n")); err != nil || len(f.Lines) != 2 || f.Lines[0].Ref != "pb-a-000001" {
		t.Errorf("with a byte order mark and CR LF: %v", err)
	}
	if _, err := ParseStatement([]byte("\ufeff" + good)); err == nil || err.(*FileError).Code != CodeTrailer {
		t.Errorf("a byte order mark the SM3 does not cover: %v", err)
	}
}

func TestEachDifferenceIsClassifiedOnceByPrecedence(t *testing.T) {
	const day = Day(20261210)
	pay := []Payment{
		{Ref: "same", Fen: 100, Status: "paid", Date: day, Taken: true},
		{Ref: "amount", Fen: 100, Status: "paid", Date: day, Taken: true},
		{Ref: "amount+date", Fen: 100, Status: "paid", Date: day, Taken: true},
		{Ref: "status", Fen: 100, Status: "submitted", Date: day - 1, Taken: true},
		{Ref: "date", Fen: 100, Status: "paid", Date: day - 1, Taken: true},
		{Ref: "returned-later", Fen: 100, Status: "returned", Date: day + 3, Taken: true},
		{Ref: "returned-before", Fen: 100, Status: "returned", Date: day - 1, Taken: true},
		{Ref: "missing", Fen: 100, Status: "failed", Date: day, Taken: true},
		{Ref: "refused-by-the-channel", Fen: 100, Status: "failed", Date: day},
		{Ref: "other-day", Fen: 100, Status: "paid", Date: day + 1, Taken: true},
	}
	line := func(ref string, fen int64, status string, d Day) Line {
		return Line{Ref: ref, Fen: fen, Status: status, Date: d}
	}
	f := &File{Lines: []Line{
		line("same", 100, "paid", day), line("amount", 101, "paid", day), line("amount+date", 99, "paid", day+1),
		line("status", 100, "paid", day), line("date", 100, "paid", day), line("returned-later", 100, "paid", day),
		line("returned-before", 100, "paid", day), line("ghost", 100, "paid", day),
	}}
	for i := range f.Lines {
		f.Lines[i].Row = i + 2
	}
	res := Reconcile(day, f, pay)
	got := map[string]Class{}
	for _, d := range res.Differences {
		if _, twice := got[d.Ref]; twice {
			t.Fatalf("%s classified twice", d.Ref)
		}
		got[d.Ref] = d.Class
	}
	want := map[string]Class{"amount": Amount, "amount+date": Amount, "status": Status, "date": Date, "returned-before": Status,
		"ghost": MissingPlatform, "missing": MissingChannel}
	if len(got) != len(want) {
		t.Fatalf("differences %v, want %v", got, want)
	}
	for ref, c := range want {
		if got[ref] != c {
			t.Errorf("%s: %s, want %s", ref, got[ref], c)
		}
	}
	if res.Matched != 2 || res.Expected != 4 {
		t.Fatalf("matched %d, expected %d", res.Matched, res.Expected)
	}
	for _, d := range res.Differences {
		if d.Ref == "amount+date" && (len(d.Also) != 1 || d.Also[0] != Date) {
			t.Fatalf("amount+date also: %v", d.Also)
		}
	}
}

func FuzzParseStatement(f *testing.F) {
	f.Add(WriteStatement([]Line{{Ref: "pb-a-000001", Fen: 100, Status: "paid", Date: 20261210}}))
	f.Add([]byte(StatementHeader + "\n#END,0,0.00,x\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		file, err := ParseStatement(data)
		if err != nil {
			if fe, ok := err.(*FileError); !ok || fe.Code == "" {
				t.Fatalf("an error without a code: %v", err)
			}
			return
		}
		// What reads back writes back the same, but for a byte order mark
		// and CR line ends.
		again, err := ParseStatement(WriteStatement(file.Lines))
		if err != nil || len(again.Lines) != len(file.Lines) || again.Total != file.Total {
			t.Fatalf("does not write back: %v", err)
		}
	})
}
