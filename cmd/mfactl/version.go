package main

import (
	"fmt"

	"github.com/mfad/mfad/internal/buildinfo"
)

// version prints the binary's version, as JSON with --json.
func (a *app) version(args []string) error {
	if len(args) > 0 {
		return usageError{fmt.Sprintf("mfactl version takes no arguments, not %q", args[0])}
	}
	v := buildinfo.Read()
	if a.json {
		return a.printJSON(v)
	}
	_, err := fmt.Fprintln(a.stdout, v.Line("mfactl"))
	return err
}
