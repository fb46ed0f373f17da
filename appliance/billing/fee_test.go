package billing

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/shopspring/decimal"
)

// config reads a configuration as the API receives it and validates it.
func config(t testing.TB, rules string) *Config {
	t.Helper()
	var c Config
	if err := json.Unmarshal([]byte(`{"effective":"2026-03-01","timing":"during","rules":`+rules+`}`), &c); err != nil {
		t.Fatalf("decode %s: %v", rules, err)
	}
	if err := c.Validate(); err != nil {
		t.Fatalf("validate %s: %v", rules, err)
	}
	return &c
}

func dec(s string) decimal.Decimal { return decimal.RequireFromString(s) }

const (
	sixPercent  = `[{"name":"服务费","kind":"percentage","rate":"0.0600"}]`
	clamped     = `[{"name":"服务费","kind":"percentage","rate":"0.0060","min":"2.00","max":"50.00"}]`
	perPayment  = `[{"name":"通道费","kind":"fixed","amount":"1.50"}]`
	marginal    = `[{"name":"阶梯费","kind":"tiered","mode":"marginal","tiers":[{"up_to":"1000.00","rate":"0.0500"},{"up_to":"5000.00","rate":"0.0300"},{"rate":"0.0100"}]}]`
	whole       = `[{"name":"阶梯费","kind":"tiered","mode":"whole","tiers":[{"up_to":"1000.00","rate":"0.0500"},{"up_to":"5000.00","rate":"0.0300"},{"rate":"0.0100"}]}]`
	twoRules    = `[{"name":"服务费","kind":"percentage","rate":"0.0600"},{"name":"通道费","kind":"fixed","amount":"1.50"}]`
	halfFen     = `[{"name":"服务费","kind":"percentage","rate":"0.0500"}]`
	tieredFloor = `[{"name":"阶梯费","kind":"tiered","mode":"marginal","min":"3.00","tiers":[{"up_to":"100.00","rate":"0"},{"rate":"0.0200"}]}]`
)

