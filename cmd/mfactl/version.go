package main

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"
)

// buildVersion is what "mfactl --version" tells of the binary, read from
// the build information the Go toolchain writes into it. cmd/mfad/version.go
// reads it the same way for "mfad --version".
type buildVersion struct {
	Version  string `json:"version"`            // the main module's version, "(devel)" for a build in a work tree
	Revision string `json:"revision,omitempty"` // the commit built, shortened to 12 hex digits
	Modified bool   `json:"modified,omitempty"` // the work tree had changes not committed
	Go       string `json:"go"`                 // the Go version that built it
}

// versionOf reads bi, as debug.ReadBuildInfo returns it (ok false when the
// binary carries no build information).
func versionOf(bi *debug.BuildInfo, ok bool) buildVersion {
	v := buildVersion{Version: "(devel)", Go: runtime.Version()}
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

// line is the version on one line: "mfactl (devel), revision
// 0123456789ab, modified, go1.26.1"; the revision and "modified" only when
// the build recorded them.
func (v buildVersion) line(program string) string {
	parts := []string{program + " " + v.Version}
	if v.Revision != "" {
		parts = append(parts, "revision "+v.Revision)
	}
	if v.Modified {
		parts = append(parts, "modified")
	}
	return strings.Join(append(parts, v.Go), ", ")
}

// version prints the binary's version, as JSON with --json.
func (a *app) version(args []string) error {
	if len(args) > 0 {
		return usageError{fmt.Sprintf("mfactl version takes no arguments, not %q", args[0])}
	}
	v := versionOf(debug.ReadBuildInfo())
	if a.json {
		return a.printJSON(v)
	}
	_, err := fmt.Fprintln(a.stdout, v.line("mfactl"))
	return err
}
