package ident

import (
	"fmt"
	"strings"
	"testing"
)

func TestRegionsTableParsesAndHasBothParts(t *testing.T) {
	current, historic := 0, 0
	for code, abolished := range regions() {
		if abolished {
			historic++
		} else {
			current++
		}
		// Every code's province is in the table (province codes are PP0000).
		if _, ok := regions()[code/10000*10000]; !ok {
			t.Errorf("%06d: province %06d missing", code, code/10000*10000)
		}
	}
	// The 2025 list has 3212 codes of county level and above; since 1980
	// about as many again were abolished.
	if current != 3212 || historic < 3000 {
		t.Fatalf("%d current, %d historic", current, historic)
	}
}

func TestLookupRegion(t *testing.T) {
	for _, c := range []struct {
		code             string
		known, abolished bool
		what             string
	}{
		{"110105", true, false, "Chaoyang district, Beijing"},
		{"110000", true, false, "Beijing municipality"},
		{"110103", true, true, "Chongwen district, merged into Dongcheng in 2010"},
		{"441001", true, true, "Chaozhou, directly under Guangdong 1983-1984"},
		{"659012", true, false, "Baiyang city, Xinjiang, created in 2023"},
		{"653228", true, false, "He'kang county, Xinjiang, created in 2024"},
		{"500112", true, true, "Yubei district, Chongqing, absent from the 2025 list"},
		{"710000", true, false, "Taiwan province"},
		{"810000", true, false, "Hong Kong SAR"},
		{"830000", false, false, "Taiwan residents' residence permits: not a GB/T 2260 code"},
		{"999999", false, false, "no such code"},
		{"11010", false, false, "five digits"},
		{"11010a", false, false, "a letter"},
		{"-11010", false, false, "a sign"},
	} {
		known, abolished := LookupRegion(c.code)
		if known != c.known || abolished != c.abolished {
			t.Errorf("%s (%s): known %v abolished %v", c.code, c.what, known, abolished)
		}
	}
}

func TestParseRegionsRefusesMalformedTables(t *testing.T) {
	for _, text := range []string{
		"1101 01\n",
		"current\n110 01\n",
		"current\n1101\n",
		"current\n1101 1\n",
		"current\n1101 0x\n",
		"current\n1101 01\nhistoric\n1101 01\n",
	} {
		if _, err := parseRegions(text); err == nil {
			t.Errorf("accepted %q", text)
		}
	}
	m, err := parseRegions("# comment\ncurrent\n1101 01 02\nhistoric\n1101 03\n")
	if err != nil || len(m) != 3 || m[110101] || !m[110103] {
		t.Fatalf("%v %v", m, err)
	}
}

// The embedded file lists its codes in order, so that a reader can find one
// and a diff against a new list reads well.
func TestRegionsFileIsSorted(t *testing.T) {
	last := map[string]string{}
	section := ""
	for _, line := range strings.Split(regionsText, "\n") {
		if line == "" || line[0] == '#' {
			continue
		}
		if line == "current" || line == "historic" {
			section = line
			continue
		}
		f := strings.Fields(line)
		for _, s := range f[1:] {
			code := f[0] + s
			if code <= last[section] {
				t.Fatalf("%s: %s after %s", section, code, last[section])
			}
			last[section] = code
		}
	}
	if fmt.Sprint(len(last)) != "2" {
		t.Fatalf("sections %v", last)
	}
}
