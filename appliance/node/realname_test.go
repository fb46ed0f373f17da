package node_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"cxt/appliance/datadir"
	"cxt/appliance/node"
)

func TestARealNameServicesSecretIsWrappedAtTheNextStart(t *testing.T) {
	dir := initNode(t, node.InitOptions{})
	node.WriteSection(t, dir, "real_name", map[string]any{"url": "https://realname.example/v1/verify", "app": "cxt", "secret": "rn-Secret-44", "retries": 2})
	n := open(t, dir)
	waitLeader(t, n)
	raw, _ := os.ReadFile(filepath.Join(dir, datadir.NodeFile))
	if strings.Contains(string(raw), "rn-Secret-44") || !strings.Contains(string(raw), "secret_sealed") {
		t.Fatalf("node.json after the start:\n%s", raw)
	}
	cfg, _ := datadir.Load(dir)
	master, err := cfg.MasterFromKeyFile()
	if err != nil {
		t.Fatal(err)
	}
	rn, err := cfg.RealNameConfig(master)
	if err != nil || rn.Secret != "rn-Secret-44" || rn.App != "cxt" || rn.Retries != 2 {
		t.Fatalf("the wrapped secret does not open: %+v %v", rn, err)
	}
	n.Close()

	// A service that is not HTTPS, or has no secret, stops the start.
	for _, bad := range []map[string]any{
		{"url": "http://realname.example/v1/verify", "app": "cxt", "secret": "s"},
		{"url": "https://realname.example/v1/verify", "app": "cxt"},
	} {
		node.WriteSection(t, dir, "real_name", bad)
		if n, err := node.Open(ctx(t), node.Options{Dir: dir, Logger: quiet()}); err == nil {
			n.Close()
			t.Errorf("a node started with real_name %v", bad)
		}
	}
}
