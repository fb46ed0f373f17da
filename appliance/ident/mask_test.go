package ident

import "testing"

func TestMasks(t *testing.T) {
	for _, c := range []struct {
		name, got, want string
	}{
		{"an ID number", MaskResidentID("11010519491231002X"), "1101**********002X"},
		{"a short ID", MaskResidentID("11010519491"), "***********"},
		{"an ID in full-width digits", MaskResidentID("１１０１０５１９４９１２３１００２Ｘ"), "１１０１**********００２Ｘ"},
		{"an empty ID", MaskResidentID(""), ""},
		{"a phone number", MaskPhone("13812345678"), "138****5678"},
		{"a phone with +86", MaskPhone("+8613812345678"), "+86*******5678"},
		{"a phone too short to hide four digits", MaskPhone("1381234567"), "**********"},
		{"a too-short phone", MaskPhone("138123456"), "*********"},
		{"a 19-digit card", MaskBankCard("6222020200001234567"), "****4567"},
		{"a 16-digit card", MaskBankCard("6200000000000005"), "****0005"},
		{"a short card", MaskBankCard("12345678"), "********"},
		{"an empty card", MaskBankCard(""), ""},
		{"a name", MaskName("王小明"), "王**"},
		{"a one-character name", MaskName("王"), "*"},
	} {
		if c.got != c.want {
			t.Errorf("%s: %q, want %q", c.name, c.got, c.want)
		}
	}
}
