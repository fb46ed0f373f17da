package node

import (
	"log/slog"
	"sync"

	"cxt/crypto/secmem"
)

var hardenOnce sync.Once

// hardenProcess keeps the serving process's secrets out of core dumps and,
// where the kernel lets it, out of swap; what it cannot do it logs once.
func hardenProcess(log *slog.Logger) {
	hardenOnce.Do(func() {
		if err := secmem.DisableCoreDumps(); err != nil {
			log.Warn("core dumps stay enabled: a crash could write key material to disk", "err", err)
		}
		if err := secmem.Status(); err != nil {
			log.Warn("key material is not locked in memory", "err", err)
		}
	})
}
