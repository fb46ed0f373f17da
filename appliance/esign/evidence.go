package esign

import (
	"archive/zip"
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	"cxt/appliance/errs"
	"cxt/crypto/sm"
)

// ManifestFormat names the evidence package's layout.
const ManifestFormat = "cxt-evidence/1"

// The package's fixed file names.
const (
	fileContract    = "contract.pdf"
	fileManifest    = "manifest.json"
	fileCounter     = "manifest.sig"
	fileCA          = "ca.pem"
	fileTSA         = "tsa.cert.pem"
	filePlatform    = "platform.cert.pem"
	fileVerify      = "VERIFY.md"
	maxTimeDrift    = 5 * time.Minute // signing time vs its time stamp
	maxEntries      = 1000
	maxEntryBytes   = 64 << 20
	maxPackageBytes = 128 << 20
)

// Manifest is manifest.json: what the platform countersigns.
type Manifest struct {
	Format           string            `json:"format"`
	Contract         ManifestContract  `json:"contract"`
	Signers          []ManifestSigner  `json:"signers"`
	CA               string            `json:"ca"`
	TSA              string            `json:"tsa"`
	Platform         string            `json:"platform"`
	Countersignature string            `json:"countersignature"`
	SealedAt         time.Time         `json:"sealed_at"`
	SealedAtUnix     int64             `json:"sealed_at_unix"`
	Files            map[string]string `json:"files"` // path -> hex SM3, every file but manifest.json and manifest.sig
}

// ManifestContract describes contract.pdf.
type ManifestContract struct {
	ID              string `json:"id"`
	Title           string `json:"title"`
	TemplateID      string `json:"template_id"`
	TemplateVersion int    `json:"template_version"`
	TemplateSM3     string `json:"template_sm3"`
	File            string `json:"file"`
	SM3             string `json:"sm3"`
	Size            int    `json:"size"`
}

// ManifestSigner is one signer's entry.
type ManifestSigner struct {
	N                    int       `json:"n"`
	Role                 string    `json:"role"`
	Subject              string    `json:"subject"`
	Name                 string    `json:"name"`
	Certificate          string    `json:"certificate"`
	Signature            string    `json:"signature"`
	Authentication       string    `json:"authentication"`
	AuthenticationMethod string    `json:"authentication_method"`
	Timestamp            string    `json:"timestamp"`
	TimestampSignature   string    `json:"timestamp_signature"`
	SignedAt             time.Time `json:"signed_at"`
	TimestampedAt        time.Time `json:"timestamped_at"`
}

func signerFiles(n int) (cert, sig, auth, tst, tstSig string) {
	return fmt.Sprintf("signers/%d.cert.pem", n), fmt.Sprintf("signers/%d.sig", n), fmt.Sprintf("signers/%d.auth.json", n),
		fmt.Sprintf("timestamps/%d.json", n), fmt.Sprintf("timestamps/%d.sig", n)
}

func pemOf(der []byte) []byte {
	c, err := sm.ParseCertificate(der)
	if err != nil {
		return nil
	}
	return c.PEM()
}

