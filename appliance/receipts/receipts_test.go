package receipts_test

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
	"unicode"

	"cxt/appliance/agreements"
	"cxt/appliance/contracts"
	"cxt/appliance/errs"
	"cxt/appliance/esign/esigntest"
	"cxt/appliance/payouts"
	"cxt/appliance/payouts/payoutstest"
	"cxt/appliance/receipts"
	"cxt/appliance/receipts/receiptstest"
	"cxt/appliance/subjects"
	"cxt/appliance/tax"
	"cxt/crypto/keyring"
	"cxt/crypto/sm"
	"cxt/storage/state"
	"cxt/storage/state/statetest"
)

// world is a state machine with two merchants, four workers, a batch of
// m1 paying each of them 20,000.00 and the e-signing authority; the
// channel has paid w1, paid and returned w2, paid w4 and not yet answered
// for w3.
type world struct {
	*statetest.Machine
	t        *testing.T
	batch    string
	auth     *agreements.Authority
	paidAt   time.Time
	shredded map[string]bool
}

const (
	platformName = "诚薪通科技有限公司"
	platformUSCC = "91350100M000100Y43"
	payeeCard    = "6222020200001234567"
)

func newWorld(t *testing.T) *world {
	t.Helper()
	rules := &payouts.Rules{Tax: tax.Default(), Location: "city", Channel: "bank-fz", MonthlyLimitFen: payouts.DefaultMonthlyLimitFen}
	m := statetest.New(t, func(reg *state.Registry) { payoutstest.Register(reg, rules) })
	m.Now = time.Date(2026, 3, 10, 10, 0, 0, 0, receipts.China)
	w := &world{Machine: m, t: t, shredded: map[string]bool{}}
	w.ok(payoutstest.CmdSeed, payoutstest.Seed{Merchants: []string{"m1", "m2"}, Workers: []string{"w1", "w2", "w3", "w4"}})
	w.ok(payoutstest.CmdTopUp, payoutstest.TopUp{Merchant: "m1", Fen: 10_000_000, Ref: "t1"})
	var err error
	if w.auth, err = agreements.NewAuthority(m.Keys, platformName, platformUSCC, m.Now.Add(-time.Hour)); err != nil {
		t.Fatal(err)
	}
	w.ok(agreements.CmdAuthority, w.auth)
	w.batch = "pb-m1-1"
	rows := []payouts.Row{}
	for i, wk := range []string{"w1", "w2", "w3", "w4"} {
		rows = append(rows, payouts.Row{No: i + 1, Worker: wk, Task: "task-" + wk, Fen: 20_000_00})
	}
	cmds, err := payouts.UploadCommands(w.batch, "m1", "ref-1", "acct-op", rows, m.Now)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cmds {
		if res := m.Apply(c); res.Err != nil {
			t.Fatal(res.Err)
		}
	}
	w.ok(payouts.CmdConfirm, payouts.Confirm{Batch: w.batch, By: "acct-admin"})
	w.ok(payouts.CmdExecute, payouts.Chunk{Batch: w.batch, Chunk: 0})
	m.Now = m.Now.Add(time.Minute)
	var items []payouts.SentItem
	for i := range 4 {
		items = append(items, payouts.SentItem{Outbox: uint64(i + 1), Payment: w.id(i + 1), ChannelRef: fmt.Sprintf("PAY-20260310100100-000001.csv#%d", i+1)})
	}
	w.ok(payouts.CmdSent, payouts.Sent{Channel: "bank-fz", Items: items})
	m.Now = m.Now.Add(5 * time.Minute)
	w.paidAt = m.Now
	w.ok(payouts.CmdResults, payouts.Results{Channel: "bank-fz", Cursor: "RES-1.csv:4", Items: []payouts.Result{
		{Payment: w.id(1), Status: payouts.Paid, ChannelRef: "BK20260310000001", At: m.Now},
		{Payment: w.id(2), Status: payouts.Paid, ChannelRef: "BK20260310000002", At: m.Now},
		{Payment: w.id(4), Status: payouts.Paid, At: m.Now},
	}})
	m.Now = m.Now.Add(48 * time.Hour)
	w.ok(payouts.CmdResults, payouts.Results{Channel: "bank-fz", Cursor: "RES-2.csv:2", Items: []payouts.Result{
		{Payment: w.id(2), Status: payouts.Returned, Reason: "收款账户已销户", At: m.Now},
	}})
	return w
}

