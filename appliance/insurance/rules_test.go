package insurance

import (
	"errors"
	"strings"
	"testing"
	"time"

	"cxt/appliance/ident"
)

// idBorn makes a valid resident ID number of someone born on birth.
func idBorn(birth string) string {
	first := "110105" + strings.ReplaceAll(birth, "-", "") + "123"
	c, _ := ident.ResidentIDCheckDigit(first)
	return first + string(c)
}

func day(s string) time.Time {
	d, _ := time.ParseInLocation(time.DateOnly, s, China)
	return d
}

// A person reaches an age on their birthday, in China's calendar.
func TestAgeIsReachedOnTheBirthday(t *testing.T) {
	id := idBorn("1970-06-15")
	for on, want := range map[string]int{"2025-06-14": 54, "2025-06-15": 55, "2025-06-16": 55, "2026-06-14": 55} {
		if got := Age(id, day(on)); got != want {
			t.Errorf("on %s: %d, want %d", on, got, want)
		}
	}
	// 23:30 UTC on the 14th is already the 15th in China.
	if got := Age(id, time.Date(2025, 6, 14, 23, 30, 0, 0, time.UTC)); got != 55 {
		t.Errorf("the 15th in China, the 14th in UTC: %d, want 55", got)
	}
	if got := Age("11010519700615123", day("2025-06-15")); got != -1 {
		t.Errorf("a malformed number: %d, want -1", got)
	}
}

var shop = []Product{
	{ID: "p_acc", Kind: Accident, Status: Active, MaxAge: 70},
	{ID: "p_inj", Kind: OccupationalInjury, Status: Active, RealNameRequired: true},
	{ID: "p_lia", Kind: Liability, Status: Active},
	{ID: "p_old", Kind: Accident, Status: Retired},
}

func names(recs []Recommendation) string {
	var s []string
	for _, r := range recs {
		var rules []string
		for _, m := range r.Rules {
			rules = append(rules, m.Rule)
		}
		s = append(s, r.Product.ID+"("+strings.Join(rules, "+")+")")
	}
	return strings.Join(s, " ")
}

// The default rules recommend by the categories a worker takes, their age
// (the bounds inclusive) and their verified real name, and say why the
// rules that did not match did not.
func TestTheDefaultRulesRecommendByCategoryAgeAndRealName(t *testing.T) {
	rs := DefaultRules()
	if err := rs.Check(); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		a    Attributes
		want string
	}{
		{"a verified courier of 30", Attributes{Age: 30, Verified: true, Categories: []string{"delivery"}}, "p_inj(injury-pilot-delivery) p_acc(accident-physical-work)"},
		{"an unverified courier: the pilot product needs a real name", Attributes{Age: 30, Categories: []string{"delivery"}}, "p_acc(accident-physical-work)"},
		{"a mover of 65: the last age the physical rule takes", Attributes{Age: 65, Categories: []string{"logistics"}}, "p_acc(accident-physical-work+accident-older-workers)"},
		{"a mover of 66", Attributes{Age: 66, Categories: []string{"logistics"}}, "p_acc(accident-older-workers)"},
		{"a translator of 54", Attributes{Age: 54, Verified: true, Categories: []string{"translation"}}, "p_lia(liability-professional)"},
		{"a translator of 55", Attributes{Age: 55, Verified: true, Categories: []string{"translation"}}, "p_lia(liability-professional) p_acc(accident-older-workers)"},
		{"a mover of 71: too old for the product itself", Attributes{Age: 71, Categories: []string{"logistics"}}, ""},
		{"age unknown: no age-bounded rule", Attributes{Age: -1, Categories: []string{"logistics"}}, ""},
		{"no work yet", Attributes{Age: 30, Verified: true}, ""},
	} {
		recs, skips := Recommend(rs, shop, c.a)
		if got := names(recs); got != c.want {
			t.Errorf("%s: %q, want %q (skipped: %+v)", c.name, got, c.want, skips)
		}
		if len(skips)+len(recs) == 0 {
			t.Errorf("%s: nothing explained", c.name)
		}
	}
	_, skips := Recommend(rs, shop, Attributes{Age: 71, Categories: []string{"logistics"}})
	explained := ""
	for _, s := range skips {
		explained += s.Rule + "/" + s.Product + ": " + s.Reason + "\n"
	}
	for _, want := range []string{"accident-physical-work/: older than 65", "accident-older-workers/p_acc: product: older than 70", "injury-pilot-delivery/: takes no task of delivery"} {
		if !strings.Contains(explained, want) {
			t.Errorf("the reasons lack %q:\n%s", want, explained)
		}
	}
	if strings.Contains(explained, "71") {
		t.Errorf("a reason tells the age:\n%s", explained)
	}
}

