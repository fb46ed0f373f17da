package reports

import (
	"bytes"
	"embed"
	"encoding/json"
	"fmt"
	"path"
	"sort"
	"strings"
	"sync"
)

// Kinds of report: the tables a template lays out.
const (
	KindIdentity = "identity" // 身份信息: one row per worker
	KindIncome   = "income"   // 收入信息: one row per worker and income type
	KindPlatform = "platform" // the platform's 基本信息: one row per operating entity
)

// Kinds lists the kinds; every template lays out each.
var Kinds = []string{KindIdentity, KindIncome, KindPlatform}

// Column types.
const (
	TypeText    = "text"    // a string, mapped through the column's labels if it has them
	TypeDecimal = "decimal" // yuan with two decimals from whole fen (Fen); never a float
	TypeInt     = "int"
	TypeDate    = "date" // yyyy-mm-dd in China Standard Time
)

// Column is one column of a table: its field, its headers and its type.
// Labels, for a text column, print a field's code as the table wants it
// (resident_id_card as 居民身份证); a code without a label prints as itself.
type Column struct {
	Key    string            `json:"key"`
	Zh     string            `json:"zh"`
	En     string            `json:"en"`
	Type   string            `json:"type"`
	Labels map[string]string `json:"labels,omitempty"`
}

// Table is one table's title and its columns in the official order.
type Table struct {
	Title   string   `json:"title"`
	TitleEn string   `json:"title_en"`
	Columns []Column `json:"columns"`
}

// Template is one version of the official layout: the columns of each kind
// of report, from the quarter it takes effect. A changed official template
// is a new file in templates/, never new code.
type Template struct {
	Version   string           `json:"version"`
	Effective string           `json:"effective"` // the first quarter it governs, e.g. 2025Q3
	Source    string           `json:"source"`
	Tables    map[string]Table `json:"tables"`
	effective Quarter
}

// Fields are what the computation provides per kind, with their types: a
// template chooses, orders and names some of them.
var Fields = map[string]map[string]string{
	KindIdentity: {
		"seq": TypeInt, "account_id": TypeText, "name": TypeText, "id_type": TypeText, "id_number": TypeText,
		"nationality": TypeText, "registered": TypeDate, "phone": TypeText, "identity_status": TypeText,
	},
	KindIncome: {
		"seq": TypeInt, "account_id": TypeText, "name": TypeText, "id_type": TypeText, "id_number": TypeText,
		"identity_status": TypeText, "period_start": TypeDate, "period_end": TypeDate, "income_type": TypeText,
		"gross": TypeDecimal, "refunds": TypeDecimal, "net": TypeDecimal, "service_fees": TypeDecimal,
		"orders": TypeInt, "refunded_orders": TypeInt,
		"iit_withheld": TypeDecimal, "vat_withheld": TypeDecimal, "surcharges_withheld": TypeDecimal,
	},
	KindPlatform: {
		"seq": TypeInt, "platform_name": TypeText, "domains": TypeText, "business_type": TypeText,
		"entity_uscc": TypeText, "entity_name": TypeText, "telecom_license": TypeText, "icp_filing": TypeText,
	},
}

//go:embed templates/*.json
var templateFiles embed.FS

var (
	loadOnce  sync.Once
	templates map[string]*Template
	loadErr   error
)

func load() (map[string]*Template, error) {
	loadOnce.Do(func() {
		templates = map[string]*Template{}
		names, err := templateFiles.ReadDir("templates")
		if err != nil {
			loadErr = err
			return
		}
		for _, n := range names {
			b, err := templateFiles.ReadFile(path.Join("templates", n.Name()))
			if err != nil {
				loadErr = err
				return
			}
			t, err := ParseTemplate(b)
			if err != nil {
				loadErr = fmt.Errorf("%s: %w", n.Name(), err)
				return
			}
			if t.Version+".json" != n.Name() {
				loadErr = fmt.Errorf("reports: %s holds template %q: a template's file is named for its version", n.Name(), t.Version)
				return
			}
			templates[t.Version] = t
		}
	})
	return templates, loadErr
}

// ParseTemplate reads and checks a template: every kind laid out, each
// column a field of its kind with that field's type, no field twice.
func ParseTemplate(b []byte) (*Template, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var t Template
	if err := dec.Decode(&t); err != nil {
		return nil, fmt.Errorf("reports: template: %w", err)
	}
	if t.Version == "" || strings.ContainsAny(t.Version, " /\n\x00") {
		return nil, fmt.Errorf("reports: template version %q: one word", t.Version)
	}
	q, err := ParseQuarter(t.Effective)
	if err != nil {
		return nil, fmt.Errorf("reports: template %s: effective: %w", t.Version, err)
	}
	t.effective = q
	for _, kind := range Kinds {
		tab, ok := t.Tables[kind]
		if !ok || len(tab.Columns) == 0 {
			return nil, fmt.Errorf("reports: template %s has no %s table", t.Version, kind)
		}
		seen := map[string]bool{}
		for _, c := range tab.Columns {
			typ, ok := Fields[kind][c.Key]
			switch {
			case !ok:
				return nil, fmt.Errorf("reports: template %s, %s table: no field %q", t.Version, kind, c.Key)
			case c.Type != typ:
				return nil, fmt.Errorf("reports: template %s, %s table: %s is %s, not %s", t.Version, kind, c.Key, typ, c.Type)
			case seen[c.Key]:
				return nil, fmt.Errorf("reports: template %s, %s table: %s twice", t.Version, kind, c.Key)
			case c.Zh == "" || c.En == "":
				return nil, fmt.Errorf("reports: template %s, %s table: %s needs both headers", t.Version, kind, c.Key)
			case len(c.Labels) > 0 && c.Type != TypeText:
				return nil, fmt.Errorf("reports: template %s, %s table: only text columns have labels (%s)", t.Version, kind, c.Key)
			}
			seen[c.Key] = true
		}
	}
	for kind := range t.Tables {
		if _, ok := Fields[kind]; !ok {
			return nil, fmt.Errorf("reports: template %s: no kind of report %q", t.Version, kind)
		}
	}
	return &t, nil
}

// Templates returns the embedded templates' versions, oldest effective
// first.
func Templates() ([]*Template, error) {
	all, err := load()
	if err != nil {
		return nil, err
	}
	out := make([]*Template, 0, len(all))
	for _, t := range all {
		out = append(out, t)
	}
	sort.Slice(out, func(i, j int) bool {
		if a, b := out[i].effective, out[j].effective; a != b {
			return a.Before(b)
		}
		return out[i].Version < out[j].Version
	})
	return out, nil
}

// Lookup returns the embedded template of a version; report_template_unknown
// if there is none.
func Lookup(version string) (*Template, error) {
	all, err := load()
	if err != nil {
		return nil, err
	}
	t, ok := all[version]
	if !ok {
		return nil, reject(CodeTemplate, "no report template %q", version)
	}
	return t, nil
}

// For returns the template that governs quarter q: of those effective by
// then, the one that took effect last.
func For(q Quarter) (*Template, error) {
	all, err := Templates()
	if err != nil {
		return nil, err
	}
	var found *Template
	for _, t := range all {
		if !q.Before(t.effective) {
			found = t
		}
	}
	if found == nil {
		return nil, reject(CodeTemplate, "no report template governs %s", q)
	}
	return found, nil
}
