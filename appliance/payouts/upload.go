package payouts

import (
	"bytes"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/shopspring/decimal"

	"cxt/appliance/ledger"
	"cxt/appliance/strictjson"
	"cxt/crypto/sm"
	"cxt/storage/state"
)

// RowError is one row of an uploaded batch that cannot be a payment at all.
type RowError struct {
	Row     int    `json:"row"`
	Field   string `json:"field"`
	Message string `json:"message"`
}

// RowErrors are the rows that kept a batch from being stored: all of them,
// up to a hundred, so the file is fixed once.
type RowErrors []RowError

func (e RowErrors) Error() string {
	if len(e) == 0 {
		return "no row errors"
	}
	return fmt.Sprintf("row %d: %s: %s (and %d more)", e[0].Row, e[0].Field, e[0].Message, len(e)-1)
}

const maxRowErrors = 100

// maxField bounds a worker or task ID and a memo.
const maxField = 200

// ParseAmount reads a row's amount: a decimal string of yuan, above zero,
// with at most two decimals, up to 10,000,000.00 — never rounded.
func ParseAmount(s string) (int64, error) {
	if !amountForm.MatchString(s) {
		return 0, fmt.Errorf("%q is not an amount: digits, a point and at most two decimals, like \"1200.00\" (no sign, separators or exponent)", s)
	}
	d, err := decimal.NewFromString(s)
	switch {
	case err != nil:
		return 0, errors.New("an amount is a decimal string of yuan, like \"1200.00\"")
	case !d.IsPositive():
		return 0, fmt.Errorf("%s is not above zero", s)
	}
	fen, err := ledger.Fen(d)
	if err != nil {
		return 0, fmt.Errorf("%s has more than two decimals", s)
	}
	if fen > maxRowFen {
		return 0, fmt.Errorf("%s is above the most one payment may be, %s", s, ledger.Yuan(maxRowFen))
	}
	return fen, nil
}

const maxRowFen = 10_000_000_00

// amountForm is what an amount looks like: digits with at most two
// decimals, nothing else.
var amountForm = regexp.MustCompile(`^[0-9]{1,12}(\.[0-9]{1,2})?$`)

// check validates the rows' shape: each names a worker and a task, with an
// amount; it numbers them from 1 if they are not.
func check(rows []Row) error {
	if len(rows) == 0 {
		return RowErrors{{Row: 0, Field: "rows", Message: "a batch has at least one row"}}
	}
	if len(rows) > MaxRows {
		return state.Reject(CodeTooLarge, "a batch holds at most %d rows; this one has %d — split it", MaxRows, len(rows))
	}
	var errs RowErrors
	bad := func(row int, field, format string, args ...any) {
		if len(errs) < maxRowErrors {
			errs = append(errs, RowError{Row: row, Field: field, Message: fmt.Sprintf(format, args...)})
		}
	}
	for i := range rows {
		r := &rows[i]
		r.No = i + 1
		if r.Amount != "" {
			fen, err := ParseAmount(r.Amount)
			if err != nil {
				bad(r.No, "amount", "%v", err)
			}
			r.Fen = fen
		} else if r.Fen <= 0 {
			bad(r.No, "amount", "an amount is required")
		}
		for _, f := range []struct{ name, v string }{{"worker", r.Worker}, {"task", r.Task}} {
			if strings.TrimSpace(f.v) == "" {
				bad(r.No, f.name, "a %s ID is required", f.name)
			} else if len(f.v) > maxField || !utf8.ValidString(f.v) || strings.ContainsAny(f.v, "/\x00") {
				bad(r.No, f.name, "%q is not an ID", f.v)
			}
		}
		if len(r.Memo) > maxField || !utf8.ValidString(r.Memo) {
			bad(r.No, "memo", "a memo is at most %d bytes of UTF-8", maxField)
		}
	}
	if errs != nil {
		return errs
	}
	return nil
}

