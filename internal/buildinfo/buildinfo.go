// Package buildinfo tells which Crowd this is: its version, the source
// revision it was built from, and the Go that built it. `crowd version`
// prints it and the operator listener exports it as crowd_build_info.
package buildinfo

import (
	"fmt"
	"runtime"
	"runtime/debug"
)

// Version is the release version, set at build time with
// -ldflags "-X github.com/crowd-dev/crowd/internal/buildinfo.Version=v1.2.3".
// Without it the main module's version from the build is used ("(devel)"
// for a build from a work tree).
var Version = ""

// Info describes one build.
type Info struct {
	Version  string
	Revision string // the VCS revision, "+dirty" when built from modified files; "unknown" without VCS data
	Time     string // the revision's commit time, RFC 3339; "" when unknown
	Go       string // the Go version that built it
}

// String is the one line `crowd version` prints.
func (i Info) String() string {
	s := fmt.Sprintf("crowd %s (revision %s", i.Version, i.Revision)
	if i.Time != "" {
		s += ", " + i.Time
	}
	return s + ", " + i.Go + ")"
}

// Read returns the running binary's build information.
func Read() Info {
	info := Info{Version: Version, Revision: "unknown", Go: runtime.Version()}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		if info.Version == "" {
			info.Version = "unknown"
		}
		return info
	}
	if info.Version == "" {
		info.Version = bi.Main.Version
	}
	if info.Version == "" {
		info.Version = "(devel)"
	}
	dirty := false
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			info.Revision = s.Value
		case "vcs.time":
			info.Time = s.Value
		case "vcs.modified":
			dirty = s.Value == "true"
		}
	}
	if dirty && info.Revision != "unknown" {
		info.Revision += "+dirty"
	}
	return info
}
