package training

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"cxt/appliance/agreements"
	"cxt/appliance/contracts"
	"cxt/appliance/errs"
	"cxt/appliance/esign"
	"cxt/appliance/ident"
	"cxt/appliance/merchants"
	"cxt/appliance/subjects"
	"cxt/appliance/workers"
	"cxt/crypto/keyring"
	"cxt/crypto/sm"
	"cxt/storage/state"
)

// Doc is a completion certificate as a signed PDF: the files of its zip
// and the OpenSSL lines its README.txt prints.
var Doc = esign.SignedPDF{Base: "certificate"}

// ShreddedName is the name on the certificate of a worker whose personal
// data was shredded.
const ShreddedName = "（个人信息已依法删除）"

// Certificate is what a completion certificate shows: plain values.
type Certificate struct {
	Number                     string
	PlatformName, PlatformUSCC string
	Worker, Name, IDNumber     string // IDNumber masked
	Course                     Course
	Score, PassMark            int
	Merchant, MerchantName     string // the enrolling merchant, if any
	Completed                  time.Time
}

// Gather reads what a worker's certificate of course shows, and the
// authority whose platform key signs it; training_not_passed before a pass.
func Gather(tx *state.ReadTx, keys *keyring.Keyring, course, worker string) (*Certificate, *agreements.Authority, error) {
	e, err := GetEnrolment(tx, course, worker)
	if err != nil {
		return nil, nil, err
	}
	if e.Status != Passed {
		return nil, nil, state.Reject(CodeNotPassed, "worker %s has not passed course %s (%s): a certificate follows a pass", worker, course, e.Status)
	}
	c, err := GetCourse(tx, course)
	if err != nil {
		return nil, nil, err
	}
	auth, err := agreements.GetAuthority(tx)
	if err != nil {
		return nil, nil, err
	}
	if auth == nil {
		return nil, nil, errs.E("training certificate", errs.Conflict, "the e-signing authority is not set up: certificates are signed with the platform's key")
	}
	cert := &Certificate{Number: e.Certificate, PlatformName: auth.PlatformName, PlatformUSCC: auth.PlatformUSCC, Worker: worker,
		Course: *c, Score: *e.Score, PassMark: e.PassMark, Merchant: e.Merchant, Completed: e.Completed}
	if e.Merchant != "" {
		m, err := merchants.Get(tx, e.Merchant)
		if err != nil {
			return nil, nil, err
		}
		cert.MerchantName = m.Name
	}
	name, id, err := workers.Identity(tx, keys, worker)
	var rej *state.Rejection
	switch {
	case errors.As(err, &rej) && rej.Code == subjects.CodeShredded.String():
		cert.Name, cert.IDNumber = ShreddedName, "—"
	case err != nil:
		return nil, nil, err
	default:
		cert.Name, cert.IDNumber = name, ident.MaskResidentID(id)
	}
	return cert, auth, nil
}

// Document is the certificate set as text; p makes text that came from
// outside printable.
func (c *Certificate) Document(p func(string) string) contracts.Document {
	var b strings.Builder
	line := func(label, value string) { fmt.Fprintf(&b, "%s：%s\n", label, value) }
	day := c.Completed.In(China)
	fmt.Fprintf(&b, "兹证明 %s 于%s完成下列业务培训，经考核合格。\n\n", p(c.Name), day.Format("2006年01月02日"))
	b.WriteString("# 学员\n")
	line("证书编号", c.Number)
	line("姓名", p(c.Name))
	line("居民身份证号码", c.IDNumber)
	line("平台内编号", c.Worker)
	b.WriteString("\n# 培训\n")
	line("课程名称", p(c.Course.Title))
	line("课程编号", c.Course.ID)
	if c.Course.Category != "" {
		line("课程类别", c.Course.Category)
	}
	if len(c.Course.RequiredFor) > 0 {
		line("适用任务类别", strings.Join(c.Course.RequiredFor, "、"))
	}
	line("考核成绩", fmt.Sprintf("%d 分（合格线 %d 分）", c.Score, c.PassMark))
	line("完成日期", day.Format("2006-01-02"))
	if c.Merchant != "" {
		line("报名单位", p(c.MerchantName)+"（"+c.Merchant+"）")
	} else {
		line("报名方式", "本人报名")
	}
	b.WriteString("\n# 颁发\n")
	line("颁发单位", p(c.PlatformName)+"（统一社会信用代码 "+c.PlatformUSCC+"）")
	b.WriteString("\n本证明由平台以其 SM2 密钥签名（certificate.sig），以 OpenSSL 验证的命令见同一压缩包中的 README.txt。\n")
	return contracts.Document{Title: "业务培训合格证明", Body: b.String(), Subject: "training certificate " + c.Number,
		Footer: "培训合格证明 " + c.Number, Created: c.Completed}
}

// Bundle renders the certificate, signs it with the platform's key and
// packs it with the certificate chain and a README.
func Bundle(r *contracts.Renderer, c *Certificate, platform *esign.Platform, ca *sm.Certificate, now time.Time) ([]byte, error) {
	pdf, err := r.RenderDocument(c.Document(r.Printable))
	if err != nil {
		return nil, err
	}
	d := Doc
	d.Title = "Training certificate (业务培训合格证明) " + c.Number + ": worker " + c.Worker + ", course " + c.Course.ID
	return d.Pack(pdf.PDF, platform, c.PlatformName, ca, now)
}
