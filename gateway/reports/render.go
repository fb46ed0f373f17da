package reports

import (
	"bytes"
	"crypto/rand"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"time"

	"cxt/appliance/ident"
	"cxt/appliance/ledger"
	"cxt/crypto/keyring"
	"cxt/crypto/sm"
	"cxt/storage/state"
)

// Formats a report is rendered in.
const (
	FormatCSV  = "csv"  // UTF-8 with a byte-order mark, CRLF, RFC 4180 quoting, the Chinese headers
	FormatJSON = "json" // {"report", "columns", "rows"}: each row an object in column order
)

// Protocol names the head's layout; it is the head's first field.
const Protocol = "cxt-report/1"

// PlatformOffice is how a head names the platform's own office (where it
// files as withholding agent), which the state and the feed call "".
const PlatformOffice = "platform"

// Head is what a report's signature covers: the report's identity and the
// SM3 of its bytes. The head is JSON with its fields in this order; the
// signed bytes are kept and served as they were signed.
type Head struct {
	Protocol   string `json:"protocol"`
	ID         string `json:"id"`
	Kind       string `json:"kind"`
	Quarter    string `json:"quarter"`
	Office     string `json:"office"` // a tax office code, or PlatformOffice
	Template   string `json:"template"`
	Format     string `json:"format"`
	Rows       int    `json:"rows"`
	SM3        string `json:"sm3"` // hex SM3 of the report's bytes
	Supersedes string `json:"supersedes,omitempty"`
	Generated  string `json:"generated"` // RFC 3339, UTC
}

// Signer signs a report's head: SM2 over SM3 with the default ID, DER.
type Signer func(msg []byte) ([]byte, error)

// Request asks for one report.
type Request struct {
	ID         string    // NewID()
	Kind       string    // KindIdentity, KindIncome or KindPlatform
	Quarter    string    // e.g. 2026Q3
	Office     string    // a tax office code; "" or PlatformOffice for the platform's own
	Template   string    // a template version; "" for the one governing the quarter
	Format     string    // FormatCSV or FormatJSON
	Supersedes string    // the current report this one corrects, if any
	Generated  time.Time // the caller's clock
	Platform   *PlatformInfo
}

// Report is a rendered, signed report: its bytes, its head and the
// detached signature over the head.
type Report struct {
	Head      Head
	HeadBytes []byte // the signed bytes
	Body      []byte
	Signature []byte
	Totals    *Totals // the income and identity kinds'
}

// FileName is the report's bytes' file name: its ID and format.
func (rep *Report) FileName() string { return rep.Head.ID + "." + rep.Head.Format }

var idPattern = regexp.MustCompile(`^rpt-[0-9a-z][0-9a-z-]{0,59}$`)

// NewID draws a report ID.
func NewID() string {
	var b [10]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err)
	}
	return "rpt-" + hex.EncodeToString(b[:])
}

// Generate computes a report from the state (Compute, or the platform's
// information), renders it under its template in its format, and signs its
// head. Nothing is recorded: the caller proposes IssueCommand, which
// refuses a report that would sit beside a current one without superseding
// it. A quarter's identity and income reports wait until it has ended
// (report_quarter_open).
func Generate(r *state.ReadTx, keys *keyring.Keyring, req Request, sign Signer) (*Report, error) {
	if !idPattern.MatchString(req.ID) || (req.Supersedes != "" && !idPattern.MatchString(req.Supersedes)) {
		return nil, reject(state.InvalidRequest, "a report ID is rpt- and up to 60 lower-case letters, digits and dashes")
	}
	if req.Format != FormatCSV && req.Format != FormatJSON {
		return nil, reject(state.InvalidRequest, "a report's format is csv or json, not %q", req.Format)
	}
	q, err := ParseQuarter(req.Quarter)
	if err != nil {
		return nil, err
	}
	office := req.Office
	if office == PlatformOffice {
		office = ""
	}
	if office != "" {
		if err := ident.CheckTaxOffice(office); err != nil {
			return nil, err
		}
	}
	var t *Template
	if req.Template == "" {
		t, err = For(q)
	} else {
		t, err = Lookup(req.Template)
	}
	if err != nil {
		return nil, err
	}
	rep := &Report{}
	var rows []Row
	switch req.Kind {
	case KindIdentity, KindIncome:
		if req.Generated.Before(q.End()) {
			return nil, reject(CodeQuarterOpen, "%s ends at %s: its reports are made once it has ended", q, q.End().Format(time.RFC3339))
		}
		d, err := Compute(r, keys, q, office)
		if err != nil {
			return nil, err
		}
		rows, rep.Totals = d.Income, &d.Totals
		if req.Kind == KindIdentity {
			rows = d.Identity
		}
	case KindPlatform:
		if req.Platform == nil {
			return nil, reject(state.InvalidRequest, "the platform's basic information is not configured")
		}
		if rows, err = PlatformRows(*req.Platform); err != nil {
			return nil, err
		}
	default:
		return nil, reject(state.InvalidRequest, "no kind of report %q: identity, income or platform", req.Kind)
	}
	rep.Head = Head{Protocol: Protocol, ID: req.ID, Kind: req.Kind, Quarter: q.String(), Office: OfficeName(office),
		Template: t.Version, Format: req.Format, Rows: len(rows), Supersedes: req.Supersedes,
		Generated: req.Generated.UTC().Format(time.RFC3339Nano)}
	if rep.Body, err = Render(t, rep.Head, rows); err != nil {
		return nil, err
	}
	sum := sm.Sum(rep.Body)
	rep.Head.SM3 = hex.EncodeToString(sum[:])
	if rep.HeadBytes, err = json.Marshal(rep.Head); err != nil {
		return nil, err
	}
	if rep.Signature, err = sign(rep.HeadBytes); err != nil {
		return nil, fmt.Errorf("reports: signing %s: %w", req.ID, err)
	}
	return rep, nil
}

