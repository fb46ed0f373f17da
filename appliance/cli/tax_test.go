package cli

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestTaxQuoteComputesAndExplains(t *testing.T) {
	code, out, errOut := run(t, `{"method":"labor_nonresident","income":"10000","year":2026}`, "tax", "quote")
	var q struct {
		IIT     string `json:"iit"`
		RuleSet string `json:"rule_set"`
	}
	if code != 0 || json.Unmarshal([]byte(out), &q) != nil || q.IIT != "590.00" || q.RuleSet != "cn-2026.2" {
		t.Fatalf("quote: exit %d %s %s", code, out, errOut)
	}
	code, out, _ = run(t, `{"method":"vat_agent","month_income":"101000","location":"city","year":2026,"month":3}`, "tax", "quote", "--text")
	if code != 0 || !strings.Contains(out, "not below 100000.00: all of it taxed") || !strings.Contains(out, `"rule_set":"cn-2026.2"`) {
		t.Fatalf("quote --text: exit %d\n%s", code, out)
	}
}

func TestTaxQuoteRefusesBadInputWithItsField(t *testing.T) {
	for request, field := range map[string]string{
		`{"method":"vat_agent","filing":"weekly","month_income":"1","location":"city","year":2026,"month":1}`:  "filing",
		`{"method":"vat_agent","month_income":"1","other_sales":"-5","location":"city","year":2026,"month":1}`: "other_sales",
		`{"method":"labor_per_payment","income":"1","same_project_earlier_in_month":"-1"}`:                     "same_project_earlier_in_month",
		`{"method":"labor_nonresident","income":"1","year":2031}`:                                              "year",
	} {
		code, out, _ := run(t, request, "tax", "quote")
		var e struct {
			Error struct{ Code, Field, Message string } `json:"error"`
		}
		if code != 2 || json.Unmarshal([]byte(out), &e) != nil || e.Error.Code != "invalid_request" || e.Error.Field != field || e.Error.Message == "" {
			t.Errorf("%s: exit %d %s", request, code, out)
		}
	}
}
