package topups

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/shopspring/decimal"

	"cxt/appliance/errs"
	"cxt/appliance/ledger"
)

// Codes of refused statement files (docs/errors.md).
const (
	CodeStatementFormat  = "statement_format"        // a row, or the header, is not the documented format
	CodeStatementTooMany = "statement_too_many_rows" // more than MaxStatementRows data rows
)

// Limits of one statement file (docs/payouts.md, "Bank statements").
const (
	MaxStatementBytes = 16 << 20
	MaxStatementRows  = 100_000
	maxTxnID          = 64
	maxText           = 100 // payer name and bank, in characters
	maxMemo           = 200 // in characters
)

// The columns of a statement and the header names each is known by.
var statementColumns = map[string]string{
	"txn_id": "txn_id", "交易流水号": "txn_id",
	"value_date": "value_date", "起息日": "value_date", "交易日期": "value_date",
	"amount": "amount", "金额": "amount", "交易金额": "amount",
	"currency": "currency", "币种": "currency",
	"payer_account": "payer_account", "付款账号": "payer_account", "对方账号": "payer_account",
	"payer_name": "payer_name", "付款户名": "payer_name", "对方户名": "payer_name",
	"payer_bank": "payer_bank", "付款行": "payer_bank", "对方开户行": "payer_bank",
	"memo": "memo", "附言": "memo", "摘要": "memo",
}

// columnOrder is the documented header, in its order.
var columnOrder = []string{"txn_id", "value_date", "amount", "currency", "payer_account", "payer_name", "payer_bank", "memo"}

// Line is one row of a statement as the parser accepts it.
type Line struct {
	Row          int    `json:"row"`    // the line of the file the row is on, the header being 1
	TxnID        string `json:"txn_id"` // the bank's transaction ID: the line's identity
	ValueDate    string `json:"value_date"`
	Fen          int64  `json:"fen"`                     // signed: below zero, money going out
	PayerAccount string `json:"payer_account,omitempty"` // digits only; "" when the bank gives none
	PayerName    string `json:"payer_name,omitempty"`
	PayerBank    string `json:"payer_bank,omitempty"`
	Memo         string `json:"memo,omitempty"`
}

// Incoming reports whether the line brings money in.
func (l *Line) Incoming() bool { return l.Fen > 0 }

// ParseError is a refused statement: the row at fault (the header is row
// 1), the column when one is, and what is wrong.
type ParseError struct {
	Row    int
	Column string
	Code   string
	Msg    string
}

func (e *ParseError) Error() string {
	if e.Column != "" {
		return fmt.Sprintf("row %d, %s: %s", e.Row, e.Column, e.Msg)
	}
	return fmt.Sprintf("row %d: %s", e.Row, e.Msg)
}

// API renders the refusal as the API answers it.
func (e *ParseError) API() error {
	out := errs.Coded("read statement", errs.Invalid, e.Code, "%s", e.Error()).(*errs.Error)
	out.Field = e.Column
	return out
}

func rowErr(row int, column, format string, args ...any) *ParseError {
	return &ParseError{Row: row, Column: column, Code: CodeStatementFormat, Msg: fmt.Sprintf(format, args...)}
}

var (
	txnPattern    = regexp.MustCompile(`^[A-Za-z0-9._:/-]+$`)
	amountPattern = regexp.MustCompile(`^-?(0|[1-9][0-9]{0,12})(\.[0-9]{1,2})?$`)
)

// ParseStatement reads a bank statement in the documented format: UTF-8
// (a byte-order mark is skipped), comma-separated, a header naming the
// eight columns (in any order, English or the Chinese names), then at most
// MaxStatementRows data rows; rows whose every field is blank are skipped.
// A file with any row out of format is refused whole, naming the row.
// Lines going out (a negative amount) are returned, for the import to
// skip and report.
func ParseStatement(data []byte) ([]Line, *ParseError) {
	data = bytes.TrimPrefix(data, []byte("\uFEFF"))
	if !utf8.Valid(data) {
		return nil, rowErr(invalidUTF8Row(data), "", "the file is not UTF-8 from here on; save it as \"CSV UTF-8\"")
	}
	r := csv.NewReader(bytes.NewReader(data))
	r.FieldsPerRecord = -1
	r.ReuseRecord = true
	header, err := r.Read()
	if err == io.EOF {
		return nil, rowErr(1, "", "the file is empty; row 1 is the header %s", strings.Join(columnOrder, ","))
	} else if err != nil {
		return nil, csvErr(1, err)
	}
	if row, _ := r.FieldPos(0); row != 1 {
		return nil, rowErr(1, "", "the file begins with blank lines; row 1 is the header %s", strings.Join(columnOrder, ","))
	}
	pos := map[string]int{}
	for i, h := range header {
		col, ok := statementColumns[strings.ToLower(strings.TrimSpace(h))]
		if !ok {
			return nil, rowErr(1, "", "column %d of the header is %q; the header is %s", i+1, clip(h), strings.Join(columnOrder, ","))
		}
		if _, dup := pos[col]; dup {
			return nil, rowErr(1, "", "the header names %s twice", col)
		}
		pos[col] = i
	}
	for _, need := range columnOrder {
		if _, ok := pos[need]; !ok {
			return nil, rowErr(1, "", "the header has no %s column; the header is %s", need, strings.Join(columnOrder, ","))
		}
	}
	width := len(header)
	var lines []Line
	for {
		rec, err := r.Read()
		if err == io.EOF {
			break
		} else if err != nil {
			return nil, csvErr(0, err)
		}
		row, _ := r.FieldPos(0)
		if blank(rec) {
			continue
		}
		if len(lines) == MaxStatementRows {
			return nil, &ParseError{Row: row, Code: CodeStatementTooMany, Msg: fmt.Sprintf("the file has more than %d rows; split it", MaxStatementRows)}
		}
		if len(rec) != width {
			return nil, rowErr(row, "", "the row has %d fields; the header names %d", len(rec), width)
		}
		field := func(col string) string { return strings.TrimSpace(rec[pos[col]]) }
		l, perr := parseLine(row, field)
		if perr != nil {
			return nil, perr
		}
		lines = append(lines, l)
	}
	if len(lines) == 0 {
		return nil, rowErr(2, "", "the file has a header and no rows")
	}
	return lines, nil
}

