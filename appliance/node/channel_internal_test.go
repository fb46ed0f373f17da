package node

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"cxt/appliance/channel"
	"cxt/storage/cluster/loopback"
)

// node.json's channel section picks the channel the leader pays through
// and the name every payment is booked under; a file channel without its
// folders, or with an outbound folder others may open, stops the start.
func TestNodeJSONPicksThePaymentChannelAndAFileChannelNeedsItsFolders(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	dir := filepath.Join(t.TempDir(), "data")
	if _, err := Init(ctx, dir, InitOptions{API: loopback.FreeAddr(), Cluster: loopback.FreeAddr()}); err != nil {
		t.Fatal(err)
	}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	opened := func() *Node {
		t.Helper()
		n, err := Open(ctx, Options{Dir: dir, Logger: quiet})
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	n := opened()
	if got := n.domains.payouts.Rules.Channel; got != "sandbox" {
		t.Fatalf("by default payments go to %q", got)
	}
	n.Close()
	if _, err := os.Stat(filepath.Join(dir, SandboxJournal)); err != nil {
		t.Fatalf("the sandbox's journal: %v", err)
	}

	bank := t.TempDir()
	out, in, open := filepath.Join(bank, "out"), filepath.Join(bank, "in"), filepath.Join(bank, "open")
	for _, d := range []string{out, in, open} {
		os.Mkdir(d, 0o750)
	}
	os.Chmod(open, 0o755)
	for _, bad := range []map[string]any{
		{"kind": "file"},
		{"kind": "file", "outbound": out},
		{"kind": "file", "outbound": out, "inbound": in, "name": "Bank 1"},
		{"kind": "file", "outbound": out, "inbound": in, "name": "sandbox"},
		{"kind": "file", "outbound": open, "inbound": in},
		{"kind": "file", "outbound": filepath.Join(bank, "missing"), "inbound": in},
		{"kind": "sftp", "outbound": out, "inbound": in},
		{"kind": "sandbox", "outbound": out},
	} {
		WriteSection(t, dir, "channel", bad)
		if n, err := Open(ctx, Options{Dir: dir, Logger: quiet}); err == nil {
			n.Close()
			t.Errorf("a node started with channel %v", bad)
		} else if bad["outbound"] == nil && !strings.Contains(err.Error(), "outbound folder") {
			t.Errorf("channel %v: %v", bad, err)
		}
	}

	WriteSection(t, dir, "channel", map[string]any{"kind": "file", "name": "icbc-fz", "outbound": out, "inbound": in})
	n = opened()
	if got := n.domains.payouts.Rules.Channel; got != "icbc-fz" {
		t.Fatalf("a file channel's payments go to %q", got)
	}
	if _, err := os.Stat(filepath.Join(dir, FileBankJournal)); err != nil {
		t.Fatalf("the file bank's journal: %v", err)
	}
	// A channel handed over by a test wins, name and all.
	n.Close()
	sb, _ := channel.NewSandbox("", 1)
	n2, err := Open(ctx, Options{Dir: dir, Logger: quiet, Channel: sb})
	if err != nil {
		t.Fatal(err)
	}
	defer n2.Close()
	if got := n2.domains.payouts.Rules.Channel; got != "sandbox" {
		t.Fatalf("a handed-over channel's payments go to %q", got)
	}
}
