package archives

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"cxt/appliance/agreements"
	"cxt/appliance/contracts"
	"cxt/appliance/esign"
	"cxt/crypto/keyring"
	"cxt/crypto/sm"
)

// The files of a destruction certificate.
const (
	FilePDF     = "certificate.pdf"
	FilePDFSig  = "certificate.pdf.sig"
	FileJSON    = "certificate.json"
	FileJSONSig = "certificate.sig"
	FileSigner  = "signer.cert.pem"
	FileCA      = esign.FileCA
	FileReadme  = esign.FileReadme
)

var kindName = map[string]string{KindWorker: "灵活用工人员（一户一档）", KindMerchant: "商户（一企一档）"}

// Document sets a manifest as the certificate's text; p makes outside text
// printable.
func Document(m *Manifest, platformName string, p func(string) string) (contracts.Document, error) {
	at, err := time.Parse(time.RFC3339Nano, m.DestroyedAt)
	if err != nil {
		return contracts.Document{}, err
	}
	cn := func(s string) string {
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return s
		}
		return t.In(China).Format("2006-01-02 15:04:05") + "（北京时间）"
	}
	var b strings.Builder
	line := func(label, value string) { fmt.Fprintf(&b, "%s：%s\n", label, value) }
	fmt.Fprintf(&b, "兹证明，%s已按档案鉴定销毁程序，于保管期限届满后销毁下列档案。销毁以删除该档案主体专属数据密钥（SM4）的方式进行（密码学销毁），所列各项密文自此无法解密。\n\n", p(platformName))
	b.WriteString("# 档案\n")
	line("证书编号", m.Certificate)
	line("档案主体", kindName[m.Kind]+" "+m.Subject)
	line("销毁时间", cn(m.DestroyedAt))
	line("销毁理由", p(m.Reason))
	b.WriteString("\n# 保管期限\n")
	line("注销/关闭时间", cn(m.Retention.Closed))
	line("保管期限届满", cn(m.Retention.Ended))
	for _, x := range dedupe(m.Retention.Basis) {
		line("依据", p(x))
	}
	b.WriteString("\n# 已销毁的档案类别\n")
	for _, c := range m.Classes {
		line(c.Name+"（"+c.Class+"）", strconv.Itoa(c.Items)+" 项")
	}
	if len(m.Kept) > 0 {
		b.WriteString("\n# 依法继续保存（不含个人信息，仅以内部编号关联）\n")
		for _, c := range m.Kept {
			v := strconv.Itoa(c.Items) + " 项"
			if c.Until != "" {
				v += "，保存至 " + cn(c.Until)
			}
			line(c.Name+"（"+c.Class+"）", v)
		}
	}
	b.WriteString("\n# 审批\n")
	line("提出", p(m.ProposedBy)+"，"+cn(m.ProposedAt))
	line("批准", p(m.ApprovedBy)+"，"+cn(m.ApprovedAt))
	b.WriteString("\n# 销毁清单（各项最后密文的 SM3）\n")
	for _, it := range m.Items {
		fmt.Fprintf(&b, "%s %s %s\n  %s\n", it.Class, it.Kind, p(it.Ref), it.SM3)
	}
	b.WriteString("\n本证明及其清单 certificate.json 由平台以 SM2 密钥签名，以 OpenSSL 验证的命令见同一压缩包中的 README.txt。\n")
	return contracts.Document{Title: "档案销毁证明", Body: b.String(), Subject: "destruction certificate " + m.Certificate,
		Footer: "档案销毁证明 " + m.Certificate, Created: at}, nil
}

func dedupe(xs []string) []string {
	var out []string
	seen := map[string]bool{}
	for _, x := range xs {
		if !seen[x] {
			seen[x], out = true, append(out, x)
		}
	}
	return out
}

// Verify returns the OpenSSL 3 lines that check a certificate's files in
// the folder they were unpacked in.
func Verify(at string) string {
	return fmt.Sprintf(`openssl verify -vfyopt distid:1234567812345678 -attime %s -CAfile ca.pem signer.cert.pem
openssl x509 -in signer.cert.pem -pubkey -noout > signer.pub.pem
openssl dgst -sm3 -sigopt distid:1234567812345678 -verify signer.pub.pem -signature certificate.sig certificate.json
openssl dgst -sm3 -sigopt distid:1234567812345678 -verify signer.pub.pem -signature certificate.pdf.sig certificate.pdf
`, at)
}

// Files signs a certificate's PDF and manifest with the platform's key and
// returns the certificate's files.
func Files(manifest, pdf []byte, platform *esign.Platform, ca *sm.Certificate, now time.Time) (map[string][]byte, error) {
	var m Manifest
	if err := json.Unmarshal(manifest, &m); err != nil {
		return nil, err
	}
	jsonSig, err := platform.Key.Sign(manifest)
	if err != nil {
		return nil, err
	}
	pdfSig, err := platform.Key.Sign(pdf)
	if err != nil {
		return nil, err
	}
	now = now.UTC().Truncate(time.Second)
	var readme strings.Builder
	fmt.Fprintf(&readme, "Destruction certificate (档案销毁证明) %s: archive of %s\n\n", m.Certificate, m.Subject)
	readme.WriteString("certificate.json      the manifest: subject, classes destroyed, retention basis, approvers, time, and the SM3 of every destroyed item's last ciphertext\n")
	readme.WriteString("certificate.sig       the platform's SM2 signature (DER, SM3, default ID) over certificate.json's exact bytes\n")
	readme.WriteString("certificate.pdf       the certificate in Chinese; certificate.pdf.sig signs it\n")
	readme.WriteString("signer.cert.pem, ca.pem    the platform's certificate and the e-signing CA that issued it\n\n")
	fmt.Fprintf(&readme, "The CA's SM3 fingerprint is %s: compare it with the one the platform\n", ca.Fingerprint())
	readme.WriteString("publishes (GET /api/v1/esign/authority). Then, in this folder, with OpenSSL 3:\n\n")
	readme.WriteString(Verify(strconv.FormatInt(now.Unix(), 10)))
	readme.WriteString("\nThe last two lines print \"Verified OK\", and fail for any other bytes.\n")
	return map[string][]byte{
		FilePDF: pdf, FilePDFSig: pdfSig, FileJSON: manifest, FileJSONSig: jsonSig,
		FileSigner: platform.Cert.PEM(), FileCA: ca.PEM(), FileReadme: []byte(readme.String()),
	}, nil
}

// Sign renders a manifest's certificate and signs it with the platform's
// key: the certificate's files.
func (b *Backend) Sign(manifest []byte, auth *agreements.Authority, keys *keyring.Keyring, now time.Time) (map[string][]byte, error) {
	if auth == nil {
		return nil, fmt.Errorf("archives: no e-signing authority to sign with")
	}
	var m Manifest
	if err := json.Unmarshal(manifest, &m); err != nil {
		return nil, err
	}
	ren, err := b.Renderer()
	if err != nil {
		return nil, err
	}
	doc, err := Document(&m, auth.PlatformName, ren.Printable)
	if err != nil {
		return nil, err
	}
	pdf, err := ren.RenderDocument(doc)
	if err != nil {
		return nil, err
	}
	k, err := auth.Open(keys, func() time.Time { return now })
	if err != nil {
		return nil, err
	}
	return Files(manifest, pdf.PDF, k.Platform, k.CA.Cert, now)
}
