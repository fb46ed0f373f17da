package contracts

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/go-pdf/fpdf"

	"cxt/appliance/errs"
	"cxt/crypto/sm"
)

// Page geometry in millimetres (A4) and type sizes in points.
const (
	pageW, pageH        = 210.0, 297.0
	marginX             = 22.0
	marginTop           = 20.0
	marginBottom        = 22.0
	footerY             = pageH - 12.0
	titleSize           = 17.0
	headingSize         = 12.5
	bodySize            = 11.0
	footerSize          = 8.0
	leading             = 1.65 // line height as a multiple of the type size
	pt                  = 25.4 / 72
	maxContractIDLength = 64
)

// Renderer sets filled templates in its two fonts.
type Renderer struct {
	cjk, latin *font
}

// NewRenderer loads the fonts; a missing font is a font_missing error that
// names the file and the Debian package that brings it.
func NewRenderer(paths FontPaths) (*Renderer, error) {
	cjk, err := loadFont("cjk", "CJK", paths.CJK, "fonts-droid-fallback")
	if err != nil {
		return nil, err
	}
	latin, err := loadFont("latin", "Latin", paths.Latin, "fonts-dejavu-core")
	if err != nil {
		return nil, err
	}
	return &Renderer{cjk: cjk, latin: latin}, nil
}

// Contract is what to render: a template version, its values, the
// contract's number (printed on every page) and the time the PDF records as
// its creation — the same input gives the same bytes.
type Contract struct {
	ID       string
	Template Template
	Values   map[string]string
	Created  time.Time
}

// Rendered is a contract as a PDF.
type Rendered struct {
	PDF   []byte
	SM3   string // hex SM3 of PDF: what every signer signs
	Text  Filled // the text set in it
	Pages int
}

// Render fills c's template and sets it as an A4 PDF: the title, headings,
// paragraphs, and a footer on every page with the contract number, the
// template version and the page count. Text that neither font can show is
// refused (contract_text_unrenderable), never drawn as empty boxes.
func (r *Renderer) Render(c Contract) (*Rendered, error) {
	const op = "render contract"
	if !validContractID(c.ID) {
		return nil, errs.E(op, errs.Invalid, "contract id %q: use 1 to %d of A-Z, a-z, 0-9, - and _", c.ID, maxContractIDLength)
	}
	if c.Created.IsZero() {
		return nil, errs.E(op, errs.Invalid, "a contract needs its creation time")
	}
	filled, err := c.Template.Fill(c.Values)
	if err != nil {
		return nil, err
	}
	return r.render(op, Document{
		Title: filled.Title, Body: filled.Body, Subject: "contract " + c.ID, Created: c.Created,
		Footer: fmt.Sprintf("合同编号 %s　模板 %s 第%d版", c.ID, c.Template.ID, c.Template.Version),
	})
}

// Document is text that is not a contract, set as a contract is: a title,
// a body in a template's syntax ("# " headings, paragraphs between empty
// lines, lines kept), a footer on every page before its page count, and
// the time the PDF records. The same document gives the same bytes.
type Document struct {
	Title, Body string
	Subject     string // the PDF's subject
	Footer      string // one line, at most 80 characters
	Created     time.Time
}

// RenderDocument sets d as an A4 PDF. Text that neither font can show is
// refused (contract_text_unrenderable): pass outside text through
// Printable first.
func (r *Renderer) RenderDocument(d Document) (*Rendered, error) {
	const op = "render document"
	if d.Created.IsZero() || strings.TrimSpace(d.Title) == "" {
		return nil, errs.E(op, errs.Invalid, "a document needs its title and creation time")
	}
	if utf8.RuneCountInString(d.Footer) > 80 || strings.ContainsAny(d.Footer, "\n\r") {
		return nil, errs.E(op, errs.Invalid, "a document's footer is one line of at most 80 characters")
	}
	return r.render(op, d)
}

// Printable replaces the characters of s that neither font has with "?",
// so that text from outside (a bank's reason, a name) never stops a
// rendering.
func (r *Renderer) Printable(s string) string {
	return strings.Map(func(c rune) rune {
		if c == '\n' || r.fontFor(c) != nil {
			return c
		}
		return '?'
	}, s)
}

