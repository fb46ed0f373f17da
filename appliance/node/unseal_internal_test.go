package node

import (
	"bytes"
	"context"
	"encoding/hex"
	"io"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"cxt/storage/cluster/loopback"
)

// The shares a sealed node collects are pieces of the master key: once they
// are combined, right or wrong, nothing of them is left in memory.
func TestCollectedUnsealSharesAreClearedOnceCombined(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	dir := filepath.Join(t.TempDir(), "data")
	res, err := Init(ctx, dir, InitOptions{API: loopback.FreeAddr(), Cluster: loopback.FreeAddr(), Shares: 3, Threshold: 2})
	if err != nil {
		t.Fatal(err)
	}
	n, err := Open(ctx, Options{Dir: dir, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	collected := func() []byte {
		n.mu.Lock()
		defer n.mu.Unlock()
		return n.shares[len(n.shares)-1]
	}
	zero := func(b []byte) bool { return bytes.Equal(b, make([]byte, len(b))) }

	// A wrong pair: the first share, and one of another key with the same x.
	n.Unseal(ctx, res.Shares[0])
	first := collected()
	wrong, _ := hex.DecodeString(res.Shares[1])
	wrong[0] ^= 1
	n.Unseal(ctx, hex.EncodeToString(wrong))
	if !n.Sealed() || !zero(first) {
		t.Fatalf("after a wrong pair: sealed %v, first share cleared %v", n.Sealed(), zero(first))
	}
	// The right pair unseals, and both are cleared.
	n.Unseal(ctx, res.Shares[1])
	second := collected()
	if _, err := n.Unseal(ctx, res.Shares[2]); err != nil || n.Sealed() {
		t.Fatalf("unseal: %v", err)
	}
	if !zero(second) {
		t.Fatal("a share that unsealed the node is still in memory")
	}
}
