package receipts

import (
	"fmt"
	"strings"
	"time"

	"cxt/appliance/contracts"
	"cxt/appliance/ledger"
	"cxt/appliance/payouts"
)

// Receipt is what a receipt shows: plain values, masked where a person is
// named.
type Receipt struct {
	PlatformName, PlatformUSCC string
	Payment, Batch             string
	Merchant, MerchantName     string
	Worker                     string
	PayeeName                  string // masked
	PayeeCard                  string // the last four digits behind stars
	Status                     payouts.Status
	AmountFen, IITFen          int64
	VATFen, SurFen, NetFen     int64
	Month                      int // yyyymm the withholding counted the payment in
	Channel, ChannelRef        string
	Posting                    uint64    // the posting that booked it
	PaidAt                     time.Time // when the channel's word that it was paid was recorded
	ReturnedAt                 time.Time // set if returned (退汇)
	ReturnReason               string
	Task, Agreement            string
}

// ID is the receipt's number: one per payment.
func (rc *Receipt) ID() string { return "R-" + rc.Payment }

// China is the time zone receipts show.
var China = time.FixedZone("CST", 8*60*60)

func when(t time.Time) string {
	if t.IsZero() {
		return "—"
	}
	return t.In(China).Format("2006-01-02 15:04:05") + "（北京时间）"
}

// Document is the receipt set as text: title, body, footer; p makes text
// that came from outside printable.
func (rc *Receipt) Document(p func(string) string) contracts.Document {
	title := "电子回单"
	var b strings.Builder
	line := func(label, value string) { fmt.Fprintf(&b, "%s：%s\n", label, value) }
	if rc.Status == payouts.Returned {
		title = "电子回单（已退汇）"
		b.WriteString("本笔款项已付出后被退回（退汇），退汇信息见下。\n\n")
	}
	b.WriteString("# 付款信息\n")
	line("回单编号", rc.ID())
	line("付款方", p(rc.PlatformName)+"（统一社会信用代码 "+rc.PlatformUSCC+"）")
	line("用工商户", p(rc.MerchantName)+"（"+rc.Merchant+"）")
	line("收款人", p(rc.PayeeName)+"（"+rc.Worker+"）")
	line("收款账户", rc.PayeeCard)
	line("付款编号", rc.Payment)
	line("付款批次", rc.Batch)
	b.WriteString("\n# 金额（人民币元）\n")
	line("劳务报酬（含税）", ledger.Yuan(rc.AmountFen))
	line("代扣个人所得税", ledger.Yuan(rc.IITFen))
	line("代扣增值税", ledger.Yuan(rc.VATFen))
	line("代扣附加税费", ledger.Yuan(rc.SurFen))
	line("实付金额", ledger.Yuan(rc.NetFen))
	if rc.Month > 0 {
		line("税款所属期", fmt.Sprintf("%d年%02d月", rc.Month/100, rc.Month%100))
	}
	b.WriteString("\n# 支付\n")
	line("支付渠道", rc.Channel)
	line("渠道流水号", p(rc.ChannelRef))
	line("付款时间", when(rc.PaidAt))
	if rc.Status == payouts.Returned {
		line("状态", "已退汇")
		line("退汇时间", when(rc.ReturnedAt))
		if rc.ReturnReason != "" {
			line("退汇原因", p(rc.ReturnReason))
		}
	} else {
		line("状态", "已付款")
	}
	b.WriteString("\n# 业务凭证（四流合一）\n")
	line("任务编号", rc.Task)
	line("三方协议编号", rc.Agreement)
	line("记账凭证号", fmt.Sprintf("%d", rc.Posting))
	b.WriteString("\n本回单由付款方以其 SM2 密钥签名（receipt.sig），以 OpenSSL 验证的命令见同一压缩包中的 README.txt。\n")
	created := rc.PaidAt
	if rc.Status == payouts.Returned {
		created = rc.ReturnedAt
	}
	return contracts.Document{Title: title, Body: b.String(), Subject: "receipt " + rc.Payment, Footer: "电子回单 " + rc.ID(), Created: created}
}

// Render sets the receipt as a PDF.
func Render(r *contracts.Renderer, rc *Receipt) (*contracts.Rendered, error) {
	return r.RenderDocument(rc.Document(r.Printable))
}