func (r *Renderer) render(op string, d Document) (*Rendered, error) {
	filled := Filled{Title: d.Title, Body: d.Body}
	blocks := blocksOf(filled)
	footer := func(page, pages int) string {
		return fmt.Sprintf("%s　第 %d 页 / 共 %d 页", d.Footer, page, pages)
	}
	if err := r.renderable(filled.Title + filled.Body + footer(1, 1)); err != nil {
		return nil, err
	}

	pdf := fpdf.New("P", "mm", "A4", "")
	pdf.SetCatalogSort(true) // objects in a fixed order: same input, same bytes
	pdf.SetCreationDate(d.Created.UTC())
	pdf.SetModificationDate(d.Created.UTC())
	pdf.SetTitle(filled.Title, true)
	pdf.SetSubject(d.Subject, false)
	pdf.SetCreator("cxt", false)
	pdf.SetProducer("cxt", false)
	pdf.SetLang("zh-CN")
	pdf.SetAutoPageBreak(false, 0)
	pdf.SetMargins(marginX, marginTop, marginX)
	pdf.AddUTF8FontFromBytes(r.cjk.name, "", r.cjk.data)
	pdf.AddUTF8FontFromBytes(r.latin.name, "", r.latin.data)
	if pdf.Err() {
		return nil, errs.Wrap(op, errs.Internal, pdf.Error(), "load the fonts into the PDF")
	}

	m := &measure{pdf: pdf, r: r, widths: map[measureKey]float64{}}
	pages := paginate(m, blocks)
	for i, page := range pages {
		pdf.AddPage()
		for _, l := range page {
			x := l.x
			for _, run := range l.runs {
				pdf.SetFont(run.font.name, "", l.size)
				pdf.Text(x, l.baseline, run.text)
				x += run.width
			}
		}
		text := footer(i+1, len(pages))
		fl := m.layoutLine(text, footerSize, pageW)
		if len(fl) != 1 {
			return nil, errs.E(op, errs.Invalid, "contract id or template id too long for the footer")
		}
		pdf.SetTextColor(90, 90, 90)
		x := (pageW - fl[0].width) / 2
		for _, run := range fl[0].runs {
			pdf.SetFont(run.font.name, "", footerSize)
			pdf.Text(x, footerY, run.text)
			x += run.width
		}
		pdf.SetTextColor(0, 0, 0)
	}
	var out bytes.Buffer
	if err := pdf.Output(&out); err != nil {
		return nil, errs.Wrap(op, errs.Internal, err, "write the PDF")
	}
	sum := sm.Sum(out.Bytes())
	return &Rendered{PDF: out.Bytes(), SM3: hex.EncodeToString(sum[:]), Text: filled, Pages: len(pages)}, nil
}

