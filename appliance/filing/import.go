package filing

import (
	"bytes"
	"encoding/csv"
	"errors"
	"io"
	"strings"

	"cxt/appliance/api"
	"cxt/appliance/errs"
)

// ImportColumns is an imported tax-payment file's header.
var ImportColumns = []string{"kind", "amount", "date", "receipt"}

// ParsePayments reads a tax-payment file: the header kind,amount,date,receipt
// then one payment a line (amount in yuan, date yyyy-mm-dd). A line that is
// not a payment, a line repeated or a receipt on two lines refuses the whole
// file, naming the line.
func ParsePayments(data []byte, p Period, today string) ([]PayItem, error) {
	const op = "import tax payments"
	data = bytes.TrimPrefix(data, []byte("\ufeff"))
	rd := csv.NewReader(bytes.NewReader(data))
	rd.FieldsPerRecord = len(ImportColumns)
	head, err := rd.Read()
	if err != nil || strings.Join(head, ",") != strings.Join(ImportColumns, ",") {
		return nil, errs.Coded(op, errs.Invalid, CodeTaxPayment.String(), "line 1: the header is %s", strings.Join(ImportColumns, ","))
	}
	var items []PayItem
	lines, receipts := map[string]int{}, map[string]int{}
	for no := 2; ; no++ {
		rec, err := rd.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, errs.Coded(op, errs.Invalid, CodeTaxPayment.String(), "line %d: %v", no, err)
		}
		whole := strings.Join(rec, ",")
		if first, dup := lines[whole]; dup {
			return nil, errs.Coded(op, errs.Invalid, CodeImportLine.String(), "line %d repeats line %d: nothing was recorded", no, first)
		}
		lines[whole] = no
		if first, dup := receipts[rec[3]]; dup {
			return nil, errs.Coded(op, errs.Conflict, CodeReceiptUsed.String(), "line %d: receipt %s is also on line %d: nothing was recorded", no, rec[3], first)
		}
		receipts[rec[3]] = no
		fen, err := moneyFen(rec[1], func() (int64, error) {
			return 0, errs.Coded(op, errs.Invalid, CodeTaxPayment.String(), "line %d: amount %q: yuan above zero with at most 2 decimals", no, rec[1])
		})
		if err != nil {
			return nil, err
		}
		it := PayItem{Line: no, Kind: rec[0], Fen: fen, Date: rec[2], Receipt: rec[3]}
		if err := CheckItem(it, p, today); err != nil {
			return nil, api.Classify(err)
		}
		items = append(items, it)
		if len(items) > MaxImport {
			return nil, errs.Coded(op, errs.TooLarge, "too_large", "at most %d payments a file", MaxImport)
		}
	}
	if len(items) == 0 {
		return nil, errs.Coded(op, errs.Invalid, CodeTaxPayment.String(), "the file has no payment")
	}
	return items, nil
}
