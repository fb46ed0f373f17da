package invoices

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"strconv"
	"strings"

	"cxt/appliance/ledger"
	"cxt/storage/state"
)

// Columns are the export's columns, in order: the CSV's header and the
// JSON lines' keys (docs/invoices.md explains each).
var Columns = []string{"invoice", "kind", "seller", "seller_tax_id", "buyer", "buyer_tax_id", "item", "rate",
	"amount", "tax", "total", "original_number", "payments", "requested"}

// Line is one invoice as the tax-control system imports it.
type Line struct {
	Invoice        string `json:"invoice"`
	Kind           Kind   `json:"kind"`
	Seller         string `json:"seller"`
	SellerTaxID    string `json:"seller_tax_id"`
	Buyer          string `json:"buyer"`
	BuyerTaxID     string `json:"buyer_tax_id"`
	Item           string `json:"item"`
	Rate           string `json:"rate"`
	Amount         string `json:"amount"`
	Tax            string `json:"tax"`
	Total          string `json:"total"`
	OriginalNumber string `json:"original_number"`
	Payments       int    `json:"payments"`
	Requested      string `json:"requested"` // yyyy-mm-dd, China time
}

// Export is the JSON form: the lines and their totals.
type Export struct {
	Count  int    `json:"count"`
	Lines  []Line `json:"lines"`
	Totals struct {
		Amount string `json:"amount"`
		Tax    string `json:"tax"`
		Total  string `json:"total"`
	} `json:"totals"`
}

// Pending lists the platform's invoices not issued yet — requested, or
// issuing (blue and red-letter alike) — of merchant ("" for all), in
// invoice order: what the tax-control system is to issue. 代开 invoices
// are the tax office's to issue and are not among them.
func Pending(r *state.ReadTx, merchant string) ([]Line, error) {
	var out []Line
	err := r.ForEach(Bucket, func(_, v []byte) error {
		var inv Invoice
		if err := json.Unmarshal(v, &inv); err != nil {
			return err
		}
		if inv.Kind == Worker || (inv.Status != Requested && inv.Status != Issuing) || (merchant != "" && inv.Merchant != merchant) {
			return nil
		}
		l := LineOf(&inv)
		if inv.Reverses != "" {
			o, err := Get(r, inv.Reverses)
			if err != nil {
				return err
			}
			l.OriginalNumber = o.Number
		}
		out = append(out, l)
		return nil
	})
	return out, err
}

// LineOf is inv's export line (without a reversal's original number).
func LineOf(inv *Invoice) Line {
	return Line{Invoice: inv.ID, Kind: inv.Kind, Seller: inv.Seller, SellerTaxID: inv.SellerTaxID, Buyer: inv.Buyer,
		BuyerTaxID: inv.BuyerTaxID, Item: inv.Item, Rate: inv.Rate(), Amount: ledger.Yuan(inv.AmountFen), Tax: ledger.Yuan(inv.TaxFen),
		Total: ledger.Yuan(inv.TotalFen), Payments: len(inv.Payments), Requested: inv.Requested.In(china).Format("2006-01-02")}
}

// JSON is the lines with their totals.
func JSON(lines []Line) ([]byte, error) {
	e := Export{Count: len(lines), Lines: lines}
	if e.Lines == nil {
		e.Lines = []Line{}
	}
	var a, t, s int64
	for _, l := range lines {
		a += fen(l.Amount)
		t += fen(l.Tax)
		s += fen(l.Total)
	}
	e.Totals.Amount, e.Totals.Tax, e.Totals.Total = ledger.Yuan(a), ledger.Yuan(t), ledger.Yuan(s)
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	err := enc.Encode(e)
	return buf.Bytes(), err
}

// CSV is the lines under the header row (Columns), UTF-8, CRLF line ends
// as spreadsheet imports expect.
func CSV(lines []Line) ([]byte, error) {
	var buf bytes.Buffer
	w := csv.NewWriter(&buf)
	w.UseCRLF = true
	if err := w.Write(Columns); err != nil {
		return nil, err
	}
	for _, l := range lines {
		if err := w.Write([]string{l.Invoice, string(l.Kind), l.Seller, l.SellerTaxID, l.Buyer, l.BuyerTaxID, l.Item, l.Rate,
			l.Amount, l.Tax, l.Total, l.OriginalNumber, strconv.Itoa(l.Payments), l.Requested}); err != nil {
			return nil, err
		}
	}
	w.Flush()
	return buf.Bytes(), w.Error()
}

// fen reads a Yuan string back (the lines' own, always well formed).
func fen(y string) int64 {
	neg := strings.HasPrefix(y, "-")
	y = strings.TrimPrefix(y, "-")
	whole, frac, _ := strings.Cut(y, ".")
	w, _ := strconv.ParseInt(whole, 10, 64)
	f, _ := strconv.ParseInt(frac, 10, 64)
	v := w*100 + f
	if neg {
		return -v
	}
	return v
}