func (w *world) id(row int) string { return payouts.PaymentID(w.batch, row) }

func (w *world) ok(typ string, body any) {
	w.t.Helper()
	if res := w.Send(typ, body); res.Err != nil {
		w.t.Fatalf("%s: %v", typ, res.Err)
	}
}

// payee stands in for appliance/workers: every worker is 张三丰 with one
// card, unless shredded.
func (w *world) payee(_ *state.ReadTx, _ *keyring.Keyring, worker string) (string, string, error) {
	if w.shredded[worker] {
		return "", "", state.Reject(subjects.CodeShredded, "subject %s was shredded", worker)
	}
	return "张三丰", payeeCard, nil
}

func (w *world) gather(id string) (*receipts.Receipt, *agreements.Authority, error) {
	var rc *receipts.Receipt
	var auth *agreements.Authority
	err := w.State.View(func(tx *state.ReadTx) (err error) {
		rc, auth, err = receipts.Gather(tx, w.Keys, w.payee, id)
		return err
	})
	return rc, auth, err
}

// receipt renders a payment's receipt and bundles it as the route does.
func (w *world) receipt(id string) (*receipts.Receipt, []byte, []byte) {
	w.t.Helper()
	rc, auth, err := w.gather(id)
	if err != nil {
		w.t.Fatal(err)
	}
	pdf, err := receipts.Render(renderer(w.t), rc)
	if err != nil {
		w.t.Fatal(err)
	}
	if pdf.Pages != 1 {
		w.t.Fatalf("the receipt has %d pages", pdf.Pages)
	}
	keys, err := auth.Open(w.Keys, time.Now)
	if err != nil {
		w.t.Fatal(err)
	}
	zip, err := receipts.Bundle(rc, pdf.PDF, keys.Platform, keys.CA.Cert, w.Now)
	if err != nil {
		w.t.Fatal(err)
	}
	return rc, pdf.PDF, zip
}

var theRenderer *contracts.Renderer

func renderer(t *testing.T) *contracts.Renderer {
	t.Helper()
	if theRenderer == nil {
		r, err := contracts.NewRenderer(contracts.DefaultFonts)
		if err != nil {
			t.Fatalf("%v (make deps installs the fonts)", err)
		}
		theRenderer = r
	}
	return theRenderer
}

func pdfText(t *testing.T, pdf []byte) string {
	t.Helper()
	cmd := exec.Command("pdftotext", "-raw", "-enc", "UTF-8", "-", "-")
	cmd.Stdin = bytes.NewReader(pdf)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("pdftotext: %v (make deps installs poppler-utils)", err)
	}
	return strings.Map(func(r rune) rune {
		if unicode.IsSpace(r) {
			return -1
		}
		return r
	}, string(out))
}

func verify(t *testing.T, dir string) (string, error) { return receiptstest.Verify(t, dir) }

