package main

import (
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
	"strings"
)

// buildVersion is what "mfad --version" tells of the binary, read from the
// build information the Go toolchain writes into it. cmd/mfactl/version.go
// reads it the same way for "mfactl --version".
type buildVersion struct {
	Version  string // the main module's version, "(devel)" for a build in a work tree
	Revision string // the commit built, shortened to 12 hex digits
	Modified bool   // the work tree had changes not committed
	Go       string // the Go version that built it
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

// line is the version on one line: "mfad (devel), revision 0123456789ab,
// modified, go1.26.1"; the revision and "modified" only when the build
// recorded them.
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

// version is "mfad version" and "mfad --version".
func version(args []string, stdout, stderr io.Writer) error {
	if len(args) == 1 && (args[0] == "-h" || args[0] == "-help" || args[0] == "--help") {
		fmt.Fprint(stderr, "Usage: mfad --version (or mfad version)\n\nPrints the version of mfad, the commit it was built from (\"modified\" when the\nwork tree had changes not committed) and the Go version that built it.\n")
		return nil
	}
	if len(args) > 0 {
		return usageError{fmt.Sprintf("mfad version takes no arguments, not %q", args[0])}
	}
	_, err := fmt.Fprintln(stdout, versionOf(debug.ReadBuildInfo()).line("mfad"))
	return err
}