// Seal completes a session: every party must have signed. It writes the
// manifest, has the platform countersign it, and returns the evidence
// package as one zip whose entries all carry the sealing time.
func (s *Session) Seal(ca *sm.Certificate, tsa *sm.Certificate, platform *Platform, now time.Time) ([]byte, error) {
	const op = "seal evidence"
	if !s.Complete() {
		var missing []string
		for _, p := range s.Parties {
			if _, err := s.party(p.Subject); err == nil {
				missing = append(missing, p.Subject)
			}
		}
		return nil, errs.Coded(op, errs.Conflict, CodeSigningIncomplete, "contract %s still waits for %s", s.Contract.ID, strings.Join(missing, ", "))
	}
	now = now.UTC().Truncate(time.Second)
	files := map[string][]byte{
		fileContract: s.Contract.PDF,
		fileCA:       ca.PEM(),
		fileTSA:      tsa.PEM(),
		filePlatform: platform.Cert.PEM(),
	}
	m := Manifest{
		Format: ManifestFormat,
		Contract: ManifestContract{
			ID: s.Contract.ID, Title: s.Contract.Title, TemplateID: s.Contract.TemplateID,
			TemplateVersion: s.Contract.TemplateVersion, TemplateSM3: s.Contract.TemplateSM3,
			File: fileContract, SM3: s.sm3, Size: len(s.Contract.PDF),
		},
		CA: fileCA, TSA: fileTSA, Platform: filePlatform, Countersignature: fileCounter,
		SealedAt: now, SealedAtUnix: now.Unix(), Files: map[string]string{},
	}
	for i, sig := range s.Signatures {
		n := i + 1
		cert, sigFile, auth, tst, tstSig := signerFiles(n)
		var body TokenBody
		if err := json.Unmarshal(sig.Timestamp.Body, &body); err != nil {
			return nil, errs.Wrap(op, errs.Internal, err, "signer %d's time stamp", n)
		}
		authJSON, err := json.MarshalIndent(sig.Authentication, "", "  ")
		if err != nil {
			return nil, errs.Wrap(op, errs.Internal, err, "encode")
		}
		files[cert] = pemOf(sig.Certificate)
		files[sigFile] = sig.Value
		files[auth] = append(authJSON, '\n')
		files[tst] = sig.Timestamp.Body
		files[tstSig] = sig.Timestamp.Signature
		m.Signers = append(m.Signers, ManifestSigner{
			N: n, Role: sig.Party.Role, Subject: sig.Party.Subject, Name: sig.Party.Name,
			Certificate: cert, Signature: sigFile, Authentication: auth, AuthenticationMethod: sig.Authentication.Method,
			Timestamp: tst, TimestampSignature: tstSig, SignedAt: sig.SignedAt, TimestampedAt: body.Time,
		})
	}
	files[fileVerify] = verifyMD(m, ca)
	for name, b := range files {
		m.Files[name] = sm3hex(b)
	}
	manifest, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return nil, errs.Wrap(op, errs.Internal, err, "encode the manifest")
	}
	manifest = append(manifest, '\n')
	counter, err := platform.Key.Sign(manifest)
	if err != nil {
		return nil, errs.Wrap(op, errs.Internal, err, "countersign")
	}
	files[fileManifest] = manifest
	files[fileCounter] = counter
	return Zip(files, now)
}

