package reconcile

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"cxt/appliance/channel"
	"cxt/crypto/sm"
)

// A channel statement (对账单) is UTF-8 text, LF line ends (a CR before
// the LF is dropped), a byte order mark allowed before the header:
//
//	ref,bank_ref,amount,status,date
//	<one line per payment the channel handled that day>
//	#END,<lines>,<total yuan>,<SM3 of every byte before this line, hex>
//
// Fields are never quoted and hold no comma or quote. docs/reconciliation.md
// documents each column.
const (
	StatementHeader = "ref,bank_ref,amount,status,date"
	trailerTag      = "#END"
	// MaxStatementBytes and MaxStatementLines bound one statement.
	MaxStatementBytes = 160 << 20
	MaxStatementLines = 2_000_000
	maxRef            = 64
)

// Codes of refused statement files (docs/errors.md).
const (
	CodeStatementFormat = "recon_statement_format" // the header, the trailer or the file's shape
	CodeLineInvalid     = "recon_line_invalid"     // a line that is not the documented format
	CodeLineDuplicate   = "recon_line_duplicate"   // a reference on two lines
	CodeTrailer         = "recon_statement_trailer"
)

// FileError refuses a whole statement file: a stable code and the line
// (1 is the header) at fault.
type FileError struct {
	Code string
	Line int
	Msg  string
}

func (e *FileError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("line %d: %s", e.Line, e.Msg)
	}
	return e.Msg
}

// Day is a calendar day in China as yyyymmdd.
type Day int32

// String writes the day as yyyy-mm-dd.
func (d Day) String() string {
	if d == 0 {
		return ""
	}
	return fmt.Sprintf("%04d-%02d-%02d", d/10000, d/100%100, d%100)
}

// ParseDay reads yyyy-mm-dd, a day that exists.
func ParseDay(s string) (Day, bool) {
	if len(s) != 10 || s[4] != '-' || s[7] != '-' {
		return 0, false
	}
	y, ok1 := digits(s[0:4])
	m, ok2 := digits(s[5:7])
	d, ok3 := digits(s[8:10])
	if !ok1 || !ok2 || !ok3 || y < 2000 || m < 1 || m > 12 || d < 1 || d > daysIn(y, m) {
		return 0, false
	}
	return Day(y*10000 + m*100 + d), true
}

