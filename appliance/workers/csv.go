package workers

import (
	"bytes"
	"encoding/csv"
	"errors"
	"io"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"cxt/appliance/errs"
	"cxt/appliance/ident"
)

// Codes of refused files and fields (docs/errors.md).
const (
	CodeCSVFormat  = "csv_format"        // not UTF-8 CSV with the documented header, or a row of the wrong shape
	CodeCSVTooMany = "csv_too_many_rows" // more than MaxRows data rows
	CodeName       = "worker_name"       // a name that is empty, too long or holds what no name holds
)

// Columns of an invitation file and the header names each is known by.
var columns = map[string]string{
	"name": "name", "姓名": "name",
	"id_number": "id_number", "身份证号": "id_number", "身份证号码": "id_number",
	"phone": "phone", "手机号": "phone", "手机号码": "phone",
	"bank_card": "bank_card", "银行卡号": "bank_card",
}

// Row is one data row of an invitation file, its fields trimmed. Line is
// its record number in the file, the header being 1, as a spreadsheet
// numbers it. Err is set for a row of the wrong shape (csv_format).
type Row struct {
	Line int
	Person
	Err error
}

// Person is what a worker registers with or is invited by.
type Person struct {
	Name     string `json:"name"`
	IDNumber string `json:"id_number"`
	Phone    string `json:"phone"`
	BankCard string `json:"bank_card,omitempty"`
}

// ParseCSV reads an invitation file: UTF-8 (a byte-order mark is skipped),
// comma-separated, a header row naming the columns name, id_number, phone
// and optionally bank_card (in any order, or by their Chinese names 姓名,
// 身份证号, 手机号, 银行卡号), then 1 to MaxRows data rows. Rows whose every
// field is blank are skipped. A file that is not such CSV is refused whole
// (csv_format, csv_too_many_rows); a row of the wrong shape comes back with
// its Err set, for the per-row report.
func ParseCSV(data []byte) ([]Row, error) {
	const op = "read invitation file"
	data = bytes.TrimPrefix(data, []byte("\uFEFF"))
	if !utf8.Valid(data) {
		return nil, errs.Coded(op, errs.Invalid, CodeCSVFormat, "the file is not UTF-8; save it as \"CSV UTF-8\"")
	}
	r := csv.NewReader(bytes.NewReader(data))
	r.FieldsPerRecord = -1
	header, err := r.Read()
	if err == io.EOF {
		return nil, errs.Coded(op, errs.Invalid, CodeCSVFormat, "the file is empty; its first row names the columns name, id_number, phone and bank_card")
	} else if err != nil {
		return nil, csvError(op, err)
	}
	pos := map[string]int{}
	for i, h := range header {
		if i == 0 {
			h = strings.TrimPrefix(h, "\uFEFF")
		}
		col, ok := columns[strings.ToLower(strings.TrimSpace(h))]
		if !ok {
			return nil, errs.Coded(op, errs.Invalid, CodeCSVFormat, "column %d of the header is %q; the columns are name, id_number, phone and bank_card", i+1, clip(h))
		}
		if _, dup := pos[col]; dup {
			return nil, errs.Coded(op, errs.Invalid, CodeCSVFormat, "the header names %s twice", col)
		}
		pos[col] = i
	}
	for _, need := range []string{"name", "id_number", "phone"} {
		if _, ok := pos[need]; !ok {
			return nil, errs.Coded(op, errs.Invalid, CodeCSVFormat, "the header has no %s column", need)
		}
	}
	var rows []Row
	for line := 2; ; line++ {
		rec, err := r.Read()
		if err == io.EOF {
			break
		} else if err != nil {
			return nil, csvError(op, err)
		}
		if blank(rec) {
			continue
		}
		if len(rows) == MaxRows {
			return nil, errs.Coded(op, errs.Invalid, CodeCSVTooMany, "the file has more than %d rows; split it", MaxRows)
		}
		row := Row{Line: line}
		field := func(col string) string {
			if i, ok := pos[col]; ok && i < len(rec) {
				return strings.TrimSpace(rec[i])
			}
			return ""
		}
		switch {
		case len(rec) != len(header):
			row.Err = errs.Coded(op, errs.Invalid, CodeCSVFormat, "the row has %d fields; the header names %d", len(rec), len(header))
		case control(rec):
			row.Err = errs.Coded(op, errs.Invalid, CodeCSVFormat, "the row holds a control character (a line break inside a field?)")
		default:
			row.Person = Person{Name: field("name"), IDNumber: field("id_number"), Phone: field("phone"), BankCard: field("bank_card")}
		}
		rows = append(rows, row)
	}
	if len(rows) == 0 {
		return nil, errs.Coded(op, errs.Invalid, CodeCSVFormat, "the file has a header and no rows")
	}
	return rows, nil
}

func csvError(op string, err error) error {
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		return errs.Coded(op, errs.Invalid, CodeCSVFormat, "the file is not valid CSV at line %d, column %d: %v", pe.Line, pe.Column, pe.Err)
	}
	return errs.Coded(op, errs.Invalid, CodeCSVFormat, "the file could not be read: %v", err)
}

func blank(rec []string) bool {
	for _, f := range rec {
		if strings.TrimSpace(f) != "" {
			return false
		}
	}
	return true
}

func control(rec []string) bool {
	for _, f := range rec {
		if strings.IndexFunc(f, unicode.IsControl) >= 0 {
			return true
		}
	}
	return false
}

// clip shortens what an error message repeats of the input.
func clip(s string) string {
	if r := []rune(s); len(r) > 40 {
		return string(r[:40]) + "…"
	}
	return s
}

// MaxName is the longest name, in characters.
const MaxName = 50

// Check validates a person on the date on: a name, a resident ID number of
// someone MinWorkerAge or older (GB 11643 check digit, a real birth date, a
// GB/T 2260 region), a mainland mobile number and, if given, a bank card
// (Luhn, a length the card's scheme issues). It returns them normalised,
// or the first field that is wrong with its stable code.
func (p Person) Check(on time.Time) (Person, error) {
	p.Name = strings.TrimSpace(p.Name)
	if err := checkName(p.Name); err != nil {
		return p, err
	}
	id, err := ident.WorkerResidentID(strings.TrimSpace(p.IDNumber), on)
	if err != nil {
		return p, err
	}
	p.IDNumber = id.Number
	if p.Phone, err = ident.ParsePhone(strings.TrimSpace(p.Phone)); err != nil {
		return p, err
	}
	if p.BankCard = strings.TrimSpace(p.BankCard); p.BankCard != "" {
		if _, err := ident.ParseBankCard(p.BankCard); err != nil {
			return p, err
		}
	}
	return p, nil
}

// checkName admits a person's name as an ID card prints it: letters (Han or
// other scripts), combining marks, the middle dot of minority and foreign
// names, spaces, hyphens and apostrophes.
func checkName(name string) error {
	const op = "name"
	n := utf8.RuneCountInString(name)
	if n == 0 || n > MaxName {
		return errs.Coded(op, errs.Invalid, CodeName, "name: 1 to %d characters, as on the ID card", MaxName)
	}
	for _, r := range name {
		if !unicode.IsLetter(r) && !unicode.Is(unicode.Mn, r) && !strings.ContainsRune("·•・ -'.", r) {
			return errs.Coded(op, errs.Invalid, CodeName, "name: %q is not part of a name", r)
		}
	}
	return nil
}
