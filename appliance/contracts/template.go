package contracts

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"unicode"
	"unicode/utf8"

	"cxt/appliance/errs"
	"cxt/crypto/sm"
)

// Error codes of this package; each has a row in docs/errors.md.
const (
	CodeTemplateInvalid     = "template_invalid"
	CodeTemplateUnchanged   = "template_unchanged"
	CodeVariableMissing     = "contract_variable_missing"
	CodeVariableUnknown     = "contract_variable_unknown"
	CodeVariableInvalid     = "contract_variable_invalid"
	CodeTextUnrenderable    = "contract_text_unrenderable"
	CodeFontMissing         = "font_missing"
	CodeFontInvalid         = "font_invalid"
	maxTemplateBytes        = 64 << 10
	maxValueRunes           = 200
	maxVariables            = 100
	maxNameLen              = 64
	maxTemplateIDLen        = 64
	maxTemplateTitleRunes   = 100
	maxVariableLabelRunes   = 100
	placeholderOpen         = "{{"
	placeholderClose        = "}}"
	templateDigestDomainTag = "cxt/contract-template/v1\n"
)

// Codes lists every error code the package returns with its kind, for the
// test that holds docs/errors.md to it.
var Codes = map[string]errs.Kind{
	CodeTemplateInvalid:   errs.Invalid,
	CodeTemplateUnchanged: errs.Conflict,
	CodeVariableMissing:   errs.Invalid,
	CodeVariableUnknown:   errs.Invalid,
	CodeVariableInvalid:   errs.Invalid,
	CodeTextUnrenderable:  errs.Invalid,
	CodeFontMissing:       errs.Internal,
	CodeFontInvalid:       errs.Internal,
}

// Variable is one value a template asks for.
type Variable struct {
	Name  string `json:"name"`  // [a-z][a-z0-9_]*, as written in {{name}}
	Label string `json:"label"` // what to ask for, e.g. "乙方姓名"
}

// Template is one version of a contract template.
//
// The body is lines of text: a line starting with "# " is a heading, an
// empty line ends a paragraph, any other line break is kept.
type Template struct {
	ID        string     `json:"id"`
	Version   int        `json:"version"`
	Title     string     `json:"title"`
	Body      string     `json:"body"`
	Variables []Variable `json:"variables"`
}

// Segment is a piece of a parsed text: literal text, or a variable.
type Segment struct {
	Text     string
	Variable string // non-empty for a placeholder
}

// Parse splits text into literal text and {{name}} placeholders. Spaces
// inside the braces are allowed ("{{ name }}"). An unclosed "{{", an empty
// or malformed name is an error naming its line and column; a lone "}}" is
// text.
func Parse(text string) ([]Segment, error) {
	var out []Segment
	rest := text
	for {
		i := strings.Index(rest, placeholderOpen)
		if i < 0 {
			if rest != "" {
				out = append(out, Segment{Text: rest})
			}
			return out, nil
		}
		if i > 0 {
			out = append(out, Segment{Text: rest[:i]})
		}
		at := len(text) - len(rest) + i
		body := rest[i+len(placeholderOpen):]
		j := strings.Index(body, placeholderClose)
		if j < 0 {
			return nil, fmt.Errorf("%s: %q is not closed with %q", position(text, at), placeholderOpen, placeholderClose)
		}
		name := strings.TrimSpace(body[:j])
		if !validName(name) {
			return nil, fmt.Errorf("%s: %q is not a variable name (a lower-case letter, then letters, digits or _; at most %d)", position(text, at), body[:j], maxNameLen)
		}
		out = append(out, Segment{Variable: name})
		rest = body[j+len(placeholderClose):]
	}
}

func position(text string, offset int) string {
	line := 1 + strings.Count(text[:offset], "\n")
	col := 1 + utf8.RuneCountInString(text[strings.LastIndex(text[:offset], "\n")+1:offset])
	return fmt.Sprintf("line %d, column %d", line, col)
}

