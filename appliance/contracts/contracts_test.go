package contracts

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode"

	"cxt/appliance/errs"
)

func code(err error) string {
	if err == nil {
		return ""
	}
	return errs.Of(err).Code
}

func TestParseSplitsTextAndPlaceholders(t *testing.T) {
	for _, c := range []struct {
		name, in string
		want     []Segment
		err      string
	}{
		{"plain text is one segment", "甲方：某某", []Segment{{Text: "甲方：某某"}}, ""},
		{"an empty text has no segments", "", nil, ""},
		{"a placeholder between text", "甲方：{{name}}。", []Segment{{Text: "甲方："}, {Variable: "name"}, {Text: "。"}}, ""},
		{"spaces inside the braces are allowed", "{{ start_date }}", []Segment{{Variable: "start_date"}}, ""},
		{"adjacent placeholders", "{{a}}{{b2}}", []Segment{{Variable: "a"}, {Variable: "b2"}}, ""},
		{"a lone closing pair is text", "a }} b", []Segment{{Text: "a }} b"}}, ""},
		{"an unclosed placeholder names its place", "第一行\n第二{{name", nil, "line 2, column 3"},
		{"an empty name", "x {{ }} y", nil, "not a variable name"},
		{"an upper-case name", "{{Name}}", nil, "not a variable name"},
		{"a name with a dot", "{{a.b}}", nil, "not a variable name"},
		{"a Chinese name", "{{姓名}}", nil, "not a variable name"},
		{"nested braces", "{{{{a}}}}", nil, "not a variable name"},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := Parse(c.in)
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("Parse(%q) = %v, %v; want an error with %q", c.in, got, err, c.err)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(got, c.want) {
				t.Fatalf("Parse(%q) = %#v, %v; want %#v", c.in, got, err, c.want)
			}
		})
	}
}

func sample() Template {
	return Template{
		ID:    "sample",
		Title: "{{party}}服务协议",
		Body:  "甲方：{{party}}\n\n# 第一条\n金额 {{amount}} 元。",
		Variables: []Variable{
			{Name: "party", Label: "甲方名称"},
			{Name: "amount", Label: "金额"},
		},
	}
}

func TestCheckRefusesATemplateThatAsksForOtherThanItDeclares(t *testing.T) {
	for _, c := range []struct {
		name   string
		change func(*Template)
		want   string
	}{
		{"an undeclared placeholder", func(t *Template) { t.Body += "{{extra}}" }, "does not declare"},
		{"a declared variable never used", func(t *Template) { t.Variables = append(t.Variables, Variable{Name: "unused", Label: "x"}) }, "never used"},
		{"a variable declared twice", func(t *Template) { t.Variables = append(t.Variables, t.Variables[0]) }, "declared twice"},
		{"a bad variable name", func(t *Template) { t.Variables[0].Name = "Party" }, "variable name"},
		{"a bad id", func(t *Template) { t.ID = "合同" }, "template id"},
		{"no title", func(t *Template) { t.Title = " " }, "title"},
		{"a syntax error", func(t *Template) { t.Body += "{{amount" }, "not closed"},
		{"a control character", func(t *Template) { t.Body += "\x00" }, "not allowed"},
		{"a tab", func(t *Template) { t.Body += "\t" }, "not allowed"},
		{"a carriage return", func(t *Template) { t.Body += "\r\n" }, "not allowed"},
		{"invalid UTF-8", func(t *Template) { t.Body += "\xff" }, "UTF-8"},
		{"a line break in the title", func(t *Template) { t.Title += "\n" }, "not allowed"},
	} {
		t.Run(c.name, func(t *testing.T) {
			tmpl := sample()
			c.change(&tmpl)
			err := tmpl.Check()
			if code(err) != CodeTemplateInvalid || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("Check: %v; want %s mentioning %q", err, CodeTemplateInvalid, c.want)
			}
		})
	}
	if err := sample().Check(); err != nil {
		t.Fatalf("the sample is refused: %v", err)
	}
}

