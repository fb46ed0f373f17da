//go:build linux

package secmem

import (
	"fmt"
	"sync"
	"unsafe"

	"golang.org/x/sys/unix"
)

var slab struct {
	mu    sync.Mutex
	pages int
	slots map[uintptr][]byte // every slot, by address, SlotSize long
	free  []uintptr          // addresses of free slots
	used  map[uintptr]bool   // addresses handed out
	err   error              // why a page could not be locked or mapped
}

func pageSize() int { return unix.Getpagesize() }

func alloc(n int) []byte {
	slab.mu.Lock()
	defer slab.mu.Unlock()
	if len(slab.free) == 0 && !grow() {
		return make([]byte, n)
	}
	addr := slab.free[len(slab.free)-1]
	slab.free = slab.free[:len(slab.free)-1]
	slab.used[addr] = true
	return slab.slots[addr][:n:n]
}

// grow maps, locks and slices one more page; it reports false when no page
// could be mapped at all.
func grow() bool {
	size := pageSize()
	page, err := unix.Mmap(-1, 0, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		slab.err = fmt.Errorf("secmem: map a page for key material: %w", err)
		return false
	}
	if err := unix.Mlock(page); err != nil {
		slab.err = fmt.Errorf("secmem: the kernel refused to lock key material in memory (mlock: %w; raise RLIMIT_MEMLOCK, e.g. LimitMEMLOCK= in the systemd unit); keys may reach swap", err)
	}
	if err := unix.Madvise(page, unix.MADV_DONTDUMP); err != nil && slab.err == nil {
		slab.err = fmt.Errorf("secmem: madvise(MADV_DONTDUMP): %w", err)
	}
	if slab.slots == nil {
		slab.slots, slab.used = map[uintptr][]byte{}, map[uintptr]bool{}
	}
	slab.pages++
	for off := 0; off+SlotSize <= size; off += SlotSize {
		s := page[off : off+SlotSize : off+SlotSize]
		addr := uintptr(unsafe.Pointer(&s[0]))
		slab.slots[addr] = s
		slab.free = append(slab.free, addr)
	}
	return true
}

func free(b []byte) {
	addr := uintptr(unsafe.Pointer(&b[0]))
	slab.mu.Lock()
	defer slab.mu.Unlock()
	if !slab.used[addr] {
		return // heap memory (zeroed; the collector takes it), or freed already
	}
	delete(slab.used, addr)
	clear(slab.slots[addr]) // the whole slot, not only the caller's length
	slab.free = append(slab.free, addr)
}

func status() error {
	slab.mu.Lock()
	defer slab.mu.Unlock()
	if slab.pages == 0 && slab.err == nil {
		// Nothing allocated yet: find out now, so that the caller can log it.
		if !grow() {
			return slab.err
		}
	}
	return slab.err
}

func disableCoreDumps() error {
	if err := unix.Prctl(unix.PR_SET_DUMPABLE, 0, 0, 0, 0); err != nil {
		return fmt.Errorf("secmem: prctl(PR_SET_DUMPABLE, 0): %w", err)
	}
	return nil
}

func dumpable() bool {
	v, err := unix.PrctlRetInt(unix.PR_GET_DUMPABLE, 0, 0, 0, 0)
	return err != nil || v != 0
}
