package documents

import (
	"archive/zip"
	"bytes"
	"testing"
)

func zipWith(name string) []byte {
	var buf bytes.Buffer
	z := zip.NewWriter(&buf)
	w, _ := z.Create(name)
	w.Write([]byte("<ofd:OFD/>"))
	z.Close()
	return buf.Bytes()
}

func TestWhatADocumentIsIsReadFromItsBytes(t *testing.T) {
	cases := map[string][]byte{
		PDF:  []byte("%PDF-1.7\n..."),
		JPEG: {0xFF, 0xD8, 0xFF, 0xE0, 0, 0x10},
		PNG:  []byte("\x89PNG\r\n\x1a\n\x00\x00"),
		OFD:  zipWith("OFD.xml"),
		"":   nil,
	}
	for want, b := range cases {
		if got := Sniff(b); got != want {
			t.Errorf("%q: %q", want, got)
		}
	}
	for name, b := range map[string][]byte{
		"a zip that is not OFD": zipWith("word/document.xml"),
		"an executable":         []byte("MZ\x90\x00"),
		"HTML":                  []byte("<html><script>alert(1)</script>"),
		"a PDF name on text":    []byte("just text.pdf"),
		"a truncated zip":       []byte("PK\x03\x04broken"),
	} {
		if got := Sniff(b); got != "" {
			t.Errorf("%s sniffed as %q", name, got)
		}
	}
}