func TestAPaidPaymentsReceiptShowsItAndVerifiesWithOpenSSL(t *testing.T) {
	w := newWorld(t)
	rc, pdf, zip := w.receipt(w.id(1))
	text := pdfText(t, pdf)
	for _, s := range []string{"电子回单", platformName, platformUSCC, "回单编号：R-" + w.id(1), "付款编号：" + w.id(1), "付款批次：" + w.batch,
		"商户m1（m1）", "收款人：张**（w1）", "收款账户：****4567", "劳务报酬（含税）：20000.00", "实付金额：" + fmt.Sprintf("%d.%02d", rc.NetFen/100, rc.NetFen%100),
		"代扣个人所得税：", "代扣增值税：", "代扣附加税费：", "支付渠道：bank-fz", "渠道流水号：BK20260310000001",
		"付款时间：" + w.paidAt.In(receipts.China).Format("2006-01-0215:04:05"), "状态：已付款", "任务编号：task-w1", "三方协议编号：agr-m1-w1", "税款所属期：2026年03月"} {
		if !strings.Contains(text, strings.ReplaceAll(s, " ", "")) {
			t.Errorf("the receipt has no %q:\n%s", s, text)
		}
	}
	if strings.Contains(text, "张三丰") || strings.Contains(text, payeeCard) || strings.Contains(text, "已退汇") {
		t.Fatalf("the receipt shows the payee unmasked, or says returned:\n%s", text)
	}
	if rc.NetFen+rc.IITFen+rc.VATFen+rc.SurFen != rc.AmountFen || rc.IITFen == 0 {
		t.Fatalf("amounts: %+v", rc)
	}

	dir := esigntest.Extract(t, zip)
	if got, _ := os.ReadFile(filepath.Join(dir, receipts.FilePDF)); !bytes.Equal(got, pdf) {
		t.Fatal("receipt.pdf is not the rendered receipt")
	}
	out, err := verify(t, dir)
	if err != nil || strings.Count(out, "OK") != 2 || !strings.HasSuffix(out, "Verified OK\n") {
		t.Fatalf("openssl: %v\n%s", err, out)
	}
	// One byte changed anywhere in the PDF and it fails.
	for _, at := range []int{0, len(pdf) / 2, len(pdf) - 2} {
		changed := bytes.Clone(pdf)
		changed[at] ^= 0x01
		os.WriteFile(filepath.Join(dir, receipts.FilePDF), changed, 0o644)
		if out, err := verify(t, dir); err == nil || strings.Contains(out, "Verified OK") {
			t.Fatalf("a PDF changed at byte %d verifies:\n%s", at, out)
		}
	}
	// A certificate from another CA does not chain.
	os.WriteFile(filepath.Join(dir, receipts.FilePDF), pdf, 0o644)
	otherKey, _ := sm.GenerateKey()
	other, _ := sm.NewCA(otherKey, "another CA", w.Now.Add(-time.Hour), w.Now.Add(time.Hour))
	os.WriteFile(filepath.Join(dir, receipts.FileCA), other.PEM(), 0o644)
	if out, err := verify(t, dir); err == nil {
		t.Fatalf("a receipt verified against another CA:\n%s", out)
	}
}

func TestTheSameRecordGivesTheSameReceiptPDF(t *testing.T) {
	w := newWorld(t)
	_, a, zipA := w.receipt(w.id(1))
	w.Now = w.Now.Add(time.Hour) // a later download
	_, b, zipB := w.receipt(w.id(1))
	if !bytes.Equal(a, b) {
		t.Fatal("the same record rendered two different PDFs")
	}
	if bytes.Equal(zipA, zipB) {
		t.Fatal("two downloads carry the same signature: SM2 signatures are randomised")
	}
	for _, zip := range [][]byte{zipA, zipB} {
		if out, err := verify(t, esigntest.Extract(t, zip)); err != nil {
			t.Fatalf("a download does not verify: %v\n%s", err, out)
		}
	}
	_, other, _ := w.receipt(w.id(4))
	if bytes.Equal(a, other) {
		t.Fatal("two payments rendered the same PDF")
	}
}

