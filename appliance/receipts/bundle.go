package receipts

import (
	"time"

	"cxt/appliance/esign"
	"cxt/crypto/sm"
)

// Doc is a receipt as a signed PDF: the files of its zip and the OpenSSL
// lines its README.txt prints (esign.SignedPDF).
var Doc = esign.SignedPDF{Base: "receipt"}

// The files of a receipt's zip.
const (
	FilePDF      = "receipt.pdf"
	FileSig      = "receipt.sig"
	FilePlatform = esign.FilePlatformCert
	FileCA       = esign.FileCA
	FileReadme   = esign.FileReadme
)

// Bundle signs a receipt's PDF with the platform's key and packs it with
// the certificate chain and a README: the zip a receipt is downloaded as.
func Bundle(rc *Receipt, pdf []byte, platform *esign.Platform, ca *sm.Certificate, now time.Time) ([]byte, error) {
	d := Doc
	d.Title = "Electronic receipt (电子回单) " + rc.ID() + " of payment " + rc.Payment
	return d.Pack(pdf, platform, rc.PlatformName, ca, now)
}
