package esign

import (
	"archive/zip"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"path"
	"strings"
	"time"

	"cxt/appliance/errs"
	"cxt/crypto/sm"
)

// Report is what a verified evidence package says.
type Report struct {
	Contract      ManifestContract
	Signers       []ManifestSigner
	SealedAt      time.Time
	CAFingerprint string
}

// Verify checks an evidence package as the OpenSSL commands do, and more:
// every file against the manifest and nothing unlisted; the platform's
// countersignature over the manifest; each signer's certificate from the CA
// naming the signer, valid when signed, and its signature over
// contract.pdf; each authentication bound to this document and fresh when
// the signer signed; each time stamp from a CA-certified time-stamper, over
// this contract and this signature, close to the signing time. If trusted
// is not nil, ca.pem must be that certificate. Any failure is
// evidence_invalid, naming the first check that failed.
func Verify(pkg []byte, trusted *sm.Certificate) (*Report, error) {
	bad := func(format string, args ...any) error {
		return errs.Coded("verify evidence", errs.Invalid, CodeEvidenceInvalid, format, args...)
	}
	files, err := unzip(pkg)
	if err != nil {
		return nil, bad("%v", err)
	}
	raw, ok := files[fileManifest]
	if !ok {
		return nil, bad("no %s", fileManifest)
	}
	var m Manifest
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		return nil, bad("%s: %v", fileManifest, err)
	}
	if m.Format != ManifestFormat {
		return nil, bad("format %q, want %q", m.Format, ManifestFormat)
	}
	if m.CA != fileCA || m.TSA != fileTSA || m.Platform != filePlatform || m.Countersignature != fileCounter || m.Contract.File != fileContract {
		return nil, bad("the manifest names files other than this format's")
	}

	// Every file is listed with its SM3, and every listed file is here.
	for name, b := range files {
		if name == fileManifest || name == fileCounter {
			continue
		}
		want, ok := m.Files[name]
		if !ok {
			return nil, bad("%s is not listed in the manifest", name)
		}
		if sm3hex(b) != want {
			return nil, bad("%s is not the file the manifest lists (SM3 differs)", name)
		}
	}
	for name := range m.Files {
		if _, ok := files[name]; !ok {
			return nil, bad("%s is listed but missing", name)
		}
	}

	ca, err := sm.ParseCertificatePEM(files[fileCA])
	if err != nil {
		return nil, bad("ca.pem: %v", err)
	}
	if trusted != nil && !bytes.Equal(ca.DER(), trusted.DER()) {
		return nil, bad("ca.pem is not this appliance's CA (fingerprint %s, want %s)", ca.Fingerprint(), trusted.Fingerprint())
	}
	sealed := time.Unix(m.SealedAtUnix, 0).UTC()
	if !m.SealedAt.Equal(sealed) {
		return nil, bad("sealed_at and sealed_at_unix differ")
	}
	certified := func(name string, at time.Time) (*sm.Certificate, error) {
		c, err := sm.ParseCertificatePEM(files[name])
		if err != nil {
			return nil, bad("%s: %v", name, err)
		}
		if err := c.VerifyIssuedBy(ca, at); err != nil {
			return nil, bad("%s is not certified by ca.pem at %s: %v", name, at.Format(time.RFC3339), err)
		}
		return c, nil
	}
	platform, err := certified(filePlatform, sealed)
	if err != nil {
		return nil, err
	}
	if !platform.PublicKey().Verify(raw, files[fileCounter]) {
		return nil, bad("the platform's countersignature does not verify over manifest.json")
	}
	tsa, err := certified(fileTSA, sealed)
	if err != nil {
		return nil, err
	}
	if !tsa.TimeStamping() {
		return nil, bad("tsa.cert.pem is not certified for time stamping")
	}

	pdf := files[fileContract]
	doc := sm3hex(pdf)
	if m.Contract.SM3 != doc || m.Contract.Size != len(pdf) {
		return nil, bad("contract.pdf is not the contract the manifest describes")
	}
	if len(m.Signers) == 0 {
		return nil, bad("no signers")
	}
	subjects := map[string]bool{}
	for i, s := range m.Signers {
		n := i + 1
		cert, sig, auth, tst, tstSig := signerFiles(n)
		if s.N != n || s.Certificate != cert || s.Signature != sig || s.Authentication != auth || s.Timestamp != tst || s.TimestampSignature != tstSig {
			return nil, bad("signer %d: entries out of order or misnamed", n)
		}
		for _, f := range []string{cert, sig, auth, tst, tstSig} {
			if _, ok := files[f]; !ok {
				return nil, bad("signer %d: %s is missing", n, f)
			}
		}
		if subjects[s.Subject] {
			return nil, bad("signer %d: %s signs twice", n, s.Subject)
		}
		subjects[s.Subject] = true
		if s.SignedAt.After(sealed) {
			return nil, bad("signer %d signed after the package was sealed", n)
		}
		c, err := certified(cert, s.SignedAt)
		if err != nil {
			return nil, err
		}
		switch {
		case s.Role == RolePlatform && !bytes.Equal(c.DER(), platform.DER()):
			return nil, bad("signer %d signs as the platform with another certificate", n)
		case s.Role != RolePlatform && c.CommonName() != s.Subject:
			return nil, bad("signer %d: the certificate is %s's, the manifest says %s", n, c.CommonName(), s.Subject)
		case c.TimeStamping():
			return nil, bad("signer %d: a time-stamping certificate", n)
		}
		if err := CheckSignature(c, pdf, files[sig]); err != nil {
			return nil, bad("signer %d (%s): the signature does not verify over contract.pdf", n, s.Subject)
		}
		var p Proof
		if err := strictJSON(files[auth], &p); err != nil {
			return nil, bad("%s: %v", auth, err)
		}
		switch {
		case p.Subject != s.Subject || p.Method != s.AuthenticationMethod:
			return nil, bad("signer %d: the authentication is another signer's", n)
		case p.DocumentSM3 != doc:
			return nil, bad("signer %d authenticated for another document", n)
		case s.SignedAt.Before(p.VerifiedAt.Add(-clockSkew)) || !s.SignedAt.Before(p.ExpiresAt) || p.ExpiresAt.Sub(p.VerifiedAt) > MaxProofLifetime:
			return nil, bad("signer %d did not sign right after authenticating", n)
		}
		if !tsa.PublicKey().Verify(files[tst], files[tstSig]) {
			return nil, bad("time stamp %d: the TSA's signature does not verify", n)
		}
		var tb TokenBody
		if err := strictJSON(files[tst], &tb); err != nil {
			return nil, bad("%s: %v", tst, err)
		}
		switch {
		case tb.Format != TokenFormat || tb.Hash != "SM3" || tb.TimeUnix != tb.Time.Unix() || tb.Authority != tsa.Fingerprint():
			return nil, bad("time stamp %d is not a token of this TSA", n)
		case tb.ContractSM3 != doc:
			return nil, bad("time stamp %d is for another document", n)
		case tb.SignatureSM3 != sm3hex(files[sig]):
			return nil, bad("time stamp %d is for another signature", n)
		case !tb.Time.Equal(s.TimestampedAt) || absDuration(tb.Time.Sub(s.SignedAt)) > maxTimeDrift || tb.Time.After(sealed):
			return nil, bad("time stamp %d does not date the signature (%s, signed %s)", n, tb.Time.Format(time.RFC3339), s.SignedAt.Format(time.RFC3339))
		}
	}
	return &Report{Contract: m.Contract, Signers: m.Signers, SealedAt: sealed, CAFingerprint: ca.Fingerprint()}, nil
}

