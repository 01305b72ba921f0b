package main

import (
	"fmt"
	"io"

	"github.com/mfad/mfad/internal/buildinfo"
)

// version is "mfad version" and "mfad --version".
func version(args []string, stdout, stderr io.Writer) error {
	if len(args) == 1 && (args[0] == "-h" || args[0] == "-help" || args[0] == "--help") {
		fmt.Fprint(stderr, "Usage: mfad --version (or mfad version)\n\nPrints the version of mfad, the commit it was built from (\"modified\" when the\nwork tree had changes not committed) and the Go version that built it.\n")
		return nil
	}
	if len(args) > 0 {
		return usageError{fmt.Sprintf("mfad version takes no arguments, not %q", args[0])}
	}
	_, err := fmt.Fprintln(stdout, buildinfo.Read().Line("mfad"))
	return err
}
