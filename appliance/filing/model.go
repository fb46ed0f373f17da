package filing

import (
	"time"

	"cxt/appliance/payouts"
	"cxt/storage/state"
)

// Buckets.
const (
	// DeclBucket holds every version: "<agent>/<period>/<version, 4 digits>"
	// -> Declaration (JSON), written once.
	DeclBucket = "filing-declarations"
	// CurrentBucket: "<agent>/<period>" -> the current version's number
	// (decimal); "pay/<agent>/<period>" -> the last tax payment's number.
	CurrentBucket = "filing-current"
	// PaymentBucket: "<agent>/<period>/<number, 6 digits>" -> TaxPayment (JSON).
	PaymentBucket = "filing-tax-payments"
	// ReceiptBucket: the authority's receipt number -> the tax payment's key:
	// a receipt is recorded once.
	ReceiptBucket = "filing-receipts"
)

// Command types (command set state.FilingSet).
const (
	CmdDeclare = "filing.declare"        // compute and file a period's declaration: v1, or a correction
	CmdPay     = payouts.EventTaxPayment // record tax payments against the current version (one, or a whole import)
)

// Platform is the one withholding agent cxt files for.
const Platform = "platform"

// Tax kinds a payment settles.
const (
	KindIIT        = "iit"
	KindVAT        = "vat"
	KindSurcharges = "surcharges"
)

// Refusals.
var (
	CodeAgentUnknown   = state.NewCode(state.KindNotFound, "agent_unknown")
	CodePeriod         = state.NewCode(state.KindInvalid, "period_invalid")
	CodePeriodOpen     = state.NewCode(state.KindConflict, "period_not_over")
	CodeUnchanged      = state.NewCode(state.KindConflict, "declaration_unchanged")
	CodeNotDeclared    = state.NewCode(state.KindNotFound, "declaration_not_found")
	CodeSuperseded     = state.NewCode(state.KindConflict, "declaration_superseded")
	CodeOverUnpaid     = state.NewCode(state.KindConflict, "payment_exceeds_unpaid")
	CodeReceiptUsed    = state.NewCode(state.KindConflict, "receipt_duplicate")
	CodeImportLine     = state.NewCode(state.KindInvalid, "import_line_duplicate")
	CodeTaxPayment     = state.NewCode(state.KindInvalid, "tax_payment_invalid")
	CodeCorrectionNote = state.NewCode(state.KindInvalid, "correction_reason")
)

// Declaration is one filed version of an agent's month: the IIT detail, the
// VAT and surcharge summary, and what they leave payable.
type Declaration struct {
	Agent   string `json:"agent"`
	Period  string `json:"period"` // yyyy-mm, China time
	Version int    `json:"version"`
	// Supersedes is the version this one corrects (0 for v1).
	Supersedes int       `json:"supersedes,omitempty"`
	Reason     string    `json:"reason,omitempty"` // why a correction was filed
	By         string    `json:"by"`
	Filed      time.Time `json:"filed"`
	Due        string    `json:"due"`  // yyyy-mm-dd: the 15th of the next month
	Late       bool      `json:"late"` // filed (China date) after Due
	// RuleSets are the tax rule sets the payments were withheld under.
	RuleSets []string `json:"rule_sets"`
	IIT      IITForm  `json:"iit"`
	VAT      VATForm  `json:"vat"`
	// Payable by kind, fen: what the version declares withheld.
	IITFen int64 `json:"iit_fen"`
	VATFen int64 `json:"vat_fen"`
	SurFen int64 `json:"surcharges_fen"`
}

// Payable returns what the version declares for a tax kind, fen.
func (d *Declaration) Payable(kind string) int64 {
	switch kind {
	case KindIIT:
		return d.IITFen
	case KindVAT:
		return d.VATFen
	case KindSurcharges:
		return d.SurFen
	}
	return 0
}

// IITForm is the IIT withholding declaration detail (扣缴申报明细) exactly as
// exported: JSON field order is the CSV column order.
type IITForm struct {
	Agent  string    `json:"agent"`
	Period string    `json:"period"`
	Lines  []Line    `json:"lines"`
	Totals IITTotals `json:"totals"`
}

// Line is one worker's month. Amounts are yuan, decimal strings; income is
// the IIT base (payments less the VAT withheld with them).
type Line struct {
	Worker              string `json:"worker"`
	Method              string `json:"method"` // labor_cumulative or labor_per_payment
	Month               string `json:"month"`  // yyyy-mm the income counts in: the period
	Income              string `json:"income"`
	CumulativeIncome    string `json:"cumulative_income"`
	CumulativeCost      string `json:"cumulative_cost"`
	CumulativeDeduction string `json:"cumulative_deduction"`
	CumulativeTaxable   string `json:"cumulative_taxable"`
	Rate                string `json:"rate"`
	QuickDeduction      string `json:"quick_deduction"`
	CumulativeWithheld  string `json:"cumulative_withheld"`
	Withheld            string `json:"withheld"`
}

// IITTotals sums the lines.
type IITTotals struct {
	Lines    int    `json:"lines"`
	Income   string `json:"income"`
	Withheld string `json:"withheld"`
}

// VATForm is the VAT and surcharge agent-filing summary (代办申报), per
// worker and tax office, due with the IIT declaration.
type VATForm struct {
	Agent  string    `json:"agent"`
	Period string    `json:"period"`
	Due    string    `json:"due"`
	Lines  []VATLine `json:"lines"`
	Totals VATTotals `json:"totals"`
}

// VATLine is one worker's month at one tax office: the income paid (tax
// included), the VAT and the surcharges withheld.
type VATLine struct {
	Worker     string `json:"worker"`
	Office     string `json:"office"`
	Income     string `json:"income"`
	VAT        string `json:"vat"`
	Surcharges string `json:"surcharges"`
}

// VATTotals sums the lines.
type VATTotals struct {
	Lines      int    `json:"lines"`
	Income     string `json:"income"`
	VAT        string `json:"vat"`
	Surcharges string `json:"surcharges"`
}

// TaxPayment is one payment to the tax authority against a declaration.
type TaxPayment struct {
	N       int    `json:"n"` // its number within the period, from 1
	Agent   string `json:"agent"`
	Period  string `json:"period"`
	Version int    `json:"version"` // the declaration version current when it was recorded
	Kind    string `json:"kind"`
	Fen     int64  `json:"fen"`
	Date    string `json:"date"`    // yyyy-mm-dd the authority took it
	Receipt string `json:"receipt"` // the authority's receipt number (电子缴税付款凭证号)
	Source  string `json:"source"`  // entered or imported
	By      string `json:"by"`
	// Posting is the ledger posting (debit tax/<kind>, credit bank).
	Posting  uint64    `json:"posting"`
	Recorded time.Time `json:"recorded"`
}
