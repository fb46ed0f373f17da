package ident

import (
	_ "embed"
	"fmt"
	"strconv"
	"strings"
	"sync"
)

//go:embed regions.txt
var regionsText string

// regions maps each GB/T 2260 code in regions.txt to whether it was
// abolished (true) or is in force (false). Parsed once; read-only after.
var regions = sync.OnceValue(func() map[int]bool {
	m, err := parseRegions(regionsText)
	if err != nil {
		panic("ident: regions.txt: " + err.Error()) // the embedded file is tested
	}
	return m
})

// LookupRegion reports whether code (six digits) is a GB/T 2260 code of
// county level or above that a resident ID can carry, and whether it has
// been abolished since (IDs issued before keep it).
func LookupRegion(code string) (known, abolished bool) {
	if len(code) != 6 {
		return false, false
	}
	n, err := strconv.Atoi(code)
	if err != nil || n < 0 {
		return false, false
	}
	abolished, known = regions()[n]
	return known, abolished
}

func parseRegions(text string) (map[int]bool, error) {
	m := map[int]bool{}
	section := ""
	for i, line := range strings.Split(text, "\n") {
		if line == "" || line[0] == '#' {
			continue
		}
		if line == "current" || line == "historic" {
			section = line
			continue
		}
		if section == "" {
			return nil, fmt.Errorf("line %d: codes before a section", i+1)
		}
		f := strings.Fields(line)
		if len(f) < 2 || len(f[0]) != 4 {
			return nil, fmt.Errorf("line %d: want a 4-digit prefix and suffixes", i+1)
		}
		for _, s := range f[1:] {
			n, err := strconv.Atoi(f[0] + s)
			if err != nil || len(s) != 2 {
				return nil, fmt.Errorf("line %d: bad code %s%s", i+1, f[0], s)
			}
			if _, dup := m[n]; dup {
				return nil, fmt.Errorf("line %d: %06d listed twice", i+1, n)
			}
			m[n] = section == "historic"
		}
	}
	return m, nil
}