func strictJSON(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	return dec.Decode(v)
}

func absDuration(d time.Duration) time.Duration {
	if d < 0 {
		return -d
	}
	return d
}

// unzip reads a package's entries, refusing what no package of ours has:
// directories or paths that climb, duplicates, too many or too large
// entries.
func unzip(pkg []byte) (map[string][]byte, error) {
	zr, err := zip.NewReader(bytes.NewReader(pkg), int64(len(pkg)))
	if err != nil {
		return nil, fmt.Errorf("not a zip: %v", err)
	}
	if len(zr.File) > maxEntries {
		return nil, fmt.Errorf("%d entries", len(zr.File))
	}
	out := map[string][]byte{}
	total := 0
	for _, f := range zr.File {
		name := f.Name
		if name == "" || strings.HasPrefix(name, "/") || path.Clean(name) != name || strings.HasPrefix(name, "../") || name == ".." || f.FileInfo().IsDir() {
			return nil, fmt.Errorf("entry %q", name)
		}
		if _, dup := out[name]; dup {
			return nil, fmt.Errorf("entry %q twice", name)
		}
		rc, err := f.Open()
		if err != nil {
			return nil, fmt.Errorf("%s: %v", name, err)
		}
		b, err := io.ReadAll(io.LimitReader(rc, maxEntryBytes+1))
		rc.Close()
		if err != nil {
			return nil, fmt.Errorf("%s: %v", name, err)
		}
		if total += len(b); len(b) > maxEntryBytes || total > maxPackageBytes {
			return nil, fmt.Errorf("%s: the package is larger than a contract's evidence can be", name)
		}
		out[name] = b
	}
	return out, nil
}