// OfficeName is an office as heads name it: PlatformOffice for "".
func OfficeName(office string) string {
	if office == "" {
		return PlatformOffice
	}
	return office
}

// Render lays rows out under the template's table for h.Kind in h.Format.
// The JSON form carries h's identity (not its SM3, which is of these
// bytes); the CSV form is the table alone.
func Render(t *Template, h Head, rows []Row) ([]byte, error) {
	tab, ok := t.Tables[h.Kind]
	if !ok {
		return nil, reject(state.InvalidRequest, "template %s has no %s table", t.Version, h.Kind)
	}
	switch h.Format {
	case FormatCSV:
		return renderCSV(tab, rows)
	case FormatJSON:
		return renderJSON(tab, h, rows)
	}
	return nil, reject(state.InvalidRequest, "a report's format is csv or json, not %q", h.Format)
}

// bom opens a CSV report, so that spreadsheet programs in Chinese locales
// read it as UTF-8 rather than GBK; it is part of the signed bytes.
const bom = "\xEF\xBB\xBF"

func renderCSV(tab Table, rows []Row) ([]byte, error) {
	var buf bytes.Buffer
	buf.WriteString(bom)
	w := csv.NewWriter(&buf)
	w.UseCRLF = true
	rec := make([]string, len(tab.Columns))
	for i, c := range tab.Columns {
		rec[i] = c.Zh
	}
	if err := w.Write(rec); err != nil {
		return nil, err
	}
	for _, row := range rows {
		for i, c := range tab.Columns {
			s, _, err := cell(c, row[c.Key])
			if err != nil {
				return nil, err
			}
			rec[i] = s
		}
		if err := w.Write(rec); err != nil {
			return nil, err
		}
	}
	w.Flush()
	return buf.Bytes(), w.Error()
}

func renderJSON(tab Table, h Head, rows []Row) ([]byte, error) {
	type column struct {
		Key  string `json:"key"`
		Zh   string `json:"zh"`
		En   string `json:"en"`
		Type string `json:"type"`
	}
	type report struct {
		ID         string `json:"id"`
		Kind       string `json:"kind"`
		Quarter    string `json:"quarter"`
		Office     string `json:"office"`
		Template   string `json:"template"`
		Title      string `json:"title"`
		Supersedes string `json:"supersedes,omitempty"`
		Generated  string `json:"generated"`
	}
	var buf bytes.Buffer
	head, err := json.Marshal(report{ID: h.ID, Kind: h.Kind, Quarter: h.Quarter, Office: h.Office, Template: h.Template,
		Title: tab.Title, Supersedes: h.Supersedes, Generated: h.Generated})
	if err != nil {
		return nil, err
	}
	cols := make([]column, len(tab.Columns))
	for i, c := range tab.Columns {
		cols[i] = column{c.Key, c.Zh, c.En, c.Type}
	}
	cb, err := json.Marshal(cols)
	if err != nil {
		return nil, err
	}
	buf.WriteString(`{"report":`)
	buf.Write(head)
	buf.WriteString(`,"columns":`)
	buf.Write(cb)
	buf.WriteString(`,"rows":[`)
	for i, row := range rows {
		if i > 0 {
			buf.WriteByte(',')
		}
		buf.WriteString("\n{")
		for j, c := range tab.Columns {
			if j > 0 {
				buf.WriteByte(',')
			}
			k, _ := json.Marshal(c.Key)
			buf.Write(k)
			buf.WriteByte(':')
			s, present, err := cell(c, row[c.Key])
			switch {
			case err != nil:
				return nil, err
			case !present:
				buf.WriteString("null")
			case c.Type == TypeInt:
				buf.WriteString(s)
			default:
				v, _ := json.Marshal(s)
				buf.Write(v)
			}
		}
		buf.WriteByte('}')
	}
	buf.WriteString("]}\n")
	return buf.Bytes(), nil
}

// cell prints a field under its column: the text (through the column's
// labels), yuan with two decimals, the integer, or the date in China
// Standard Time; present is false for a field the row does not have.
func cell(c Column, v any) (s string, present bool, err error) {
	if v == nil {
		return "", false, nil
	}
	bad := func() (string, bool, error) {
		return "", false, fmt.Errorf("reports: column %s is %s; the row holds %T", c.Key, c.Type, v)
	}
	switch c.Type {
	case TypeText:
		t, ok := v.(string)
		if !ok {
			return bad()
		}
		if l, ok := c.Labels[t]; ok {
			t = l
		}
		return t, true, nil
	case TypeDecimal:
		f, ok := v.(Fen)
		if !ok {
			return bad()
		}
		return ledger.Yuan(int64(f)), true, nil
	case TypeInt:
		n, ok := v.(int)
		if !ok {
			return bad()
		}
		return strconv.Itoa(n), true, nil
	case TypeDate:
		d, ok := v.(time.Time)
		if !ok {
			return bad()
		}
		if d.IsZero() {
			return "", false, nil
		}
		return d.In(China).Format(time.DateOnly), true, nil
	}
	return bad()
}