func TestFeesOfEachKind(t *testing.T) {
	for _, c := range []struct {
		name, rules, amount, fee, explain string
	}{
		{"a percentage of the payment", sixPercent, "1000.00", "60.00", "6.00% of 1000.00 = 60.00"},
		{"a percentage of an odd amount, rounded to the fen", sixPercent, "123.45", "7.41", "6.00% of 123.45 = 7.41"}, // 7.407
		{"a percentage below its minimum is raised to it", clamped, "100.00", "2.00", "0.60% of 100.00 = 0.6, raised to the minimum 2.00 = 2.00"},
		{"a percentage between its bounds", clamped, "1000.00", "6.00", "0.60% of 1000.00 = 6.00"},
		{"a percentage above its maximum is capped", clamped, "10000.00", "50.00", "0.60% of 10000.00 = 60, capped at the maximum 50.00 = 50.00"},
		{"a percentage just above its minimum", clamped, "333.34", "2.00", "0.60% of 333.34 = 2.00"}, // 2.00004
		{"a fixed fee whatever the amount", perPayment, "0.01", "1.50", "1.50 per payment = 1.50"},
		{"a fixed fee on a large payment", perPayment, "99999.99", "1.50", "1.50 per payment = 1.50"},
		{"marginal tiers: inside the first", marginal, "999.99", "50.00", "5.00% of 999.99 (up to 1000.00) = 50.00"}, // 49.9995
		{"marginal tiers: exactly at the first boundary", marginal, "1000.00", "50.00", "5.00% of 1000.00 (up to 1000.00) = 50.00"},
		{"marginal tiers: a fen above the boundary", marginal, "1000.01", "50.00", "5.00% of 1000.00 (up to 1000.00) + 3.00% of 0.01 (above 1000.00 up to 5000.00) = 50.00"},
		{"marginal tiers: exactly at the second boundary", marginal, "5000.00", "170.00", "5.00% of 1000.00 (up to 1000.00) + 3.00% of 4000.00 (above 1000.00 up to 5000.00) = 170.00"},
		{"marginal tiers: into the last", marginal, "8000.00", "200.00", "5.00% of 1000.00 (up to 1000.00) + 3.00% of 4000.00 (above 1000.00 up to 5000.00) + 1.00% of 3000.00 (above 5000.00) = 200.00"},
		{"whole tiers: exactly at the first boundary", whole, "1000.00", "50.00", "1000.00 is in tier 1 (up to 1000.00): 5.00% of 1000.00 = 50.00"},
		{"whole tiers: a fen above it the whole amount drops a rate", whole, "1000.01", "30.00", "1000.01 is in tier 2 (above 1000.00 up to 5000.00): 3.00% of 1000.01 = 30.00"},
		{"whole tiers: exactly at the second boundary", whole, "5000.00", "150.00", "5000.00 is in tier 2 (above 1000.00 up to 5000.00): 3.00% of 5000.00 = 150.00"},
		{"whole tiers: the last", whole, "5000.01", "50.00", "5000.01 is in tier 3 (above 5000.00): 1.00% of 5000.01 = 50.00"},
		{"half a fen rounds up", halfFen, "0.50", "0.03", "5.00% of 0.50 = 0.03"},              // 0.025: half-even would say 0.02
		{"just under half a fen rounds down", halfFen, "0.49", "0.02", "5.00% of 0.49 = 0.02"}, // 0.0245
		{"a minimum as large as an amount may be", `[{"name":"x","kind":"percentage","rate":"1","min":"999999999999999.99"}]`, "100.00", "999999999999999.99", "100.00% of 100.00 = 100, raised to the minimum 999999999999999.99 = 999999999999999.99"},
		{"a maximum as large as an amount may be", `[{"name":"x","kind":"percentage","rate":"0.5","max":"999999999999999.99"}]`, "100.00", "50.00", "50.00% of 100.00 = 50.00"},
		{"a tiered rule with a free band and a minimum", tieredFloor, "50.00", "3.00", "0.00% of 50.00 (up to 100.00) = 0, raised to the minimum 3.00 = 3.00"},
	} {
		t.Run(c.name, func(t *testing.T) {
			fee, charges := config(t, c.rules).Fee(dec(c.amount))
			if fee.StringFixed(2) != c.fee || len(charges) != 1 {
				t.Fatalf("fee of %s: %s in %d charges, want %s", c.amount, fee.StringFixed(2), len(charges), c.fee)
			}
			ch := charges[0]
			if ch.Explain != c.explain || !ch.Amount.Equal(fee) || !ch.Base.Equal(dec(c.amount)) || ch.Rule == "" || ch.Kind == "" {
				t.Fatalf("charge %+v, want the explanation %q", ch, c.explain)
			}
		})
	}
}

func TestAFeeIsTheSumOfItsRulesRoundedCharges(t *testing.T) {
	fee, charges := config(t, twoRules).Fee(dec("123.45"))
	if fee.StringFixed(2) != "8.91" || len(charges) != 2 {
		t.Fatalf("fee %s, charges %+v", fee, charges)
	}
	if charges[0].Rule != "服务费" || charges[0].Amount.StringFixed(2) != "7.41" || charges[1].Rule != "通道费" || charges[1].Kind != "fixed" || charges[1].Amount.StringFixed(2) != "1.50" {
		t.Fatalf("charges %+v", charges)
	}
	b, _ := json.Marshal(charges[0])
	if string(b) != `{"rule":"服务费","kind":"percentage","base":"123.45","amount":"7.41","explain":"6.00% of 123.45 = 7.41"}` {
		t.Fatalf("a charge as JSON: %s", b)
	}
}

