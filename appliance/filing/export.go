package filing

import (
	"bytes"
	"encoding/csv"
	"strconv"
)

// IITColumns are the declaration detail's CSV columns: the JSON line's
// fields, in order.
var IITColumns = []string{"worker", "method", "month", "income", "cumulative_income", "cumulative_cost",
	"cumulative_deduction", "cumulative_taxable", "rate", "quick_deduction", "cumulative_withheld", "withheld"}

// VATColumns are the agent-filing summary's CSV columns.
var VATColumns = []string{"worker", "office", "income", "vat", "surcharges"}

// Total is the first cell of a CSV's last line: the totals.
const Total = "TOTAL"

// IITCSV writes the detail as CSV: the header, one line per worker, and a
// last line TOTAL,<lines>,<period>,<income>,,,,,,,,<withheld> — the number
// of lines in the method column, the period in the month column.
func IITCSV(f *IITForm) []byte {
	var b bytes.Buffer
	w := csv.NewWriter(&b)
	w.Write(IITColumns)
	for _, l := range f.Lines {
		w.Write([]string{l.Worker, l.Method, l.Month, l.Income, l.CumulativeIncome, l.CumulativeCost, l.CumulativeDeduction,
			l.CumulativeTaxable, l.Rate, l.QuickDeduction, l.CumulativeWithheld, l.Withheld})
	}
	w.Write([]string{Total, strconv.Itoa(f.Totals.Lines), f.Period, f.Totals.Income, "", "", "", "", "", "", "", f.Totals.Withheld})
	w.Flush()
	return b.Bytes()
}

// VATCSV writes the summary as CSV: the header, one line per worker and
// office, and a last line TOTAL,<lines>,<income>,<vat>,<surcharges>.
func VATCSV(f *VATForm) []byte {
	var b bytes.Buffer
	w := csv.NewWriter(&b)
	w.Write(VATColumns)
	for _, l := range f.Lines {
		w.Write([]string{l.Worker, l.Office, l.Income, l.VAT, l.Surcharges})
	}
	w.Write([]string{Total, strconv.Itoa(f.Totals.Lines), f.Totals.Income, f.Totals.VAT, f.Totals.Surcharges})
	w.Flush()
	return b.Bytes()
}
