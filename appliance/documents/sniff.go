package documents

import (
	"archive/zip"
	"bytes"
)

// The content types a document may have: what it is is read from its bytes,
// never from its name or the type a client claims.
const (
	PDF  = "application/pdf"
	JPEG = "image/jpeg"
	PNG  = "image/png"
	OFD  = "application/ofd" // GB/T 33190, a zip holding OFD.xml
)

// MaxSize bounds an uploaded document.
const MaxSize = 10 << 20

// Sniff returns the content type of a document from its bytes, or "" if it
// is none of PDF, JPEG, PNG and OFD.
func Sniff(b []byte) string {
	switch {
	case bytes.HasPrefix(b, []byte("%PDF-")):
		return PDF
	case bytes.HasPrefix(b, []byte{0xFF, 0xD8, 0xFF}):
		return JPEG
	case bytes.HasPrefix(b, []byte("\x89PNG\r\n\x1a\n")):
		return PNG
	case bytes.HasPrefix(b, []byte("PK\x03\x04")) && isOFD(b):
		return OFD
	}
	return ""
}

// isOFD reports whether a zip holds an OFD.xml at its root, the entry
// point GB/T 33190 prescribes.
func isOFD(b []byte) bool {
	z, err := zip.NewReader(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		return false
	}
	for _, f := range z.File {
		if f.Name == "OFD.xml" {
			return true
		}
	}
	return false
}

// Extension is the usual file extension of a content type.
func Extension(contentType string) string {
	return map[string]string{PDF: ".pdf", JPEG: ".jpg", PNG: ".png", OFD: ".ofd"}[contentType]
}