func TestNothingIsChargedOnNothing(t *testing.T) {
	var none *Config
	for _, c := range []struct {
		name   string
		config *Config
		amount string
	}{
		{"no configuration", none, "100.00"},
		{"no rules", config(t, `[]`), "100.00"},
		{"a zero amount, even under a fixed fee", config(t, perPayment), "0"},
		{"a negative amount, even under a minimum", config(t, clamped), "-5.00"},
	} {
		if fee, charges := c.config.Fee(dec(c.amount)); !fee.IsZero() || charges != nil {
			t.Errorf("%s: fee %s, charges %v", c.name, fee, charges)
		}
		if fee, charges := c.config.Statement([]decimal.Decimal{dec(c.amount)}); !fee.IsZero() || charges != nil {
			t.Errorf("%s, as a statement: fee %s, charges %v", c.name, fee, charges)
		}
	}
}

func TestAStatementAppliesTiersToThePeriodsTotal(t *testing.T) {
	month := []decimal.Decimal{dec("800.00"), dec("800.00"), dec("0"), dec("900.00")} // three payments, 2500.00
	for _, c := range []struct {
		name, rules, fee, explain string
	}{
		{"marginal tiers of the month's volume", marginal, "95.00", "5.00% of 1000.00 (up to 1000.00) + 3.00% of 1500.00 (above 1000.00 up to 5000.00) = 95.00"},
		{"whole tiers of the month's volume", whole, "75.00", "2500.00 is in tier 2 (above 1000.00 up to 5000.00): 3.00% of 2500.00 = 75.00"},
		{"a fixed fee per payment", perPayment, "4.50", "3 payments × 1.50 = 4.50"},
		{"a percentage of the total, bounded per period", clamped, "15.00", "0.60% of 2500.00 = 15.00"},
	} {
		fee, charges := config(t, c.rules).Statement(month)
		if fee.StringFixed(2) != c.fee || len(charges) != 1 || charges[0].Explain != c.explain || charges[0].Base.StringFixed(2) != "2500.00" {
			t.Errorf("%s: %s %+v, want %s (%s)", c.name, fee, charges, c.fee, c.explain)
		}
	}
	// A period's maximum caps the period's fee, not each payment's.
	big := []decimal.Decimal{dec("5000.00"), dec("5000.00")}
	if fee, _ := config(t, clamped).Statement(big); fee.StringFixed(2) != "50.00" {
		t.Errorf("a period of 10000.00 under a 50.00 maximum: %s", fee)
	}
}

func TestConfigurationsRoundTripThroughJSON(t *testing.T) {
	for _, rules := range []string{sixPercent, clamped, perPayment, marginal, whole, twoRules, tieredFloor} {
		c := config(t, rules)
		b, err := json.Marshal(c)
		if err != nil {
			t.Fatal(err)
		}
		var back Config
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatalf("%s: %v", b, err)
		}
		again, _ := json.Marshal(&back)
		if string(again) != string(b) {
			t.Fatalf("round trip:\n%s\n%s", b, again)
		}
		for _, a := range []string{"0.01", "999.99", "1000.00", "1234.56", "70000.00"} {
			f1, _ := c.Fee(dec(a))
			f2, _ := back.Fee(dec(a))
			if !f1.Equal(f2) {
				t.Fatalf("%s: fee of %s %s before, %s after", rules, a, f1, f2)
			}
		}
	}
	// Amounts and rates are written with their places, as strings.
	b, _ := json.Marshal(config(t, `[{"name":"x","kind":"percentage","rate":"0.06","min":"2"}]`).Rules[0])
	if string(b) != `{"name":"x","kind":"percentage","rate":"0.0600","min":"2.00"}` {
		t.Fatalf("a rule as JSON: %s", b)
	}
}

