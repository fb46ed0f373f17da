package node

import (
	"runtime/debug"
	"testing"
)

func TestTuneRuntimeSetsTheCollectorUnlessTheEnvironmentDoes(t *testing.T) {
	prevPct := debug.SetGCPercent(100)
	prevLimit := debug.SetMemoryLimit(-1)
	defer func() { debug.SetGCPercent(prevPct); debug.SetMemoryLimit(prevLimit) }()

	t.Setenv("GOGC", "")
	t.Setenv("GOMEMLIMIT", "")
	TuneRuntime()
	if got := debug.SetGCPercent(100); got != GCPercent {
		t.Errorf("GC percent %d, want %d", got, GCPercent)
	}
	total := MemTotal()
	if total <= 0 {
		t.Fatal("no MemTotal in /proc/meminfo")
	}
	if got := debug.SetMemoryLimit(-1); got != total/2 {
		t.Errorf("memory limit %d, want half of %d", got, total)
	}

	debug.SetMemoryLimit(1 << 40)
	t.Setenv("GOGC", "150")
	t.Setenv("GOMEMLIMIT", "1GiB")
	TuneRuntime()
	if got := debug.SetGCPercent(100); got != 100 {
		t.Errorf("with GOGC set, the node changed the GC percent to %d", got)
	}
	if got := debug.SetMemoryLimit(-1); got != 1<<40 {
		t.Errorf("with GOMEMLIMIT set, the node changed the memory limit to %d", got)
	}
}
