package esign

import (
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"time"

	"cxt/crypto/sm"
)

// SignedPDF is a document the platform hands out signed — a receipt, a
// tax certificate: a PDF named Base+".pdf", the platform's SM2 signature
// over its exact bytes (Base+".sig", DER, SM3 with the default user ID
// 1234567812345678), the platform's certificate, the e-signing CA that
// issued it, and a README.txt that prints the OpenSSL 3 lines which
// verify it offline.
type SignedPDF struct {
	Base  string // the files' name: "receipt", "certificate"
	Title string // the README's first line: what the document is
}

// The certificates' files, the same in every signed PDF's zip.
const (
	FilePlatformCert = "platform.cert.pem"
	FileCA           = "ca.pem"
	FileReadme       = "README.txt"
)

// Verify returns the OpenSSL 3 lines that check the zip in the folder it
// was unpacked in, the platform's certificate checked at the time it
// signed (at: Unix seconds, or a placeholder the docs print).
func (d SignedPDF) Verify(at string) string {
	return fmt.Sprintf(`openssl verify -vfyopt distid:1234567812345678 -attime %s -CAfile ca.pem platform.cert.pem
openssl x509 -in platform.cert.pem -pubkey -noout > platform.pub.pem
openssl dgst -sm3 -sigopt distid:1234567812345678 -verify platform.pub.pem -signature %s.sig %s.pdf
`, at, d.Base, d.Base)
}

// Pack signs pdf with the platform's key and packs the zip.
func (d SignedPDF) Pack(pdf []byte, platform *Platform, platformName string, ca *sm.Certificate, now time.Time) ([]byte, error) {
	sig, err := platform.Key.Sign(pdf)
	if err != nil {
		return nil, fmt.Errorf("esign: sign %s: %w", d.Base, err)
	}
	now = now.UTC().Truncate(time.Second)
	sum := sm.Sum(pdf)
	pad := strings.Repeat(" ", max(0, len("certificate.pdf")-len(d.Base)))
	var readme strings.Builder
	fmt.Fprintf(&readme, "%s\n\n", d.Title)
	fmt.Fprintf(&readme, "%s.pdf%s    the document; SM3 %s\n", d.Base, pad, hex.EncodeToString(sum[:]))
	fmt.Fprintf(&readme, "%s.sig%s    %s's SM2 signature over %s.pdf, made %s\n", d.Base, pad, platformName, d.Base, now.Format(time.RFC3339))
	readme.WriteString("platform.cert.pem, ca.pem    the platform's certificate and the e-signing CA that issued it\n\n")
	fmt.Fprintf(&readme, "The CA's SM3 fingerprint is %s: compare it with the one the platform\n", ca.Fingerprint())
	readme.WriteString("publishes (GET /api/v1/esign/authority). Then, in this folder, with OpenSSL 3:\n\n")
	readme.WriteString(d.Verify(strconv.FormatInt(now.Unix(), 10)))
	fmt.Fprintf(&readme, "\nThe last line prints \"Verified OK\" for this %s.pdf, and fails for any other bytes.\n", d.Base)
	return Zip(map[string][]byte{
		d.Base + ".pdf": pdf, d.Base + ".sig": sig, FilePlatformCert: platform.Cert.PEM(), FileCA: ca.PEM(), FileReadme: []byte(readme.String()),
	}, now)
}