func TestFillRefusesMissingAndUnknownValuesAndInsertsValuesLiterally(t *testing.T) {
	tmpl := sample()
	for _, c := range []struct {
		name   string
		values map[string]string
		want   string
	}{
		{"a value missing", map[string]string{"party": "某某公司"}, CodeVariableMissing},
		{"a blank value", map[string]string{"party": "某某公司", "amount": "  "}, CodeVariableMissing},
		{"a value for an undeclared variable", map[string]string{"party": "某某公司", "amount": "1", "bonus": "2"}, CodeVariableUnknown},
		{"a value with a line break", map[string]string{"party": "某某\n公司", "amount": "1"}, CodeVariableInvalid},
		{"a value too long", map[string]string{"party": strings.Repeat("长", 201), "amount": "1"}, CodeVariableInvalid},
		{"a value of invalid UTF-8", map[string]string{"party": "\xff", "amount": "1"}, CodeVariableInvalid},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := tmpl.Fill(c.values)
			if code(err) != c.want {
				t.Fatalf("Fill: %v; want %s", err, c.want)
			}
			if errs.Of(err).Kind.Status() != 400 {
				t.Fatalf("status %d", errs.Of(err).Kind.Status())
			}
		})
	}
	f, err := tmpl.Fill(map[string]string{"party": "{{amount}} 公司", "amount": "1,000.00"})
	if err != nil {
		t.Fatal(err)
	}
	if f.Title != "{{amount}} 公司服务协议" || f.Body != "甲方：{{amount}} 公司\n\n# 第一条\n金额 1,000.00 元。" {
		t.Fatalf("filled %#v", f)
	}
}

func TestPublishedVersionsNeverChange(t *testing.T) {
	c := NewCatalog()
	v1, err := c.Publish(sample())
	if err != nil || v1.Version != 1 {
		t.Fatalf("publish: %+v %v", v1, err)
	}
	if _, err := c.Publish(sample()); code(err) != CodeTemplateUnchanged {
		t.Fatalf("the same text again: %v; want %s", err, CodeTemplateUnchanged)
	}
	draft := sample()
	draft.Body += "\n第二条 新增。"
	v2, err := c.Publish(draft)
	if err != nil || v2.Version != 2 {
		t.Fatalf("publish v2: %+v %v", v2, err)
	}
	bad := sample()
	bad.Body += "{{oops}}"
	if _, err := c.Publish(bad); code(err) != CodeTemplateInvalid {
		t.Fatalf("an invalid draft: %v", err)
	}
	got1, err := c.Get("sample", 1)
	if err != nil || !reflect.DeepEqual(got1, v1) || got1.Digest() != v1.Digest() {
		t.Fatalf("v1 changed: %+v %v", got1, err)
	}
	// What a caller does with a returned template does not reach the catalog.
	got1.Variables[0].Label = "changed"
	if again, _ := c.Get("sample", 1); again.Variables[0].Label != "甲方名称" {
		t.Fatal("the catalog shares its variables with callers")
	}
	latest, err := c.Get("sample", 0)
	if err != nil || latest.Version != 2 {
		t.Fatalf("latest: %+v %v", latest, err)
	}
	if v1.Digest() == v2.Digest() {
		t.Fatal("two versions share a digest")
	}
	if _, err := c.Get("sample", 3); errs.Of(err).Kind != errs.NotExist {
		t.Fatalf("a missing version: %v", err)
	}
}

func TestBuiltinTemplatesAreValid(t *testing.T) {
	ts, err := Builtin()
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]bool{}
	for _, tmpl := range ts {
		ids[tmpl.ID] = true
		if tmpl.Version != 1 {
			t.Errorf("%s: version %d", tmpl.ID, tmpl.Version)
		}
	}
	if !ids["tripartite-service"] || !ids["merchant-cooperation"] {
		t.Fatalf("builtin templates: %v", ids)
	}
}

