package main

import (
	"os/exec"
	"strings"
	"testing"
)

// "mfad --version" of the built binary tells what "go version -m" reads
// from it.
func TestVersionCommand(t *testing.T) {
	bin := binary(t)
	out, err := exec.Command("go", "version", "-m", bin).Output()
	if err != nil {
		t.Fatalf("go version -m: %v", err)
	}
	settings := map[string]string{}
	version, goVersion := "", ""
	for i, line := range strings.Split(string(out), "\n") {
		f := strings.Split(strings.TrimSpace(line), "\t")
		switch {
		case i == 0:
			_, goVersion, _ = strings.Cut(line, ": ")
		case len(f) >= 3 && f[0] == "mod":
			version = f[2]
		case len(f) >= 2 && f[0] == "build":
			k, v, _ := strings.Cut(f[1], "=")
			settings[k] = v
		}
	}
	want := "mfad " + version
	if rev := settings["vcs.revision"]; rev != "" {
		want += ", revision " + rev[:12]
	}
	if settings["vcs.modified"] == "true" {
		want += ", modified"
	}
	want += ", " + strings.TrimSpace(goVersion) + "\n"
	for _, arg := range []string{"--version", "version", "-version"} {
		cmd := exec.Command(bin, arg)
		cmd.Env = []string{} // no configuration needed
		got, err := cmd.Output()
		if err != nil || string(got) != want {
			t.Errorf("mfad %s = %q, %v; want %q", arg, got, err, want)
		}
	}

	stdout, _, err := runQuick(t, nil, "--version")
	if err != nil || !strings.HasPrefix(stdout, "mfad ") || !strings.Contains(stdout, ", go1.") {
		t.Errorf("run --version: %q, %v", stdout, err)
	}
	_, _, err = runQuick(t, nil, "version", "extra")
	wantUsageError(t, err, "version extra")
	_, stderr, err := runQuick(t, nil, "help", "version")
	if err != nil || !strings.Contains(stderr, "Usage: mfad --version") {
		t.Errorf("help version: %v, stderr %q", err, stderr)
	}
	stdout, _, err = runQuick(t, nil, "help")
	if err != nil || !strings.Contains(stdout, "mfad --version") {
		t.Errorf("help does not list --version: %v\n%s", err, stdout)
	}
}
