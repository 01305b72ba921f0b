package main

import (
	"context"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/mfad/mfad/internal/testserver"
)

// flagDoc is one flag as a command's --help prints it.
type flagDoc struct{ env, def string }

// helpFlags runs "mfad <command...> --help" and reads its flags.
func helpFlags(t *testing.T, command ...string) map[string]flagDoc {
	t.Helper()
	var out testserver.Logs
	if err := run(context.Background(), append(command, "--help"), envFunc(nil), nil, &out, &out); err != nil {
		t.Fatalf("%v --help: %v", command, err)
	}
	got := map[string]flagDoc{}
	re := regexp.MustCompile(`(?m)^  --([a-z-]+)(?:  \[([A-Z_]+)\])?\n      .*?(?: \(default (.*)\))?$`)
	for _, m := range re.FindAllStringSubmatch(out.String(), -1) {
		got[m[1]] = flagDoc{env: m[2], def: m[3]}
	}
	if len(got) == 0 {
		t.Fatalf("%v --help lists no flags:\n%s", command, out.String())
	}
	return got
}

// docFlags reads the flags table that follows heading in docs/operations.md.
func docFlags(t *testing.T, heading string) map[string]flagDoc {
	t.Helper()
	data, err := os.ReadFile("../../docs/operations.md")
	if err != nil {
		t.Fatal(err)
	}
	s := string(data)
	i := strings.Index(s, "\n"+heading+"\n")
	if i < 0 {
		t.Fatalf("docs/operations.md has no heading %q", heading)
	}
	s = s[i+len(heading)+2:]
	if j := strings.Index(s, "\n## "); j >= 0 {
		s = s[:j]
	}
	got := map[string]flagDoc{}
	re := regexp.MustCompile("(?m)^\\| `--([a-z-]+)` \\| (?:`([A-Z_]+)`|\\(none\\)) \\| ([^|]+) \\|")
	for _, m := range re.FindAllStringSubmatch(s, -1) {
		got[m[1]] = flagDoc{env: m[2], def: strings.TrimSpace(m[3])}
	}
	return got
}

// sameDefault compares a documented default with the one --help prints:
// a literal in backquotes must be the default (durations compared as
// durations); words ("number of CPUs", "(none)", "(required)") describe a
// default the code computes or the absence of one.
func sameDefault(doc, code string) bool {
	lit, ok := strings.CutPrefix(doc, "`")
	if !ok || !strings.HasSuffix(lit, "`") {
		return true
	}
	lit = strings.TrimSuffix(lit, "`")
	if strings.HasPrefix(lit, "<") { // <db>.key: computed from --db
		return code == ""
	}
	if d1, err := time.ParseDuration(lit); err == nil {
		d2, err := time.ParseDuration(code)
		return err == nil && d1 == d2
	}
	return lit == code
}

// The flag tables of docs/operations.md list exactly each command's flags,
// with their environment variables and defaults.
func TestOperationsDocMatchesFlags(t *testing.T) {
	for _, c := range []struct {
		command []string
		heading string
	}{
		{[]string{"serve"}, "## Configuration of mfad serve"},
		{[]string{"account", "create"}, "## mfad account create"},
		{[]string{"rotate-key"}, "## Key rotation"},
		{[]string{"user", "unlock"}, "## mfad user"},
	} {
		code, doc := helpFlags(t, c.command...), docFlags(t, c.heading)
		for name, cf := range code {
			df, ok := doc[name]
			switch {
			case !ok:
				t.Errorf("mfad %s --%s is not in docs/operations.md (%s)", strings.Join(c.command, " "), name, c.heading)
			case df.env != cf.env:
				t.Errorf("mfad %s --%s: docs say variable %q, the code reads %q", strings.Join(c.command, " "), name, df.env, cf.env)
			case !sameDefault(df.def, cf.def):
				t.Errorf("mfad %s --%s: docs say default %s, the code has %q", strings.Join(c.command, " "), name, df.def, cf.def)
			}
		}
		for name := range doc {
			if _, ok := code[name]; !ok {
				t.Errorf("docs/operations.md (%s) lists --%s, which mfad %s does not take", c.heading, name, strings.Join(c.command, " "))
			}
		}
	}
}