func renderer(t testing.TB) *Renderer {
	t.Helper()
	r, err := NewRenderer(DefaultFonts)
	if err != nil {
		t.Fatalf("%v (make deps installs the fonts)", err)
	}
	return r
}

func tripartite(t testing.TB) Template {
	t.Helper()
	ts, err := Builtin()
	if err != nil {
		t.Fatal(err)
	}
	for _, tmpl := range ts {
		if tmpl.ID == "tripartite-service" {
			return tmpl
		}
	}
	t.Fatal("no tripartite template")
	return Template{}
}

// TripartiteValues are the values the tests and the e-signing tests fill in.
var TripartiteValues = map[string]string{
	"platform_name":       "诚薪通科技有限公司",
	"platform_uscc":       "91110108MA01ABCD2X",
	"merchant_name":       "杭州云帆物流有限公司",
	"merchant_uscc":       "91330106MA2B3C4D5E",
	"worker_name":         "张伟",
	"worker_id_number":    "11010519491231002X",
	"service_description": "同城配送（骑手），按单计酬",
	"start_date":          "2026-03-01",
	"end_date":            "2027-02-28",
}

var created = time.Date(2026, 3, 1, 9, 30, 0, 0, time.FixedZone("CST", 8*3600))

func TestTheSameContractRendersToTheSameBytes(t *testing.T) {
	r := renderer(t)
	c := Contract{ID: "C-2026-0001", Template: tripartite(t), Values: TripartiteValues, Created: created}
	a, err := r.Render(c)
	if err != nil {
		t.Fatal(err)
	}
	b, err := r.Render(c)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a.PDF, b.PDF) || a.SM3 != b.SM3 {
		t.Fatal("the same input rendered to different bytes")
	}
	for name, change := range map[string]func(*Contract){
		"another worker":   func(c *Contract) { c.Values = with(c.Values, "worker_name", "李娜") },
		"another id":       func(c *Contract) { c.ID = "C-2026-0002" },
		"another time":     func(c *Contract) { c.Created = c.Created.Add(time.Second) },
		"another template": func(c *Contract) { c.Template.Version = 2 },
	} {
		other := c
		change(&other)
		o, err := r.Render(other)
		if err != nil {
			t.Fatal(err)
		}
		if o.SM3 == a.SM3 {
			t.Errorf("%s: the same bytes", name)
		}
	}
}

func with(m map[string]string, k, v string) map[string]string {
	out := map[string]string{}
	for a, b := range m {
		out[a] = b
	}
	out[k] = v
	return out
}

func tool(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %v: %v\n%s (make deps installs poppler-utils)", name, args, err, out)
	}
	return string(out)
}

func squeeze(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsSpace(r) {
			return -1
		}
		return r
	}, s)
}