func TestAmountsAndRatesAreStrictDecimalStrings(t *testing.T) {
	for _, c := range []struct {
		name, json, want string
	}{
		{"a JSON number for a rate", `{"rate":0.06}`, "never a JSON number"},
		{"a JSON number for an amount", `{"amount":2}`, "never a JSON number"},
		{"a boolean", `{"amount":true}`, "never a JSON number"},
		{"a negative amount", `{"amount":"-1.00"}`, "is negative"},
		{"a negative rate", `{"rate":"-0.01"}`, "is negative"},
		{"three decimals of a yuan", `{"amount":"1.005"}`, "has 3 decimals: an amount in yuan has at most 2"},
		{"five decimals of a rate", `{"rate":"0.06001"}`, "has 5 decimals"},
		{"a rate above 1", `{"rate":"1.5"}`, "is more than 1"},
		{"a percentage written as such", `{"rate":"6%"}`, "is not a plain decimal"},
		{"an exponent", `{"amount":"1e3"}`, "is not a plain decimal"},
		{"a leading zero", `{"amount":"01.00"}`, "is not a plain decimal"},
		{"a trailing point", `{"amount":"1."}`, "is not a plain decimal"},
		{"a plus sign", `{"amount":"+1"}`, "is not a plain decimal"},
		{"spaces", `{"amount":" 1"}`, "is not a plain decimal"},
		{"sixteen integer digits", `{"amount":"1000000000000000"}`, "is not a plain decimal"},
		{"an empty string", `{"amount":""}`, "is required"},
	} {
		var r Rule
		err := json.Unmarshal([]byte(c.json), &r)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", c.name, err, c.want)
		}
	}
	for _, ok := range []string{`{"amount":"0"}`, `{"amount":"999999999999999.99"}`, `{"rate":"1"}`, `{"rate":"0.0001"}`, `{"amount":null}`} {
		var r Rule
		if err := json.Unmarshal([]byte(ok), &r); err != nil {
			t.Errorf("%s: %v", ok, err)
		}
	}
}

