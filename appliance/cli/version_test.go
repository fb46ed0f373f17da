package cli

import (
	"encoding/json"
	"runtime"
	"strings"
	"testing"
)

func TestVersionNamesTheReleaseCommitAndGo(t *testing.T) {
	code, out, errOut := run(t, "", "version")
	if code != 0 {
		t.Fatalf("version: exit %d %s", code, errOut)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "cxt ") || !strings.HasPrefix(lines[1], "commit ") || !strings.Contains(lines[2], runtime.Version()) {
		t.Fatalf("version printed %q", out)
	}
	code, out, _ = run(t, "", "version", "--json")
	var v struct{ Version, Commit, Go string }
	if code != 0 || json.Unmarshal([]byte(out), &v) != nil || v.Version == "" || v.Commit == "" || v.Go == "" {
		t.Fatalf("version --json: exit %d %q", code, out)
	}
}