// The PDF carries its text as text (pdftotext gets every character back, in
// order), both fonts are embedded as subsets, and the page renders; the PNG
// is kept in $CXT_CONTRACT_PNG when set, for a person to look at.
func TestTheContractPDFCarriesItsChineseTextInEmbeddedSubsetFonts(t *testing.T) {
	r := renderer(t)
	rd, err := r.Render(Contract{ID: "C-2026-0001", Template: tripartite(t), Values: TripartiteValues, Created: created})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	pdf := filepath.Join(dir, "contract.pdf")
	if err := os.WriteFile(pdf, rd.PDF, 0o600); err != nil {
		t.Fatal(err)
	}
	text := tool(t, "pdftotext", "-raw", "-enc", "UTF-8", pdf, "-")
	got := squeeze(text)
	for i := 1; i <= rd.Pages; i++ {
		footer := squeeze(fmt.Sprintf("合同编号 C-2026-0001　模板 tripartite-service 第1版　第 %d 页 / 共 %d 页", i, rd.Pages))
		if !strings.Contains(got, footer) {
			t.Errorf("page %d has no footer %q", i, footer)
		}
		got = strings.Replace(got, footer, "", 1)
	}
	if want := squeeze(rd.Text.Title + strings.ReplaceAll(rd.Text.Body, "# ", "")); got != want {
		t.Fatalf("pdftotext:\n%s\nwant the contract's text:\n%s", text, want)
	}
	for _, s := range []string{"灵活用工三方服务协议", "电子签名法》第十三条", "张伟", "11010519491231002X", "杭州云帆物流有限公司"} {
		if !strings.Contains(text, s) {
			t.Errorf("pdftotext has no %q", s)
		}
	}
	fonts := tool(t, "pdffonts", pdf)
	for _, f := range []string{"utf8cjk", "utf8latin"} {
		line := ""
		for _, l := range strings.Split(fonts, "\n") {
			if strings.HasPrefix(l, f+" ") {
				line = l
			}
		}
		if fields := strings.Fields(line); len(fields) < 7 || fields[1] != "CID" || fields[4] != "yes" || fields[6] != "yes" {
			t.Errorf("font %s is not an embedded CID font with a Unicode map:\n%s", f, fonts)
		}
	}
	// Subset: the CJK font file is about 4 MB, the whole contract a few dozen KB.
	if len(rd.PDF) > len(r.cjk.data)/20 {
		t.Errorf("the PDF is %d bytes for a %d-byte font: the font is not subset", len(rd.PDF), len(r.cjk.data))
	}
	tool(t, "pdftoppm", "-r", "100", "-f", "1", "-l", "1", "-png", pdf, filepath.Join(dir, "page"))
	png, err := os.ReadFile(filepath.Join(dir, "page-1.png"))
	if err != nil || !bytes.HasPrefix(png, []byte("\x89PNG")) {
		t.Fatalf("pdftoppm wrote no page: %v", err)
	}
	if out := os.Getenv("CXT_CONTRACT_PNG"); out != "" {
		if err := os.WriteFile(out, png, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestALongContractBreaksIntoPagesAndKeepsEveryCharacter(t *testing.T) {
	r := renderer(t)
	tmpl := sample()
	tmpl.Version = 1
	para := strings.Repeat("本条款用于检验分页与换行，English words stay whole，数字 1234567890 不拆分。", 6)
	tmpl.Body = strings.Repeat(tmpl.Body+"\n"+para+"\n\n", 12)
	rd, err := r.Render(Contract{ID: "C-LONG", Template: tmpl, Values: map[string]string{"party": "某某公司", "amount": "100"}, Created: created})
	if err != nil {
		t.Fatal(err)
	}
	if rd.Pages < 2 {
		t.Fatalf("%d pages", rd.Pages)
	}
	pdf := filepath.Join(t.TempDir(), "long.pdf")
	os.WriteFile(pdf, rd.PDF, 0o600)
	text := tool(t, "pdftotext", "-raw", "-enc", "UTF-8", pdf, "-")
	body := squeeze(text)
	for i := 1; i <= rd.Pages; i++ {
		footer := squeeze("第 " + strconv.Itoa(i) + " 页 / 共 " + strconv.Itoa(rd.Pages) + " 页")
		if !strings.Contains(body, footer) {
			t.Errorf("page %d has no footer %q", i, footer)
		}
		body = strings.Replace(body, squeeze("合同编号 C-LONG　模板 sample 第1版　")+footer, "", 1)
	}
	want := squeeze(rd.Text.Title + strings.ReplaceAll(rd.Text.Body, "# ", ""))
	if body != want {
		t.Fatalf("text lost or reordered across lines and pages:\n got %s\nwant %s", body, want)
	}
	if !strings.Contains(text, "English") || !strings.Contains(text, "1234567890") {
		t.Fatal("a word was broken")
	}
}

func TestTextNoFontCanShowIsRefusedNotDrawnAsBoxes(t *testing.T) {
	r := renderer(t)
	for name, v := range map[string]string{
		"a character beyond the BMP": "吉\U00020BB7", // 𠮷, a real surname character
		"a private-use character":    "公司\uE000",
	} {
		_, err := r.Render(Contract{ID: "C-1", Template: sample(), Values: map[string]string{"party": v, "amount": "1"}, Created: created})
		if code(err) != CodeTextUnrenderable {
			t.Errorf("%s: %v; want %s", name, err, CodeTextUnrenderable)
		}
	}
}

func TestAMissingFontIsAClearError(t *testing.T) {
	_, err := NewRenderer(FontPaths{CJK: "/nonexistent/DroidSansFallbackFull.ttf", Latin: DefaultLatinFont})
	if code(err) != CodeFontMissing || !strings.Contains(err.Error(), "fonts-droid-fallback") || !strings.Contains(err.Error(), "/nonexistent/") {
		t.Fatalf("missing font: %v", err)
	}
	notFont := filepath.Join(t.TempDir(), "x.ttf")
	os.WriteFile(notFont, []byte("this is not a font at all"), 0o600)
	if _, err := NewRenderer(FontPaths{CJK: DefaultCJKFont, Latin: notFont}); code(err) != CodeFontInvalid {
		t.Fatalf("not a font: %v", err)
	}
	var e *errs.Error
	if !errors.As(err, &e) || e.Kind != errs.Internal {
		t.Fatalf("a missing font is the operator's problem (500), got %v", err)
	}
}

// The fonts' coverage is what the renderer trusts to refuse boxes: the
// CJK font has the ideographs and no Latin letters (hence the second font).
func TestFontCoverageReadsTheCmap(t *testing.T) {
	r := renderer(t)
	for _, c := range "合同签名，。《》０" {
		if !r.cjk.glyph.has(c) {
			t.Errorf("the CJK font lacks %c", c)
		}
	}
	for _, c := range "AZaz09" {
		if r.cjk.glyph.has(c) {
			t.Errorf("the CJK font has %c: the Latin fallback may be unneeded", c)
		}
		if !r.latin.glyph.has(c) {
			t.Errorf("the Latin font lacks %c", c)
		}
	}
	if r.cjk.glyph.has('\uE000') || r.latin.glyph.has('\uE000') {
		t.Error("a private-use character is covered")
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"", "甲方：{{name}}", "{{ a }}{{b}}", "{{", "}}", "{{{{a}}}}", "{{a}", "a{{b}}c{{", sample().Body} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		segs, err := Parse(s)
		if err != nil {
			if !strings.Contains(err.Error(), "line ") {
				t.Fatalf("an error without a position: %v", err)
			}
			return
		}
		// Putting the placeholders back gives the input, up to spaces inside
		// the braces; every name is valid; no literal holds an opening pair.
		var b strings.Builder
		for _, seg := range segs {
			if seg.Variable != "" {
				if !validName(seg.Variable) {
					t.Fatalf("invalid name %q", seg.Variable)
				}
				b.WriteString("{{" + seg.Variable + "}}")
				continue
			}
			if seg.Text == "" || strings.Contains(seg.Text, "{{") {
				t.Fatalf("bad literal %q", seg.Text)
			}
			b.WriteString(seg.Text)
		}
		again, err := Parse(b.String())
		if err != nil || !reflect.DeepEqual(again, segs) {
			t.Fatalf("reparse of %q: %#v %v, want %#v", b.String(), again, err, segs)
		}
		// A template that declares exactly the names used fills without
		// error, and values are never parsed.
		tmpl := Template{ID: "fuzz", Title: "t", Body: s}
		values := map[string]string{}
		for _, seg := range segs {
			if _, seen := values[seg.Variable]; seg.Variable != "" && !seen {
				tmpl.Variables = append(tmpl.Variables, Variable{Name: seg.Variable, Label: "v"})
				values[seg.Variable] = "{{" + seg.Variable + "}}"
			}
		}
		if tmpl.Check() != nil {
			return // control characters, length: refused by Check, not Parse
		}
		filled, err := tmpl.Fill(values)
		if err != nil {
			t.Fatalf("fill: %v", err)
		}
		if filled.Body != b.String() {
			t.Fatalf("filled %q, want %q", filled.Body, b.String())
		}
	})
}
