package tax

import (
	"fmt"
	"strings"
)

// Breakdown shows how a result was reached: the inputs, the rule set, and
// for each part of the computation the table row used and every step.
type Breakdown struct {
	Method   string            `json:"method"`
	RuleSet  string            `json:"rule_set"`
	Source   string            `json:"source"`
	Inputs   map[string]string `json:"inputs"`
	Sections []Section         `json:"sections"`
}

// Section is one part of a computation, such as one month.
type Section struct {
	Title string    `json:"title"`
	Row   *TableRow `json:"table_row,omitempty"`
	Steps []Step    `json:"steps"`
}

// TableRow names the bracket a computation used.
type TableRow struct {
	Table  string `json:"table"`
	Number int    `json:"number"` // 1-based
	Upto   string `json:"upto"`   // "" for the open last bracket
	Rate   string `json:"rate"`
	Quick  string `json:"quick_deduction"`
}

// Step is one intermediate amount: what it is, how it is computed, its value.
type Step struct {
	Name    string `json:"name"`
	Formula string `json:"formula"`
	Value   string `json:"value"`
}

func (s *Section) step(name, value, format string, args ...any) {
	s.Steps = append(s.Steps, Step{Name: name, Formula: fmt.Sprintf(format, args...), Value: value})
}

func row(table string, r Row, n int) *TableRow {
	tr := &TableRow{Table: table, Number: n, Rate: fmtRate(r.Rate), Quick: fmtYuan(r.Quick)}
	if r.Upto != nil {
		tr.Upto = fmtYuan(*r.Upto)
	}
	return tr
}

// Text renders the breakdown for a person.
func (b *Breakdown) Text() string {
	var w strings.Builder
	fmt.Fprintf(&w, "%s — rule set %s\n", b.Method, b.RuleSet)
	fmt.Fprintf(&w, "source: %s\n", b.Source)
	for _, k := range sortedKeys(b.Inputs) {
		fmt.Fprintf(&w, "input %s = %s\n", k, b.Inputs[k])
	}
	for _, s := range b.Sections {
		fmt.Fprintf(&w, "\n%s\n", s.Title)
		if s.Row != nil {
			upto := "and above"
			if s.Row.Upto != "" {
				upto = "up to " + s.Row.Upto
			}
			fmt.Fprintf(&w, "  table %s row %d (%s): rate %s, quick deduction %s\n", s.Row.Table, s.Row.Number, upto, s.Row.Rate, s.Row.Quick)
		}
		for _, st := range s.Steps {
			fmt.Fprintf(&w, "  %-34s %14s   = %s\n", st.Name, st.Value, st.Formula)
		}
	}
	return w.String()
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	for i := 1; i < len(keys); i++ {
		for j := i; j > 0 && keys[j] < keys[j-1]; j-- {
			keys[j], keys[j-1] = keys[j-1], keys[j]
		}
	}
	return keys
}