// Zip packs files into a zip in name order, each deflated and dated at: the
// same files and time make the same bytes. Evidence packages and receipts
// are made so.
func Zip(files map[string][]byte, at time.Time) ([]byte, error) {
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, n := range names {
		w, err := zw.CreateHeader(&zip.FileHeader{Name: n, Method: zip.Deflate, Modified: at})
		if err != nil {
			return nil, err
		}
		if _, err := w.Write(files[n]); err != nil {
			return nil, err
		}
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// VerifyScript checks an unzipped evidence package with a POSIX shell and
// OpenSSL 3 alone; docs/e-signing.md prints the same text, and a test runs
// it. It stops at the first failure with a non-zero status.
const VerifyScript = `set -eu
id=distid:1234567812345678
sm3() { openssl dgst -sm3 -r "$1" | cut -d' ' -f1; }
at=$(sed -n 's/^  "sealed_at_unix": \([0-9]*\),*$/\1/p' manifest.json)
pub=$(mktemp) list=$(mktemp)
trap 'rm -f "$pub" "$list"' EXIT

echo "1. The CA. Compare this fingerprint with the one the platform publishes:"
openssl x509 -in ca.pem -noout -fingerprint -sm3

echo "2. Every file is the one manifest.json lists, and nothing else is here."
grep -o '"[^" ]*\.[a-z]*": "[0-9a-f]\{64\}"' manifest.json | tr -d '"' > "$list"
while IFS=': ' read -r f h; do
  test "$(sm3 "$f")" = "$h" || { echo "$f: not the file manifest.json lists"; exit 1; }
done < "$list"
test "$(find . ! -type d ! -path ./manifest.json ! -path ./manifest.sig | wc -l)" -eq "$(wc -l < "$list")" \
  || { echo "files here that manifest.json does not list"; exit 1; }

echo "3. The platform countersigned manifest.json."
openssl verify -vfyopt "$id" -attime "$at" -CAfile ca.pem platform.cert.pem
openssl x509 -in platform.cert.pem -pubkey -noout > "$pub"
openssl dgst -sm3 -sigopt "$id" -verify "$pub" -signature manifest.sig manifest.json

echo "4. Each signer signed contract.pdf; the TSA dated each signature."
openssl verify -vfyopt "$id" -attime "$at" -purpose timestampsign -CAfile ca.pem tsa.cert.pem
doc=$(sm3 contract.pdf)
signers=$(grep -o '"signature": "signers/[0-9]*\.sig"' manifest.json | sed 's/.*signers\/\([0-9]*\)\.sig"/\1/')
test -n "$signers" || { echo "no signers"; exit 1; }
for n in $signers; do
  echo "   signer $n: $(openssl x509 -in "signers/$n.cert.pem" -noout -subject -nameopt utf8)"
  openssl verify -vfyopt "$id" -attime "$at" -CAfile ca.pem "signers/$n.cert.pem"
  openssl x509 -in "signers/$n.cert.pem" -pubkey -noout > "$pub"
  openssl dgst -sm3 -sigopt "$id" -verify "$pub" -signature "signers/$n.sig" contract.pdf
  grep -q "\"document_sm3\": \"$doc\"" "signers/$n.auth.json" || { echo "signer $n authenticated for another document"; exit 1; }
  openssl x509 -in tsa.cert.pem -pubkey -noout > "$pub"
  openssl dgst -sm3 -sigopt "$id" -verify "$pub" -signature "timestamps/$n.sig" "timestamps/$n.json"
  grep -q "\"contract_sm3\": \"$doc\"" "timestamps/$n.json" || { echo "time stamp $n is for another document"; exit 1; }
  grep -q "\"signature_sm3\": \"$(sm3 "signers/$n.sig")\"" "timestamps/$n.json" || { echo "time stamp $n is for another signature"; exit 1; }
  grep '"time"' "timestamps/$n.json"
done
echo "All checks passed."
`

// verifyMD is the package's own VERIFY.md: what it holds, the CA's
// fingerprint, and the script.
func verifyMD(m Manifest, ca *sm.Certificate) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "# Evidence package of contract %s\n\n", m.Contract.ID)
	fmt.Fprintf(&b, "%s — template %s version %d. Sealed by the platform at %s.\n\n", m.Contract.Title, m.Contract.TemplateID, m.Contract.TemplateVersion, m.SealedAt.Format(time.RFC3339))
	b.WriteString("| n | role | subject | signed at (UTC) | authenticated by |\n|---|---|---|---|---|\n")
	for _, s := range m.Signers {
		fmt.Fprintf(&b, "| %d | %s | %s | %s | %s |\n", s.N, s.Role, s.Subject, s.SignedAt.Format(time.RFC3339), s.AuthenticationMethod)
	}
	fmt.Fprintf(&b, "\nThe appliance CA's SM3 fingerprint is\n\n    %s\n\n", ca.Fingerprint())
	b.WriteString("Check it against the fingerprint the platform publishes: everything below is only as\n" +
		"trustworthy as ca.pem. Then run, in the folder this file is in, with OpenSSL 3\n" +
		"(docs/e-signing.md of cxt explains each step):\n\n```sh\n")
	b.WriteString(VerifyScript)
	b.WriteString("```\n")
	return []byte(b.String())
}
