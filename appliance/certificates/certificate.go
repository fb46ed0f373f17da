package certificates

import (
	"fmt"
	"strings"
	"time"

	"cxt/appliance/contracts"
	"cxt/appliance/ledger"
)

// Certificate is what a certificate shows: plain values, masked where a
// person is named.
type Certificate struct {
	PlatformName, PlatformUSCC string
	Agent, Period              string
	Version                    int       // the declaration version it follows
	Filed                      time.Time // when that version was filed
	Worker                     string
	Name, IDNumber             string // masked
	// Merchant, when set, scopes the certificate to that merchant's
	// payments (MerchantName is its name); "" is the worker's whole month.
	Merchant, MerchantName string
	Payments               int   // the payments counted
	IncomeFen              int64 // income: the IIT base (payments less the VAT withheld with them)
	WithheldFen            int64 // income tax withheld
	Method                 string
	// The whole month's cumulative figures (the worker's own certificate).
	Cumulative *Cumulative
	Receipts   []string // the tax authority's receipt numbers of the month's income tax
	Dates      []string // the days they were paid
	PaidAt     time.Time
}

// Cumulative are a declaration line's cumulative figures, yuan strings.
type Cumulative struct {
	Income, Cost, Deduction, Taxable, Rate, QuickDeduction, Withheld string
}

// ID is the certificate's number: one per worker, month, declaration
// version and scope.
func (c *Certificate) ID() string {
	id := fmt.Sprintf("TC-%s-%s-v%d-%s", strings.ReplaceAll(c.Period, "-", ""), c.Agent, c.Version, c.Worker)
	if c.Merchant != "" {
		id += "-" + c.Merchant
	}
	return id
}

// China is the time zone certificates show.
var China = time.FixedZone("CST", 8*60*60)

var methodName = map[string]string{
	"labor_cumulative":  "劳务报酬 累计预扣法（国家税务总局公告2025年第16号）",
	"labor_per_payment": "劳务报酬 按次预扣",
}

// Document is the certificate set as text; p makes text that came from
// outside printable.
func (c *Certificate) Document(p func(string) string) contracts.Document {
	var b strings.Builder
	line := func(label, value string) { fmt.Fprintf(&b, "%s：%s\n", label, value) }
	year, month := c.Period[:4], c.Period[5:]
	fmt.Fprintf(&b, "兹证明，扣缴义务人已就下列纳税人%s年%s月取得的劳务报酬代扣代缴个人所得税，并已缴入国库。\n\n", year, month)
	b.WriteString("# 纳税人\n")
	line("证明编号", c.ID())
	line("姓名", p(c.Name))
	line("居民身份证号码", c.IDNumber)
	line("平台内编号", c.Worker)
	b.WriteString("\n# 扣缴义务人\n")
	line("名称", p(c.PlatformName)+"（统一社会信用代码 "+c.PlatformUSCC+"）")
	line("扣缴申报", fmt.Sprintf("%s 第%d版，申报于 %s", c.Period, c.Version, c.Filed.In(China).Format("2006-01-02 15:04:05")+"（北京时间）"))
	if c.Merchant != "" {
		line("范围", "仅限用工商户 "+p(c.MerchantName)+"（"+c.Merchant+"）支付的部分")
	}
	b.WriteString("\n# 税款（人民币元）\n")
	line("所得项目", methodName[c.Method])
	line("税款所属期", fmt.Sprintf("%s年%s月", year, month))
	line("收入额（不含增值税）", ledger.Yuan(c.IncomeFen))
	line("已扣缴个人所得税", ledger.Yuan(c.WithheldFen))
	line("付款笔数", fmt.Sprintf("%d", c.Payments))
	if k := c.Cumulative; k != nil {
		b.WriteString("\n# 本年累计（累计预扣法）\n")
		line("累计收入", k.Income)
		line("累计减除费用（收入的20%）", k.Cost)
		line("累计专项减除（5,000元×连续月份）", k.Deduction)
		line("累计应纳税所得额", k.Taxable)
		line("预扣率 / 速算扣除数", k.Rate+" / "+k.QuickDeduction)
		line("累计已预扣税额", k.Withheld)
	}
	b.WriteString("\n# 缴款\n")
	for i, r := range c.Receipts {
		line("电子缴税付款凭证号", p(r)+"（缴款日期 "+c.Dates[i]+"）")
	}
	b.WriteString("\n本证明由扣缴义务人以其 SM2 密钥签名（certificate.sig），以 OpenSSL 验证的命令见同一压缩包中的 README.txt。\n")
	return contracts.Document{Title: "个人所得税完税证明", Body: b.String(), Subject: "tax certificate " + c.ID(), Footer: "完税证明 " + c.ID(), Created: c.PaidAt}
}

// Render sets the certificate as a PDF.
func Render(r *contracts.Renderer, c *Certificate) (*contracts.Rendered, error) {
	return r.RenderDocument(c.Document(r.Printable))
}
