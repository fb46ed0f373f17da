package main

import (
	"os"
	"strings"
	"testing"
)

// The README is what a newcomer reads first: its first commands are the two
// that do everything, and its first paragraph claims only what exists.
func TestTheReadmeStartsWithMakeRunAndSaysWhatExistsToday(t *testing.T) {
	b, err := os.ReadFile("../../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, _ := strings.Cut(string(b), "```sh\n")
	block, rest, _ := strings.Cut(rest, "```")
	lines := strings.Split(strings.TrimSpace(block), "\n")
	if len(lines) < 2 || !strings.HasPrefix(lines[0], "make run") || !strings.HasPrefix(lines[1], "make test") {
		t.Fatalf("the first commands are %q", lines)
	}
	para, _, _ := strings.Cut(strings.TrimSpace(rest), "\n\n")
	for _, exists := range []string{"merchants", "workers", "tasks", "payout batches", "ledger", "accounts", "logins", "audit", "tax quotes", "replicated store", "tax-bureau gateway", "risk control", "signed policy bundles",
		"withholding declarations", "tax certificates", "invoices under both operating models", "reconciled", "adjustments"} {
		if !strings.Contains(para, exists) {
			t.Errorf("the first paragraph does not mention %q", exists)
		}
	}
	// What is not built yet is named only as coming later.
	for _, later := range []string{"archives"} {
		i := strings.Index(para, later)
		if i < 0 {
			t.Errorf("the first paragraph does not say when %s come", later)
			continue
		}
		sentence, _, _ := strings.Cut(para[i:], ".")
		if !strings.Contains(sentence, "come later") {
			t.Errorf("the first paragraph presents %s as present: %q", later, sentence)
		}
	}
}