func parseLine(row int, field func(string) string) (Line, *ParseError) {
	l := Line{Row: row}
	for _, col := range columnOrder {
		if s := field(col); strings.IndexFunc(s, unicode.IsControl) >= 0 {
			return l, rowErr(row, col, "a control character (a line break inside a field?)")
		}
	}
	l.TxnID = field("txn_id")
	if l.TxnID == "" || len(l.TxnID) > maxTxnID || !txnPattern.MatchString(l.TxnID) {
		return l, rowErr(row, "txn_id", "the bank's transaction ID: 1-%d letters, digits and . _ : / -", maxTxnID)
	}
	l.ValueDate = field("value_date")
	if _, err := time.Parse(time.DateOnly, l.ValueDate); err != nil {
		return l, rowErr(row, "value_date", "%q is not a date written YYYY-MM-DD", clip(l.ValueDate))
	}
	amount := field("amount")
	if !amountPattern.MatchString(amount) {
		return l, rowErr(row, "amount", "%q is not an amount in yuan with at most 2 decimals (no thousands separators; negative for money going out)", clip(amount))
	}
	fen, err := ledger.Fen(decimal.RequireFromString(amount))
	if err != nil {
		return l, rowErr(row, "amount", "%v", err)
	}
	if fen == 0 {
		return l, rowErr(row, "amount", "an amount of zero moves no money")
	}
	l.Fen = fen
	switch c := strings.ToUpper(field("currency")); c {
	case "CNY", "RMB", "人民币":
	default:
		return l, rowErr(row, "currency", "%q: only CNY (also written RMB or 人民币) is accepted", clip(c))
	}
	account := strings.NewReplacer(" ", "", "-", "").Replace(field("payer_account"))
	if account != "" && !digits(account, 6, 32) {
		return l, rowErr(row, "payer_account", "an account number is 6-32 digits (spaces and hyphens are ignored), or empty")
	}
	l.PayerAccount = account
	for col, dst := range map[string]*string{"payer_name": &l.PayerName, "payer_bank": &l.PayerBank} {
		*dst = field(col)
		if utf8.RuneCountInString(*dst) > maxText {
			return l, rowErr(row, col, "at most %d characters", maxText)
		}
	}
	l.Memo = field("memo")
	if utf8.RuneCountInString(l.Memo) > maxMemo {
		return l, rowErr(row, "memo", "at most %d characters", maxMemo)
	}
	return l, nil
}

// digits reports whether s is min to max ASCII digits.
func digits(s string, min, max int) bool {
	if len(s) < min || len(s) > max {
		return false
	}
	for _, c := range []byte(s) {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

func abs(f int64) int64 {
	if f < 0 {
		return -f
	}
	return f
}

// invalidUTF8Row is the row (counting lines) where the first invalid byte
// is.
func invalidUTF8Row(data []byte) int {
	for i := 0; i < len(data); {
		r, size := utf8.DecodeRune(data[i:])
		if r == utf8.RuneError && size <= 1 {
			return 1 + bytes.Count(data[:i], []byte("\n"))
		}
		i += size
	}
	return 1
}

// csvErr names the row where the record that is not CSV begins (fallback
// when the reader does not say).
func csvErr(fallback int, err error) *ParseError {
	var pe *csv.ParseError
	if errors.As(err, &pe) && pe.StartLine > 0 {
		return rowErr(pe.StartLine, "", "not valid CSV (line %d, column %d): %v", pe.Line, pe.Column, pe.Err)
	}
	return rowErr(max(fallback, 1), "", "the file could not be read: %v", err)
}

func blank(rec []string) bool {
	for _, f := range rec {
		if strings.TrimSpace(f) != "" {
			return false
		}
	}
	return true
}

// clip shortens what an error message repeats of the input.
func clip(s string) string {
	if r := []rune(s); len(r) > 40 {
		return string(r[:40]) + "…"
	}
	return s
}