func validContractID(s string) bool {
	if s == "" || len(s) > maxContractIDLength {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// renderable refuses text with characters neither font has, naming them.
func (r *Renderer) renderable(s string) error {
	missing := map[rune]bool{}
	for _, c := range s {
		if c == '\n' {
			continue
		}
		if r.fontFor(c) == nil {
			missing[c] = true
		}
	}
	if len(missing) == 0 {
		return nil
	}
	var list []string
	for c := range missing {
		list = append(list, fmt.Sprintf("U+%04X", c))
	}
	sort.Strings(list)
	return errs.Coded("render contract", errs.Invalid, CodeTextUnrenderable,
		"the contract's fonts have no glyph for %s; write the text without them", strings.Join(list, ", "))
}

// fontFor picks the font a character is set in: the CJK font for East Asian
// scripts and punctuation (full-width in Chinese text), the Latin font for
// the rest, each falling back to the other.
func (r *Renderer) fontFor(c rune) *font {
	first, second := r.latin, r.cjk
	if eastAsian(c) {
		first, second = r.cjk, r.latin
	}
	switch {
	case first.glyph.has(c):
		return first
	case second.glyph.has(c):
		return second
	}
	return nil
}

func eastAsian(c rune) bool {
	switch {
	case c >= 0x2E80 && c <= 0x9FFF, // radicals, CJK punctuation, kana, bopomofo, ideographs
		c >= 0xF900 && c <= 0xFAFF,                                        // compatibility ideographs
		c >= 0xFE30 && c <= 0xFE4F,                                        // compatibility forms
		c >= 0xFF00 && c <= 0xFFEF,                                        // full-width forms
		c == 0x00B7, c == 0x2014, c == 0x2026, c >= 0x2018 && c <= 0x201F: // · — … and curly quotes, full-width in Chinese
		return true
	}
	return false
}

// Characters that must not begin a line (they hang in the margin instead)
// and that must not end one (they move to the next).
const (
	noLineStart = "，。、；：！？）》」』】〕〉”’…—·%,.;:!?)]}"
	noLineEnd   = "（《「『【〔〈“‘([{"
)

type block struct {
	size   float64
	center bool
	before float64 // space above, in lines of its size
	text   string  // one line of source text: it may wrap
}

// blocksOf turns filled text into blocks: the title, "# " headings,
// paragraphs (an empty line between them), lines within a paragraph.
func blocksOf(f Filled) []block {
	out := []block{{size: titleSize, center: true, text: strings.TrimSpace(f.Title)}}
	gap := 0.6
	for _, line := range strings.Split(f.Body, "\n") {
		switch {
		case strings.TrimSpace(line) == "":
			gap = 0.5
		case strings.HasPrefix(line, "# "):
			out = append(out, block{size: headingSize, before: 0.7, text: strings.TrimSpace(line[2:])})
			gap = 0.15
		default:
			out = append(out, block{size: bodySize, before: gap, text: strings.TrimRight(line, " ")})
			gap = 0
		}
	}
	return out
}

type run struct {
	font  *font
	text  string
	width float64
}

type setLine struct {
	runs     []run
	width    float64
	size     float64
	x        float64
	baseline float64
}

type measureKey struct {
	font string
	size float64
	c    rune
}

type measure struct {
	pdf    *fpdf.Fpdf
	r      *Renderer
	widths map[measureKey]float64
}

func (m *measure) width(f *font, size float64, c rune) float64 {
	k := measureKey{f.name, size, c}
	w, ok := m.widths[k]
	if !ok {
		m.pdf.SetFont(f.name, "", size)
		w = m.pdf.GetStringWidth(string(c))
		m.widths[k] = w
	}
	return w
}

// unit is what a line breaks between: a Latin word, a space, or one East
// Asian character.
type unit struct {
	text  string
	width float64
	space bool
}

func (m *measure) units(s string, size float64) []unit {
	var out []unit
	var word strings.Builder
	var wordW float64
	flush := func() {
		if word.Len() > 0 {
			out = append(out, unit{text: word.String(), width: wordW})
			word.Reset()
			wordW = 0
		}
	}
	for _, c := range s {
		w := m.width(m.r.fontFor(c), size, c)
		switch {
		case c == ' ' || c == '\u3000':
			flush()
			out = append(out, unit{text: string(c), width: w, space: true})
		case eastAsian(c) || c > 0x2E80:
			flush()
			out = append(out, unit{text: string(c), width: w})
		default:
			word.WriteRune(c)
			wordW += w
		}
	}
	flush()
	return out
}

// layoutLine breaks one line of source text into lines at most max wide:
// greedy filling between units, a word longer than a line broken between
// its letters, closing punctuation hanging past the edge rather than
// starting a line, opening punctuation carried to the next line.
func (m *measure) layoutLine(s string, size, max float64) []setLine {
	var lines [][]unit
	var cur []unit
	var w float64
	pending := m.units(s, size)
	flush := func() {
		for len(cur) > 0 && cur[len(cur)-1].space {
			w -= cur[len(cur)-1].width
			cur = cur[:len(cur)-1]
		}
		var carry []unit
		for len(cur) > 1 && strings.Contains(noLineEnd, cur[len(cur)-1].text) {
			carry = append([]unit{cur[len(cur)-1]}, carry...)
			cur = cur[:len(cur)-1]
		}
		lines = append(lines, cur)
		cur, w = carry, 0
		for _, u := range carry {
			w += u.width
		}
	}
	for len(pending) > 0 {
		u := pending[0]
		pending = pending[1:]
		switch {
		case u.space && len(cur) == 0 && len(lines) > 0:
			// no space at the start of a wrapped line
		case w+u.width <= max+1e-9:
			cur, w = append(cur, u), w+u.width
		case len(cur) > 0 && utf8.RuneCountInString(u.text) == 1 && strings.Contains(noLineStart, u.text):
			cur, w = append(cur, u), w+u.width // hanging punctuation
		case u.width > max && utf8.RuneCountInString(u.text) > 1:
			var split []unit
			for _, c := range u.text {
				split = append(split, unit{text: string(c), width: m.width(m.r.fontFor(c), size, c)})
			}
			pending = append(split, pending...)
		case u.space:
			flush()
		default:
			flush()
			cur, w = append(cur, u), w+u.width
		}
	}
	if len(cur) > 0 || len(lines) == 0 {
		flush()
	}
	out := make([]setLine, 0, len(lines))
	for _, units := range lines {
		l := setLine{size: size}
		for _, u := range units {
			for _, c := range u.text {
				f := m.r.fontFor(c)
				cw := m.width(f, size, c)
				if n := len(l.runs); n > 0 && l.runs[n-1].font == f {
					l.runs[n-1].text += string(c)
					l.runs[n-1].width += cw
				} else {
					l.runs = append(l.runs, run{font: f, text: string(c), width: cw})
				}
				l.width += cw
			}
		}
		out = append(out, l)
	}
	return out
}

// paginate sets the blocks in lines and the lines on pages.
func paginate(m *measure, blocks []block) [][]setLine {
	var pages [][]setLine
	var page []setLine
	y := marginTop
	textW := pageW - 2*marginX
	for _, b := range blocks {
		lineH := b.size * pt * leading
		y += b.before * lineH
		for _, l := range m.layoutLine(b.text, b.size, textW) {
			if y+lineH > pageH-marginBottom && len(page) > 0 {
				pages, page, y = append(pages, page), nil, marginTop
			}
			l.x = marginX
			if b.center {
				l.x = (pageW - l.width) / 2
			}
			l.baseline = y + b.size*pt*1.2
			page = append(page, l)
			y += lineH
		}
	}
	return append(pages, page)
}

// Lazy loads a Renderer once, on first use: the fonts are read when the
// first PDF is made, not when a node starts. The zero value uses
// DefaultFonts.
type Lazy struct {
	// Fonts are the PDF's fonts; the zero value is Debian's defaults.
	Fonts FontPaths

	once     sync.Once
	renderer *Renderer
	err      error
}

// Renderer returns the renderer, loading the fonts the first time.
func (l *Lazy) Renderer() (*Renderer, error) {
	l.once.Do(func() {
		fonts := l.Fonts
		if fonts == (FontPaths{}) {
			fonts = DefaultFonts
		}
		l.renderer, l.err = NewRenderer(fonts)
	})
	return l.renderer, l.err
}
