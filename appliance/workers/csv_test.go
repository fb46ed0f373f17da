package workers

import (
	"bytes"
	"context"
	"encoding/csv"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"cxt/appliance/errs"
	"cxt/appliance/workers/workerstest"
	"cxt/storage/state"
)

func errCode(err error) string {
	if err == nil {
		return ""
	}
	return errs.Of(err).Code
}

func TestAnInvitationFileIsReadByItsHeader(t *testing.T) {
	rows, err := ParseCSV([]byte("\uFEFF手机号, 姓名 ,身份证号\r\n13800001111, 张三 ,11010519491231002X\r\n,,\r\n\r\n13800002222,李四\r\n13800003333,王\x01五,110105199003071459\r\n"))
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 3 {
		t.Fatalf("rows %+v", rows)
	}
	if r := rows[0]; r.Line != 2 || r.Name != "张三" || r.IDNumber != "11010519491231002X" || r.Phone != "13800001111" || r.BankCard != "" || r.Err != nil {
		t.Fatalf("row 2: %+v", r)
	}
	// The blank row 3 is skipped but counted; the empty line is not a record.
	if r := rows[1]; r.Line != 4 || errCode(r.Err) != CodeCSVFormat {
		t.Fatalf("a short row: %+v", r)
	}
	if r := rows[2]; r.Line != 5 || errCode(r.Err) != CodeCSVFormat || !strings.Contains(r.Err.Error(), "control") {
		t.Fatalf("a row with a control character: %+v", r)
	}
}

func TestABadInvitationFileIsRefusedWhole(t *testing.T) {
	many := workerstest.CSV(0, MaxRows+1)
	cases := []struct {
		name, file, code string
	}{
		{"empty", "", CodeCSVFormat},
		{"a header and no rows", "name,id_number,phone\n", CodeCSVFormat},
		{"GBK, not UTF-8", "name,id_number,phone\n\xd5\xc5\xc8\xfd,11010519491231002X,13800001111\n", CodeCSVFormat},
		{"no phone column", "name,id_number\n张三,11010519491231002X\n", CodeCSVFormat},
		{"an unknown column", "name,id_number,phone,salary\n张三,11010519491231002X,13800001111,9000\n", CodeCSVFormat},
		{"a column twice", "name,姓名,id_number,phone\n张三,张三,11010519491231002X,13800001111\n", CodeCSVFormat},
		{"a bare quote", "name,id_number,phone\n张\"三,11010519491231002X,13800001111\n", CodeCSVFormat},
		{"more than 10,000 rows", string(many), CodeCSVTooMany},
	}
	for _, c := range cases {
		if _, err := ParseCSV([]byte(c.file)); errCode(err) != c.code || errs.Of(err).Kind != errs.Invalid {
			t.Errorf("%s: %v, want %s", c.name, err, c.code)
		}
	}
	if rows, err := ParseCSV(workerstest.CSV(0, MaxRows)); err != nil || len(rows) != MaxRows {
		t.Fatalf("exactly 10,000 rows: %d %v", len(rows), err)
	}
}

func TestAPersonIsCheckedFieldByField(t *testing.T) {
	on := time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC)
	ok := Person{Name: "张三", IDNumber: "11010519491231002x", Phone: "+8613800001111", BankCard: workerstest.Card(1)}
	cases := []struct {
		name string
		edit func(*Person)
		code string
	}{
		{"valid", func(*Person) {}, ""},
		{"a minority name with a middle dot", func(p *Person) { p.Name = "阿依古丽·买买提" }, ""},
		{"no card", func(p *Person) { p.BankCard = "" }, ""},
		{"no name", func(p *Person) { p.Name = " " }, CodeName},
		{"a name with digits", func(p *Person) { p.Name = "张3" }, CodeName},
		{"a wrong check digit", func(p *Person) { p.IDNumber = "110105194912310021" }, "id_check_digit"},
		{"a 15-digit ID", func(p *Person) { p.IDNumber = "110105491231002" }, "id_format"},
		{"an unknown region", func(p *Person) { p.IDNumber = fixCheck("99010519491231002") }, "id_region"},
		{"born on 30 February", func(p *Person) { p.IDNumber = fixCheck("11010520000230001") }, "id_birth_date"},
		{"15 years old", func(p *Person) { p.IDNumber = workerstest.Born(on.AddDate(-16, 0, 1), 1) }, "id_underage"},
		{"16 today", func(p *Person) { p.IDNumber = workerstest.Born(on.AddDate(-16, 0, 0), 1) }, ""},
		{"a landline", func(p *Person) { p.Phone = "01012345678" }, "phone_format"},
		{"a card failing Luhn", func(p *Person) { c := workerstest.Card(1); p.BankCard = c[:18] + string('0'+(c[18]-'0'+1)%10) }, "card_luhn"},
		{"a card too short", func(p *Person) { p.BankCard = "622202020011223" }, "card_length"},
	}
	for _, c := range cases {
		p := ok
		c.edit(&p)
		got, err := p.Check(on)
		if errCode(err) != c.code {
			t.Errorf("%s: %v, want %q", c.name, err, c.code)
		}
		if err == nil && (got.Phone != "13800001111" || p.IDNumber == ok.IDNumber && got.IDNumber != "11010519491231002X") {
			t.Errorf("%s: not normalised: %+v", c.name, got)
		}
	}
}