func daysIn(y, m int) int {
	switch m {
	case 2:
		if y%4 == 0 && (y%100 != 0 || y%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

func digits(s string) (int, bool) {
	n := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, len(s) > 0
}

// Line is one line of a statement: what the channel says of one payment.
type Line struct {
	Row     int    `json:"line"` // its line in the file (the header is 1)
	Ref     string `json:"ref"`
	BankRef string `json:"bank_ref,omitempty"`
	Fen     int64  `json:"-"`
	Status  string `json:"status"`
	Date    Day    `json:"-"`
}

// File is a statement read whole.
type File struct {
	Lines []Line
	Total int64  // fen
	SM3   string // of the whole file, hex: the same file imported twice is refused
	// index finds a line by its reference (its place in Lines): the
	// duplicate check builds it, the reconciliation probes it.
	index map[string]int32
}

// ParseStatement reads a statement whole: every line valid, no reference
// twice, the trailer's count, total and SM3 what the lines make. The first
// fault refuses the file.
func ParseStatement(data []byte) (*File, error) {
	if len(data) > MaxStatementBytes {
		return nil, &FileError{Code: CodeStatementFormat, Msg: fmt.Sprintf("a statement is at most %d bytes", MaxStatementBytes)}
	}
	s := string(data) // one copy: every field is a substring of it
	body := strings.TrimPrefix(s, "\ufeff")
	off := len(s) - len(body)
	nl := strings.IndexByte(body, '\n')
	if nl < 0 || strings.TrimSuffix(body[:nl], "\r") != StatementHeader {
		return nil, &FileError{Code: CodeStatementFormat, Line: 1, Msg: "the header must be " + StatementHeader}
	}
	pos := off + nl + 1
	f := &File{Lines: make([]Line, 0, len(s)/56)}
	seen := make(map[string]int32, len(s)/56)
	f.index = seen
	row := 1
	for {
		row++
		if pos >= len(s) {
			return nil, &FileError{Code: CodeTrailer, Line: row, Msg: "the file ends without its trailer " + trailerTag + ",<lines>,<total>,<sm3>"}
		}
		end := strings.IndexByte(s[pos:], '\n')
		if end < 0 {
			return nil, &FileError{Code: CodeStatementFormat, Line: row, Msg: "the last line ends without a line feed"}
		}
		text := s[pos : pos+end]
		start := pos
		pos += end + 1
		text = strings.TrimSuffix(text, "\r")
		if strings.HasPrefix(text, trailerTag) {
			if err := f.trailer(data[:start], text, row); err != nil {
				return nil, err
			}
			if pos != len(s) {
				return nil, &FileError{Code: CodeStatementFormat, Line: row + 1, Msg: "nothing may follow the trailer"}
			}
			break
		}
		if len(f.Lines) == MaxStatementLines {
			return nil, &FileError{Code: CodeStatementFormat, Line: row, Msg: fmt.Sprintf("a statement holds at most %d lines", MaxStatementLines)}
		}
		l, why := parseLine(text)
		if why != "" {
			return nil, &FileError{Code: CodeLineInvalid, Line: row, Msg: why}
		}
		l.Row = row
		if first, dup := seen[l.Ref]; dup {
			return nil, &FileError{Code: CodeLineDuplicate, Line: row, Msg: fmt.Sprintf("ref %s is on line %d already: one line per payment", l.Ref, f.Lines[first].Row)}
		}
		seen[l.Ref] = int32(len(f.Lines))
		f.Total += l.Fen
		f.Lines = append(f.Lines, l)
	}
	sum := sm.Sum(data)
	f.SM3 = hex.EncodeToString(sum[:])
	return f, nil
}

// trailer checks the trailer line against the lines and the bytes before it.
func (f *File) trailer(before []byte, text string, row int) error {
	parts := strings.Split(text, ",")
	if len(parts) != 4 {
		return &FileError{Code: CodeTrailer, Line: row, Msg: "the trailer is " + trailerTag + ",<lines>,<total yuan>,<sm3 hex>"}
	}
	n, err := strconv.Atoi(parts[1])
	if err != nil || n != len(f.Lines) {
		return &FileError{Code: CodeTrailer, Line: row, Msg: fmt.Sprintf("the trailer counts %q lines; the file holds %d", parts[1], len(f.Lines))}
	}
	if total, ok := parseYuan(parts[2]); !ok || total != f.Total {
		return &FileError{Code: CodeTrailer, Line: row, Msg: fmt.Sprintf("the trailer's total is %q; the lines add up to %s", parts[2], yuan(f.Total))}
	}
	sum := sm.Sum(before)
	if !strings.EqualFold(parts[3], hex.EncodeToString(sum[:])) {
		return &FileError{Code: CodeTrailer, Line: row, Msg: "the trailer's SM3 is not that of the bytes before it: the file changed after it was written"}
	}
	return nil
}

// parseLine reads one line's five fields, or says what is wrong.
func parseLine(text string) (Line, string) {
	var f [5]string
	rest := text
	for i := range 4 {
		c := strings.IndexByte(rest, ',')
		if c < 0 {
			return Line{}, "5 fields: " + StatementHeader
		}
		f[i], rest = rest[:c], rest[c+1:]
	}
	if strings.IndexByte(rest, ',') >= 0 {
		return Line{}, "5 fields: " + StatementHeader
	}
	f[4] = rest
	l := Line{Ref: f[0], BankRef: f[1], Status: f[3]}
	switch {
	case !refField(l.Ref, 1):
		return l, fmt.Sprintf("ref: 1 to %d characters, no quote, space or control character", maxRef)
	case !refField(l.BankRef, 0):
		return l, fmt.Sprintf("bank_ref: at most %d characters, no quote, space or control character", maxRef)
	case l.Status != channel.Paid && l.Status != channel.Failed && l.Status != channel.Returned:
		return l, fmt.Sprintf("status %q: paid, failed or returned", l.Status)
	}
	fen, ok := parseYuan(f[2])
	if !ok || fen <= 0 {
		return l, fmt.Sprintf("amount %q: yuan above zero with two decimals, such as 1234.50", f[2])
	}
	l.Fen = fen
	if l.Date, ok = ParseDay(f[4]); !ok {
		return l, fmt.Sprintf("date %q: a day, yyyy-mm-dd", f[4])
	}
	return l, ""
}

// refField reports whether s is a reference a statement may carry: printable
// ASCII, or UTF-8 without control characters, no quote or space, min to
// maxRef characters.
func refField(s string, min int) bool {
	if len(s) < min {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x80 {
			return utf8.ValidString(s) && utf8.RuneCountInString(s) <= maxRef && !strings.ContainsFunc(s, func(r rune) bool {
				return unicode.IsControl(r) || unicode.IsSpace(r) || r == '"'
			})
		}
		if c <= ' ' || c == '"' || c == 0x7f {
			return false
		}
	}
	return len(s) <= maxRef
}

// parseYuan reads yuan with exactly two decimals into fen.
func parseYuan(s string) (int64, bool) {
	if len(s) < 4 || len(s) > 16 || s[len(s)-3] != '.' || (s[0] == '0' && len(s) > 4) {
		return 0, false
	}
	var n int64
	for i := 0; i < len(s); i++ {
		if i == len(s)-3 {
			continue
		}
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}

// yuan writes fen as yuan with two decimals.
func yuan(fen int64) string {
	sign := ""
	if fen < 0 {
		sign, fen = "-", -fen
	}
	return fmt.Sprintf("%s%d.%02d", sign, fen/100, fen%100)
}

// WriteStatement renders lines as a statement, trailer included: what a
// channel sends, and what the tests and the demo write.
func WriteStatement(lines []Line) []byte {
	var b bytes.Buffer
	b.WriteString(StatementHeader + "\n")
	var total int64
	for _, l := range lines {
		b.WriteString(l.Ref + "," + l.BankRef + "," + yuan(l.Fen) + "," + l.Status + "," + l.Date.String() + "\n")
		total += l.Fen
	}
	sum := sm.Sum(b.Bytes())
	fmt.Fprintf(&b, "%s,%d,%s,%s\n", trailerTag, len(lines), yuan(total), hex.EncodeToString(sum[:]))
	return b.Bytes()
}
