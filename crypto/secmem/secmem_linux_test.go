//go:build linux

package secmem

import (
	"bufio"
	"os"
	"strconv"
	"strings"
	"testing"
	"unsafe"
)

// mapping returns the /proc/self/smaps block of the mapping holding addr.
func mapping(t *testing.T, addr uintptr) map[string]string {
	t.Helper()
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var in bool
	out := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		fields := strings.Fields(line)
		if len(fields) > 0 && strings.Contains(fields[0], "-") && !strings.HasSuffix(fields[0], ":") {
			if in {
				return out
			}
			lo, hi, _ := strings.Cut(fields[0], "-")
			l, _ := strconv.ParseUint(lo, 16, 64)
			h, _ := strconv.ParseUint(hi, 16, 64)
			in = uint64(addr) >= l && uint64(addr) < h
			continue
		}
		if in {
			k, v, _ := strings.Cut(line, ":")
			out[k] = strings.TrimSpace(v)
		}
	}
	if !in {
		t.Fatalf("no mapping holds %#x", addr)
	}
	return out
}

func TestKeyMaterialIsLockedAndLeftOutOfCoreDumps(t *testing.T) {
	if err := Status(); err != nil {
		t.Fatalf("this machine should lock key material: %v", err)
	}
	b := Alloc(32)
	copy(b, "a master key, 32 bytes long.....")
	m := mapping(t, uintptr(unsafe.Pointer(&b[0])))
	if m["Locked"] == "0 kB" || m["Locked"] == "" {
		t.Errorf("the key's page is not locked: Locked %q", m["Locked"])
	}
	if !strings.Contains(" "+m["VmFlags"]+" ", " dd ") {
		t.Errorf("the key's page is not excluded from core dumps: VmFlags %q", m["VmFlags"])
	}
	if !strings.Contains(" "+m["VmFlags"]+" ", " lo ") {
		t.Errorf("the key's page is not mlocked: VmFlags %q", m["VmFlags"])
	}
	Free(b)
	if string(b) != string(make([]byte, 32)) {
		t.Error("a freed slot still holds the key")
	}
	// A slot freed twice is handed out once.
	Free(b)
	x, y := Alloc(32), Alloc(32)
	if &x[0] == &y[0] {
		t.Error("a slot freed twice was handed out twice")
	}
	Free(x)
	Free(y)
}

func TestCoreDumpsCanBeSwitchedOff(t *testing.T) {
	if err := DisableCoreDumps(); err != nil {
		t.Fatal(err)
	}
	if Dumpable() {
		t.Error("the process is still dumpable")
	}
}
