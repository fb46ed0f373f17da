package receipts

import (
	"encoding/hex"
	"fmt"
	"strings"
	"time"

	"cxt/appliance/esign"
	"cxt/crypto/sm"
)

// The files of a receipt's zip.
const (
	FilePDF      = "receipt.pdf"
	FileSig      = "receipt.sig"
	FilePlatform = "platform.cert.pem"
	FileCA       = "ca.pem"
	FileReadme   = "README.txt"
)

// Verify is how a receipt is checked with OpenSSL 3 in the folder its zip
// was unpacked in: the platform's certificate chains to the e-signing CA
// at the time of signing (%d, Unix seconds), and receipt.sig is the
// platform's SM2 signature (SM3, the default user ID 1234567812345678,
// DER) over receipt.pdf's exact bytes. README.txt prints these lines.
const Verify = `openssl verify -vfyopt distid:1234567812345678 -attime %d -CAfile ca.pem platform.cert.pem
openssl x509 -in platform.cert.pem -pubkey -noout > platform.pub.pem
openssl dgst -sm3 -sigopt distid:1234567812345678 -verify platform.pub.pem -signature receipt.sig receipt.pdf
`

// Bundle signs a receipt's PDF with the platform's key and packs it with
// the certificate chain and a README: the zip a receipt is downloaded as.
func Bundle(rc *Receipt, pdf []byte, platform *esign.Platform, ca *sm.Certificate, now time.Time) ([]byte, error) {
	sig, err := platform.Key.Sign(pdf)
	if err != nil {
		return nil, fmt.Errorf("receipts: sign: %w", err)
	}
	now = now.UTC().Truncate(time.Second)
	sum := sm.Sum(pdf)
	var readme strings.Builder
	fmt.Fprintf(&readme, "Electronic receipt (电子回单) %s of payment %s\n\n", rc.ID(), rc.Payment)
	fmt.Fprintf(&readme, "receipt.pdf    the receipt; SM3 %s\n", hex.EncodeToString(sum[:]))
	fmt.Fprintf(&readme, "receipt.sig    %s's SM2 signature over receipt.pdf, made %s\n", rc.PlatformName, now.Format(time.RFC3339))
	readme.WriteString("platform.cert.pem, ca.pem    the platform's certificate and the e-signing CA that issued it\n\n")
	fmt.Fprintf(&readme, "The CA's SM3 fingerprint is %s: compare it with the one the platform\n", ca.Fingerprint())
	readme.WriteString("publishes (GET /api/v1/esign/authority). Then, in this folder, with OpenSSL 3:\n\n")
	fmt.Fprintf(&readme, Verify, now.Unix())
	readme.WriteString("\nThe last line prints \"Verified OK\" for this receipt.pdf, and fails for any other bytes.\n")
	return esign.Zip(map[string][]byte{
		FilePDF: pdf, FileSig: sig, FilePlatform: platform.Cert.PEM(), FileCA: ca.PEM(), FileReadme: []byte(readme.String()),
	}, now)
}
