// Package buildinfo tells what a binary of mfad (mfad, mfactl) was built
// from, read from the build information the Go toolchain writes into it:
// what "mfad --version" and "mfactl --version" print.
package buildinfo

import (
	"runtime"
	"runtime/debug"
	"strings"
)

// Version is what a binary tells of its build.
type Version struct {
	Version  string `json:"version"`            // the main module's version, "(devel)" for a build in a work tree
	Revision string `json:"revision,omitempty"` // the commit built, shortened to 12 hex digits
	Modified bool   `json:"modified,omitempty"` // the work tree had changes not committed
	Go       string `json:"go"`                 // the Go version that built it
}

// Read reads the running binary's build information.
func Read() Version { return Of(debug.ReadBuildInfo()) }

// Of reads bi, as debug.ReadBuildInfo returns it (ok false when the
// binary carries no build information).
func Of(bi *debug.BuildInfo, ok bool) Version {
	v := Version{Version: "(devel)", Go: runtime.Version()}
	if !ok || bi == nil {
		return v
	}
	if bi.Main.Version != "" {
		v.Version = bi.Main.Version
	}
	if bi.GoVersion != "" {
		v.Go = bi.GoVersion
	}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			v.Revision = s.Value
			if len(v.Revision) > 12 {
				v.Revision = v.Revision[:12]
			}
		case "vcs.modified":
			v.Modified = s.Value == "true"
		}
	}
	return v
}

// Line is the version on one line, for program: "mfad (devel), revision
// 0123456789ab, modified, go1.26.1"; the revision and "modified" only when
// the build recorded them.
func (v Version) Line(program string) string {
	parts := []string{program + " " + v.Version}
	if v.Revision != "" {
		parts = append(parts, "revision "+v.Revision)
	}
	if v.Modified {
		parts = append(parts, "modified")
	}
	return strings.Join(append(parts, v.Go), ", ")
}
