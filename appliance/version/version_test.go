package version

import (
	"runtime/debug"
	"testing"
)

func TestTheMakefileStampWinsAndBuildInfoFillsIn(t *testing.T) {
	stamped := func() (*debug.BuildInfo, bool) {
		return &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "(devel)"}, Settings: []debug.BuildSetting{
			{Key: "vcs.revision", Value: "0123456789abcdef0123456789abcdef01234567"}, {Key: "vcs.modified", Value: "true"},
		}}, true
	}
	if i := get("v1.2.0", "abc1234", stamped); i.Version != "v1.2.0" || i.Commit != "abc1234" || i.Go != "go1.26.8" {
		t.Errorf("-ldflags values: %+v", i)
	}
	if i := get("", "", stamped); i.Version != "devel" || i.Commit != "0123456789ab" || !i.Modified {
		t.Errorf("from build info: %+v", i)
	}
	installed := func() (*debug.BuildInfo, bool) {
		return &debug.BuildInfo{Main: debug.Module{Version: "v0.3.1"}}, true
	}
	if i := get("", "", installed); i.Version != "v0.3.1" || i.Commit != "unknown" || i.Go == "" {
		t.Errorf("go install: %+v", i)
	}
	if i := get("", "", func() (*debug.BuildInfo, bool) { return nil, false }); i.Version != "devel" || i.Platform == "" {
		t.Errorf("no build info: %+v", i)
	}
}