func TestNonsenseConfigurationsAreRefusedNamingTheField(t *testing.T) {
	for _, c := range []struct {
		name, config, field string
	}{
		{"no effective day", `{"timing":"during","rules":[]}`, "effective"},
		{"a day that does not exist", `{"effective":"2026-02-30","timing":"during","rules":[]}`, "effective"},
		{"a day written otherwise", `{"effective":"2026-3-1","timing":"during","rules":[]}`, "effective"},
		{"an unknown timing", `{"effective":"2026-03-01","timing":"monthly","rules":[]}`, "timing"},
		{"no rules at all", `{"effective":"2026-03-01","timing":"during"}`, "rules"},
		{"an unknown kind", `{"effective":"2026-03-01","timing":"during","rules":[{"name":"x","kind":"discount"}]}`, "rules[0].kind"},
		{"a rule without a name", `{"effective":"2026-03-01","timing":"during","rules":[{"name":"","kind":"fixed","amount":"1"}]}`, "rules[0].name"},
		{"a name with a control character", `{"effective":"2026-03-01","timing":"during","rules":[{"name":"a\u0007","kind":"fixed","amount":"1"}]}`, "rules[0].name"},
		{"two rules of one name", `{"effective":"2026-03-01","timing":"during","rules":[{"name":"x","kind":"fixed","amount":"1"},{"name":"x","kind":"fixed","amount":"2"}]}`, "rules[1].name"},
		{"a percentage without a rate", `{"effective":"2026-03-01","timing":"during","rules":[{"name":"x","kind":"percentage"}]}`, "rules[0].rate"},
		{"a percentage of 0", `{"effective":"2026-03-01","timing":"during","rules":[{"name":"x","kind":"percentage","rate":"0"}]}`, "rules[0].rate"},
		{"a percentage with an amount", `{"effective":"2026-03-01","timing":"during","rules":[{"name":"x","kind":"percentage","rate":"0.06","amount":"1"}]}`, "rules[0].amount"},
		{"a fixed fee of 0", `{"effective":"2026-03-01","timing":"during","rules":[{"name":"x","kind":"fixed","amount":"0.00"}]}`, "rules[0].amount"},
		{"a fixed fee with a minimum", `{"effective":"2026-03-01","timing":"during","rules":[{"name":"x","kind":"fixed","amount":"1","min":"2"}]}`, "rules[0].min"},
		{"a minimum above the maximum", `{"effective":"2026-03-01","timing":"during","rules":[{"name":"x","kind":"percentage","rate":"0.06","min":"5","max":"4.99"}]}`, "rules[0].max"},
		{"a minimum of 0", `{"effective":"2026-03-01","timing":"during","rules":[{"name":"x","kind":"percentage","rate":"0.06","min":"0"}]}`, "rules[0].min"},
		{"a maximum of 0", `{"effective":"2026-03-01","timing":"during","rules":[{"name":"x","kind":"percentage","rate":"0.06","max":"0.00"}]}`, "rules[0].max"},
		{"tiers without a mode", `{"effective":"2026-03-01","timing":"during","rules":[{"name":"x","kind":"tiered","tiers":[{"up_to":"1","rate":"0.1"},{"rate":"0.2"}]}]}`, "rules[0].mode"},
		{"one tier", `{"effective":"2026-03-01","timing":"during","rules":[{"name":"x","kind":"tiered","mode":"whole","tiers":[{"rate":"0.2"}]}]}`, "rules[0].tiers"},
		{"tiers that do not rise", `{"effective":"2026-03-01","timing":"during","rules":[{"name":"x","kind":"tiered","mode":"whole","tiers":[{"up_to":"100","rate":"0.1"},{"up_to":"100.00","rate":"0.1"},{"rate":"0.2"}]}]}`, "rules[0].tiers[1].up_to"},
		{"a first tier up to 0", `{"effective":"2026-03-01","timing":"during","rules":[{"name":"x","kind":"tiered","mode":"whole","tiers":[{"up_to":"0","rate":"0.1"},{"rate":"0.2"}]}]}`, "rules[0].tiers[0].up_to"},
		{"a last tier with a bound", `{"effective":"2026-03-01","timing":"during","rules":[{"name":"x","kind":"tiered","mode":"marginal","tiers":[{"up_to":"100","rate":"0.1"},{"up_to":"200","rate":"0.2"}]}]}`, "rules[0].tiers[1].up_to"},
		{"a middle tier without a bound", `{"effective":"2026-03-01","timing":"during","rules":[{"name":"x","kind":"tiered","mode":"marginal","tiers":[{"rate":"0.1"},{"rate":"0.2"}]}]}`, "rules[0].tiers[0].up_to"},
		{"a tier without a rate", `{"effective":"2026-03-01","timing":"during","rules":[{"name":"x","kind":"tiered","mode":"marginal","tiers":[{"up_to":"1"},{"rate":"0.2"}]}]}`, "rules[0].tiers[0].rate"},
	} {
		var cfg Config
		if err := json.Unmarshal([]byte(c.config), &cfg); err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		err := cfg.Validate()
		fe, ok := err.(*FieldError)
		if !ok || fe.Field != c.field || fe.Message == "" {
			t.Errorf("%s: %v, want a refusal of %s", c.name, err, c.field)
		}
	}
	many := `[` + strings.Repeat(`{"name":"x","kind":"fixed","amount":"1"},`, MaxRules) + `{"name":"y","kind":"fixed","amount":"1"}]`
	var cfg Config
	json.Unmarshal([]byte(`{"effective":"2026-03-01","timing":"during","rules":`+many+`}`), &cfg)
	if fe, ok := cfg.Validate().(*FieldError); !ok || fe.Field != "rules" {
		t.Errorf("%d rules: %v", MaxRules+1, cfg.Validate())
	}
}

// BenchmarkFeePercentage is the cost payouts pay per payment row under the
// commonest configuration (target: under a microsecond).
func BenchmarkFeePercentage(b *testing.B) {
	c := config(b, clamped)
	amount := dec("1234.56")
	b.ReportAllocs()
	for b.Loop() {
		c.Fee(amount)
	}
}

// BenchmarkFeeMarginalTiers is a three-tier marginal rule's cost.
func BenchmarkFeeMarginalTiers(b *testing.B) {
	c := config(b, marginal)
	amount := dec("8000.00")
	b.ReportAllocs()
	for b.Loop() {
		c.Fee(amount)
	}
}
