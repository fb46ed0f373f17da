// Package version names the build a binary came from: its release, its
// commit and the Go toolchain that built it.
package version

import (
	"runtime"
	"runtime/debug"
)

// Set by the Makefile: go build -ldflags "-X cxt/appliance/version.version=…
// -X cxt/appliance/version.commit=…". A plain go build leaves them empty and
// the build information Go stamps into every binary fills in.
var (
	version string
	commit  string
)

// Info describes the running binary.
type Info struct {
	Version  string `json:"version"`
	Commit   string `json:"commit"`
	Modified bool   `json:"modified,omitempty"` // built from a tree with uncommitted changes
	Go       string `json:"go"`
	Platform string `json:"platform"`
}

// Get returns the running binary's Info.
func Get() Info { return get(version, commit, debug.ReadBuildInfo) }

func get(v, c string, read func() (*debug.BuildInfo, bool)) Info {
	i := Info{Version: v, Commit: c, Go: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}
	if bi, ok := read(); ok {
		if i.Version == "" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			i.Version = bi.Main.Version // go install cxt@vX.Y.Z
		}
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				if i.Commit == "" {
					i.Commit = s.Value[:min(12, len(s.Value))]
				}
			case "vcs.modified":
				i.Modified = s.Value == "true"
			}
		}
		if bi.GoVersion != "" {
			i.Go = bi.GoVersion
		}
	}
	if i.Version == "" {
		i.Version = "devel"
	}
	if i.Commit == "" {
		i.Commit = "unknown"
	}
	return i
}
