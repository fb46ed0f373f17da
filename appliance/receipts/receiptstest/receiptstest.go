// Package receiptstest does for tests what a receipt's recipient does by
// hand: runs the OpenSSL lines its README.txt prints, as printed, in the
// folder the zip was unpacked in (esigntest.Extract unpacks it).
package receiptstest

import (
	"testing"

	"cxt/appliance/esign/esigntest"
	"cxt/appliance/receipts"
)

// Verify runs README.txt's three openssl lines in dir with the machine's sh
// and OpenSSL 3, stopping at the first that fails, and returns what they
// printed.
func Verify(t testing.TB, dir string) (string, error) {
	t.Helper()
	return esigntest.RunReadme(t, dir, receipts.FileReadme, 3)
}