func validName(s string) bool {
	if s == "" || len(s) > maxNameLen || s[0] < 'a' || s[0] > 'z' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

func validID(s string) bool {
	if s == "" || len(s) > maxTemplateIDLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// Check reports the first thing wrong with t as a template_invalid error:
// its ID, title or body, a placeholder that is not declared, a declared
// variable that is never used, a name declared twice, a character that is
// not text.
func (t Template) Check() error {
	const op = "check template"
	bad := func(format string, args ...any) error {
		return errs.Coded(op, errs.Invalid, CodeTemplateInvalid, format, args...)
	}
	if !validID(t.ID) {
		return bad("template id %q: use 1 to %d of a-z, 0-9, - and _", t.ID, maxTemplateIDLen)
	}
	if len(t.Body) > maxTemplateBytes {
		return bad("the body is %d bytes; at most %d", len(t.Body), maxTemplateBytes)
	}
	for _, p := range t.parts() {
		if err := checkText(p.text, p.what == "body"); err != nil {
			return bad("the %s: %v", p.what, err)
		}
	}
	if strings.TrimSpace(t.Title) == "" || utf8.RuneCountInString(t.Title) > maxTemplateTitleRunes {
		return bad("a template has a title of 1 to %d characters", maxTemplateTitleRunes)
	}
	if len(t.Variables) > maxVariables {
		return bad("%d variables; at most %d", len(t.Variables), maxVariables)
	}
	declared := map[string]bool{}
	for _, v := range t.Variables {
		if !validName(v.Name) {
			return bad("variable name %q: a lower-case letter, then letters, digits or _; at most %d", v.Name, maxNameLen)
		}
		if declared[v.Name] {
			return bad("variable %q is declared twice", v.Name)
		}
		if err := checkText(v.Label, false); err != nil || utf8.RuneCountInString(v.Label) > maxVariableLabelRunes {
			return bad("the label of %q must be one line of at most %d characters", v.Name, maxVariableLabelRunes)
		}
		declared[v.Name] = true
	}
	used := map[string]bool{}
	for _, p := range t.parts() {
		segs, err := Parse(p.text)
		if err != nil {
			return bad("the %s: %v", p.what, err)
		}
		for _, seg := range segs {
			if seg.Variable == "" {
				continue
			}
			if !declared[seg.Variable] {
				return bad("the %s uses {{%s}}, which the template does not declare", p.what, seg.Variable)
			}
			used[seg.Variable] = true
		}
	}
	for _, v := range t.Variables {
		if !used[v.Name] {
			return bad("variable %q is declared but never used", v.Name)
		}
	}
	return nil
}

func (t Template) parts() []struct{ what, text string } {
	return []struct{ what, text string }{{"title", t.Title}, {"body", t.Body}}
}

// checkText refuses invalid UTF-8 and control characters other than a line
// feed in multi-line text (a carriage return too: normalise line ends first).
func checkText(s string, multiline bool) error {
	if !utf8.ValidString(s) {
		return fmt.Errorf("not valid UTF-8")
	}
	for i, r := range s {
		if r == '\n' && multiline {
			continue
		}
		if unicode.IsControl(r) || r == '\u2028' || r == '\u2029' || unicode.Is(unicode.Cf, r) && r != '\u200d' {
			return fmt.Errorf("%s: character U+%04X is not allowed", position(s, i), r)
		}
	}
	return nil
}

// Filled is a template with its values in: the text to render.
type Filled struct {
	Title string
	Body  string
}

// Fill puts values into t. Every declared variable needs a non-blank value,
// and every value must be for a declared variable; values are one line of
// text of at most 200 characters and are inserted as they are.
func (t Template) Fill(values map[string]string) (Filled, error) {
	const op = "fill template"
	if err := t.Check(); err != nil {
		return Filled{}, err
	}
	declared := map[string]bool{}
	var missing []string
	for _, v := range t.Variables {
		declared[v.Name] = true
		val, ok := values[v.Name]
		if !ok || strings.TrimSpace(val) == "" {
			missing = append(missing, v.Name)
			continue
		}
		if err := checkText(val, false); err != nil {
			return Filled{}, errs.Coded(op, errs.Invalid, CodeVariableInvalid, "the value of %q: %v", v.Name, err)
		}
		if n := utf8.RuneCountInString(val); n > maxValueRunes {
			return Filled{}, errs.Coded(op, errs.Invalid, CodeVariableInvalid, "the value of %q is %d characters; at most %d", v.Name, n, maxValueRunes)
		}
	}
	var unknown []string
	for name := range values {
		if !declared[name] {
			unknown = append(unknown, name)
		}
	}
	if len(missing) > 0 {
		return Filled{}, errs.Coded(op, errs.Invalid, CodeVariableMissing, "template %s v%d needs a value for %s", t.ID, t.Version, strings.Join(missing, ", "))
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		return Filled{}, errs.Coded(op, errs.Invalid, CodeVariableUnknown, "template %s v%d has no variable %s", t.ID, t.Version, strings.Join(unknown, ", "))
	}
	fill := func(s string) string {
		segs, _ := Parse(s) // checked above
		var b strings.Builder
		for _, seg := range segs {
			if seg.Variable != "" {
				b.WriteString(values[seg.Variable])
			} else {
				b.WriteString(seg.Text)
			}
		}
		return b.String()
	}
	return Filled{Title: fill(t.Title), Body: fill(t.Body)}, nil
}

// Digest is the SM3 of the template's canonical JSON (ID, version, title,
// body, variables in order), in hex: what a contract and its evidence
// package cite as the exact template used.
func (t Template) Digest() string {
	b, err := json.Marshal(t)
	if err != nil { // strings and ints always marshal
		panic(err)
	}
	sum := sm.Sum(append([]byte(templateDigestDomainTag), b...))
	return hex.EncodeToString(sum[:])
}

// sameContent reports whether two templates say the same thing, whatever
// their versions.
func sameContent(a, b Template) bool {
	a.Version, b.Version = 0, 0
	return a.Digest() == b.Digest()
}
