package topups

import "slices"

// How a line was matched to its merchant.
const (
	ByAccountAndCode = "account+code" // the payer account and the memo's code name the same merchant
	ByCode           = "code"         // the memo's code alone
	ByAccount        = "account"      // the registered payer account alone
	ByHand           = "hand"         // a suspense item matched by an operator and approved by another person
)

// Why a line went to suspense.
const (
	ReasonUnmatched = "unmatched" // neither a registered payer account nor a known code
	ReasonAmbiguous = "ambiguous" // the account and the code, or two codes, name different merchants
	ReasonInactive  = "merchant_inactive"
)

// Recognise decides whose money a line is from what it points at: the
// merchant its payer account is registered to ("" if none) and the
// merchants its memo's codes belong to (unknown codes left out). Both
// agreeing, or either alone, match; a disagreement — the account and a
// code, or two codes — is ambiguous and goes to suspense with its
// candidates; nothing known is unmatched.
func Recognise(account string, codes []string) (merchant, by, reason string, candidates []string) {
	var code string
	for _, c := range codes {
		if code != "" && c != code {
			return "", "", ReasonAmbiguous, union(account, codes)
		}
		code = c
	}
	switch {
	case account != "" && code != "" && account != code:
		return "", "", ReasonAmbiguous, union(account, codes)
	case account != "" && code != "":
		return account, ByAccountAndCode, "", nil
	case code != "":
		return code, ByCode, "", nil
	case account != "":
		return account, ByAccount, "", nil
	}
	return "", "", ReasonUnmatched, nil
}

// union lists the distinct merchants a line points at, the account's first.
func union(account string, codes []string) []string {
	var out []string
	for _, m := range append([]string{account}, codes...) {
		if m != "" && !slices.Contains(out, m) {
			out = append(out, m)
		}
	}
	return out
}
