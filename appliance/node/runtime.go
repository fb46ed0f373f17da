package node

import (
	"bufio"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
)

// GCPercent is the garbage collector's target a serving node runs with:
// collect when the heap reaches 5× what is live (GOGC=400), not 2×.
//
// The state machine makes much short-lived garbage — every record read is
// opened and decoded, every record written encoded and sealed — and a
// node's live heap is small (tens of MiB while it executes a 100,000-row
// payout batch). At Go's default the collector took 15–17 % of the CPU of a
// bulk registration or a payout batch; at 400 it takes a quarter of that,
// for a peak heap still under 100 MiB (docs/performance.md).
const GCPercent = 400

// TuneRuntime sets the collector for a node that has its machine to itself:
// GCPercent, and a soft memory limit of half the machine's memory so that a
// live heap grown large is collected early rather than let grow 5×. GOGC and
// GOMEMLIMIT in the environment win over both.
func TuneRuntime() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(GCPercent)
	}
	if os.Getenv("GOMEMLIMIT") == "" {
		if total := MemTotal(); total > 0 {
			debug.SetMemoryLimit(total / 2)
		}
	}
}

// MemTotal is the machine's memory in bytes from /proc/meminfo, or 0.
func MemTotal() int64 {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return 0
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if rest, ok := strings.CutPrefix(s.Text(), "MemTotal:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			if err != nil {
				return 0
			}
			return kb << 10
		}
	}
	return 0
}
