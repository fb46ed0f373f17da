// Package secmem keeps key material in memory that is locked against swapping
// and left out of core dumps, where the platform allows it.
//
// Secrets are small (a master key, a term secret), so they share pages: each
// page is mapped once, locked (mlock), marked MADV_DONTDUMP, and cut into
// fixed slots. A slot is zeroed when it is freed. Where the kernel refuses to
// lock (RLIMIT_MEMLOCK, another platform) the slots are ordinary memory and
// Status says why, so that the serving process can log it once.
//
// Only the bytes kept here are covered: key schedules inside crypto/cipher
// and the SM2 private key live on the Go heap; docs/architecture.md ("Keys")
// says what an operator does about that (no swap, or encrypted swap).
package secmem

// SlotSize is the largest allocation Alloc serves.
const SlotSize = 64

// Alloc returns n zeroed bytes (0 < n <= SlotSize) from locked memory, or
// from the Go heap where none can be had. Give them back with Free.
func Alloc(n int) []byte {
	if n <= 0 || n > SlotSize {
		panic("secmem: allocation size out of range")
	}
	return alloc(n)
}

// Free zeroes b and returns its slot; b must not be used afterwards. Freeing
// a slice that Alloc did not return only zeroes it; freeing nil or a slot
// twice does nothing more.
func Free(b []byte) {
	if len(b) == 0 {
		return
	}
	clear(b)
	free(b)
}

// Status is nil when allocations are locked in memory and excluded from core
// dumps, or the reason they are not.
func Status() error { return status() }

// DisableCoreDumps makes the process non-dumpable (Linux: PR_SET_DUMPABLE 0),
// so that a crash writes no core file holding keys and other users' tools
// cannot attach to it. It is a no-op where the platform has no such switch.
func DisableCoreDumps() error { return disableCoreDumps() }

// Dumpable reports whether the process may still write a core dump.
func Dumpable() bool { return dumpable() }