func TestRulesThatBreakTheirOwnRulesAreRefused(t *testing.T) {
	for name, r := range map[string]Rule{
		"product and kind": {ID: "a", Product: "p", Kind: Accident, Why: "x"},
		"neither":          {ID: "a", Why: "x"},
		"unknown kind":     {ID: "a", Kind: "life", Why: "x"},
		"unknown category": {ID: "a", Kind: Accident, Categories: []string{"astrology"}, Why: "x"},
		"ages crossed":     {ID: "a", Kind: Accident, MinAge: 60, MaxAge: 50, Why: "x"},
		"no explanation":   {ID: "a", Kind: Accident},
		"no id":            {Kind: Accident, Why: "x"},
	} {
		rs := Rules{Version: 1, Rules: []Rule{r}}
		if rs.Check() == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// Yuan become fen by integer arithmetic; anything but a plain amount with
// at most two decimals is refused.
func TestYuanAreReadAsFenWithoutFloatingPoint(t *testing.T) {
	for in, want := range map[string]int64{"0": 0, "0.1": 10, "0.05": 5, "1234.56": 123456, "99999999999.99": 9999999999999, "0.29": 29, "1.10": 110} {
		if got, err := ParseYuan(in); err != nil || got != want {
			t.Errorf("%q: %d %v, want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "-1.00", "+1", "1e3", "1.234", "01.00", " 1.00", "1,000.00", "NaN", "1.", ".5", "100000000000.00"} {
		if _, err := ParseYuan(in); err == nil {
			t.Errorf("%q: accepted", in)
		}
	}
}

// One bad line refuses the whole file, and the refusal names every bad
// line.
func TestACSVWithOneBadLineIsRefusedWhole(t *testing.T) {
	head := strings.Join(CSVHeader, ",") + "\n"
	good := head + "w_1,2026-01,350100,5000.00,800.00,400.00,25.00,10.00\nw_2,2026-01,110105,4000,640,320,,\n"
	if _, _, err := ParseCSV([]byte(good)); err == nil {
		t.Fatal("an empty amount is accepted (it must be 0.00 or a number)")
	}
	good = head + "w_1,2026-01,350100,5000.00,800.00,400.00,25.00,10.00\nw_2,2026-01,110105,4000,640,320,0,0\n"
	ps, lines, err := ParseCSV([]byte("\ufeff" + good))
	if err != nil || len(ps) != 2 || lines[1] != 3 || ps[0].PensionFen != 80000 || ps[1].BaseFen != 400000 {
		t.Fatalf("a good file: %+v %v %v", ps, lines, err)
	}
	for name, file := range map[string]string{
		"a float-ish amount":  good + "w_3,2026-01,350100,5000.001,1,1,1,1\n",
		"a negative amount":   good + "w_3,2026-01,350100,5000,-1,1,1,1\n",
		"a month that is not": good + "w_3,2026-13,350100,5000,1,1,1,1\n",
		"an unknown place":    good + "w_3,2026-01,999999,5000,1,1,1,1\n",
		"a short line":        good + "w_3,2026-01,350100,5000\n",
		"a zero base":         good + "w_3,2026-01,350100,0,1,1,1,1\n",
		"a wrong header":      strings.Replace(good, "pension,medical", "medical,pension", 1),
	} {
		ps, _, err := ParseCSV([]byte(file))
		if err == nil || ps != nil {
			t.Errorf("%s: accepted %d payments", name, len(ps))
			continue
		}
		var le *LineError
		if name != "a wrong header" && (!errors.As(err, &le) || !strings.Contains(err.Error(), "line 4")) {
			t.Errorf("%s: %v does not name line 4", name, err)
		}
	}
}
