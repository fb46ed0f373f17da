//go:build !linux

package secmem

import "errors"

func alloc(n int) []byte { return make([]byte, n) }

func free([]byte) {}

func status() error {
	return errors.New("secmem: this platform's build does not lock key material in memory; keys may reach swap")
}

func disableCoreDumps() error { return nil }

func dumpable() bool { return true }
