package ledger

import (
	"fmt"
	"strings"
)

// The platform's own accounts. A merchant's accounts and a channel's
// clearing account are named by Merchant and Clearing.
const (
	// Bank is the custody account at the platform's bank: every fen the
	// platform holds for others. The only account on the debit side.
	Bank = "bank"
	// WorkerPayable is what the platform owes workers for accepted payments
	// not yet handed to a channel: a control account whose detail is the
	// payments themselves.
	WorkerPayable = "worker-payable"
	// FeeIncome is the platform's service fees earned.
	FeeIncome = "fee-income"
	// IIT, VAT and Surcharges are taxes withheld on workers' behalf, owed
	// to the tax authority until filed and paid.
	IIT        = "tax/iit"
	VAT        = "tax/vat"
	Surcharges = "tax/surcharges"
	// Suspense holds incoming money not yet matched to a merchant.
	Suspense = "suspense"
)

// Merchant returns a merchant's available-balance account.
func Merchant(id string) string { return "merchant/" + id + "/available" }

// Clearing returns a payment channel's clearing account: money handed to
// the channel and not yet reported paid.
func Clearing(channel string) string { return "channel/" + channel + "/clearing" }

// DebitNormal reports whether an account's balance grows with debits (an
// asset). Only Bank does; every other account is money held for or owed to
// someone, growing with credits.
func DebitNormal(account string) bool { return account == Bank }

// Owed reports whether a posting may leave account below zero: only a tax
// payable, and only by a return or a payment of tax to the authority. A
// payment returned (退汇) after its month's tax was paid takes its tax back
// to the merchant out of money already with the authority: the payable
// then goes below zero — the authority owes the platform that much, which
// the next month's withholding offsets or a refund claim recovers
// (docs/filing.md). No other account, and no other cause (an adjustment,
// say), ever takes a balance below zero.
func Owed(account string, p *Posting) bool {
	if account != IIT && account != VAT && account != Surcharges {
		return false
	}
	for _, l := range p.Lines {
		if l.Account == account && l.Debit && l.Cause != CauseReturn && l.Cause != CauseTax {
			return false
		}
	}
	return true
}

// NotAdjustable says why an adjustment (调账: a line of cause adjustment)
// may not move account on that side, or "" when it may. An adjustment
// moves only balances that are nobody else's detail: a merchant's
// available balance and fee income, and the bank on its credit side —
// money that left custody without a posting saying so (a channel that paid
// over), which the platform or a merchant bears. Every other balance is
// the detail of records the auditor holds it against, and a posting beside
// them would make two things say one: worker payable, a channel's
// clearing account and the tax payables are the payments where they are;
// suspense is the top-ups' open suspense items, each of which leaves
// suspense only by its own maker-checker match or return; and money comes
// into custody (the bank debited) only by a bank statement's line.
func NotAdjustable(account string, debit bool) string {
	switch {
	case account == FeeIncome:
		return ""
	case account == Bank:
		if debit {
			return "money comes into custody only by a line of the bank's statement (a top-up); an adjustment may credit the bank, never debit it"
		}
		return ""
	case account == Suspense:
		return "its detail is the top-ups' suspense items: an item leaves suspense only by its own match or return, decided by two people"
	case account == WorkerPayable:
		return "its detail is the accepted payments"
	case account == IIT || account == VAT || account == Surcharges:
		return "its detail is the taxes withheld on live payments"
	case strings.HasPrefix(account, "channel/"):
		return "its detail is the payments with the channel"
	}
	if _, ok := MerchantOf(account); ok {
		return ""
	}
	return "it is no account an adjustment moves"
}

// MerchantOf returns the merchant an account belongs to, if any.
func MerchantOf(account string) (string, bool) {
	rest, ok := strings.CutPrefix(account, "merchant/")
	if !ok {
		return "", false
	}
	id, ok := strings.CutSuffix(rest, "/available")
	return id, ok && id != ""
}

// Valid reports whether a name is an account this ledger keeps.
func Valid(account string) error {
	switch account {
	case Bank, WorkerPayable, FeeIncome, IIT, VAT, Surcharges, Suspense:
		return nil
	}
	if _, ok := MerchantOf(account); ok {
		return nil
	}
	if rest, ok := strings.CutPrefix(account, "channel/"); ok {
		if name, ok := strings.CutSuffix(rest, "/clearing"); ok && name != "" && !strings.Contains(name, "/") {
			return nil
		}
	}
	return fmt.Errorf("ledger: no account %q", account)
}
