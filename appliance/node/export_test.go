package node

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"cxt/appliance/datadir"
)

// WriteSection sets one section of a data folder's node.json, as an
// operator edits it; the tests of both packages use it.
func WriteSection(t testing.TB, dir, name string, section any) {
	t.Helper()
	path := filepath.Join(dir, datadir.NodeFile)
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var cfg map[string]any
	if err := json.Unmarshal(b, &cfg); err != nil {
		t.Fatal(err)
	}
	cfg[name] = section
	if b, err = json.Marshal(cfg); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}