// UploadCommands checks rows and returns the commands that store them as
// batch id of merchant: the header, then one command per chunk.
func UploadCommands(id, merchant, ref, by string, rows []Row, now time.Time) ([]*state.Command, error) {
	if err := check(rows); err != nil {
		return nil, err
	}
	var total int64
	for _, r := range rows {
		total += r.Fen
	}
	chunks := (len(rows) + ChunkRows - 1) / ChunkRows
	digest := sm.NewHash()
	var cmds []*state.Command
	for c := range chunks {
		part := rows[c*ChunkRows : min(len(rows), (c+1)*ChunkRows)]
		packed := packRows(part)
		digest.Write(packed)
		cmds = append(cmds, state.NewCommand(CmdRows, mustJSON(Chunk{Batch: id, Chunk: c, Rows: packed}), now))
	}
	head := state.NewCommand(CmdUpload, mustJSON(Upload{Batch: id, Merchant: merchant, Ref: ref, Rows: len(rows),
		Chunks: chunks, TotalFen: total, By: by, Digest: hex.EncodeToString(digest.Sum(nil))}), now)
	return append([]*state.Command{head}, cmds...), nil
}

// File is an uploaded batch as JSON: the merchant's reference and rows.
type File struct {
	Ref  string `json:"ref"`
	Rows []Row  `json:"rows"`
}

// CSVHeader is the header line a CSV batch starts with.
const CSVHeader = "worker,task,amount,memo"

// ParseCSV reads a CSV batch: the header, then one row per payment. The
// amount column is a decimal string; quoted fields follow RFC 4180.
func ParseCSV(data []byte) ([]Row, error) {
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))
	cr := csv.NewReader(bytes.NewReader(data))
	cr.FieldsPerRecord = 4
	head, err := cr.Read()
	if err != nil || strings.Join(head, ",") != CSVHeader {
		return nil, RowErrors{{Row: 0, Field: "header", Message: "the first line is " + CSVHeader}}
	}
	var rows []Row
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, RowErrors{{Row: len(rows) + 1, Field: "csv", Message: err.Error()}}
		}
		if len(rows) == MaxRows {
			return nil, state.Reject(CodeTooLarge, "a batch holds at most %d rows — split the file", MaxRows)
		}
		rows = append(rows, Row{Worker: strings.TrimSpace(rec[0]), Task: strings.TrimSpace(rec[1]), Amount: strings.TrimSpace(rec[2]), Memo: rec[3]})
	}
	return rows, nil
}

// jsonFile is a JSON batch as it is decoded.
type jsonFile struct {
	Ref  string `json:"ref"`
	Rows []struct {
		Worker string          `json:"worker"`
		Task   string          `json:"task"`
		Amount json.RawMessage `json:"amount"`
		Memo   string          `json:"memo"`
	} `json:"rows"`
}

// ParseJSON reads a JSON batch strictly, as every body of the API is read:
// a key twice in one object ("amount" twice — a reader taking the first
// would see another batch than the one paid), a key in another case or one
// the format does not have refuses the file; so does an amount given as a
// JSON number.
func ParseJSON(data []byte) (*File, error) {
	var f jsonFile
	if err := strictjson.Check(data, &f); err != nil {
		return nil, RowErrors{{Row: 0, Field: "body", Message: err.Error()}}
	}
	if err := json.Unmarshal(data, &f); err != nil {
		return nil, RowErrors{{Row: 0, Field: "body", Message: "not a batch: " + err.Error()}}
	}
	if len(f.Rows) > MaxRows {
		return nil, state.Reject(CodeTooLarge, "a batch holds at most %d rows; this one has %d — split it", MaxRows, len(f.Rows))
	}
	out := &File{Ref: f.Ref, Rows: make([]Row, len(f.Rows))}
	var errs RowErrors
	for i, r := range f.Rows {
		var amount string
		if len(r.Amount) > 0 && json.Unmarshal(r.Amount, &amount) != nil && len(errs) < maxRowErrors {
			errs = append(errs, RowError{Row: i + 1, Field: "amount", Message: "an amount is a decimal string like \"1200.00\", never a JSON number"})
		}
		out.Rows[i] = Row{Worker: r.Worker, Task: r.Task, Amount: amount, Memo: r.Memo}
	}
	if errs != nil {
		return nil, errs
	}
	return out, nil
}