func wrongCheck(id string) string {
	if id[17] == '0' {
		return id[:17] + "1"
	}
	return id[:17] + "0"
}

func fixCheck(first17 string) string {
	var sum int
	w := []int{7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2}
	for i := range 17 {
		sum += int(first17[i]-'0') * w[i]
	}
	return first17 + string("10X98765432"[sum%11])
}

// inviter runs invitations straight against the world's state machine.
func (w *world) inviter(now time.Time) *Inviter {
	var mu sync.Mutex
	return &Inviter{Keys: w.Keys, View: w.State.View, Now: now, Batch: 3, InFlight: 2,
		Propose: func(_ bool, cmd *state.Command) ([]byte, error) {
			mu.Lock()
			defer mu.Unlock()
			res := w.Apply(cmd)
			if res.Err != nil {
				return nil, res.Err
			}
			return res.Value, nil
		}}
}

func TestAnInvitationReportsEveryRow(t *testing.T) {
	w := newWorld(t)
	w.merchant("m_a", true)
	w.merchant("m_b", true)
	now := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
	rows := func(file string) []Row {
		r, err := ParseCSV([]byte(file))
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	a := "name,id_number,phone,bank_card\n" +
		fmt.Sprintf("%s,%s,%s,%s\n", "张三", workerstest.ID(1), workerstest.Phone(1), workerstest.Card(1)) + // 2 created
		fmt.Sprintf("%s,%s,%s,\n", "李四", workerstest.ID(2), workerstest.Phone(2)) + // 3 created
		fmt.Sprintf("%s,%s,%s,\n", "王五", workerstest.ID(1), workerstest.Phone(3)) + // 4 the same ID as row 2
		fmt.Sprintf("%s,%s,%s,\n", "赵六", wrongCheck(workerstest.ID(4)), workerstest.Phone(4)) + // 5 a wrong check digit
		fmt.Sprintf("%s,%s,%s,\n", "孙七", workerstest.Born(now.AddDate(-15, 0, 0), 7), workerstest.Phone(5)) + // 6 under 16
		fmt.Sprintf("%s,%s,%s,\n", "周八", workerstest.ID(8), workerstest.Phone(2)) + // 7 row 3's phone
		"吴九,short\n" // 8 the wrong shape
	rep, err := w.inviter(now).Invite(context.Background(), "m_a", "acct-boss-a", rows(a))
	if err != nil {
		t.Fatal(err)
	}
	want := []ReportRow{
		{Row: 2, Status: RowCreated}, {Row: 3, Status: RowCreated},
		{Row: 4, Status: RowInvalid, Code: "worker_duplicate", DuplicateOfRow: 2},
		{Row: 5, Status: RowInvalid, Code: "id_check_digit"},
		{Row: 6, Status: RowInvalid, Code: "id_underage"},
		{Row: 7, Status: RowInvalid, Code: "worker_phone_taken", DuplicateOfRow: 3},
		{Row: 8, Status: RowInvalid, Code: CodeCSVFormat},
	}
	check := func(rep *Report, want []ReportRow) {
		t.Helper()
		if len(rep.Report) != len(want) {
			t.Fatalf("report %+v", rep.Report)
		}
		for i, r := range rep.Report {
			wr := want[i]
			if r.Row != wr.Row || r.Status != wr.Status || r.Code != wr.Code || r.DuplicateOfRow != wr.DuplicateOfRow ||
				(r.Status == RowCreated || r.Status == RowLinked || r.Status == RowAlreadyLinked) != (r.Worker != "") ||
				r.Status == RowInvalid && r.Message == "" {
				t.Errorf("row %d: %+v, want %+v", wr.Row, r, wr)
			}
		}
	}
	check(rep, want)
	if rep.Created != 2 || rep.Invalid != 5 || rep.Rows != 7 {
		t.Fatalf("counts %+v", rep)
	}
	zhang := rep.Report[0].Worker

	// Merchant B invites 张三 too (linked, not duplicated), a new person, and
	// 张三's ID number under another name (refused: it reaches nobody).
	b := "姓名,身份证号,手机号\n" +
		fmt.Sprintf("%s,%s,%s\n", "张三", workerstest.ID(1), workerstest.Phone(99)) +
		fmt.Sprintf("%s,%s,%s\n", "郑十", workerstest.ID(10), workerstest.Phone(10)) +
		fmt.Sprintf("%s,%s,%s\n", "冒名", workerstest.ID(2), workerstest.Phone(11)) +
		fmt.Sprintf("%s,%s,%s\n", "钱一", workerstest.ID(12), workerstest.Phone(1)) // 张三's phone
	rep, err = w.inviter(now).Invite(context.Background(), "m_b", "acct-boss-b", rows(b))
	if err != nil {
		t.Fatal(err)
	}
	check(rep, []ReportRow{{Row: 2, Status: RowLinked}, {Row: 3, Status: RowCreated},
		{Row: 4, Status: RowInvalid, Code: CodeMismatch}, {Row: 5, Status: RowInvalid, Code: "worker_phone_taken"}})
	if rep.Report[0].Worker != zhang {
		t.Fatalf("B's 张三 is %s, A's %s", rep.Report[0].Worker, zhang)
	}
	if got := w.worker(zhang); strings.Join(got.Merchants, ",") != "m_a" {
		t.Fatalf("张三's merchants before accepting B: %v", got.Merchants)
	}
	// The same file again links nobody twice and creates nobody.
	rep, err = w.inviter(now).Invite(context.Background(), "m_b", "acct-boss-b", rows(b))
	if err != nil || rep.AlreadyLinked != 2 || rep.Created != 0 {
		t.Fatalf("the file again: %+v %v", rep, err)
	}
	if n := w.count(Bucket); n != 3 {
		t.Fatalf("%d workers", n)
	}
}

func TestAFailedBatchFailsItsRowsAndNoOthers(t *testing.T) {
	w := newWorld(t)
	w.merchant("m_a", true)
	now := time.Now()
	rows, _ := ParseCSV(workerstest.CSV(0, 7)) // batches of 3: rows 2-4, 5-7, 8
	iv := w.inviter(now)
	propose := iv.Propose
	batch := 0
	iv.InFlight = 1
	iv.Propose = func(first bool, cmd *state.Command) ([]byte, error) {
		batch++
		if batch == 2 { // someone registered row 6's person in between
			var in Invitation
			jsonUnmarshal(cmd.Body, &in)
			other := in.Rows[1]
			other.ID = "w_other"
			_, fresh := w.fresh("w_other", Private{Name: "x", IDNumber: "y", Phone: "z"})
			other.Key, other.Private = fresh.Key, fresh.Private
			w.Send(CmdInvite, Invitation{Merchant: "m_a", By: "other", Rows: []Invitee{other}})
		}
		return propose(first, cmd)
	}
	rep, err := iv.Invite(context.Background(), "m_a", "acct-boss", rows)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range rep.Report {
		got = append(got, r.Status+":"+r.Code)
	}
	want := "created:,created:,created:,failed:worker_duplicate,failed:worker_duplicate,failed:worker_duplicate,created:"
	if strings.Join(got, ",") != want {
		t.Fatalf("report %v", got)
	}
	if rep.Failed != 3 || rep.Created != 4 || w.count(Bucket) != 5 {
		t.Fatalf("counts %+v, %d workers", rep, w.count(Bucket))
	}
}

// FuzzParseCSV: whatever the bytes, the parser answers rows or a coded
// refusal, never panics, numbers rows in order, keeps to MaxRows, and the
// rows it accepts read back the same when written out again.
func FuzzParseCSV(f *testing.F) {
	f.Add([]byte("name,id_number,phone,bank_card\n张三,11010519491231002X,13800001111,6222020200112233445\n"))
	f.Add([]byte("\uFEFF手机号,姓名,身份证号\r\n13800001111,\"张,三\",11010519491231002X\r\n,,\r\n"))
	f.Add([]byte("name,id_number,phone\n\"a\"\"b\",1,2\nx,y\n"))
	f.Add([]byte("name,id_number,phone\n\"unterminated\n"))
	f.Add([]byte("name\xff,id_number,phone\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		rows, err := ParseCSV(data)
		if err != nil {
			if c := errCode(err); c != CodeCSVFormat && c != CodeCSVTooMany {
				t.Fatalf("refused with %q: %v", c, err)
			}
			return
		}
		if len(rows) == 0 || len(rows) > MaxRows {
			t.Fatalf("%d rows", len(rows))
		}
		var buf bytes.Buffer
		cw := csv.NewWriter(&buf)
		cw.Write([]string{"name", "id_number", "phone", "bank_card"})
		var kept []Row
		for i, r := range rows {
			if r.Line < 2 || i > 0 && r.Line <= rows[i-1].Line {
				t.Fatalf("row numbers %d after %d", r.Line, rows[i-1].Line)
			}
			if r.Err != nil {
				if errCode(r.Err) != CodeCSVFormat {
					t.Fatalf("row refused with %v", r.Err)
				}
				continue
			}
			if r.Name == "" && r.IDNumber == "" && r.Phone == "" && r.BankCard == "" {
				t.Fatalf("a blank row came back: %+v", r)
			}
			kept = append(kept, r)
			cw.Write([]string{r.Name, r.IDNumber, r.Phone, r.BankCard})
		}
		cw.Flush()
		if len(kept) == 0 {
			return
		}
		again, err := ParseCSV(buf.Bytes())
		if err != nil || len(again) != len(kept) {
			t.Fatalf("written out again: %d rows, %v", len(again), err)
		}
		for i := range kept {
			if again[i].Person != kept[i].Person || again[i].Err != nil {
				t.Fatalf("row %d read back as %+v, was %+v", i, again[i], kept[i])
			}
		}
	})
}
