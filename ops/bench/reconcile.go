package main

import (
	"fmt"
	"runtime"
	"strings"
	"time"

	"cxt/appliance/reconcile"
)

// reconResult is the reconciliation of a day's statement against the
// platform's payments, next to a plain sort-merge of the same two files,
// measured in the same run.
type reconResult struct {
	lines, payments   int
	statementMB       float64
	platformMB        float64
	differences       int
	recon, sortMerge  float64 // statement lines/s
	reconRuns, smRuns int
}

// reconcileFiles times reconcile.ReconcileFiles and reconcile.SortMerge on
// the same two files of n lines (reconcile.BenchFiles), alternating runs
// so that both see the same machine, each for at least d in all.
func reconcileFiles(n int, d time.Duration) (reconResult, error) {
	st, pf := reconcile.BenchFiles(n)
	r := reconResult{payments: n, statementMB: float64(len(st)) / (1 << 20), platformMB: float64(len(pf)) / (1 << 20)}
	var reconT, smT time.Duration
	for r.reconRuns == 0 || reconT < d || smT < d {
		runtime.GC()
		start := time.Now()
		res, err := reconcile.ReconcileFiles(st, pf)
		if err != nil {
			return r, err
		}
		reconT += time.Since(start)
		r.reconRuns++
		if want := reconcile.BenchDifferences(n); len(res.Differences) != want {
			return r, fmt.Errorf("reconcile: %d differences, want %d", len(res.Differences), want)
		}
		r.lines, r.differences = res.Lines, len(res.Differences)
		runtime.GC()
		start = time.Now()
		lines, same := reconcile.SortMerge(st, pf)
		smT += time.Since(start)
		r.smRuns++
		if lines != res.Lines || same == 0 {
			return r, fmt.Errorf("sort-merge: %d lines (%d alike); the reconciliation read %d", lines, same, res.Lines)
		}
	}
	r.recon = float64(r.lines*r.reconRuns) / reconT.Seconds()
	r.sortMerge = float64(r.lines*r.smRuns) / smT.Seconds()
	return r, nil
}

func renderReconcile(r *reconResult) string {
	if r == nil {
		return ""
	}
	var b strings.Builder
	b.WriteString("\n## Reconciliation\n\n")
	fmt.Fprintf(&b, "A day's channel statement of %d lines (%.1f MiB, trailer and SM3 included) against the platform's %d payments\n", r.lines, r.statementMB, r.payments)
	fmt.Fprintf(&b, "(%.1f MiB), one line in a thousand differing (%d differences), both from their bytes: the reconciliation\n", r.platformMB, r.differences)
	b.WriteString("(appliance/reconcile: the statement parsed and checked whole, a hash join, every difference classified) next to a\n")
	b.WriteString("plain sort-merge of the same two files (split, sort by reference, walk together; no checks, no classes), alternating\n")
	b.WriteString("in the same run (reconcile.BenchFiles, ReconcileFiles, SortMerge). Goal: the reconciliation at ≥ 50 % of the sort-merge.\n\n")
	b.WriteString("| | runs | statement lines/s |\n|---|---|---|\n")
	fmt.Fprintf(&b, "| reconciliation | %d | %.0f |\n", r.reconRuns, r.recon)
	fmt.Fprintf(&b, "| sort-merge | %d | %.0f |\n", r.smRuns, r.sortMerge)
	fmt.Fprintf(&b, "\nRatio: %.0f %% of the sort-merge.\n", 100*r.recon/r.sortMerge)
	return b.String()
}