func TestAReturnedPaymentsReceiptSaysSoAndKeepsItsPaidTime(t *testing.T) {
	w := newWorld(t)
	rc, pdf, zip := w.receipt(w.id(2))
	if rc.Status != payouts.Returned || !rc.PaidAt.Equal(w.paidAt) || !rc.ReturnedAt.Equal(w.paidAt.Add(48*time.Hour)) {
		t.Fatalf("receipt: %+v", rc)
	}
	text := pdfText(t, pdf)
	for _, s := range []string{"电子回单（已退汇）", "状态：已退汇", "退汇原因：收款账户已销户", "渠道流水号：BK20260310000002",
		"付款时间：" + w.paidAt.In(receipts.China).Format("2006-01-0215:04:05"), "退汇时间：" + rc.ReturnedAt.In(receipts.China).Format("2006-01-0215:04:05")} {
		if !strings.Contains(text, s) {
			t.Errorf("the returned receipt has no %q:\n%s", s, text)
		}
	}
	if out, err := verify(t, esigntest.Extract(t, zip)); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	// A payment the bank reported with no reference of its own keeps the
	// one it was handed over under.
	if rc4, _, _ := w.receipt(w.id(4)); rc4.ChannelRef != "PAY-20260310100100-000001.csv#4" {
		t.Fatalf("channel reference %q", rc4.ChannelRef)
	}
}

func TestAShreddedPayeeIsShownAsShredded(t *testing.T) {
	w := newWorld(t)
	w.shredded["w1"] = true
	rc, pdf, _ := w.receipt(w.id(1))
	if rc.PayeeName != receipts.ShreddedPayee || !strings.Contains(pdfText(t, pdf), receipts.ShreddedPayee) {
		t.Fatalf("payee %q", rc.PayeeName)
	}
}

func TestOnlyAPaidOrReturnedPaymentHasAReceipt(t *testing.T) {
	w := newWorld(t)
	_, _, err := w.gather(w.id(3)) // submitted
	if e := errs.Of(err); e.Kind != errs.Conflict || e.Code != "payment_status" || !strings.Contains(err.Error(), "submitted") {
		t.Fatalf("a submitted payment: %v", err)
	}
	_, _, err = w.gather(w.batch + "-000099")
	var rej *state.Rejection
	if !errors.As(err, &rej) || rej.Code != state.NotFound.String() {
		t.Fatalf("an unknown payment: %v", err)
	}
}

func TestWithoutTheSigningAuthorityThereIsNoReceipt(t *testing.T) {
	rules := &payouts.Rules{Tax: tax.Default(), Location: "city", Channel: "bank-fz"}
	m := statetest.New(t, func(reg *state.Registry) { payoutstest.Register(reg, rules) })
	w := &world{Machine: m, t: t, batch: "pb-1"}
	w.ok(payoutstest.CmdSeed, payoutstest.Seed{Merchants: []string{"m1"}, Workers: []string{"w1"}})
	w.ok(payoutstest.CmdTopUp, payoutstest.TopUp{Merchant: "m1", Fen: 10_000_000, Ref: "t1"})
	cmds, _ := payouts.UploadCommands(w.batch, "m1", "ref-1", "acct-op", []payouts.Row{{No: 1, Worker: "w1", Task: "t", Fen: 100_00}}, time.Now())
	for _, c := range cmds {
		m.Apply(c)
	}
	w.ok(payouts.CmdConfirm, payouts.Confirm{Batch: w.batch, By: "a"})
	w.ok(payouts.CmdExecute, payouts.Chunk{Batch: w.batch, Chunk: 0})
	w.ok(payouts.CmdResults, payouts.Results{Channel: "bank-fz", Cursor: "1", Items: []payouts.Result{{Payment: w.id(1), Status: payouts.Paid, At: time.Now()}}})
	_, _, err := w.gather(w.id(1))
	if e := errs.Of(err); e.Kind != errs.Conflict || !strings.Contains(err.Error(), "authority") {
		t.Fatalf("no authority: %v", err)
	}
}

// docs/payouts.md prints the commands README.txt prints.
func TestTheDocsPrintTheVerifyCommands(t *testing.T) {
	_, here, _, _ := runtime.Caller(0)
	doc, err := os.ReadFile(filepath.Join(filepath.Dir(here), "../../docs/payouts.md"))
	if err != nil {
		t.Fatal(err)
	}
	if want := receipts.Doc.Verify("$AT"); !strings.Contains(string(doc), want) {
		t.Fatalf("docs/payouts.md does not print\n%s", want)
	}
}
