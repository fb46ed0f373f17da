package contracts

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A document that is not a contract (a receipt) is set as contracts are:
// the same input gives the same bytes, its text and footer come back out
// of the PDF, and outside text the fonts cannot show is made printable
// rather than refused.
func TestADocumentIsSetLikeAContract(t *testing.T) {
	r := renderer(t)
	d := Document{Title: "电子回单", Body: "# 付款信息\n付款编号：pb-1-000001\n收款人：张*\n\n实付金额：1,234.56", Subject: "receipt pb-1-000001",
		Footer: "电子回单 pb-1-000001", Created: created}
	a, err := r.RenderDocument(d)
	if err != nil {
		t.Fatal(err)
	}
	b, err := r.RenderDocument(d)
	if err != nil || !bytes.Equal(a.PDF, b.PDF) || a.Pages != 1 {
		t.Fatalf("%v: the same document rendered twice differs, or is %d pages", err, a.Pages)
	}
	pdf := filepath.Join(t.TempDir(), "d.pdf")
	os.WriteFile(pdf, a.PDF, 0o600)
	text := squeeze(tool(t, "pdftotext", "-raw", "-enc", "UTF-8", pdf, "-"))
	for _, s := range []string{"电子回单", "付款编号：pb-1-000001", "收款人：张*", "实付金额：1,234.56", squeeze("电子回单 pb-1-000001　第 1 页 / 共 1 页")} {
		if !strings.Contains(text, s) {
			t.Errorf("the PDF has no %q:\n%s", s, text)
		}
	}
	d.Body += "\n原因：账户冻结😀"
	if _, err := r.RenderDocument(d); code(err) != CodeTextUnrenderable {
		t.Fatalf("unprintable text: %v", err)
	}
	if got := r.Printable("账户冻结😀\u0007x"); got != "账户冻结??x" {
		t.Fatalf("printable: %q", got)
	}
	for _, bad := range []Document{
		{Title: "电子回单", Created: created, Footer: strings.Repeat("长", 81)},
		{Title: "电子回单", Created: created, Footer: "two\nlines"},
		{Title: "电子回单"},
		{Title: " ", Created: created},
	} {
		if _, err := r.RenderDocument(bad); err == nil {
			t.Errorf("rendered %+v", bad)
		}
	}
}
